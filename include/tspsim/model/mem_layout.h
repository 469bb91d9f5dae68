// The MEM words of one decode-step chip's MXM operands, its weight tiles and its KV cache, as
// tspc lays them out (kernels/llama.cpp) and as the capacity planner budgets them (plan.cpp): both
// call these, so that `tspc plan` never promises what the compiler cannot lay out. A word is one
// vector of one MEM slice. Every MXM operand spans the `weight_streams` slices an LW reads at
// once, each slice at its own base (Symbol::bases), so these words fill a hemisphere's slices
// evenly (docs/compiler.md, "Staggered tensors").
#pragma once

#include "tspsim/config/config.h"

#include <cstdint>

namespace tsp::model {

// Rows an MXM weight operand reserves per tile: the vector_bytes rows one LW reads.
uint32_t tile_rows(const ChipConfig& chip);

// Words of an MXM operand of `rows` reserved rows of `bytes`-byte elements: weight_streams
// slices, weight_streams / bytes rows at a time.
uint64_t operand_words(const ChipConfig& chip, unsigned bytes, uint64_t rows);

// Weight tiles of a k x n matrix: whole tiles of rows, whole vectors of columns.
uint64_t matrix_tiles(const ChipConfig& chip, uint64_t k, uint64_t n);

// The cache of one layer on one chip holding `kv_heads` KV heads of `head_dim` at `positions`
// positions: K^T in tiles of one vector of positions, each reserving rows past the last head so
// that the last head's LW reads a whole tile (zeros beyond the heads); V as one tensor per head,
// a row per position, positions rounded up to whole tiles.
struct CacheLayout {
  uint32_t kt_tiles = 0;
  uint32_t kt_rows = 0; // reserved rows of each K^T tile
  uint32_t v_rows = 0;  // reserved rows of each V head
};
CacheLayout cache_layout(const ChipConfig& chip, uint32_t kv_heads, uint32_t head_dim, uint32_t positions);

// Words of that cache with `bytes`-byte elements.
uint64_t cache_words(const ChipConfig& chip, unsigned bytes, uint32_t kv_heads, uint32_t head_dim,
                     uint32_t positions);

} // namespace tsp::model
