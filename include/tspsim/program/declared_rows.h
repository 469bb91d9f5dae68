// Generating a declared tensor straight into the MEM words that hold it, without images: what a
// functional run's loader does with every declared weight (tensor.h's declared_images builds on it).
#pragma once

#include "tspsim/program/program.h"

#include <cstdint>
#include <functional>

namespace tsp {

// Writes the bytes of each declared row into the words that hold them: word(mem, address) returns
// the first of that word's vector_bytes bytes. Lanes past the columns are not written.
void generate_declared(const DeclaredTensor& declared, const Symbol& symbol,
                       const std::function<uint8_t*(uint32_t mem, uint32_t address)>& word);

} // namespace tsp
