// Instruction words from the ISA table: the opcode in bits 7..0, every operand at its field's
// position. No opcode has code of its own here; adding an instruction only touches isa/.
#include "tspsim/program/encoding.h"
#include "tspsim/common/error.h"
#include "tspsim/program/program.h"

#include <fmt/format.h>

namespace tsp {
namespace {

// The range of operand values a field holds: simm fields are two's complement, everything else
// (including f32 bit patterns) is an unsigned value of the field's width.
std::pair<int64_t, int64_t> field_range(const isa::FieldSpec& field) {
  const int64_t lo = field.kind == isa::FieldKind::simm ? -(int64_t{1} << (field.width - 1)) : 0;
  return {lo, field_max(field)};
}

} // namespace

int64_t field_max(const isa::FieldSpec& field) {
  if (field.kind == isa::FieldKind::simm) return (int64_t{1} << (field.width - 1)) - 1;
  return static_cast<int64_t>((uint64_t{1} << field.width) - 1);
}

uint64_t encode(const Instruction& instruction) {
  const auto& spec = instruction.spec();
  const auto fields = spec.operand_fields();
  uint64_t word = static_cast<uint8_t>(instruction.opcode);
  for (size_t i = 0; i < isa::kMaxFields; ++i) {
    const int64_t value = instruction.operands[i];
    if (i >= fields.size()) {
      if (value != 0)
        throw InputError(fmt::format("{}: operand {} is {} but the instruction has only {} operands",
                                     spec.mnemonic, i, value, fields.size()));
      continue;
    }
    const auto& field = fields[i];
    const auto [lo, hi] = field_range(field);
    if (value < lo || value > hi)
      throw InputError(fmt::format("{}: {} = {} does not fit its {}-bit field (range {}..{})", spec.mnemonic,
                                   field.name, value, field.width, lo, hi));
    word |= (static_cast<uint64_t>(value) << field.lsb) & field_mask(field);
  }
  return word;
}

Instruction decode(uint64_t word) {
  const auto code = static_cast<uint8_t>(word & 0xff);
  const auto* spec = isa::find_opcode(code);
  if (!spec) throw InputError(fmt::format("unknown opcode 0x{:02x}", code));
  Instruction instruction;
  instruction.opcode = spec->opcode;
  uint64_t used = 0xff;
  const auto fields = spec->operand_fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    used |= field_mask(fields[i]);
    instruction.operands[i] = field_value(word, fields[i]);
  }
  if (const uint64_t stray = word & ~used)
    throw InputError(fmt::format("instruction word 0x{:016x} ({}): bits 0x{:x} are set outside its fields",
                                 word, spec->mnemonic, stray));
  return instruction;
}

} // namespace tsp
