// The VXM slice on configs/tiny.json: operand groups, per-dtype latency, the queue's vector
// length, and the ops whose operands are not plain (sel, splat, cvt, requant). Every expected
// value is computed here with plain loops; the arithmetic rules themselves are tested in
// test_numeric.cpp.
// Tiny positions: MEM_W3 2, MEM_W2 3, MEM_W1 4, MEM_W0 5, VXM 6, MEM_E0 7 .. MEM_E3 10. A program's
// cycle count is its last active cycle + 2 (two superlanes, stagger 1).
#include "engine_harness.h"
#include "slice_schedule.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

using tsp::ErrorKind;
using tsp::test::Schedule;
using tsp::test::Simulation;

namespace {

int8_t i8_at(const std::vector<uint8_t>& v, size_t i) { return static_cast<int8_t>(v.at(i)); }
int16_t i16_at(const std::vector<uint8_t>& v, size_t i) {
  return static_cast<int16_t>(v.at(2 * i) | v.at(2 * i + 1) << 8);
}
uint16_t u16_at(const std::vector<uint8_t>& v, size_t i) { return static_cast<uint16_t>(i16_at(v, i)); }
float f32_at(const std::vector<uint8_t>& v, size_t i) {
  float x;
  std::memcpy(&x, &v.at(4 * i), 4);
  return x;
}
uint32_t f32_bits_at(const std::vector<uint8_t>& v, size_t i) {
  uint32_t x;
  std::memcpy(&x, &v.at(4 * i), 4);
  return x;
}
int saturate(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// IEEE binary16 bits of an integer of magnitude below 2048 (exact).
uint16_t f16_of_int(int v) {
  if (v == 0) return 0;
  const uint16_t sign = v < 0 ? 0x8000 : 0;
  unsigned m = static_cast<unsigned>(v < 0 ? -v : v);
  int e = 0;
  while ((m >> e) > 1) ++e;
  const unsigned fraction = (m << (10 - e)) & 0x3ff;
  return static_cast<uint16_t>(sign | (e + 15) << 10 | fraction);
}

// A: i8 4x32 from the west on E0, B: i8 4x32 from the east on W0, C = add.i8 at the VXM on E1
// into MEM_E1. Row r meets at the VXM at 3 + r (Read at r, mem_read_func 2, one hop); the sum is
// on E1 at 4 + r (vxm_int_add 1) and at MEM_E1 (two hops) at 6 + r. Last Write at 9: 11 cycles.
std::string add_i8_program(const tsp::ChipConfig& config) {
  Schedule s(config);
  for (unsigned r = 0; r < 4; ++r) {
    s.read_group({"MEM_W0"}, r, 0, "VXM", 3 + r);
    s.read_group({"MEM_E0"}, r, 0, "VXM", 3 + r);
    s.at("VXM.0", 3 + r, "add.i8 E1, E0, W0");
    s.write_group({"MEM_E1"}, r, 1, "VXM", 4 + r);
  }
  return R"(
.tensor A i8 4x32 slices=MEM_W0 base=0 init=random(1)
.tensor B i8 4x32 slices=MEM_E0 base=0 init=random(2)
.tensor C i8 4x32 slices=MEM_E1 base=0 init=zeros
)" + s.text();
}

} // namespace

TEST_CASE("add.i8 reads both operands at dispatch and writes the saturated sum vxm_int_add later") {
  const auto config = tsp::test::bundled_config("tiny.json");
  Simulation sim(add_i8_program(config), "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 11);
  const auto a = sim.initial("A"), b = sim.initial("B"), c = sim.symbol("C");
  for (size_t i = 0; i < 4 * 32; ++i) REQUIRE(i8_at(c, i) == saturate(i8_at(a, i) + i8_at(b, i), -128, 127));
  const auto& vxm = sim.chip->context().stats.slice(sim.chip->context().floorplan.vxm_slice());
  CHECK(vxm.stream_bytes_read == 4 * 2 * 32);
  CHECK(vxm.stream_bytes_written == 4 * 32);
  CHECK(vxm.busy_cycles == 5); // dispatches and reads at 3..6, writes at 4..7
}

TEST_CASE("add.i8 in a timing-only run keeps the cycle count and moves no data") {
  const auto config = tsp::test::bundled_config("tiny.json");
  tsp::EngineOptions options;
  options.timing_only = true;
  Simulation sim(add_i8_program(config), "tiny.json", {}, options);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 11);
  const auto c = sim.symbol("C");
  CHECK(std::all_of(c.begin(), c.end(), [](uint8_t x) { return x == 0; }));
}

TEST_CASE("add.i8 under the debug clock gives the same cycles and data") {
  const auto config = tsp::test::bundled_config("tiny.json");
  tsp::EngineOptions options;
  options.debug_clock = true;
  Simulation sim(add_i8_program(config), "tiny.json", {}, options);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 11);
  const auto a = sim.initial("A"), b = sim.initial("B"), c = sim.symbol("C");
  for (size_t i = 0; i < 4 * 32; ++i) REQUIRE(i8_at(c, i) == saturate(i8_at(a, i) + i8_at(b, i), -128, 127));
}

TEST_CASE("mul.f32 reads 4-stream groups and takes vxm_fp_mul") {
  // A (bytes in MEM_W3..MEM_W0, 4..1 hops) on E0..E3 and B (MEM_E0..MEM_E3, 1..4 hops) on W0..W3
  // meet at the VXM at 6 + r (MEM_W3 reads at 0). The product is on E4..E7 at 9 + r (fp_mul 3),
  // at MEM_E0..MEM_E3 at 10 + r .. 13 + r. Last Write at 14: 16 cycles.
  const auto config = tsp::test::bundled_config("tiny.json");
  Schedule s(config);
  const std::vector<std::string> west{"MEM_W3", "MEM_W2", "MEM_W1", "MEM_W0"};
  const std::vector<std::string> east{"MEM_E0", "MEM_E1", "MEM_E2", "MEM_E3"};
  for (unsigned r = 0; r < 2; ++r) {
    s.read_group(west, r, 0, "VXM", 6 + r);
    s.read_group(east, r, 0, "VXM", 6 + r);
    s.at("VXM.1", 6 + r, "mul.f32 E4, E0, W0");
    s.write_group(east, 128 + r, 4, "VXM", 9 + r);
  }
  Simulation sim(R"(
.tensor A f32 2x32 slices=MEM_W3,MEM_W2,MEM_W1,MEM_W0 base=0 init=random(3)
.tensor B f32 2x32 slices=MEM_E0,MEM_E1,MEM_E2,MEM_E3 base=0 init=random(4)
.tensor C f32 2x32 slices=MEM_E0,MEM_E1,MEM_E2,MEM_E3 base=128 init=zeros
)" + s.text(),
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 16);
  const auto a = sim.initial("A"), b = sim.initial("B"), c = sim.symbol("C");
  for (size_t i = 0; i < 2 * 32; ++i) {
    const float product = f32_at(a, i) * f32_at(b, i);
    uint32_t bits;
    std::memcpy(&bits, &product, 4);
    REQUIRE(f32_bits_at(c, i) == bits);
  }
}

TEST_CASE("Config vl limits one ALU queue to its lanes and the lanes above are zero") {
  // A i16 from MEM_W1/MEM_W0 (2 and 1 hops) on E0/E1, B from MEM_E0/MEM_E1 on W0/W1, both at the
  // VXM at 4. VXM.0 (Config 1 at 0) subtracts into E4/E5 at 5, at MEM_E2 at 8 and MEM_E3 at 9;
  // VXM.1 (full length) takes the max into W4/W5 at 5, at MEM_W2 at 8 and MEM_W3 at 9: 11 cycles.
  const auto config = tsp::test::bundled_config("tiny.json");
  Schedule s(config);
  s.read_group({"MEM_W0", "MEM_W1"}, 0, 0, "VXM", 4);
  s.read_group({"MEM_E0", "MEM_E1"}, 0, 0, "VXM", 4);
  s.at("VXM.0", 0, "Config 1");
  s.at("VXM.0", 4, "sub.i16 E4, E0, W0");
  s.at("VXM.1", 4, "max.i16 W4, E0, W0");
  s.write_group({"MEM_E2", "MEM_E3"}, 0, 4, "VXM", 5);
  s.write_group({"MEM_W2", "MEM_W3"}, 0, 4, "VXM", 5);
  Simulation sim(R"(
.tensor A i16 1x32 slices=MEM_W0,MEM_W1 base=0 init=random(5)
.tensor B i16 1x32 slices=MEM_E0,MEM_E1 base=0 init=random(6)
.tensor D i16 1x32 slices=MEM_E2,MEM_E3 base=0 init=zeros
.tensor M i16 1x32 slices=MEM_W2,MEM_W3 base=0 init=zeros
)" + s.text(),
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 11);
  const auto a = sim.initial("A"), b = sim.initial("B"), d = sim.symbol("D"), m = sim.symbol("M");
  for (size_t i = 0; i < 32; ++i) {
    const int difference = i < 16 ? saturate(i16_at(a, i) - i16_at(b, i), -32768, 32767) : 0;
    REQUIRE(i16_at(d, i) == difference);
    REQUIRE(i16_at(m, i) == std::max(i16_at(a, i), i16_at(b, i)));
  }
}

TEST_CASE("sel reads mask a and b and cvt reads the from type and writes the to type") {
  // sel.i8 at 4: mask M (MEM_W0, E0), a A (MEM_W1, E1), b B (MEM_E0, W0); the result is on E4 at 5
  // (vxm_move 1) and at MEM_E3 at 9. cvt.f16.i8 at 5: X (MEM_W2, 3 hops) on E2; the f16 result is
  // on W4/W5 at 7 (vxm_convert 2), at MEM_W2 at 10 and MEM_W3 at 11: 13 cycles.
  const auto config = tsp::test::bundled_config("tiny.json");
  Schedule s(config);
  s.read_group({"MEM_W0"}, 0, 0, "VXM", 4);
  s.read_group({"MEM_W1"}, 0, 1, "VXM", 4);
  s.read_group({"MEM_E0"}, 0, 0, "VXM", 4);
  s.at("VXM.0", 4, "sel.i8 E4, E0, E1, W0");
  s.write_group({"MEM_E3"}, 0, 4, "VXM", 5);
  s.read_group({"MEM_W2"}, 0, 2, "VXM", 5);
  s.at("VXM.0", 5, "cvt.f16.i8 W4, E2");
  s.write_group({"MEM_W2", "MEM_W3"}, 128, 4, "VXM", 7);
  Simulation sim(R"(
.tensor M i8 1x32 slices=MEM_W0 base=0 init=values(0 1 0 -1 0 2 0 3 0 4 0 5 0 6 0 7 8 0 9 0 10 0 11 0 12 0 13 0 -128 0 127 0)
.tensor A i8 1x32 slices=MEM_W1 base=0 init=random(7)
.tensor B i8 1x32 slices=MEM_E0 base=0 init=random(8)
.tensor X i8 1x32 slices=MEM_W2 base=0 init=random(9)
.tensor S i8 1x32 slices=MEM_E3 base=0 init=zeros
.tensor F f16 1x32 slices=MEM_W2,MEM_W3 base=128 init=zeros
)" + s.text(),
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 13);
  const auto mask = sim.initial("M"), a = sim.initial("A"), b = sim.initial("B"), x = sim.initial("X");
  const auto sel = sim.symbol("S"), f = sim.symbol("F");
  for (size_t i = 0; i < 32; ++i) {
    REQUIRE(i8_at(sel, i) == (mask[i] != 0 ? i8_at(a, i) : i8_at(b, i)));
    REQUIRE(u16_at(f, i) == f16_of_int(i8_at(x, i)));
  }
}

TEST_CASE("requant reads a 2-stream source into 1 stream and splat fills the active lanes") {
  // requant.i8.i16 at 4: Q from MEM_E0/MEM_E1 (1, 2 hops) on W0/W1; the result is on E4 at 6
  // (vxm_convert 2) and at MEM_E3 at 10. VXM.1 (Config 1 at 0) splats 1.5 as f16 onto W6/W7 at 6
  // (splat at 5, vxm_move 1), at MEM_W0 at 7 and MEM_W1 at 8. Last Write at 10: 12 cycles.
  const auto config = tsp::test::bundled_config("tiny.json");
  Schedule s(config);
  s.read_group({"MEM_E0", "MEM_E1"}, 0, 0, "VXM", 4);
  s.at("VXM.0", 4, "requant.i8.i16 E4, W0, 0.00390625");
  s.write_group({"MEM_E3"}, 0, 4, "VXM", 6);
  s.at("VXM.1", 0, "Config 1");
  s.at("VXM.1", 5, "splat.f16 W6, 1.5");
  s.write_group({"MEM_W0", "MEM_W1"}, 0, 6, "VXM", 6);
  Simulation sim(R"(
.tensor Q i16 1x32 slices=MEM_E0,MEM_E1 base=0 init=random(10)
.tensor R i8 1x32 slices=MEM_E3 base=0 init=zeros
.tensor P f16 1x32 slices=MEM_W0,MEM_W1 base=0 init=zeros
)" + s.text(),
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 12);
  const auto q = sim.initial("Q"), r = sim.symbol("R"), p = sim.symbol("P");
  for (size_t i = 0; i < 32; ++i) {
    // q / 256 is exact in fp32; nearbyint rounds half to even in the default rounding mode.
    const auto scaled = static_cast<int>(std::nearbyint(i16_at(q, i) / 256.0));
    REQUIRE(i8_at(r, i) == saturate(scaled, -128, 127));
    REQUIRE(u16_at(p, i) == (i < 16 ? 0x3e00 : 0));
  }
}

TEST_CASE("an operand that never arrives is reported once and reads as zero") {
  // add.i8 at 3 with A on E0 but nothing on W5: the sum is A, written at MEM_E1 at 6: 8 cycles.
  const auto config = tsp::test::bundled_config("tiny.json");
  Schedule s(config);
  s.read_group({"MEM_W0"}, 0, 0, "VXM", 3);
  s.at("VXM.0", 3, "add.i8 E1, E0, W5");
  s.write_group({"MEM_E1"}, 0, 1, "VXM", 4);
  const std::string text = R"(
.tensor A i8 1x32 slices=MEM_W0 base=0 init=random(11)
.tensor C i8 1x32 slices=MEM_E1 base=0 init=zeros
)" + s.text();
  Simulation sim(text, "tiny.json");
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::stream_empty) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 3: stream-empty: VXM.0 instruction 1 (add) line {}: no value on "
                    "stream W5 at VXM",
                    tsp::test::line_of(text, "add.i8")));
  CHECK(sim.result.cycles == 8);
  CHECK(sim.symbol("C") == sim.initial("A"));
}
