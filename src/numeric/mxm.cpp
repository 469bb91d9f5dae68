// MXM matrix-vector and batched matrix products. The integer loops are written for the compiler's
// auto-vectoriser and the fp32 kernels with vector types; on x86-64 each is built three times, for
// AVX-512 (BW, VL, VNNI: the int16 dot products become vpdpwssd), AVX2 and the baseline, and the
// widest level the CPU runs is picked once at run time (kernel_level()). Every level computes
// every output element in the same order, so the results are bit-identical (tested on each level
// the host has). Measured gains are in docs/numerics.md and docs/performance.md.
//
// Each fp32 product is rounded before it is added (docs/numerics.md): no fused multiply-add, even
// in a build that enables FMA instructions (GCC fuses across statements by default in C++).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "elements.h"
#include "tspsim/common/second_core.h"
#include "tspsim/numeric/numeric.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <thread>

#if defined(__x86_64__) && defined(__GNUC__)
#define TSP_X86 1
#define TSP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,prefer-vector-width=512")))
#define TSP_AVX2 __attribute__((target("avx2")))
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
[[gnu::always_inline]] inline void dot_block4(const int16_t* packed, size_t k_stride,
                                              const int16_t (*a)[kChunk], size_t kc, int32_t* out, size_t n,
                                              bool add) {
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

[[gnu::always_inline]] inline void dot_block1(const int16_t* packed, size_t k_stride, const int16_t* a,
                                              size_t kc, int32_t* out, size_t n, bool add) {
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
[[gnu::always_inline]] inline void sum_products(const float* w, size_t n_stride, const float* const* a,
                                                size_t k, float (*s)[kColumns], size_t nc) {
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

// out[j] = (add ? out[j] : 0) + sum_k a[k] * rows[k][j] straight from the weight rows, vectorised
// across j with the sums of 64 columns in a local array. Two rows at a time in 16-bit lanes: a
// pair of products lies in [-32512, 32768], so pair + 32512 fits uint16 exactly; the bias is
// taken off once at the end and uint32 sums wrap like the hardware's int32.
[[gnu::always_inline]] inline void rows_dot(const uint8_t* const* rows, const int8_t* a, int32_t* out,
                                            size_t k, size_t n, bool add) {
  constexpr size_t kCols = 64;
  constexpr uint16_t kBias = 32512;
  for (size_t j0 = 0; j0 < n; j0 += kCols) {
    const size_t c = std::min(kCols, n - j0);
    uint32_t s[kCols] = {};
    size_t kk = 0;
    for (; kk + 2 <= k; kk += 2) {
      const auto x = uint16_t(a[kk]), y = uint16_t(a[kk + 1]);
      const uint8_t* r = rows[kk] + j0;
      const uint8_t* q = rows[kk + 1] + j0;
      for (size_t j = 0; j < c; ++j)
        s[j] += uint16_t(uint16_t(x * uint16_t(int8_t(r[j]))) + uint16_t(y * uint16_t(int8_t(q[j]))) + kBias);
    }
    const uint32_t bias = uint32_t(kk / 2) * kBias;
    for (size_t j = 0; j < c; ++j) s[j] -= bias;
    if (kk < k)
      for (size_t j = 0; j < c; ++j) s[j] += uint32_t(a[kk] * int8_t(rows[kk][j0 + j]));
    for (size_t j = 0; j < c; ++j) out[j0 + j] = add ? wrap_add(out[j0 + j], int32_t(s[j])) : int32_t(s[j]);
  }
}

// fp32 vectors as values (GCC/Clang vector extension): F4 is one SSE register, F8 one AVX
// register, F16 one AVX-512 register. Their + and * round element by element exactly like scalar
// fp32, and named vector variables stay in registers, which the auto-vectoriser does not manage
// for sums over the whole of K (it spills them every k, at half the speed). The baseline build
// emulates wide vectors through memory, so each width is compiled only at its level (kernels()).
using F4 = float __attribute__((vector_size(16)));
using F8 = float __attribute__((vector_size(32)));
using F16 = float __attribute__((vector_size(64)));

template <typename V> constexpr size_t kWidth = sizeof(V) / sizeof(float);

template <typename V> [[gnu::always_inline]] inline void load(V& v, const float* p) {
  std::memcpy(&v, p, sizeof v);
}

// o[0, width) = s, or o + s.
template <typename V> [[gnu::always_inline]] inline void store(float* o, const V& s, bool add) {
  V v = s;
  if (add) {
    V old;
    load(old, o);
    v = old + s;
  }
  std::memcpy(o, &v, sizeof v);
}

// Four activation rows, columns [0, 2 * width * blocks): each block keeps its 4 x 2 vector sums in
// registers for the whole of K.
template <typename V>
[[gnu::always_inline]] inline void rows4_blocks(const float* w, size_t n, const float* const* a, size_t k,
                                                float* out, size_t blocks, bool add) {
  constexpr size_t width = kWidth<V>;
  for (size_t j0 = 0; j0 < 2 * width * blocks; j0 += 2 * width) {
    V w0, w1;
    load(w0, w + j0);
    load(w1, w + j0 + width);
    V s00 = a[0][0] * w0, s01 = a[0][0] * w1, s10 = a[1][0] * w0, s11 = a[1][0] * w1;
    V s20 = a[2][0] * w0, s21 = a[2][0] * w1, s30 = a[3][0] * w0, s31 = a[3][0] * w1;
    for (size_t kk = 1; kk < k; ++kk) {
      load(w0, w + kk * n + j0);
      load(w1, w + kk * n + j0 + width);
      const float x0 = a[0][kk], x1 = a[1][kk], x2 = a[2][kk], x3 = a[3][kk];
      s00 = s00 + x0 * w0;
      s01 = s01 + x0 * w1;
      s10 = s10 + x1 * w0;
      s11 = s11 + x1 * w1;
      s20 = s20 + x2 * w0;
      s21 = s21 + x2 * w1;
      s30 = s30 + x3 * w0;
      s31 = s31 + x3 * w1;
    }
    float* o = out + j0;
    store(o, s00, add);
    store(o + width, s01, add);
    store(o + n, s10, add);
    store(o + n + width, s11, add);
    store(o + 2 * n, s20, add);
    store(o + 2 * n + width, s21, add);
    store(o + 3 * n, s30, add);
    store(o + 3 * n + width, s31, add);
  }
}

// One activation row, columns [0, 8 * width * blocks): eight independent sums hide the latency of
// the additions.
template <typename V>
[[gnu::always_inline]] inline void row1_blocks(const float* w, size_t n, const float* a, size_t k, float* out,
                                               size_t blocks, bool add) {
  constexpr size_t width = kWidth<V>;
  for (size_t j0 = 0; j0 < 8 * width * blocks; j0 += 8 * width) {
    V s[8];
    for (size_t v = 0; v < 8; ++v) {
      load(s[v], w + j0 + width * v);
      s[v] = a[0] * s[v];
    }
    for (size_t kk = 1; kk < k; ++kk) {
      const float x = a[kk];
      const float* wk = w + kk * n + j0;
      for (size_t v = 0; v < 8; ++v) {
        V wv;
        load(wv, wk + width * v);
        s[v] = s[v] + x * wv;
      }
    }
    for (size_t v = 0; v < 8; ++v) store(out + j0 + width * v, s[v], add);
  }
}

template <typename V>
[[gnu::always_inline]] inline size_t rows4_all(const float* w, size_t n, const float* const* a, size_t k,
                                               float* out, bool add) {
  constexpr size_t step = 2 * kWidth<V>;
  rows4_blocks<V>(w, n, a, k, out, n / step, add);
  return n / step * step;
}

template <typename V>
[[gnu::always_inline]] inline size_t row1_all(const float* w, size_t n, const float* a, size_t k, float* out,
                                              bool add) {
  constexpr size_t step = 8 * kWidth<V>;
  row1_blocks<V>(w, n, a, k, out, n / step, add);
  return n / step * step;
}

// Every kernel of one level. The baseline is plain C++ (SSE2 on x86-64, F4 vectors).
struct Kernels {
  void (*dot_block4)(const int16_t* packed, size_t k_stride, const int16_t (*a)[kChunk], size_t kc,
                     int32_t* out, size_t n, bool add);
  void (*dot_block1)(const int16_t* packed, size_t k_stride, const int16_t* a, size_t kc, int32_t* out,
                     size_t n, bool add);
  void (*rows_dot)(const uint8_t* const* rows, const int8_t* a, int32_t* out, size_t k, size_t n, bool add);
  size_t (*rows4)(const float* w, size_t n, const float* const* a, size_t k, float* out, bool add);
  size_t (*row1)(const float* w, size_t n, const float* a, size_t k, float* out, bool add);
  void (*sum_products4)(const float* w, size_t n_stride, const float* const* a, size_t k,
                        float (*s)[kColumns], size_t nc);
  void (*sum_products1)(const float* w, size_t n_stride, const float* const* a, size_t k,
                        float (*s)[kColumns], size_t nc);
};

// One level's kernels: the inline bodies above compiled under the level's target attribute.
#define TSP_LEVEL_KERNELS(ATTR, SUFFIX, V)                                                                   \
  ATTR void dot_block4_##SUFFIX(const int16_t* p, size_t ks, const int16_t(*a)[kChunk], size_t kc,           \
                                int32_t* o, size_t n, bool add) {                                            \
    dot_block4(p, ks, a, kc, o, n, add);                                                                     \
  }                                                                                                          \
  ATTR void dot_block1_##SUFFIX(const int16_t* p, size_t ks, const int16_t* a, size_t kc, int32_t* o,        \
                                size_t n, bool add) {                                                        \
    dot_block1(p, ks, a, kc, o, n, add);                                                                     \
  }                                                                                                          \
  ATTR void rows_dot_##SUFFIX(const uint8_t* const* r, const int8_t* a, int32_t* o, size_t k, size_t n,      \
                              bool add) {                                                                    \
    rows_dot(r, a, o, k, n, add);                                                                            \
  }                                                                                                          \
  ATTR size_t rows4_##SUFFIX(const float* w, size_t n, const float* const* a, size_t k, float* o,            \
                             bool add) {                                                                     \
    return rows4_all<V>(w, n, a, k, o, add);                                                                 \
  }                                                                                                          \
  ATTR size_t row1_##SUFFIX(const float* w, size_t n, const float* a, size_t k, float* o, bool add) {        \
    return row1_all<V>(w, n, a, k, o, add);                                                                  \
  }                                                                                                          \
  ATTR void sum_products4_##SUFFIX(const float* w, size_t ns, const float* const* a, size_t k,               \
                                   float(*s)[kColumns], size_t nc) {                                         \
    sum_products<4>(w, ns, a, k, s, nc);                                                                     \
  }                                                                                                          \
  ATTR void sum_products1_##SUFFIX(const float* w, size_t ns, const float* const* a, size_t k,               \
                                   float(*s)[kColumns], size_t nc) {                                         \
    sum_products<1>(w, ns, a, k, s, nc);                                                                     \
  }                                                                                                          \
  const Kernels kKernels_##SUFFIX{dot_block4_##SUFFIX,   dot_block1_##SUFFIX, rows_dot_##SUFFIX,             \
                                  rows4_##SUFFIX,        row1_##SUFFIX,       sum_products4_##SUFFIX,        \
                                  sum_products1_##SUFFIX};

TSP_LEVEL_KERNELS(, baseline, F4)
#if defined(TSP_X86)
TSP_LEVEL_KERNELS(TSP_AVX2, avx2, F8)
TSP_LEVEL_KERNELS(TSP_AVX512, avx512, F16)
#endif
#undef TSP_LEVEL_KERNELS

KernelLevel detect_level() {
#if defined(TSP_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
    return KernelLevel::avx512;
  if (__builtin_cpu_supports("avx2")) return KernelLevel::avx2;
#endif
  return KernelLevel::baseline;
}

const KernelLevel kBestLevel = detect_level();
std::atomic<KernelLevel> g_level{kBestLevel};

const Kernels& kernels() {
#if defined(TSP_X86)
  switch (g_level.load(std::memory_order_relaxed)) {
  case KernelLevel::avx512:
    return kKernels_avx512;
  case KernelLevel::avx2:
    return kKernels_avx2;
  case KernelLevel::baseline:
    break;
  }
#endif
  return kKernels_baseline;
}

std::atomic<unsigned> g_threads{std::thread::hardware_concurrency() >= 2 ? 2u : 1u};

// Batches of at least this many vectors are split over two cores (below it the hand-over costs
// more than it saves).
constexpr size_t kSplitRows = 16;

// Runs rows [0, m) of a product as rows(first, count), on two cores when the batch is large.
void for_row_halves(size_t m, const std::function<void(size_t, size_t)>& rows) {
  if (m < kSplitRows || g_threads.load(std::memory_order_relaxed) < 2) return rows(0, m);
  const size_t half = (m / 2 + 3) / 4 * 4; // keep the first part in blocks of four rows
  if (!try_run_on_two_cores([&](unsigned part) { part == 0 ? rows(0, half) : rows(half, m - half); }))
    rows(0, m);
}

// An m-row product with `one_core` (which multiplies rows of acts into rows of out) on up to two cores.
template <typename W, typename A, typename O>
void on_row_halves(void (*one_core)(const W*, const A*, O*, size_t, size_t, size_t, bool), const W* w,
                   const A* acts, O* out, size_t m, size_t k, size_t n, bool accumulate) {
  for_row_halves(m, [&](size_t first, size_t count) {
    one_core(w, acts + first * k, out + first * n, count, k, n, accumulate);
  });
}

} // namespace

void set_mxm_threads(unsigned threads) { g_threads.store(threads >= 2 ? 2u : 1u, std::memory_order_relaxed); }
unsigned mxm_threads() { return g_threads.load(std::memory_order_relaxed); }

KernelLevel best_kernel_level() { return kBestLevel; }
KernelLevel kernel_level() { return g_level.load(std::memory_order_relaxed); }
void limit_kernel_level(KernelLevel level) {
  g_level.store(std::min(level, kBestLevel), std::memory_order_relaxed);
}

const char* kernel_level_name(KernelLevel level) {
  switch (level) {
  case KernelLevel::avx512:
    return "avx512";
  case KernelLevel::avx2:
    return "avx2";
  case KernelLevel::baseline:
    break;
  }
  return "baseline";
}

bool mxm_supports(DType dtype) { return dtype == DType::i8 || dtype == DType::f16 || dtype == DType::bf16; }

void pack_weights_i8(const uint8_t* const* rows, size_t k, size_t n, int16_t* packed) {
  // 16 x 16 tiles, each written as 16 contiguous runs of 16 int16; then the ragged edges.
  constexpr size_t kTile = 16;
  const size_t k_full = k / kTile * kTile, n_full = n / kTile * kTile;
  for (size_t k0 = 0; k0 < k_full; k0 += kTile)
    for (size_t j0 = 0; j0 < n_full; j0 += kTile)
      for (size_t j = j0; j < j0 + kTile; ++j) {
        int16_t* p = packed + j * k + k0;
        for (size_t kk = 0; kk < kTile; ++kk) p[kk] = int8_t(rows[k0 + kk][j]);
      }
  for (size_t kk = 0; kk < k; ++kk)
    for (size_t j = kk < k_full ? n_full : 0; j < n; ++j) packed[j * k + kk] = int8_t(rows[kk][j]);
}

void matmul_i8(const int16_t* packed, const int8_t* acts, int32_t* out, size_t m, size_t k, size_t n,
               bool accumulate) {
  on_row_halves(matmul_i8_one_core, packed, acts, out, m, k, n, accumulate);
}

void matmul_i8_one_core(const int16_t* packed, const int8_t* acts, int32_t* out, size_t m, size_t k, size_t n,
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
        kernels().dot_block4(packed + k0, k, a, kc, out + row * n, n, add);
      else
        kernels().dot_block1(packed + k0, k, a[0], kc, out + row * n, n, add);
    }
    row += rows;
  }
}

void matvec_i8(const int16_t* packed, const int8_t* act, int32_t* out, size_t k, size_t n, bool accumulate) {
  matmul_i8_one_core(packed, act, out, 1, k, n, accumulate);
}

void matmul_i8_rows(const uint8_t* const* rows, const int8_t* acts, int32_t* out, size_t m, size_t k,
                    size_t n, bool accumulate) {
  const Kernels& level = kernels();
  for (size_t r = 0; r < m; ++r) level.rows_dot(rows, acts + r * k, out + r * n, k, n, accumulate);
}

void widen_to_f32(DType dtype, ConstPlaneGroup src, size_t count, float* out) {
  if (!isa::dtype_is_float(dtype))
    throw std::invalid_argument(
        fmt::format("widen_to_f32: dtype {} is not a float type", isa::dtype_name(dtype)));
  detail::with_elem(dtype, [&](auto e) {
    using E = decltype(e);
    if constexpr (E::is_float)
      detail::for_blocks(count, [&](size_t off, size_t c) { E::load_block(src, off, c, out + off); });
  });
}

void pack_weights_float(DType dtype, const ConstPlaneGroup* rows, size_t k, size_t n, float* w) {
  for (size_t kk = 0; kk < k; ++kk) widen_to_f32(dtype, rows[kk], n, w + kk * n);
}

void matmul_f32(const float* w, const float* acts, float* out, size_t m, size_t k, size_t n,
                bool accumulate) {
  on_row_halves(matmul_f32_one_core, w, acts, out, m, k, n, accumulate);
}

void matmul_f32_one_core(const float* w, const float* acts, float* out, size_t m, size_t k, size_t n,
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
    // Register-blocked kernels for the bulk of the columns, the generic loop for the rest; both
    // compute every column in the same order, so the split does not change any result.
    const Kernels& level = kernels();
    size_t j0 = rows == 4 ? level.rows4(w, n, a, k, out + row * n, accumulate)
                          : level.row1(w, n, a[0], k, out + row * n, accumulate);
    for (; j0 < n; j0 += kColumns) {
      const size_t nc = std::min(kColumns, n - j0);
      if (rows == 4)
        level.sum_products4(w + j0, n, a, k, s, nc);
      else
        level.sum_products1(w + j0, n, a, k, s, nc);
      for (size_t r = 0; r < rows; ++r) {
        float* o = out + (row + r) * n + j0;
        for (size_t j = 0; j < nc; ++j) o[j] = accumulate ? o[j] + s[r][j] : s[r][j];
      }
    }
    row += rows;
  }
}

void matvec_f32(const float* w, const float* act, float* out, size_t k, size_t n, bool accumulate) {
  matmul_f32_one_core(w, act, out, 1, k, n, accumulate);
}

} // namespace tsp::num
