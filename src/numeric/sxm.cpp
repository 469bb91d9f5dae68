// SXM lane moves on one byte plane.
#include "tspsim/numeric/numeric.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace tsp::num {

namespace {

size_t superlanes(size_t lanes, size_t lps) {
  if (lps == 0 || lanes % lps != 0)
    throw std::invalid_argument(
        fmt::format("SXM: {} lanes is not a whole number of {}-lane superlanes", lanes, lps));
  return lanes / lps;
}

} // namespace

void sxm_shift(uint8_t* dst, const uint8_t* src, size_t lanes, size_t lps, int n) {
  const size_t count = superlanes(lanes, lps);
  const size_t moved = size_t(n < 0 ? -int64_t(n) : n);
  if (moved >= count) return void(std::memset(dst, 0, lanes));
  const size_t bytes = moved * lps;
  if (n >= 0) {
    std::memset(dst, 0, bytes);
    std::memcpy(dst + bytes, src, lanes - bytes);
  } else {
    std::memcpy(dst, src + bytes, lanes - bytes);
    std::memset(dst + lanes - bytes, 0, bytes);
  }
}

void sxm_select(uint8_t* dst, const uint8_t* a, const uint8_t* b, size_t lanes, size_t lps, uint64_t mask) {
  const size_t count = superlanes(lanes, lps);
  for (size_t s = 0; s < count; ++s) {
    const bool pick_a = s < 64 && ((mask >> s) & 1);
    std::memcpy(dst + s * lps, (pick_a ? a : b) + s * lps, lps);
  }
}

void sxm_permute(uint8_t* dst, const uint8_t* src, const uint8_t* map_lo, const uint8_t* map_hi,
                 size_t lanes) {
  for (size_t i = 0; i < lanes; ++i) {
    const auto from = int16_t(uint16_t(map_lo[i] | map_hi[i] << 8));
    dst[i] = from >= 0 && size_t(from) < lanes ? src[from] : 0;
  }
}

void sxm_distribute(uint8_t* dst, const uint8_t* src, const uint8_t* map, size_t lanes, size_t lps) {
  superlanes(lanes, lps);
  for (size_t base = 0; base < lanes; base += lps)
    for (size_t i = base; i < base + lps; ++i) dst[i] = map[i] < lps ? src[base + map[i]] : 0;
}

void sxm_rotate(uint8_t* dst, const uint8_t* src, size_t lanes, size_t lps, unsigned n) {
  const size_t count = superlanes(lanes, lps);
  if (count == 0) return;
  const size_t bytes = (n % count) * lps;
  std::memcpy(dst + bytes, src, lanes - bytes);
  std::memcpy(dst, src + lanes - bytes, bytes);
}

void sxm_transpose(uint8_t* const* dst, const uint8_t* const* src, size_t lanes) {
  for (size_t base = 0; base < lanes; base += 16) {
    const size_t width = lanes - base < 16 ? lanes - base : 16;
    for (size_t j = 0; j < 16; ++j)
      for (size_t i = 0; i < width; ++i) dst[j][base + i] = j < width ? src[i][base + j] : 0;
  }
}

} // namespace tsp::num
