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
