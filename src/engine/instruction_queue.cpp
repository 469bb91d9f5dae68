#include "tspsim/engine/instruction_queue.h"

namespace tsp {

int strided_field(const isa::OpcodeSpec& spec) {
  const auto fields = spec.operand_fields();
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].kind == isa::FieldKind::address || fields[i].name == "acc") return static_cast<int>(i);
  return -1;
}

} // namespace tsp
