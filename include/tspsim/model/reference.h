// The host reference of Llama decoding: an implementation written from the model definition
// (RMSNorm, RoPE, grouped-query attention over a KV cache, SwiGLU, residuals, final norm, LM head,
// greedy argmax) in plain float/double arithmetic, rounded to the model's declared precision at
// the points listed in docs/models.md ("The reference's precision model"). It is the oracle the
// chip's decode step is compared with; it shares no code with tspc.
#pragma once

#include "tspsim/model/model.h"
#include "tspsim/program/program.h"

#include <cstdint>
#include <vector>

namespace tsp::model {

// Where random_weights takes a vector of scales or gains from: element i is
// tsp::jitter_value(u_i, divisor) (program/tensor.h) of the fp32 stream of `seed`, rounded to the
// type it is stored in; a compiler declares the vector from these two numbers instead of storing
// it. Weights read from a checkpoint have none (divisor 0).
struct JitterSource {
  uint64_t seed = 0;
  double divisor = 0;
};

// A K x N weight matrix applied as y = x W (x has K elements). int8: w[k][n] = q[k][n] * scale[n];
// fp16/bf16: `values` holds the exact element values.
struct Matrix {
  uint32_t rows = 0; // K
  uint32_t cols = 0; // N
  DType dtype = DType::f16;
  std::vector<float> values;              // fp16/bf16, row-major
  std::vector<int8_t> q;                  // int8, row-major (empty: generated from q_seed by rows)
  uint64_t q_seed = 0;                    // int8 random weights: the elements' stream
  std::vector<float> scale;               // int8, one per column
  JitterSource scale_source;              // int8 random weights: the scales' stream
  CheckpointTensor checkpoint;            // read from a checkpoint: where (file empty: seeded)
  float at(uint32_t k, uint32_t n) const; // the element's value (q held)
  // Rows [first, first + count) of q, row-major: held, or generated from the stream when q is
  // empty (a seeded matrix without its elements; a checkpoint's must hold them).
  std::vector<int8_t> q_rows(uint32_t first, uint32_t count) const;
};

struct LayerWeights {
  Matrix wq, wk, wv, wo;        // d x heads*hd, d x kv*hd (twice), heads*hd x d
  Matrix w_gate, w_up, w_down;  // d x ffn (twice), ffn x d
  std::vector<float> attn_norm; // d gains, exact in the activation type
  std::vector<float> ffn_norm;
  JitterSource attn_norm_source, ffn_norm_source; // random weights: the gains' streams
  CheckpointTensor attn_norm_checkpoint, ffn_norm_checkpoint; // or their checkpoint tensors
};

struct Weights {
  Matrix embedding; // vocab x d: row t is token t's vector (int8: scale per column of d)
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;
  JitterSource final_norm_source;
  CheckpointTensor final_norm_checkpoint;
  Matrix lm_head; // d x vocab
};

// Seeded random weights, reproducible element by element from tsp::random_tensor (docs/models.md
// gives the seeds and scalings) in the model's weight precision. `shapes_only`: int8 matrices
// keep their shape, scales and seed but not their elements (7B's are 6.7 GB): a compiler declares
// them as seeded initialisers, and the Reference generates each matrix's rows as it uses them.
Weights random_weights(const ModelConfig& model, uint64_t seed, bool shapes_only = false);

// The seeds random_weights gives tensor `index` (the canonical order of docs/models.md): values,
// and values + 1 for int8 scales.
uint64_t weight_seed(uint64_t seed, uint32_t index);

// Rounds `x` to the storage type (fp32, fp16 or bf16; int8 is not a storage type for values).
float round_to(DType dtype, double x);

struct ReferenceOptions {
  // Intermediate results (sums, products, norms, softmax, transcendentals) in double (true), or
  // each rounded to fp32 with sums in ascending index order (false), the chip's MXM and VXM
  // arithmetic. Storage points round to the declared precision either way; the difference between
  // the two modes measures how much intermediate precision alone moves the logits.
  bool wide = true;
};

// One sequence decoded token by token with a growing KV cache.
class Reference {
public:
  Reference(ModelConfig model, Weights weights, ReferenceOptions options = {});

  // Runs the token at the next position (the cache length), appends its keys and values, and
  // returns the logits (fp32, vocab entries).
  std::vector<float> decode(uint32_t token);
  uint32_t position() const { return position_; }
  // Layer `layer`'s cache: keys (after RoPE) and values, position-major (kv_heads * head_dim per
  // position), in the KV-cache type.
  const std::vector<float>& keys(uint32_t layer) const { return cache_.at(layer).k; }
  const std::vector<float>& values(uint32_t layer) const { return cache_.at(layer).v; }
  // Replaces the cache with `keys` and `values` (per layer, position-major, one position per
  // kv_heads * head_dim elements; values are rounded to the KV-cache type): the next decode runs
  // at their length, from another implementation's state.
  void restore(const std::vector<std::vector<float>>& keys, const std::vector<std::vector<float>>& values);

  // The logits of the last of `tokens` computed from scratch, layer by layer over all positions
  // with a causal mask and no cache; does not touch this object's cache.
  std::vector<float> prefill_logits(const std::vector<uint32_t>& tokens) const;

  const ModelConfig& model() const { return model_; }

private:
  struct LayerCache {
    std::vector<float> k; // position-major: [position][kv_heads * head_dim]
    std::vector<float> v;
  };
  ModelConfig model_;
  Weights weights_;
  ReferenceOptions options_;
  std::vector<LayerCache> cache_;
  uint32_t position_ = 0;
};

// Largest logit, the lowest index on ties.
uint32_t argmax(const std::vector<float>& logits);

// Feeds `prompt` (at least one token), then `steps` greedy tokens each fed back; returns the
// generated tokens.
std::vector<uint32_t> greedy_decode(Reference& reference, const std::vector<uint32_t>& prompt,
                                    uint32_t steps);

} // namespace tsp::model
