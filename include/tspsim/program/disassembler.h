// A Program back to assembly text: assembling the text gives the identical binary, except for the
// region section, which the text does not carry and the first line names when it drops it.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/program.h"
#include "tspsim/program/system_program.h"

#include <string>

namespace tsp {

// The whole program: metadata, symbols, images and every queue. `program` must be valid for
// `config` (validate_program).
std::string disassemble(const Program& program, const ChipConfig& config);

// A system program as a header and one `.chip` section per stored program. `program` must be
// valid for `system` (validate_system_program).
std::string disassemble_system(const SystemProgram& program, const SystemConfig& system);

// One instruction as the assembler writes it: "add.i8 W2, E0, W1".
std::string format_instruction(const Instruction& instruction, const Floorplan& floorplan);

// An f32 operand: the shortest decimal that reads back to the same value, or the bit pattern
// 0x7fc00000 for NaNs and subnormals (which are usually raw integer immediates).
std::string format_f32(uint32_t bits);

} // namespace tsp
