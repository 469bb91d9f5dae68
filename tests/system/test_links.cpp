// C2C link rate: the serialisation time of a vector derived from lanes x lane rate and the clock,
// and the link-overrun check at that spacing.
#include "engine_harness.h"
#include "slice_schedule.h"
#include "tspsim/program/latency.h"

#include <catch2/catch.hpp>

using tsp::test::Schedule;
using tsp::test::Simulation;

TEST_CASE("c2c_vector_cycles: vector bits over lanes x lane rate, in cycles, rounded up") {
  auto config = tsp::test::bundled_config("14nm.json");
  // 2560 bits / 120 Gb/s = 21.33 ns = 19.2 cycles at 900 MHz.
  CHECK(tsp::c2c_vector_cycles(config) == 20);
  config.c2c.gbps_per_lane = 28; // cabled: 2560 / 112 = 22.86 ns = 20.57 cycles
  CHECK(tsp::c2c_vector_cycles(config) == 21);
  config.c2c.gbps_per_lane = 32;
  config.clock_mhz = 1000; // 2560 / 128 = 20 ns = exactly 20 cycles: no extra cycle from rounding
  CHECK(tsp::c2c_vector_cycles(config) == 20);
  config.c2c.lanes_per_link = 1;
  CHECK(tsp::c2c_vector_cycles(config) == 80);
  CHECK(tsp::c2c_vector_cycles(tsp::test::bundled_config("tiny.json")) == 2); // 256 bits: 1.92 cycles
}

namespace {
// Two Sends on link 5 of the 14 nm chip, `gap` cycles apart, each received on arrival.
std::string two_sends(uint64_t gap) {
  const auto config = tsp::test::bundled_config("14nm.json");
  Schedule s(config);
  for (uint32_t r = 0; r < 2; ++r) {
    const uint64_t t = 10 + gap * r;
    s.read_group({"MEM_E43"}, r, 0, "SXM_E", t);
    s.at("SXM_E.0", t, "Send 5, E0");
    s.at("SXM_E.1", t + 216, "Receive 5, W0");
    s.write_group({"MEM_E42"}, r, 0, "SXM_E", t + 217);
  }
  return R"(
.tensor A i8 2x320 slices=MEM_E43 base=0 init=random(7)
.tensor B i8 2x320 slices=MEM_E42 base=0 init=zeros
)" + s.text();
}
} // namespace

TEST_CASE("a Send one serialisation time after the previous one on the same link is in time") {
  Simulation sim(two_sends(20), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.symbol("B") == sim.initial("A"));
  const auto& stats = sim.chip->context().links.stats().at(5);
  CHECK(stats.vectors_sent == 2);
  CHECK(stats.vectors_received == 2);
  CHECK(stats.busy_cycles == 40);
}

TEST_CASE("a Send one cycle too early overruns the link, named with its cycle and the busy end") {
  Simulation sim(two_sends(19), "14nm.json");
  CHECK(sim.log().total() == 1);
  REQUIRE(sim.log().count(tsp::ErrorKind::link_overrun) == 1);
  CHECK(sim.log().kept().front().cycle == 29);
  CHECK(sim.log().kept().front().message ==
        "link 5 is still sending the previous vector until cycle 30 (a vector takes 20 cycles on 4 lanes at 30 Gb/s)");
  CHECK(sim.symbol("B") == sim.initial("A"));
}

TEST_CASE("a slower lane rate from the config lengthens the serialisation time") {
  Simulation sim(two_sends(20), "14nm.json", {"c2c.gbps_per_lane=28"});
  REQUIRE(sim.log().count(tsp::ErrorKind::link_overrun) == 1);
  CHECK(sim.log().kept().front().message ==
        "link 5 is still sending the previous vector until cycle 31 (a vector takes 21 cycles on 4 lanes at 28 Gb/s)");
}
