// Lane-wise kernels on the VXM: unary and binary operations with row broadcast, type conversion,
// requantisation and the residual add (include/tspsim/compiler/kernels.h).
#include "tspsim/common/error.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/vector.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <fmt/format.h>
#include <map>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

// Reads per cycle each operand aims for: one slice group per row in flight.
constexpr unsigned kMaxGroups = 8;

std::vector<ExpectedOutput> tile_outputs(const TiledTensor& out, const std::vector<double>& values,
                                         const std::vector<double>& tolerance, unsigned vector) {
  std::vector<ExpectedOutput> outputs;
  for (unsigned t = 0; t < out.tile_count(); ++t) {
    const Symbol& symbol = out.tiles[t];
    std::vector<double> v, tol;
    for (uint32_t r = 0; r < out.rows; ++r)
      for (uint32_t c = 0; c < symbol.cols; ++c) {
        v.push_back(values[size_t(r) * out.cols + t * vector + c]);
        tol.push_back(tolerance[size_t(r) * out.cols + t * vector + c]);
      }
    outputs.push_back(make_expected(symbol.name, out.dtype, std::move(v), std::move(tol)));
  }
  return outputs;
}

} // namespace

// Operands alternate between the west and east slices, the result goes to the side opposite the
// first operand; a broadcast row gets a copy per group of the first operand so that every row in
// flight can read it.
CompiledKernel compile_expression(const ChipConfig& config, const std::string& workload, const VExpr& expr,
                                  const std::vector<ExpressionOperand>& operands, uint32_t rows,
                                  uint32_t cols, uint64_t seed, bool with_reference,
                                  const ReferenceFn& reference_fn) {
  if (rows < 1 || cols < 1) throw InputError(fmt::format("{}: rows and cols must be at least 1", workload));
  const DType out_dtype = expr.nodes[expr.root].dtype;
  std::vector<TensorSize> sizes;
  for (const auto& op : operands)
    sizes.push_back({op.name.empty() ? "lane map" : op.name, op.dtype, op.rows, cols});
  sizes.push_back({"C", out_dtype, rows, cols});
  require_mem(config, workload.substr(0, workload.find(' ')), sizes);
  ProgramBuilder builder(config);
  Schedule& schedule = builder.schedule();
  const bool out_east = operands.size() < 2;
  std::map<bool, unsigned> on_side{{false, 0}, {true, 0}};
  for (size_t i = 0; i < operands.size(); ++i) on_side[i % 2 == 1] += isa::dtype_bytes(operands[i].dtype);
  on_side[out_east] += isa::dtype_bytes(out_dtype);
  const unsigned per_side = config.geometry.mem_slices_per_hemisphere;

  std::vector<TiledTensor> inputs;
  std::vector<std::vector<double>> values;
  std::vector<uint32_t> input_rows;
  unsigned first_groups = 1;
  std::map<bool, unsigned> used{{false, 0}, {true, 0}};
  auto candidates = [&](bool east) {
    auto mems = side_slices(schedule, east);
    std::rotate(mems.begin(), mems.begin() + (used[east] % mems.size()), mems.end());
    return mems;
  };
  for (size_t i = 0; i < operands.size(); ++i) {
    const ExpressionOperand& op = operands[i];
    const bool east = i % 2 == 1;
    const unsigned bytes = isa::dtype_bytes(op.dtype);
    const unsigned groups = std::max(1u, std::min(kMaxGroups, per_side / std::max(1u, on_side[east])));
    const bool random = op.elements.empty();
    const unsigned op_groups = op.rows == 1 ? 1 : groups;
    inputs.push_back(random ? place_random(builder, op.name, op.dtype, op.rows, cols, candidates(east),
                                           op_groups, seed + i)
                            : place_tiled(builder, op.name, op.dtype, op.rows, cols, candidates(east),
                                          op_groups, op.elements));
    used[east] += op_groups * bytes;
    if (i == 0) first_groups = std::min(groups, rows);
    if (op.rows == 1 && rows > 1 && first_groups > 1) {
      if (random)
        add_random_copies(builder, inputs.back(), candidates(east), first_groups - 1, seed + i);
      else
        add_copies(builder, inputs.back(), candidates(east), first_groups - 1, op.elements);
      used[east] += (first_groups - 1) * bytes;
    }
    if (with_reference)
      values.push_back(
          element_values(op.dtype, random ? random_tensor(op.dtype, op.rows, cols, seed + i) : op.elements));
    input_rows.push_back(op.rows);
  }
  const unsigned out_groups = std::max(1u, std::min(kMaxGroups, per_side / std::max(1u, on_side[out_east])));
  const TiledTensor out =
      place_tiled(builder, "C", out_dtype, rows, cols, candidates(out_east), out_groups, {});

  std::vector<const TiledTensor*> pointers;
  for (const auto& t : inputs) pointers.push_back(&t);
  const Cycle chain = vector_latency(schedule, expr, pointers, out);
  schedule_vectors(schedule, expr, pointers, out);

  CompiledKernel kernel;
  kernel.program = builder.finish(workload);
  kernel.predicted_cycles = kernel.program.metadata.predicted_cycles;
  if (with_reference) {
    const auto reference =
        reference_fn ? reference_fn(values) : evaluate(expr, values, input_rows, rows, cols);
    kernel.outputs =
        tile_outputs(out, reference, expression_tolerances(expr, reference), config.geometry.vector_bytes());
  }

  const double vectors = double(rows) * out.tile_count();
  double in_words = 0;
  for (const auto& op : operands) in_words += isa::dtype_bytes(op.dtype);
  const double out_words = isa::dtype_bytes(out_dtype);
  kernel.bounds = {
      {"VXM compute", vectors * double(expr.op_count()) / config.icu.vxm_queues},
      {"MEM bandwidth", vectors * (in_words + out_words) / config.geometry.mem_slices()},
      {"stream bandwidth", vectors * in_words / (2.0 * config.streams.per_direction)},
      {"dependency chain", double(chain) + double(last_superlane_stagger(config))},
  };
  return kernel;
}

namespace {

const std::map<std::string, Opcode> kUnary{
    {"mov", Opcode::v_mov},   {"neg", Opcode::v_neg}, {"abs", Opcode::v_abs},     {"relu", Opcode::v_relu},
    {"tanh", Opcode::v_tanh}, {"exp", Opcode::v_exp}, {"rsqrt", Opcode::v_rsqrt}, {"recip", Opcode::v_recip}};
const std::map<std::string, Opcode> kBinary{
    {"add", Opcode::v_add}, {"sub", Opcode::v_sub}, {"mul", Opcode::v_mul}, {"max", Opcode::v_max},
    {"min", Opcode::v_min}, {"and", Opcode::v_and}, {"or", Opcode::v_or},   {"xor", Opcode::v_xor}};

bool is_float_only(Opcode op) {
  return op == Opcode::v_tanh || op == Opcode::v_exp || op == Opcode::v_rsqrt || op == Opcode::v_recip;
}
bool is_bitwise(Opcode op) { return op == Opcode::v_and || op == Opcode::v_or || op == Opcode::v_xor; }

} // namespace

CompiledKernel compile_elementwise(const ChipConfig& config, const ElementwiseShape& shape) {
  VExpr expr;
  std::vector<ExpressionOperand> operands{{"A", shape.dtype, shape.rows, {}}};
  const auto workload =
      fmt::format("elementwise {} {}x{} {}{}", shape.op, shape.rows, shape.cols, isa::dtype_name(shape.dtype),
                  shape.broadcast ? " (B broadcast over rows)" : "");
  if (const auto u = kUnary.find(shape.op); u != kUnary.end()) {
    if (is_float_only(u->second) && !isa::dtype_is_float(shape.dtype))
      throw InputError(
          fmt::format("elementwise: {} takes a float type, not {}", shape.op, isa::dtype_name(shape.dtype)));
    if (shape.broadcast)
      throw InputError(fmt::format("elementwise: {} is unary; --broadcast needs a binary op", shape.op));
    expr.unary(u->second, shape.dtype, expr.input(0, shape.dtype));
  } else if (const auto b = kBinary.find(shape.op); b != kBinary.end()) {
    if (is_bitwise(b->second) && isa::dtype_is_float(shape.dtype))
      throw InputError(fmt::format("elementwise: {} takes an integer type, not {}", shape.op,
                                   isa::dtype_name(shape.dtype)));
    operands.push_back({"B", shape.dtype, shape.broadcast ? 1u : shape.rows, {}});
    const unsigned a = expr.input(0, shape.dtype);
    expr.binary(b->second, shape.dtype, a, expr.input(1, shape.dtype));
  } else {
    std::string names;
    for (const auto& [name, op] : kUnary) names += " " + name;
    for (const auto& [name, op] : kBinary) names += " " + name;
    throw InputError(fmt::format("elementwise: unknown op '{}' (one of{})", shape.op, names));
  }
  return compile_expression(config, workload, expr, operands, shape.rows, shape.cols, shape.seed,
                            shape.with_reference);
}

CompiledKernel compile_convert(const ChipConfig& config, const ConvertShape& shape) {
  VExpr expr;
  expr.cvt(shape.to, shape.from, expr.input(0, shape.from));
  return compile_expression(config,
                            fmt::format("convert {}x{} {} to {}", shape.rows, shape.cols,
                                        isa::dtype_name(shape.from), isa::dtype_name(shape.to)),
                            expr, {{"A", shape.from, shape.rows, {}}}, shape.rows, shape.cols, shape.seed,
                            shape.with_reference);
}

CompiledKernel compile_requant(const ChipConfig& config, const RequantShape& shape) {
  if (isa::dtype_is_float(shape.from) || isa::dtype_is_float(shape.to))
    throw InputError("requant: takes integer types (int32 to int8 by default)");
  VExpr expr;
  expr.requant(shape.to, shape.from, shape.scale, expr.input(0, shape.from));
  return compile_expression(config,
                            fmt::format("requant {}x{} {} to {} scale {}", shape.rows, shape.cols,
                                        isa::dtype_name(shape.from), isa::dtype_name(shape.to), shape.scale),
                            expr, {{"A", shape.from, shape.rows, {}}}, shape.rows, shape.cols, shape.seed,
                            shape.with_reference);
}

CompiledKernel compile_residual(const ChipConfig& config, const ResidualShape& shape) {
  VExpr expr;
  const unsigned x = expr.input(0, shape.dtype);
  expr.binary(Opcode::v_add, shape.dtype, x, expr.input(1, shape.dtype));
  return compile_expression(
      config, fmt::format("residual {}x{} {}", shape.rows, shape.cols, isa::dtype_name(shape.dtype)), expr,
      {{"X", shape.dtype, shape.rows, {}}, {"R", shape.dtype, shape.rows, {}}}, shape.rows, shape.cols,
      shape.seed, shape.with_reference);
}

} // namespace tsp::compiler
