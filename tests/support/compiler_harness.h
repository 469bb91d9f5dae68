// Test helper for the compiler: simulate a compiled kernel once (one simulation per TEST_CASE)
// and compare its outputs with the host reference.
#pragma once

#include "tspsim/system/chip.h"
#include "engine_harness.h"
#include "tspsim/compiler/reference.h"

#include <cmath>
#include <fmt/format.h>
#include <memory>
#include <string>

namespace tsp::test {

struct KernelRun {
  ChipConfig config;
  compiler::CompiledKernel kernel;
  std::unique_ptr<Chip> chip;
  RunResult result;

  KernelRun(ChipConfig chip_config, compiler::CompiledKernel compiled)
      : config(std::move(chip_config)), kernel(std::move(compiled)) {
    validate_program(kernel.program, config, "tspc");
    chip = std::make_unique<Chip>("chip", config, EngineOptions{});
    chip->load(kernel.program);
    result = chip->run();
  }

  uint64_t errors() const { return chip->context().log.total(); }
  std::string first_error() const {
    const auto& kept = chip->context().log.kept();
    return kept.empty() ? "" : kept.front().describe();
  }

  // The first output element that differs from the reference by more than its tolerance, or "".
  std::string mismatch() const {
    for (const auto& out : kernel.outputs) {
      const Symbol& symbol = *kernel.program.find_symbol(out.symbol);
      const auto actual = chip->read_symbol(symbol);
      if (actual.size() != out.bytes.size())
        return fmt::format("{}: {} bytes, expected {}", out.symbol, actual.size(), out.bytes.size());
      const auto values = compiler::element_values(symbol.dtype, actual);
      for (size_t e = 0; e < values.size(); ++e) {
        const bool exact = out.tolerance[e] == 0;
        const unsigned width = isa::dtype_bytes(symbol.dtype);
        // As tspsim --expect: a NaN matches any NaN, bit-exact or not (docs/numerics.md).
        const bool same =
            (std::isnan(values[e]) && std::isnan(out.values[e])) ||
            (exact ? std::equal(actual.begin() + e * width, actual.begin() + (e + 1) * width,
                                out.bytes.begin() + e * width)
                   : values[e] == out.values[e] || std::fabs(values[e] - out.values[e]) <= out.tolerance[e]);
        if (!same)
          return fmt::format("{}[{}, {}] = {}, reference {} (tolerance {})", out.symbol, e / symbol.cols,
                             e % symbol.cols, values[e], out.values[e], out.tolerance[e]);
      }
    }
    return "";
  }
};

} // namespace tsp::test
