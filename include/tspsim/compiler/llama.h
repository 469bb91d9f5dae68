// One greedy decode step of a Llama-style model as one single-chip program (docs/llama.md): the
// token's embedding, every layer, the final norm, the LM head and the argmax, composed from the
// kernel library's phases on tensors placed in one ProgramBuilder. The phases a decode step adds
// to the library (W8A8 quantisation, dequantisation, head split and merge, one-hot embedding
// lookup, argmax) are declared here; each schedules onto tensors its caller placed.
#pragma once

#include "tspsim/compiler/collectives.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/lanes.h"
#include "tspsim/model/model.h"

#include <filesystem>
#include <functional>

namespace tsp::compiler {

class SystemSchedule;

// W8A8 input of an int8 GEMV (docs/models.md, "Precision per tensor class"): AMAX = max |x| over
// the row (fp32, in every lane of one vector), then Q = int8(round_even(fp32(x) * fp32(127 *
// recip(AMAX)))) over x's column tiles. x is one float row.
void schedule_quantize(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& x,
                       const TiledTensor& amax, const TiledTensor& q);
// Its two halves, for an x split over chips: AMAX of the chip's columns (then a max all-reduce),
// and Q of the chip's columns with the AMAX of the whole row.
void schedule_amax(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& x,
                   const TiledTensor& amax);
void schedule_quantize_with(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& amax,
                            const TiledTensor& q);

// Y = (fp32(C) * SCALE) * (AMAX * fp32(1/127)), the int32 GEMV result C back in y's type; with
// `residual`, Y = R + that rounded to R's type (the residual connection, in R's type).
void schedule_dequantize(ProgramBuilder& builder, const TiledTensor& c, const TiledTensor& scale,
                         const TiledTensor& amax, const TiledTensor* residual, const TiledTensor& y);

// Y = the fp32 product C of a float-weight GEMV in y's type; with `residual`, Y = R + that rounded
// to R's type (schedule_dequantize without the quantisation).
void schedule_convert(ProgramBuilder& builder, const TiledTensor& c, const TiledTensor* residual,
                      const TiledTensor& y);

// The embedding lookup's operand: Y (one row over the vocabulary, in the table's type) = 1 where
// IDS (int32 lane ids, Y's tiles) equals TOKEN (int32, the token in every lane of one vector), else
// 0. The GEMV Y x E then reads row TOKEN of the table E.
void schedule_one_hot(ProgramBuilder& builder, const TiledTensor& token, const TiledTensor& ids,
                      const TiledTensor& y);

// The greedy token of LOGITS (fp32, one row): the lowest index of the largest logit, in every
// lane of Y (int32, one vector). IDS holds the lane ids (fp32) and PAD 0 in LOGITS' columns and
// -inf in the padding lanes of its last tile (both one row of LOGITS' tiles x the vector length).
void schedule_argmax(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& logits,
                     const TiledTensor& ids, const TiledTensor& pad, const TiledTensor& y);
// Its two halves, for logits split over chips by columns (IDS then holds the global indices):
// TOP (fp32, every lane) = the largest logit; then the lowest index whose logit equals TOP, or
// kArgmaxPast where none does, in every lane of Y (fp32, for a min all-reduce, or int32).
inline constexpr double kArgmaxPast = 1073741824.0; // 2^30: past every index, exact in fp32
void schedule_argmax_max(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& logits,
                         const TiledTensor& pad, const TiledTensor& top);
void schedule_argmax_index(ProgramBuilder& builder, const LaneMaps& maps, const TiledTensor& logits,
                           const TiledTensor& ids, const TiledTensor& pad, const TiledTensor& top,
                           const TiledTensor& y);

// Row h of Y (heads x head_dim) = columns h * head_dim ... of X (one row, any number of column
// tiles; a head may straddle two), by SXM Permutes; and back: one row of every head's columns.
// Both round to y's type (the split to the KV type, the merge to the activations'). head_dim is
// at most one vector.
// `rows` places head h at row first + h * stride of the heads tensor (the prompt pass's head-major
// layout: query i's heads at rows i, i + queries, ...); heads 0: the tensor's rows.
struct HeadRows {
  uint32_t first = 0;
  uint32_t stride = 1;
  uint32_t heads = 0;
};
void schedule_split_heads(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& y,
                          const HeadRows& rows = {});
void schedule_merge_heads(ProgramBuilder& builder, const TiledTensor& x, const TiledTensor& y,
                          const HeadRows& rows = {});

// Allowed |chip - reference| of a value the step computes after `depth` layers: a layer's appended
// keys and values (depth: the layer's index) or the logits (depth: the model's layers). The int8
// quantisation of a projection's input turns a different rounding of one element anywhere before
// it into a whole level (docs/llama.md, "Precision and tolerance"). Up to kLlamaTolerantDepth
// layers the bound is kLlamaTolerance, about twice the largest differences measured on
// small-llama (0.071 and 0.066). Deeper, each layer's level flips and tensor-parallel sums add to
// the walk, so the bound grows with the square root of the depth: Llama-2 7B on 144 chips measured
// 0.148 after 9 layers, 0.200 after 20 and 0.215 in the logits after 32.
inline constexpr double kLlamaTolerance = 0.15;
inline constexpr uint32_t kLlamaTolerantDepth = 4;
double llama_tolerance(uint32_t depth);

// The longest prompt pass compiled (docs/llama.md, "Prompt pass", "Cost and limit"): tiny-llama's
// whole context of 256 on one chip. Past it nothing was tried; below it the limit is MEM, each
// failure one line and exit 2 (small-llama at 256 tokens: its instruction text finds no free bank
// port; Llama-2 7B with two layers a chip compiles at 64).
inline constexpr uint32_t kMaxPromptTokens = 256;

struct LlamaStep {
  uint32_t position = 0; // KV-cache position of the token (the cache holds positions 0 .. position - 1)
  uint64_t seed = 1;     // model::random_weights(model, seed)
  uint32_t token = 1;    // the sequence's first token; the state at `position` is the reference's
  // false (tspc llama --timing-only): the host reference does not run, so the program has no
  // expected outputs, its cache starts empty (zeros) and TOKEN is `token`. Its schedule and cycles
  // are those of the program with the reference: they do not depend on data.
  bool with_reference = true;
  // 0: one decode step at `position`. L > 0 (tspc llama --prompt-tokens): the prompt pass instead
  // (docs/llama.md, "Prompt pass"): L tokens at positions position .. position + L - 1 as matrices
  // of L rows, their keys and values into the cache, NEXT the first generated token. The prompt is
  // the reference's greedy continuation of `token` (TOKEN row i, any prompt can be loaded).
  uint32_t prompt_tokens = 0;
  // Non-empty: the weights are this checkpoint's (its files, one per shard; model::load_checkpoint)
  // instead of the seed's, and the program declares them as windows of its tensors by these paths.
  std::vector<std::string> checkpoint = {};
};

// The program of one decode step at `step.position` with seeded random weights declared as
// initialisers (the same elements as model::random_weights). Its inputs TOKEN (int32, the token
// in every lane) and the KV cache (L<l>.KT, L<l>.V.g<g>) start as the host reference's state after
// greedy decoding from `step.token`; outputs: LOGITS (fp32), NEXT (the greedy token, int32 in
// every lane) and the updated cache, each with the reference's values and tolerance.
CompiledKernel compile_llama_step(const ChipConfig& config, const model::ModelConfig& model,
                                  const LlamaStep& step);

// The same step over every chip of a system (docs/llama.md, "Tensor parallelism", "Pipeline
// parallelism"): `stages` pipeline stages of consecutive chips, each with its consecutive layers,
// handing the residual row to the next over C2C; inside a stage (fully connected) each chip
// computes its heads, FFN columns and vocabulary columns and the chips all-reduce between the
// phases. The last stage's chips hold NEXT and their LOGITS columns, every chip the KV heads of its
// layers. Throws InputError when the model does not split over the chips.
// Each stage's chips are finished into their programs (their schedules freed) once the next stage
// has its hand-off (docs/llama.md, "Compiling stage by stage"); `progress`, if given, is called
// after each stage is finished with its index, the stage count and the schedule. With a `spill`
// path the finished programs go to that file (CompiledSystem::spilled) instead of staying in memory.
using StageProgress = std::function<void(uint32_t stage, uint32_t stages, const SystemSchedule& schedule)>;
CompiledSystem compile_llama_system(const SystemConfig& system, const model::ModelConfig& model,
                                    const LlamaStep& step, uint32_t stages = 1,
                                    const StageProgress& progress = {},
                                    const std::filesystem::path& spill = {});

// tspc llama's prediction line for a prompt pass: its predicted cycles as time to first token.
std::string prompt_prediction(uint64_t predicted_cycles, double clock_mhz);

// The pipeline stage count `tspc plan` picks for exactly the system's chips at the model's context
// (docs/models.md); throws InputError, naming `system_name`, when the model does not fit them.
uint32_t planned_llama_stages(const SystemConfig& system, const model::ModelConfig& model,
                              const std::string& system_name);

} // namespace tsp::compiler
