// The kernel library: each function places a kernel's tensors, schedules it for a chip config
// and returns the program, the host reference of its outputs and its lower bounds. Random inputs
// are declared tensors (the program holds their seeds); without the reference (with_reference
// false) nothing generates their values and the program is byte-identical.
#pragma once

#include "tspsim/compiler/builder.h"
#include "tspsim/compiler/placement.h"

#include <functional>
#include <string>

namespace tsp::compiler {

// C (m x n) = A (m x k) B (k x n) on the MXM planes. A is stored as k-tiles A.k<t> (m x 320
// columns), B as 320 x 320 tiles B.k<t>.n<u>, C as n-tiles C.n<u> (m x 320, int32 for int8
// inputs, fp32 for fp16/bf16). Batch-1 decode (GEMV) is m = 1: every weight is streamed from
// MEM once and installed while the previous tile computes.
struct GemmShape {
  uint32_t m = 1;
  uint32_t k = 1;
  uint32_t n = 1;
  isa::DType dtype = isa::DType::i8;
  uint64_t seed = 1;
  unsigned max_planes = 0;    // 0: every plane; else the first ones of W0, E0, W1, E1, ...
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_gemm(const ChipConfig& config, const GemmShape& shape);

// C = A B as a phase of a larger kernel, on tensors the caller placed: A's k-tile kt (m rows), B's
// tile (kt, j) in the LW layout (weight_streams / dtype_bytes slice groups, rows padded with
// zeros to a whole tile) and C's n-tile j. Reads wait for earlier phases' writes.
struct GemmOperands {
  std::function<Symbol(unsigned kt)> a;
  std::function<Symbol(unsigned kt, unsigned j)> b;
  std::function<Symbol(unsigned j)> c;
};
void schedule_gemm(ProgramBuilder& builder, const GemmShape& shape, const GemmOperands& operands);

// Lane-wise kernels on the VXM over rows x cols tensors (column tiles A.c0, ... beyond one
// vector). The result is C.
struct ElementwiseShape {
  std::string op = "add"; // mov neg abs relu tanh exp rsqrt recip | add sub mul max min and or xor
  uint32_t rows = 1;
  uint32_t cols = 1;
  isa::DType dtype = isa::DType::i8;
  bool broadcast = false; // binary: B is one row, broadcast over the rows of A
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_elementwise(const ChipConfig& config, const ElementwiseShape& shape);

struct ConvertShape {
  uint32_t rows = 1;
  uint32_t cols = 1;
  isa::DType from = isa::DType::i32;
  isa::DType to = isa::DType::f32;
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_convert(const ChipConfig& config, const ConvertShape& shape);

// C = saturate(round_even(fp32(A) * scale)).
struct RequantShape {
  uint32_t rows = 1;
  uint32_t cols = 1;
  isa::DType from = isa::DType::i32;
  isa::DType to = isa::DType::i8;
  float scale = 1.0f / 16777216.0f;
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_requant(const ChipConfig& config, const RequantShape& shape);

// C = X + R (the residual connection of a transformer block).
struct ResidualShape {
  uint32_t rows = 1;
  uint32_t cols = 1;
  isa::DType dtype = isa::DType::f16;
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_residual(const ChipConfig& config, const ResidualShape& shape);

// R = sum or max of X (rows x cols) along each row (over its lanes, through the SXM: R is rows
// x 1) or across the rows (R is 1 x cols). int8/int16 sums and every max of integers are int32,
// floats fp32.
struct ReduceShape {
  bool lanes = true;
  std::string op = "sum";
  uint32_t rows = 1;
  uint32_t cols = 1;
  isa::DType dtype = isa::DType::f32;
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_reduce(const ChipConfig& config, const ReduceShape& shape);

// Row-wise kernels over X (rows x cols, fp16/bf16/fp32, computed in fp32): Y = softmax(X);
// Y = X * rsqrt(mean(X^2) + eps) * G (RMSNorm); Y = (X - mean) * rsqrt(var + eps) * G + B
// (LayerNorm), with G and B one row each.
struct NormShape {
  uint32_t rows = 1;
  uint32_t cols = 1;
  isa::DType dtype = isa::DType::f32;
  float eps = 1e-5f;
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_softmax(const ChipConfig& config, const NormShape& shape);
CompiledKernel compile_rmsnorm(const ChipConfig& config, const NormShape& shape);
CompiledKernel compile_layernorm(const ChipConfig& config, const NormShape& shape);
// RMSNorm as phases of a larger kernel on tensors the caller placed: Y = X * rsqrt(mean(X^2) +
// eps) * G (G one row). Returns the latency of one row through them (a lower bound).
double schedule_rmsnorm(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& g, float eps,
                        const TiledTensor& y);

// Y = SiLU(X) = X / (1 + exp(-X)); SwiGLU: Y = SiLU(A) * B. fp16/bf16/fp32, fp32 inside.
struct ActivationShape {
  uint32_t rows = 1;
  uint32_t cols = 1;
  isa::DType dtype = isa::DType::f32;
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_silu(const ChipConfig& config, const ActivationShape& shape);
CompiledKernel compile_swiglu(const ChipConfig& config, const ActivationShape& shape);
// Y = SiLU(A) * B as a phase on placed tensors (A, B and Y of one type).
void schedule_swiglu(ProgramBuilder& builder, const TiledTensor& a, const TiledTensor& b,
                     const TiledTensor& y);

// Rotary position embedding of X (rows = tokens at positions pos0, pos0 + 1, ...; cols = heads x
// head_dim): each pair (2i, 2i + 1) of a head turns by position * base^(-2i / head_dim).
struct RopeShape {
  uint32_t rows = 1;
  uint32_t cols = 2;
  uint32_t head_dim = 0; // 0: cols
  uint32_t pos0 = 0;
  float base = 10000.0f;
  isa::DType dtype = isa::DType::f32;
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_rope(const ChipConfig& config, const RopeShape& shape);
// RoPE of X (rows at positions pos0, pos0 + 1, ...) into Y as a phase on placed tensors; the
// rotation tables are placed with it.
void schedule_rope(ProgramBuilder& builder, const TiledTensor& x, uint32_t head_dim, uint32_t pos0,
                   float base, const TiledTensor& y);

// One decode step of attention: `heads` query heads share `kv_heads` KV heads (grouped-query);
// the cache holds `seq` positions and the new token's k and v are appended at position seq.
// Inputs Q (heads x head_dim), KN and VN (kv_heads x head_dim), the cache KT.c<t> (keys
// transposed, rows g * head_dim + i) and V.g<g> (values, one row per position); output O
// (heads x head_dim, fp32) and the updated cache.
struct AttentionShape {
  uint32_t heads = 4;
  uint32_t kv_heads = 2;
  uint32_t head_dim = 64;
  uint32_t seq = 64;
  isa::DType dtype = isa::DType::f16;
  uint64_t seed = 1;
  bool with_reference = true; // false (tspc --timing-only): no host reference, no outputs
};
CompiledKernel compile_attention(const ChipConfig& config, const AttentionShape& shape);

// The same steps as phases of a larger kernel on tensors the caller placed: Q, KN, VN, the cache
// tiles KT (kv_heads * head_dim rows in the LW layout, rows reserved up to the last head's first
// row plus one vector, lanes from position seq on zero) and V (one per KV head, at least seq + 1
// rows, rows reserved to whole tiles, rows from seq on zero), and O. Q's lanes past head_dim must
// be zero. Returns the softmax's latency (a lower bound).
struct AttentionTensors {
  const TiledTensor* q = nullptr;
  const TiledTensor* kn = nullptr;
  const TiledTensor* vn = nullptr;
  std::vector<Symbol> kt;
  std::vector<Symbol> v;
  const TiledTensor* o = nullptr;
};
double schedule_attention(ProgramBuilder& builder, const AttentionShape& shape,
                          const AttentionTensors& tensors);

// The prompt pass's attention (docs/llama.md, "Prompt pass"): `queries` tokens at positions seq,
// seq + 1, ... attend causally (query i to positions up to seq + i) and append all their keys and
// values to the cache. Q is heads * queries rows and KN, VN kv_heads * queries rows, head-major
// (row h * queries + i is head h of query i), O likewise (fp32); the cache tensors as above, with
// lanes and rows from seq on zero and room for seq + queries positions. The causal mask is an
// additive row of 0 and -inf per query. `key_maps` are place_prompt_key_maps' for the same
// queries. Returns the softmax's latency.
double schedule_prompt_attention(ProgramBuilder& builder, const AttentionShape& shape, uint32_t queries,
                                 const AttentionTensors& tensors, const std::vector<TiledTensor>& key_maps);
// The Permute maps that put the prompt's keys into K^T, for every layer and KV head: per query i
// (position seq + i), head_dim rows; row r moves element r into the query's lane and zero elsewhere.
std::vector<TiledTensor> place_prompt_key_maps(ProgramBuilder& builder, uint32_t head_dim, uint32_t seq,
                                               uint32_t queries);

} // namespace tsp::compiler
