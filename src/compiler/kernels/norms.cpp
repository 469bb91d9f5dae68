// Reductions and the kernels built on them: sum and max along a vector (over its lanes, through
// the SXM) and across vectors (over rows, in the VXM), softmax, RMSNorm and LayerNorm. Each
// kernel is a sequence of vector phases (include/tspsim/compiler/vector.h) that hand their
// results to each other through MEM; a phase reads a row as soon as the previous one wrote it.
// Floats are computed in fp32; the result is stored in the input type.
#include "tspsim/common/error.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/lanes.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/vector.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <fmt/format.h>
#include <memory>
#include <optional>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

constexpr unsigned kMaxGroups = 8;

unsigned significand_bits(DType t) { return t == DType::f16 ? 11 : t == DType::bf16 ? 8 : 24; }

// The all-ones bit pattern of an fp32 lane mask (a NaN, but sel only tests for non-zero bits).
std::vector<uint8_t> ones_mask(uint32_t cols) { return std::vector<uint8_t>(size_t(cols) * 4, 0xff); }

// Shared state of a phased kernel: the builder, its tensors and the lane maps.
class Phases {
public:
  // A kernel of its own (with its host reference unless with_reference is false), or (seed
  // unused) phases added to another kernel's builder.
  Phases(const ChipConfig& config, DType dtype, uint32_t rows, uint32_t cols, uint64_t seed,
         bool with_reference)
      : Phases(std::make_unique<ProgramBuilder>(config), dtype, rows, cols, seed) {
    with_reference_ = with_reference;
  }
  Phases(ProgramBuilder& builder, DType dtype, uint32_t rows, uint32_t cols)
      : builder_(builder), dtype_(dtype), rows_(rows), cols_(cols), seed_(0),
        vector_(builder.config().geometry.vector_bytes()), tiles_(cols / vector_ + (cols % vector_ != 0)),
        compute_(isa::dtype_is_float(dtype) ? DType::f32 : DType::i32) {
    if (rows < 1 || cols < 1) throw InputError("rows and cols must be at least 1");
  }

  ProgramBuilder& builder() { return builder_; }
  DType compute() const { return compute_; }
  unsigned tiles() const { return tiles_; }
  uint32_t rows() const { return rows_; }
  uint32_t cols() const { return cols_; }
  bool with_reference() const { return with_reference_; }

  // A random input tensor on one side of the VXM (declared); its values only with the reference.
  TiledTensor& input(const std::string& name, uint32_t rows, bool east, uint64_t seed_offset) {
    const uint64_t seed = seed_ + seed_offset;
    values_.push_back(with_reference_ ? element_values(dtype_, random_tensor(dtype_, rows, cols_, seed))
                                      : std::vector<double>{});
    const unsigned groups = rows == 1 ? 1 : groups_for(dtype_);
    tensors_.push_back(
        place_random(builder_, name, dtype_, rows, cols_, least_used(builder_, east), groups, seed));
    if (rows == 1 && rows_ > 1)
      add_random_copies(builder_, tensors_.back(), least_used(builder_, east), groups_for(dtype_) - 1, seed);
    return tensors_.back();
  }
  const std::vector<double>& values(size_t index) const { return values_.at(index); }

  // A lane mask per column tile: all ones in the tensor's lanes, zero in the padding.
  TiledTensor& mask(bool east) {
    tensors_.push_back(place_tiled(builder_, "", DType::f32, 1, cols_, least_used(builder_, east), 1,
                                   ones_mask(cols_), false));
    if (rows_ > 1) add_copies(builder_, tensors_.back(), least_used(builder_, east), 3, ones_mask(cols_));
    return tensors_.back();
  }

  // A result or an intermediate tensor (one vector per row when `cols` is the vector length).
  TiledTensor& output(const std::string& name, DType dtype, uint32_t rows, uint32_t cols, bool east,
                      bool named) {
    tensors_.push_back(place_tiled(builder_, name, dtype, rows, cols, least_used(builder_, east),
                                   groups_for(dtype), {}, named));
    return tensors_.back();
  }

  const LaneMaps& maps(const std::vector<std::vector<int>>& extra = {}) {
    if (!maps_) maps_.emplace(builder_, true, extra, rows_, tiles_);
    return *maps_;
  }

  // Schedules one phase; if its expression does not fit the chip, nothing is placed and the
  // InputError propagates.
  void phase(const VExpr& expr, const std::vector<const TiledTensor*>& inputs, const TiledTensor& out) {
    const Cycle latency = vector_latency(builder_.schedule(), expr, inputs, out);
    schedule_vectors(builder_.schedule(), expr, inputs, out);
    chain_ += latency;
  }
  // The phases' latencies end to end, and the last superlane's stagger.
  double chain() const {
    const auto& c = builder_.config();
    return double(chain_) + double(last_superlane_stagger(c));
  }

  // A leaf of tile `tile` (-1: the current one) of input `index`, in the compute type.
  unsigned leaf(VExpr& e, unsigned index, DType dtype, int tile = -1, int row = -1) const {
    const unsigned x = e.input(index, dtype, row, tile);
    return dtype == compute_ || dtype == DType::i32 || dtype == DType::f32 ? x : e.cvt(compute_, dtype, x);
  }

  CompiledKernel finish(const std::string& workload, std::vector<ExpectedOutput> outputs,
                        std::vector<Bound> bounds) {
    CompiledKernel kernel;
    kernel.program = builder_.finish(workload);
    kernel.predicted_cycles = kernel.program.metadata.predicted_cycles;
    kernel.outputs = std::move(outputs);
    kernel.bounds = std::move(bounds);
    return kernel;
  }

  // Lower bounds shared by the row kernels: the VXM operations and the MEM traffic.
  std::vector<Bound> bounds(double vxm_ops, double mem_words) const {
    const auto& c = builder_.config();
    return {{"VXM compute", vxm_ops / c.icu.vxm_queues},
            {"MEM bandwidth", mem_words / c.geometry.mem_slices()},
            {"dependency chain", chain()}};
  }

  // Expected rows x cols values of a tiled result.
  ExpectedOutput expected(const TiledTensor& out, unsigned tile, const std::vector<double>& values,
                          const std::vector<double>& tolerance) const {
    std::vector<double> v, tol;
    const Symbol& symbol = out.tiles[tile];
    for (uint32_t r = 0; r < out.rows; ++r)
      for (uint32_t c = 0; c < symbol.cols; ++c) {
        const size_t e = size_t(r) * out.cols + tile * vector_ + c;
        v.push_back(values[e]);
        tol.push_back(tolerance.empty() ? 0 : tolerance[e]);
      }
    return make_expected(symbol.name, out.dtype, std::move(v), std::move(tol));
  }
  // None without the reference.
  std::vector<ExpectedOutput> expected_all(const TiledTensor& out, const std::vector<double>& values,
                                           const std::vector<double>& tolerance) const {
    std::vector<ExpectedOutput> outputs;
    if (!with_reference_) return outputs;
    for (unsigned t = 0; t < out.tile_count(); ++t) outputs.push_back(expected(out, t, values, tolerance));
    return outputs;
  }

private:
  unsigned groups_for(DType dtype) const {
    const unsigned per_side = builder_.config().geometry.mem_slices_per_hemisphere;
    return std::max(1u, std::min({kMaxGroups, per_side / (2 * isa::dtype_bytes(dtype)), rows_}));
  }

  Phases(std::unique_ptr<ProgramBuilder> owned, DType dtype, uint32_t rows, uint32_t cols, uint64_t seed)
      : Phases(*owned, dtype, rows, cols) {
    owned_ = std::move(owned);
    seed_ = seed;
  }

  std::unique_ptr<ProgramBuilder> owned_;
  ProgramBuilder& builder_;
  DType dtype_;
  uint32_t rows_;
  uint32_t cols_;
  uint64_t seed_;
  bool with_reference_ = false;
  unsigned vector_;
  unsigned tiles_;
  DType compute_;
  std::deque<TiledTensor> tensors_;
  std::vector<std::vector<double>> values_;
  std::optional<LaneMaps> maps_;
  Cycle chain_ = 0;
};

unsigned as_compute(VExpr& e, DType from, DType to, unsigned x) {
  return from == to ? x : e.cvt(to, from, x);
}

// How a max treats the padding lanes of a partial last column tile: they take tile 0's values
// (`mask` selects the real lanes) or, with one tile, a fill map repeats the row's lanes.
struct Padding {
  int mask_input = -1;
  int maps_input = -1;
  const LaneMaps* maps = nullptr;
  int fill_row = -1;
};

// op over the column tiles of the current row of input `index` (type `dtype`), in the compute
// type.
unsigned combine_tiles(VExpr& e, const Phases& p, Opcode op, unsigned index, DType dtype,
                       const Padding& pad) {
  const DType ct = p.compute();
  auto tile = [&](unsigned t) { return as_compute(e, dtype, ct, e.input(index, dtype, -1, int(t))); };
  const unsigned last = p.tiles() - 1;
  unsigned acc = 0;
  for (unsigned t = 0; t <= last; ++t) {
    unsigned v = tile(t);
    if (t == last && pad.mask_input >= 0)
      v = e.select(ct, e.input(unsigned(pad.mask_input), DType::f32, 0, int(t)), v, tile(0));
    if (t == last && pad.fill_row >= 0)
      v = e.lane_move(Opcode::permute, ct, v, e.input(unsigned(pad.maps_input), DType::i16, pad.fill_row, 0),
                      pad.maps->sxm());
    // The first tile goes through a mov so that it is read in another cycle than the second.
    acc = t == 0 ? (last > 0 ? e.unary(Opcode::v_mov, ct, v) : v) : e.binary(op, ct, acc, v);
  }
  return acc;
}

double row_reduce(const std::vector<double>& x, uint32_t cols, uint32_t row, bool max) {
  double acc = max ? -INFINITY : 0.0;
  for (uint32_t c = 0; c < cols; ++c) {
    const double v = x[size_t(row) * cols + c];
    acc = max ? std::max(acc, v) : acc + v;
  }
  return acc;
}

// Fill map of a one-tile row of `cols` lanes: lane i takes lane i mod cols.
std::vector<int> fill_map(uint32_t cols, unsigned lanes) {
  std::vector<int> map(lanes);
  for (unsigned i = 0; i < lanes; ++i) map[i] = static_cast<int>(i % cols);
  return map;
}

} // namespace

CompiledKernel compile_reduce(const ChipConfig& config, const ReduceShape& shape) {
  const bool max = shape.op == "max";
  if (!max && shape.op != "sum")
    throw InputError(fmt::format("reduce: --op must be sum or max, not '{}'", shape.op));
  if (!max && (shape.dtype == DType::i32))
    throw InputError("reduce: a sum of int32 can overflow its int32 result; sum int8 or int16");
  require_mem(config, "reduce",
              {{"X", shape.dtype, shape.rows, shape.cols},
               {"R", isa::dtype_is_float(shape.dtype) ? DType::f32 : DType::i32, shape.lanes ? shape.rows : 1,
                shape.lanes ? 1 : shape.cols}});
  Phases p(config, shape.dtype, shape.rows, shape.cols, shape.seed, shape.with_reference);
  const DType ct = p.compute();
  const unsigned vector = config.geometry.vector_bytes();
  const auto& xv = p.input("X", shape.rows, false, 0);
  const auto& x = p.values(0);
  const Opcode op = max ? Opcode::v_max : Opcode::v_add;
  VExpr e;
  std::vector<double> reference;
  std::vector<double> tolerance;
  const TiledTensor* out = nullptr;
  if (shape.lanes) {
    const bool partial = shape.cols % vector != 0;
    Padding pad;
    std::vector<std::vector<int>> extra;
    if (max && partial && p.tiles() == 1) extra.push_back(fill_map(shape.cols, vector));
    const LaneMaps& maps = p.maps(extra);
    std::vector<const TiledTensor*> inputs{&xv, &maps.identity(), &maps.rotations()};
    if (max && partial && p.tiles() > 1) {
      pad.mask_input = 3;
      inputs.push_back(&p.mask(true));
    } else if (!extra.empty()) {
      pad.maps_input = 2;
      pad.maps = &maps;
      pad.fill_row = static_cast<int>(maps.extra_row(0));
    }
    lane_allreduce(
        e, op, ct, [&] { return combine_tiles(e, p, op, 0, shape.dtype, pad); }, maps, 1, vector);
    out = &p.output("R", ct, shape.rows, 1, true, true);
    p.phase(e, inputs, *out);
    if (p.with_reference())
      for (uint32_t r = 0; r < shape.rows; ++r) {
        reference.push_back(row_reduce(x, shape.cols, r, max));
        double magnitude = 0;
        for (uint32_t c = 0; c < shape.cols; ++c) magnitude += std::fabs(x[size_t(r) * shape.cols + c]);
        tolerance.push_back(max || ct != DType::f32 ? 0 : 24.0 * std::ldexp(magnitude, -24));
      }
  } else {
    // Chains over rows r = c, c + C, ... (one slice group each), then a tree.
    // Each chain issues an op (and a conversion) per step and the chains share the VXM's ALUs;
    // chain c reads the rows of slice groups c, c + C, ..., so C divides the groups.
    const unsigned per_step = shape.dtype == ct ? 1 : 2;
    const unsigned groups = static_cast<unsigned>(xv.tiles[0].slices.size()) / isa::dtype_bytes(shape.dtype);
    unsigned chains = std::min({groups, shape.rows, std::max(1u, (config.icu.vxm_queues - 1) / per_step)});
    while (groups % chains != 0) --chains;
    out = &p.output("R", ct, 1, shape.cols, true, true);
    // The first `rows` rows over `chains` chains, then a tree.
    const auto chain_expr = [&](unsigned chains, uint32_t rows) {
      VExpr chained;
      std::vector<unsigned> heads;
      for (unsigned c = 0; c < chains; ++c) {
        unsigned acc = as_compute(chained, shape.dtype, ct, chained.input(0, shape.dtype, int(c)));
        // A mov puts the chain's second row, in the same slices, one read later than its first.
        if (c + chains < rows) acc = chained.unary(Opcode::v_mov, ct, acc);
        for (uint32_t r = c + chains; r < rows; r += chains)
          acc = chained.binary(op, ct, acc,
                               as_compute(chained, shape.dtype, ct, chained.input(0, shape.dtype, int(r))));
        heads.push_back(acc);
      }
      while (heads.size() > 1) {
        std::vector<unsigned> next;
        for (size_t i = 0; i + 1 < heads.size(); i += 2)
          next.push_back(chained.binary(op, ct, heads[i], heads[i + 1]));
        if (heads.size() % 2) next.push_back(heads.back());
        heads = next;
      }
      if (chained.nodes[heads[0]].kind == VNode::Kind::input) chained.unary(Opcode::v_mov, ct, heads[0]);
      return chained;
    };
    // Whether the chains' first 16, 32, 64, ... steps fit an empty chip, each prefix with the
    // chains' lengths differing as in the whole (the remainder of rows over chains kept), so its
    // reads keep their relative cycles. Reads that collide on an empty chip collide wherever the
    // root goes: a chain count whose prefix does not fit never will, and finding that out on all
    // the rows costs every root cycle and leaf delay tried over the whole expression (int32 max
    // over 4,000 rows: 45 s of a 46 s compile; the collision shows from the 6th step).
    const auto prefixes_fit = [&](unsigned chains) {
      for (uint32_t steps = 16; uint64_t{steps} * chains + shape.rows % chains < shape.rows; steps *= 2) {
        Schedule empty = p.builder().schedule().empty_like();
        try {
          schedule_vectors(empty, chain_expr(chains, steps * chains + shape.rows % chains), {&xv}, *out);
        } catch (const InputError&) {
          return false;
        }
      }
      return true;
    };
    // Fewer chains need fewer streams at the VXM in each cycle: when an expression does not fit,
    // the next smaller divisor of the groups is tried.
    for (;;) {
      try {
        if (chains == 1 || prefixes_fit(chains)) {
          e = chain_expr(chains, shape.rows);
          p.phase(e, {&xv}, *out);
          break;
        }
      } catch (const InputError&) {
        if (chains == 1) throw;
      }
      do {
        --chains;
      } while (groups % chains != 0);
    }
    if (p.with_reference())
      for (uint32_t c = 0; c < shape.cols; ++c) {
        double acc = max ? -INFINITY : 0.0, magnitude = 0;
        for (uint32_t r = 0; r < shape.rows; ++r) {
          const double v = x[size_t(r) * shape.cols + c];
          acc = max ? std::max(acc, v) : acc + v;
          magnitude += std::fabs(v);
        }
        reference.push_back(acc);
        tolerance.push_back(max || ct != DType::f32 ? 0 : double(shape.rows) * std::ldexp(magnitude, -24));
      }
  }
  const double vectors = double(shape.rows) * p.tiles();
  auto bounds = p.bounds(vectors, vectors * isa::dtype_bytes(shape.dtype));
  return p.finish(fmt::format("reduce {} over {} {}x{} {}", shape.op, shape.lanes ? "lanes" : "rows",
                              shape.rows, shape.cols, isa::dtype_name(shape.dtype)),
                  p.expected_all(*out, reference, tolerance), std::move(bounds));
}

namespace {

void require_float(const std::string& kernel, DType dtype) {
  if (!isa::dtype_is_float(dtype))
    throw InputError(fmt::format("{}: takes fp16, bf16 or fp32, not {}", kernel, isa::dtype_name(dtype)));
}

// eps keeps the rsqrt of the mean square or variance finite; a negative or NaN one has no meaning
// (it makes NaNs of ordinary rows). eps = 0 is the unregularised norm: a row of zero mean square
// or variance then gives infinities or NaNs, which the reference checks exactly.
void require_eps(const std::string& kernel, float eps) {
  if (!std::isfinite(eps) || eps < 0)
    throw InputError(fmt::format("{}: --eps must be finite and at least 0, not {}", kernel, eps));
}

// Rounding of the result type plus fp32 arithmetic on the way.
double float_tolerance(DType dtype, double value) {
  return std::ldexp(std::fabs(value), 1 - int(significand_bits(dtype))) +
         std::ldexp(std::fabs(value) + 1, -16);
}

// Leaves of the current row's tile t of input `index`: the element in fp32, and its square.
unsigned f32_tile(VExpr& e, unsigned index, DType dtype, int tile = -1) {
  return as_compute(e, dtype, DType::f32, e.input(index, dtype, -1, tile));
}

} // namespace

double schedule_softmax(ProgramBuilder& builder, const TiledTensor& x, float scale, const TiledTensor& y) {
  Phases p(builder, x.dtype, x.rows, x.cols);
  const unsigned vector = builder.config().geometry.vector_bytes();
  const bool partial = x.cols % vector != 0;
  std::vector<std::vector<int>> extra;
  if (partial && p.tiles() == 1) extra.push_back(fill_map(x.cols, vector));
  const LaneMaps& maps = p.maps(extra);
  const TiledTensor* mask = partial ? &p.mask(true) : nullptr;

  // M = max over the row (every lane).
  Padding pad;
  std::vector<const TiledTensor*> in_max{&x, &maps.identity(), &maps.rotations()};
  if (partial && p.tiles() > 1) {
    pad.mask_input = 3;
    in_max.push_back(mask);
  } else if (partial) {
    pad.maps_input = 2;
    pad.maps = &maps;
    pad.fill_row = static_cast<int>(maps.extra_row(0));
  }
  VExpr max_expr;
  lane_allreduce(
      max_expr, Opcode::v_max, DType::f32,
      [&] { return combine_tiles(max_expr, p, Opcode::v_max, 0, x.dtype, pad); }, maps, 1, vector);
  const auto& m = p.output("softmax.max", DType::f32, x.rows, vector, true, false);
  p.phase(max_expr, in_max, m);

  // E = exp(scale (x - M)), zero in the padding lanes.
  VExpr exp_expr;
  // The mov reads M a cycle before x, in case they share slices.
  unsigned diff =
      exp_expr.binary(Opcode::v_sub, DType::f32, f32_tile(exp_expr, 0, x.dtype),
                      exp_expr.unary(Opcode::v_mov, DType::f32, exp_expr.input(1, DType::f32, -1, 0)));
  if (scale != 1.0f)
    diff = exp_expr.binary(Opcode::v_mul, DType::f32, diff, exp_expr.splat(DType::f32, scale));
  const unsigned ex = exp_expr.unary(Opcode::v_exp, DType::f32, diff);
  std::vector<const TiledTensor*> in_exp{&x, &m};
  if (mask) {
    exp_expr.select(DType::f32, exp_expr.input(2, DType::f32, 0), ex, exp_expr.splat(DType::f32, 0));
    in_exp.push_back(mask);
  }
  const auto& ev = p.output("softmax.exp", DType::f32, x.rows, x.cols, false, false);
  p.phase(exp_expr, in_exp, ev);

  // S = sum of E over the row; Y = E / S.
  VExpr sum_expr;
  lane_allreduce(
      sum_expr, Opcode::v_add, DType::f32,
      [&] { return combine_tiles(sum_expr, p, Opcode::v_add, 0, DType::f32, {}); }, maps, 1, vector);
  const auto& sv = p.output("softmax.sum", DType::f32, x.rows, vector, true, false);
  p.phase(sum_expr, {&ev, &maps.identity(), &maps.rotations()}, sv);

  VExpr out_expr;
  const unsigned ratio =
      out_expr.binary(Opcode::v_mul, DType::f32, out_expr.input(0, DType::f32),
                      out_expr.unary(Opcode::v_recip, DType::f32, out_expr.input(1, DType::f32, -1, 0)));
  if (y.dtype != DType::f32) out_expr.cvt(y.dtype, DType::f32, ratio);
  p.phase(out_expr, {&ev, &sv}, y);
  return p.chain();
}

CompiledKernel compile_softmax(const ChipConfig& config, const NormShape& shape) {
  require_float("softmax", shape.dtype);
  require_mem(config, "softmax",
              {{"X", shape.dtype, shape.rows, shape.cols},
               {"softmax.exp", DType::f32, shape.rows, shape.cols},
               {"Y", shape.dtype, shape.rows, shape.cols}});
  Phases p(config, shape.dtype, shape.rows, shape.cols, shape.seed, shape.with_reference);
  const auto& x = p.input("X", shape.rows, false, 0);
  const auto& y = p.output("Y", shape.dtype, shape.rows, shape.cols, false, true);
  const double chain = schedule_softmax(p.builder(), x, 1.0f, y);

  const auto& xs = p.values(0);
  std::vector<double> reference(xs.size()), tolerance(xs.size());
  if (p.with_reference())
    for (uint32_t r = 0; r < shape.rows; ++r) {
      const double mx = row_reduce(xs, shape.cols, r, true);
      double sum = 0;
      for (uint32_t c = 0; c < shape.cols; ++c) sum += std::exp(xs[size_t(r) * shape.cols + c] - mx);
      for (uint32_t c = 0; c < shape.cols; ++c) {
        const size_t e = size_t(r) * shape.cols + c;
        reference[e] = std::exp(xs[e] - mx) / sum;
        tolerance[e] = float_tolerance(shape.dtype, reference[e]);
      }
    }
  const double vectors = double(shape.rows) * p.tiles();
  auto bounds = p.bounds(vectors * 4, vectors * (isa::dtype_bytes(shape.dtype) + 12));
  bounds.back().cycles = chain;
  return p.finish(fmt::format("softmax {}x{} {}", shape.rows, shape.cols, isa::dtype_name(shape.dtype)),
                  p.expected_all(y, reference, tolerance), std::move(bounds));
}

double schedule_rmsnorm(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& g, float eps,
                        const TiledTensor& y) {
  Phases p(builder, x.dtype, x.rows, x.cols);
  const unsigned vector = builder.config().geometry.vector_bytes();
  const LaneMaps& maps = p.maps();

  // SS = sum of x^2 over the row.
  VExpr ss_expr;
  lane_allreduce(
      ss_expr, Opcode::v_add, DType::f32,
      [&] {
        unsigned acc = 0;
        for (unsigned t = 0; t < p.tiles(); ++t) {
          const unsigned sq = ss_expr.binary(Opcode::v_mul, DType::f32, f32_tile(ss_expr, 0, x.dtype, int(t)),
                                             f32_tile(ss_expr, 0, x.dtype, int(t)));
          acc = t == 0 ? sq : ss_expr.binary(Opcode::v_add, DType::f32, acc, sq);
        }
        return acc;
      },
      maps, 1, vector);
  const auto& ss = p.output("rmsnorm.sumsq", DType::f32, x.rows, vector, true, false);
  p.phase(ss_expr, {&x, &maps.identity(), &maps.rotations()}, ss);

  // Y = x * rsqrt(SS / n + eps) * g.
  VExpr y_expr;
  const unsigned mean = y_expr.binary(Opcode::v_mul, DType::f32, y_expr.input(1, DType::f32, -1, 0),
                                      y_expr.splat(DType::f32, 1.0 / x.cols));
  const unsigned inv =
      y_expr.unary(Opcode::v_rsqrt, DType::f32,
                   y_expr.binary(Opcode::v_add, DType::f32, mean, y_expr.splat(DType::f32, eps)));
  const unsigned scaled = y_expr.binary(Opcode::v_mul, DType::f32, f32_tile(y_expr, 0, x.dtype), inv);
  const unsigned out = y_expr.binary(Opcode::v_mul, DType::f32, scaled, f32_tile(y_expr, 2, g.dtype));
  if (y.dtype != DType::f32) y_expr.cvt(y.dtype, DType::f32, out);
  p.phase(y_expr, {&x, &ss, &g}, y);
  return p.chain();
}

CompiledKernel compile_rmsnorm(const ChipConfig& config, const NormShape& shape) {
  require_float("rmsnorm", shape.dtype);
  require_eps("rmsnorm", shape.eps);
  require_mem(config, "rmsnorm",
              {{"X", shape.dtype, shape.rows, shape.cols},
               {"G", shape.dtype, 1, shape.cols},
               {"Y", shape.dtype, shape.rows, shape.cols}});
  Phases p(config, shape.dtype, shape.rows, shape.cols, shape.seed, shape.with_reference);
  const auto& x = p.input("X", shape.rows, false, 0);
  const auto& g = p.input("G", 1, true, 1);
  const auto& y = p.output("Y", shape.dtype, shape.rows, shape.cols, false, true);
  const double chain = schedule_rmsnorm(p.builder(), x, g, shape.eps, y);

  const auto& xs = p.values(0);
  const auto& gs = p.values(1);
  std::vector<double> reference(xs.size()), tolerance(xs.size());
  if (p.with_reference())
    for (uint32_t r = 0; r < shape.rows; ++r) {
      double sum = 0;
      for (uint32_t c = 0; c < shape.cols; ++c)
        sum += xs[size_t(r) * shape.cols + c] * xs[size_t(r) * shape.cols + c];
      const double inv_rms = 1.0 / std::sqrt(sum / shape.cols + double(static_cast<float>(shape.eps)));
      for (uint32_t c = 0; c < shape.cols; ++c) {
        const size_t e = size_t(r) * shape.cols + c;
        reference[e] = xs[e] * inv_rms * gs[c];
        tolerance[e] = float_tolerance(shape.dtype, reference[e]);
      }
    }
  const double vectors = double(shape.rows) * p.tiles();
  auto bounds = p.bounds(vectors * 6, vectors * (3 * isa::dtype_bytes(shape.dtype)));
  bounds.back().cycles = chain;
  return p.finish(fmt::format("rmsnorm {}x{} {}", shape.rows, shape.cols, isa::dtype_name(shape.dtype)),
                  p.expected_all(y, reference, tolerance), std::move(bounds));
}

CompiledKernel compile_layernorm(const ChipConfig& config, const NormShape& shape) {
  require_float("layernorm", shape.dtype);
  require_eps("layernorm", shape.eps);
  require_mem(config, "layernorm",
              {{"X", shape.dtype, shape.rows, shape.cols},
               {"G", shape.dtype, 1, shape.cols},
               {"B", shape.dtype, 1, shape.cols},
               {"Y", shape.dtype, shape.rows, shape.cols}});
  Phases p(config, shape.dtype, shape.rows, shape.cols, shape.seed, shape.with_reference);
  const unsigned vector = config.geometry.vector_bytes();
  const bool partial = shape.cols % vector != 0;
  const auto& x = p.input("X", shape.rows, false, 0);
  const auto& g = p.input("G", 1, true, 1);
  const auto& b = p.input("B", 1, true, 2);
  const LaneMaps& maps = p.maps();
  const TiledTensor* mask = partial ? &p.mask(true) : nullptr;

  // MU = sum(x) / n.
  VExpr mu_expr;
  const unsigned total = lane_allreduce(
      mu_expr, Opcode::v_add, DType::f32,
      [&] { return combine_tiles(mu_expr, p, Opcode::v_add, 0, shape.dtype, {}); }, maps, 1, vector);
  mu_expr.binary(Opcode::v_mul, DType::f32, total, mu_expr.splat(DType::f32, 1.0 / shape.cols));
  const auto& mu = p.output("layernorm.mean", DType::f32, shape.rows, vector, true, false);
  p.phase(mu_expr, {&x, &maps.identity(), &maps.rotations()}, mu);

  // VAR = sum((x - MU)^2) / n over the real lanes.
  VExpr var_expr;
  unsigned mu_index = 3;
  auto centred = [&](VExpr& e, int tile) {
    return e.binary(Opcode::v_sub, DType::f32, f32_tile(e, 0, shape.dtype, tile),
                    e.input(mu_index, DType::f32, -1, 0));
  };
  const unsigned squares = lane_allreduce(
      var_expr, Opcode::v_add, DType::f32,
      [&] {
        unsigned acc = 0;
        for (unsigned t = 0; t < p.tiles(); ++t) {
          unsigned sq = var_expr.binary(Opcode::v_mul, DType::f32, centred(var_expr, int(t)),
                                        centred(var_expr, int(t)));
          if (mask && t + 1 == p.tiles())
            sq = var_expr.select(DType::f32, var_expr.input(4, DType::f32, 0, int(t)), sq,
                                 var_expr.splat(DType::f32, 0));
          acc = t == 0 ? sq : var_expr.binary(Opcode::v_add, DType::f32, acc, sq);
        }
        return acc;
      },
      maps, 1, vector);
  var_expr.binary(Opcode::v_mul, DType::f32, squares, var_expr.splat(DType::f32, 1.0 / shape.cols));
  const auto& var = p.output("layernorm.var", DType::f32, shape.rows, vector, false, false);
  std::vector<const TiledTensor*> in_var{&x, &maps.identity(), &maps.rotations(), &mu};
  if (mask) in_var.push_back(mask);
  p.phase(var_expr, in_var, var);

  // Y = (x - MU) * rsqrt(VAR + eps) * g + b.
  mu_index = 2;
  VExpr y_expr;
  const unsigned inv =
      y_expr.unary(Opcode::v_rsqrt, DType::f32,
                   y_expr.binary(Opcode::v_add, DType::f32, y_expr.input(3, DType::f32, -1, 0),
                                 y_expr.splat(DType::f32, shape.eps)));
  const unsigned normed = y_expr.binary(Opcode::v_mul, DType::f32, centred(y_expr, -1), inv);
  const unsigned out =
      y_expr.binary(Opcode::v_add, DType::f32,
                    y_expr.binary(Opcode::v_mul, DType::f32, normed, f32_tile(y_expr, 1, shape.dtype)),
                    f32_tile(y_expr, 4, shape.dtype));
  if (shape.dtype != DType::f32) y_expr.cvt(shape.dtype, DType::f32, out);
  const auto& y = p.output("Y", shape.dtype, shape.rows, shape.cols, false, true);
  p.phase(y_expr, {&x, &g, &mu, &var, &b}, y);

  const auto& xs = p.values(0);
  const auto& gs = p.values(1);
  const auto& bs = p.values(2);
  std::vector<double> reference(xs.size()), tolerance(xs.size());
  if (p.with_reference())
    for (uint32_t r = 0; r < shape.rows; ++r) {
      const double mean = row_reduce(xs, shape.cols, r, false) / shape.cols;
      double sq = 0;
      for (uint32_t c = 0; c < shape.cols; ++c) sq += std::pow(xs[size_t(r) * shape.cols + c] - mean, 2);
      const double inv_sd = 1.0 / std::sqrt(sq / shape.cols + double(static_cast<float>(shape.eps)));
      for (uint32_t c = 0; c < shape.cols; ++c) {
        const size_t e = size_t(r) * shape.cols + c;
        reference[e] = (xs[e] - mean) * inv_sd * gs[c] + bs[c];
        tolerance[e] =
            float_tolerance(shape.dtype, reference[e]) + std::ldexp(std::fabs(gs[c]) * inv_sd, -18);
      }
    }
  const double vectors = double(shape.rows) * p.tiles();
  auto bounds = p.bounds(vectors * 12, vectors * (4 * isa::dtype_bytes(shape.dtype)));
  return p.finish(fmt::format("layernorm {}x{} {}", shape.rows, shape.cols, isa::dtype_name(shape.dtype)),
                  p.expected_all(y, reference, tolerance), std::move(bounds));
}

} // namespace tsp::compiler
