// Operand decoding shared by the VXM, MXM and SXM models, driven by the ISA table: the dtype
// suffixes of an instruction and the stream group of each stream operand.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <array>

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

// The stream operands of an opcode in table order, found once from the ISA table: the walk
// above runs for every operand of every dispatched instruction otherwise.
struct StreamField {
  uint8_t field = 0;       // operand index
  bool write = false;      // the destination group (else a source)
  uint8_t group_fixed = 0; // as FieldSpec::group_fixed
  int8_t dtype_field = -1; // operand index of the dtype that sets the group; -1: none (i8)
};
struct OpcodeStreams {
  std::array<StreamField, isa::kMaxFields> fields;
  uint8_t count = 0;
};

namespace detail {
extern const std::array<OpcodeStreams, 256> kOpcodeStreams;
// Byte-streams per dtype value (as an isa::DType), 1 for an invalid one (as stream_group).
extern const std::array<uint8_t, 256> kGroupOfDType;
} // namespace detail

inline const OpcodeStreams& opcode_streams(isa::Opcode opcode) {
  return detail::kOpcodeStreams[static_cast<uint8_t>(opcode)];
}

// stream_group() of `operand`.
inline unsigned stream_group(const Instruction& instruction, const StreamField& operand) {
  if (operand.group_fixed) return operand.group_fixed;
  if (operand.dtype_field < 0) return 1;
  return detail::kGroupOfDType[static_cast<uint8_t>(instruction.operands[size_t(operand.dtype_field)])];
}

} // namespace tsp
