// Test helper: assemble a program for a bundled config and run it once (SystemC allows one
// elaboration per process, so one simulation per TEST_CASE).
#pragma once

#include "tspsim/system/chip.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/tensor.h"
#include "tspsim/config/config.h"

#include <memory>
#include <string>
#include <vector>

namespace tsp::test {

inline ChipConfig bundled_config(const std::string& name, const std::vector<std::string>& overrides = {}) {
  return load_config(std::string(TSPSIM_SOURCE_DIR) + "/configs/" + name, overrides);
}

struct Simulation {
  ChipConfig config;
  Program program;
  std::unique_ptr<Chip> chip;
  RunResult result;

  Simulation(const std::string& text, const std::string& config_name, const std::vector<std::string>& overrides = {},
             EngineOptions options = {})
      : config(bundled_config(config_name, overrides)), program(assemble(text, "test.tsp", config)) {
    chip = std::make_unique<Chip>("chip", config, options);
    chip->load(program);
    result = chip->run();
  }

  const ConformanceLog& log() const { return chip->context().log; }
  std::vector<uint8_t> symbol(const std::string& name) const { return chip->read_symbol(*program.find_symbol(name)); }
  std::vector<uint8_t> initial(const std::string& name) const;
  std::string first_error() const { return log().kept().empty() ? "" : log().kept().front().describe(); }
};

// The initial elements of a symbol, read back from the program's images (stored and declared).
inline std::vector<uint8_t> Simulation::initial(const std::string& name) const {
  const Symbol& s = *program.find_symbol(name);
  const unsigned bytes = isa::dtype_bytes(s.dtype);
  const unsigned vb = config.geometry.vector_bytes();
  std::vector<uint8_t> out(size_t(s.rows) * s.cols * bytes, 0);
  const size_t groups = s.slices.size() / bytes;
  for_each_image(program, [&](const MemImage& image) {
    for (uint32_t r = 0; r < s.rows; ++r)
      for (unsigned b = 0; b < bytes; ++b) {
        const uint32_t mem = s.slices[(r % groups) * bytes + b];
        const uint32_t address = s.base_of((r % groups) * bytes + b) + static_cast<uint32_t>(r / groups);
        if (image.mem != mem || address < image.address || address >= image.address + image.bytes.size() / vb)
          continue;
        for (uint32_t c = 0; c < s.cols; ++c)
          out[(size_t(r) * s.cols + c) * bytes + b] = image.bytes[size_t(address - image.address) * vb + c];
      }
  });
  return out;
}

} // namespace tsp::test
