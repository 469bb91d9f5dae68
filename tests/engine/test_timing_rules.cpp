// The rules of program/timing_rules.h that the simulator and the compiler share, against values
// written out by hand from the ISA table and configs/14nm.json.
#include "tspsim/config/config.h"
#include "tspsim/program/timing_rules.h"

#include <catch2/catch.hpp>

namespace {
tsp::ChipConfig chip() { return tsp::load_config(std::string(TSPSIM_SOURCE_DIR) + "/configs/14nm.json"); }
} // namespace

TEST_CASE("timing rules: stream fields encode the direction in bit 6 and the id below") {
  STATIC_REQUIRE(tsp::stream_field(5, false) == 0x05);
  STATIC_REQUIRE(tsp::stream_field(31, true) == 0x5f);
  STATIC_REQUIRE(tsp::stream_field_id(0x5f) == 31);
  STATIC_REQUIRE(tsp::stream_field_west(0x5f));
  STATIC_REQUIRE(!tsp::stream_field_west(0x05));
}

TEST_CASE("timing rules: a value keeps its diagonal as it moves one position per hop") {
  // Eastward: written at position 3 in cycle 10 with hop 2, it is at position 5 in cycle 14.
  STATIC_REQUIRE(tsp::stream_diagonal(false, 3, 10, 2) == 4);
  STATIC_REQUIRE(tsp::stream_diagonal(false, 5, 14, 2) == 4);
  // Westward: at position 5 in cycle 10, at position 3 in cycle 14.
  STATIC_REQUIRE(tsp::stream_diagonal(true, 5, 10, 2) == 20);
  STATIC_REQUIRE(tsp::stream_diagonal(true, 3, 14, 2) == 20);
  // Diagonals east of position 0 at cycle 0 are negative.
  STATIC_REQUIRE(tsp::stream_diagonal(false, 7, 0, 1) == -7);
}

TEST_CASE("timing rules: ICU timing and run length on the 14 nm chip") {
  const tsp::ChipConfig config = chip();
  CHECK(tsp::notify_release_cycles(config) == 2);
  CHECK(tsp::ifetch_read_cycles(config) == 0);
  CHECK(tsp::ifetch_arrival_cycles(config) == 4);
  // 20 superlanes, one cycle of stagger each: the last one finishes 19 cycles after superlane 0.
  CHECK(tsp::run_cycles(0, config) == 20);
  CHECK(tsp::run_cycles(1000, config) == 1020);
}

TEST_CASE("timing rules: Repeat and NOP limits are their ISA field widths") {
  const tsp::RepeatLimits& limits = tsp::repeat_limits();
  CHECK(limits.count == 0xffffff);    // n: 24 bits
  CHECK(limits.interval == 0xffff);   // d: 16 bits
  CHECK(limits.stride == 0x7fff);     // stride: signed 16 bits
  CHECK(limits.nop == 0xffffffffull); // NOP n: 32 bits
}

TEST_CASE("timing rules: each slice kind's queues issue its unit's instructions and the ICU's") {
  using tsp::SliceKind;
  using tsp::isa::Opcode;
  CHECK(tsp::queue_may_issue(tsp::isa::spec(Opcode::read), SliceKind::mem));
  CHECK(!tsp::queue_may_issue(tsp::isa::spec(Opcode::read), SliceKind::vxm));
  CHECK(tsp::queue_may_issue(tsp::isa::spec(Opcode::send), SliceKind::sxm)); // C2C via the SXM
  CHECK(!tsp::queue_may_issue(tsp::isa::spec(Opcode::send), SliceKind::mem));
  CHECK(tsp::queue_may_issue(tsp::isa::spec(Opcode::nop), SliceKind::mxm));
  CHECK(tsp::queue_unit(SliceKind::mxm) == tsp::isa::Unit::mxm);
  CHECK(tsp::slice_kind_info(SliceKind::sxm).name == "SXM");
}
