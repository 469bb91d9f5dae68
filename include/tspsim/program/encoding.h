// One operand of an instruction word, read without decoding the others: the compiler compares
// the placed words of a queue field by field when it folds runs into Repeats.
#pragma once

#include "isa.h"

#include <cstdint>

namespace tsp {

// The bits of `field` in a word.
uint64_t field_mask(const isa::FieldSpec& field);
// The value of `field` in `word` (simm fields sign-extended), as decode gives it.
int64_t field_value(uint64_t word, const isa::FieldSpec& field);
// The largest value `field` holds: encode places a value v in [0, field_max] as v << lsb.
int64_t field_max(const isa::FieldSpec& field);

} // namespace tsp
