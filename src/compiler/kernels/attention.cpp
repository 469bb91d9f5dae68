// One decode step of multi-head attention with grouped-query heads over a KV cache in MEM
// (include/tspsim/compiler/kernels.h). For kv head g, the keys are stored transposed (K^T: one
// row per head dimension, one lane per position, in the LW layout) so that q K^T is an MXM pass
// with K^T as weights; the values are stored one row per position, so that p V is an MXM pass
// with V as weights. The phases:
//   1. append v_g as row `seq` of V_g (a Read and a Write through the VXM);
//   2. append k_g as lane `seq` of every row i of K^T_g: row i += Permute(k_g, map_i), where
//      map_i sends element i to lane `seq` (the cache lane is zero before the append);
//   3. scores of the heads of group g: Q_g K^T_g (fp32), for every group;
//   4. P = softmax(scores / sqrt(head_dim)) over every head's row, stored in the input type;
//   5. O_g = P_g V_g (fp32), for every group.
#include "tspsim/common/error.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/lanes.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/vector.h"
#include "tspsim/model/mem_layout.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

// Throws InputError for a shape the phases cannot schedule on `config`.
void check_attention(const ChipConfig& config, const AttentionShape& shape) {
  const DType dt = shape.dtype;
  if (dt != DType::f16 && dt != DType::bf16) throw InputError("attention: dtype must be fp16 or bf16");
  const unsigned vector = config.geometry.vector_bytes();
  const unsigned groups = config.mxm.weight_streams / isa::dtype_bytes(dt); // LW layout: rows per LW cycle
  const uint32_t d = shape.head_dim;
  if (shape.heads < 1 || shape.kv_heads < 1 || shape.heads % shape.kv_heads != 0)
    throw InputError(
        fmt::format("attention: heads {} must be a multiple of kv_heads {}", shape.heads, shape.kv_heads));
  if (d < 1 || d > vector || d % groups != 0)
    throw InputError(
        fmt::format("attention: head_dim {} must be a multiple of {} up to {}", d, groups, vector));
  if (config.geometry.mem_slices_per_hemisphere < config.mxm.weight_streams)
    throw InputError(
        fmt::format("attention: the KV cache is read by LW from {} MEM slices of one hemisphere; "
                    "config '{}' has {} MEM slices per hemisphere",
                    config.mxm.weight_streams, config.source, config.geometry.mem_slices_per_hemisphere));
}

// The sizes every phase works with, for a shape check_attention accepts.
struct AttentionDims {
  DType dtype;
  unsigned vector; // lanes (bytes) per vector
  unsigned bytes;  // per element
  uint32_t head_dim;
  uint32_t per_group; // query heads per KV head
  uint32_t seq;       // cached positions before the step
  uint32_t positions; // seq + 1: the cache after the append
  unsigned tiles;     // vectors of positions
};

AttentionDims attention_dims(const ChipConfig& config, const AttentionShape& shape) {
  check_attention(config, shape);
  const unsigned vector = config.geometry.vector_bytes();
  const uint32_t positions = shape.seq + 1;
  return {
      shape.dtype, vector,    isa::dtype_bytes(shape.dtype),    shape.head_dim, shape.heads / shape.kv_heads,
      shape.seq,   positions, (positions + vector - 1) / vector};
}

// S_g = Q_g K^T_g for every KV group g: `rows` query rows a group (rows g * rows ...) against the
// group's d rows of the transposed-key tiles, into `scores`.
void schedule_scores(ProgramBuilder& builder, const AttentionShape& shape, const AttentionTensors& tensors,
                     uint32_t rows, uint32_t positions, const TiledTensor& scores) {
  const uint32_t d = shape.head_dim;
  for (uint32_t g = 0; g < shape.kv_heads; ++g) {
    GemmShape qk;
    qk.m = rows;
    qk.k = d;
    qk.n = positions;
    qk.dtype = shape.dtype;
    schedule_gemm(builder, qk,
                  {[&](unsigned) { return row_view(tensors.q->tiles[0], g * rows, rows); },
                   [&](unsigned, unsigned j) { return row_view(tensors.kt[j], g * d, d); },
                   [&](unsigned j) { return row_view(scores.tiles[j], g * rows, rows); }});
  }
}

// O_g = P_g V_g for every KV group g: `rows` probability rows a group against the group's values
// (a row per position), into the output's rows g * rows ...
void schedule_values(ProgramBuilder& builder, const AttentionShape& shape, const AttentionTensors& tensors,
                     uint32_t rows, uint32_t positions, const TiledTensor& probabilities) {
  const unsigned vector = builder.config().geometry.vector_bytes();
  for (uint32_t g = 0; g < shape.kv_heads; ++g) {
    GemmShape pv;
    pv.m = rows;
    pv.k = positions;
    pv.n = shape.head_dim;
    pv.dtype = shape.dtype;
    schedule_gemm(builder, pv,
                  {[&](unsigned kt) { return row_view(probabilities.tiles[kt], g * rows, rows); },
                   [&](unsigned kt, unsigned) {
                     return row_view(tensors.v[g], kt * vector, std::min(vector, positions - kt * vector));
                   },
                   [&](unsigned) { return row_view(tensors.o->tiles[0], g * rows, rows); }});
  }
}

} // namespace

double schedule_attention(ProgramBuilder& builder, const AttentionShape& shape,
                          const AttentionTensors& tensors) {
  const ChipConfig& config = builder.config();
  const auto [dt, vector, bytes, d, per_group, seq, positions, tiles] = attention_dims(config, shape);
  const unsigned new_tile = seq / vector;
  const unsigned new_lane = seq % vector;
  const TiledTensor& kn_tensor = *tensors.kn;
  const TiledTensor& vn_tensor = *tensors.vn;
  const std::vector<Symbol>& kt_tiles = tensors.kt;
  const std::vector<Symbol>& v_tensors = tensors.v;
  // Permute map i sends element i of the new key to the new position's lane.
  std::vector<int> maps;
  for (uint32_t i = 0; i < d; ++i)
    for (unsigned lane = 0; lane < vector; ++lane) maps.push_back(lane == new_lane ? int(i) : kNoLane);
  // Read once per row of every kv head: spread so that no slice reads them every cycle.
  const auto map_tensor = place_tiled(builder, "", DType::i16, d, vector, least_used(builder, false), 8,
                                      int16_bytes(maps), false);
  const unsigned sxm = *builder.schedule().floorplan().find_slice("SXM_W");

  for (uint32_t g = 0; g < shape.kv_heads; ++g) {
    // 1. v_g becomes row `seq` of V_g.
    Symbol v_row;
    v_row.dtype = dt;
    v_row.rows = 1;
    v_row.cols = d;
    for (unsigned b = 0; b < bytes; ++b) {
      const SymbolWord word = symbol_word(v_tensors[g], seq, b);
      v_row.slices.push_back(word.mem);
      v_row.bases.push_back(word.address);
    }
    v_row.base = v_row.bases.front();
    VExpr copy;
    copy.unary(Opcode::v_mov, dt, copy.input(0, dt, int(g)));
    schedule_vectors(builder.schedule(), copy, {&vn_tensor}, single_tile(v_row));

    // 2. k_g becomes lane `seq` of rows g * d .. g * d + d - 1 of K^T, in place.
    const TiledTensor kt_rows_g = single_tile(row_view(kt_tiles[new_tile], g * d, d));
    VExpr append;
    append.binary(Opcode::v_add, dt, append.input(0, dt),
                  append.lane_move(Opcode::permute, dt, append.input(1, dt, int(g)),
                                   append.input(2, DType::i16, -1, 0), sxm));
    schedule_vectors(builder.schedule(), append, {&kt_rows_g, &kn_tensor, &map_tensor}, kt_rows_g);
  }

  // 3. Scores of all heads, group by group (rows g * per_group ...), then 4. one softmax over
  // every head's row, then 5. O_g = P_g V_g; each phase of a group may overlap the others'.
  const float scale = static_cast<float>(1.0 / std::sqrt(double(d)));
  // Scores and probabilities spread over slice groups (a divisor of the heads per group, so that
  // each group's rows are a view) so that no slice serves every row.
  unsigned row_groups = std::min(8u, per_group);
  while (per_group % row_groups != 0) --row_groups;
  const TiledTensor scores = place_tiled(builder, "", DType::f32, shape.heads, positions,
                                         least_used(builder, true), row_groups, {}, false);
  schedule_scores(builder, shape, tensors, per_group, positions, scores);
  const TiledTensor probabilities =
      place_tiled(builder, "", dt, shape.heads, positions, least_used(builder, false), row_groups, {}, false);
  const double chain = schedule_softmax(builder, scores, scale, probabilities);
  schedule_values(builder, shape, tensors, per_group, positions, probabilities);
  return chain;
}

namespace {

// Queries whose keys one read-modify-write of a K^T row appends in the prompt pass.
constexpr uint32_t kKeyBlock = 8;

} // namespace

std::vector<TiledTensor> place_prompt_key_maps(ProgramBuilder& builder, uint32_t head_dim, uint32_t seq,
                                               uint32_t queries) {
  const unsigned vector = builder.config().geometry.vector_bytes();
  std::vector<TiledTensor> maps;
  for (uint32_t i = 0; i < queries; ++i) {
    std::vector<int> map(size_t(head_dim) * vector, kNoLane);
    for (uint32_t r = 0; r < head_dim; ++r) map[size_t(r) * vector + (seq + i) % vector] = int(r);
    // Row r is read once per block and KV head: rows over slice groups, queries over both sides.
    maps.push_back(place_tiled(builder, "", DType::i16, head_dim, vector, least_used(builder, i % 2 == 0), 8,
                               int16_bytes(map), false));
  }
  return maps;
}

double schedule_prompt_attention(ProgramBuilder& builder, const AttentionShape& shape, uint32_t queries,
                                 const AttentionTensors& tensors, const std::vector<TiledTensor>& maps) {
  const ChipConfig& config = builder.config();
  check_attention(config, shape);
  const DType dt = shape.dtype;
  const unsigned vector = config.geometry.vector_bytes();
  const uint32_t d = shape.head_dim, seq = shape.seq, n = queries;
  const uint32_t per_group = shape.heads / shape.kv_heads;
  const uint32_t positions = seq + n;
  const unsigned bytes = isa::dtype_bytes(dt);
  const std::vector<Symbol>& kt_tiles = tensors.kt;
  const std::vector<Symbol>& v_tensors = tensors.v;
  const unsigned sxm = *builder.schedule().floorplan().find_slice("SXM_W");

  // Keys go into K^T lane by lane: row r of a head's rows takes element r of query i's key into
  // lane seq + i by a Permute with query i's map r; the keys of a block of queries are or-ed into
  // the row in one read-modify-write (their lanes are disjoint and zero before): d x queries
  // Permutes per KV head, d rows written per block.
  for (uint32_t g = 0; g < shape.kv_heads; ++g)
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t p = seq + i;
      Symbol v_row;
      v_row.dtype = dt;
      v_row.rows = 1;
      v_row.cols = d;
      v_row.base = symbol_word(v_tensors[g], p, 0).address;
      for (unsigned b = 0; b < bytes; ++b) v_row.slices.push_back(symbol_word(v_tensors[g], p, b).mem);
      VExpr copy;
      copy.unary(Opcode::v_mov, dt, copy.input(0, dt, int(g * n + i)));
      schedule_vectors(builder.schedule(), copy, {tensors.vn}, single_tile(v_row));
    }
  for (uint32_t g = 0; g < shape.kv_heads; ++g)
    for (uint32_t i0 = 0; i0 < n;) {
      // A block's positions are in one K^T tile.
      const uint32_t tile = (seq + i0) / vector;
      const uint32_t end = std::min({n, i0 + kKeyBlock, (tile + 1) * vector - seq});
      const TiledTensor kt_rows_g = single_tile(row_view(kt_tiles[tile], g * d, d));
      std::vector<const TiledTensor*> inputs{&kt_rows_g, tensors.kn};
      VExpr append;
      unsigned row = append.input(0, dt);
      for (uint32_t i = i0; i < end; ++i) {
        inputs.push_back(&maps[i]);
        const unsigned key = append.lane_move(Opcode::permute, dt, append.input(1, dt, int(g * n + i), 0),
                                              append.input(unsigned(inputs.size() - 1), DType::i16), sxm);
        row = append.binary(Opcode::v_or, dt, row, key);
      }
      schedule_vectors(builder.schedule(), append, inputs, kt_rows_g);
      i0 = end;
    }

  const float scale = static_cast<float>(1.0 / std::sqrt(double(d)));
  // The softmax reads every row twice, faster than one slice group serves: rows over every slice
  // group of a side (place_tiled caps the count).
  const unsigned groups = 16;
  const uint32_t rows = per_group * n; // a KV group's query rows
  const TiledTensor scores = place_tiled(builder, "", DType::f32, shape.heads * n, positions,
                                         least_used(builder, true), groups, {}, false);
  schedule_scores(builder, shape, tensors, rows, positions, scores);
  // Query i sees positions up to seq + i: -inf added past them, so that their exp is zero and the
  // softmax of every row is the decode step's at that position, bit for bit.
  std::vector<double> causal(size_t(n) * positions, 0.0);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t c = seq + i + 1; c < positions; ++c) causal[size_t(i) * positions + c] = -INFINITY;
  const TiledTensor mask = place_tiled(builder, "", DType::f32, n, positions, least_used(builder, false), 1,
                                       element_bytes_of(DType::f32, causal), false);
  const TiledTensor masked = place_tiled(builder, "", DType::f32, shape.heads * n, positions,
                                         least_used(builder, false), groups, {}, false);
  for (uint32_t h = 0; h < shape.heads; ++h) {
    VExpr add;
    add.binary(Opcode::v_add, DType::f32, add.input(0, DType::f32), add.input(1, DType::f32));
    const TiledTensor head_scores = tiled_rows(scores, h * n, n);
    schedule_vectors(builder.schedule(), add, {&head_scores, &mask}, tiled_rows(masked, h * n, n));
  }
  const TiledTensor probabilities =
      place_tiled(builder, "", dt, shape.heads * n, positions, least_used(builder, false), groups, {}, false);
  const double chain = schedule_softmax(builder, masked, scale, probabilities);
  schedule_values(builder, shape, tensors, rows, positions, probabilities);
  return chain;
}

namespace {

// The host reference: O by an exact softmax in double (the chip rounds the probabilities to the
// input type), and the caches after the append. `k_old` are the cached keys' values.
std::vector<ExpectedOutput> attention_reference(const ChipConfig& config, const AttentionShape& shape,
                                                const std::vector<double>& k_old,
                                                const std::vector<Symbol>& kt_tiles,
                                                const std::vector<Symbol>& v_tensors) {
  const auto [dt, vector, bytes, d, per_group, seq, positions, tiles] = attention_dims(config, shape);
  const auto q = element_values(dt, random_tensor(dt, shape.heads, d, shape.seed));
  const auto kn = element_values(dt, random_tensor(dt, shape.kv_heads, d, shape.seed + 1));
  const auto vn = element_values(dt, random_tensor(dt, shape.kv_heads, d, shape.seed + 2));
  const auto v_old = element_values(dt, random_tensor(dt, shape.kv_heads * seq, d, shape.seed + 4));
  // Full caches after the append: key(g, p, i), value(g, p, i).
  auto key = [&](uint32_t g, uint32_t p, uint32_t i) {
    return p < seq ? k_old[(size_t(g) * seq + p) * d + i] : kn[size_t(g) * d + i];
  };
  auto value = [&](uint32_t g, uint32_t p, uint32_t i) {
    return p < seq ? v_old[(size_t(g) * seq + p) * d + i] : vn[size_t(g) * d + i];
  };
  const float scale = static_cast<float>(1.0 / std::sqrt(double(d)));
  const unsigned p_bits = dt == DType::f16 ? 11 : 8;
  std::vector<double> out, tolerance;
  for (uint32_t h = 0; h < shape.heads; ++h) {
    const uint32_t g = h / per_group;
    std::vector<double> s(positions);
    double mx = -INFINITY;
    for (uint32_t p = 0; p < positions; ++p) {
      double dot = 0;
      for (uint32_t i = 0; i < d; ++i) dot += q[size_t(h) * d + i] * key(g, p, i);
      s[p] = dot * scale;
      mx = std::max(mx, s[p]);
    }
    double sum = 0;
    for (double& v : s) sum += (v = std::exp(v - mx));
    for (uint32_t i = 0; i < d; ++i) {
      double o = 0, magnitude = 0;
      for (uint32_t p = 0; p < positions; ++p) {
        o += s[p] / sum * value(g, p, i);
        magnitude += s[p] / sum * std::fabs(value(g, p, i));
      }
      out.push_back(o);
      tolerance.push_back(std::ldexp(magnitude, 2 - int(p_bits)) + std::ldexp(1.0, -20));
    }
  }
  std::vector<ExpectedOutput> outputs{make_expected("O", DType::f32, out, tolerance)};
  for (unsigned t = 0; t < tiles; ++t) {
    std::vector<double> kt;
    for (uint32_t r = 0; r < shape.kv_heads * d; ++r)
      for (uint32_t c = 0; c < kt_tiles[t].cols; ++c) kt.push_back(key(r / d, t * vector + c, r % d));
    outputs.push_back(make_expected(kt_tiles[t].name, dt, kt, {}));
  }
  for (uint32_t g = 0; g < shape.kv_heads; ++g) {
    std::vector<double> v;
    for (uint32_t p = 0; p < positions; ++p)
      for (uint32_t i = 0; i < d; ++i) v.push_back(value(g, p, i));
    outputs.push_back(make_expected(v_tensors[g].name, dt, v, {}));
  }
  return outputs;
}

} // namespace

CompiledKernel compile_attention(const ChipConfig& config, const AttentionShape& shape) {
  const auto [dt, vector, bytes, d, per_group, seq, positions, tiles] = attention_dims(config, shape);

  ProgramBuilder builder(config);
  // Inputs are seeded: q (seed), the new k and v (seed + 1, + 2), the cached keys and values
  // (seed + 3, + 4, head-major). All but the cached keys are declared tensors; the keys are stored
  // transposed in K^T, which no window of their stream is, so K^T is an image.
  const auto q_tensor =
      place_random(builder, "Q", dt, shape.heads, d, least_used(builder, false), 1, shape.seed);
  auto kn_tensor =
      place_random(builder, "KN", dt, shape.kv_heads, d, least_used(builder, true), 1, shape.seed + 1);
  // Every row of a head's append reads its new key: copies spread those reads over slices.
  add_random_copies(builder, kn_tensor, least_used(builder, true), 3, shape.seed + 1);
  const auto vn_tensor =
      place_random(builder, "VN", dt, shape.kv_heads, d, least_used(builder, true), 1, shape.seed + 2);

  // K^T: row g * d + i, lane = position, tiles of `vector` positions; the new lane is zero. Rows
  // past the last head are reserved so that its LW reads zeros.
  const uint32_t kt_rows = shape.kv_heads * d;
  const model::CacheLayout layout = model::cache_layout(config, shape.kv_heads, d, positions);
  std::vector<Symbol> kt_tiles;
  for (unsigned t = 0; t < tiles; ++t) {
    const uint32_t cols = std::min(vector, positions - t * vector);
    // Row r of K^T is element r % d of head r / d's keys: one key every d elements of their
    // stream, generated in place (zero bytes are 0.0), not as the key tensor and then moved.
    std::vector<uint8_t> initial(size_t(kt_rows) * cols * bytes, 0);
    const uint32_t cached = t * vector < seq ? std::min(cols, seq - t * vector) : 0;
    for (uint32_t r = 0; cached > 0 && r < kt_rows; ++r)
      random_column(dt, cached, d,
                    random_skip(shape.seed + 3, (uint64_t{r / d} * seq + t * vector) * d + r % d),
                    &initial[size_t(r) * cols * bytes]);
    auto mems = least_used(builder, t % 2 == 1);
    mems.resize(config.mxm.weight_streams);
    kt_tiles.push_back(builder.add_tensor(tiles == 1 ? "KT" : fmt::format("KT.c{}", t), dt, kt_rows, cols,
                                          mems, layout.kt_rows, std::move(initial)));
  }
  // V_g: row = position, padded with zero rows to whole tiles for the LW; its first seq rows are
  // declared (head g's window of the stream of seed + 4), the others are zero.
  std::vector<Symbol> v_tensors;
  for (uint32_t g = 0; g < shape.kv_heads; ++g) {
    auto mems = least_used(builder, g % 2 == 0);
    mems.resize(config.mxm.weight_streams);
    const std::string name = fmt::format("V.g{}", g);
    v_tensors.push_back(builder.add_tensor(seq == 0 ? name : "", dt, positions, d, mems, layout.v_rows, {}));
    if (seq == 0) continue;
    v_tensors.back().name = name;
    DeclaredTensor declared =
        random_declaration(v_tensors.back(), random_skip(shape.seed + 4, uint64_t{g} * seq * d), vector);
    declared.row_count = seq;
    builder.add_random(v_tensors.back(), declared);
  }
  const TiledTensor o_tensor =
      place_tiled(builder, "O", DType::f32, shape.heads, d, least_used(builder, true), 1, {});
  const double chain =
      schedule_attention(builder, shape, {&q_tensor, &kn_tensor, &vn_tensor, kt_tiles, v_tensors, &o_tensor});

  CompiledKernel kernel;
  kernel.program =
      builder.finish(fmt::format("attention decode {} heads ({} kv) head_dim {} at position {} {}",
                                 shape.heads, shape.kv_heads, d, seq, isa::dtype_name(dt)),
                     1);
  kernel.predicted_cycles = kernel.program.metadata.predicted_cycles;
  if (shape.with_reference)
    kernel.outputs = attention_reference(
        config, shape, element_values(dt, random_tensor(dt, shape.kv_heads * seq, d, shape.seed + 3)),
        kt_tiles, v_tensors);

  const double planes = config.geometry.mxm_planes();
  const double interval = config.mxm.float_activation_interval;
  const double loads = 2.0 * shape.kv_heads * tiles;
  kernel.bounds = {
      {"MXM compute", 2.0 * shape.heads * tiles * interval / planes},
      {"weight install", loads * lw_cycles(dt, config) / planes},
      {"MEM bandwidth", loads * vector * bytes / config.geometry.mem_slices()},
      {"dependency chain", chain},
  };
  return kernel;
}

} // namespace tsp::compiler
