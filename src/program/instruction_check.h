// Operand checks shared by validate_program and the assembler's .text blocks (private to src/).
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/program.h"

#include <optional>
#include <string>

namespace tsp {

// Every operand of `instruction` against the chip: stream ids and groups, dtypes, addresses and
// their extents, MEM slices, links, and the per-opcode limits. `previous` is the instruction
// before it in the same queue or text (nullptr: none); Repeat needs it. Returns the problem as
// "what: why" or nothing.
std::optional<std::string> check_operands(const Instruction& instruction, const Instruction* previous,
                                          const ChipConfig& config, const Floorplan& floorplan);

// Whether a queue on a slice of `kind` may issue `spec`. Returns the problem or nothing.
std::optional<std::string> check_issue(const isa::OpcodeSpec& spec, SliceKind kind);

} // namespace tsp
