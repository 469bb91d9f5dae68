// The chip's arithmetic as plain functions over byte planes: conversions, VXM lane-wise ops, MXM
// matrix products and SXM lane moves. No simulator state, no allocation in the lane loops. The
// rules (rounding, saturation, NaN, overflow) are specified in docs/numerics.md.
//
// A vector of a type with B bytes per element travels on B byte planes: plane b holds byte b
// (little-endian) of every element, one byte per lane.
#pragma once

#include "isa.h"

#include <array>
#include <cstddef>
#include <cstdint>

namespace tsp::num {

// The planes of one vector (planes[b] = byte b of every element; only dtype_bytes are used).
struct ConstPlaneGroup {
  std::array<const uint8_t*, 4> planes{};
};
struct PlaneGroup {
  std::array<uint8_t*, 4> planes{};
  operator ConstPlaneGroup() const { return {{planes[0], planes[1], planes[2], planes[3]}}; }
};

// ---- Scalar conversions (round to nearest even; NaN results are quiet NaNs) ----
uint16_t f32_to_f16(float x);
float f16_to_f32(uint16_t bits);
uint16_t f32_to_bf16(float x);
float bf16_to_f32(uint16_t bits);
uint16_t f64_to_f16(double x);
uint16_t f64_to_bf16(double x);
float f64_to_f32(double x);
// To an integer dtype: round to nearest even, saturate to the type's range, NaN -> 0.
int64_t float_to_int(double x, isa::DType to);
// Integer value to the raw bit pattern of a float dtype, one rounding (nearest even).
uint32_t int_to_float_bits(int64_t value, isa::DType to);
// Float dtype bit pattern -> fp32 (exact), and fp32 -> float dtype bit pattern (one rounding).
float float_from_bits(uint32_t bits, isa::DType from);
uint32_t float_to_bits(double value, isa::DType to);
// Clamps to the range of an integer dtype.
int64_t saturate(int64_t value, isa::DType to);

// ---- Element access ----
uint32_t load_bits(ConstPlaneGroup g, isa::DType dtype, size_t lane);
void store_bits(PlaneGroup g, isa::DType dtype, size_t lane, uint32_t bits);
// Integer dtypes: sign-extended value; stored with saturation.
int64_t load_int(ConstPlaneGroup g, isa::DType dtype, size_t lane);
void store_int(PlaneGroup g, isa::DType dtype, size_t lane, int64_t value);
// Float dtypes: exact widening to fp32; stored with one rounding to the dtype.
float load_float(ConstPlaneGroup g, isa::DType dtype, size_t lane);
void store_float(PlaneGroup g, isa::DType dtype, size_t lane, double value);

// ---- VXM: lanes [0, active_lanes) of dst are written, the others are left unchanged ----
// dst may be the same planes as a source, but must not partially overlap one.
// Whether `op` accepts `dtype` (float-only transcendentals; cvt/requant accept every pair).
bool vxm_op_supports(isa::Opcode op, isa::DType dtype);
// Every vxm_* function throws std::invalid_argument for an opcode/dtype it does not accept.
// mov neg abs relu tanh exp rsqrt recip
void vxm_unary(isa::Opcode op, isa::DType dtype, PlaneGroup dst, ConstPlaneGroup src, size_t active_lanes);
// add sub mul max min and or xor cmpeq cmplt cmple
void vxm_binary(isa::Opcode op, isa::DType dtype, PlaneGroup dst, ConstPlaneGroup a, ConstPlaneGroup b,
                size_t active_lanes);
void vxm_select(isa::DType dtype, PlaneGroup dst, ConstPlaneGroup mask, ConstPlaneGroup a, ConstPlaneGroup b,
                size_t active_lanes);
// `value` is the raw 32-bit immediate.
void vxm_splat(isa::DType dtype, PlaneGroup dst, uint32_t value, size_t active_lanes);
void vxm_convert(isa::DType to, isa::DType from, PlaneGroup dst, ConstPlaneGroup src, size_t active_lanes);
// `scale_bits` is the fp32 bit pattern of the scale.
void vxm_requant(isa::DType to, isa::DType from, PlaneGroup dst, ConstPlaneGroup src, uint32_t scale_bits,
                 size_t active_lanes);

// ---- MXM ----
// Weights are K x N: row k arrived as vector k (k < K), column n is lane n (n < N). The kernels
// take them packed once per install, in the layout each kernel wants.
bool mxm_supports(isa::DType dtype); // i8, f16, bf16

// int8: packed[n * K + k] = W[k][n] (transposed, widened to int16 so the dot products vectorise).
// rows[k] is the byte plane of weight row k.
void pack_weights_i8(const uint8_t* const* rows, size_t k, size_t n, int16_t* packed);
// out[j] = (accumulate ? out[j] : 0) + sum_k act[k] * W[k][j], modulo 2^32 (two's complement wrap).
void matvec_i8(const int16_t* packed, const int8_t* act, int32_t* out, size_t k, size_t n, bool accumulate);
// The same for m activation vectors: acts is m x K (row i = vector i), out is m x N. Bit-identical
// to m calls of matvec_i8.
void matmul_i8(const int16_t* packed, const int8_t* acts, int32_t* out, size_t m, size_t k, size_t n,
               bool accumulate);
// matmul_i8 on the calling thread only (matmul_i8 splits large batches over two cores).
void matmul_i8_one_core(const int16_t* packed, const int8_t* acts, int32_t* out, size_t m, size_t k, size_t n,
                        bool accumulate);

// The same products straight from the weight rows (rows[k] = byte plane of row k), with no
// packing: slower per product than the packed kernels, but cheaper for weights used by at most
// about four vectors (packing costs about as much as four vectors here; docs/numerics.md).
// Bit-identical to matmul_i8.
void matmul_i8_rows(const uint8_t* const* rows, const int8_t* acts, int32_t* out, size_t m, size_t k,
                    size_t n, bool accumulate);

// fp16/bf16: w[k * N + n] = W[k][n] widened to fp32 (exact). rows[k] is the plane group of row k.
void pack_weights_float(isa::DType dtype, const ConstPlaneGroup* rows, size_t k, size_t n, float* w);
// Widens lanes [0, count) of a float vector to fp32 (exact).
void widen_to_f32(isa::DType dtype, ConstPlaneGroup src, size_t count, float* out);
// s_j = p_0j + p_1j + ... + p_(K-1)j with p_kj = act[k] * W[k][j] rounded to fp32 (exact for fp16;
// bf16 products can underflow or overflow) and one fp32 rounding per addition, in ascending k;
// out[j] = accumulate ? out[j] + s_j : s_j.
void matvec_f32(const float* w, const float* act, float* out, size_t k, size_t n, bool accumulate);
// m activation vectors (acts m x K, out m x N), bit-identical to m calls of matvec_f32.
void matmul_f32(const float* w, const float* acts, float* out, size_t m, size_t k, size_t n, bool accumulate);
void matmul_f32_one_core(const float* w, const float* acts, float* out, size_t m, size_t k, size_t n,
                         bool accumulate);

// matmul_i8 and matmul_f32 split batches of 16 or more vectors over two cores (whole rows per
// core, so the results are the same) when the host has two; set_mxm_threads(1) keeps them on one.
void set_mxm_threads(unsigned threads);
unsigned mxm_threads();

// The MXM kernels (int8 and fp32) run at the widest level the CPU has: AVX-512 (F, BW, VL, VNNI),
// AVX2 or the baseline (SSE2). limit_kernel_level caps it, so that tests and benchmarks cover every
// level the host runs. Results are bit-identical on every level.
enum class KernelLevel { baseline, avx2, avx512 };
KernelLevel best_kernel_level();
KernelLevel kernel_level();
void limit_kernel_level(KernelLevel level);
const char* kernel_level_name(KernelLevel level);

// ---- SXM, on one byte plane of `lanes` bytes (apply to each plane of a group) ----
// Superlane s is lanes [s * lps, (s + 1) * lps); lanes must be a multiple of lps (else
// std::invalid_argument). "North" is towards higher superlane numbers. dst must not overlap a
// source. Only lanes [0, lanes) are read or written.
// dst superlane s = src superlane s - n (n < 0 moves south); superlanes shifted in are zero.
void sxm_shift(uint8_t* dst, const uint8_t* src, size_t lanes, size_t lps, int n);
// dst superlane s = (bit s of mask ? a : b) superlane s (bits 64 and up read as 0).
void sxm_select(uint8_t* dst, const uint8_t* a, const uint8_t* b, size_t lanes, size_t lps, uint64_t mask);
// dst[i] = src[map[i]] if 0 <= map[i] < lanes else 0; map[i] = int16 from map_lo[i] | map_hi[i] << 8.
void sxm_permute(uint8_t* dst, const uint8_t* src, const uint8_t* map_lo, const uint8_t* map_hi,
                 size_t lanes);
// Within each superlane: dst[s*lps + i] = map[s*lps + i] < lps ? src[s*lps + map[s*lps + i]] : 0.
void sxm_distribute(uint8_t* dst, const uint8_t* src, const uint8_t* map, size_t lanes, size_t lps);
// dst superlane (s + n) mod S = src superlane s.
void sxm_rotate(uint8_t* dst, const uint8_t* src, size_t lanes, size_t lps, unsigned n);
// 16 planes in, 16 out: dst[j][16b + i] = src[i][16b + j] for every block b of 16 lanes; in a last
// partial block, source lanes at or above `lanes` read as 0.
void sxm_transpose(uint8_t* const* dst, const uint8_t* const* src, size_t lanes);

} // namespace tsp::num
