#include "tspsim/program/latency.h"

#include <algorithm>

namespace tsp {

using isa::DType;
using isa::Opcode;
using isa::TimingParam;

uint32_t southward_cycles(const Instruction& instruction, const ChipConfig& config) {
  const uint32_t superlanes = config.geometry.superlanes;
  uint32_t south = 0;
  switch (instruction.opcode) {
  case Opcode::shift:
    south = static_cast<uint32_t>(std::max<int64_t>(0, -instruction.operands[3]));
    break;
  case Opcode::rotate: {
    const auto n = static_cast<uint32_t>(instruction.operands[3] % superlanes);
    south = n == 0 ? 0 : superlanes - n;
    break;
  }
  case Opcode::permute:
    south = superlanes - 1;
    break;
  default:
    break;
  }
  return std::min(south, superlanes - 1) * config.streams.superlane_stagger_cycles;
}

uint32_t func_cycles(const Instruction& instruction, const ChipConfig& config) {
  const auto& spec = instruction.spec();
  TimingParam param = spec.func;
  // VXM arithmetic: the table names the integer latency; floats have their own.
  const bool int_arithmetic = param == TimingParam::vxm_int_add || param == TimingParam::vxm_int_mul;
  if (spec.unit == isa::Unit::vxm && int_arithmetic &&
      isa::dtype_is_float(static_cast<DType>(instruction.operands[0])))
    param = param == TimingParam::vxm_int_add ? TimingParam::vxm_fp_add : TimingParam::vxm_fp_mul;
  uint32_t cycles = config.timing[param];
  if (instruction.opcode == Opcode::abc) cycles += config.timing[TimingParam::mxm_abc_skew];
  return cycles + southward_cycles(instruction, config);
}

uint32_t lw_cycles(DType dtype, const ChipConfig& config) {
  const uint32_t rows = config.geometry.vector_bytes();
  const uint32_t rows_per_cycle = config.mxm.weight_streams / isa::dtype_bytes(dtype);
  return (rows + rows_per_cycle - 1) / rows_per_cycle;
}

} // namespace tsp
