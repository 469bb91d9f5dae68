// Checkpoints in the safetensors layout with Hugging Face names: a file written by the test loads
// back into the same weights and tokens; q/k rows are mapped from rotate-half order; int8 models
// quantise per output column; malformed files get one-line errors.
#include "cli_harness.h"
#include "tspsim/common/error.h"
#include "tspsim/model/checkpoint.h"

#include <catch2/catch.hpp>
#include <fstream>

using Catch::Matchers::Message;
using namespace tsp::model;
using tsp::test::scratch_dir;

namespace {

ModelConfig tiny(DType weights) {
  auto m = load_model(std::string(TSPSIM_SOURCE_DIR) + "/configs/models/tiny-llama.json");
  m.precision.weights = weights;
  return m;
}

std::string write_raw(const std::string& name, const std::string& bytes) {
  const auto path = (scratch_dir() / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// A file of the given header text and `data` bytes after it.
std::string with_header(const std::string& name, const std::string& header, size_t data = 0) {
  std::string bytes;
  for (int b = 0; b < 8; ++b) bytes.push_back(char(uint64_t(header.size()) >> (8 * b)));
  return write_raw(name, bytes + header + std::string(data, '\0'));
}

void require_read_error(const std::string& path, const std::string& message) {
  REQUIRE_THROWS_MATCHES(read_safetensors(path), tsp::InputError, Message(path + ": " + message));
}

bool same(const Matrix& a, const Matrix& b) {
  return a.rows == b.rows && a.cols == b.cols && a.values == b.values && a.q == b.q && a.scale == b.scale;
}

} // namespace

TEST_CASE("a checkpoint written in fp16 loads back into the same weights and tokens") {
  const auto m = tiny(DType::f16);
  const auto w = random_weights(m, 1);
  const auto path = scratch_dir() / "tiny.safetensors";
  write_safetensors(path, checkpoint_tensors(m, w, DType::f16));
  // 2,602,560 fp16 parameters and the header.
  CHECK(std::filesystem::file_size(path) > 2602560 * 2);
  const auto loaded = load_checkpoint(m, path);
  CHECK(same(loaded.embedding, w.embedding));
  CHECK(same(loaded.lm_head, w.lm_head));
  for (size_t l = 0; l < 2; ++l) {
    CHECK(same(loaded.layers[l].wq, w.layers[l].wq));
    CHECK(same(loaded.layers[l].wk, w.layers[l].wk));
    CHECK(same(loaded.layers[l].w_down, w.layers[l].w_down));
    CHECK(loaded.layers[l].ffn_norm == w.layers[l].ffn_norm);
  }
  Reference a(m, w), b(m, loaded);
  CHECK(greedy_decode(a, {1, 2, 3}, 8) == greedy_decode(b, {1, 2, 3}, 8));
}

TEST_CASE("q_proj and k_proj rows come from Hugging Face's rotate-half order") {
  const auto m = tiny(DType::f16);
  auto tensors = checkpoint_tensors(m, random_weights(m, 1), DType::f32);
  // Hugging Face row r of layer 0's q_proj holds the value r everywhere.
  for (auto& t : tensors)
    if (t.name == "model.layers.0.self_attn.q_proj.weight") {
      t.bytes.clear();
      for (uint32_t r = 0; r < 320; ++r)
        for (uint32_t c = 0; c < 320; ++c) {
          const float v = float(r);
          t.bytes.insert(t.bytes.end(), reinterpret_cast<const uint8_t*>(&v),
                         reinterpret_cast<const uint8_t*>(&v) + 4);
        }
    }
  const auto path = scratch_dir() / "rows.safetensors";
  write_safetensors(path, tensors);
  const auto wq = load_checkpoint(m, path).layers[0].wq;
  // Head 1 (columns 80..159): our pair (2i, 2i + 1) is rows (i, i + 40) of the head.
  CHECK(wq.at(0, 80) == 80);   // i = 0, first of the pair
  CHECK(wq.at(0, 81) == 120);  // i = 0, second: row 80 + 40
  CHECK(wq.at(7, 84) == 82);   // i = 2
  CHECK(wq.at(0, 159) == 159); // i = 39, second: row 80 + 39 + 40
}

TEST_CASE("an int8 model quantises a float checkpoint per output column") {
  const auto m16 = tiny(DType::f16);
  const auto w = random_weights(m16, 2);
  const auto path = scratch_dir() / "f32.safetensors";
  write_safetensors(path, checkpoint_tensors(m16, w, DType::f32));
  const auto m8 = tiny(DType::i8);
  const auto q = load_checkpoint(m8, path);
  const Matrix& down = q.layers[1].w_down; // 864 x 320
  REQUIRE(down.dtype == DType::i8);
  for (uint32_t n : {0u, 17u, 319u}) {
    float amax = 0;
    for (uint32_t k = 0; k < 864; ++k) amax = std::max(amax, std::fabs(w.layers[1].w_down.at(k, n)));
    CHECK(down.scale[n] == amax / 127.0f);
    for (uint32_t k : {0u, 5u, 863u})
      CHECK(down.q[size_t(k) * 320 + n] ==
            int8_t(std::nearbyint(w.layers[1].w_down.at(k, n) * (127.0f / amax))));
  }
  Reference r(m8, q);
  CHECK(greedy_decode(r, {1}, 8).size() == 8);
}

TEST_CASE("malformed safetensors files get one-line errors") {
  require_read_error(write_raw("short.safetensors", "abc"),
                     "truncated: 3 bytes, expected at least the 8-byte header length");
  require_read_error(write_raw("long.safetensors", std::string("\x40\0\0\0\0\0\0\0{}", 10)),
                     "header length 64 runs past the end of the file (10 bytes)");
  require_read_error(
      with_header("garbage.safetensors", "{\"a\": [1,"),
      "header: invalid JSON: parse error at line 1, column 10: syntax error while parsing value - "
      "unexpected end of input; expected '[', '{', or a literal");
  require_read_error(with_header("array.safetensors", "[1]"), "header: expected a JSON object, got [1]");
  require_read_error(
      with_header("i8.safetensors", R"({"w": {"dtype": "I8", "shape": [2], "data_offsets": [0, 2]}})", 2),
      "tensor w: dtype: expected F32, F16 or BF16, got \"I8\"");
  require_read_error(
      with_header("size.safetensors", R"({"w": {"dtype": "F16", "shape": [3], "data_offsets": [0, 4]}})", 4),
      "tensor w: data_offsets [0, 4] hold 4 bytes; shape [3] of F16 needs 6");
  require_read_error(
      with_header("past.safetensors", R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4),
      "tensor w: data_offsets [0, 8] run past the end of the data (4 bytes)");
  require_read_error(
      with_header(
          "gap.safetensors",
          R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
          12),
      "tensor b: data starts at 8, expected 4 (right after tensor a)");
  require_read_error(
      with_header("shape.safetensors", R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}})"),
      "tensor w: shape: expected non-negative integers, got [-1]");
  REQUIRE_THROWS_MATCHES(read_safetensors("/nonexistent.safetensors"), tsp::InputError,
                         Message("cannot read '/nonexistent.safetensors': No such file or directory"));
}

TEST_CASE("checkpoints that do not match the model name the tensor") {
  const auto m = tiny(DType::f16);
  const auto good = checkpoint_tensors(m, random_weights(m, 1), DType::bf16);
  auto write = [&](const std::string& name, std::vector<StoredTensor> tensors) {
    const auto path = (scratch_dir() / name).string();
    write_safetensors(path, tensors);
    return path;
  };
  auto missing = good;
  missing.erase(missing.begin() + 3);
  auto path = write("missing.safetensors", missing);
  REQUIRE_THROWS_MATCHES(
      load_checkpoint(m, path), tsp::InputError,
      Message(path + ": missing tensor model.layers.0.self_attn.v_proj.weight of tiny-llama"));
  auto extra = good;
  extra.push_back({"model.layers.2.mlp.up_proj.weight", DType::f32, {1}, {0, 0, 0, 0}});
  path = write("extra.safetensors", extra);
  REQUIRE_THROWS_MATCHES(load_checkpoint(m, path), tsp::InputError,
                         Message(path +
                                 ": tensor model.layers.2.mlp.up_proj.weight: not a tensor of tiny-llama "
                                 "(Hugging Face Llama names with 2 layers)"));
  auto reshaped = good;
  reshaped[2].shape = {80, 640}; // k_proj: 160 x 320 elements
  path = write("shape.safetensors", reshaped);
  REQUIRE_THROWS_MATCHES(load_checkpoint(m, path), tsp::InputError,
                         Message(path +
                                 ": tensor model.layers.0.self_attn.k_proj.weight: shape [80, 640], expected "
                                 "[160, 320] for tiny-llama"));
  auto rope = good;
  rope.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", DType::f32, {1}, {0, 0, 0, 0}});
  CHECK(load_checkpoint(m, write("rope.safetensors", rope)).layers.size() == 2);
}

TEST_CASE("a checkpoint sharded over two files loads like one") {
  const auto m = tiny(DType::f16);
  const auto w = random_weights(m, 1);
  const auto tensors = checkpoint_tensors(m, w, DType::f16);
  const std::vector<StoredTensor> first(tensors.begin(), tensors.begin() + 10);
  const std::vector<StoredTensor> second(tensors.begin() + 10, tensors.end());
  const auto a = scratch_dir() / "shard-1.safetensors", b = scratch_dir() / "shard-2.safetensors";
  write_safetensors(a, first);
  write_safetensors(b, second);
  const auto loaded = load_checkpoint(m, std::vector<std::filesystem::path>{a, b});
  CHECK(same(loaded.layers[1].wq, w.layers[1].wq));
  CHECK(same(loaded.lm_head, w.lm_head));
  REQUIRE_THROWS_MATCHES(load_checkpoint(m, std::vector<std::filesystem::path>{a, b, a}), tsp::InputError,
                         Message(a.string() + ": tensor " + first.front().name + ": also in " + a.string()));
  REQUIRE_THROWS_MATCHES(load_checkpoint(m, std::vector<std::filesystem::path>{b}), tsp::InputError,
                         Message(b.string() + ": missing tensor model.embed_tokens.weight of tiny-llama"));
}
