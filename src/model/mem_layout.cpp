#include "tspsim/model/mem_layout.h"

#include <algorithm>

namespace tsp::model {

uint32_t tile_rows(const ChipConfig& chip) { return chip.geometry.vector_bytes(); }

uint64_t operand_words(const ChipConfig& chip, unsigned bytes, uint64_t rows) {
  const uint64_t slices = chip.mxm.weight_streams;
  const uint64_t groups = slices / bytes;
  return (rows + groups - 1) / groups * slices;
}

uint64_t matrix_tiles(const ChipConfig& chip, uint64_t k, uint64_t n) {
  const uint64_t vector = chip.geometry.vector_bytes();
  return (k + vector - 1) / vector * ((n + vector - 1) / vector);
}

CacheLayout cache_layout(const ChipConfig& chip, uint32_t kv_heads, uint32_t head_dim, uint32_t positions) {
  const uint32_t vector = chip.geometry.vector_bytes();
  CacheLayout out;
  out.kt_tiles = (positions + vector - 1) / vector;
  out.kt_rows = std::max(kv_heads * head_dim, (kv_heads - 1) * head_dim + vector);
  out.v_rows = out.kt_tiles * vector;
  return out;
}

uint64_t cache_words(const ChipConfig& chip, unsigned bytes, uint32_t kv_heads, uint32_t head_dim,
                     uint32_t positions) {
  const CacheLayout c = cache_layout(chip, kv_heads, head_dim, positions);
  return c.kt_tiles * operand_words(chip, bytes, c.kt_rows) + kv_heads * operand_words(chip, bytes, c.v_rows);
}

} // namespace tsp::model
