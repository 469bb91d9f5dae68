// `tspc collective`: a collective over the C2C links of a system (include/tspsim/compiler/
// collectives.h) compiled into a system program, with the reference of every chip's outputs.
#pragma once

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
// command that checks them. Returns the exit code.
int run_collective(const CollectiveArgs& args, const std::string& output, const std::string& reference_dir);
