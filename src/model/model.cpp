#include "tspsim/model/model.h"
#include "tspsim/config/json_input.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <vector>

namespace tsp::model {

using nlohmann::json;

unsigned dtype_bytes(DType dtype) {
  switch (dtype) {
  case DType::i8:
    return 1;
  case DType::f16:
  case DType::bf16:
    return 2;
  case DType::f32:
    return 4;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
  case DType::i8:
    return "int8";
  case DType::f16:
    return "fp16";
  case DType::bf16:
    return "bf16";
  case DType::f32:
    return "fp32";
  }
  return "?";
}

uint64_t ModelConfig::parameters() const {
  const uint64_t d = d_model;
  const uint64_t per_layer = d * q_width() * 2 + d * kv_width() * 2 + d * uint64_t(ffn) * 3 + 2 * d;
  return 2 * uint64_t(vocab) * d + layers * per_layer + d;
}

namespace {

std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr size_t kLimit = 60;
  if (text.size() > kLimit) text = text.substr(0, kLimit) + "...";
  return text;
}

// One JSON object of the schema: unknown keys are rejected when it is opened, every key is
// required.
class Reader {
public:
  Reader(std::string origin, const json& value, std::string path, const std::vector<std::string>& known)
      : origin_(std::move(origin)), value_(value), path_(std::move(path)) {
    if (!value_.is_object()) fail_at(path_, "expected an object, got " + shown(value_));
    for (const auto& item : value_.items())
      if (std::find(known.begin(), known.end(), item.key()) == known.end()) fail(item.key(), "unknown key");
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    fail_at(path_.empty() ? key : path_ + "." + key, what);
  }

  const json& get(const std::string& key, const char* expected) const {
    const auto it = value_.find(key);
    if (it == value_.end()) fail(key, fmt::format("missing (expected {})", expected));
    return *it;
  }

  uint32_t positive(const std::string& key) const {
    const json& v = get(key, "a positive integer");
    if (!v.is_number_unsigned() || v.get<uint64_t>() < 1 || v.get<uint64_t>() > 0xffffffffu)
      fail(key, "expected a positive integer below 2^32, got " + shown(v));
    return static_cast<uint32_t>(v.get<uint64_t>());
  }

  double positive_number(const std::string& key) const {
    const json& v = get(key, "a positive number");
    if (!v.is_number() || !(v.get<double>() > 0)) fail(key, "expected a positive number, got " + shown(v));
    return v.get<double>();
  }

  std::string name(const std::string& key) const {
    const json& v = get(key, "a non-empty string");
    if (!v.is_string() || v.get<std::string>().empty())
      fail(key, "expected a non-empty string, got " + shown(v));
    return v.get<std::string>();
  }

  DType dtype(const std::string& key, const std::vector<DType>& allowed) const {
    std::string names;
    for (DType d : allowed) names += (names.empty() ? "" : ", ") + std::string(dtype_name(d));
    const json& v = get(key, names.c_str());
    if (v.is_string())
      for (DType d : allowed)
        if (v.get<std::string>() == dtype_name(d)) return d;
    fail(key, fmt::format("expected one of {}, got {}", names, shown(v)));
  }

  const json& value() const { return value_; }

private:
  [[noreturn]] void fail_at(const std::string& path, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", origin_, path, what));
  }

  std::string origin_;
  const json& value_;
  std::string path_;
};

} // namespace

// Deeper models are refused: the capacity plan's search is quadratic in the layers.
constexpr uint32_t kMaxLayers = 1024;

ModelConfig parse_model(const std::string& text, const std::string& origin) {
  const json doc = parse_json_object(text, origin);

  const Reader top(origin, doc, "",
                   {"name", "reference", "layers", "d_model", "heads", "kv_heads", "head_dim", "ffn", "vocab",
                    "rope_theta", "norm_eps", "max_context", "precision"});
  ModelConfig m;
  m.source = origin;
  m.name = top.name("name");
  if (doc.contains("reference")) top.name("reference");
  m.layers = top.positive("layers");
  if (m.layers > kMaxLayers)
    top.fail("layers", fmt::format("expected at most {} (a sanity bound: Llama 3.1 405B has 126; tspc plan's "
                                   "search grows with the square of the layers), got {}",
                                   kMaxLayers, m.layers));
  m.d_model = top.positive("d_model");
  m.heads = top.positive("heads");
  m.kv_heads = top.positive("kv_heads");
  m.head_dim = top.positive("head_dim");
  m.ffn = top.positive("ffn");
  m.vocab = top.positive("vocab");
  m.rope_theta = top.positive_number("rope_theta");
  m.norm_eps = top.positive_number("norm_eps");
  m.max_context = top.positive("max_context");
  if (m.heads % m.kv_heads != 0)
    top.fail("kv_heads", fmt::format("expected a divisor of heads ({}), got {}", m.heads, m.kv_heads));
  if (m.head_dim % 2 != 0)
    top.fail("head_dim", fmt::format("expected an even number (RoPE turns pairs), got {}", m.head_dim));

  const Reader precision(origin, top.get("precision", "an object"), "precision",
                         {"weights", "activations", "kv_cache"});
  m.precision.weights = precision.dtype("weights", {DType::i8, DType::f16, DType::bf16});
  m.precision.activations = precision.dtype("activations", {DType::f16, DType::bf16, DType::f32});
  m.precision.kv_cache = precision.dtype("kv_cache", {DType::f16, DType::bf16});
  return m;
}

ModelConfig load_model(const std::filesystem::path& path) {
  return parse_model(read_text_file(path), path.string());
}

std::filesystem::path resolve_model(const std::string& name_or_path,
                                    const std::filesystem::path& models_dir) {
  const std::filesystem::path given(name_or_path);
  if (given.has_parent_path() || given.extension() == ".json") return given;
  const auto bundled = models_dir / (name_or_path + ".json");
  if (std::filesystem::exists(bundled)) return bundled;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(models_dir, ec))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  if (list.empty())
    throw InputError(fmt::format("--model {}: no file {} (give the path of a model file, or run from the "
                                 "repository root for the bundled models)",
                                 name_or_path, bundled.string()));
  throw InputError(
      fmt::format("--model {}: no file {} (bundled models: {})", name_or_path, bundled.string(), list));
}

} // namespace tsp::model
