// Operand checks shared by validate_program, the assembler's .text blocks and the ICU's fetched
// text: one set of rules for an instruction wherever it comes from.
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

// Text fetched at run time (Ifetch): check_operands without a previous instruction, which a
// fetched Repeat may find only when it joins its queue; its reach is check_repeat's then.
std::optional<std::string> check_fetched_operands(const Instruction& instruction, const ChipConfig& config,
                                                  const Floorplan& floorplan);

// A Repeat of `previous` (nullptr: none): its counts, and the addresses and accumulator its copies
// reach. Returns the problem or nothing.
std::optional<std::string> check_repeat(const Instruction& repeat, const Instruction* previous,
                                        const ChipConfig& config);

// Whether a queue on a slice of `kind` may issue `spec`. Returns the problem or nothing.
std::optional<std::string> check_issue(const isa::OpcodeSpec& spec, SliceKind kind);

} // namespace tsp
