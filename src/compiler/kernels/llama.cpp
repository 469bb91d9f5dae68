// One greedy decode step of a Llama-style model (include/tspsim/compiler/llama.h, docs/llama.md).
// Every value is one row; projections are int8 GEMVs (W8A8: the input quantised per vector, the
// int32 result rescaled in fp32), the rest lane-wise VXM phases. Each phase writes a tensor of its
// own, so a phase only waits for the writes it reads (read-after-write through the schedule) and
// the MXM loads the next GEMV's weights while the VXM still works on the previous result.
#include "tspsim/compiler/llama.h"

#include "tspsim/common/error.h"
#include "tspsim/compiler/placement.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/stage_path.h"
#include "tspsim/compiler/system_schedule.h"
#include "tspsim/compiler/vector.h"
#include "tspsim/model/checkpoint.h"
#include "tspsim/model/mem_layout.h"
#include "tspsim/model/plan.h"
#include "tspsim/model/reference.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <optional>
#include <utility>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

// Copies of a one-row operand that every row of a prompt pass reads, beside the original.
constexpr unsigned kBroadcastCopies = 7;
// Slice groups of a prompt pass's tensors of many rows.
constexpr unsigned kPromptGroups = 8;

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

// Y = the fp32 `value` in y's type, or R + that rounded to R's type with `residual` (the next
// input after `inputs`); schedules the expression.
void store_with_residual(ProgramBuilder& builder, VExpr& e, unsigned value,
                         std::vector<const TiledTensor*> inputs, const TiledTensor* residual,
                         const TiledTensor& y) {
  if (!residual) {
    store_as(e, y.dtype, value);
  } else {
    const DType rt = residual->dtype;
    e.binary(Opcode::v_add, rt, e.input(unsigned(inputs.size()), rt), store_as(e, rt, value));
    inputs.push_back(residual);
  }
  schedule_vectors(builder.schedule(), e, inputs, y);
}

} // namespace

void schedule_amax(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& x,
                   const TiledTensor& amax) {
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
}

void schedule_quantize_with(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& amax,
                            const TiledTensor& q) {
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

void schedule_quantize(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& x,
                       const TiledTensor& amax, const TiledTensor& q) {
  schedule_amax(builder, maps, x, amax);
  schedule_quantize_with(builder, x, amax, q);
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
  store_with_residual(builder, e, value, {&c, &scale, &amax}, residual, y);
}

void schedule_convert(ProgramBuilder& builder, const TiledTensor& c, const TiledTensor* residual,
                      const TiledTensor& y) {
  VExpr e;
  unsigned value = e.input(0, DType::f32);
  // fp32 logits: a copy into the named tensor (an expression's root is an operation).
  if (!residual && y.dtype == DType::f32) value = e.unary(Opcode::v_mov, DType::f32, value);
  store_with_residual(builder, e, value, {&c}, residual, y);
}

void schedule_one_hot(ProgramBuilder& builder, const TiledTensor& token, const TiledTensor& ids,
                      const TiledTensor& y) {
  VExpr e;
  const int token_row = token.rows == 1 ? 0 : -1; // one token, or one per row of Y
  const unsigned hit =
      e.binary(Opcode::v_cmpeq, DType::i32, e.input(0, DType::i32), e.input(1, DType::i32, token_row, 0));
  e.cvt(y.dtype, DType::i32, e.binary(Opcode::v_and, DType::i32, hit, e.splat(DType::i32, 1)));
  schedule_vectors(builder.schedule(), e, {&ids, &token}, y);
}

namespace {

// Logits with -inf in the padding lanes (inputs 0 and `pad_input`).
unsigned masked_logit(VExpr& e, unsigned pad_input, unsigned t) {
  return e.binary(Opcode::v_add, DType::f32, e.input(0, DType::f32, 0, int(t)),
                  e.input(pad_input, DType::f32, 0, int(t)));
}

} // namespace

void schedule_argmax_max(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& logits,
                         const TiledTensor& pad, const TiledTensor& top) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  VExpr max_expr;
  lane_allreduce(
      max_expr, Opcode::v_max, DType::f32,
      [&] {
        return over_tiles(max_expr, Opcode::v_max, logits.tile_count(),
                          [&](unsigned t) { return masked_logit(max_expr, 3, t); });
      },
      maps, 1, lanes);
  schedule_vectors(builder.schedule(), max_expr, {&logits, &maps.identity(), &maps.rotations(), &pad}, top);
}

void schedule_argmax_index(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& logits,
                           const TiledTensor& ids, const TiledTensor& pad, const TiledTensor& top,
                           const TiledTensor& y) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  // The lane id where a logit equals the maximum, a number past every id elsewhere; the least
  // over every lane is the lowest index of the maximum.
  VExpr key_expr;
  const unsigned least = lane_allreduce(
      key_expr, Opcode::v_min, DType::f32,
      [&] {
        return over_tiles(key_expr, Opcode::v_min, logits.tile_count(), [&](unsigned t) {
          const unsigned hit = key_expr.binary(Opcode::v_cmpeq, DType::f32, masked_logit(key_expr, 3, t),
                                               key_expr.input(4, DType::f32, 0, 0));
          return key_expr.select(DType::f32, hit, key_expr.input(5, DType::f32, 0, int(t)),
                                 key_expr.splat(DType::f32, kArgmaxPast));
        });
      },
      maps, 1, lanes);
  if (y.dtype != DType::f32) key_expr.cvt(y.dtype, DType::f32, least);
  schedule_vectors(builder.schedule(), key_expr,
                   {&logits, &maps.identity(), &maps.rotations(), &pad, &top, &ids}, y);
}

void schedule_argmax(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& logits,
                     const TiledTensor& ids, const TiledTensor& pad, const TiledTensor& y) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  const TiledTensor top =
      place_tiled(builder, "", DType::f32, 1, lanes, least_used(builder, true), 1, {}, false);
  schedule_argmax_max(builder, maps, logits, pad, top);
  schedule_argmax_index(builder, maps, logits, ids, pad, top, y);
}

namespace {

// Column tiles of a row that head h (columns [h * width, (h + 1) * width)) overlaps: one, or two
// when it straddles a tile boundary.
std::pair<unsigned, unsigned> head_tiles(unsigned h, unsigned width, unsigned lanes) {
  return {h * width / lanes, ((h + 1) * width - 1) / lanes};
}

// Permute map of the split: lane i takes column h * width + i of the row from its place in tile t
// (nothing where that column is in another tile, or past the head).
std::vector<int> split_map(unsigned h, unsigned t, unsigned width, unsigned lanes) {
  std::vector<int> map(lanes, kNoLane);
  for (unsigned i = 0; i < width; ++i) {
    const unsigned column = h * width + i;
    if (column / lanes == t) map[i] = int(column % lanes);
  }
  return map;
}

// Permute map of the merge: lane l of tile t (column t * lanes + l) takes lane column - h * width
// of head h where the column is the head's.
std::vector<int> merge_map(unsigned h, unsigned t, unsigned width, unsigned lanes) {
  std::vector<int> map(lanes, kNoLane);
  for (unsigned l = 0; l < lanes; ++l) {
    const unsigned column = t * lanes + l;
    if (column >= h * width && column < (h + 1) * width) map[l] = int(column - h * width);
  }
  return map;
}

std::vector<int> concat(const std::vector<std::vector<int>>& rows) {
  std::vector<int> out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

} // namespace

// Heads inside one tile of X are moved in runs of consecutive heads, one Permute per head by its
// row of the run's maps; a head straddling two tiles is moved alone, one Permute from each tile,
// added (each writes zero where the other writes the head).
void schedule_split_heads(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& y,
                          const HeadRows& rows) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  const unsigned width = y.cols;
  const uint32_t heads = rows.heads == 0 ? y.rows : rows.heads;
  if (y.tile_count() != 1 || y.cols * heads != x.cols || rows.first + (heads - 1) * rows.stride >= y.rows)
    throw InputError(fmt::format("llama: {} heads of {} columns must come from a row of {} columns, one "
                                 "vector each",
                                 heads, y.cols, x.cols));
  unsigned h = 0;
  while (h < heads) {
    const auto [t0, t1] = head_tiles(h, width, lanes);
    unsigned count = 1;
    if (t0 == t1 && rows.stride == 1)
      while (h + count < heads && head_tiles(h + count, width, lanes) == std::make_pair(t0, t0)) ++count;
    std::vector<std::vector<int>> maps;
    if (t0 == t1)
      for (unsigned k = 0; k < count; ++k) maps.push_back(split_map(h + k, t0, width, lanes));
    else
      maps = {split_map(h, t0, width, lanes), split_map(h, t1, width, lanes)};
    const TiledTensor map = place_tiled(builder, "", DType::i16, unsigned(maps.size()), lanes,
                                        least_used(builder, false), 4, int16_bytes(concat(maps)), false);
    VExpr e;
    const auto moved = [&](unsigned t, int map_row) {
      return e.lane_move(Opcode::permute, x.dtype, e.input(0, x.dtype, 0, int(t)),
                         e.input(1, DType::i16, map_row, 0), sxm_west(builder));
    };
    const unsigned head =
        t0 == t1 ? moved(t0, -1) : e.binary(Opcode::v_add, x.dtype, moved(t0, 0), moved(t1, 1));
    // The heads are the attention's operands, in the KV type: a Permute moves bytes, so a row of
    // another type (the activations') is converted, or its elements would be stored as they are.
    if (y.dtype != x.dtype) e.cvt(y.dtype, x.dtype, head);
    schedule_vectors(builder.schedule(), e, {&x, &map},
                     single_tile(row_view(y.tiles[0], rows.first + h * rows.stride, count)));
    h += count;
  }
}

// Tile t of Y is the sum of the Permutes of every head that overlaps it.
void schedule_merge_heads(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& y,
                          const HeadRows& rows) {
  const unsigned lanes = builder.config().geometry.vector_bytes();
  const unsigned width = x.cols;
  const uint32_t heads = rows.heads == 0 ? x.rows : rows.heads;
  if (x.tile_count() != 1 || x.cols * heads != y.cols || rows.first + (heads - 1) * rows.stride >= x.rows)
    throw InputError(fmt::format("llama: {} heads of {} columns must go to a row of {} columns, one "
                                 "vector each",
                                 heads, x.cols, y.cols));
  for (unsigned t = 0; t < y.tile_count(); ++t) {
    const unsigned first = t * lanes / width;
    const unsigned last = (t * lanes + y.tiles[t].cols - 1) / width;
    std::vector<std::vector<int>> maps;
    for (unsigned h = first; h <= last; ++h) maps.push_back(merge_map(h, t, width, lanes));
    const TiledTensor map = place_tiled(builder, "", DType::i16, unsigned(maps.size()), lanes,
                                        least_used(builder, false), 4, int16_bytes(concat(maps)), false);
    VExpr e;
    unsigned sum = 0;
    for (unsigned h = first; h <= last; ++h) {
      const unsigned moved =
          e.lane_move(Opcode::permute, x.dtype, e.input(0, x.dtype, int(rows.first + h * rows.stride), 0),
                      e.input(1, DType::i16, int(h - first), 0), sxm_west(builder));
      sum = h == first ? moved : e.binary(Opcode::v_add, x.dtype, sum, moved);
    }
    if (y.dtype != x.dtype) e.cvt(y.dtype, x.dtype, sum);
    schedule_vectors(builder.schedule(), e, {&x, &map}, single_tile(y.tiles[t]));
  }
}

double llama_tolerance(uint32_t depth) {
  return kLlamaTolerance * std::sqrt(std::max(1.0, double(depth) / kLlamaTolerantDepth));
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

// The part of the step one of n chips computes (docs/llama.md, "Tensor parallelism"): its query
// heads, the KV heads they read (replicated when chips outnumber KV heads), the rows of its merged
// heads whose Wo rows it holds (replicas of a head split them), its FFN columns and its vocabulary
// range (LM-head columns, embedding-table rows). The residual stream is on every chip.
struct Share {
  uint32_t head0 = 0, heads = 0;
  uint32_t kv0 = 0, kv_heads = 0;
  uint32_t wo_live0 = 0, wo_live = 0;
  uint32_t ffn0 = 0, ffn = 0;
  uint32_t vocab0 = 0, vocab = 0;
  // Pipeline stage: its layers or half-layer blocks as the planner deals them (model::StagePlan);
  // the first stage embeds, the last has the head.
  model::StagePlan stage;
  bool first = true, last = true;
};

Share share_of(const model::ModelConfig& m, uint32_t n, uint32_t index) {
  const auto fail = [&](const std::string& why) {
    return InputError(fmt::format("llama: {} cannot be split over {} chips: {}", m.name, n, why));
  };
  Share s;
  uint32_t replicas = 1;
  if (n <= m.heads) {
    if (m.heads % n != 0) throw fail(fmt::format("its {} heads are not a multiple of {}", m.heads, n));
    s.heads = m.heads / n;
    s.head0 = index * s.heads;
  } else {
    if (n % m.heads != 0) throw fail(fmt::format("{} chips are not a multiple of its {} heads", n, m.heads));
    replicas = n / m.heads;
    s.heads = 1;
    s.head0 = index / replicas;
  }
  const uint32_t group = m.heads / m.kv_heads; // query heads per KV head
  if (s.heads % group != 0 && group % s.heads != 0)
    throw fail(fmt::format("{} heads per chip do not split its KV groups of {}", s.heads, group));
  s.kv_heads = std::max(1u, s.heads / group);
  s.kv0 = s.head0 / group;
  const uint32_t width = s.heads * m.head_dim;
  if (width % replicas != 0)
    throw fail(fmt::format("head_dim {} is not a multiple of the {} chips sharing a head", width, replicas));
  s.wo_live = width / replicas;
  s.wo_live0 = (index % replicas) * s.wo_live;
  if (m.ffn % n != 0) throw fail(fmt::format("its ffn width {} is not a multiple of {}", m.ffn, n));
  s.ffn = m.ffn / n;
  s.ffn0 = index * s.ffn;
  if (m.vocab % n != 0) throw fail(fmt::format("its vocabulary of {} is not a multiple of {}", m.vocab, n));
  const model::VocabShare vocab = model::vocab_share(m, n, index);
  s.vocab = vocab.count;
  s.vocab0 = vocab.first;
  s.stage.layers = m.layers;
  return s;
}

// The host reference greedy-decodes from the first token up to the step's position; its cache
// and token are the step's initial state, its next logits and cache the expected results.
// Without the reference (LlamaStep::with_reference false) only the weights' shapes and scales,
// and no cache: the program's cache starts at zero.
struct ReferenceRun {
  model::Weights weights;
  uint32_t token = 0;
  std::vector<uint32_t> tokens;                 // the step's token, or the prompt's
  std::vector<std::vector<float>> keys, values; // per layer, position-major
  std::vector<float> logits;
  std::vector<std::vector<float>> keys_after, values_after;
};

ReferenceRun reference_run(const model::ModelConfig& m, const LlamaStep& step) {
  ReferenceRun run;
  run.token = step.token;
  const uint32_t count = std::max(1u, step.prompt_tokens);
  const auto weights = [&](bool shapes_only) {
    if (step.checkpoint.empty()) return model::random_weights(m, step.seed, shapes_only);
    return model::load_checkpoint(
        m, std::vector<std::filesystem::path>(step.checkpoint.begin(), step.checkpoint.end()), shapes_only);
  };
  if (!step.with_reference) {
    run.weights = weights(true);
    run.tokens.assign(count, step.token);
    return run;
  }
  // Seeded int8 elements are generated by the reference as it uses them; a checkpoint's are read.
  run.weights = weights(step.checkpoint.empty());
  model::Reference reference(m, run.weights);
  for (uint32_t p = 0; p < step.position; ++p) run.token = model::argmax(reference.decode(run.token));
  for (uint32_t l = 0; l < m.layers; ++l) {
    run.keys.push_back(reference.keys(l));
    run.values.push_back(reference.values(l));
  }
  run.tokens = {run.token};
  run.logits = reference.decode(run.token);
  while (run.tokens.size() < count) {
    run.tokens.push_back(model::argmax(run.logits));
    run.logits = reference.decode(run.tokens.back());
  }
  for (uint32_t l = 0; l < m.layers; ++l) {
    run.keys_after.push_back(reference.keys(l));
    run.values_after.push_back(reference.values(l));
  }
  return run;
}

// The declaration of a vector of scales or gains from element 0: the checkpoint's (as `kind`) when
// the weights were read from one, else the jitter stream random_weights took them from.
DeclaredTensor vector_source(const model::JitterSource& jitter, const CheckpointTensor& checkpoint,
                             DeclaredValues kind) {
  DeclaredTensor d;
  if (!checkpoint.file.empty()) {
    d.values = kind;
    d.checkpoint = checkpoint;
  } else {
    d.seed = jitter.seed;
    d.values = DeclaredValues::jitter;
    d.divisor = jitter.divisor;
  }
  return d;
}

// The declaration of a matrix's elements from element (0, 0): its checkpoint's, or the seeded
// stream `seed` of random_weights.
DeclaredTensor matrix_source(const model::Matrix& m, uint64_t seed, unsigned vector_bytes) {
  DeclaredTensor d;
  d.vector_bytes = vector_bytes;
  if (!m.checkpoint.file.empty()) {
    d.values = DeclaredValues::checkpoint;
    d.checkpoint = m.checkpoint;
  } else {
    d.seed = seed;
  }
  return d;
}

// An int8 matrix in MEM: its 320 x 320 tiles in the LW layout, their elements declared as the
// seeded initialisers random_weights uses, and its per-column scales.
struct WeightMatrix {
  uint32_t k = 0;
  uint32_t n = 0;
  std::map<std::pair<unsigned, unsigned>, Symbol> tiles; // (kt, j)
  TiledTensor scale;
};

// The block of a matrix one chip holds: rows [row0, row0 + rows), columns [col0, col0 + cols);
// of its rows only [live0, live0 + live) hold weights, the rest zeros (the Wo rows of a head's
// other replicas).
struct Window {
  uint32_t row0 = 0, rows = 0;
  uint32_t col0 = 0, cols = 0;
  uint32_t live0 = 0, live = 0;
};

Window columns(const model::Matrix& m, uint32_t col0, uint32_t cols) {
  return {0, m.rows, col0, cols, 0, m.rows};
}
Window rows_of(const model::Matrix& m, uint32_t row0, uint32_t rows) {
  return {row0, rows, 0, m.cols, 0, rows};
}

// Row i of every column tile of x (one token's row).
TiledTensor token_row(const TiledTensor& x, uint32_t i) { return x.rows == 1 ? x : tiled_rows(x, i, 1); }

// Throws InputError for what the step does not compile: float weights of another type than the
// activations, a head wider than one
// vector, a position or token outside the model. Before the host reference runs (a wide model's
// reference is slow and never needed).
void check_step(const ChipConfig& config, const model::ModelConfig& model, const LlamaStep& step);

// One chip's program of the step: its phases, called in order by compose_step, which all-reduces
// between them (the step on one chip: a chip whose share is everything, no all-reduce).
class ChipStep {
public:
  ChipStep(ProgramBuilder& builder, const model::ModelConfig& model, const LlamaStep& step,
           const Share& share, const ReferenceRun& run)
      : config_(builder.config()), model_(model), step_(step), share_(share), run_(run), builder_(builder),
        lanes_(config_.geometry.vector_bytes()), rows_(std::max(1u, step.prompt_tokens)),
        act_(chip_type(model.precision.activations)), kv_(chip_type(model.precision.kv_cache)),
        weight_type_(chip_type(model.precision.weights)) {
    // The prompt pass's L-row tensors die within a few phases: later phases reuse their MEM.
    if (step.prompt_tokens > 0) builder.reuse_scratch();
  }

  TiledTensor vec(DType dtype, uint32_t cols, const std::string& name = "") {
    return place_next(dtype, 1, cols, {}, name);
  }
  TiledTensor place(DType dtype, uint32_t rows, uint32_t cols) { return place_next(dtype, rows, cols); }
  // One row per token: the step's one, or the prompt's.
  TiledTensor per_token(DType dtype, uint32_t cols, const std::string& name = "") {
    return place_next(dtype, rows_, cols, {}, name);
  }
  // A region group of the step: "layer 0", or "prompt layer 0" in the prompt pass.
  std::string group(const std::string& name) const {
    return step_.prompt_tokens == 0 ? name : prompt_group(name);
  }

  // The lane maps and the cache of the chip's layers.
  void inputs();
  // The token's row of the chip's rows of the embedding table (int32; zero unless the chip holds
  // the token's row), then the residual row from their sum over the stage's chips.
  TiledTensor embed();
  void embed_scale(const TiledTensor& rows);
  // The residual row as the previous pipeline stage hands it over (written by its Receives): the
  // layer's input, or the residual after its attention block where the stage starts at an MLP.
  const TiledTensor& receive_residual() {
    return (share_.stage.starts_at_mlp ? x1_ : x_) = per_token(act_, model_.d_model);
  }
  // The residual row the stage hands to the next: after its last block.
  const TiledTensor& residual_row() const { return share_.stage.ends_after_attention ? x1_ : x_; }
  // The row received from the previous stage, as the chip that received it passes it on.
  const TiledTensor& received_row() const { return share_.stage.starts_at_mlp ? x1_ : x_; }
  bool holds_attention(uint32_t l) const { return share_.stage.holds_attention(l); }
  bool holds_mlp(uint32_t l) const { return share_.stage.holds_mlp(l); }
  // Layer l up to its merged heads; returns their local AMAX. Declares the layer's MLP weights too
  // when the chip holds its MLP block.
  TiledTensor attention(uint32_t l);
  // The chip's part of the int32 product of the merged heads and Wo, quantised with the row's AMAX.
  TiledTensor attention_out(const TiledTensor& amax);
  // The residual after Wo (from the summed product).
  void attention_residual(const TiledTensor& product, const TiledTensor& amax);
  // The MLP block of layer l on a stage that starts there: its weights, from the residual received.
  void mlp_start(uint32_t l);
  // The FFN up to SwiGLU, from the residual after the attention block; returns its local AMAX.
  TiledTensor ffn();
  // The chip's part of the int32 product of SwiGLU's output and w_down.
  TiledTensor ffn_out(const TiledTensor& amax);
  // The residual after w_down.
  void residual(const TiledTensor& product, const TiledTensor& amax);
  uint32_t first_layer() const { return share_.stage.first_layer; }
  uint32_t layer_count() const { return share_.stage.layers; }
  unsigned lanes() const { return lanes_; }
  // The final norm and the chip's logits.
  void head();
  // TOP: the largest of the chip's logits (every lane).
  TiledTensor top();
  // The lowest index of the logits equal to TOP (the global maximum) into y: int32 NEXT on one
  // chip, fp32 before the min all-reduce on many.
  void argmax_index(const TiledTensor& top, const TiledTensor& y);
  // The greedy token as NEXT (int32) from the least index over every chip (fp32).
  void next_token(const TiledTensor& index);
  // Tags what is placed from now on as `category` of the phase's group (a layer, "embedding",
  // "head"; docs/llama.md, "Per-layer breakdown"), until the next tag or end_regions.
  void tag(RegionCategory category) { builder_.begin_region(group_, category); }
  void tag(const std::string& group, RegionCategory category) {
    group_ = group;
    tag(category);
  }
  void end_regions() { builder_.end_region(); }

  std::vector<ExpectedOutput> expected() const;
  std::vector<Bound> bounds() const;

private:
  TiledTensor place_next(DType dtype, uint32_t rows, uint32_t cols, const std::vector<uint8_t>& elements = {},
                         const std::string& name = "");
  // A one-row tensor of `source`'s values from its element `first` on (scales, gains), declared.
  TiledTensor place_vector(DType dtype, uint32_t cols, DeclaredTensor source, uint32_t first,
                           const std::string& name);
  WeightMatrix weights(const std::string& name, const model::Matrix& m, uint32_t index, const Window& window);
  struct Quantised {
    TiledTensor amax;
    TiledTensor q;
  };
  Quantised quantise(const TiledTensor& x);
  // x quantised with a known AMAX (int8 weights), or x itself (float weights).
  TiledTensor quantise_with(const TiledTensor& x, const TiledTensor& amax);
  // c = Q W (int32).
  TiledTensor product(const TiledTensor& q, const WeightMatrix& w);
  // y = x W in `out`, or R + x W with `residual`; a program symbol if `name` is given.
  TiledTensor project(const Quantised& x, const WeightMatrix& w, DType out,
                      const TiledTensor* residual = nullptr, const std::string& name = "");
  TiledTensor rescale(const TiledTensor& c, const WeightMatrix& w, const TiledTensor& amax, DType out,
                      const TiledTensor* residual, const std::string& name = "");
  TiledTensor rmsnorm(const TiledTensor& x, const DeclaredTensor& gain, const std::string& name);
  // The prompt pass's K^T append maps, placed once for all the chip's layers.
  const std::vector<TiledTensor>& key_maps() {
    if (key_maps_.empty())
      key_maps_ = place_prompt_key_maps(builder_, model_.head_dim, step_.position, rows_);
    return key_maps_;
  }
  void cache();
  void mlp_weights(uint32_t l);
  // Frees the MEM of every scratch tensor (the prompt pass's) but `live`: called at the end of a
  // phase, whose readers are all placed, with the tensors that later phases still read.
  void release(std::initializer_list<const TiledTensor*> live);

  const ChipConfig& config_;
  const model::ModelConfig& model_;
  LlamaStep step_;
  Share share_;
  const ReferenceRun& run_;
  ProgramBuilder& builder_;
  unsigned lanes_;
  uint32_t rows_; // tokens: 1, or the prompt's
  DType act_;
  DType kv_;
  // int8: projections quantise their input and rescale the int32 products; fp16 or bf16 (the
  // activations' type): the MXM multiplies the input as it is and the fp32 products are converted.
  DType weight_type_;
  bool quantised() const { return weight_type_ == DType::i8; }
  std::optional<LaneMaps> maps_;
  bool east_ = false;
  uint64_t weight_tiles_ = 0;
  std::vector<std::vector<Symbol>> kt_, v_; // the cache tensors per layer
  std::vector<TiledTensor> key_maps_;
  // State between phases.
  uint32_t layer_ = 0;
  std::string group_;
  TiledTensor x_;        // the residual row
  TiledTensor x1_;       // after the attention block
  TiledTensor attended_; // merged heads, then SwiGLU's output
  TiledTensor logits_;
  TiledTensor ids_, pad_;
  WeightMatrix embedding_, wo_, wd_;
  std::vector<WeightMatrix> pending_; // the layer's gate and up
};

void check_step(const ChipConfig& config, const model::ModelConfig& model, const LlamaStep& step) {
  const unsigned lanes = config.geometry.vector_bytes();
  if (model.precision.weights != model::DType::i8 && model.precision.weights != model.precision.activations)
    throw InputError(
        fmt::format("llama: {} has {} weights and {} activations; float weights need activations "
                    "of their type (the MXM multiplies two operands of one type)",
                    model.name, model::dtype_name(model.precision.weights),
                    model::dtype_name(model.precision.activations)));
  if (model.head_dim > lanes)
    throw InputError(fmt::format("llama: {}: head_dim {} must fit one {}-lane vector (each head is one row "
                                 "of the attention kernel)",
                                 model.name, model.head_dim, lanes));
  if (step.position >= model.max_context)
    throw InputError(fmt::format("llama: --position {} is outside {}'s context of {} positions",
                                 step.position, model.name, model.max_context));
  if (step.token >= model.vocab)
    throw InputError(fmt::format("llama: --token {} is outside {}'s vocabulary of {}", step.token, model.name,
                                 model.vocab));
  if (step.prompt_tokens > kMaxPromptTokens)
    throw InputError(fmt::format("llama: --prompt-tokens {}: the prompt pass is compiled for at most {} "
                                 "tokens (docs/llama.md, \"Prompt pass\")",
                                 step.prompt_tokens, kMaxPromptTokens));
  if (uint64_t(step.position) + step.prompt_tokens > model.max_context)
    throw InputError(fmt::format("llama: --prompt-tokens {} from position {} is more than {}'s context of {} "
                                 "positions",
                                 step.prompt_tokens, step.position, model.name, model.max_context));
}

TiledTensor ChipStep::place_next(DType dtype, uint32_t rows, uint32_t cols,
                                 const std::vector<uint8_t>& elements, const std::string& name) {
  east_ = !east_;
  // A prompt pass's phases read the rows of its tensors one after the other, faster than one slice
  // group serves them: its tensors of many rows are spread over slice groups.
  const unsigned groups = rows_ > 1 && rows > 1 ? kPromptGroups : 1;
  return place_tiled(builder_, name, dtype, rows, cols, least_used(builder_, east_), groups, elements,
                     !name.empty());
}

WeightMatrix ChipStep::weights(const std::string& name, const model::Matrix& m, uint32_t index,
                               const Window& window) {
  WeightMatrix w;
  w.k = window.rows;
  w.n = window.cols;
  const uint64_t seed = model::weight_seed(step_.seed, index);
  const unsigned streams = config_.mxm.weight_streams;
  const uint32_t reserved = model::tile_rows(config_);
  const unsigned k_tiles = (window.rows + lanes_ - 1) / lanes_;
  const unsigned n_tiles = (window.cols + lanes_ - 1) / lanes_;
  for (unsigned kt = 0; kt < k_tiles; ++kt)
    for (unsigned j = 0; j < n_tiles; ++j) {
      const uint32_t rows = std::min(lanes_, window.rows - kt * lanes_);
      const uint32_t cols = std::min(lanes_, window.cols - j * lanes_);
      east_ = !east_;
      auto mems = least_used(builder_, east_);
      mems.resize(streams);
      const Symbol tile = builder_.add_staggered_tensor("", weight_type_, rows, cols, mems, reserved, {});
      // One declaration per tile: row r is matrix row row0 + first_row + r from column col0 + j * lanes,
      // and only the tile's live rows (a contiguous range) are declared.
      const uint32_t first_row = kt * lanes_;
      const uint32_t live_begin = std::max(first_row, window.live0);
      const uint32_t live_end = std::min(first_row + rows, window.live0 + window.live);
      if (live_begin < live_end) {
        Symbol declared = tile;
        declared.name =
            n_tiles == 1 ? fmt::format("{}.k{}", name, kt) : fmt::format("{}.k{}.n{}", name, kt, j);
        DeclaredTensor init = matrix_source(m, seed, lanes_);
        advance_declaration(init, uint64_t(window.row0 + first_row) * m.cols + window.col0 + j * lanes_);
        init.row_stride = m.cols;
        init.first_row = live_begin - first_row;
        init.row_count = live_end - live_begin;
        builder_.add_random(declared, init);
      }
      w.tiles[{kt, j}] = tile;
      ++weight_tiles_;
    }
  if (quantised())
    w.scale = place_vector(DType::f32, window.cols,
                           vector_source(m.scale_source, m.checkpoint, DeclaredValues::checkpoint_scale),
                           window.col0, name + ".scale");
  return w;
}

// Float weights: the input as it is (it is in the weights' type), no AMAX.
ChipStep::Quantised ChipStep::quantise(const TiledTensor& x) {
  if (!quantised()) return {{}, x};
  Quantised out{place_next(DType::f32, x.rows, lanes_), place_next(DType::i8, x.rows, x.cols)};
  schedule_quantize(builder_, *maps_, x, out.amax, out.q);
  return out;
}

TiledTensor ChipStep::quantise_with(const TiledTensor& x, const TiledTensor& amax) {
  if (!quantised()) return x;
  const TiledTensor q = place_next(DType::i8, x.rows, x.cols);
  schedule_quantize_with(builder_, x, amax, q);
  return q;
}

TiledTensor ChipStep::product(const TiledTensor& q, const WeightMatrix& w) {
  const TiledTensor c = place_next(quantised() ? DType::i32 : DType::f32, q.rows, w.n);
  GemmShape shape;
  shape.m = q.rows;
  shape.k = w.k;
  shape.n = w.n;
  shape.dtype = weight_type_;
  schedule_gemm(builder_, shape,
                {[&](unsigned kt) { return q.tiles[kt]; },
                 [&](unsigned kt, unsigned j) {
                   return w.tiles.at({kt, j});
                 },
                 [&](unsigned j) { return c.tiles[j]; }});
  return c;
}

TiledTensor ChipStep::rescale(const TiledTensor& c, const WeightMatrix& w, const TiledTensor& amax, DType out,
                              const TiledTensor* residual, const std::string& name) {
  const TiledTensor y = place_next(residual ? residual->dtype : out, c.rows, w.n, {}, name);
  if (quantised())
    schedule_dequantize(builder_, c, w.scale, amax, residual, y);
  else
    schedule_convert(builder_, c, residual, y);
  return y;
}

TiledTensor ChipStep::project(const Quantised& x, const WeightMatrix& w, DType out,
                              const TiledTensor* residual, const std::string& name) {
  return rescale(product(x.q, w), w, x.amax, out, residual, name);
}

TiledTensor ChipStep::place_vector(DType dtype, uint32_t cols, DeclaredTensor source, uint32_t first,
                                   const std::string& name) {
  east_ = !east_;
  advance_declaration(source, first);
  return place_declared(builder_, name, dtype, 1, cols, least_used(builder_, east_), 1, source);
}

TiledTensor ChipStep::rmsnorm(const TiledTensor& x, const DeclaredTensor& gain, const std::string& name) {
  const TiledTensor g = place_vector(act_, x.cols, gain, 0, name);
  const TiledTensor y = place_next(act_, x.rows, x.cols);
  schedule_rmsnorm(builder_, x, g, static_cast<float>(model_.norm_eps), y);
  return y;
}

// The inputs: the cache of the chip's KV heads (K^T tiles with rows reserved so that the last
// head's LW reads zeros; V rows padded to whole tiles), initialised with the reference's state.
void ChipStep::cache() {
  const uint32_t width = share_.kv_heads * model_.head_dim;
  const uint32_t all = model_.kv_width();
  const uint32_t first = share_.kv0 * model_.head_dim;
  const uint32_t positions = model_.max_context;
  const model::CacheLayout layout = model::cache_layout(config_, share_.kv_heads, model_.head_dim, positions);
  const unsigned cache_tiles = layout.kt_tiles;
  for (uint32_t l = 0; l < model_.layers; ++l) {
    kt_.emplace_back();
    v_.emplace_back();
    if (!holds_attention(l)) continue;
    const uint32_t known = run_.keys.empty() ? 0 : step_.position; // positions with a reference state
    static const std::vector<float> none;
    const auto& keys = known == 0 ? none : run_.keys[l];
    const auto& values = known == 0 ? none : run_.values[l];
    for (unsigned t = 0; t < cache_tiles; ++t) {
      const uint32_t cols = std::min(lanes_, positions - t * lanes_);
      std::vector<float> initial(size_t(width) * cols, 0.0f);
      for (uint32_t r = 0; r < width; ++r)
        for (uint32_t c = 0; c < cols && t * lanes_ + c < known; ++c)
          initial[size_t(r) * cols + c] = keys[size_t(t * lanes_ + c) * all + first + r];
      auto mems = least_used(builder_, t % 2 == 1);
      mems.resize(config_.mxm.weight_streams);
      kt_[l].push_back(builder_.add_staggered_tensor(
          cache_tiles == 1 ? fmt::format("L{}.KT", l) : fmt::format("L{}.KT.c{}", l, t), kv_, width, cols,
          mems, layout.kt_rows, float_bytes(kv_, initial)));
    }
    for (uint32_t g = 0; g < share_.kv_heads; ++g) {
      std::vector<float> initial(size_t(positions) * model_.head_dim, 0.0f);
      for (uint32_t p = 0; p < known; ++p)
        for (uint32_t i = 0; i < model_.head_dim; ++i)
          initial[size_t(p) * model_.head_dim + i] =
              values[size_t(p) * all + first + g * model_.head_dim + i];
      auto mems = least_used(builder_, g % 2 == 0);
      mems.resize(config_.mxm.weight_streams);
      v_[l].push_back(builder_.add_staggered_tensor(fmt::format("L{}.V.g{}", l, share_.kv0 + g), kv_,
                                                    positions, model_.head_dim, mems, layout.v_rows,
                                                    float_bytes(kv_, initial)));
    }
  }
}

void ChipStep::inputs() {
  maps_.emplace(builder_, true);
  cache();
}

// The embedding: the one-hot row of the token over the chip's vocabulary rows times those rows
// of the table; after the sum over the chips, each column times its scale.
TiledTensor ChipStep::embed() {
  std::vector<double> tokens;
  for (uint32_t t : run_.tokens) tokens.insert(tokens.end(), lanes_, t);
  const TiledTensor token =
      place_next(DType::i32, rows_, lanes_, element_bytes_of(DType::i32, tokens), "TOKEN");
  std::vector<double> ids(share_.vocab);
  for (uint32_t i = 0; i < share_.vocab; ++i) ids[i] = share_.vocab0 + i;
  const auto id_bytes = element_bytes_of(DType::i32, ids);
  TiledTensor ids_i32 = place_next(DType::i32, 1, share_.vocab, id_bytes);
  // Every prompt token's one-hot row reads the ids: copies spread the reads.
  if (rows_ > 1) add_copies(builder_, ids_i32, least_used(builder_, east_), kBroadcastCopies, id_bytes);
  const TiledTensor one_hot = per_token(weight_type_, share_.vocab);
  group_ = group("embedding");
  tag(RegionCategory::matrix);
  schedule_one_hot(builder_, token, ids_i32, one_hot);
  const model::Matrix& table = run_.weights.embedding;
  embedding_ = weights("embedding", table, 0, rows_of(table, share_.vocab0, share_.vocab));
  return product(one_hot, embedding_);
}

void ChipStep::embed_scale(const TiledTensor& rows) {
  tag(RegionCategory::matrix);
  x_ = per_token(act_, model_.d_model);
  if (!quantised()) {
    schedule_convert(builder_, rows, nullptr, x_);
    release({&x_});
    return;
  }
  VExpr e;
  store_as(e, act_,
           e.binary(Opcode::v_mul, DType::f32, e.cvt(DType::f32, DType::i32, e.input(0, DType::i32)),
                    e.input(1, DType::f32)));
  schedule_vectors(builder_.schedule(), e, {&rows, &embedding_.scale}, x_);
  release({&x_});
}

void ChipStep::release(std::initializer_list<const TiledTensor*> live) {
  if (!builder_.reuses_scratch()) return;
  std::vector<const Symbol*> keep;
  for (const TiledTensor* t : live) {
    for (const Symbol& tile : t->tiles) keep.push_back(&tile);
    for (const auto& copy : t->copies)
      for (const Symbol& tile : copy) keep.push_back(&tile);
  }
  builder_.release_scratch(keep);
}

// q, k, v of the chip's heads; RoPE on q and k; heads as rows; attention over the cache with the
// new k and v appended; the heads back in one row.
TiledTensor ChipStep::attention(uint32_t l) {
  layer_ = l;
  group_ = group(fmt::format("layer {}", l));
  const model::LayerWeights& lw = run_.weights.layers[l];
  const uint32_t first = 1 + 9 * l; // tensor index of wq (docs/models.md, "Seeded random weights")
  const std::string prefix = fmt::format("L{}", l);
  const uint32_t hd = model_.head_dim;
  const uint32_t q_cols = share_.heads * hd, kv_cols = share_.kv_heads * hd;
  const WeightMatrix wq = weights(prefix + ".wq", lw.wq, first, columns(lw.wq, share_.head0 * hd, q_cols));
  const WeightMatrix wk = weights(prefix + ".wk", lw.wk, first + 1, columns(lw.wk, share_.kv0 * hd, kv_cols));
  const WeightMatrix wv = weights(prefix + ".wv", lw.wv, first + 2, columns(lw.wv, share_.kv0 * hd, kv_cols));
  Window wo = rows_of(lw.wo, share_.head0 * hd, q_cols);
  wo.live0 = share_.wo_live0;
  wo.live = share_.wo_live;
  wo_ = weights(prefix + ".wo", lw.wo, first + 3, wo);
  if (holds_mlp(l)) mlp_weights(l);

  tag(RegionCategory::norms);
  const TiledTensor xn =
      rmsnorm(x_, vector_source(lw.attn_norm_source, lw.attn_norm_checkpoint, DeclaredValues::checkpoint),
              prefix + ".attn_norm");
  tag(RegionCategory::matrix);
  const Quantised xq = quantise(xn);
  const TiledTensor qf = project(xq, wq, act_);
  const TiledTensor kf = project(xq, wk, act_);
  const TiledTensor vf = project(xq, wv, act_);
  tag(RegionCategory::attention);
  const TiledTensor qr = per_token(act_, q_cols);
  schedule_rope(builder_, qf, hd, step_.position, static_cast<float>(model_.rope_theta), qr);
  const TiledTensor kr = per_token(kv_, kv_cols);
  schedule_rope(builder_, kf, hd, step_.position, static_cast<float>(model_.rope_theta), kr);
  // Head h of token i is row h * rows_ + i (head-major: each KV group's queries are one block).
  const auto split = [&](const TiledTensor& x, uint32_t heads) {
    const TiledTensor y = place_next(kv_, heads * rows_, hd);
    for (uint32_t i = 0; i < rows_; ++i)
      schedule_split_heads(builder_, token_row(x, i), y, {i, rows_, heads});
    return y;
  };
  const TiledTensor qh = split(qr, share_.heads);
  const TiledTensor kn = split(kr, share_.kv_heads);
  const TiledTensor vn = split(vf, share_.kv_heads);
  const TiledTensor o = place_next(DType::f32, share_.heads * rows_, hd);
  AttentionShape shape;
  shape.heads = share_.heads;
  shape.kv_heads = share_.kv_heads;
  shape.head_dim = hd;
  shape.seq = step_.position;
  shape.dtype = kv_;
  if (step_.prompt_tokens == 0)
    schedule_attention(builder_, shape, {&qh, &kn, &vn, kt_[l], v_[l], &o});
  else
    schedule_prompt_attention(builder_, shape, rows_, {&qh, &kn, &vn, kt_[l], v_[l], &o}, key_maps());
  attended_ = per_token(act_, q_cols);
  for (uint32_t i = 0; i < rows_; ++i)
    schedule_merge_heads(builder_, o, token_row(attended_, i), {i, rows_, share_.heads});
  tag(RegionCategory::matrix);
  const TiledTensor amax = per_token(DType::f32, lanes_);
  schedule_amax(builder_, *maps_, attended_, amax);
  release({&x_, &attended_, &amax});
  return amax;
}

void ChipStep::mlp_weights(uint32_t l) {
  const model::LayerWeights& lw = run_.weights.layers[l];
  const uint32_t first = 1 + 9 * l; // tensor index of wq (docs/models.md, "Seeded random weights")
  const std::string prefix = fmt::format("L{}", l);
  pending_ = {weights(prefix + ".w_gate", lw.w_gate, first + 4, columns(lw.w_gate, share_.ffn0, share_.ffn)),
              weights(prefix + ".w_up", lw.w_up, first + 5, columns(lw.w_up, share_.ffn0, share_.ffn))};
  wd_ = weights(prefix + ".w_down", lw.w_down, first + 6, rows_of(lw.w_down, share_.ffn0, share_.ffn));
}

void ChipStep::mlp_start(uint32_t l) {
  layer_ = l;
  group_ = fmt::format("layer {}", l);
  mlp_weights(l);
}

TiledTensor ChipStep::attention_out(const TiledTensor& amax) {
  tag(RegionCategory::matrix);
  const TiledTensor q = quantise_with(attended_, amax);
  TiledTensor c = product(q, wo_);
  release({&x_, &amax, &c});
  return c;
}

void ChipStep::attention_residual(const TiledTensor& c, const TiledTensor& amax) {
  tag(RegionCategory::matrix);
  x1_ = rescale(c, wo_, amax, act_, &x_);
  release({&x1_});
}

// Feed-forward: SwiGLU of the gate and up projections (the chip's columns).
TiledTensor ChipStep::ffn() {
  tag(RegionCategory::norms);
  const model::LayerWeights& lw = run_.weights.layers[layer_];
  const TiledTensor xn2 =
      rmsnorm(x1_, vector_source(lw.ffn_norm_source, lw.ffn_norm_checkpoint, DeclaredValues::checkpoint),
              fmt::format("L{}.ffn_norm", layer_));
  tag(RegionCategory::matrix);
  const Quantised xq2 = quantise(xn2);
  const TiledTensor gate = project(xq2, pending_[0], act_);
  const TiledTensor up = project(xq2, pending_[1], act_);
  attended_ = per_token(act_, share_.ffn);
  tag(RegionCategory::norms);
  schedule_swiglu(builder_, gate, up, attended_);
  tag(RegionCategory::matrix);
  const TiledTensor h_amax = per_token(DType::f32, lanes_);
  schedule_amax(builder_, *maps_, attended_, h_amax);
  release({&x1_, &attended_, &h_amax});
  return h_amax;
}

TiledTensor ChipStep::ffn_out(const TiledTensor& amax) {
  tag(RegionCategory::matrix);
  const TiledTensor q = quantise_with(attended_, amax);
  TiledTensor c = product(q, wd_);
  release({&x1_, &amax, &c});
  return c;
}

void ChipStep::residual(const TiledTensor& c, const TiledTensor& amax) {
  tag(RegionCategory::matrix);
  x_ = rescale(c, wd_, amax, act_, &x1_);
  release({&x_});
}

void ChipStep::head() {
  group_ = group("head");
  tag(RegionCategory::norms);
  // The prompt pass's first token comes from its last position only.
  const TiledTensor xf =
      rmsnorm(rows_ == 1 ? x_ : token_row(x_, rows_ - 1),
              vector_source(run_.weights.final_norm_source, run_.weights.final_norm_checkpoint,
                            DeclaredValues::checkpoint),
              "final_norm");
  tag(RegionCategory::matrix);
  const model::Matrix& lm = run_.weights.lm_head;
  const WeightMatrix head =
      weights("lm_head", lm, 2 + 9 * model_.layers, columns(lm, share_.vocab0, share_.vocab));
  logits_ = project(quantise(xf), head, DType::f32, nullptr, "LOGITS");
  // Lane ids (the global vocabulary index) and -inf past the chip's columns.
  const unsigned tiles = logits_.tile_count();
  std::vector<double> lane_ids(size_t(tiles) * lanes_), pad(size_t(tiles) * lanes_, 0.0);
  for (size_t i = 0; i < lane_ids.size(); ++i) {
    lane_ids[i] = double(share_.vocab0 + i);
    if (i >= share_.vocab) pad[i] = -INFINITY;
  }
  east_ = !east_;
  ids_ = place_tiled(builder_, "", DType::f32, 1, tiles * lanes_, least_used(builder_, east_), 1,
                     element_bytes_of(DType::f32, lane_ids), false);
  pad_ = place_tiled(builder_, "", DType::f32, 1, tiles * lanes_, least_used(builder_, east_), 1,
                     element_bytes_of(DType::f32, pad), false);
}

TiledTensor ChipStep::top() {
  const TiledTensor top =
      place_tiled(builder_, "", DType::f32, 1, lanes_, least_used(builder_, true), 1, {}, false);
  tag(RegionCategory::norms);
  schedule_argmax_max(builder_, *maps_, logits_, pad_, top);
  return top;
}

void ChipStep::argmax_index(const TiledTensor& top, const TiledTensor& y) {
  tag(RegionCategory::norms);
  schedule_argmax_index(builder_, *maps_, logits_, ids_, pad_, top, y);
}

void ChipStep::next_token(const TiledTensor& index) {
  tag(RegionCategory::norms);
  const TiledTensor next = vec(DType::i32, lanes_, "NEXT");
  VExpr e;
  e.cvt(DType::i32, DType::f32, e.input(0, DType::f32));
  schedule_vectors(builder_.schedule(), e, {&index}, next);
}

std::vector<Bound> ChipStep::bounds() const {
  const double planes = config_.geometry.mxm_planes();
  const double lw = lw_cycles(weight_type_, config_);
  return {{"weight install", double(weight_tiles_) * lw / planes},
          {"MEM bandwidth",
           double(weight_tiles_) * lw * config_.mxm.weight_streams / config_.geometry.mem_slices()}};
}

// The reference's logits (the chip's columns), token and cache (the chip's KV heads) after the step.
std::vector<ExpectedOutput> ChipStep::expected() const {
  std::vector<ExpectedOutput> outputs;
  if (!step_.with_reference) return outputs;
  if (share_.last)
    outputs.push_back(
        make_expected("NEXT", DType::i32, std::vector<double>(lanes_, model::argmax(run_.logits)), {}));
  for (unsigned t = 0; t < logits_.tile_count(); ++t) {
    const uint32_t cols = logits_.tiles[t].cols;
    const auto first = run_.logits.begin() + share_.vocab0 + t * lanes_;
    outputs.push_back(make_expected(logits_.tiles[t].name, DType::f32,
                                    std::vector<double>(first, first + cols),
                                    std::vector<double>(cols, llama_tolerance(model_.layers))));
  }
  const uint32_t all = model_.kv_width(), hd = model_.head_dim;
  const uint32_t first = share_.kv0 * hd, width = share_.kv_heads * hd;
  const uint32_t end = step_.position + rows_; // the positions the step appends end here
  for (uint32_t l = share_.stage.first_layer; l < share_.stage.first_layer + share_.stage.layers; ++l) {
    if (!holds_attention(l)) continue;
    for (unsigned t = 0; t < kt_[l].size(); ++t) {
      const uint32_t cols = kt_[l][t].cols;
      std::vector<double> values, tolerance;
      for (uint32_t r = 0; r < width; ++r)
        for (uint32_t c = 0; c < cols; ++c) {
          const uint32_t p = t * lanes_ + c;
          values.push_back(p < end ? run_.keys_after[l][size_t(p) * all + first + r] : 0.0);
          tolerance.push_back(p >= step_.position && p < end ? llama_tolerance(l) : 0.0);
        }
      outputs.push_back(make_expected(kt_[l][t].name, kv_, values, tolerance));
    }
    for (uint32_t g = 0; g < share_.kv_heads; ++g) {
      std::vector<double> values, tolerance;
      for (uint32_t p = 0; p < model_.max_context; ++p)
        for (uint32_t i = 0; i < hd; ++i) {
          values.push_back(p < end ? run_.values_after[l][size_t(p) * all + first + g * hd + i] : 0.0);
          tolerance.push_back(p >= step_.position && p < end ? llama_tolerance(l) : 0.0);
        }
      outputs.push_back(make_expected(v_[l][g].name, kv_, values, tolerance));
    }
  }
  return outputs;
}

// Combines one tensor per chip of `members` (a stage) with an op into one tensor per chip (every
// chip the same bits).
using AllReduce = std::function<std::vector<TiledTensor>(const std::vector<uint32_t>& members,
                                                         const std::vector<TiledTensor>&, isa::Opcode)>;
// Hands the residual row from chip from[k] of one stage to chip to[k] of the next.
using HandOff = std::function<void(const std::vector<uint32_t>& from, const std::vector<uint32_t>& to)>;
// Called once per stage, in order, when nothing more is placed on its chips (after the hand-off to
// the next stage, or at the end of the step): the chips' programs can be finished.
using StageDone = std::function<void(const std::vector<uint32_t>& members)>;

// The step's phases on every chip in turn: the pipeline stages (`stage_chips`, in pipeline order),
// each stage's layers tensor-parallel over its chips, all-reducing between the phases:
// the token's int32 embedding row (add, exact: one chip holds it), the AMAX of a projection input
// split over chips (max), the int32 products of Wo and w_down (add, exact), the largest logit
// (max) and the lowest index holding it (min).
void compose_step(std::vector<ChipStep>& chips, const std::vector<std::vector<uint32_t>>& stage_chips,
                  const AllReduce& all_reduce, const HandOff& hand_off, const StageDone& stage_done) {
  const auto stages = static_cast<uint32_t>(stage_chips.size());
  std::vector<uint32_t> members, previous;
  const auto each = [&](const std::function<TiledTensor(ChipStep&, size_t)>& phase) {
    std::vector<TiledTensor> out;
    for (size_t k = 0; k < members.size(); ++k) out.push_back(phase(chips[members[k]], k));
    return out;
  };
  const auto done = [&](const std::vector<uint32_t>& stage) {
    for (uint32_t m : stage) chips[m].end_regions();
    stage_done(stage);
  };
  for (uint32_t s = 0; s < stages; ++s) {
    previous = members;
    members = stage_chips[s];
    // A stage's inputs (its cache) are placed when it starts: a compile holds two stages at a time.
    for (uint32_t m : members) chips[m].inputs();
    if (s == 0) {
      const auto rows =
          all_reduce(members, each([](ChipStep& c, size_t) { return c.embed(); }), Opcode::v_add);
      for (size_t k = 0; k < members.size(); ++k) chips[members[k]].embed_scale(rows[k]);
    } else {
      hand_off(previous, members);
      done(previous);
    }
    // The stage's half-layer blocks in order: a layer's attention up to the residual x + attn(x),
    // then its MLP from that residual (a stage may start at an MLP or end after an attention).
    const ChipStep& lead = chips[members.front()];
    for (uint32_t l = lead.first_layer(); l < lead.first_layer() + lead.layer_count(); ++l) {
      std::vector<TiledTensor> amax, wo;
      if (lead.holds_attention(l)) {
        amax = all_reduce(members, each([&](ChipStep& c, size_t) { return c.attention(l); }), Opcode::v_max);
        wo = all_reduce(members, each([&](ChipStep& c, size_t k) { return c.attention_out(amax[k]); }),
                        Opcode::v_add);
      } else {
        for (uint32_t m : members) chips[m].mlp_start(l);
      }
      if (!lead.holds_mlp(l)) {
        for (size_t k = 0; k < members.size(); ++k) chips[members[k]].attention_residual(wo[k], amax[k]);
        continue;
      }
      const auto h_amax = all_reduce(members, each([&](ChipStep& c, size_t k) {
                                       if (c.holds_attention(l)) c.attention_residual(wo[k], amax[k]);
                                       return c.ffn();
                                     }),
                                     Opcode::v_max);
      const auto wd = all_reduce(members, each([&](ChipStep& c, size_t k) { return c.ffn_out(h_amax[k]); }),
                                 Opcode::v_add);
      for (size_t k = 0; k < members.size(); ++k) chips[members[k]].residual(wd[k], h_amax[k]);
    }
  }
  for (uint32_t m : members) chips[m].head();
  if (members.size() == 1) {
    ChipStep& chip = chips[members.front()];
    const TiledTensor next = chip.vec(DType::i32, chip.lanes(), "NEXT");
    chip.argmax_index(chip.top(), next);
    done(members);
    return;
  }
  const auto top = all_reduce(members, each([](ChipStep& c, size_t) { return c.top(); }), Opcode::v_max);
  const auto index = all_reduce(members, each([&](ChipStep& c, size_t k) {
                                  const TiledTensor key = c.vec(DType::f32, top[k].cols);
                                  c.argmax_index(top[k], key);
                                  return key;
                                }),
                                Opcode::v_min);
  for (size_t k = 0; k < members.size(); ++k) chips[members[k]].next_token(index[k]);
  done(members);
}

// The route of the hand-off from[k] -> to[k]: through the two stages' chips only (from node s to
// node s + 1 over the cables between them), else through chips still unfinished (stages from the
// sender's on), never through an earlier stage's finished chips.
// Where the hand-off between two stages whose chips are not paired by cables (from[k] to to[k],
// as between nodes of a rack) crosses: the first chip pair (a of `from`, b of `to`) with a cable,
// if `to` is fully connected; nothing when every pair has its own cable or no such pair exists.
std::optional<std::pair<uint32_t, uint32_t>>
gateway(const Topology& topology, const std::vector<uint32_t>& from, const std::vector<uint32_t>& to) {
  bool paired = true;
  for (size_t k = 0; k < from.size(); ++k) paired = paired && topology.direct(from[k], to[k]).has_value();
  if (paired) return std::nullopt;
  for (uint32_t c : to)
    for (uint32_t d : to)
      if (c != d && !topology.direct(c, d)) return std::nullopt;
  for (uint32_t a : from)
    for (uint32_t b : to)
      if (topology.direct(a, b)) return std::make_pair(a, b);
  return std::nullopt;
}

std::vector<Hop> hand_off_route(const Topology& topology, const SystemSchedule& schedule,
                                const std::vector<uint32_t>& from, const std::vector<uint32_t>& to,
                                size_t k) {
  std::vector<bool> stages(schedule.system().chips(), false);
  for (uint32_t c : from) stages[c] = true;
  for (uint32_t c : to) stages[c] = true;
  if (auto route = topology.route_within(from[k], to[k], stages)) return *route;
  std::vector<bool> open(schedule.system().chips());
  for (uint32_t c = 0; c < open.size(); ++c) open[c] = !schedule.finished(c);
  if (auto route = topology.route_within(from[k], to[k], open)) return *route;
  throw InputError(fmt::format(
      "llama: the hand-off from chip {} to chip {} has no route over the system's links", from[k], to[k]));
}

// The program's workload line, and the tokens one run puts through every layer (the report's
// tokens_per_run: 1 for a decode step, L for the prompt pass).
std::string llama_workload(const model::ModelConfig& model, const LlamaStep& step, const std::string& split) {
  if (step.prompt_tokens == 0)
    return fmt::format("llama decode step: model {} at position {}{}", model.name, step.position, split);
  return fmt::format("llama prompt pass: model {}, {} tokens at positions {} to {}{}", model.name,
                     step.prompt_tokens, step.position, step.position + step.prompt_tokens - 1, split);
}

uint64_t tokens_of(const LlamaStep& step) { return std::max(1u, step.prompt_tokens); }

} // namespace

std::string prompt_prediction(uint64_t predicted_cycles, double clock_mhz) {
  return fmt::format("time to first token: {:.3f} us predicted ({} cycles at {} MHz)",
                     double(predicted_cycles) / clock_mhz, predicted_cycles, clock_mhz);
}

CompiledKernel compile_llama_step(const ChipConfig& config, const model::ModelConfig& model,
                                  const LlamaStep& step) {
  check_step(config, model, step);
  if (!model::plan_model(model, config, {model.max_context, 1}).fits)
    throw InputError(fmt::format("llama: {} does not fit one chip at its context of {} (tspc plan --chips 1 "
                                 "says why)",
                                 model.name, model.max_context));
  ProgramBuilder builder(config);
  const ReferenceRun run = reference_run(model, step);
  std::vector<ChipStep> chips;
  chips.emplace_back(builder, model, step, share_of(model, 1, 0), run);
  compose_step(
      chips, {{0}}, [](const std::vector<uint32_t>&, const std::vector<TiledTensor>& x, Opcode) { return x; },
      [](const std::vector<uint32_t>&, const std::vector<uint32_t>&) {}, [](const std::vector<uint32_t>&) {});
  CompiledKernel kernel;
  kernel.program = builder.finish(llama_workload(model, step, ""), tokens_of(step));
  kernel.predicted_cycles = kernel.program.metadata.predicted_cycles;
  kernel.bounds = chips.front().bounds();
  kernel.outputs = chips.front().expected();
  return kernel;
}

CompiledSystem compile_llama_system(const SystemConfig& system, const model::ModelConfig& model,
                                    const LlamaStep& step, uint32_t stages, const StageProgress& progress,
                                    const std::filesystem::path& spill) {
  const uint32_t n = system.chips();
  if (stages == 0 || n % stages != 0 || stages > 2 * model.layers)
    throw InputError(
        fmt::format("llama: --stages {}: expected a divisor of the system's {} chips, at most twice {}'s {} "
                    "layers (a stage holds at least a layer's attention or MLP block)",
                    stages, n, model.name, model.layers));
  const uint32_t width = n / stages;
  const auto deal = model::stage_layers(model, system.config_of(0), model.max_context, width, stages);
  // The tensors alone, before the host reference and the stages' programs grow with them.
  const uint64_t sram = system.config_of(0).geometry.sram_bytes();
  for (uint32_t s = 0; s < stages; ++s) {
    const model::ChipBudget& b = deal[s].budget;
    const uint64_t tensors = b.weights + b.scales + b.norms + b.kv_cache;
    if (tensors > sram)
      throw InputError(
          fmt::format("llama: --stages {}: stage {} ({} layers from layer {}) holds {} bytes of "
                      "weights, scales, norms and KV cache per chip; a chip has {} bytes of SRAM "
                      "(tspc plan --chips {} says why)",
                      stages, s, deal[s].layers, deal[s].first_layer, tensors, sram, n));
  }
  const Topology topology(system);
  const auto stage_chips = pipeline_stage_chips(topology, stages, width);
  std::vector<Share> shares(n);
  for (uint32_t s = 0; s < stages; ++s)
    for (uint32_t k = 0; k < width; ++k) {
      Share& share = shares[stage_chips[s][k]];
      share = share_of(model, width, k);
      share.stage = deal[s];
      share.first = s == 0;
      share.last = s + 1 == stages;
    }
  check_step(system.config_of(0), model, step);
  SystemSchedule schedule(system, topology);
  if (!spill.empty()) schedule.spill_to(std::make_shared<ProgramSpill>(spill));
  const ReferenceRun run = reference_run(model, step);
  std::vector<ChipStep> chips;
  chips.reserve(n);
  for (uint32_t c = 0; c < n; ++c) chips.emplace_back(schedule.builder(c), model, step, shares[c], run);
  const auto all_reduce = [&](const std::vector<uint32_t>& members, const std::vector<TiledTensor>& x,
                              Opcode op) {
    std::vector<TiledTensor> out;
    for (size_t k = 0; k < members.size(); ++k)
      out.push_back(chips[members[k]].place(x[k].dtype, x[k].rows, x[k].cols));
    std::vector<const TiledTensor*> in_ptrs, out_ptrs;
    for (size_t k = 0; k < members.size(); ++k) {
      in_ptrs.push_back(&x[k]);
      out_ptrs.push_back(&out[k]);
    }
    for (uint32_t m : members) chips[m].tag(RegionCategory::collectives);
    if (members.size() > 1) schedule_all_reduce(schedule, members, in_ptrs, out_ptrs, op);
    return members.size() > 1 ? out : x;
  };
  const auto hand_off = [&](const std::vector<uint32_t>& from, const std::vector<uint32_t>& to) {
    std::vector<SystemSchedule::Flow> flows;
    for (uint32_t c : from) chips[c].tag(RegionCategory::handoff);
    // A stage of the LM head alone (no layer) receives into the head's group.
    for (uint32_t c : to)
      chips[c].tag(chips[c].group(chips[c].layer_count() == 0
                                      ? std::string("head")
                                      : fmt::format("layer {}", chips[c].first_layer())),
                   RegionCategory::handoff);
    const auto gate = gateway(topology, from, to);
    if (!gate) {
      for (size_t k = 0; k < from.size(); ++k)
        flows.push_back({hand_off_route(topology, schedule, from, to, k), &chips[from[k]].residual_row(),
                         &chips[to[k]].receive_residual()});
      schedule.interleave(flows);
    } else {
      // Every chip of the stage holds the same residual row: one copy crosses the cable between
      // the stages, and its receiver passes each vector on to the rest of its stage as it arrives.
      const auto [a, b] = *gate;
      schedule.interleave(
          {{{*topology.direct(a, b)}, &chips[a].residual_row(), &chips[b].receive_residual()}});
      for (uint32_t c : to)
        if (c != b)
          flows.push_back({{*topology.direct(b, c)}, &chips[b].received_row(), &chips[c].receive_residual()});
      schedule.interleave(flows);
    }
    // The stage starts with its hand-off: none of its work (weight installs first) goes earlier,
    // so each chip is occupied for its own stage only (docs/llama.md, "Requests sharing the chip").
    for (uint32_t c : to) {
      Schedule& receiver = schedule.builder(c).schedule();
      receiver.hold_until(receiver.last_active());
    }
  };
  const std::string split =
      stages == 1 ? fmt::format("tensor-parallel over {} chips", n)
                  : fmt::format("{} pipeline stages of {} tensor-parallel chips", stages, width);
  const std::string workload = llama_workload(model, step, ", " + split);
  uint32_t stage = 0;
  // Each stage's programs are finished and its schedules freed before the next stage is scheduled
  // past its hand-off: the compile holds the schedules of two stages at most.
  const auto stage_done = [&](const std::vector<uint32_t>& members) {
    for (uint32_t c : members) schedule.finish_chip(c, workload, tokens_of(step));
    if (progress) progress(stage, stages, schedule);
    ++stage;
  };
  compose_step(chips, stage_chips, all_reduce, hand_off, stage_done);
  CompiledSystem result = finish_system(schedule, workload, tokens_of(step));
  result.algorithm = "direct";
  for (uint32_t c = 0; c < n; ++c) result.outputs[c] = chips[c].expected();
  for (uint32_t c = 0; c < n; ++c) {
    const auto bounds = chips[c].bounds();
    if (result.bounds.empty() || bounds.front().cycles > result.bounds.front().cycles) result.bounds = bounds;
  }
  return result;
}

} // namespace tsp::compiler
