// The 14 nm config against the published chip figures (../shared/reference/published-figures.md;
// docs/validation.md): capacities and peaks that follow from the configured geometry and clock.
#include "tspsim/config/config.h"

#include <catch2/catch.hpp>

namespace {
const tsp::ChipConfig& chip() {
  static const tsp::ChipConfig config = tsp::load_config(std::string(TSPSIM_SOURCE_DIR) + "/configs/14nm.json");
  return config;
}
double hz() { return chip().clock_mhz * 1e6; }
double vector_bytes() { return chip().geometry.vector_bytes(); }
} // namespace

TEST_CASE("on-chip SRAM is 220 MiB in 88 slices of 2.5 MiB") {
  CHECK(chip().geometry.mem_slices() == 88);
  CHECK(chip().geometry.sram_bytes() == 220ull * 1024 * 1024);
  CHECK(uint64_t(chip().geometry.mem_words_per_slice) * chip().geometry.vector_bytes() == 2621440);
}

TEST_CASE("int8 peak is 409,600 MACs per cycle, 737 TOPS at 900 MHz") {
  const double macs = chip().geometry.mxm_planes() * vector_bytes() * vector_bytes();
  CHECK(macs == 409600);
  CHECK(2 * macs * hz() == Approx(737.28e12));
  // Sold as 750 TOPS: 1.7 % above the 900 MHz figure.
  CHECK(750e12 / (2 * macs * hz()) == Approx(1.0173).epsilon(1e-4));
}

TEST_CASE("fp16 peak is a quarter of int8, 184 TFLOPS at 900 MHz") {
  const double macs = chip().geometry.mxm_planes() * vector_bytes() * vector_bytes() /
                      chip().mxm.float_activation_interval;
  CHECK(2 * macs * hz() == Approx(184.32e12));
}

TEST_CASE("SRAM bandwidth is 50.7 TB/s at 900 MHz, one access per bank per cycle") {
  const auto& g = chip().geometry;
  const double bytes_per_cycle = double(g.mem_slices()) * g.mem_banks_per_slice * g.mem_ports_per_bank * g.vector_bytes();
  CHECK(bytes_per_cycle == 56320);
  CHECK(bytes_per_cycle * hz() == Approx(50.688e12));
}

TEST_CASE("stream bandwidth is 2 x 32 streams x 320 B per cycle, 18.4 TB/s at 900 MHz") {
  const double bytes_per_cycle = 2.0 * chip().streams.per_direction * vector_bytes();
  CHECK(bytes_per_cycle == 20480);
  CHECK(bytes_per_cycle * hz() == Approx(18.432e12));
}

TEST_CASE("chip-to-chip links total 480 GB/s over 16 links of 4 lanes at 30 Gb/s") {
  const auto& c2c = chip().c2c;
  CHECK(2 * c2c.links * c2c.lanes_per_link * c2c.gbps_per_lane / 8 == Approx(480));
}

// ---- Simulated traffic: what programs actually reach (docs/validation.md, "Simulated rates").

#include "engine_harness.h"
#include "tspsim/program/latency.h"

#include <fmt/format.h>

namespace {
// Every one of the 16 links of the 14 nm chip (loopback) carries `count` vectors `spacing` cycles
// apart, each received on arrival. Links 0..13 are sent by SXM_W.<l> from MEM_W<l>, links 14 and
// 15 by SXM_E.12 and .13 from MEM_E14 and MEM_E15 (14 SXM queues per side); SXM_E.<q> receives
// links q and q + 8, alternately, 10 cycles apart.
std::string link_stream(uint64_t spacing, uint64_t count) {
  std::string text;
  auto send = [&](unsigned l, const std::string& mem, unsigned hops, const std::string& sxm, char dir) {
    const uint64_t t = 100 + l;
    text += fmt::format(".queue {}\n  NOP {}\n  Read 0, {}{}\n  Repeat {}, {}, 1\n", mem, t - hops - 2, dir, l,
                        count - 1, spacing);
    text += fmt::format(".queue {}\n  NOP {}\n  Send {}, {}{}\n  Repeat {}, {}, 0\n", sxm, t, l, dir, l, count - 1,
                        spacing);
  };
  // Positions: MEM_Wi at 46 - i, SXM_W at 2, MEM_Ei at 48 + i, SXM_E at 92; mem_read_func 2.
  for (unsigned l = 0; l < 14; ++l) send(l, fmt::format("MEM_W{}", l), 46 - l - 2, fmt::format("SXM_W.{}", l), 'W');
  for (unsigned l = 14; l < 16; ++l) send(l, fmt::format("MEM_E{}", l), 92 - 48 - l, fmt::format("SXM_E.{}", l - 2), 'E');
  for (unsigned q = 0; q < 8; ++q) {
    text += fmt::format(".queue SXM_E.{}\n  NOP {}\n", q, 100 + q + 216);
    for (uint64_t k = 0; k < count; ++k)
      text += fmt::format("  Receive {}, E{}\n  NOP {}\n  Receive {}, E{}\n  NOP {}\n", q, q, spacing / 2 - 1, q + 8, q,
                          spacing - spacing / 2 - 1);
  }
  return text;
}

tsp::EngineOptions timing_only() {
  tsp::EngineOptions options;
  options.timing_only = true;
  return options;
}
} // namespace

TEST_CASE("chip-to-chip, simulated: 16 links at one vector per 20 cycles carry 460.8 GB/s without overrun") {
  const uint64_t spacing = tsp::c2c_vector_cycles(chip());
  REQUIRE(spacing == 20);
  tsp::test::Simulation sim(link_stream(spacing, 48), "14nm.json", {}, timing_only());
  CHECK(sim.log().total() == 0);
  uint64_t received = 0;
  for (const auto& link : sim.chip->context().links.stats()) received += link.vectors_received;
  CHECK(received == 16 * 48);
  // Each link sends 48 vectors in 48 x 20 cycles; counting both directions of every link.
  const double seconds = 48.0 * spacing / hz();
  const double both_directions = 2.0 * received * vector_bytes() / seconds;
  CHECK(both_directions == Approx(460.8e9));
  CHECK(both_directions / 480e9 == Approx(0.96)); // 19.2 cycles of serialisation rounded up to 20
}

TEST_CASE("chip-to-chip, simulated: one vector per 19 cycles overruns every link") {
  tsp::test::Simulation sim(link_stream(19, 48), "14nm.json", {}, timing_only());
  CHECK(sim.log().count(tsp::ErrorKind::link_overrun) == 16 * 47);
}

TEST_CASE("SRAM, simulated: every MEM slice reading every cycle reaches 25.3 TB/s, half the port peak") {
  // One instruction queue per MEM slice, one access per instruction: 88 accesses per cycle, while
  // the banks have 176 ports.
  std::string text;
  for (unsigned i = 0; i < 44; ++i)
    for (const char* side : {"W", "E"})
      text += fmt::format(".queue MEM_{}{}\n  Read 0, {}{}\n  Repeat 99, 1, 1\n", side, i, side == std::string("W") ? "W" : "E",
                          i % 32);
  tsp::test::Simulation sim(text, "14nm.json", {}, timing_only());
  CHECK(sim.log().total() == 0);
  uint64_t bytes = 0;
  for (const auto& s : sim.chip->context().stats.slices()) bytes += s.sram_bytes_read;
  CHECK(bytes == 88ull * 100 * 320);
  const double per_second = double(bytes) / 100 * hz();
  CHECK(per_second == Approx(25.344e12));
  const auto& g = chip().geometry;
  CHECK(per_second / (double(g.mem_slices()) * g.mem_banks_per_slice * g.mem_ports_per_bank * g.vector_bytes() * hz()) ==
        Approx(0.5));
}
