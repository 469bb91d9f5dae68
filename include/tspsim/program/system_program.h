// A program for a system of chips: one per-chip Program per distinct chip program, and which
// chip runs which. Identical chips share one stored Program. Format: docs/program-format.md.
#pragma once

#include "tspsim/config/system.h"
#include "tspsim/program/program.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tsp {

struct SystemProgram {
  uint64_t system_fingerprint = 0;    // system_fingerprint() of the system it was built for
  std::string system_name;            // SystemConfig::name of that system, for messages
  std::vector<Program> programs;      // distinct per-chip programs
  std::vector<uint32_t> chip_program; // chip index -> index into `programs`
  ProgramMetadata metadata;           // the whole system's metadata (workload, tokens, chips)

  uint32_t chips() const { return static_cast<uint32_t>(chip_program.size()); }
  const Program& program_of(uint32_t chip) const { return programs[chip_program[chip]]; }
};

// Binary container (a one-chip Program file is not a SystemProgram file; load_system_program
// accepts both). Errors as for read_program. The reader checks that the container is consistent
// in itself: at least one chip, every chip mapped to a stored program, every program used, and
// metadata.chips equal to the number of chips.
std::vector<uint8_t> serialize_system_program(const SystemProgram& program);
// The container's bytes before the distinct programs' sections (header, metadata, system), for a
// program whose `program_count` distinct programs are written after it one at a time by a
// SystemProgramSections; `program.programs` itself is not read.
std::vector<uint8_t> system_program_head(const SystemProgram& program, uint32_t program_count);

// The sections of the distinct programs, given in order: each stored whole, or derived from one
// of the 16 before it where its edits take at most half its bytes (docs/program-format.md, "Derived
// programs"). The bytes depend on the programs' bytes only, so a container written program by program equals
// serialize_system_program's.
class SystemProgramSections {
public:
  SystemProgramSections();
  ~SystemProgramSections();
  SystemProgramSections(const SystemProgramSections&) = delete;
  SystemProgramSections& operator=(const SystemProgramSections&) = delete;
  std::vector<uint8_t> next(std::vector<uint8_t> program_bytes);

private:
  struct Recent;
  std::vector<Recent> recent_; // the last programs, oldest first (at most 16)
  uint32_t count_ = 0;         // programs written so far
};
SystemProgram deserialize_system_program(const std::vector<uint8_t>& bytes, const std::string& origin);
void write_system_program(const SystemProgram& program, const std::filesystem::path& path);
SystemProgram read_system_program(const std::filesystem::path& path);

// Checks a system program against a system: the system fingerprint (a mismatch names both
// systems and fingerprints), then each chip's program against that chip's config
// (validate_program; each distinct program and config pair once).
void validate_system_program(const SystemProgram& program, const SystemConfig& system,
                             const std::string& origin);

// A one-chip program as the system program of a one-chip system. Both throw InputError naming
// `origin` when the system has more than one chip.
SystemProgram single_chip_system_program(Program program, const SystemConfig& system,
                                         const std::string& origin);
void require_one_chip_system(const SystemConfig& system, const std::string& origin);

// Loads PROGRAM for `system` as tspsim --system does, then validates it: a system container; a
// .tsp with .chip sections (docs/assembly.md), assembled for the system; or, on a one-chip system
// only, a one-chip program (.tsp or container).
SystemProgram load_system_program(const std::filesystem::path& path, const SystemConfig& system);

} // namespace tsp
