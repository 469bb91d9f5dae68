// One greedy decode step of a Llama-style model (include/tspsim/compiler/llama.h, docs/llama.md).
// Every value is one row; projections are int8 GEMVs (W8A8: the input quantised per vector, the
// int32 result rescaled in fp32), the rest lane-wise VXM phases. Each phase writes a tensor of its
// own, so a phase only waits for the writes it reads (read-after-write through the schedule) and
// the MXM loads the next GEMV's weights while the VXM still works on the previous result.
#include "tspsim/compiler/llama.h"

#include "tspsim/common/error.h"
#include "tspsim/compiler/placement.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/vector.h"
#include "tspsim/model/reference.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <optional>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

// Permute map lanes that take nothing (the SXM writes zero there).
constexpr int kNoLane = 0x7fff;

unsigned to_f32(VExpr& e, DType dtype, unsigned x) {
  return dtype == DType::f32 ? x : e.cvt(DType::f32, dtype, x);
}

unsigned store_as(VExpr& e, DType dtype, unsigned x) {
  return dtype == DType::f32 ? x : e.cvt(dtype, DType::f32, x);
}

// op (fp32) over `tiles` column tiles, tile t the node `tile_value(t)` builds.
unsigned over_tiles(VExpr& e, Opcode op, unsigned tiles,
                    const std::function<unsigned(unsigned)>& tile_value) {
  unsigned acc = tile_value(0);
  for (unsigned t = 1; t < tiles; ++t) acc = e.binary(op, DType::f32, acc, tile_value(t));
  return acc;
}

unsigned sxm_west(ProgramBuilder& builder) { return *builder.schedule().floorplan().find_slice("SXM_W"); }

} // namespace

void schedule_quantize(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& x,
                       const TiledTensor& amax, const TiledTensor& q) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  VExpr max_expr;
  lane_allreduce(
      max_expr, Opcode::v_max, DType::f32,
      [&] {
        return over_tiles(max_expr, Opcode::v_max, x.tile_count(), [&](unsigned t) {
          return max_expr.unary(Opcode::v_abs, DType::f32,
                                to_f32(max_expr, x.dtype, max_expr.input(0, x.dtype, -1, int(t))));
        });
      },
      maps, 1, lanes);
  schedule_vectors(builder.schedule(), max_expr, {&x, &maps.identity(), &maps.rotations()}, amax);

  VExpr q_expr;
  const unsigned inverse =
      q_expr.binary(Opcode::v_mul, DType::f32,
                    q_expr.unary(Opcode::v_recip, DType::f32, q_expr.input(1, DType::f32, -1, 0)),
                    q_expr.splat(DType::f32, 127.0));
  q_expr.cvt(
      DType::i8, DType::f32,
      q_expr.binary(Opcode::v_mul, DType::f32, to_f32(q_expr, x.dtype, q_expr.input(0, x.dtype)), inverse));
  schedule_vectors(builder.schedule(), q_expr, {&x, &amax}, q);
}

void schedule_dequantize(ProgramBuilder& builder, const TiledTensor& c, const TiledTensor& scale,
                         const TiledTensor& amax, const TiledTensor* residual, const TiledTensor& y) {
  VExpr e;
  const unsigned sx =
      e.binary(Opcode::v_mul, DType::f32, e.input(2, DType::f32, -1, 0), e.splat(DType::f32, 1.0 / 127.0));
  const unsigned scaled =
      e.binary(Opcode::v_mul, DType::f32, e.cvt(DType::f32, DType::i32, e.input(0, DType::i32)),
               e.input(1, DType::f32));
  const unsigned value = e.binary(Opcode::v_mul, DType::f32, scaled, sx);
  std::vector<const TiledTensor*> inputs{&c, &scale, &amax};
  if (!residual) {
    store_as(e, y.dtype, value);
  } else {
    const DType rt = residual->dtype;
    e.binary(Opcode::v_add, rt, e.input(3, rt), store_as(e, rt, value));
    inputs.push_back(residual);
  }
  schedule_vectors(builder.schedule(), e, inputs, y);
}

void schedule_one_hot(ProgramBuilder& builder, const TiledTensor& token, const TiledTensor& ids,
                      const TiledTensor& y) {
  VExpr e;
  const unsigned hit =
      e.binary(Opcode::v_cmpeq, DType::i32, e.input(0, DType::i32), e.input(1, DType::i32, 0, 0));
  e.cvt(DType::i8, DType::i32, e.binary(Opcode::v_and, DType::i32, hit, e.splat(DType::i32, 1)));
  schedule_vectors(builder.schedule(), e, {&ids, &token}, y);
}

void schedule_argmax(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& logits,
                     const TiledTensor& ids, const TiledTensor& pad, const TiledTensor& y) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  const unsigned tiles = logits.tile_count();
  // Logits with -inf in the padding lanes (inputs 0 and `pad_input`).
  auto masked = [&](VExpr& e, unsigned pad_input, unsigned t) {
    return e.binary(Opcode::v_add, DType::f32, e.input(0, DType::f32, 0, int(t)),
                    e.input(pad_input, DType::f32, 0, int(t)));
  };
  VExpr max_expr;
  lane_allreduce(
      max_expr, Opcode::v_max, DType::f32,
      [&] {
        return over_tiles(max_expr, Opcode::v_max, tiles, [&](unsigned t) { return masked(max_expr, 3, t); });
      },
      maps, 1, lanes);
  const TiledTensor top =
      place_tiled(builder, "", DType::f32, 1, lanes, least_used(builder, true), 1, {}, false);
  schedule_vectors(builder.schedule(), max_expr, {&logits, &maps.identity(), &maps.rotations(), &pad}, top);

  // The lane id where a logit equals the maximum, a number past every id elsewhere; the least
  // over every lane is the lowest index of the maximum.
  const double past = std::ldexp(1.0, 30);
  VExpr key_expr;
  const unsigned least = lane_allreduce(
      key_expr, Opcode::v_min, DType::f32,
      [&] {
        return over_tiles(key_expr, Opcode::v_min, tiles, [&](unsigned t) {
          const unsigned hit = key_expr.binary(Opcode::v_cmpeq, DType::f32, masked(key_expr, 3, t),
                                               key_expr.input(4, DType::f32, 0, 0));
          return key_expr.select(DType::f32, hit, key_expr.input(5, DType::f32, 0, int(t)),
                                 key_expr.splat(DType::f32, past));
        });
      },
      maps, 1, lanes);
  key_expr.cvt(DType::i32, DType::f32, least);
  schedule_vectors(builder.schedule(), key_expr,
                   {&logits, &maps.identity(), &maps.rotations(), &pad, &top, &ids}, y);
}

namespace {

// Maps of the head moves: row h of the split takes lane h * width + i to lane i; row h of the
// merge takes lane i of head h to lane h * width + i.
std::vector<int> head_maps(unsigned heads, unsigned width, unsigned lanes, bool split) {
  std::vector<int> maps;
  for (unsigned h = 0; h < heads; ++h)
    for (unsigned lane = 0; lane < lanes; ++lane) {
      if (split)
        maps.push_back(lane < width ? int(h * width + lane) : kNoLane);
      else
        maps.push_back(lane >= h * width && lane < (h + 1) * width ? int(lane - h * width) : kNoLane);
    }
  return maps;
}

} // namespace

void schedule_split_heads(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& y) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  if (x.tile_count() != 1 || y.cols * y.rows != x.cols)
    throw InputError(fmt::format("llama: {} heads of {} columns must come from one vector of {} columns",
                                 y.rows, y.cols, x.cols));
  const TiledTensor maps = place_tiled(builder, "", DType::i16, y.rows, lanes, least_used(builder, false), 4,
                                       int16_bytes(head_maps(y.rows, y.cols, lanes, true)), false);
  VExpr e;
  e.lane_move(Opcode::permute, x.dtype, e.input(0, x.dtype, 0, 0), e.input(1, DType::i16, -1, 0),
              sxm_west(builder));
  schedule_vectors(builder.schedule(), e, {&x, &maps}, y);
}

void schedule_merge_heads(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& y) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  if (y.tile_count() != 1 || x.cols * x.rows != y.cols)
    throw InputError(fmt::format("llama: {} heads of {} columns must go to one vector of {} columns", x.rows,
                                 x.cols, y.cols));
  const TiledTensor maps = place_tiled(builder, "", DType::i16, x.rows, lanes, least_used(builder, false), 4,
                                       int16_bytes(head_maps(x.rows, x.cols, lanes, false)), false);
  VExpr e;
  unsigned sum = 0;
  for (unsigned h = 0; h < x.rows; ++h) {
    const unsigned moved = e.lane_move(Opcode::permute, x.dtype, e.input(0, x.dtype, int(h), 0),
                                       e.input(1, DType::i16, int(h), 0), sxm_west(builder));
    sum = h == 0 ? moved : e.binary(Opcode::v_add, x.dtype, sum, moved);
  }
  if (y.dtype != x.dtype) e.cvt(y.dtype, x.dtype, sum);
  schedule_vectors(builder.schedule(), e, {&x, &maps}, y);
}

namespace {

DType chip_type(model::DType dtype) {
  switch (dtype) {
  case model::DType::i8:
    return DType::i8;
  case model::DType::f16:
    return DType::f16;
  case model::DType::bf16:
    return DType::bf16;
  case model::DType::f32:
    break;
  }
  return DType::f32;
}

std::vector<uint8_t> float_bytes(DType dtype, const std::vector<float>& values) {
  return element_bytes_of(dtype, std::vector<double>(values.begin(), values.end()));
}

// An int8 matrix in MEM: its 320 x 320 tiles in the LW layout, their elements declared as the
// seeded initialisers random_weights uses, and its per-column scales.
struct WeightMatrix {
  uint32_t k = 0;
  uint32_t n = 0;
  std::map<std::pair<unsigned, unsigned>, Symbol> tiles; // (kt, j)
  TiledTensor scale;
};

class StepCompiler {
public:
  StepCompiler(const ChipConfig& config, const model::ModelConfig& model, const LlamaStep& step)
      : config_(config), model_(model), step_(step), builder_(config), lanes_(config.geometry.vector_bytes()),
        act_(chip_type(model.precision.activations)), kv_(chip_type(model.precision.kv_cache)) {}

  CompiledKernel compile();

private:
  void check() const;
  // A rows x cols tensor on the other side from the last one placed (so that a phase's operands
  // come from both hemispheres); named tensors are program symbols.
  TiledTensor place_next(DType dtype, uint32_t rows, uint32_t cols, const std::vector<uint8_t>& elements = {},
                         const std::string& name = "");
  TiledTensor vec(DType dtype, uint32_t cols, const std::string& name = "") {
    return place_next(dtype, 1, cols, {}, name);
  }
  WeightMatrix weights(const std::string& name, const model::Matrix& m, uint32_t index);
  // The W8A8 input of the projections of x (one quantisation for all that share x).
  struct Quantised {
    TiledTensor amax;
    TiledTensor q;
  };
  Quantised quantise(const TiledTensor& x);
  // y = x W in `out`, or R + x W with `residual`; a program symbol if `name` is given.
  TiledTensor project(const Quantised& x, const WeightMatrix& w, DType out,
                      const TiledTensor* residual = nullptr, const std::string& name = "");
  TiledTensor rmsnorm(const TiledTensor& x, const std::vector<float>& gain);
  TiledTensor layer(const TiledTensor& x, uint32_t l);
  void reference_state();
  std::vector<Bound> bounds() const;

  const ChipConfig& config_;
  const model::ModelConfig& model_;
  LlamaStep step_;
  ProgramBuilder builder_;
  unsigned lanes_;
  DType act_;
  DType kv_;
  model::Weights weights_;
  std::optional<LaneMaps> maps_;
  bool east_ = false;
  uint64_t weight_tiles_ = 0;
  // The reference's state before the step and its results.
  uint32_t token_ = 0;
  std::vector<std::vector<float>> keys_, values_; // per layer, position-major
  std::vector<float> logits_;
  std::vector<std::vector<float>> keys_after_, values_after_;
  // The cache tensors per layer.
  std::vector<std::vector<Symbol>> kt_;
  std::vector<std::vector<Symbol>> v_;
};

void StepCompiler::check() const {
  const uint32_t d = model_.d_model;
  if (model_.precision.weights != model::DType::i8)
    throw InputError(fmt::format("llama: {} has {} weights; the decode step is compiled for int8 weights",
                                 model_.name, model::dtype_name(model_.precision.weights)));
  if (d > lanes_ || model_.q_width() > lanes_ || model_.kv_width() > lanes_)
    throw InputError(
        fmt::format("llama: {}: d_model {}, query width {} and key/value width {} must each fit one "
                    "{}-lane vector (wider models are split over chips, not done yet)",
                    model_.name, d, model_.q_width(), model_.kv_width(), lanes_));
  if (step_.position >= model_.max_context)
    throw InputError(fmt::format("llama: --position {} is outside {}'s context of {} positions",
                                 step_.position, model_.name, model_.max_context));
  if (step_.token >= model_.vocab)
    throw InputError(fmt::format("llama: --token {} is outside {}'s vocabulary of {}", step_.token,
                                 model_.name, model_.vocab));
}

TiledTensor StepCompiler::place_next(DType dtype, uint32_t rows, uint32_t cols,
                                     const std::vector<uint8_t>& elements, const std::string& name) {
  east_ = !east_;
  return place_tiled(builder_, name, dtype, rows, cols, least_used(builder_, east_), 1, elements,
                     !name.empty());
}

WeightMatrix StepCompiler::weights(const std::string& name, const model::Matrix& m, uint32_t index) {
  WeightMatrix w;
  w.k = m.rows;
  w.n = m.cols;
  const uint64_t seed = model::weight_seed(step_.seed, index);
  const unsigned streams = config_.mxm.weight_streams;
  const uint32_t reserved = lw_cycles(DType::i8, config_) * streams;
  const unsigned k_tiles = (m.rows + lanes_ - 1) / lanes_;
  const unsigned n_tiles = (m.cols + lanes_ - 1) / lanes_;
  for (unsigned kt = 0; kt < k_tiles; ++kt)
    for (unsigned j = 0; j < n_tiles; ++j) {
      const uint32_t rows = std::min(lanes_, m.rows - kt * lanes_);
      const uint32_t cols = std::min(lanes_, m.cols - j * lanes_);
      east_ = !east_;
      auto mems = least_used(builder_, east_);
      mems.resize(streams);
      const Symbol tile = builder_.add_tensor("", DType::i8, rows, cols, mems, reserved, {});
      // A tile of whole matrix rows is one run of the matrix's elements; otherwise each row is.
      if (n_tiles == 1) {
        Symbol declared = tile;
        declared.name = fmt::format("{}.k{}", name, kt);
        builder_.add_random(declared, model::random_window_seed(seed, uint64_t(kt) * lanes_ * m.cols));
      } else {
        for (uint32_t r = 0; r < rows; ++r) {
          Symbol row;
          row.name = fmt::format("{}.k{}.n{}.r{}", name, kt, j, r);
          row.dtype = DType::i8;
          row.rows = 1;
          row.cols = cols;
          row.base = symbol_word(tile, r, 0).address;
          row.slices = {symbol_word(tile, r, 0).mem};
          builder_.add_random(
              row, model::random_window_seed(seed, (uint64_t(kt) * lanes_ + r) * m.cols + j * lanes_));
        }
      }
      w.tiles[{kt, j}] = tile;
      ++weight_tiles_;
    }
  w.scale = place_next(DType::f32, 1, m.cols, float_bytes(DType::f32, m.scale));
  return w;
}

StepCompiler::Quantised StepCompiler::quantise(const TiledTensor& x) {
  Quantised out{vec(DType::f32, lanes_), vec(DType::i8, x.cols)};
  schedule_quantize(builder_, *maps_, x, out.amax, out.q);
  return out;
}

TiledTensor StepCompiler::project(const Quantised& x, const WeightMatrix& w, DType out,
                                  const TiledTensor* residual, const std::string& name) {
  const TiledTensor& q = x.q;
  const TiledTensor& amax = x.amax;
  const TiledTensor c = vec(DType::i32, w.n);
  GemmShape shape;
  shape.m = 1;
  shape.k = w.k;
  shape.n = w.n;
  shape.dtype = DType::i8;
  schedule_gemm(builder_, shape,
                {[&](unsigned kt) { return q.tiles[kt]; },
                 [&](unsigned kt, unsigned j) {
                   return w.tiles.at({kt, j});
                 },
                 [&](unsigned j) { return c.tiles[j]; }});
  const TiledTensor y = vec(residual ? residual->dtype : out, w.n, name);
  schedule_dequantize(builder_, c, w.scale, amax, residual, y);
  return y;
}

TiledTensor StepCompiler::rmsnorm(const TiledTensor& x, const std::vector<float>& gain) {
  const TiledTensor g = place_next(act_, 1, x.cols, float_bytes(act_, gain));
  const TiledTensor y = vec(act_, x.cols);
  schedule_rmsnorm(builder_, x, g, static_cast<float>(model_.norm_eps), y);
  return y;
}

TiledTensor StepCompiler::layer(const TiledTensor& x, uint32_t l) {
  const model::LayerWeights& lw = weights_.layers[l];
  const uint32_t first = 1 + 9 * l; // tensor index of wq (docs/models.md, "Seeded random weights")
  const std::string prefix = fmt::format("L{}", l);
  const uint32_t hd = model_.head_dim;
  const WeightMatrix wq = weights(prefix + ".wq", lw.wq, first);
  const WeightMatrix wk = weights(prefix + ".wk", lw.wk, first + 1);
  const WeightMatrix wv = weights(prefix + ".wv", lw.wv, first + 2);
  const WeightMatrix wo = weights(prefix + ".wo", lw.wo, first + 3);
  const WeightMatrix wg = weights(prefix + ".w_gate", lw.w_gate, first + 4);
  const WeightMatrix wu = weights(prefix + ".w_up", lw.w_up, first + 5);
  const WeightMatrix wd = weights(prefix + ".w_down", lw.w_down, first + 6);

  // Attention: q, k, v; RoPE on q and k; heads as rows; attention over the cache with the new k
  // and v appended; the heads back in one row; the output projection and the residual.
  const std::string group = fmt::format("layer {}", l);
  builder_.begin_region(group, RegionCategory::norms);
  const TiledTensor xn = rmsnorm(x, lw.attn_norm);
  builder_.begin_region(group, RegionCategory::matrix);
  const Quantised xq = quantise(xn);
  const TiledTensor qf = project(xq, wq, act_);
  const TiledTensor kf = project(xq, wk, act_);
  const TiledTensor vf = project(xq, wv, act_);
  builder_.begin_region(group, RegionCategory::attention);
  const TiledTensor qr = vec(act_, model_.q_width());
  schedule_rope(builder_, qf, hd, step_.position, static_cast<float>(model_.rope_theta), qr);
  const TiledTensor kr = vec(kv_, model_.kv_width());
  schedule_rope(builder_, kf, hd, step_.position, static_cast<float>(model_.rope_theta), kr);
  const TiledTensor qh = place_next(kv_, model_.heads, hd);
  schedule_split_heads(builder_, qr, qh);
  const TiledTensor kn = place_next(kv_, model_.kv_heads, hd);
  schedule_split_heads(builder_, kr, kn);
  const TiledTensor vn = place_next(kv_, model_.kv_heads, hd);
  schedule_split_heads(builder_, vf, vn);
  const TiledTensor o = place_next(DType::f32, model_.heads, hd);
  AttentionShape shape;
  shape.heads = model_.heads;
  shape.kv_heads = model_.kv_heads;
  shape.head_dim = hd;
  shape.seq = step_.position;
  shape.dtype = kv_;
  schedule_attention(builder_, shape, {&qh, &kn, &vn, kt_[l], v_[l], &o});
  const TiledTensor attended = vec(act_, model_.q_width());
  schedule_merge_heads(builder_, o, attended);
  builder_.begin_region(group, RegionCategory::matrix);
  const TiledTensor x1 = project(quantise(attended), wo, act_, &x);

  // Feed-forward: SwiGLU of the gate and up projections, the down projection and the residual.
  builder_.begin_region(group, RegionCategory::norms);
  const TiledTensor xn2 = rmsnorm(x1, lw.ffn_norm);
  builder_.begin_region(group, RegionCategory::matrix);
  const Quantised xq2 = quantise(xn2);
  const TiledTensor gate = project(xq2, wg, act_);
  const TiledTensor up = project(xq2, wu, act_);
  const TiledTensor h = vec(act_, model_.ffn);
  builder_.begin_region(group, RegionCategory::norms);
  schedule_swiglu(builder_, gate, up, h);
  builder_.begin_region(group, RegionCategory::matrix);
  return project(quantise(h), wd, act_, &x1);
}

// The host reference greedy-decodes from the first token up to the step's position; its cache
// and token are the step's initial state, its next logits and cache the expected results.
void StepCompiler::reference_state() {
  model::Reference reference(model_, weights_);
  token_ = step_.token;
  for (uint32_t p = 0; p < step_.position; ++p) token_ = model::argmax(reference.decode(token_));
  for (uint32_t l = 0; l < model_.layers; ++l) {
    keys_.push_back(reference.keys(l));
    values_.push_back(reference.values(l));
  }
  logits_ = reference.decode(token_);
  for (uint32_t l = 0; l < model_.layers; ++l) {
    keys_after_.push_back(reference.keys(l));
    values_after_.push_back(reference.values(l));
  }
}

std::vector<Bound> StepCompiler::bounds() const {
  const double planes = config_.geometry.mxm_planes();
  const double lw = lw_cycles(DType::i8, config_);
  return {{"weight install", double(weight_tiles_) * lw / planes},
          {"MEM bandwidth",
           double(weight_tiles_) * lw * config_.mxm.weight_streams / config_.geometry.mem_slices()}};
}

CompiledKernel StepCompiler::compile() {
  check();
  const uint32_t d = model_.d_model;
  const uint32_t kv_width = model_.kv_width();
  const uint32_t positions = model_.max_context;
  const unsigned cache_tiles = (positions + lanes_ - 1) / lanes_;
  weights_ = model::random_weights(model_, step_.seed);
  reference_state();
  maps_.emplace(builder_, true);

  // Inputs: the token and the cache (K^T tiles with rows reserved so that the last head's LW
  // reads zeros; V rows padded to whole tiles), initialised with the reference's state.
  const uint32_t kt_reserved = std::max(kv_width, (model_.kv_heads - 1) * model_.head_dim + lanes_);
  for (uint32_t l = 0; l < model_.layers; ++l) {
    kt_.emplace_back();
    v_.emplace_back();
    const auto& keys = keys_[l];
    const auto& values = values_[l];
    for (unsigned t = 0; t < cache_tiles; ++t) {
      const uint32_t cols = std::min(lanes_, positions - t * lanes_);
      std::vector<float> initial(size_t(kv_width) * cols, 0.0f);
      for (uint32_t r = 0; r < kv_width; ++r)
        for (uint32_t c = 0; c < cols && t * lanes_ + c < step_.position; ++c)
          initial[size_t(r) * cols + c] = keys[size_t(t * lanes_ + c) * kv_width + r];
      auto mems = least_used(builder_, t % 2 == 1);
      mems.resize(config_.mxm.weight_streams);
      kt_[l].push_back(
          builder_.add_tensor(cache_tiles == 1 ? fmt::format("L{}.KT", l) : fmt::format("L{}.KT.c{}", l, t),
                              kv_, kv_width, cols, mems, kt_reserved, float_bytes(kv_, initial)));
    }
    for (uint32_t g = 0; g < model_.kv_heads; ++g) {
      std::vector<float> initial(size_t(positions) * model_.head_dim, 0.0f);
      for (uint32_t p = 0; p < step_.position; ++p)
        for (uint32_t i = 0; i < model_.head_dim; ++i)
          initial[size_t(p) * model_.head_dim + i] = values[size_t(p) * kv_width + g * model_.head_dim + i];
      auto mems = least_used(builder_, g % 2 == 0);
      mems.resize(config_.mxm.weight_streams);
      v_[l].push_back(builder_.add_tensor(fmt::format("L{}.V.g{}", l, g), kv_, positions, model_.head_dim,
                                          mems, cache_tiles * lanes_, float_bytes(kv_, initial)));
    }
  }
  const TiledTensor token = place_next(
      DType::i32, 1, lanes_, element_bytes_of(DType::i32, std::vector<double>(lanes_, token_)), "TOKEN");

  // Embedding: the one-hot row of the token times the table, each column times its scale.
  const unsigned vocab_tiles = (model_.vocab + lanes_ - 1) / lanes_;
  std::vector<double> ids(model_.vocab);
  for (uint32_t i = 0; i < model_.vocab; ++i) ids[i] = i;
  const TiledTensor ids_i32 = place_next(DType::i32, 1, model_.vocab, element_bytes_of(DType::i32, ids));
  const TiledTensor one_hot = vec(DType::i8, model_.vocab);
  builder_.begin_region("embedding", RegionCategory::matrix);
  schedule_one_hot(builder_, token, ids_i32, one_hot);
  const WeightMatrix table = weights("embedding", weights_.embedding, 0);
  const TiledTensor rows = vec(DType::i32, d);
  GemmShape lookup;
  lookup.m = 1;
  lookup.k = model_.vocab;
  lookup.n = d;
  schedule_gemm(builder_, lookup,
                {[&](unsigned kt) { return one_hot.tiles[kt]; },
                 [&](unsigned kt, unsigned j) {
                   return table.tiles.at({kt, j});
                 },
                 [&](unsigned j) { return rows.tiles[j]; }});
  TiledTensor x = vec(act_, d);
  {
    VExpr e;
    store_as(e, act_,
             e.binary(Opcode::v_mul, DType::f32, e.cvt(DType::f32, DType::i32, e.input(0, DType::i32)),
                      e.input(1, DType::f32)));
    schedule_vectors(builder_.schedule(), e, {&rows, &table.scale}, x);
  }

  for (uint32_t l = 0; l < model_.layers; ++l) x = layer(x, l);

  // Final norm, LM head (logits in fp32) and the greedy token.
  builder_.begin_region("head", RegionCategory::norms);
  const TiledTensor xf = rmsnorm(x, weights_.final_norm);
  builder_.begin_region("head", RegionCategory::matrix);
  const WeightMatrix head = weights("lm_head", weights_.lm_head, 2 + 9 * model_.layers);
  const TiledTensor logits = project(quantise(xf), head, DType::f32, nullptr, "LOGITS");
  std::vector<double> lane_ids(size_t(vocab_tiles) * lanes_), pad(size_t(vocab_tiles) * lanes_, 0.0);
  for (size_t i = 0; i < lane_ids.size(); ++i) {
    lane_ids[i] = double(i);
    if (i >= model_.vocab) pad[i] = -INFINITY;
  }
  east_ = !east_;
  const TiledTensor ids_f32 =
      place_tiled(builder_, "", DType::f32, 1, vocab_tiles * lanes_, least_used(builder_, east_), 1,
                  element_bytes_of(DType::f32, lane_ids), false);
  const TiledTensor pad_f32 =
      place_tiled(builder_, "", DType::f32, 1, vocab_tiles * lanes_, least_used(builder_, east_), 1,
                  element_bytes_of(DType::f32, pad), false);
  const TiledTensor next = vec(DType::i32, lanes_, "NEXT");
  builder_.begin_region("head", RegionCategory::norms);
  schedule_argmax(builder_, *maps_, logits, ids_f32, pad_f32, next);
  builder_.end_region();

  CompiledKernel kernel;
  kernel.program = builder_.finish(
      fmt::format("llama decode step: model {} at position {}", model_.name, step_.position), 1);
  kernel.predicted_cycles = kernel.program.metadata.predicted_cycles;
  kernel.bounds = bounds();

  // Expected results: the reference's logits, token and cache after the step.
  std::vector<double> expected_logits(logits_.begin(), logits_.end());
  for (unsigned t = 0; t < logits.tile_count(); ++t) {
    const uint32_t cols = logits.tiles[t].cols;
    kernel.outputs.push_back(make_expected(logits.tiles[t].name, DType::f32,
                                           std::vector<double>(expected_logits.begin() + t * lanes_,
                                                               expected_logits.begin() + t * lanes_ + cols),
                                           std::vector<double>(cols, kLlamaLogitTolerance)));
  }
  kernel.outputs.push_back(
      make_expected("NEXT", DType::i32, std::vector<double>(lanes_, model::argmax(logits_)), {}));
  for (uint32_t l = 0; l < model_.layers; ++l) {
    for (unsigned t = 0; t < cache_tiles; ++t) {
      const uint32_t cols = kt_[l][t].cols;
      std::vector<double> values, tolerance;
      for (uint32_t r = 0; r < kv_width; ++r)
        for (uint32_t c = 0; c < cols; ++c) {
          const uint32_t p = t * lanes_ + c;
          const double v = p <= step_.position ? keys_after_[l][size_t(p) * kv_width + r] : 0.0;
          values.push_back(v);
          tolerance.push_back(p == step_.position ? kLlamaCacheTolerance : 0.0);
        }
      kernel.outputs.push_back(make_expected(kt_[l][t].name, kv_, values, tolerance));
    }
    for (uint32_t g = 0; g < model_.kv_heads; ++g) {
      std::vector<double> values, tolerance;
      for (uint32_t p = 0; p < positions; ++p)
        for (uint32_t i = 0; i < model_.head_dim; ++i) {
          const double v =
              p <= step_.position ? values_after_[l][size_t(p) * kv_width + g * model_.head_dim + i] : 0.0;
          values.push_back(v);
          tolerance.push_back(p == step_.position ? kLlamaCacheTolerance : 0.0);
        }
      kernel.outputs.push_back(make_expected(v_[l][g].name, kv_, values, tolerance));
    }
  }
  return kernel;
}

} // namespace

CompiledKernel compile_llama_step(const ChipConfig& config, const model::ModelConfig& model,
                                  const LlamaStep& step) {
  return StepCompiler(config, model, step).compile();
}

} // namespace tsp::compiler
