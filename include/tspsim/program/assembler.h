// TSP assembly text to a Program. The language is specified in docs/assembly.md.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/program/program.h"

#include <filesystem>
#include <string>
#include <string_view>

namespace tsp {

// Assembles `text` for `config` and validates the result. Syntax errors throw InputError
// "ORIGIN:LINE:COL: message"; operand range errors found by validate_program name the source
// line. `origin` is recorded as the program's source unless the text has a .source directive.
Program assemble(std::string_view text, const std::string& origin, const ChipConfig& config);
Program assemble_file(const std::filesystem::path& path, const ChipConfig& config);

// How an instruction is written, with its operand names: "add.<dtype> dst, a, b".
std::string instruction_syntax(const isa::OpcodeSpec& spec);

} // namespace tsp
