// The SXM slices and the C2C links on configs/tiny.json (2 superlanes of 16 lanes, stagger 1).
// Positions: MXM_W0 0, SXM_W 1, MEM_W3 2 .. MEM_W0 5, VXM 6, MEM_E0 7 .. MEM_E3 10, SXM_E 11. A
// program's cycle count is its last active cycle + 2. mem_read_func 2, sxm_shift 1,
// sxm_permute 2, sxm_transpose 18, c2c_link 216, c2c_receive_func 1.
#include "engine_harness.h"
#include "slice_schedule.h"
#include "tspsim/common/error.h"
#include "tspsim/program/latency.h"

#include <catch2/catch.hpp>

using tsp::ErrorKind;
using tsp::test::line_of;
using tsp::test::Schedule;
using tsp::test::Simulation;

namespace {

constexpr unsigned kVector = 32;
constexpr unsigned kLanes = 16;

int16_t i16_at(const std::vector<uint8_t>& v, size_t i) {
  return static_cast<int16_t>(v.at(2 * i) | v.at(2 * i + 1) << 8);
}

// A (MEM_E3, one hop) is at SXM_E at 3 and 4. SXM_E.0 shifts it north at 3 (on W0 at 4, MEM_E2
// at 6); SXM_E.1 shifts it south at 3 (sxm_shift + 1 superlane south: W1 at 5, MEM_E1 at 8);
// SXM_E.0 rotates it by 1 at 4 (sxm_permute + 1 south for the wrapped superlane: W2 at 7, MEM_E0
// at 11). Last Write at 11: 13 cycles.
std::string shift_rotate_program() {
  const auto config = tsp::test::bundled_config("tiny.json");
  Schedule s(config);
  s.read_group({"MEM_E3"}, 0, 0, "SXM_E", 3);
  s.read_group({"MEM_E3"}, 0, 0, "SXM_E", 4);
  s.at("SXM_E.0", 3, "Shift.i8 W0, E0, 1");
  s.at("SXM_E.1", 3, "Shift.i8 W1, E0, -1");
  s.at("SXM_E.0", 4, "Rotate.i8 W2, E0, 1");
  s.write_group({"MEM_E2"}, 0, 0, "SXM_E", 4);
  s.write_group({"MEM_E1"}, 0, 1, "SXM_E", 5);
  s.write_group({"MEM_E0"}, 0, 2, "SXM_E", 7);
  return R"(
.tensor A i8 1x32 slices=MEM_E3 base=0 init=random(41)
.tensor N i8 1x32 slices=MEM_E2 base=0 init=zeros
.tensor S i8 1x32 slices=MEM_E1 base=0 init=zeros
.tensor R i8 1x32 slices=MEM_E0 base=0 init=zeros
)" + s.text();
}

std::string values(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : " ") + std::to_string(x);
  return out;
}

} // namespace

TEST_CASE("Shift north and south and Rotate move whole superlanes with the southward stagger") {
  Simulation sim(shift_rotate_program(), "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 13);
  const auto a = sim.initial("A"), north = sim.symbol("N"), south = sim.symbol("S"),
             rotated = sim.symbol("R");
  for (unsigned i = 0; i < kVector; ++i) {
    const bool upper = i >= kLanes;
    REQUIRE(north[i] == (upper ? a[i - kLanes] : 0));
    REQUIRE(south[i] == (upper ? 0 : a[i + kLanes]));
    REQUIRE(rotated[i] == a[(i + kLanes) % kVector]);
  }
}

TEST_CASE("Shift and Rotate in a timing-only run keep the cycle count") {
  tsp::EngineOptions options;
  options.timing_only = true;
  Simulation sim(shift_rotate_program(), "tiny.json", {}, options);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 13);
}

TEST_CASE("Select Permute and Distribute move both byte planes of i16 elements") {
  // A (MEM_E2/MEM_E3) is on E0/E1 at SXM_E at 6, 7 and 8; B (MEM_E0/MEM_E1) on E2/E3 at 6; the
  // Permute map P on E4/E5 at 7; the Distribute map D on E6 at 8.
  // Select at 6 -> W0/W1 at 7 -> MEM_E3 at 8, MEM_E2 at 9.
  // Permute at 7 -> W2/W3 at 10 (sxm_permute 2 + 1 south) -> MEM_E1 at 13, MEM_E0 at 14.
  // Distribute at 8 -> W4/W5 at 10 -> MEM_E3 at 11, MEM_E2 at 12. Last Write at 14: 16 cycles.
  const auto config = tsp::test::bundled_config("tiny.json");
  Schedule s(config);
  for (uint64_t t : {6, 7, 8}) s.read_group({"MEM_E2", "MEM_E3"}, 0, 0, "SXM_E", t);
  s.read_group({"MEM_E0", "MEM_E1"}, 0, 2, "SXM_E", 6);
  s.read_group({"MEM_E0", "MEM_E1"}, 4, 4, "SXM_E", 7);
  s.read_group({"MEM_E0"}, 8, 6, "SXM_E", 8);
  s.at("SXM_E.0", 6, "Select.i16 W0, E0, E2, 2");
  s.at("SXM_E.0", 7, "Permute.i16 W2, E0, E4");
  s.at("SXM_E.1", 8, "Distribute.i16 W4, E0, E6");
  s.write_group({"MEM_E3", "MEM_E2"}, 16, 0, "SXM_E", 7);
  s.write_group({"MEM_E1", "MEM_E0"}, 16, 2, "SXM_E", 10);
  s.write_group({"MEM_E3", "MEM_E2"}, 17, 4, "SXM_E", 10);
  std::vector<int> permute_map(kVector), distribute_map(kVector);
  for (unsigned i = 0; i < kVector; ++i) {
    permute_map[i] = int(i * 7 + 3) % int(kVector);
    distribute_map[i] = int(i * 5) % int(kLanes);
  }
  permute_map[5] = -1;
  permute_map[9] = 40;
  distribute_map[3] = 16;
  distribute_map[17] = -1; // 255 as a lane number
  distribute_map[20] = 100;
  Simulation sim(R"(
.tensor A i16 1x32 slices=MEM_E2,MEM_E3 base=0 init=random(42)
.tensor B i16 1x32 slices=MEM_E0,MEM_E1 base=0 init=random(43)
.tensor P i16 1x32 slices=MEM_E0,MEM_E1 base=4 init=values()" +
                     values(permute_map) + R"()
.tensor D i8 1x32 slices=MEM_E0 base=8 init=values()" +
                     values(distribute_map) + R"()
.tensor SEL i16 1x32 slices=MEM_E3,MEM_E2 base=16 init=zeros
.tensor PER i16 1x32 slices=MEM_E1,MEM_E0 base=16 init=zeros
.tensor DIS i16 1x32 slices=MEM_E3,MEM_E2 base=17 init=zeros
)" + s.text(),
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 16);
  const auto a = sim.initial("A"), b = sim.initial("B");
  const auto sel = sim.symbol("SEL"), per = sim.symbol("PER"), dis = sim.symbol("DIS");
  for (unsigned i = 0; i < kVector; ++i) {
    REQUIRE(i16_at(sel, i) == (i >= kLanes ? i16_at(a, i) : i16_at(b, i)));
    const int from = permute_map[i];
    REQUIRE(i16_at(per, i) == (from >= 0 && from < int(kVector) ? i16_at(a, from) : 0));
    const unsigned lane = static_cast<uint8_t>(distribute_map[i]);
    const unsigned base = i / kLanes * kLanes;
    REQUIRE(i16_at(dis, i) == (lane < kLanes ? i16_at(a, base + lane) : 0));
  }
}

TEST_CASE("Transpose swaps lanes and streams in every 16x16 block") {
  // 16 MEM slices per hemisphere: MEM_Wi is at 17 - i, SXM_W at 1. Row i of T (MEM_Wi, Read at i)
  // is on Wi at SXM_W at 18; Transpose at 18 puts E0..E15 there at 36 (sxm_transpose 18); MEM_Wj
  // writes Ej at 36 + 16 - j. Last Write at 52: 54 cycles.
  const std::vector<std::string> overrides{"geometry.mem_slices_per_hemisphere=16"};
  const auto config = tsp::test::bundled_config("tiny.json", overrides);
  Schedule s(config);
  std::string slices;
  for (unsigned i = 0; i < 16; ++i) {
    const std::string mem = fmt::format("MEM_W{}", i);
    slices += (i ? "," : "") + mem;
    s.read_group({mem}, 0, i, "SXM_W", 18);
    s.write_group({mem}, 1, i, "SXM_W", 36);
  }
  s.at("SXM_W.0", 18, "Transpose E0, W0");
  Simulation sim(fmt::format(".tensor T i8 16x32 slices={} base=0 init=random(44)\n"
                             ".tensor U i8 16x32 slices={} base=1 init=zeros\n",
                             slices, slices) +
                     s.text(),
                 "tiny.json", overrides);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 54);
  const auto t = sim.initial("T"), u = sim.symbol("U");
  for (unsigned j = 0; j < 16; ++j)
    for (unsigned block = 0; block < kVector / 16; ++block)
      for (unsigned i = 0; i < 16; ++i)
        REQUIRE(u[j * kVector + 16 * block + i] == t[i * kVector + 16 * block + j]);
}

namespace {
// Rows 0 and 1 of A (MEM_W3, one hop from SXM_W) are sent on link 3 at 3 and 5 (a 32-byte vector
// keeps a tiny link busy for 2 cycles: c2c_vector_cycles) and are receivable at 219 and 221.
// SXM_E receives at `first` and `first + 2`; each vector is on W0 one cycle later and written at
// MEM_E3 (one hop) one cycle after that.
std::string link_program(uint64_t first) {
  const auto config = tsp::test::bundled_config("tiny.json");
  const uint32_t spacing = tsp::c2c_vector_cycles(config);
  REQUIRE(spacing == 2);
  Schedule s(config);
  for (uint32_t r = 0; r < 2; ++r) {
    s.read_group({"MEM_W3"}, r, 0, "SXM_W", 3 + spacing * r);
    s.at("SXM_W.0", 3 + spacing * r, "Send 3, W0");
    s.at("SXM_E.0", first + spacing * r, "Receive 3, W0");
    s.write_group({"MEM_E3"}, r, 0, "SXM_E", first + spacing * r + 1);
  }
  return R"(
.tensor A i8 2x32 slices=MEM_W3 base=0 init=random(45)
.tensor B i8 2x32 slices=MEM_E3 base=0 init=random(46)
)" + s.text();
}

uint64_t link_bytes(const Simulation& sim, const std::string& slice) {
  const auto& ctx = sim.chip->context();
  return ctx.stats.slices()[*ctx.floorplan.find_slice(slice)].link_bytes;
}
} // namespace

TEST_CASE("Send and Receive over a loopback link deliver the oldest vector first") {
  // Receives at 230 and 232, both vectors arrived: writes at 232 and 234, 236 cycles.
  Simulation sim(link_program(230), "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 236);
  CHECK(sim.symbol("B") == sim.initial("A"));
  CHECK(link_bytes(sim, "SXM_W") == 2 * kVector);
  CHECK(link_bytes(sim, "SXM_E") == 0);
}

TEST_CASE("Send and Receive under the debug clock give the same cycles and data") {
  tsp::EngineOptions options;
  options.debug_clock = true;
  Simulation sim(link_program(230), "tiny.json", {}, options);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 236);
  CHECK(sim.symbol("B") == sim.initial("A"));
}

TEST_CASE("Receive in the very cycle a vector becomes receivable gets it") {
  // Receives at 219 and 221: writes at 221 and 223, 225 cycles.
  Simulation sim(link_program(219), "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 225);
  CHECK(sim.symbol("B") == sim.initial("A"));
}

TEST_CASE("Receive before any vector has arrived is a link-empty error and puts zeros on the stream") {
  // Receive at 218, one cycle early (row 0 arrives at 219); the second Receive at 220 gets row 0.
  const std::string text = link_program(218);
  Simulation sim(text, "tiny.json");
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(ErrorKind::link_empty) == 1);
  CHECK(sim.first_error() ==
        fmt::format("cycle 218: link-empty: SXM_E.0 instruction 1 (Receive) line {}: no vector "
                    "has arrived on link 3",
                    line_of(text, "Receive")));
  CHECK(sim.result.cycles == 224);
  const auto a = sim.initial("A"), b = sim.symbol("B");
  CHECK(std::all_of(b.begin(), b.begin() + kVector, [](uint8_t x) { return x == 0; }));
  CHECK(std::equal(b.begin() + kVector, b.end(), a.begin()));
}

TEST_CASE("without loopback a Send is counted and leaves the chip") {
  const std::string text = link_program(230);
  Simulation sim(text, "tiny.json", {"c2c.loopback=false"});
  CHECK(sim.log().total() == 2);
  REQUIRE(sim.log().count(ErrorKind::link_empty) == 2);
  CHECK(link_bytes(sim, "SXM_W") == 2 * kVector);
  CHECK(sim.result.cycles == 236);
  const auto b = sim.symbol("B");
  CHECK(std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; }));
}
