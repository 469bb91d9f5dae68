// Operand decoding shared by the VXM, MXM and SXM models, driven by the ISA table: the dtype
// suffixes of an instruction and the stream group of each stream operand.
#pragma once

#include "tspsim/engine/engine_types.h"

namespace tsp {

// The value of dtype field number `n` (0 = first suffix), i8 if the instruction has no such field.
inline isa::DType dtype_operand(const Instruction& instruction, unsigned n) {
  const auto fields = instruction.spec().operand_fields();
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].kind == isa::FieldKind::dtype && n-- == 0)
      return static_cast<isa::DType>(instruction.operands[i]);
  return isa::DType::i8;
}

// Fetched instruction text is not range-checked, so a dtype field can hold any 4-bit value.
inline bool valid_dtype(isa::DType dtype) { return dtype < isa::DType::count; }

// Byte-streams of stream operand `field`: fixed by the table or the width of its dtype field (one
// stream for an invalid dtype).
inline unsigned stream_group(const Instruction& instruction, size_t field) {
  const auto& spec = instruction.spec().operand_fields()[field];
  if (spec.group_fixed) return spec.group_fixed;
  const isa::DType dtype = dtype_operand(instruction, spec.group_dtype);
  return valid_dtype(dtype) ? isa::dtype_bytes(dtype) : 1;
}

} // namespace tsp
