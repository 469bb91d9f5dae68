#include "tspsim/engine/operand_groups.h"

namespace tsp::detail {

const std::array<OpcodeStreams, 256> kOpcodeStreams = [] {
  std::array<OpcodeStreams, 256> table{};
  for (size_t code = 0; code < table.size(); ++code) {
    const isa::OpcodeSpec* spec = isa::find_opcode(static_cast<uint8_t>(code));
    if (!spec) continue;
    OpcodeStreams& entry = table[code];
    const auto fields = spec->operand_fields();
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].kind != isa::FieldKind::stream) continue;
      StreamField& operand = entry.fields[entry.count++];
      operand.field = static_cast<uint8_t>(i);
      operand.write = fields[i].role == isa::StreamRole::write;
      operand.group_fixed = fields[i].group_fixed;
      unsigned n = fields[i].group_dtype;
      for (size_t j = 0; j < fields.size(); ++j)
        if (fields[j].kind == isa::FieldKind::dtype && n-- == 0) {
          operand.dtype_field = static_cast<int8_t>(j);
          break;
        }
    }
  }
  return table;
}();

const std::array<uint8_t, 256> kGroupOfDType = [] {
  std::array<uint8_t, 256> table{};
  for (size_t v = 0; v < table.size(); ++v) {
    const auto dtype = static_cast<isa::DType>(v);
    table[v] = static_cast<uint8_t>(valid_dtype(dtype) ? isa::dtype_bytes(dtype) : 1);
  }
  return table;
}();

} // namespace tsp::detail
