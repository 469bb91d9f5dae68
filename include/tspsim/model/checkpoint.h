// Checkpoints in the safetensors layout with Hugging Face's Llama tensor names, read into the
// reference's weights (and written, so tests can make one). docs/models.md describes the mapping.
#pragma once

#include "tspsim/model/reference.h"

#include <filesystem>
#include <string>
#include <vector>

namespace tsp::model {

// One tensor of a safetensors file (tsp::read_safetensors_index reads the container): F32, F16 or
// BF16, row-major little-endian bytes.
struct StoredTensor {
  std::string name;
  DType dtype = DType::f32;
  std::vector<uint64_t> shape;
  std::vector<uint8_t> bytes;
};

// Every tensor of a file, read whole; throws InputError "FILE: ..." for anything malformed.
std::vector<StoredTensor> read_safetensors(const std::filesystem::path& path);
void write_safetensors(const std::filesystem::path& path, const std::vector<StoredTensor>& tensors);

// The tensors of `weights` under Hugging Face's names and layout ([out, in] projections; q_proj
// and k_proj rows in the rotate-half order), each element converted to `dtype`.
std::vector<StoredTensor> checkpoint_tensors(const ModelConfig& model, const Weights& weights, DType dtype);

// Reads a checkpoint for `model`: every expected tensor present once with its shape, no others;
// values converted to the model's precision (int8: per output column, scale = max|w| / 127, by
// tsp::quantise_columns, as a program's checkpoint declarations are). Every matrix and gain vector
// names its file and tensor (Matrix::checkpoint). `shapes_only`: the headers alone are read, and
// the weights have their shapes and sources but no values (a compile that runs no reference).
Weights load_checkpoint(const ModelConfig& model, const std::filesystem::path& path,
                        bool shapes_only = false);
// The same over a checkpoint sharded into several files (each tensor in exactly one of them).
Weights load_checkpoint(const ModelConfig& model, const std::vector<std::filesystem::path>& shards,
                        bool shapes_only = false);

} // namespace tsp::model
