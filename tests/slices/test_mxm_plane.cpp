// The MXM plane MXM_W0 on configs/tiny.json with 16 MEM slices per hemisphere, so that sixteen
// MEM slices can feed LW's 16-stream group in one cycle. K = N = 32. Positions: MXM_W0 0, SXM_W 1,
// MEM_W15 2 .. MEM_W0 17 (MEM_Wi at 17 - i). A program's cycle count is its last active cycle + 2.
// mem_read_func 2, lw_cycles 2 (i8) or 4 (16-bit), mxm_iw_func 1, mxm_result 24, mxm_acc_func 2,
// float_activation_interval 4. Instruction indices in messages count the NOPs that fill the gaps.
#include "engine_harness.h"
#include "slice_schedule.h"
#include "tspsim/common/error.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

using tsp::ErrorKind;
using tsp::test::line_of;
using tsp::test::Schedule;
using tsp::test::Simulation;

namespace {

const std::vector<std::string> kOverrides{"geometry.mem_slices_per_hemisphere=16"};
constexpr unsigned kVector = 32;

tsp::ChipConfig mxm_config() { return tsp::test::bundled_config("tiny.json", kOverrides); }

// MEM_Wi reads `address0 + c` onto stream Wi so that the sixteen streams are at MXM_W0 in cycles
// first .. last: row 16c + i of an i8 tensor on MEM_W0..MEM_W15, or byte i % 2 of row 8c + i / 2
// of a 16-bit one.
void feed_weights(Schedule& s, uint64_t first, uint64_t last, uint32_t address0 = 0) {
  for (uint64_t cycle = first; cycle <= last; ++cycle)
    for (unsigned i = 0; i < 16; ++i)
      s.read_group({fmt::format("MEM_W{}", i)}, address0 + static_cast<uint32_t>(cycle - first), i, "MXM_W0",
                   cycle);
}

const std::string kWeightSlices = "MEM_W0,MEM_W1,MEM_W2,MEM_W3,MEM_W4,MEM_W5,MEM_W6,MEM_W7,MEM_W8,MEM_W9,"
                                  "MEM_W10,MEM_W11,MEM_W12,MEM_W13,MEM_W14,MEM_W15";
const std::vector<std::string> kOutSlices{"MEM_W15", "MEM_W14", "MEM_W13", "MEM_W12"};

int32_t i32_at(const std::vector<uint8_t>& v, size_t i) {
  int32_t x;
  std::memcpy(&x, &v.at(4 * i), 4);
  return x;
}
uint32_t u32_at(const std::vector<uint8_t>& v, size_t i) { return static_cast<uint32_t>(i32_at(v, i)); }

// Element i of a 16-bit float tensor: bf16 is the top half of an fp32; f16 is decoded by hand.
float float16_value(const std::vector<uint8_t>& v, size_t i, const std::string& type) {
  const unsigned bits = v.at(2 * i) | v.at(2 * i + 1) << 8;
  if (type == "bf16") {
    const uint32_t wide = bits << 16;
    float x;
    std::memcpy(&x, &wide, 4);
    return x;
  }
  const int exponent = (bits >> 10) & 0x1f;
  const double fraction = bits & 0x3ff;
  const double magnitude =
      exponent == 0 ? std::ldexp(fraction, -24) : std::ldexp(1024 + fraction, exponent - 25);
  return static_cast<float>((bits & 0x8000) ? -magnitude : magnitude);
}

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

unsigned mxm_slice(const Simulation& sim) { return *sim.chip->context().floorplan.find_slice("MXM_W0"); }

// W (i8 32x32) loads by LW at 19 (reads 19, 20; MEM_W0 reads at 19 - 17 - 2 = 0); IW at 21
// installs at 22, when the first ABC reads. ABC r (r < 4, one Repeat) reads row r of X at 22 + r
// into accumulator r (ready 46 + r); ACC r at 46 + r puts it on E0..E3 at 48 + r, written at
// MEM_W15..MEM_W12 (2..5 hops) up to 48 + 3 + 5 = 56: 58 cycles.
std::string gemm_i8_program() {
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 20);
  s.at("MXM_W0.0", 19, "LW.i8 W0");
  s.at("MXM_W0.0", 21, "IW");
  s.at("MXM_W0.0", 22, "ABC.i8 W0, 0, new\n  Repeat 3, 1, 1", 4);
  s.at("MXM_W0.1", 46, "ACC E0, 0\n  Repeat 3, 1, 1", 4);
  for (uint32_t r = 0; r < 4; ++r) {
    s.read_group({"MEM_W15"}, 8 + r, 0, "MXM_W0", 22 + r);
    s.write_group(kOutSlices, 16 + r, 0, "MXM_W0", 48 + r);
  }
  return fmt::format(R"(
.tensor W i8 32x32 slices={} base=0 init=random(21)
.tensor X i8 4x32 slices=MEM_W15 base=8 init=random(22)
.tensor Y i32 4x32 slices=MEM_W15,MEM_W14,MEM_W13,MEM_W12 base=16 init=zeros
)",
                     kWeightSlices) +
         s.text();
}

// 16-bit float weights: LW at 19 reads 19..22, IW at 23 installs at 24. ABC i reads row i of X at 24 + 4i
// (the float interval) into these accumulators, ready at 48 + 4i:
const struct {
  unsigned acc;
  bool add;
} kAbcs[] = {{0, false}, {1, false}, {0, true}, {2, false}, {0, true}, {2, true}, {0, true}, {1, true}};
// ACC 1 at 52 sees ABC 1 (ready 52) but not ABC 7, which reads at 52; ACC 0 at 76 (ABC 6 ready
// 72), ACC 1 at 77 (ABC 7 ready 76), ACC 2 at 78. The last Write is at 78 + 2 + 5 = 85: 87 cycles.
const struct {
  uint64_t cycle;
  unsigned acc;
} kAccs[] = {{52, 1}, {76, 0}, {77, 1}, {78, 2}};

std::string float16_accumulate_program(const std::string& type) {
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 22);
  s.at("MXM_W0.0", 19, fmt::format("LW.{} W0", type));
  s.at("MXM_W0.0", 23, "IW");
  for (uint32_t i = 0; i < 8; ++i) {
    const uint64_t t = 24 + 4 * i;
    s.at("MXM_W0.0", t, fmt::format("ABC.{} W0, {}, {}", type, kAbcs[i].acc, kAbcs[i].add ? "add" : "new"));
    s.read_group({"MEM_W15", "MEM_W14"}, 8 + i, 0, "MXM_W0", t);
  }
  for (uint32_t row = 0; row < 4; ++row) {
    s.at("MXM_W0.1", kAccs[row].cycle, fmt::format("ACC E0, {}", kAccs[row].acc));
    s.write_group(kOutSlices, 16 + row, 0, "MXM_W0", kAccs[row].cycle + 2);
  }
  return fmt::format(R"(
.tensor W {0} 32x32 slices={1} base=0 init=random(31)
.tensor X {0} 8x32 slices=MEM_W15,MEM_W14 base=8 init=random(32)
.tensor Y f32 4x32 slices=MEM_W15,MEM_W14,MEM_W13,MEM_W12 base=16 init=zeros
)",
                     type, kWeightSlices) +
         s.text();
}

// One ABC at a time, as the hardware does it: s_j = sum over ascending k of fp32 products, then
// new (acc = s) or add (acc = acc + s).
void check_float16_accumulate(const Simulation& sim, const std::string& type) {
  const auto w = sim.initial("W"), x = sim.initial("X"), y = sim.symbol("Y");
  std::vector<std::vector<float>> acc(3, std::vector<float>(kVector, 0.0f));
  std::vector<std::vector<float>> expected;
  for (unsigned i = 0; i < 8; ++i) {
    // ACC 1 at 52 happens after ABC 6 has read (48) and before ABC 7's product (ready 76) lands.
    if (i == 7) expected.push_back(acc[1]);
    for (unsigned j = 0; j < kVector; ++j) {
      float s = float16_value(x, i * kVector, type) * float16_value(w, j, type);
      for (unsigned k = 1; k < kVector; ++k)
        s = s + float16_value(x, i * kVector + k, type) * float16_value(w, k * kVector + j, type);
      float& a = acc[kAbcs[i].acc][j];
      a = kAbcs[i].add ? a + s : s;
    }
  }
  expected.push_back(acc[0]);
  expected.push_back(acc[1]);
  expected.push_back(acc[2]);
  for (unsigned row = 0; row < 4; ++row)
    for (unsigned j = 0; j < kVector; ++j) REQUIRE(u32_at(y, row * kVector + j) == bits_of(expected[row][j]));
}

} // namespace

TEST_CASE("int8 weights give int32 dot products at the documented cycles") {
  Simulation sim(gemm_i8_program(), "tiny.json", kOverrides);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 58);
  const auto w = sim.initial("W"), x = sim.initial("X"), y = sim.symbol("Y");
  for (unsigned r = 0; r < 4; ++r)
    for (unsigned j = 0; j < kVector; ++j) {
      int32_t sum = 0;
      for (unsigned k = 0; k < kVector; ++k) sum += int8_t(x[r * kVector + k]) * int8_t(w[k * kVector + j]);
      REQUIRE(i32_at(y, r * kVector + j) == sum);
    }
  const auto& stats = sim.chip->context().stats.slice(mxm_slice(sim));
  CHECK(stats.macs == 4 * kVector * kVector);
  CHECK(stats.stream_bytes_read == (2 * 16 + 4) * kVector);
  CHECK(stats.stream_bytes_written == 4 * 4 * kVector);
}

TEST_CASE("int8 weights in a timing-only run keep the cycles, checks and MAC count") {
  tsp::EngineOptions options;
  options.timing_only = true;
  Simulation sim(gemm_i8_program(), "tiny.json", kOverrides, options);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 58);
  CHECK(sim.chip->context().stats.slice(mxm_slice(sim)).macs == 4 * kVector * kVector);
  const auto y = sim.symbol("Y");
  CHECK(std::all_of(y.begin(), y.end(), [](uint8_t b) { return b == 0; }));
}

TEST_CASE("f16 products folded in batches equal one product per ABC in order") {
  Simulation sim(float16_accumulate_program("f16"), "tiny.json", kOverrides);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 87);
  check_float16_accumulate(sim, "f16");
  CHECK(sim.chip->context().stats.slice(mxm_slice(sim)).macs == 8 * kVector * kVector);
}

TEST_CASE("bf16 products folded in batches equal one product per ABC in order") {
  Simulation sim(float16_accumulate_program("bf16"), "tiny.json", kOverrides);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 87);
  check_float16_accumulate(sim, "bf16");
}

TEST_CASE("f16 accumulation under the debug clock gives the same cycles and bits") {
  tsp::EngineOptions options;
  options.debug_clock = true;
  Simulation sim(float16_accumulate_program("f16"), "tiny.json", kOverrides, options);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 87);
  check_float16_accumulate(sim, "f16");
}

TEST_CASE("f16 accumulation in a timing-only run keeps the cycles") {
  tsp::EngineOptions options;
  options.timing_only = true;
  Simulation sim(float16_accumulate_program("f16"), "tiny.json", kOverrides, options);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 87);
}

TEST_CASE("an ABC still queued when IW installs new weights keeps the weights it read with") {
  // W (addresses 0, 1) loads at 19 and installs at 22; ABC 0 reads X row 0 at 22 into acc 0. V
  // (addresses 2, 3) loads at 23 and installs at 26; ABC 1 reads X row 1 at 26 into acc 1. ACC 0
  // at 46 and ACC 1 at 50 are written at MEM_W15..MEM_W12 up to 50 + 2 + 5 = 57: 59 cycles.
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 20, 0);
  feed_weights(s, 23, 24, 2);
  s.at("MXM_W0.0", 19, "LW.i8 W0");
  s.at("MXM_W0.0", 21, "IW");
  s.at("MXM_W0.0", 22, "ABC.i8 W0, 0, new");
  s.at("MXM_W0.0", 23, "LW.i8 W0");
  s.at("MXM_W0.0", 25, "IW");
  s.at("MXM_W0.0", 26, "ABC.i8 W0, 1, new");
  s.read_group({"MEM_W15"}, 8, 0, "MXM_W0", 22);
  s.read_group({"MEM_W15"}, 9, 0, "MXM_W0", 26);
  s.at("MXM_W0.1", 46, "ACC E0, 0");
  s.at("MXM_W0.1", 50, "ACC E0, 1");
  s.write_group(kOutSlices, 16, 0, "MXM_W0", 48);
  s.write_group(kOutSlices, 17, 0, "MXM_W0", 52);
  Simulation sim(fmt::format(R"(
.tensor W i8 32x32 slices={} base=0 init=random(51)
.tensor V i8 32x32 slices={} base=2 init=random(52)
.tensor X i8 2x32 slices=MEM_W15 base=8 init=random(53)
.tensor Y i32 2x32 slices=MEM_W15,MEM_W14,MEM_W13,MEM_W12 base=16 init=zeros
)",
                             kWeightSlices, kWeightSlices) +
                     s.text(),
                 "tiny.json", kOverrides);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 59);
  const auto w = sim.initial("W"), v = sim.initial("V"), x = sim.initial("X"), y = sim.symbol("Y");
  for (unsigned r = 0; r < 2; ++r)
    for (unsigned j = 0; j < kVector; ++j) {
      const auto& weights = r == 0 ? w : v;
      int32_t sum = 0;
      for (unsigned k = 0; k < kVector; ++k)
        sum += int8_t(x[r * kVector + k]) * int8_t(weights[k * kVector + j]);
      REQUIRE(i32_at(y, r * kVector + j) == sum);
    }
}

TEST_CASE("LW IW LW back to back is clean when the install precedes the next load") {
  // LW at 19 reads 19, 20; IW at 20 installs at 21, the cycle the second LW starts reading: no
  // error. Last active: the second LW's read at 22 (feeds end there): 24 cycles.
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 22);
  s.at("MXM_W0.0", 19, "LW.i8 W0");
  s.at("MXM_W0.1", 20, "IW");
  s.at("MXM_W0.0", 21, "LW.i8 W0");
  Simulation sim(s.text(), "tiny.json", kOverrides);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 24);
}

TEST_CASE("ABC with no weights installed is an mxm-weights error") {
  // X row 0 from MEM_W15 (Read at 0) is at MXM_W0 at 4.
  const auto config = mxm_config();
  Schedule s(config);
  s.read_group({"MEM_W15"}, 0, 0, "MXM_W0", 4);
  s.at("MXM_W0.0", 4, "ABC.i8 W0, 0, new");
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_weights) == 1);
  CHECK(sim.first_error() == fmt::format("cycle 4: mxm-weights: MXM_W0.0 instruction 1 (ABC) line {}: ABC on "
                                         "MXM_W0: no weights are installed",
                                         line_of(text, "ABC")));
  CHECK(sim.chip->context().stats.slice(mxm_slice(sim)).macs == 0);
}

TEST_CASE("ABC of another type than the installed weights is an mxm-weights error") {
  // i8 weights installed at 22; ABC.f16 reads its 2-stream activation at 22.
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 20);
  s.at("MXM_W0.0", 19, "LW.i8 W0");
  s.at("MXM_W0.0", 21, "IW");
  s.at("MXM_W0.0", 22, "ABC.f16 W0, 0, new");
  s.read_group({"MEM_W15", "MEM_W14"}, 8, 0, "MXM_W0", 22);
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_weights) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 22: mxm-weights: MXM_W0.0 instruction 4 (ABC) line {}: ABC.f16 on "
                    "MXM_W0: the installed weights are i8",
                    line_of(text, "ABC")));
}

TEST_CASE("IW of a shadow buffer never loaded is an mxm-weights error") {
  const auto config = mxm_config();
  Schedule s(config);
  s.at("MXM_W0.0", 0, "IW");
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_weights) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 1: mxm-weights: MXM_W0.0 instruction 0 (IW) line {}: IW on MXM_W0: "
                    "the shadow buffer was never loaded",
                    line_of(text, "IW")));
}

TEST_CASE("a second IW with no LW in between is an mxm-weights error") {
  // The first IW installs at 22, the second at 23.
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 20);
  s.at("MXM_W0.0", 19, "LW.i8 W0");
  s.at("MXM_W0.0", 21, "IW");
  s.at("MXM_W0.0", 22, "IW");
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_weights) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 23: mxm-weights: MXM_W0.0 instruction 4 (IW) line {}: IW on "
                    "MXM_W0: no LW has loaded the shadow buffer since the IW at cycle 22",
                    line_of(text, "IW", 2)));
}

TEST_CASE("IW while an LW is still filling the shadow buffer is an mxm-weights error") {
  // LW.f16 at 19 reads 19..22; IW at 21 installs at 22, before the last read.
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 22);
  s.at("MXM_W0.0", 19, "LW.f16 W0");
  s.at("MXM_W0.1", 21, "IW");
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_weights) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 22: mxm-weights: MXM_W0.1 instruction 1 (IW) line {}: IW on "
                    "MXM_W0: the LW dispatched at cycle 19 is still loading the shadow buffer "
                    "until cycle 22",
                    line_of(text, "IW")));
}

namespace {
// LW at 19 reads 19, 20; a second LW at 20 starts while it loads.
std::string overlapping_lw_program() {
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 21);
  s.at("MXM_W0.0", 19, "LW.i8 W0");
  s.at("MXM_W0.1", 20, "LW.i8 W0");
  return s.text();
}

void check_overlapping_lw(const Simulation& sim, const std::string& text) {
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_weights) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 20: mxm-weights: MXM_W0.1 instruction 1 (LW) line {}: LW on "
                    "MXM_W0: the LW dispatched at cycle 19 is still loading the shadow buffer "
                    "until cycle 20",
                    line_of(text, "LW", 2)));
  CHECK(sim.result.cycles == 23); // the second LW reads at 21
}
} // namespace

TEST_CASE("LW that starts while another LW is loading is an mxm-weights error") {
  const std::string text = overlapping_lw_program();
  Simulation sim(text, "tiny.json", kOverrides);
  check_overlapping_lw(sim, text);
}

TEST_CASE("LW that starts while another LW is loading is reported the same in a timing-only run") {
  const std::string text = overlapping_lw_program();
  tsp::EngineOptions options;
  options.timing_only = true;
  Simulation sim(text, "tiny.json", kOverrides, options);
  check_overlapping_lw(sim, text);
}

TEST_CASE("LW over shadow weights that were never installed is an mxm-weights error") {
  // The first LW reads 19, 20; the second starts at 21 with no IW in between.
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 22);
  s.at("MXM_W0.0", 19, "LW.i8 W0");
  s.at("MXM_W0.0", 21, "LW.i8 W0");
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_weights) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 21: mxm-weights: MXM_W0.0 instruction 3 (LW) line {}: LW on "
                    "MXM_W0: overwrites the weights loaded by the LW dispatched at cycle 19, "
                    "which were never installed",
                    line_of(text, "LW", 2)));
}

TEST_CASE("16-bit float activations closer than the float interval are an mxm-weights error") {
  // f16 weights installed at 24; ABCs read at 24, 27 (3 after: error) and 31 (4 after: fine).
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 22);
  s.at("MXM_W0.0", 19, "LW.f16 W0");
  s.at("MXM_W0.0", 23, "IW");
  for (uint64_t t : {24, 27, 31}) {
    s.at("MXM_W0.0", t, "ABC.f16 W0, 0, new");
    s.read_group({"MEM_W15", "MEM_W14"}, 8, 0, "MXM_W0", t);
  }
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_weights) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 27: mxm-weights: MXM_W0.0 instruction 6 (ABC) line {}: ABC.f16 on "
                    "MXM_W0: a 16-bit float activation 3 cycles after the previous one; the "
                    "plane takes one every 4 cycles",
                    line_of(text, "ABC", 2)));
}

TEST_CASE("ACC of an accumulator with no result is an mxm-accumulator error") {
  const auto config = mxm_config();
  Schedule s(config);
  s.at("MXM_W0.0", 0, "ACC E0, 5");
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_accumulator) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 0: mxm-accumulator: MXM_W0.0 instruction 0 (ACC) line {}: ACC on "
                    "MXM_W0: accumulator 5 holds no result",
                    line_of(text, "ACC")));
  CHECK(sim.result.cycles == 4); // the zeros are on E0..E3 at 2
}

TEST_CASE("ACC before the latest result is ready is an mxm-accumulator error") {
  // ABC new at 22 is ready at 46 (ACC at 46: fine); ABC add at 50 is ready at 74, so ACC at 60
  // reads a result that is not there yet.
  const auto config = mxm_config();
  Schedule s(config);
  feed_weights(s, 19, 20);
  s.at("MXM_W0.0", 19, "LW.i8 W0");
  s.at("MXM_W0.0", 21, "IW");
  s.at("MXM_W0.0", 22, "ABC.i8 W0, 0, new");
  s.at("MXM_W0.0", 50, "ABC.i8 W0, 0, add");
  s.read_group({"MEM_W15"}, 8, 0, "MXM_W0", 22);
  s.read_group({"MEM_W15"}, 9, 0, "MXM_W0", 50);
  s.at("MXM_W0.1", 46, "ACC E0, 0");
  s.at("MXM_W0.1", 60, "ACC E4, 0");
  const std::string text = s.text();
  Simulation sim(text, "tiny.json", kOverrides);
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::mxm_accumulator) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 60: mxm-accumulator: MXM_W0.1 instruction 3 (ACC) line {}: ACC on "
                    "MXM_W0: the latest result in accumulator 0 is ready at cycle 74",
                    line_of(text, "ACC E4")));
}

TEST_CASE("ACC of an accumulator the plane does not have is an mxm-accumulator error") {
  // Fetched text is not range-checked: an ACC with acc 100 (of 64) reaches the plane.
  const auto config = mxm_config();
  auto program = tsp::assemble(".queue MXM_W0.0\n  ACC E0, 5\n", "test.tsp", config);
  auto instruction = tsp::decode(program.queues.at(0).words.at(0));
  instruction.operands[1] = 100;
  program.queues[0].words[0] = tsp::encode(instruction);
  tsp::Chip chip("chip", config, {});
  chip.load(program);
  const auto result = chip.run();
  const auto& log = chip.context().log;
  CHECK(log.total() == 1);
  REQUIRE(log.count(ErrorKind::mxm_accumulator) == 1);
  CHECK(log.kept()[0].describe() ==
        "cycle 0: mxm-accumulator: MXM_W0.0 instruction 0 (ACC) line 2: ACC on MXM_W0: "
        "accumulator 100 does not exist (the plane has 64)");
  CHECK(result.cycles == 4);
}
