// The chip configuration: JSON read once into typed structs that flow into every component.
#pragma once

#include "isa.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tsp {

struct GeometryConfig {
  unsigned superlanes = 20;
  unsigned lanes_per_superlane = 16;
  unsigned mem_slices_per_hemisphere = 44;
  unsigned mem_words_per_slice = 8192;
  unsigned mem_banks_per_slice = 2;
  unsigned mem_ports_per_bank = 1;
  unsigned mxm_planes_per_hemisphere = 2;
  unsigned vxm_alus_per_lane = 16;

  // Elements (bytes) in one vector: one byte per lane.
  unsigned vector_bytes() const { return superlanes * lanes_per_superlane; }
  unsigned mem_slices() const { return 2 * mem_slices_per_hemisphere; }
  unsigned mxm_planes() const { return 2 * mxm_planes_per_hemisphere; }
  unsigned words_per_bank() const { return mem_words_per_slice / mem_banks_per_slice; }
  uint64_t sram_bytes() const { return uint64_t(mem_slices()) * mem_words_per_slice * vector_bytes(); }
};

struct StreamConfig {
  unsigned per_direction = 32;
  unsigned hop_cycles = 1;
  unsigned superlane_stagger_cycles = 1;
};

struct IcuConfig {
  unsigned sxm_queues_per_hemisphere = 14;
  unsigned mxm_queues_per_plane = 3;
  unsigned vxm_queues = 16;
  unsigned instruction_buffer_entries = 256;
};

struct MxmConfig {
  unsigned weight_streams = 16;
  unsigned accumulators = 1024;
  // Cycles between activation vectors for 16-bit float types (int8 takes one per cycle).
  unsigned float_activation_interval = 4;
};

struct C2cConfig {
  unsigned links = 16;
  unsigned hac_period_cycles = 256;
  // Single-chip runs: a vector sent on link i arrives on link i of the same chip.
  bool loopback = true;
  double gbps_per_lane = 30.0;
  unsigned lanes_per_link = 4;
  // This chip's clock against the system's reference, in parts per million (0: no drift).
  double drift_ppm = 0;
};

struct TimingConfig {
  std::array<uint32_t, static_cast<size_t>(isa::TimingParam::count)> cycles{};

  uint32_t operator[](isa::TimingParam p) const {
    return p == isa::TimingParam::none ? 0 : cycles[static_cast<size_t>(p)];
  }
};

struct ChipConfig {
  std::string name = "groq-tsp-gen1-14nm";
  double clock_mhz = 900.0;
  GeometryConfig geometry;
  StreamConfig streams;
  IcuConfig icu;
  MxmConfig mxm;
  C2cConfig c2c;
  TimingConfig timing;
  std::string source; // file it was read from, for messages and reports

  ChipConfig(); // timing defaults from isa/timing_params.def
};

// Reads `path`, applies `overrides` ("key.path=value", in order), validates. Throws InputError
// naming the file, the key path and what was expected.
ChipConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});

// Same, from JSON text; `origin` names the source in messages.
ChipConfig parse_config(const std::string& text, const std::string& origin,
                        const std::vector<std::string>& overrides = {});

// The fully resolved configuration, in the file's own schema.
nlohmann::json config_to_json(const ChipConfig& config);

// Cycles a C2C link is busy serialising one vector: vector bits over lanes x lane rate, in clock
// cycles, rounded up (14 nm: 2560 bits / 120 Gb/s = 21.3 ns = 19.2 cycles at 900 MHz -> 20). The
// simulator's links, the compiler's schedules and the fingerprint all take it from here.
uint32_t c2c_vector_cycles(const ChipConfig& config);

// "20 cycles per vector (4 lanes x 30 Gb/s at 900 MHz)", for messages.
std::string c2c_rate_text(const ChipConfig& config);

// A stable 64-bit hash of everything that fixes the ISA-visible layout and timing: geometry,
// streams, queue counts, MXM shape, every timing parameter, the ISA table itself, and the link
// rate as c2c_vector_cycles (a schedule spaces its Sends by it; clock, lanes and lane rate that
// give the same cycles per vector give the same fingerprint).
uint64_t geometry_fingerprint(const ChipConfig& config);

// If `fingerprint` is that of `config` with links of another rate, the cycles per vector it was
// made for (so that a mismatch can name both rates); otherwise nothing.
std::optional<uint32_t> c2c_cycles_of_fingerprint(const ChipConfig& config, uint64_t fingerprint);

} // namespace tsp
