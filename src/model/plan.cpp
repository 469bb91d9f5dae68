#include "tspsim/model/plan.h"

#include "tspsim/common/error.h"
#include "tspsim/model/mem_layout.h"

#include <algorithm>
#include <fmt/format.h>
#include <functional>
#include <limits>
#include <optional>

namespace tsp::model {

namespace {

// Program-text estimate, in 64-bit instructions, measured from tspc's kernels on configs/14nm.json
// (docs/models.md): a GEMV takes ~51 per 320 x 320 weight tile (8320 x 1280: 5280 for 104
// tiles); attention ~3600 plus ~3 per cached position (8 heads, 1 KV head, head_dim 128: 6716 at
// 1024, 9804 at 2048, 15161 at 4096); two RMSNorms, RoPE, SwiGLU and two residuals of a 70B
// layer ~3000, rounded up to 4000 for the activation quantisation of int8 products.
constexpr uint64_t kInstructionBytes = 8;
constexpr uint64_t kInstructionsPerTile = 51;
constexpr uint64_t kAttentionInstructions = 3600;
constexpr uint64_t kInstructionsPerPosition = 3;
constexpr uint64_t kLayerVectorInstructions = 4000;
constexpr uint64_t kActivationBytes = 4; // working vectors are fp32 (products accumulate in fp32/int32)
constexpr uint64_t kScaleBytes = 4;      // fp32 per-column scales of int8 weights
constexpr unsigned kReserveSlicesPerHemisphere = 1;

uint64_t round_up(uint64_t x, uint64_t unit) { return (x + unit - 1) / unit * unit; }
// a / b rounded up, without overflow near 2^32.
uint32_t ceil_div(uint32_t a, uint32_t b) { return a / b + (a % b != 0); }
double mib(uint64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

// Adds one stored tensor to a budget: `exact` bytes in the class `field`, the layout's rounding
// to padding. MXM operands are stored as tspc lays them out (mem_layout.h).
struct Accountant {
  ChipBudget& budget;
  const ChipConfig& chip;
  uint64_t vector; // lanes per vector

  void add(uint64_t ChipBudget::*field, uint64_t exact, uint64_t stored) {
    budget.*field += exact;
    budget.padding += stored - exact;
  }
  // A K x N MXM weight matrix (its tiles) and its scales; returns its tiles.
  uint64_t matrix(uint64_t k, uint64_t n, const Precision& p) {
    const unsigned wb = dtype_bytes(p.weights);
    const uint64_t tiles = matrix_tiles(chip, k, n);
    add(&ChipBudget::weights, k * n * wb, tiles * operand_words(chip, wb, tile_rows(chip)) * vector);
    if (p.weights == DType::i8) add(&ChipBudget::scales, n * kScaleBytes, round_up(n, vector) * kScaleBytes);
    return tiles;
  }
  void norm(uint64_t d, const Precision& p) {
    const uint64_t ab = dtype_bytes(p.activations);
    add(&ChipBudget::norms, d * ab, round_up(d, vector) * ab);
  }
  uint64_t activation(uint64_t rows, uint64_t cols) {
    return rows * round_up(cols, vector) * kActivationBytes;
  }
};

ChipBudget stage_budget(const ModelConfig& m, const ChipConfig& chip, const Partition& p, const StagePlan& s,
                        uint32_t context) {
  ChipBudget b;
  const uint64_t vector = chip.geometry.vector_bytes();
  Accountant a{b, chip, vector};
  const uint64_t d = m.d_model;
  const uint64_t qc = uint64_t(p.heads) * m.head_dim;
  const uint64_t kc = uint64_t(p.kv_heads) * m.head_dim;
  const uint64_t kvb = dtype_bytes(m.precision.kv_cache);

  // One attention block and one MLP block, each accounted on its own: a stage holds whole layers
  // or, where the deal splits layers, a different number of each. Each projection is a matrix of
  // its own, as tspc places them.
  ChipBudget attention, mlp;
  Accountant at{attention, chip, vector}, ml{mlp, chip, vector};
  uint64_t attention_tiles = 0, mlp_tiles = 0;
  for (uint64_t n : {qc, kc, kc}) attention_tiles += at.matrix(d, n, m.precision); // Q, K, V (column split)
  attention_tiles += at.matrix(qc, d, m.precision);                          // O (row split, then all-reduce)
  for (int i = 0; i < 2; ++i) mlp_tiles += ml.matrix(d, p.ffn, m.precision); // gate, up
  mlp_tiles += ml.matrix(p.ffn, d, m.precision);                             // down (row split)
  at.norm(d, m.precision);
  ml.norm(d, m.precision);
  // Keys transposed (rows: KV head x head_dim, columns: positions) and values (a row per position).
  at.add(&ChipBudget::kv_cache, 2 * kc * context * kvb,
         cache_words(chip, unsigned(kvb), p.kv_heads, m.head_dim, context) * vector);
  // One block's accounting stands for every block of its kind: they are identical.
  const uint64_t na = s.attention_blocks(), nm = s.mlp_blocks();
  for (auto field : {&ChipBudget::weights, &ChipBudget::scales, &ChipBudget::norms, &ChipBudget::kv_cache,
                     &ChipBudget::padding})
    b.*field = na * attention.*field + nm * mlp.*field;
  // The layer's vector phases (norms, RoPE, SwiGLU, residuals) count once per layer with a block.
  uint64_t instructions = na * (kInstructionsPerTile * attention_tiles + kAttentionInstructions +
                                kInstructionsPerPosition * context) +
                          nm * kInstructionsPerTile * mlp_tiles + s.layers * kLayerVectorInstructions;

  // The chip's rows of the embedding table: a vocab-share x d matrix (the lookup is a GEMV of
  // the token's one-hot row).
  if (s.embedding) instructions += kInstructionsPerTile * a.matrix(p.vocab, d, m.precision);
  if (s.lm_head) {
    a.norm(d, m.precision);
    instructions += kInstructionsPerTile * a.matrix(d, p.vocab, m.precision);
  }
  b.program_text = instructions * kInstructionBytes;

  b.activations = a.activation(1, d) * 4                  // residual, normed, O and down partial sums
                  + a.activation(1, qc + 2 * kc)          // Q, K, V
                  + a.activation(p.heads, context)        // attention scores, a row per head
                  + a.activation(1, qc)                   // attention output
                  + a.activation(1, 3 * uint64_t(p.ffn)); // gate, up, SwiGLU
  if (s.lm_head) b.activations += a.activation(1, p.vocab);
  b.reserve = uint64_t(2 * kReserveSlicesPerHemisphere) * chip.geometry.mem_words_per_slice * vector;
  return b;
}

// Deals the layers out over `caps.size()` stages as evenly as the capacities `caps` (layers each
// stage can hold) allow: every stage takes min(cap, level) for the lowest level that places them
// all, the remainder going one each to stages holding neither the embedding nor the LM head
// first, then to the last stage, then to the first. Returns false when the capacities hold fewer
// than `layers`.
bool deal_layers(uint32_t layers, const std::vector<uint32_t>& caps, std::vector<StagePlan>& out) {
  const size_t stages = caps.size();
  uint64_t room = 0;
  for (uint32_t c : caps) room += c;
  if (room < layers) return false;
  auto placed = [&](uint32_t level) {
    uint64_t sum = 0;
    for (uint32_t c : caps) sum += std::min(c, level);
    return sum;
  };
  // The lowest level that places them all (placed grows with the level).
  uint32_t level = 0;
  for (uint32_t high = layers; level < high;) {
    const uint32_t mid = level + (high - level) / 2;
    if (placed(mid) < layers)
      level = mid + 1;
    else
      high = mid;
  }
  out.assign(stages, StagePlan{});
  for (size_t i = 0; i < stages; ++i) out[i].layers = std::min(caps[i], level == 0 ? 0 : level - 1);
  uint64_t extra = layers - (level == 0 ? 0 : placed(level - 1));
  std::vector<size_t> order;
  for (size_t i = 1; i + 1 < stages; ++i) order.push_back(i);
  if (stages > 1) order.push_back(stages - 1);
  order.push_back(0);
  for (size_t i : order)
    if (extra > 0 && caps[i] >= level) {
      ++out[i].layers;
      --extra;
    }
  uint32_t next = 0;
  for (auto& s : out) {
    s.first_layer = next;
    next += s.layers;
  }
  out.front().embedding = true;
  out.back().lm_head = true;
  return true;
}

// The stage holding half-layer blocks [first, end) of a model's 2 x layers (block 2l: layer l's
// attention, 2l + 1: its MLP); the first block is stage 0's, the last the last stage's.
StagePlan block_stage(uint32_t first, uint32_t end, uint32_t blocks) {
  StagePlan s;
  s.first_layer = first / 2;
  s.layers = (end - 1) / 2 - first / 2 + 1;
  s.starts_at_mlp = first % 2 == 1;
  s.ends_after_attention = end % 2 == 1;
  s.embedding = first == 0;
  s.lm_head = end == blocks;
  return s;
}

// Deals the model's half-layer blocks over `stages` stages, each a non-empty run of consecutive
// blocks whose budget fits `sram`: the deal whose largest weight load (the busiest stage, which
// bounds the pipeline) is the least, and among those the one with the least sum of squared loads
// (the most even). Two dynamic programmes over (stage, blocks dealt): the minimax load, then the
// least squares under it. Empty when no deal fits.
std::optional<std::vector<StagePlan>> deal_blocks(const ModelConfig& m, const ChipConfig& chip,
                                                  const Partition& p, uint32_t context, uint32_t stages,
                                                  uint64_t sram) {
  const uint32_t n = 2 * m.layers;
  if (stages == 0 || stages > n) return std::nullopt;
  constexpr uint64_t kNone = std::numeric_limits<uint64_t>::max();
  // A run's budget depends on its length, the parity of its first block and whether it holds the
  // embedding or the LM head: computed once each.
  struct Cost {
    uint64_t load = kNone; // weight bytes; kNone when the run does not fit
    bool known = false;
  };
  std::vector<Cost> memo(size_t(n + 1) * 8);
  const auto load = [&](uint32_t first, uint32_t end) {
    Cost& c = memo[size_t(end - first) * 8 + (first % 2) * 4 + (first == 0 ? 2 : 0) + (end == n ? 1 : 0)];
    if (!c.known) {
      const ChipBudget b = stage_budget(m, chip, p, block_stage(first, end, n), context);
      c = {b.total() <= sram ? b.weights : kNone, true};
    }
    return c.load;
  };
  // Over the runs ending at `end` whose load fits (longest last: a longer run never fits where a
  // shorter does not), `pick(first, load)` for each.
  const auto runs_ending = [&](uint32_t end, uint32_t min_first,
                               const std::function<void(uint32_t, uint64_t)>& pick) {
    for (uint32_t first = end; first-- > min_first;) {
      const uint64_t l = load(first, end);
      if (l == kNone) break;
      pick(first, l);
    }
  };
  // worst[k][i]: the least largest load of k + 1 stages holding blocks [0, i).
  std::vector<std::vector<uint64_t>> worst(stages, std::vector<uint64_t>(n + 1, kNone));
  for (uint32_t i = 1; i <= n; ++i) worst[0][i] = load(0, i);
  for (uint32_t k = 1; k < stages; ++k)
    for (uint32_t i = k + 1; i <= n; ++i)
      runs_ending(i, k, [&](uint32_t first, uint64_t l) {
        if (worst[k - 1][first] != kNone)
          worst[k][i] = std::min(worst[k][i], std::max(worst[k - 1][first], l));
      });
  const uint64_t bound = worst[stages - 1][n];
  if (bound == kNone) return std::nullopt;
  // squares[k][i]: the least sum of squared loads (whole KiB: no overflow in 64 bits for any chip's
  // SRAM) under `bound`, from[k][i] the first block of stage k in it.
  std::vector<std::vector<uint64_t>> squares(stages, std::vector<uint64_t>(n + 1, kNone));
  std::vector<std::vector<uint32_t>> from(stages, std::vector<uint32_t>(n + 1, 0));
  const auto square = [](uint64_t l) { return (l >> 10) * (l >> 10); };
  for (uint32_t i = 1; i <= n; ++i)
    if (worst[0][i] <= bound) squares[0][i] = square(worst[0][i]);
  for (uint32_t k = 1; k < stages; ++k)
    for (uint32_t i = k + 1; i <= n; ++i)
      runs_ending(i, k, [&](uint32_t first, uint64_t l) {
        if (l > bound || squares[k - 1][first] == kNone) return;
        const uint64_t total = squares[k - 1][first] + square(l);
        if (total < squares[k][i]) {
          squares[k][i] = total;
          from[k][i] = first;
        }
      });
  std::vector<StagePlan> out(stages);
  uint32_t end = n;
  for (uint32_t k = stages; k-- > 0;) {
    const uint32_t first = k == 0 ? 0 : from[k][end];
    out[k] = block_stage(first, end, n);
    end = first;
  }
  return out;
}

std::vector<uint32_t> tensor_parallel_choices(const ModelConfig& m, uint32_t node_chips) {
  std::vector<uint32_t> out;
  for (uint32_t t = 1; t <= node_chips; t *= 2)
    if (m.heads % t == 0 && (m.kv_heads % t == 0 || t % m.kv_heads == 0)) out.push_back(t);
  return out;
}

// "layer 3", "layers 3-5", or where the stage splits layers its first and last blocks: "layer 3
// MLP - layer 5 attention", "layer 4 attention".
std::string stage_name(const StagePlan& s) {
  const uint32_t last = s.first_layer + s.layers - 1;
  std::string text;
  if (s.layers == 0)
    text = "no layers";
  else if (!s.splits_layers())
    text = s.layers == 1 ? fmt::format("layer {}", s.first_layer)
                         : fmt::format("layers {}-{}", s.first_layer, last);
  else if (s.attention_blocks() + s.mlp_blocks() == 1)
    text = fmt::format("layer {} {}", s.first_layer, s.starts_at_mlp ? "MLP" : "attention");
  else
    text = fmt::format("layer {}{} - layer {}{}", s.first_layer, s.starts_at_mlp ? " MLP" : "", last,
                       s.ends_after_attention ? " attention" : "");
  if (s.embedding) text += ", embedding";
  if (s.lm_head) text += ", LM head";
  return text;
}

// Runs of consecutive stages of the same whole layers (first and last stages, and stages that
// split layers, stand alone: their deal is printed).
struct StageGroup {
  size_t first;
  size_t last;
};
std::vector<StageGroup> stage_groups(const std::vector<StagePlan>& stages) {
  const auto alone = [](const StagePlan& s) { return s.embedding || s.lm_head || s.splits_layers(); };
  std::vector<StageGroup> out;
  for (size_t i = 0; i < stages.size();) {
    const auto& s = stages[i];
    size_t j = i + 1;
    while (j < stages.size() && stages[j].layers == s.layers && !alone(stages[j]) && !alone(s)) ++j;
    out.push_back({i, j - 1});
    i = j;
  }
  return out;
}

std::string group_name(const std::vector<StagePlan>& stages, const StageGroup& g) {
  if (g.first == g.last) return fmt::format("stage {} ({})", g.first, stage_name(stages[g.first]));
  const uint32_t n = stages[g.first].layers;
  return fmt::format("stages {}-{} ({} layer{} each)", g.first, g.last, n, n == 1 ? "" : "s");
}

Plan build_plan(const ModelConfig& m, const ChipConfig& chip, uint32_t context, uint32_t tp, uint32_t pp) {
  Plan plan;
  plan.model = m.name;
  plan.context = context;
  plan.sram_bytes = chip.geometry.sram_bytes();
  Partition& p = plan.partition;
  p.tensor_parallel = tp;
  p.pipeline_stages = pp;
  p.heads = m.heads / tp;
  p.kv_heads = std::max(1u, m.kv_heads / tp);
  p.ffn = ceil_div(m.ffn, tp);
  p.vocab = vocab_share(m, tp, 0).count;
  // The layers each stage can hold; if they do not add up, deal them out evenly to show what
  // overflows.
  std::vector<uint32_t> caps(pp);
  for (uint32_t i = 0; i < pp; ++i) {
    StagePlan probe;
    probe.embedding = i == 0;
    probe.lm_head = i + 1 == pp;
    while (probe.layers < m.layers) {
      ++probe.layers;
      if (stage_budget(m, chip, p, probe, context).total() > plan.sram_bytes) {
        --probe.layers;
        break;
      }
    }
    caps[i] = probe.layers;
  }
  const bool whole = deal_layers(m.layers, caps, plan.stages);
  const bool every_stage =
      std::all_of(plan.stages.begin(), plan.stages.end(), [](const StagePlan& s) { return s.layers > 0; });
  // A stage of half-layer blocks that fits holds at most 2 x cap + 1 of them (its whole layers are
  // at most its cap, and a budget only grows with blocks): a deal of more blocks is not sought,
  // its tables would grow with the layers.
  uint64_t block_room = 0;
  for (uint32_t c : caps) block_room += 2 * uint64_t{c} + 1;
  bool halves_fail = false;
  if (!whole || !every_stage) {
    std::optional<std::vector<StagePlan>> halves;
    if (block_room >= 2 * uint64_t{m.layers}) halves = deal_blocks(m, chip, p, context, pp, plan.sram_bytes);
    if (halves)
      plan.stages = std::move(*halves);
    else if (!whole) {
      deal_layers(m.layers, std::vector<uint32_t>(pp, m.layers), plan.stages);
      halves_fail = true;
    }
  }
  for (auto& s : plan.stages) s.budget = stage_budget(m, chip, p, s, context);

  plan.fits = true;
  for (const auto& g : stage_groups(plan.stages)) {
    const auto& s = plan.stages[g.first];
    const uint64_t need = s.budget.total();
    if (need <= plan.sram_bytes) continue;
    plan.fits = false;
    const auto& b = s.budget;
    plan.shortfalls.push_back(fmt::format(
        "{}: needs {:.1f} MiB per chip, has {:.1f} MiB: {:.1f} MiB ({} bytes) over; weights {:.1f}, "
        "scales and norms {:.1f}, KV cache {:.1f}, padding {:.1f}, activations {:.1f}, program text {:.1f}, "
        "reserve {:.1f} MiB",
        group_name(plan.stages, g), mib(need), mib(plan.sram_bytes), mib(need - plan.sram_bytes),
        need - plan.sram_bytes, mib(b.weights), mib(b.scales + b.norms), mib(b.kv_cache), mib(b.padding),
        mib(b.activations), mib(b.program_text), mib(b.reserve)));
  }
  if (halves_fail)
    plan.shortfalls.push_back(
        fmt::format("half-layer stages: no deal of the {} attention and MLP blocks over {} "
                    "stages fits either",
                    2 * m.layers, pp));
  return plan;
}

} // namespace

const StagePlan& Plan::fullest() const {
  return *std::max_element(stages.begin(), stages.end(), [](const StagePlan& a, const StagePlan& b) {
    return a.budget.total() < b.budget.total();
  });
}

std::vector<StagePlan> stage_layers(const ModelConfig& model, const ChipConfig& chip, uint32_t context,
                                    uint32_t tensor_parallel, uint32_t stages) {
  return build_plan(model, chip, context, tensor_parallel, stages).stages;
}

VocabShare vocab_share(const ModelConfig& model, uint32_t chips, uint32_t index) {
  const uint32_t per_chip = ceil_div(model.vocab, chips);
  const uint32_t first = std::min(model.vocab, index * per_chip);
  return {first, std::min(per_chip, model.vocab - first)};
}

Plan plan_model(const ModelConfig& m, const ChipConfig& chip, const PlanRequest& request) {
  if (request.context < 1 || request.context > m.max_context)
    throw InputError(fmt::format("--context: expected 1..{} (max_context of {}), got {}", m.max_context,
                                 m.source.empty() ? m.name : m.source, request.context));
  const auto choices = tensor_parallel_choices(m, std::max(1u, request.node_chips));
  const uint32_t widest = choices.back();

  if (request.chips != 0) {
    const uint32_t n = request.chips;
    if (std::find(choices.begin(), choices.end(), n) != choices.end())
      return build_plan(m, chip, request.context, n, 1);
    if (n % widest == 0 && n / widest <= m.layers + 2)
      return build_plan(m, chip, request.context, widest, n / widest);
    std::string single;
    for (uint32_t t : choices) single += fmt::format("{}, ", t);
    throw InputError(fmt::format(
        "--chips: expected {}or a multiple of {} up to {} ({}-way tensor parallel stages: one per layer of "
        "{}'s {}, plus the embedding and the LM head), got {}",
        single, widest, widest * (m.layers + 2), widest, m.name, m.layers, n));
  }
  for (uint32_t t : choices)
    if (auto plan = build_plan(m, chip, request.context, t, 1); plan.fits) return plan;
  for (uint32_t stages = 2; stages <= m.layers + 2; ++stages)
    if (auto plan = build_plan(m, chip, request.context, widest, stages); plan.fits) return plan;
  const Plan most = build_plan(m, chip, request.context, widest, m.layers + 2);
  throw InputError(fmt::format("{} at context {} fits on no number of chips: with {} ({} stages) {}", m.name,
                               request.context, most.chips(), m.layers + 2, most.shortfalls.front()));
}

} // namespace tsp::model

namespace tsp::model {

std::string format_plan(const Plan& plan, const ModelConfig& m, const ChipConfig& chip) {
  const Partition& p = plan.partition;
  std::string out = fmt::format(
      "{} on {}, context {}: weights {}, activations {}, KV cache {}; {:.1f} MiB SRAM per chip\n", m.name,
      chip.name, plan.context, dtype_name(m.precision.weights), dtype_name(m.precision.activations),
      dtype_name(m.precision.kv_cache), mib(plan.sram_bytes));
  out += fmt::format("chips {} = {} pipeline stage{} x {}-way tensor parallel: {}\n", plan.chips(),
                     p.pipeline_stages, p.pipeline_stages == 1 ? "" : "s", p.tensor_parallel,
                     plan.fits ? "fits" : "does NOT fit");
  out += fmt::format(
      "per chip: {} of {} query heads, {} of {} KV heads{}, {} of {} ffn columns; embedding {} of {} "
      "vocabulary rows (first stage); LM head {} of {} vocabulary columns (last stage)\n",
      p.heads, m.heads, p.kv_heads, m.kv_heads,
      p.tensor_parallel > m.kv_heads ? fmt::format(" (each on {} chips)", p.tensor_parallel / m.kv_heads)
                                     : "",
      p.ffn, m.ffn, p.vocab, m.vocab, p.vocab, m.vocab);
  if (std::any_of(plan.stages.begin(), plan.stages.end(),
                  [](const StagePlan& s) { return s.splits_layers(); }))
    out += "half-layer stages (whole layers do not fit, or leave a stage empty): a layer's attention and "
           "MLP blocks may be on consecutive stages, the residual handed off between them\n";
  out +=
      fmt::format("{:<8} {:<34} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n", "stages", "holds",
                  "weights", "scl+nrm", "KV", "padding", "activ.", "text", "reserve", "total", "free");
  for (const auto& g : stage_groups(plan.stages)) {
    const auto& s = plan.stages[g.first];
    const auto& b = s.budget;
    const bool one = g.first == g.last;
    const std::string free = b.total() <= plan.sram_bytes
                                 ? fmt::format("{:.1f}", mib(plan.sram_bytes - b.total()))
                                 : fmt::format("-{:.1f}", mib(b.total() - plan.sram_bytes));
    out += fmt::format(
        "{:<8} {:<34} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>8}\n",
        one ? fmt::format("{}", g.first) : fmt::format("{}-{}", g.first, g.last),
        one ? stage_name(s) : fmt::format("{} layer{} each", s.layers, s.layers == 1 ? "" : "s"),
        mib(b.weights), mib(b.scales + b.norms), mib(b.kv_cache), mib(b.padding), mib(b.activations),
        mib(b.program_text), mib(b.reserve), mib(b.total()), free);
  }
  for (const auto& line : plan.shortfalls) out += "does not fit: " + line + "\n";
  return out;
}

} // namespace tsp::model
