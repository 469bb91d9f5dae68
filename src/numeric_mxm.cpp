// MXM matrix-vector and batched matrix products. The lane loops are written for the compiler's
// auto-vectoriser; on x86-64 each kernel is also built for AVX2 and picked at load time by the
// CPU (GCC function multi-versioning), which measured about 1.3x faster (docs/numerics.md).
#include "numeric_elements.h"
#include "tspsim/numeric.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#define TSP_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define TSP_KERNEL
#endif

namespace tsp::num {

using isa::DType;

namespace {

// Activation chunk widened to int16 on the stack; chunk partial sums cannot overflow int32
// (kChunk * 128 * 128 < 2^31), and chunks are added modulo 2^32.
constexpr size_t kChunk = 1024;
// Output columns per fp32 block: four rows of partial sums stay in L1.
constexpr size_t kColumns = 256;

inline int32_t wrap_add(int32_t a, int32_t b) { return int32_t(uint32_t(a) + uint32_t(b)); }

// out rows r < 4 get (or add) the dot products of a[r][0..kc) with every packed column.
TSP_KERNEL void dot_block4(const int16_t* packed, size_t k_stride, const int16_t (*a)[kChunk], size_t kc,
                           int32_t* out, size_t n, bool add) {
  const int16_t* a0 = a[0];
  const int16_t* a1 = a[1];
  const int16_t* a2 = a[2];
  const int16_t* a3 = a[3];
  for (size_t j = 0; j < n; ++j) {
    const int16_t* w = packed + j * k_stride;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t k = 0; k < kc; ++k) {
      const int16_t x = w[k];
      s0 += x * a0[k];
      s1 += x * a1[k];
      s2 += x * a2[k];
      s3 += x * a3[k];
    }
    int32_t* o = out + j;
    o[0] = add ? wrap_add(o[0], s0) : s0;
    o[n] = add ? wrap_add(o[n], s1) : s1;
    o[2 * n] = add ? wrap_add(o[2 * n], s2) : s2;
    o[3 * n] = add ? wrap_add(o[3 * n], s3) : s3;
  }
}

TSP_KERNEL void dot_block1(const int16_t* packed, size_t k_stride, const int16_t* a, size_t kc, int32_t* out,
                           size_t n, bool add) {
  for (size_t j = 0; j < n; ++j) {
    const int16_t* w = packed + j * k_stride;
    int32_t s = 0;
    for (size_t k = 0; k < kc; ++k) s += w[k] * a[k];
    out[j] = add ? wrap_add(out[j], s) : s;
  }
}

// s[r][j] = sum over k of a[r][k] * w[k][j] for j < nc, in ascending k, one fp32 rounding per
// operation; vectorised across j, so each column keeps its own sequential order.
template <size_t Rows>
void sum_products(const float* w, size_t n_stride, const float* const* a, size_t k, float (*s)[kColumns],
                  size_t nc) {
  for (size_t r = 0; r < Rows; ++r) {
    const float x = a[r][0];
    for (size_t j = 0; j < nc; ++j) s[r][j] = x * w[j];
  }
  for (size_t kk = 1; kk < k; ++kk) {
    const float* wk = w + kk * n_stride;
    for (size_t r = 0; r < Rows; ++r) {
      const float x = a[r][kk];
      float* sr = s[r];
      for (size_t j = 0; j < nc; ++j) sr[j] = sr[j] + x * wk[j];
    }
  }
}

TSP_KERNEL void sum_products4(const float* w, size_t n_stride, const float* const* a, size_t k,
                              float (*s)[kColumns], size_t nc) {
  sum_products<4>(w, n_stride, a, k, s, nc);
}

TSP_KERNEL void sum_products1(const float* w, size_t n_stride, const float* const* a, size_t k,
                              float (*s)[kColumns], size_t nc) {
  sum_products<1>(w, n_stride, a, k, s, nc);
}

} // namespace

bool mxm_supports(DType dtype) { return dtype == DType::i8 || dtype == DType::f16 || dtype == DType::bf16; }

void pack_weights_i8(const uint8_t* const* rows, size_t k, size_t n, int16_t* packed) {
  constexpr size_t kTile = 32;
  for (size_t k0 = 0; k0 < k; k0 += kTile)
    for (size_t j0 = 0; j0 < n; j0 += kTile)
      for (size_t kk = k0; kk < std::min(k, k0 + kTile); ++kk)
        for (size_t j = j0; j < std::min(n, j0 + kTile); ++j) packed[j * k + kk] = int8_t(rows[kk][j]);
}

void matmul_i8(const int16_t* packed, const int8_t* acts, int32_t* out, size_t m, size_t k, size_t n,
               bool accumulate) {
  alignas(64) int16_t a[4][kChunk];
  if (k == 0 && !accumulate) std::fill(out, out + m * n, 0);
  for (size_t row = 0; row < m;) {
    const size_t rows = m - row >= 4 ? 4 : 1;
    for (size_t k0 = 0; k0 < k; k0 += kChunk) {
      const size_t kc = std::min(kChunk, k - k0);
      for (size_t r = 0; r < rows; ++r)
        for (size_t kk = 0; kk < kc; ++kk) a[r][kk] = acts[(row + r) * k + k0 + kk];
      const bool add = accumulate || k0 > 0;
      if (rows == 4)
        dot_block4(packed + k0, k, a, kc, out + row * n, n, add);
      else
        dot_block1(packed + k0, k, a[0], kc, out + row * n, n, add);
    }
    row += rows;
  }
}

void matvec_i8(const int16_t* packed, const int8_t* act, int32_t* out, size_t k, size_t n, bool accumulate) {
  matmul_i8(packed, act, out, 1, k, n, accumulate);
}

void pack_weights_float(DType dtype, const ConstPlaneGroup* rows, size_t k, size_t n, float* w) {
  for (size_t kk = 0; kk < k; ++kk)
    for (size_t j = 0; j < n; ++j) w[kk * n + j] = load_float(rows[kk], dtype, j);
}

void widen_to_f32(DType dtype, ConstPlaneGroup src, size_t count, float* out) {
  for (size_t i = 0; i < count; ++i) out[i] = load_float(src, dtype, i);
}

void matmul_f32(const float* w, const float* acts, float* out, size_t m, size_t k, size_t n,
                bool accumulate) {
  alignas(64) float s[4][kColumns];
  if (k == 0) {
    if (!accumulate) std::fill(out, out + m * n, 0.0f);
    return;
  }
  for (size_t row = 0; row < m;) {
    const size_t rows = m - row >= 4 ? 4 : 1;
    const float* a[4];
    for (size_t r = 0; r < rows; ++r) a[r] = acts + (row + r) * k;
    for (size_t j0 = 0; j0 < n; j0 += kColumns) {
      const size_t nc = std::min(kColumns, n - j0);
      if (rows == 4)
        sum_products4(w + j0, n, a, k, s, nc);
      else
        sum_products1(w + j0, n, a, k, s, nc);
      for (size_t r = 0; r < rows; ++r) {
        float* o = out + (row + r) * n + j0;
        for (size_t j = 0; j < nc; ++j) o[j] = accumulate ? o[j] + s[r][j] : s[r][j];
      }
    }
    row += rows;
  }
}

void matvec_f32(const float* w, const float* act, float* out, size_t k, size_t n, bool accumulate) {
  matmul_f32(w, act, out, 1, k, n, accumulate);
}

} // namespace tsp::num
