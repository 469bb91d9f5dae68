#include "tspsim/model/reference.h"

#include "tspsim/common/error.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

namespace tsp::model {

float Matrix::at(uint32_t k, uint32_t n) const {
  const size_t i = size_t(k) * cols + n;
  return dtype == DType::i8 ? float(q[i]) * scale[n] : values[i];
}

std::vector<int8_t> Matrix::q_rows(uint32_t first, uint32_t count) const {
  if (!q.empty()) return {q.begin() + size_t(first) * cols, q.begin() + (size_t(first) + count) * cols};
  if (!checkpoint.file.empty())
    throw std::logic_error("Matrix::q_rows: a checkpoint's matrix read without its elements");
  const auto bytes =
      random_rows(isa::DType::i8, count, cols, cols, random_skip(q_seed, uint64_t(first) * cols));
  return {bytes.begin(), bytes.end()};
}

uint64_t weight_seed(uint64_t seed, uint32_t index) { return (seed << 16) + 2 * uint64_t(index); }

float round_to(DType dtype, double x) {
  switch (dtype) {
  case DType::f16:
    return num::f16_to_f32(num::f64_to_f16(x));
  case DType::bf16:
    return num::bf16_to_f32(num::f64_to_bf16(x));
  case DType::f32:
    return num::f64_to_f32(x);
  case DType::i8:
    break;
  }
  throw std::invalid_argument("round_to: int8 is not a value storage type");
}

namespace {

isa::DType isa_type(DType dtype) {
  switch (dtype) {
  case DType::i8:
    return isa::DType::i8;
  case DType::f16:
    return isa::DType::f16;
  case DType::bf16:
    return isa::DType::bf16;
  case DType::f32:
    return isa::DType::f32;
  }
  return isa::DType::f32;
}

// The values of random_tensor(dtype, rows, cols, seed) as floats (exact).
std::vector<float> random_floats(DType dtype, uint32_t rows, uint32_t cols, uint64_t seed) {
  const auto bytes = random_tensor(isa_type(dtype), rows, cols, seed);
  const unsigned width = dtype_bytes(dtype);
  std::vector<float> out(size_t(rows) * cols);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, &bytes[i * width], width);
    out[i] = num::float_from_bits(bits, isa_type(dtype));
  }
  return out;
}

// The `count` values of a jitter source in `dtype`.
std::vector<float> jitter_values(DType dtype, uint32_t count, const JitterSource& source) {
  std::vector<float> values;
  for (float u : random_floats(DType::f32, 1, count, source.seed))
    values.push_back(round_to(dtype, jitter_value(u, source.divisor)));
  return values;
}

Matrix random_matrix(DType dtype, uint32_t rows, uint32_t cols, uint64_t seed, bool shapes_only) {
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.dtype = dtype;
  if (dtype != DType::i8) {
    m.values = random_floats(dtype, rows, cols, seed);
    return m;
  }
  m.q_seed = seed;
  if (!shapes_only) {
    const auto bytes = random_tensor(isa::DType::i8, rows, cols, seed);
    m.q.assign(bytes.begin(), bytes.end());
  }
  m.scale_source = {seed + 1, 128.0};
  m.scale = jitter_values(DType::f32, cols, m.scale_source);
  return m;
}

// Gains (1 + u/2) / sqrt(d) in the activation type: normalised vectors then have elements of
// about 1/sqrt(d), so products with O(1) weights stay O(1).
JitterSource gain_source(uint32_t d, uint64_t seed) { return {seed, std::sqrt(double(d))}; }

using Vector = std::vector<float>;

// The arithmetic of one step. Every intermediate result passes through r(): unchanged in the wide
// mode, rounded to fp32 in the fp32 mode (sums in ascending order, transcendentals computed in
// double and rounded once, as the chip's VXM does).
class Math {
public:
  Math(const ModelConfig& m, const ReferenceOptions& o) : m_(m), wide_(o.wide) {}

  Vector act(const Vector& x) const { return rounded(m_.precision.activations, x); }
  Vector kv(const Vector& x) const { return rounded(m_.precision.kv_cache, x); }

  double r(double x) const { return wide_ ? x : double(float(x)); }

  template <typename A, typename B> double dot(size_t n, A a, B b) const {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s = r(s + r(double(a(i)) * double(b(i))));
    return s;
  }

  // y = x W in fp32. int8 weights: x is quantised per vector (W8A8), products summed exactly.
  Vector matvec(const Matrix& w, const Vector& x) const {
    Vector y(w.cols, 0.0f);
    if (w.dtype == DType::i8) {
      float amax = 0;
      for (float v : x) amax = std::max(amax, std::fabs(v));
      if (amax == 0) return y;
      const float inv = 127.0f / amax;
      const float sx = amax / 127.0f;
      std::vector<int64_t> acc(w.cols, 0);
      // Rows in blocks, so that a matrix whose elements are generated holds one block at a time.
      constexpr uint32_t kBlock = 64;
      for (uint32_t first = 0; first < w.rows; first += kBlock) {
        const uint32_t count = std::min(kBlock, w.rows - first);
        const std::vector<int8_t> rows = w.q_rows(first, count);
        for (uint32_t k = first; k < first + count; ++k) {
          const int64_t q = static_cast<int64_t>(std::clamp(std::nearbyint(x[k] * inv), -128.0f, 127.0f));
          const int8_t* row = &rows[size_t(k - first) * w.cols];
          for (uint32_t n = 0; n < w.cols; ++n) acc[n] += q * row[n];
        }
      }
      for (uint32_t n = 0; n < w.cols; ++n) y[n] = (float(acc[n]) * w.scale[n]) * sx;
      return y;
    }
    const Vector xr = rounded(w.dtype, x); // the MXM's operand type
    std::vector<double> sum(w.cols, 0.0);
    for (uint32_t k = 0; k < w.rows; ++k) {
      const float* row = &w.values[size_t(k) * w.cols];
      for (uint32_t n = 0; n < w.cols; ++n) sum[n] = r(sum[n] + r(double(xr[k]) * row[n]));
    }
    for (uint32_t n = 0; n < w.cols; ++n) y[n] = float(sum[n]);
    return y;
  }

  Vector rmsnorm(const Vector& x, const Vector& gain) const {
    double squares = 0;
    for (float v : x) squares = r(squares + r(double(v) * v));
    const double inv = r(1.0 / std::sqrt(r(r(squares / double(x.size())) + r(m_.norm_eps))));
    Vector y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = float(r(x[i] * inv) * gain[i]);
    return act(y);
  }

  // Pair (2i, 2i + 1) of each head turns by position * theta^(-2i / head_dim).
  Vector rope(const Vector& x, uint32_t position) const {
    Vector y(x.size());
    const uint32_t hd = m_.head_dim;
    for (size_t h = 0; h < x.size() / hd; ++h)
      for (uint32_t i = 0; i < hd / 2; ++i) {
        const double angle = double(position) * std::pow(m_.rope_theta, -2.0 * i / hd);
        const double c = r(std::cos(angle)), s = r(std::sin(angle));
        const double a = x[h * hd + 2 * i], b = x[h * hd + 2 * i + 1];
        y[h * hd + 2 * i] = float(r(a * c) - r(b * s));
        y[h * hd + 2 * i + 1] = float(r(a * s) + r(b * c));
      }
    return y;
  }

  // Query head h attends with KV head h / (heads / kv_heads) over positions 0..count-1 of
  // `keys` and `values` (position-major, kv_heads * head_dim per position).
  Vector attention(const Vector& query, const float* keys, const float* values, uint32_t count) const {
    const uint32_t hd = m_.head_dim, width = m_.kv_width(), group = m_.heads / m_.kv_heads;
    // The query is the input of a product with the cached keys: rounded to that product's operand
    // type, the KV-cache type, as the probabilities are below.
    const Vector q = kv(query);
    const double scale = r(1.0 / std::sqrt(double(hd)));
    Vector out(q.size());
    std::vector<double> p(count);
    for (uint32_t h = 0; h < m_.heads; ++h) {
      const size_t g = h / group;
      double top = -INFINITY;
      for (uint32_t t = 0; t < count; ++t) {
        const float* k = keys + size_t(t) * width + g * hd;
        p[t] = r(dot(
                     hd, [&](size_t i) { return q[h * hd + i]; }, [&](size_t i) { return k[i]; }) *
                 scale);
        top = std::max(top, p[t]);
      }
      double sum = 0;
      for (auto& v : p) sum = r(sum + (v = r(std::exp(r(v - top)))));
      const double inv = r(1.0 / sum);
      // The probabilities are the input of a product with the cached values: rounded to that
      // product's operand type, the KV-cache type (as x is rounded to the weight type).
      for (auto& v : p) v = round_to(m_.precision.kv_cache, r(v * inv));
      for (uint32_t i = 0; i < hd; ++i)
        out[h * hd + i] = float(dot(
            count, [&](size_t t) { return p[t]; }, [&](size_t t) { return values[t * width + g * hd + i]; }));
    }
    return act(out);
  }

  Vector swiglu(const Vector& gate, const Vector& up) const {
    Vector y(gate.size());
    for (size_t i = 0; i < y.size(); ++i) {
      const double sigmoid = r(1.0 / r(1.0 + r(std::exp(-double(gate[i])))));
      y[i] = float(r(gate[i] * sigmoid) * up[i]);
    }
    return act(y);
  }

  Vector add(const Vector& a, const Vector& b) const {
    Vector y(a.size());
    for (size_t i = 0; i < y.size(); ++i) y[i] = float(double(a[i]) + b[i]);
    return act(y);
  }

  Vector embed(const Matrix& table, uint32_t token) const {
    Vector x(table.cols);
    if (table.dtype == DType::i8) {
      const std::vector<int8_t> row = table.q_rows(token, 1);
      for (uint32_t i = 0; i < table.cols; ++i) x[i] = float(row[i]) * table.scale[i];
    } else {
      for (uint32_t i = 0; i < table.cols; ++i) x[i] = table.at(token, i);
    }
    return act(x);
  }

private:
  static Vector rounded(DType dtype, const Vector& x) {
    Vector y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = round_to(dtype, x[i]);
    return y;
  }

  const ModelConfig& m_;
  bool wide_;
};

void check_token(const ModelConfig& m, uint32_t token) {
  if (token >= m.vocab)
    throw InputError(fmt::format("token {} is outside {}'s vocabulary of {}", token, m.name, m.vocab));
}

} // namespace

Weights random_weights(const ModelConfig& m, uint64_t seed, bool shapes_only) {
  const DType wt = m.precision.weights, at = m.precision.activations;
  uint32_t t = 0;
  auto next = [&] { return weight_seed(seed, t++); };
  Weights w;
  w.embedding = random_matrix(wt, m.vocab, m.d_model, next(), shapes_only);
  for (uint32_t l = 0; l < m.layers; ++l) {
    LayerWeights lw;
    lw.wq = random_matrix(wt, m.d_model, m.q_width(), next(), shapes_only);
    lw.wk = random_matrix(wt, m.d_model, m.kv_width(), next(), shapes_only);
    lw.wv = random_matrix(wt, m.d_model, m.kv_width(), next(), shapes_only);
    lw.wo = random_matrix(wt, m.q_width(), m.d_model, next(), shapes_only);
    lw.w_gate = random_matrix(wt, m.d_model, m.ffn, next(), shapes_only);
    lw.w_up = random_matrix(wt, m.d_model, m.ffn, next(), shapes_only);
    lw.w_down = random_matrix(wt, m.ffn, m.d_model, next(), shapes_only);
    lw.attn_norm_source = gain_source(m.d_model, next());
    lw.attn_norm = jitter_values(at, m.d_model, lw.attn_norm_source);
    lw.ffn_norm_source = gain_source(m.d_model, next());
    lw.ffn_norm = jitter_values(at, m.d_model, lw.ffn_norm_source);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm_source = gain_source(m.d_model, next());
  w.final_norm = jitter_values(at, m.d_model, w.final_norm_source);
  w.lm_head = random_matrix(wt, m.d_model, m.vocab, next(), shapes_only);
  return w;
}

Reference::Reference(ModelConfig model, Weights weights, ReferenceOptions options)
    : model_(std::move(model)), weights_(std::move(weights)), options_(options), cache_(model_.layers) {}

std::vector<float> Reference::decode(uint32_t token) {
  check_token(model_, token);
  if (position_ >= model_.max_context)
    throw InputError(fmt::format("{}: the KV cache is full ({} positions)", model_.name, model_.max_context));
  const Math math(model_, options_);
  Vector x = math.embed(weights_.embedding, token);
  for (uint32_t l = 0; l < model_.layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    LayerCache& c = cache_[l];
    Vector xn = math.rmsnorm(x, w.attn_norm);
    const Vector q = math.act(math.rope(math.act(math.matvec(w.wq, xn)), position_));
    const Vector k = math.kv(math.rope(math.act(math.matvec(w.wk, xn)), position_));
    const Vector v = math.kv(math.act(math.matvec(w.wv, xn)));
    c.k.insert(c.k.end(), k.begin(), k.end());
    c.v.insert(c.v.end(), v.begin(), v.end());
    const Vector attended = math.attention(q, c.k.data(), c.v.data(), position_ + 1);
    x = math.add(x, math.act(math.matvec(w.wo, attended)));
    xn = math.rmsnorm(x, w.ffn_norm);
    const Vector h = math.swiglu(math.act(math.matvec(w.w_gate, xn)), math.act(math.matvec(w.w_up, xn)));
    x = math.add(x, math.act(math.matvec(w.w_down, h)));
  }
  ++position_;
  return math.matvec(weights_.lm_head, math.rmsnorm(x, weights_.final_norm));
}

void Reference::restore(const std::vector<std::vector<float>>& keys,
                        const std::vector<std::vector<float>>& values) {
  const size_t width = model_.kv_width();
  if (keys.size() != model_.layers || values.size() != model_.layers)
    throw InputError(fmt::format("{}: a cache has {} layers, got {} of keys and {} of values", model_.name,
                                 model_.layers, keys.size(), values.size()));
  const size_t length = keys[0].size();
  if (length % width != 0 || length / width > model_.max_context)
    throw InputError(fmt::format("{}: {} cached elements per layer are not whole positions of {} up to {}",
                                 model_.name, length, width, model_.max_context));
  for (uint32_t l = 0; l < model_.layers; ++l) {
    if (keys[l].size() != length || values[l].size() != length)
      throw InputError(fmt::format("{}: layer {} caches {} keys and {} values, layer 0 {}", model_.name, l,
                                   keys[l].size(), values[l].size(), length));
    LayerCache& c = cache_[l];
    c.k.clear();
    c.v.clear();
    for (float k : keys[l]) c.k.push_back(round_to(model_.precision.kv_cache, k));
    for (float v : values[l]) c.v.push_back(round_to(model_.precision.kv_cache, v));
  }
  position_ = static_cast<uint32_t>(length / width);
}

std::vector<float> Reference::prefill_logits(const std::vector<uint32_t>& tokens) const {
  if (tokens.empty() || tokens.size() > model_.max_context)
    throw InputError(
        fmt::format("{}: expected 1..{} tokens, got {}", model_.name, model_.max_context, tokens.size()));
  const Math math(model_, options_);
  const size_t n = tokens.size();
  std::vector<Vector> x(n);
  for (size_t t = 0; t < n; ++t) {
    check_token(model_, tokens[t]);
    x[t] = math.embed(weights_.embedding, tokens[t]);
  }
  for (const LayerWeights& w : weights_.layers) {
    // Every position's queries, keys and values first, then causal attention over them.
    std::vector<Vector> q(n);
    Vector keys, values;
    for (size_t t = 0; t < n; ++t) {
      const Vector xn = math.rmsnorm(x[t], w.attn_norm);
      q[t] = math.act(math.rope(math.act(math.matvec(w.wq, xn)), uint32_t(t)));
      const Vector k = math.kv(math.rope(math.act(math.matvec(w.wk, xn)), uint32_t(t)));
      const Vector v = math.kv(math.act(math.matvec(w.wv, xn)));
      keys.insert(keys.end(), k.begin(), k.end());
      values.insert(values.end(), v.begin(), v.end());
    }
    for (size_t t = 0; t < n; ++t) {
      const Vector attended = math.attention(q[t], keys.data(), values.data(), uint32_t(t + 1));
      x[t] = math.add(x[t], math.act(math.matvec(w.wo, attended)));
      const Vector xn = math.rmsnorm(x[t], w.ffn_norm);
      const Vector h = math.swiglu(math.act(math.matvec(w.w_gate, xn)), math.act(math.matvec(w.w_up, xn)));
      x[t] = math.add(x[t], math.act(math.matvec(w.w_down, h)));
    }
  }
  return math.matvec(weights_.lm_head, math.rmsnorm(x.back(), weights_.final_norm));
}

uint32_t argmax(const std::vector<float>& logits) {
  return static_cast<uint32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<uint32_t> greedy_decode(Reference& reference, const std::vector<uint32_t>& prompt,
                                    uint32_t steps) {
  if (prompt.empty()) throw InputError("greedy_decode: the prompt needs at least one token");
  std::vector<float> logits;
  for (uint32_t token : prompt) logits = reference.decode(token);
  std::vector<uint32_t> out;
  for (uint32_t s = 0; s < steps; ++s) {
    out.push_back(argmax(logits));
    if (s + 1 < steps) logits = reference.decode(out.back());
  }
  return out;
}

} // namespace tsp::model
