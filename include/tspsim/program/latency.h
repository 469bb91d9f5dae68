// The one timing table: when an instruction reads its operands and when its result appears,
// from the config's timing parameters and the ISA table. The simulator and the compiler both call
// these; no latency is written anywhere else.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/program/program.h"

namespace tsp {

// Cycles from dispatch to reading the stream operands (inline: on every dispatch's path).
inline uint32_t skew_cycles(const Instruction& instruction, const ChipConfig& config) {
  return config.timing[instruction.spec().skew];
}
// Cycles from dispatch to the result on the destination stream (ABC: into the accumulator,
// counted from dispatch; Scatter: the SRAM write; Send: arrival at the far end).
uint32_t func_cycles(const Instruction& instruction, const ChipConfig& config);
// Extra cycles of an SXM instruction that moves data south across the superlane stagger.
uint32_t southward_cycles(const Instruction& instruction, const ChipConfig& config);
// Cycles an LW reads weight vectors for (one cycle per 16 rows of int8, per 8 rows of 16-bit types).
uint32_t lw_cycles(isa::DType dtype, const ChipConfig& config);
// The cycles a C2C link is busy per vector, c2c_vector_cycles, live in config.h: the fingerprint
// covers them too.

} // namespace tsp
