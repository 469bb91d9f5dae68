// Transformer activations as one-phase expressions (include/tspsim/compiler/vector.h), computed in
// fp32 and stored in the input type: SiLU, SwiGLU and rotary position embedding (RoPE), whose
// pair swap is an SXM Distribute inside each superlane.
#include "tspsim/common/error.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/placement.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/vector.h"

#include <cmath>
#include <fmt/format.h>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

void require_float(const std::string& kernel, DType dtype) {
  if (!isa::dtype_is_float(dtype))
    throw InputError(fmt::format("{}: takes fp16, bf16 or fp32, not {}", kernel, isa::dtype_name(dtype)));
}

unsigned f32_leaf(VExpr& e, unsigned input, DType dtype) {
  const unsigned x = e.input(input, dtype);
  return dtype == DType::f32 ? x : e.cvt(DType::f32, dtype, x);
}

// x * 1 / (1 + exp(-x)) in fp32, x read twice.
unsigned silu(VExpr& e, unsigned input, DType dtype) {
  const unsigned denominator = e.binary(
      Opcode::v_add, DType::f32,
      e.unary(Opcode::v_exp, DType::f32, e.unary(Opcode::v_neg, DType::f32, f32_leaf(e, input, dtype))),
      e.splat(DType::f32, 1.0));
  return e.binary(Opcode::v_mul, DType::f32, f32_leaf(e, input, dtype),
                  e.unary(Opcode::v_recip, DType::f32, denominator));
}

unsigned store_as(VExpr& e, DType dtype, unsigned value) {
  return dtype == DType::f32 ? value : e.cvt(dtype, DType::f32, value);
}

double silu_value(double x) { return x / (1.0 + std::exp(-x)); }

// SiLU(A) * B, inputs and result in `dtype`.
VExpr swiglu_expr(DType dtype) {
  VExpr e;
  const unsigned gate = silu(e, 0, dtype);
  store_as(e, dtype, e.binary(Opcode::v_mul, DType::f32, gate, f32_leaf(e, 1, dtype)));
  return e;
}

// The rotation tables of RoPE for rows at positions pos0, pos0 + 1, ...: C = cos on both lanes
// of a pair, S = (-sin, +sin), in fp32; and the Distribute map that swaps the lanes of a pair.
struct RopeTables {
  std::vector<uint8_t> cos;
  std::vector<uint8_t> sin;
  std::vector<uint8_t> swap;
};

RopeTables rope_tables(const ChipConfig& config, uint32_t rows, uint32_t cols, uint32_t head, uint32_t pos0,
                       float base) {
  const unsigned lps = config.geometry.lanes_per_superlane;
  if (head % 2 != 0 || cols % head != 0)
    throw InputError(fmt::format("rope: head_dim {} must be even and divide cols {}", head, cols));
  if (lps % 2 != 0) throw InputError("rope: pairs of lanes must not straddle superlanes");
  // base^(-2i/head_dim) is a frequency only for a positive base: 0 gives infinite angles, a
  // negative base NaN ones.
  if (!std::isfinite(base) || base <= 0)
    throw InputError(fmt::format("rope: --base must be finite and above 0, not {}", base));
  std::vector<double> cos_table, sin_table;
  for (uint32_t r = 0; r < rows; ++r)
    for (uint32_t c = 0; c < cols; ++c) {
      const uint32_t i = (c % head) / 2;
      const double angle = double(pos0 + r) * std::pow(double(base), -2.0 * i / head);
      cos_table.push_back(static_cast<float>(std::cos(angle)));
      sin_table.push_back(static_cast<float>(c % 2 == 0 ? -std::sin(angle) : std::sin(angle)));
    }
  // Distribute map: lane i of a superlane takes lane i ^ 1.
  std::vector<double> swap(config.geometry.vector_bytes());
  for (unsigned i = 0; i < swap.size(); ++i) swap[i] = (i % lps) ^ 1;
  std::vector<double> swap_row;
  for (uint32_t c = 0; c < cols; ++c) swap_row.push_back(swap[c % swap.size()]);
  return {element_bytes_of(DType::f32, cos_table), element_bytes_of(DType::f32, sin_table),
          element_bytes_of(DType::i8, swap_row)};
}

// Y = X * C + swap(X) * S over inputs X (`dtype`), C, S and the swap map, stored in `out`.
VExpr rope_expr(const ChipConfig& config, DType dtype, DType out) {
  VExpr e;
  const unsigned direct = e.binary(Opcode::v_mul, DType::f32, f32_leaf(e, 0, dtype), e.input(1, DType::f32));
  const unsigned sxm = *Floorplan(config.geometry, config.icu).find_slice("SXM_W");
  unsigned swapped = e.lane_move(Opcode::distribute, dtype, e.input(0, dtype), e.input(3, DType::i8), sxm);
  if (dtype != DType::f32) swapped = e.cvt(DType::f32, dtype, swapped);
  // The mov reads the sine table a cycle before X is read for the direct term, in case they
  // share slices.
  const unsigned turned = e.unary(Opcode::v_mov, DType::f32,
                                  e.binary(Opcode::v_mul, DType::f32, swapped, e.input(2, DType::f32)));
  store_as(e, out, e.binary(Opcode::v_add, DType::f32, direct, turned));
  return e;
}

} // namespace

CompiledKernel compile_silu(const ChipConfig& config, const ActivationShape& shape) {
  require_float("silu", shape.dtype);
  VExpr e;
  store_as(e, shape.dtype, silu(e, 0, shape.dtype));
  return compile_expression(
      config, fmt::format("silu {}x{} {}", shape.rows, shape.cols, isa::dtype_name(shape.dtype)), e,
      {{"X", shape.dtype, shape.rows, {}}}, shape.rows, shape.cols, shape.seed, shape.with_reference,
      [](const std::vector<std::vector<double>>& in) {
        std::vector<double> out;
        for (double x : in[0]) out.push_back(silu_value(x));
        return out;
      });
}

CompiledKernel compile_swiglu(const ChipConfig& config, const ActivationShape& shape) {
  require_float("swiglu", shape.dtype);
  const VExpr e = swiglu_expr(shape.dtype);
  return compile_expression(
      config, fmt::format("swiglu {}x{} {}", shape.rows, shape.cols, isa::dtype_name(shape.dtype)), e,
      {{"A", shape.dtype, shape.rows, {}}, {"B", shape.dtype, shape.rows, {}}}, shape.rows, shape.cols,
      shape.seed, shape.with_reference, [](const std::vector<std::vector<double>>& in) {
        std::vector<double> out;
        for (size_t i = 0; i < in[0].size(); ++i) out.push_back(silu_value(in[0][i]) * in[1][i]);
        return out;
      });
}

// Row r is the token at position pos0 + r; the pair (2i, 2i + 1) of each head (head_dim columns)
// turns by (pos0 + r) * base^(-2i / head_dim). Y = X * C + swap(X) * S with C = cos on both
// lanes of a pair and S = (-sin, +sin), both operand tables in fp32.
CompiledKernel compile_rope(const ChipConfig& config, const RopeShape& shape) {
  require_float("rope", shape.dtype);
  const uint32_t head = shape.head_dim == 0 ? shape.cols : shape.head_dim;
  // The tables are as large as X: the shape must fit before they are built.
  require_mem(config, "rope",
              {{"X", shape.dtype, shape.rows, shape.cols},
               {"COS", DType::f32, shape.rows, shape.cols},
               {"SIN", DType::f32, shape.rows, shape.cols},
               {"C", shape.dtype, shape.rows, shape.cols}});
  const RopeTables tables = rope_tables(config, shape.rows, shape.cols, head, shape.pos0, shape.base);
  const VExpr e = rope_expr(config, shape.dtype, shape.dtype);
  return compile_expression(config,
                            fmt::format("rope {}x{} head_dim {} {} from position {}", shape.rows, shape.cols,
                                        head, isa::dtype_name(shape.dtype), shape.pos0),
                            e,
                            {{"X", shape.dtype, shape.rows, {}},
                             {"COS", DType::f32, shape.rows, tables.cos},
                             {"SIN", DType::f32, shape.rows, tables.sin},
                             {"", DType::i8, 1, tables.swap}},
                            shape.rows, shape.cols, shape.seed, shape.with_reference,
                            [&](const std::vector<std::vector<double>>& in) {
                              std::vector<double> out(in[0].size());
                              for (size_t k = 0; k < out.size(); ++k) {
                                const size_t partner = k ^ 1;
                                out[k] = in[0][k] * in[1][k] + in[0][partner] * in[2][k];
                              }
                              return out;
                            });
}

void schedule_swiglu(ProgramBuilder& builder, const TiledTensor& a, const TiledTensor& b,
                     const TiledTensor& y) {
  require_float("swiglu", a.dtype);
  schedule_vectors(builder.schedule(), swiglu_expr(a.dtype), {&a, &b}, y);
}

void schedule_rope(ProgramBuilder& builder, const TiledTensor& x, uint32_t head_dim, uint32_t pos0,
                   float base, const TiledTensor& y) {
  require_float("rope", x.dtype);
  const auto& config = builder.config();
  const RopeTables tables = rope_tables(config, x.rows, x.cols, head_dim, pos0, base);
  const auto west = least_used(builder, false);
  const TiledTensor cos = place_tiled(builder, "", DType::f32, x.rows, x.cols, west, 1, tables.cos, false);
  const TiledTensor sin =
      place_tiled(builder, "", DType::f32, x.rows, x.cols, least_used(builder, false), 1, tables.sin, false);
  const TiledTensor swap =
      place_tiled(builder, "", DType::i8, 1, x.cols, least_used(builder, true), 1, tables.swap, false);
  schedule_vectors(builder.schedule(), rope_expr(config, x.dtype, y.dtype), {&x, &cos, &sin, &swap}, y);
}

} // namespace tsp::compiler
