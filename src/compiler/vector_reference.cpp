// Host reference of lane-wise expressions: each node in double, rounded to its type the way the
// chip stores it (integers saturate where the ISA says so, floats round to nearest even).
#include "tspsim/compiler/vector.h"

#include "tspsim/numeric/numeric.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

double int_min(DType t) { return -std::ldexp(1.0, 8 * int(isa::dtype_bytes(t)) - 1); }
double int_max(DType t) { return std::ldexp(1.0, 8 * int(isa::dtype_bytes(t)) - 1) - 1; }
double saturate(DType t, double v) { return std::min(int_max(t), std::max(int_min(t), v)); }
double wrap(DType t, double v) {
  const double span = std::ldexp(1.0, 8 * int(isa::dtype_bytes(t)));
  double w = std::fmod(v, span);
  if (w > int_max(t)) w -= span;
  if (w < int_min(t)) w += span;
  return w;
}

// Rounds to a float type as the chip stores it.
double to_float(DType t, double v) {
  if (std::isnan(v)) return v;
  switch (t) {
  case DType::f16:
    return num::f16_to_f32(num::f64_to_f16(v));
  case DType::bf16:
    return num::bf16_to_f32(num::f64_to_bf16(v));
  default:
    return static_cast<float>(v);
  }
}

// To an integer type: round half to even, saturate, NaN to 0.
double to_int(DType t, double v) { return std::isnan(v) ? 0 : saturate(t, std::nearbyint(v)); }

double store(DType t, double v) { return isa::dtype_is_float(t) ? to_float(t, v) : v; }

int64_t bits(DType t, double v) {
  return static_cast<int64_t>(v) & ((int64_t{1} << (8 * isa::dtype_bytes(t))) - 1);
}
double from_bits(DType t, int64_t b) { return wrap(t, static_cast<double>(b)); }

double apply_node(const VNode& n, const double* x) {
  const DType t = n.dtype;
  const bool fl = isa::dtype_is_float(t);
  switch (n.opcode) {
  case Opcode::v_splat: {
    if (fl) {
      float f;
      std::memcpy(&f, &n.imm, sizeof f);
      return to_float(t, f);
    }
    return from_bits(t, n.imm);
  }
  case Opcode::v_mov:
    return x[0];
  case Opcode::v_neg:
    return fl ? -x[0] : wrap(t, -x[0]);
  case Opcode::v_abs:
    return fl ? std::fabs(x[0]) : wrap(t, std::fabs(x[0]));
  case Opcode::v_relu:
    return x[0] < 0 ? 0.0 : x[0];
  case Opcode::v_tanh:
    return to_float(t, std::tanh(x[0]));
  case Opcode::v_exp:
    return to_float(t, std::exp(x[0]));
  case Opcode::v_rsqrt:
    return to_float(t, 1.0 / std::sqrt(x[0]));
  case Opcode::v_recip:
    return to_float(t, 1.0 / x[0]);
  case Opcode::v_add:
    return fl ? to_float(t, x[0] + x[1]) : saturate(t, x[0] + x[1]);
  case Opcode::v_sub:
    return fl ? to_float(t, x[0] - x[1]) : saturate(t, x[0] - x[1]);
  case Opcode::v_mul:
    return fl ? to_float(t, x[0] * x[1]) : saturate(t, x[0] * x[1]);
  case Opcode::v_max:
    return std::max(x[0], x[1]);
  case Opcode::v_min:
    return std::min(x[0], x[1]);
  case Opcode::v_and:
    return from_bits(t, bits(t, x[0]) & bits(t, x[1]));
  case Opcode::v_or:
    return from_bits(t, bits(t, x[0]) | bits(t, x[1]));
  case Opcode::v_xor:
    return from_bits(t, bits(t, x[0]) ^ bits(t, x[1]));
  case Opcode::v_cmpeq:
    return x[0] == x[1] ? -1.0 : 0.0;
  case Opcode::v_cmplt:
    return x[0] < x[1] ? -1.0 : 0.0;
  case Opcode::v_cmple:
    return x[0] <= x[1] ? -1.0 : 0.0;
  case Opcode::v_sel:
    return x[0] != 0 ? x[1] : x[2];
  case Opcode::v_cvt:
    return fl ? to_float(t, x[0]) : to_int(t, x[0]);
  case Opcode::v_requant: {
    float scale;
    std::memcpy(&scale, &n.imm, sizeof scale);
    const float p = static_cast<float>(x[0]) * scale; // fp32 product, one rounding
    return fl ? to_float(t, p) : to_int(t, p);
  }
  default:
    return std::numeric_limits<double>::quiet_NaN();
  }
}

double eval(const VExpr& expr, unsigned node, const std::vector<double>& leaves) {
  const VNode& n = expr.nodes[node];
  if (n.kind == VNode::Kind::input) return leaves[n.input];
  // No allocation per node and element: the reference of a large collective evaluates millions.
  std::array<double, 4> x{};
  if (n.args.size() > x.size()) throw std::logic_error("tspc vector: an operation with more than 4 operands");
  for (size_t i = 0; i < n.args.size(); ++i) x[i] = eval(expr, n.args[i], leaves);
  return store(n.dtype, apply_node(n, x.data()));
}

unsigned significand_bits(DType t) { return t == DType::f16 ? 11 : t == DType::bf16 ? 8 : 24; }

} // namespace

std::vector<double> evaluate(const VExpr& expr, const std::vector<std::vector<double>>& inputs,
                             const std::vector<uint32_t>& input_rows, uint32_t rows, uint32_t cols) {
  std::vector<double> out(size_t(rows) * cols);
  std::vector<double> leaves(inputs.size());
  for (uint32_t r = 0; r < rows; ++r)
    for (uint32_t c = 0; c < cols; ++c) {
      for (size_t i = 0; i < inputs.size(); ++i)
        leaves[i] = inputs[i][size_t(input_rows[i] == 1 ? 0 : r) * cols + c];
      out[size_t(r) * cols + c] = eval(expr, expr.root, leaves);
    }
  return out;
}

std::vector<double> expression_tolerances(const VExpr& expr, const std::vector<double>& values) {
  if (!isa::dtype_is_float(expr.nodes[expr.root].dtype)) return std::vector<double>(values.size(), 0.0);
  // Each float operation on the way rounds once in fp32 and once to its type.
  unsigned p = 24;
  for (const VNode& n : expr.nodes)
    if (isa::dtype_is_float(n.dtype)) p = std::min(p, significand_bits(n.dtype));
  const double roundings = double(expr.depth() + 1);
  std::vector<double> out;
  out.reserve(values.size());
  for (double value : values)
    out.push_back(roundings * std::ldexp(std::max(std::fabs(value), 1.0), 1 - int(p)));
  return out;
}

} // namespace tsp::compiler
