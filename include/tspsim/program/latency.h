// The one timing table: when an instruction reads its operands and when its result appears,
// from the config's timing parameters and the ISA table. The simulator and the compiler both call
// these; no latency is written anywhere else.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/program/program.h"

#include <algorithm>

namespace tsp {

// Cycles from dispatch to reading the stream operands (inline: on every dispatch's path).
inline uint32_t skew_cycles(const Instruction& instruction, const ChipConfig& config) {
  return config.timing[instruction.spec().skew];
}

// Extra cycles of an SXM instruction that moves data south across the superlane stagger.
// Inline, as func_cycles: on every dispatch's path.
inline uint32_t southward_cycles(const Instruction& instruction, const ChipConfig& config) {
  const uint32_t superlanes = config.geometry.superlanes;
  uint32_t south = 0;
  switch (instruction.opcode) {
  case isa::Opcode::shift:
    south = static_cast<uint32_t>(std::max<int64_t>(0, -instruction.operands[3]));
    break;
  case isa::Opcode::rotate: {
    const auto n = static_cast<uint32_t>(instruction.operands[3] % superlanes);
    south = n == 0 ? 0 : superlanes - n;
    break;
  }
  case isa::Opcode::permute:
    south = superlanes - 1;
    break;
  default:
    break;
  }
  return std::min(south, superlanes - 1) * config.streams.superlane_stagger_cycles;
}

// Cycles from dispatch to the result on the destination stream (ABC: into the accumulator,
// counted from dispatch; Scatter: the SRAM write; Send: arrival at the far end).
inline uint32_t func_cycles(const Instruction& instruction, const ChipConfig& config) {
  const auto& spec = instruction.spec();
  isa::TimingParam param = spec.func;
  // VXM arithmetic: the table names the integer latency; floats have their own.
  const bool int_arithmetic =
      param == isa::TimingParam::vxm_int_add || param == isa::TimingParam::vxm_int_mul;
  if (spec.unit == isa::Unit::vxm && int_arithmetic &&
      isa::dtype_is_float(static_cast<isa::DType>(instruction.operands[0])))
    param =
        param == isa::TimingParam::vxm_int_add ? isa::TimingParam::vxm_fp_add : isa::TimingParam::vxm_fp_mul;
  uint32_t cycles = config.timing[param];
  if (instruction.opcode == isa::Opcode::abc) cycles += config.timing[isa::TimingParam::mxm_abc_skew];
  // c2c_link includes the vector's serialisation, which starts at the operand read: on a link
  // slower than that latency the vector is receivable when its last bit has left, not sooner.
  if (instruction.opcode == isa::Opcode::send)
    cycles = std::max(cycles, config.timing[spec.skew] + c2c_vector_cycles(config));
  return cycles + southward_cycles(instruction, config);
}

// Cycles an LW reads weight vectors for (one cycle per 16 rows of int8, per 8 rows of 16-bit types).
uint32_t lw_cycles(isa::DType dtype, const ChipConfig& config);
// The cycles a C2C link is busy per vector, c2c_vector_cycles, live in config.h: the fingerprint
// covers them too.

} // namespace tsp
