// A Llama-style decoder model: its shapes and the precision of each tensor class, read from
// configs/models/*.json (docs/models.md) into typed structs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace tsp::model {

// Storage types of the tensor classes. The MXM multiplies operands of one type (int8, fp16 or
// bf16), so the weights' type is also the type the activations are converted to for a product.
enum class DType { i8, f16, bf16, f32 };

unsigned dtype_bytes(DType dtype);
const char* dtype_name(DType dtype); // "int8", "fp16", "bf16", "fp32"

struct Precision {
  // int8 weights carry one fp32 scale per output channel (symmetric: w = q * scale[column]).
  DType weights = DType::i8;
  // Stored activations: the residual stream and every vector passed between kernels.
  DType activations = DType::f16;
  DType kv_cache = DType::f16;
};

struct ModelConfig {
  std::string name;
  uint32_t layers = 0;
  uint32_t d_model = 0;
  uint32_t heads = 0;
  uint32_t kv_heads = 0; // grouped-query attention: heads / kv_heads query heads share one KV head
  uint32_t head_dim = 0;
  uint32_t ffn = 0; // SwiGLU hidden width
  uint32_t vocab = 0;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  uint32_t max_context = 0;
  Precision precision;
  std::string source; // file it was read from, for messages

  uint32_t q_width() const { return heads * head_dim; }
  uint32_t kv_width() const { return kv_heads * head_dim; }
  // Every weight element: embedding, per layer q/k/v/o, gate/up/down and two norms, final norm,
  // LM head (untied).
  uint64_t parameters() const;
};

// Reads and validates a model description. Throws InputError "FILE: KEY: what was expected".
ModelConfig load_model(const std::filesystem::path& path);
ModelConfig parse_model(const std::string& text, const std::string& origin);

// `name_or_path`: a path to a JSON file, or the name of a bundled model (configs/models/NAME.json
// under `models_dir`).
std::filesystem::path resolve_model(const std::string& name_or_path, const std::filesystem::path& models_dir);

} // namespace tsp::model
