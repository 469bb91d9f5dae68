#include "tspsim/model/checkpoint.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/numeric/numeric.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

namespace tsp::model {

using nlohmann::json;

namespace {

const char* safetensors_name(DType dtype) {
  switch (dtype) {
  case DType::f32:
    return "F32";
  case DType::f16:
    return "F16";
  case DType::bf16:
    return "BF16";
  case DType::i8:
    break;
  }
  throw std::invalid_argument("safetensors: int8 tensors are not written");
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string text;
  for (uint64_t d : shape) text += (text.empty() ? "" : ", ") + std::to_string(d);
  return "[" + text + "]";
}

std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 60) + "..." : text;
}

StoredTensor parse_entry(const std::string& file, const std::string& name, const json& entry,
                         uint64_t data_size) {
  auto fail = [&](const std::string& what) -> void {
    throw InputError(fmt::format("{}: tensor {}: {}", file, name, what));
  };
  if (!entry.is_object()) fail("expected an object with dtype, shape and data_offsets, got " + shown(entry));
  for (const auto& item : entry.items())
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
      fail(fmt::format("unknown key {}", item.key()));
  StoredTensor t;
  t.name = name;
  const auto dtype = entry.find("dtype");
  if (dtype == entry.end()) fail("dtype: missing (expected F32, F16 or BF16)");
  bool known = false;
  for (DType d : {DType::f32, DType::f16, DType::bf16})
    if (dtype->is_string() && dtype->get<std::string>() == safetensors_name(d)) {
      t.dtype = d;
      known = true;
    }
  if (!known) fail("dtype: expected F32, F16 or BF16, got " + shown(*dtype));
  const auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) fail("shape: expected an array of sizes");
  uint64_t elements = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_unsigned()) fail("shape: expected non-negative integers, got " + shown(*shape));
    t.shape.push_back(d.get<uint64_t>());
    if (__builtin_mul_overflow(elements, t.shape.back(), &elements)) fail("shape: too many elements");
  }
  const auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned() ||
      (*offsets)[0].get<uint64_t>() > (*offsets)[1].get<uint64_t>())
    fail("data_offsets: expected [begin, end] with begin <= end");
  const uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
  if (end > data_size)
    fail(fmt::format("data_offsets [{}, {}] run past the end of the data ({} bytes)", begin, end, data_size));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, uint64_t(dtype_bytes(t.dtype)), &bytes) || bytes != end - begin)
    fail(fmt::format("data_offsets [{}, {}] hold {} bytes; shape {} of {} needs {}", begin, end, end - begin,
                     shape_text(t.shape), safetensors_name(t.dtype), elements * dtype_bytes(t.dtype)));
  t.bytes.resize(end - begin);
  return t;
}

float element(const StoredTensor& t, size_t i) {
  switch (t.dtype) {
  case DType::f32: {
    float v;
    std::memcpy(&v, &t.bytes[4 * i], 4);
    return v;
  }
  case DType::f16:
    return num::f16_to_f32(uint16_t(t.bytes[2 * i] | t.bytes[2 * i + 1] << 8));
  case DType::bf16:
    return num::bf16_to_f32(uint16_t(t.bytes[2 * i] | t.bytes[2 * i + 1] << 8));
  case DType::i8:
    break;
  }
  return 0;
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

// Hugging Face stores q_proj and k_proj with each head's rows in rotate-half order (row i pairs
// with row i + head_dim / 2); RoPE here turns interleaved pairs (2i, 2i + 1). Our output column
// (h, 2i + half) is Hugging Face row (h, half * head_dim / 2 + i).
uint32_t hf_row(uint32_t column, uint32_t head_dim, bool rotary) {
  if (!rotary) return column;
  const uint32_t h = column / head_dim, j = column % head_dim;
  return h * head_dim + (j % 2) * (head_dim / 2) + j / 2;
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

// A K x N matrix from a Hugging Face [N, K] tensor (rows `rotary`-permuted for q/k), converted to
// the model's weight type. `transposed` false: the tensor is already [K, N] (the embedding).
Matrix to_matrix(const StoredTensor& t, DType dtype, bool transposed, bool rotary, uint32_t head_dim) {
  Matrix m;
  m.rows = uint32_t(transposed ? t.shape[1] : t.shape[0]);
  m.cols = uint32_t(transposed ? t.shape[0] : t.shape[1]);
  m.dtype = dtype;
  std::vector<float> w(size_t(m.rows) * m.cols);
  for (uint32_t n = 0; n < m.cols; ++n) {
    const uint32_t src = hf_row(n, head_dim, rotary);
    for (uint32_t k = 0; k < m.rows; ++k)
      w[size_t(k) * m.cols + n] = element(t, transposed ? size_t(src) * m.rows + k : size_t(k) * m.cols + n);
  }
  if (dtype != DType::i8) {
    for (float& v : w) v = round_to(dtype, v);
    m.values = std::move(w);
    return m;
  }
  m.q.resize(w.size());
  for (uint32_t n = 0; n < m.cols; ++n) {
    float amax = 0;
    for (uint32_t k = 0; k < m.rows; ++k) amax = std::max(amax, std::fabs(w[size_t(k) * m.cols + n]));
    m.scale.push_back(amax / 127.0f);
    const float inv = amax == 0 ? 0.0f : 127.0f / amax;
    for (uint32_t k = 0; k < m.rows; ++k)
      m.q[size_t(k) * m.cols + n] =
          int8_t(std::clamp(std::nearbyint(w[size_t(k) * m.cols + n] * inv), -127.0f, 127.0f));
  }
  return m;
}

std::vector<float> to_gains(const StoredTensor& t, DType activations) {
  std::vector<float> g;
  for (size_t i = 0; i < t.shape[0]; ++i) g.push_back(round_to(activations, element(t, i)));
  return g;
}

} // namespace

std::vector<StoredTensor> read_safetensors(const std::filesystem::path& path) {
  const std::string file = path.string();
  const auto bytes = read_binary_file(path);
  if (bytes.size() < 8)
    throw InputError(fmt::format("{}: truncated: {} bytes, expected at least the 8-byte header length", file,
                                 bytes.size()));
  uint64_t header = 0;
  for (int b = 7; b >= 0; --b) header = header << 8 | bytes[b];
  if (header > bytes.size() - 8)
    throw InputError(fmt::format("{}: header length {} runs past the end of the file ({} bytes)", file,
                                 header, bytes.size()));
  json doc;
  try {
    doc = json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(header));
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (const auto close = what.find("] "); close != std::string::npos) what = what.substr(close + 2);
    throw InputError(fmt::format("{}: header: invalid JSON: {}", file, what));
  }
  if (!doc.is_object())
    throw InputError(fmt::format("{}: header: expected a JSON object, got {}", file, shown(doc)));
  const uint64_t data_begin = 8 + header, data_size = bytes.size() - data_begin;
  std::vector<std::pair<uint64_t, StoredTensor>> tensors;
  for (const auto& item : doc.items()) {
    if (item.key() == "__metadata__") continue;
    StoredTensor t = parse_entry(file, item.key(), item.value(), data_size);
    const uint64_t begin = item.value()["data_offsets"][0].get<uint64_t>();
    std::copy_n(bytes.begin() + std::ptrdiff_t(data_begin + begin), t.bytes.size(), t.bytes.begin());
    tensors.emplace_back(begin, std::move(t));
  }
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // The data is indexed entirely, without holes or overlaps (the format's rule).
  uint64_t next = 0;
  std::string previous = "the header";
  for (const auto& [begin, t] : tensors) {
    if (begin != next)
      throw InputError(fmt::format("{}: tensor {}: data starts at {}, expected {} (right after {})", file,
                                   t.name, begin, next, previous));
    next = begin + t.bytes.size();
    previous = "tensor " + t.name;
  }
  if (next != data_size)
    throw InputError(fmt::format("{}: {} bytes of data after the last tensor", file, data_size - next));
  std::vector<StoredTensor> out;
  for (auto& entry : tensors) out.push_back(std::move(entry.second));
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<StoredTensor>& tensors) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", safetensors_name(t.dtype)},
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
    for (uint32_t n = 0; n < x.cols; ++n) column_of[hf_row(n, m.head_dim, rotary)] = n;
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

Weights load_checkpoint(const ModelConfig& m, const std::filesystem::path& path) {
  return load_checkpoint(m, std::vector<std::filesystem::path>{path});
}

Weights load_checkpoint(const ModelConfig& m, const std::vector<std::filesystem::path>& shards) {
  if (shards.empty()) throw InputError("no checkpoint file given");
  // A missing tensor is reported against the whole set.
  const std::string set =
      shards.size() == 1 ? shards.front().string()
                         : fmt::format("{} (and {} more shards)", shards.front().string(), shards.size() - 1);
  std::map<std::string, StoredTensor> found;
  std::map<std::string, std::string> file_of;
  for (const auto& shard : shards)
    for (auto& t : read_safetensors(shard)) {
      if (const auto it = file_of.find(t.name); it != file_of.end())
        throw InputError(fmt::format("{}: tensor {}: also in {}", shard.string(), t.name, it->second));
      file_of[t.name] = shard.string();
      found.emplace(t.name, std::move(t));
    }
  const auto expected = expected_tensors(m);
  for (const auto& [name, t] : found) {
    const bool known =
        std::any_of(expected.begin(), expected.end(), [&](const Expected& e) { return e.name == name; });
    // Some checkpoints carry RoPE's inverse frequencies, which rope_theta already fixes.
    const std::string buffer = ".self_attn.rotary_emb.inv_freq";
    const bool rope_buffer =
        name.size() > buffer.size() && name.compare(name.size() - buffer.size(), buffer.size(), buffer) == 0;
    if (!known && !rope_buffer)
      throw InputError(
          fmt::format("{}: tensor {}: not a tensor of {} (Hugging Face Llama names with {} layers)",
                      file_of.at(name), name, m.name, m.layers));
  }
  for (const auto& e : expected) {
    const auto it = found.find(e.name);
    if (it == found.end()) throw InputError(fmt::format("{}: missing tensor {} of {}", set, e.name, m.name));
    if (it->second.shape != e.shape)
      throw InputError(fmt::format("{}: tensor {}: shape {}, expected {} for {}", file_of.at(e.name), e.name,
                                   shape_text(it->second.shape), shape_text(e.shape), m.name));
  }
  const DType wt = m.precision.weights, at = m.precision.activations;
  auto get = [&](const std::string& name) -> const StoredTensor& { return found.at(name); };
  Weights w;
  w.embedding = to_matrix(get("model.embed_tokens.weight"), wt, false, false, m.head_dim);
  for (uint32_t l = 0; l < m.layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LayerWeights lw;
    lw.wq = to_matrix(get(p + "self_attn.q_proj.weight"), wt, true, true, m.head_dim);
    lw.wk = to_matrix(get(p + "self_attn.k_proj.weight"), wt, true, true, m.head_dim);
    lw.wv = to_matrix(get(p + "self_attn.v_proj.weight"), wt, true, false, m.head_dim);
    lw.wo = to_matrix(get(p + "self_attn.o_proj.weight"), wt, true, false, m.head_dim);
    lw.w_gate = to_matrix(get(p + "mlp.gate_proj.weight"), wt, true, false, m.head_dim);
    lw.w_up = to_matrix(get(p + "mlp.up_proj.weight"), wt, true, false, m.head_dim);
    lw.w_down = to_matrix(get(p + "mlp.down_proj.weight"), wt, true, false, m.head_dim);
    lw.attn_norm = to_gains(get(p + "input_layernorm.weight"), at);
    lw.ffn_norm = to_gains(get(p + "post_attention_layernorm.weight"), at);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = to_gains(get("model.norm.weight"), at);
  w.lm_head = to_matrix(get("lm_head.weight"), wt, true, false, m.head_dim);
  return w;
}

} // namespace tsp::model
