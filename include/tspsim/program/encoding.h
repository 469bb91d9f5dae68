// One operand of an instruction word, read without decoding the others: the compiler compares
// the placed words of a queue field by field when it folds runs into Repeats.
#pragma once

#include "isa.h"

#include <cstdint>

namespace tsp {

// The bits of `field` in a word. Inline, as are field_value's: the compiler compares every placed
// word of a queue with its neighbour through them.
inline uint64_t field_mask(const isa::FieldSpec& field) {
  return (field.width >= 64 ? ~uint64_t{0} : (uint64_t{1} << field.width) - 1) << field.lsb;
}
// The value of `field` in `word` (simm fields sign-extended), as decode gives it.
inline int64_t field_value(uint64_t word, const isa::FieldSpec& field) {
  const uint64_t raw = (word & field_mask(field)) >> field.lsb;
  int64_t value = static_cast<int64_t>(raw);
  if (field.kind == isa::FieldKind::simm && (raw >> (field.width - 1)) != 0)
    value -= int64_t{1} << field.width;
  return value;
}
// The largest value `field` holds: encode places a value v in [0, field_max] as v << lsb.
int64_t field_max(const isa::FieldSpec& field);

} // namespace tsp
