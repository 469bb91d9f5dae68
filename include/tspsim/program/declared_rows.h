// Generating a declared tensor straight into the MEM words that hold it, without images: what a
// functional run's loader does with every declared weight (tensor.h's declared_images builds on it).
#pragma once

#include "tspsim/program/program.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace tsp {

// Writes the bytes of each declared row into the words that hold them: word(mem, address) returns
// the first of that word's vector_bytes bytes. Lanes past the columns are not written.
void generate_declared(const DeclaredTensor& declared, const Symbol& symbol,
                       const std::function<uint8_t*(uint32_t mem, uint32_t address)>& word);

// The words of one MEM slice that hold a declared tensor: `words` consecutive words from
// `address`, word k holding byte `plane` of row first_row + k * row_step (the slice group's rows).
struct DeclaredExtent {
  uint32_t mem = 0;
  uint32_t address = 0;
  uint32_t words = 0;
  uint32_t first_row = 0;
  uint32_t row_step = 1;
  unsigned plane = 0;
};
std::vector<DeclaredExtent> declared_word_extents(const DeclaredTensor& declared, const Symbol& symbol);

// Byte `plane` of each of `cols` elements of `bytes` bytes (1, 2 or 4) into `out`: a row's word in
// the slice of that byte plane.
void byte_plane(const uint8_t* elements, unsigned bytes, unsigned plane, uint32_t cols, uint8_t* out);

// The element bytes (little-endian, symbol.cols elements) of row `row` of a declaration whose
// values come from its seed (not a checkpoint's, which are read from a file).
void declared_row_bytes(const DeclaredTensor& declared, const Symbol& symbol, uint32_t row, uint8_t* out);

} // namespace tsp
