// TSP assembly text to a Program. The language is specified in docs/assembly.md.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/config/system.h"
#include "tspsim/program/program.h"
#include "tspsim/program/system_program.h"

#include <filesystem>
#include <string>
#include <string_view>

namespace tsp {

// Assembles `text` for `config` and validates the result. Syntax errors throw InputError
// "ORIGIN:LINE:COL: message"; operand range errors found by validate_program name the source
// line. `origin` is recorded as the program's source unless the text has a .source directive.
Program assemble(std::string_view text, const std::string& origin, const ChipConfig& config);
Program assemble_file(const std::filesystem::path& path, const ChipConfig& config);

// Whether `text` has `.chip` sections, i.e. is a system program (docs/assembly.md, "System
// programs"). Throws InputError for text that does not tokenize.
bool has_chip_sections(std::string_view text, const std::string& origin);

// Assembles a system program: the header before the first `.chip` holds the system's metadata;
// each `.chip LIST` section is a one-chip program assembled for the config of each listed chip.
// Every chip of `system` must be in exactly one section. Identical programs are stored once.
SystemProgram assemble_system(std::string_view text, const std::string& origin, const SystemConfig& system);

// A .tsp file for `system`: with .chip sections, assemble_system; without, a one-chip program,
// which only a one-chip system accepts.
SystemProgram assemble_system_file(const std::filesystem::path& path, const SystemConfig& system);

// Chip numbers (sorted, distinct) as `.chip` writes them: "0-3, 5".
std::string chip_list_text(const std::vector<uint32_t>& chips);

// How an instruction is written, with its operand names: "add.<dtype> dst, a, b".
std::string instruction_syntax(const isa::OpcodeSpec& spec);

} // namespace tsp
