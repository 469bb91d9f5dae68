// The capacity planner: how a model is partitioned over chips for decoding at a given context
// (tensor parallel inside a node, pipeline stages across nodes) and what each chip's SRAM holds.
// The formulas are in docs/models.md; the decode-step compiler consumes the plan.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/model/model.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tsp::model {

struct PlanRequest {
  uint32_t context = 0;    // KV-cache positions held per sequence
  uint32_t chips = 0;      // 0: the fewest chips that fit
  uint32_t node_chips = 8; // chips that share a node (fully connected): the tensor-parallel limit
};

// How one chip of a pipeline stage splits the model (the same on every chip of the stage).
struct Partition {
  uint32_t tensor_parallel = 1; // chips per stage
  uint32_t pipeline_stages = 1;
  uint32_t heads = 0;    // query heads per chip
  uint32_t kv_heads = 0; // KV heads per chip (replicated when tensor_parallel > model kv_heads)
  uint32_t ffn = 0;      // gate/up columns (= down rows) per chip
  // Vocabulary entries per chip (vocab_share of chip 0): its LM-head columns (last stage) and its
  // embedding-table rows (first stage).
  uint32_t vocab = 0;
};

// The vocabulary entries [first, first + count) of chip `index` of `chips` that split a stage:
// its rows of the embedding table and its columns of the LM head. Consecutive ranges of
// ceil(vocab / chips) entries (the last chips may hold fewer). The planner and the decode-step
// compiler both call it.
struct VocabShare {
  uint32_t first = 0;
  uint32_t count = 0;
};
VocabShare vocab_share(const ModelConfig& model, uint32_t chips, uint32_t index);

// Bytes of one chip's SRAM, by what they hold. Matrices are stored in whole vectors: columns
// round up to the vector length, and MXM weights' rows to whole 320-row tiles (compile_gemm's
// layout); `padding` is what that rounding adds to the weights, scales and KV cache.
struct ChipBudget {
  uint64_t weights = 0;     // matrix elements (embedding, projections, LM head), unpadded
  uint64_t scales = 0;      // int8 weights: one fp32 scale per output column, unpadded
  uint64_t norms = 0;       // RMSNorm gains, unpadded
  uint64_t kv_cache = 0;    // keys and values at the planned context, unpadded
  uint64_t padding = 0;     // rounding of all of the above to the storage layout
  uint64_t activations = 0; // one token's working vectors (fp32), reused by every layer
  uint64_t program_text = 0;
  uint64_t reserve = 0; // kernels' scratch: one MEM slice per hemisphere
  uint64_t total() const {
    return weights + scales + norms + kv_cache + padding + activations + program_text + reserve;
  }
};

// A pipeline stage holds a run of consecutive half-layer blocks: a layer's attention block (its
// RMSNorm, Q, K, V, O and KV cache, up to the residual x + attn(x)) then its MLP block (RMSNorm,
// gate, up, down, residual). Usually whole layers; a deal that splits layers (docs/models.md,
// "Half-layer stages") starts a stage at its first layer's MLP or ends it after its last layer's
// attention, the hand-off being that residual row either way.
struct StagePlan {
  uint32_t first_layer = 0;
  uint32_t layers = 0;               // layers with a block in the stage
  bool starts_at_mlp = false;        // the first layer's attention block is the previous stage's
  bool ends_after_attention = false; // the last layer's MLP block is the next stage's
  bool embedding = false;            // first stage: the embedding lookup
  bool lm_head = false;              // last stage: final norm, LM head and argmax
  ChipBudget budget;                 // of each chip of the stage

  uint32_t attention_blocks() const { return layers - (starts_at_mlp ? 1 : 0); }
  uint32_t mlp_blocks() const { return layers - (ends_after_attention ? 1 : 0); }
  bool holds_attention(uint32_t layer) const {
    return layer >= first_layer + (starts_at_mlp ? 1 : 0) && layer < first_layer + layers;
  }
  bool holds_mlp(uint32_t layer) const {
    return layer >= first_layer && layer + (ends_after_attention ? 1 : 0) < first_layer + layers;
  }
  bool splits_layers() const { return starts_at_mlp || ends_after_attention; }
};

struct Plan {
  std::string model;
  uint32_t context = 0;
  uint64_t sram_bytes = 0; // per chip
  Partition partition;
  std::vector<StagePlan> stages;
  bool fits = false;
  // When it does not fit: one line per stage kind that overflows, saying by how much and why.
  std::vector<std::string> shortfalls;

  uint32_t chips() const { return partition.tensor_parallel * partition.pipeline_stages; }
  const StagePlan& fullest() const; // the stage with the largest budget total
};

// The plan for exactly `request.chips` chips (fits or not), or with chips = 0 the smallest chip
// count that fits. Throws InputError for a context above the model's max_context, a chip count
// the partition rules cannot use, or a model that fits on no number of chips.
Plan plan_model(const ModelConfig& model, const ChipConfig& chip, const PlanRequest& request);

// The layers of each of `stages` pipeline stages of `tensor_parallel` chips at `context`, dealt as
// plan_model deals them, also when they do not fit: the decode-step compiler takes the same deal.
// Whole layers (the stages with the embedding and the LM head get the fewer) when they fit with a
// layer in every stage; otherwise half-layer blocks, if they fit, dealt so that the largest weight
// load of a stage is the least possible, then as even as possible (docs/models.md).
std::vector<StagePlan> stage_layers(const ModelConfig& model, const ChipConfig& chip, uint32_t context,
                                    uint32_t tensor_parallel, uint32_t stages);

// What `tspc plan` prints: the chip count, the partition, a row of SRAM use per group of identical
// stages (MiB) and, when it does not fit, the shortfalls.
std::string format_plan(const Plan& plan, const ModelConfig& model, const ChipConfig& chip);

} // namespace tsp::model
