#include "tspsim/model/checkpoint.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/checkpoint_matrix.h"
#include "tspsim/program/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

namespace tsp::model {

using nlohmann::json;

namespace {

isa::DType stored_type(DType dtype) {
  switch (dtype) {
  case DType::f32:
    return isa::DType::f32;
  case DType::f16:
    return isa::DType::f16;
  case DType::bf16:
    return isa::DType::bf16;
  case DType::i8:
    break;
  }
  throw std::invalid_argument("safetensors: int8 tensors are not written");
}

DType model_type(isa::DType dtype) {
  return dtype == isa::DType::f16 ? DType::f16 : dtype == isa::DType::bf16 ? DType::bf16 : DType::f32;
}

void append_element(std::vector<uint8_t>& out, DType dtype, float value) {
  uint32_t bits = 0;
  switch (dtype) {
  case DType::f32:
    std::memcpy(&bits, &value, 4);
    break;
  case DType::f16:
    bits = num::f32_to_f16(value);
    break;
  case DType::bf16:
    bits = num::f32_to_bf16(value);
    break;
  case DType::i8:
    break;
  }
  for (unsigned b = 0; b < dtype_bytes(dtype); ++b) out.push_back(uint8_t(bits >> (8 * b)));
}

struct Expected {
  std::string name;
  std::vector<uint64_t> shape;
};

std::vector<Expected> expected_tensors(const ModelConfig& m) {
  const uint64_t d = m.d_model;
  std::vector<Expected> out = {{"model.embed_tokens.weight", {m.vocab, d}}};
  for (uint32_t l = 0; l < m.layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    out.push_back({p + "self_attn.q_proj.weight", {m.q_width(), d}});
    out.push_back({p + "self_attn.k_proj.weight", {m.kv_width(), d}});
    out.push_back({p + "self_attn.v_proj.weight", {m.kv_width(), d}});
    out.push_back({p + "self_attn.o_proj.weight", {d, m.q_width()}});
    out.push_back({p + "mlp.gate_proj.weight", {m.ffn, d}});
    out.push_back({p + "mlp.up_proj.weight", {m.ffn, d}});
    out.push_back({p + "mlp.down_proj.weight", {d, m.ffn}});
    out.push_back({p + "input_layernorm.weight", {d}});
    out.push_back({p + "post_attention_layernorm.weight", {d}});
  }
  out.push_back({"model.norm.weight", {d}});
  out.push_back({"lm_head.weight", {m.vocab, d}});
  return out;
}

} // namespace

std::vector<StoredTensor> read_safetensors(const std::filesystem::path& path) {
  const SafetensorsIndex index = read_safetensors_index(path);
  std::vector<StoredTensor> out;
  for (const auto& entry : index.entries)
    out.push_back({entry.name, model_type(entry.dtype), entry.shape, read_safetensors_data(index, entry)});
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<StoredTensor>& tensors) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", safetensors_dtype_name(stored_type(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' '); // the format pads the header to 8 bytes with spaces
  std::string out;
  for (int b = 0; b < 8; ++b) out.push_back(char(uint64_t(text.size()) >> (8 * b)));
  out += text;
  for (const auto& t : tensors) out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  write_file_atomic(path, out);
}

std::vector<StoredTensor> checkpoint_tensors(const ModelConfig& m, const Weights& w, DType dtype) {
  std::vector<StoredTensor> out;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, auto value) {
    StoredTensor t{name, dtype, std::move(shape), {}};
    const uint64_t rows = t.shape[0], cols = t.shape.size() > 1 ? t.shape[1] : 1;
    for (uint64_t r = 0; r < rows; ++r)
      for (uint64_t c = 0; c < cols; ++c) append_element(t.bytes, dtype, value(uint32_t(r), uint32_t(c)));
    out.push_back(std::move(t));
  };
  // Hugging Face row r of a projection is our column hf_row^-1(r): find it by scanning once.
  auto projection = [&](const std::string& name, const Matrix& x, bool rotary) {
    std::vector<uint32_t> column_of(x.cols);
    for (uint32_t n = 0; n < x.cols; ++n) column_of[checkpoint_row(n, rotary ? m.head_dim : 0)] = n;
    add(name, {x.cols, x.rows}, [&](uint32_t r, uint32_t c) { return x.at(c, column_of[r]); });
  };
  auto gains = [&](const std::string& name, const std::vector<float>& g) {
    add(name, {g.size()}, [&](uint32_t r, uint32_t) { return g[r]; });
  };
  add("model.embed_tokens.weight", {m.vocab, m.d_model},
      [&](uint32_t r, uint32_t c) { return w.embedding.at(r, c); });
  for (uint32_t l = 0; l < m.layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    const LayerWeights& lw = w.layers[l];
    projection(p + "self_attn.q_proj.weight", lw.wq, true);
    projection(p + "self_attn.k_proj.weight", lw.wk, true);
    projection(p + "self_attn.v_proj.weight", lw.wv, false);
    projection(p + "self_attn.o_proj.weight", lw.wo, false);
    projection(p + "mlp.gate_proj.weight", lw.w_gate, false);
    projection(p + "mlp.up_proj.weight", lw.w_up, false);
    projection(p + "mlp.down_proj.weight", lw.w_down, false);
    gains(p + "input_layernorm.weight", lw.attn_norm);
    gains(p + "post_attention_layernorm.weight", lw.ffn_norm);
  }
  gains("model.norm.weight", w.final_norm);
  projection("lm_head.weight", w.lm_head, false);
  return out;
}

Weights load_checkpoint(const ModelConfig& m, const std::filesystem::path& path, bool shapes_only) {
  return load_checkpoint(m, std::vector<std::filesystem::path>{path}, shapes_only);
}

Weights load_checkpoint(const ModelConfig& m, const std::vector<std::filesystem::path>& shards,
                        bool shapes_only) {
  if (shards.empty()) throw InputError("no checkpoint file given");
  // A missing tensor is reported against the whole set.
  const std::string set =
      shards.size() == 1 ? shards.front().string()
                         : fmt::format("{} (and {} more shards)", shards.front().string(), shards.size() - 1);
  std::vector<SafetensorsIndex> indexes;
  for (const auto& shard : shards) indexes.push_back(read_safetensors_index(shard));
  std::map<std::string, std::pair<const SafetensorsIndex*, const SafetensorsEntry*>> found;
  for (const auto& index : indexes)
    for (const auto& entry : index.entries)
      if (const auto [it, fresh] = found.emplace(entry.name, std::make_pair(&index, &entry)); !fresh)
        throw InputError(
            fmt::format("{}: tensor {}: also in {}", index.file, entry.name, it->second.first->file));
  const auto expected = expected_tensors(m);
  for (const auto& [name, where] : found) {
    const bool known =
        std::any_of(expected.begin(), expected.end(), [&](const Expected& e) { return e.name == name; });
    // Some checkpoints carry RoPE's inverse frequencies, which rope_theta already fixes.
    const std::string buffer = ".self_attn.rotary_emb.inv_freq";
    const bool rope_buffer =
        name.size() > buffer.size() && name.compare(name.size() - buffer.size(), buffer.size(), buffer) == 0;
    if (!known && !rope_buffer)
      throw InputError(
          fmt::format("{}: tensor {}: not a tensor of {} (Hugging Face Llama names with {} layers)",
                      where.first->file, name, m.name, m.layers));
  }
  for (const auto& e : expected) {
    const auto it = found.find(e.name);
    if (it == found.end()) throw InputError(fmt::format("{}: missing tensor {} of {}", set, e.name, m.name));
    if (it->second.second->shape != e.shape)
      throw InputError(fmt::format("{}: tensor {}: shape {}, expected {} for {}", it->second.first->file,
                                   e.name, shape_text(it->second.second->shape), shape_text(e.shape),
                                   m.name));
  }
  const DType wt = m.precision.weights, at = m.precision.activations;
  // Each tensor converted as a program's checkpoint declaration converts it (checkpoint_matrix.h).
  const auto source = [&](const std::string& name, bool transposed, bool rotary) {
    return CheckpointTensor{found.at(name).first->file, name, transposed, rotary ? m.head_dim : 0};
  };
  const auto read = [&](const CheckpointTensor& from) {
    const auto& [index, entry] = found.at(from.tensor);
    return checkpoint_matrix(*index, *entry, read_safetensors_data(*index, *entry), from.transposed,
                             from.rotary_head_dim);
  };
  const auto matrix = [&](const std::string& name, bool transposed, bool rotary) {
    Matrix out;
    out.checkpoint = source(name, transposed, rotary);
    out.dtype = wt;
    const auto& shape = found.at(name).second->shape;
    out.rows = uint32_t(transposed ? shape[1] : shape[0]);
    out.cols = uint32_t(transposed ? shape[0] : shape[1]);
    if (shapes_only) return out;
    CheckpointMatrix stored = read(out.checkpoint);
    if (wt != DType::i8) {
      for (float& v : stored.values) v = round_to(wt, v);
      out.values = std::move(stored.values);
      return out;
    }
    QuantisedMatrix q = quantise_columns(stored);
    out.q = std::move(q.q);
    out.scale = std::move(q.scale);
    return out;
  };
  const auto gains = [&](const std::string& name, CheckpointTensor& where) {
    where = source(name, false, false);
    std::vector<float> g;
    if (shapes_only) return g;
    for (float v : read(where).values) g.push_back(round_to(at, v));
    return g;
  };
  Weights w;
  w.embedding = matrix("model.embed_tokens.weight", false, false);
  for (uint32_t l = 0; l < m.layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LayerWeights lw;
    lw.wq = matrix(p + "self_attn.q_proj.weight", true, true);
    lw.wk = matrix(p + "self_attn.k_proj.weight", true, true);
    lw.wv = matrix(p + "self_attn.v_proj.weight", true, false);
    lw.wo = matrix(p + "self_attn.o_proj.weight", true, false);
    lw.w_gate = matrix(p + "mlp.gate_proj.weight", true, false);
    lw.w_up = matrix(p + "mlp.up_proj.weight", true, false);
    lw.w_down = matrix(p + "mlp.down_proj.weight", true, false);
    lw.attn_norm = gains(p + "input_layernorm.weight", lw.attn_norm_checkpoint);
    lw.ffn_norm = gains(p + "post_attention_layernorm.weight", lw.ffn_norm_checkpoint);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = gains("model.norm.weight", w.final_norm_checkpoint);
  w.lm_head = matrix("lm_head.weight", true, false);
  return w;
}

} // namespace tsp::model
