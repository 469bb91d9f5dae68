// A program for a system of chips: one per-chip Program per distinct chip program, and which
// chip runs which. Identical chips share one stored Program. Format: docs/program-format.md.
#pragma once

#include "tspsim/program/program.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tsp {

struct SystemProgram {
  uint64_t system_fingerprint = 0;   // system_fingerprint() of the system it was built for
  std::vector<Program> programs;     // distinct per-chip programs
  std::vector<uint32_t> chip_program; // chip index -> index into `programs`
  ProgramMetadata metadata;          // the whole system's metadata (workload, tokens, chips)

  uint32_t chips() const { return static_cast<uint32_t>(chip_program.size()); }
  const Program& program_of(uint32_t chip) const { return programs[chip_program[chip]]; }
};

// Binary container (a one-chip Program file is not a SystemProgram file; load_system_program
// accepts both). Errors as for read_program.
std::vector<uint8_t> serialize_system_program(const SystemProgram& program);
SystemProgram deserialize_system_program(const std::vector<uint8_t>& bytes, const std::string& origin);
void write_system_program(const SystemProgram& program, const std::filesystem::path& path);

} // namespace tsp
