// The host reference of Llama decoding: pinned greedy tokens of the tiny model, and properties that
// hold whatever the weights (the cache gives the same logits as recomputing without it, grouped-query
// attention equals multi-head attention with the KV heads repeated, a step computed by hand).
#include "tspsim/common/error.h"
#include "tspsim/model/reference.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

using Catch::Matchers::Message;
using namespace tsp::model;

namespace {

ModelConfig tiny() { return load_model(std::string(TSPSIM_SOURCE_DIR) + "/configs/models/tiny-llama.json"); }

ModelConfig with_weights(ModelConfig m, DType weights) {
  m.precision.weights = weights;
  return m;
}

// The same model with every KV head repeated for each query head that shares it.
Matrix repeat_kv_heads(const Matrix& w, uint32_t kv_heads, uint32_t group, uint32_t head_dim) {
  Matrix out = w;
  out.cols = w.cols * group;
  out.values.clear();
  out.q.clear();
  out.scale.clear();
  for (uint32_t k = 0; k < w.rows; ++k)
    for (uint32_t h = 0; h < kv_heads * group; ++h)
      for (uint32_t i = 0; i < head_dim; ++i) {
        const size_t from = size_t(k) * w.cols + (h / group) * head_dim + i;
        if (w.dtype == DType::i8)
          out.q.push_back(w.q[from]);
        else
          out.values.push_back(w.values[from]);
      }
  if (w.dtype == DType::i8)
    for (uint32_t h = 0; h < kv_heads * group; ++h)
      for (uint32_t i = 0; i < head_dim; ++i) out.scale.push_back(w.scale[(h / group) * head_dim + i]);
  return out;
}

std::vector<uint32_t> tokens_of(const ModelConfig& m, uint64_t seed, std::vector<uint32_t> prompt,
                                uint32_t steps, ReferenceOptions options = {}) {
  Reference r(m, random_weights(m, seed), options);
  return greedy_decode(r, prompt, steps);
}

// A matrix of hand-written values, row-major: the hand-sized steps below spell out every weight.
Matrix matrix(uint32_t rows, uint32_t cols, std::vector<float> values) {
  Matrix x;
  x.rows = rows;
  x.cols = cols;
  x.values = std::move(values);
  return x;
}

} // namespace

TEST_CASE("the tiny Llama decodes pinned greedy tokens with a growing KV cache") {
  const auto m = tiny();
  Reference r(m, random_weights(m, 5));
  const auto tokens = greedy_decode(r, {1, 2, 3}, 12);
  CHECK(r.position() == 14);
  CHECK(tokens == std::vector<uint32_t>{506, 139, 147, 145, 172, 231, 338, 231, 231, 231, 231, 163});
  CHECK(tokens_of(with_weights(m, DType::f16), 1, {1, 2, 3}, 12) ==
        std::vector<uint32_t>{373, 373, 373, 93, 93, 461, 93, 509, 347, 510, 492, 371});
  CHECK(tokens_of(with_weights(m, DType::bf16), 2, {1, 2, 3}, 8) ==
        std::vector<uint32_t>{210, 102, 328, 102, 328, 218, 210, 210});
}

TEST_CASE("decoding with the cache gives the logits of recomputing every prefix without it") {
  for (DType weights : {DType::i8, DType::f16}) {
    const auto m = with_weights(tiny(), weights);
    const auto w = random_weights(m, 3);
    Reference cached(m, w);
    std::vector<uint32_t> prefix;
    uint32_t token = 5;
    for (int step = 0; step < 9; ++step) {
      prefix.push_back(token);
      const auto logits = cached.decode(token);
      CHECK(logits == cached.prefill_logits(prefix));
      token = argmax(logits);
    }
  }
}

TEST_CASE("grouped-query attention equals multi-head attention with the KV heads repeated") {
  for (DType weights : {DType::i8, DType::bf16}) {
    const auto gqa = with_weights(tiny(), weights);
    auto mha = gqa;
    mha.kv_heads = gqa.heads;
    auto w = random_weights(gqa, 4);
    Reference grouped(gqa, w);
    for (auto& layer : w.layers) {
      layer.wk = repeat_kv_heads(layer.wk, gqa.kv_heads, gqa.heads / gqa.kv_heads, gqa.head_dim);
      layer.wv = repeat_kv_heads(layer.wv, gqa.kv_heads, gqa.heads / gqa.kv_heads, gqa.head_dim);
    }
    Reference full(mha, w);
    uint32_t token = 9;
    for (int step = 0; step < 8; ++step) {
      const auto a = grouped.decode(token);
      CHECK(a == full.decode(token));
      token = argmax(a);
    }
  }
}

// docs/models.md derives the chip-versus-reference tolerance from this measurement: the same
// storage roundings with every intermediate in double, or in fp32 in the chip's order.
TEST_CASE("fp32 intermediates move the logits by a bounded amount and no token") {
  struct Case {
    DType weights;
    double at_least, at_most; // measured 0.0722, 0.00168 and 0.00122 over these 12 steps
  };
  for (const Case c :
       {Case{DType::i8, 0.05, 0.08}, Case{DType::f16, 0.001, 0.002}, Case{DType::bf16, 0.0005, 0.002}}) {
    const auto m = with_weights(tiny(), c.weights);
    const auto w = random_weights(m, 1);
    Reference wide(m, w, {true});
    Reference fp32(m, w, {false});
    double worst = 0;
    uint32_t token = 1;
    for (int step = 0; step < 12; ++step) {
      const auto a = wide.decode(token);
      const auto b = fp32.decode(token);
      for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
      CHECK(argmax(a) == argmax(b));
      token = argmax(a);
    }
    INFO(dtype_name(c.weights) << " weights: worst logit difference " << worst);
    CHECK(worst >= c.at_least);
    CHECK(worst <= c.at_most);
  }
}

TEST_CASE("one step at position 0 computed by hand") {
  // fp32 everywhere, one layer, d = 2, one head of 2, ffn 1, vocab 2: attention at position 0 is
  // the value vector itself, and RoPE turns by angle 0.
  ModelConfig m;
  m.name = "hand";
  m.layers = 1;
  m.d_model = 2;
  m.heads = m.kv_heads = 1;
  m.head_dim = 2;
  m.ffn = 1;
  m.vocab = 2;
  m.max_context = 4;
  m.norm_eps = 0.25;
  m.precision = {DType::f16, DType::f32, DType::f16};
  Weights w;
  w.embedding = matrix(2, 2, {1.0f, -3.0f, 0.5f, 2.0f});
  LayerWeights l;
  l.wq = matrix(2, 2, {1, 0, 0, 1});
  l.wk = matrix(2, 2, {1, 0, 0, 1});
  l.wv = matrix(2, 2, {1, 2, 0, 1});
  l.wo = matrix(2, 2, {0.5f, 0, 0, 0.5f});
  l.w_gate = matrix(2, 1, {1, 1});
  l.w_up = matrix(2, 1, {2, 0});
  l.w_down = matrix(1, 2, {1, -1});
  l.attn_norm = {1.0f, 1.0f};
  l.ffn_norm = {1.0f, 2.0f};
  w.layers.push_back(l);
  w.final_norm = {1.0f, 1.0f};
  w.lm_head = matrix(2, 2, {1, 0, 0, 1});
  Reference r(m, w);
  const auto logits = r.decode(0);

  // x = (1, -3); mean square 5, + eps 0.25: xn = x / sqrt(5.25).
  const double s1 = std::sqrt(5.25);
  const double xn0 = 1 / s1, xn1 = -3 / s1;
  // v = xn W_v = (xn0, 2 xn0 + xn1); attention output = v; o = v / 2.
  double x0 = 1 + 0.5 * xn0, x1 = -3 + 0.5 * (2 * xn0 + xn1);
  // FFN: norm with gains (1, 2), gate = h0 + h1, up = 2 h0, SwiGLU, down (1, -1).
  const double s2 = std::sqrt((x0 * x0 + x1 * x1) / 2 + 0.25);
  const double h0 = x0 / s2, h1 = 2 * x1 / s2;
  const double gate = h0 + h1, up = 2 * h0;
  const double f = gate / (1 + std::exp(-gate)) * up;
  x0 += f;
  x1 -= f;
  const double s3 = std::sqrt((x0 * x0 + x1 * x1) / 2 + 0.25);
  // Weights are fp16: activations enter products rounded to fp16.
  CHECK(logits[0] == Approx(x0 / s3).epsilon(2e-3));
  CHECK(logits[1] == Approx(x1 / s3).epsilon(2e-3));
  CHECK(argmax(logits) == (x0 > x1 ? 0u : 1u));
}

// docs/models.md, "Precision model": the query is rounded to the KV type (bf16) before its
// product with the cached keys. One head of 4, fp32 activations: the token's normed row is
// (1, 1, 1, 1), q = (0, 0, 1 + 2^-8, -1), its key (0, 0, 512, 512) and value (1, 0, 0, 0); the
// cached position's key and value are zero. RoPE leaves q and k as they are (pair 0 is zero, pair
// 1 turns by 1e-15 rad). In bf16, 1 + 2^-8 is a tie that rounds to 1: the score is 0, the new
// position's probability 1/2, where the fp32 query would give the score 2^-8 * 512 / 2 = 1 and
// bf16(sigmoid(1)) = 0.73046875. Wo adds the attention output to the residual, the FFN adds 0,
// and the LM head reads the normed residual's first two elements: their ratio is 1 + p.
TEST_CASE("the query enters its product with the cached keys in the KV type") {
  ModelConfig m;
  m.name = "query";
  m.layers = 1;
  m.d_model = 4;
  m.heads = m.kv_heads = 1;
  m.head_dim = 4;
  m.ffn = 1;
  m.vocab = 2;
  m.max_context = 2;
  m.rope_theta = 1e30;
  m.norm_eps = std::ldexp(1.0, -40);
  m.precision = {DType::f16, DType::f32, DType::bf16};
  const float tie = 1.0f + std::ldexp(1.0f, -8);
  Weights w;
  w.embedding = matrix(2, 4, {1, 1, 1, 1, 0, 0, 0, 0});
  LayerWeights l;
  l.wq = matrix(4, 4, {0, 0, 1, -1, 0, 0, tie - 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  l.wk = matrix(4, 4, {0, 0, 512, 512, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  l.wv = matrix(4, 4, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  l.wo = matrix(4, 4, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  l.w_gate = matrix(4, 1, {1, 1, 1, 1});
  l.w_up = matrix(4, 1, {1, 1, 1, 1});
  l.w_down = matrix(1, 4, {0, 0, 0, 0});
  l.attn_norm = l.ffn_norm = {1, 1, 1, 1};
  w.layers.push_back(l);
  w.final_norm = {1, 1, 1, 1};
  w.lm_head = matrix(4, 2, {1, 0, 0, 1, 0, 0, 0, 0});
  Reference r(m, w);
  r.restore({std::vector<float>(4, 0.0f)}, {std::vector<float>(4, 0.0f)});
  const auto logits = r.decode(0);
  CHECK(r.keys(0) == std::vector<float>{0, 0, 0, 0, 0, 0, 512, 512});
  CHECK(logits[0] / logits[1] == Approx(1.5).epsilon(1e-3));
}

TEST_CASE("reference input errors") {
  const auto m = tiny();
  Reference r(m, random_weights(m, 1));
  REQUIRE_THROWS_MATCHES(r.decode(512), tsp::InputError,
                         Message("token 512 is outside tiny-llama's vocabulary of 512"));
  REQUIRE_THROWS_MATCHES(r.prefill_logits({}), tsp::InputError,
                         Message("tiny-llama: expected 1..256 tokens, got 0"));
}

TEST_CASE("a chip's slice of a random weight matrix is one strided window of its seeded stream") {
  const auto m = tiny();
  const auto w = random_weights(m, 7);
  // Layer 1's w_up (tensor 1 + 9 + 5), 320 x 864 int8: chip 2 of 4 holds columns 432..647, rows
  // 5..9 of them as one window (row stride 864).
  const uint64_t seed = weight_seed(7, 15);
  const auto window =
      tsp::random_rows(tsp::isa::DType::i8, 5, 216, 864, tsp::random_skip(seed, 5 * 864ull + 432));
  for (uint32_t r = 0; r < 5; ++r)
    for (uint32_t j = 0; j < 216; ++j)
      CHECK(int8_t(window[r * 216 + j]) == w.layers[1].w_up.q[(5 + r) * 864 + 432 + j]);
  for (uint32_t k : {0u, 1u, 319u}) {
    const auto run =
        tsp::random_tensor(tsp::isa::DType::i8, 1, 216, tsp::random_skip(seed, k * 864ull + 432));
    for (uint32_t j = 0; j < 216; ++j) CHECK(int8_t(run[j]) == w.layers[1].w_up.q[k * 864 + 432 + j]);
  }
  // fp16 values: the same rule; a window of stride = cols is the whole tensor.
  const auto full = tsp::random_tensor(tsp::isa::DType::f16, 3, 100, 11);
  const auto tail = tsp::random_tensor(tsp::isa::DType::f16, 1, 40, tsp::random_skip(11, 260));
  CHECK(std::equal(tail.begin(), tail.end(), full.begin() + 2 * 260));
  CHECK(tsp::random_rows(tsp::isa::DType::f16, 3, 100, 100, 11) == full);
  const auto columns = tsp::random_rows(tsp::isa::DType::f16, 3, 30, 100, tsp::random_skip(11, 50));
  for (uint32_t r = 0; r < 3; ++r)
    CHECK(std::equal(columns.begin() + r * 60, columns.begin() + (r + 1) * 60,
                     full.begin() + (r * 100 + 50) * 2));
}

// docs/models.md, "Seeded random weights": computed here from the fp32 stream's bytes, the scales
// in fp32 arithmetic and the gains in double, as the rule states them.
TEST_CASE("random weights' scales and gains are the jitter values of their seeded streams") {
  const auto m = tiny();
  const auto w = random_weights(m, 7);
  const auto stream = [](uint64_t seed, uint32_t count) {
    const auto bytes = tsp::random_tensor(tsp::isa::DType::f32, 1, count, seed);
    std::vector<float> u(count);
    std::memcpy(u.data(), bytes.data(), bytes.size());
    return u;
  };
  // Layer 1's w_up is tensor 15; its scales take the seed after its values'.
  const auto u = stream(weight_seed(7, 15) + 1, m.ffn);
  const auto& up = w.layers[1].w_up;
  CHECK(up.scale_source.seed == weight_seed(7, 15) + 1);
  CHECK(up.scale_source.divisor == 128.0);
  for (uint32_t n = 0; n < m.ffn; ++n) CHECK(up.scale[n] == (1.0f + u[n] / 2.0f) / 128.0f);
  // Layer 0's FFN norm is tensor 9, fp16 like the activations.
  const auto g = stream(weight_seed(7, 9), m.d_model);
  CHECK(w.layers[0].ffn_norm_source.seed == weight_seed(7, 9));
  CHECK(w.layers[0].ffn_norm_source.divisor == std::sqrt(320.0));
  for (uint32_t i = 0; i < m.d_model; ++i)
    CHECK(w.layers[0].ffn_norm[i] ==
          tsp::num::f16_to_f32(tsp::num::f64_to_f16((1.0 + double(g[i]) / 2.0) / std::sqrt(320.0))));
  CHECK(w.final_norm_source.seed == weight_seed(7, 1 + 9 * m.layers));
}

// A compiler keeps int8 weights as shapes and seeds (random_weights' shapes_only); the reference
// then generates each matrix's rows as it multiplies by them, and decodes exactly as with the
// elements held.
TEST_CASE("a reference over seeded int8 weights without their elements decodes the same logits") {
  const ModelConfig m = tiny();
  const Weights held = random_weights(m, 5);
  const Weights seeded = random_weights(m, 5, true);
  REQUIRE(seeded.layers[1].w_up.q.empty());
  REQUIRE(seeded.layers[1].w_up.q_seed == held.layers[1].w_up.q_seed);
  CHECK(seeded.layers[1].w_up.q_rows(3, 2) == std::vector<int8_t>(held.layers[1].w_up.q.begin() + 3 * m.ffn,
                                                                  held.layers[1].w_up.q.begin() + 5 * m.ffn));
  Reference a(m, held), b(m, seeded);
  for (uint32_t token : {7u, 300u, 11u}) CHECK(a.decode(token) == b.decode(token));
  CHECK(a.keys(1) == b.keys(1));
}
