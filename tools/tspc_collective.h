// `tspc collective`: a collective over the C2C links of a system (include/tspsim/compiler/
// collectives.h) compiled into a system program, with the reference of every chip's outputs; and
// `tspc llama --system` (docs/llama.md), written the same way.
#pragma once

#include "cli/cli_common.h"
#include "tspsim/compiler/collectives.h"
#include "tspsim/compiler/registry.h"

#include <CLI/CLI.hpp>
#include <string>

struct CollectiveArgs {
  std::string system;
  std::string kind = "all-reduce";
  std::string rows;
  std::string cols;
  std::string dtype = "fp32";
  std::string chips;     // "0,1,5" or empty: every chip
  std::string algorithm; // direct, ring or empty: tspc chooses
  std::string seed = "1";
};

CLI::App* add_collective_command(CLI::App& app, CollectiveArgs& args);
// Compiles, writes `output` and, with `reference_dir`, DIR/chipN/SYMBOL.bin; prints the tspsim
// command that checks them. Returns the exit code. `config`: --config and --set (load_chosen_system).
// `timing_only`: no host reference (tspsim --timing-only).
int run_collective(const CollectiveArgs& args, const tsp::cli::ConfigChoice& config,
                   const std::string& output, const std::string& reference_dir, bool timing_only);

// The bound per element of a float output against its reference as written (tspsim --expect-tol).
std::vector<double> bounds_against_written(const tsp::compiler::ExpectedOutput& out, tsp::isa::DType dtype);
bool is_exact(const tsp::compiler::ExpectedOutput& out);

// Writes a system program to `output` and, with `reference_dir`, DIR/chipN/SYMBOL.bin (and
// SYMBOL.tol for inexact outputs); prints the prediction and the tspsim command that checks them.
int write_system(const tsp::compiler::CompiledSystem& compiled, const std::string& output,
                 const std::string& reference_dir, const tsp::SystemConfig& system,
                 const std::string& system_path, const tsp::cli::ConfigChoice& config);

// `tspc llama --system S [--stages P]`: the decode step over S's chips; stages 0: as many as
// `tspc plan` chooses for S's chips. `progress`: a line on stderr as each stage is finished.
int run_llama_system(const tsp::compiler::KernelArgs& args, const std::string& system_path, uint32_t stages,
                     const tsp::cli::ConfigChoice& config, const std::string& output,
                     const std::string& reference_dir, bool progress);
