// Model descriptions: the bundled files carry the public shapes, and bad files get one-line errors
// naming the file, the key and what was expected.
#include "tspsim/common/error.h"
#include "tspsim/model/model.h"

#include <catch2/catch.hpp>

using Catch::Matchers::Message;
using tsp::InputError;
using tsp::model::DType;
using tsp::model::load_model;
using tsp::model::parse_model;

namespace {

const std::string kModels = std::string(TSPSIM_SOURCE_DIR) + "/configs/models/";

const std::string kTiny = R"({
  "name": "t", "layers": 2, "d_model": 320, "heads": 4, "kv_heads": 2, "head_dim": 80, "ffn": 864,
  "vocab": 512, "rope_theta": 10000.0, "norm_eps": 1e-5, "max_context": 256,
  "precision": {"weights": "int8", "activations": "fp16", "kv_cache": "fp16"}
})";

// kTiny with the text `from` replaced by `to`.
std::string edited(const std::string& from, const std::string& to) {
  std::string text = kTiny;
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

void require_error(const std::string& text, const std::string& message) {
  REQUIRE_THROWS_MATCHES(parse_model(text, "m.json"), InputError, Message(message));
}

} // namespace

TEST_CASE("the bundled models carry the public shapes and parameter counts") {
  struct Expected {
    const char* name;
    uint32_t layers, d_model, heads, kv_heads, ffn, vocab;
    double theta;
    uint32_t max_context;
    uint64_t parameters; // Hugging Face's counts for the released checkpoints (untied LM head)
  };
  const Expected models[] = {
      {"llama2-7b", 32, 4096, 32, 32, 11008, 32000, 10000, 4096, 6738415616},
      {"llama2-13b", 40, 5120, 40, 40, 13824, 32000, 10000, 4096, 13015864320},
      {"llama2-70b", 80, 8192, 64, 8, 28672, 32000, 10000, 4096, 68976648192},
      {"llama3-8b", 32, 4096, 32, 8, 14336, 128256, 500000, 8192, 8030261248},
      {"llama3-70b", 80, 8192, 64, 8, 28672, 128256, 500000, 8192, 70553706496},
      {"tiny-llama", 2, 320, 4, 2, 864, 512, 10000, 256, 2602560},
      {"small-llama", 2, 1024, 8, 4, 2816, 1024, 10000, 256, 25695232},
  };
  for (const auto& e : models) {
    INFO(e.name);
    const auto m = load_model(kModels + e.name + ".json");
    CHECK(m.name == e.name);
    CHECK(m.layers == e.layers);
    CHECK(m.d_model == e.d_model);
    CHECK(m.heads == e.heads);
    CHECK(m.kv_heads == e.kv_heads);
    CHECK(m.q_width() == m.d_model);
    CHECK(m.ffn == e.ffn);
    CHECK(m.vocab == e.vocab);
    CHECK(m.rope_theta == e.theta);
    CHECK(m.norm_eps == 1e-5);
    CHECK(m.max_context == e.max_context);
    CHECK(m.parameters() == e.parameters);
    CHECK(m.precision.weights == DType::i8);
    CHECK(m.precision.activations == DType::f16);
    CHECK(m.precision.kv_cache == DType::f16);
  }
  CHECK(load_model(kModels + "tiny-llama.json").head_dim == 80);
  CHECK(load_model(kModels + "llama3-70b.json").head_dim == 128);
}

TEST_CASE("model names resolve to the bundled files") {
  CHECK(tsp::model::resolve_model("llama2-70b", kModels) == kModels + "llama2-70b.json");
  CHECK(tsp::model::resolve_model("my/model.json", kModels) == "my/model.json");
  REQUIRE_THROWS_MATCHES(
      tsp::model::resolve_model("llama9", kModels), InputError,
      Message("--model llama9: no file " + kModels +
              "llama9.json (bundled models: llama2-13b, llama2-70b, llama2-7b, llama3-70b, "
              "llama3-8b, small-llama, tiny-llama)"));
  REQUIRE_THROWS_MATCHES(
      tsp::model::resolve_model("llama2-7b", "/nonexistent"), InputError,
      Message("--model llama2-7b: no file /nonexistent/llama2-7b.json (give the path of a model "
              "file, or run from the repository root for the bundled models)"));
}

TEST_CASE("precision choices are read per tensor class") {
  const auto m = parse_model(edited(R"("weights": "int8", "activations": "fp16", "kv_cache": "fp16")",
                                    R"("weights": "bf16", "activations": "fp32", "kv_cache": "bf16")"),
                             "m.json");
  CHECK(m.precision.weights == DType::bf16);
  CHECK(m.precision.activations == DType::f32);
  CHECK(m.precision.kv_cache == DType::bf16);
  CHECK(m.source == "m.json");
}

TEST_CASE("bad model files name the file, the key and what was expected") {
  require_error(
      "{", "m.json: invalid JSON: parse error at line 1, column 2: syntax error while parsing object key - "
           "unexpected end of input; expected string literal");
  require_error("[]", "m.json: expected a JSON object at the top level");
  require_error(edited(R"("layers": 2,)", ""), "m.json: layers: missing (expected a positive integer)");
  require_error(edited(R"("layers": 2)", R"("layers": 0)"),
                "m.json: layers: expected a positive integer below 2^32, got 0");
  require_error(edited(R"("layers": 2)", R"("layers": 2.5)"),
                "m.json: layers: expected a positive integer below 2^32, got 2.5");
  // 1e9 layers used to exhaust memory in the planner's tables.
  require_error(edited(R"("layers": 2)", R"("layers": 1000000000)"),
                "m.json: layers: expected at most 1024 (a sanity bound: Llama 3.1 405B has 126; tspc plan's "
                "search grows with the square of the layers), got 1000000000");
  require_error(edited(R"("layers": 2)", R"("layers": 2, "layer": 3)"), "m.json: layer: unknown key");
  require_error(edited(R"("kv_heads": 2)", R"("kv_heads": 3)"),
                "m.json: kv_heads: expected a divisor of heads (4), got 3");
  require_error(edited(R"("head_dim": 80)", R"("head_dim": 81)"),
                "m.json: head_dim: expected an even number (RoPE turns pairs), got 81");
  require_error(edited(R"("rope_theta": 10000.0)", R"("rope_theta": -1)"),
                "m.json: rope_theta: expected a positive number, got -1");
  require_error(edited(R"("name": "t")", R"("name": "")"),
                "m.json: name: expected a non-empty string, got \"\"");
  require_error(edited(R"("weights": "int8")", R"("weights": "int4")"),
                "m.json: precision.weights: expected one of int8, fp16, bf16, got \"int4\"");
  require_error(edited(R"("kv_cache": "fp16")", R"("kv_cache": "int8")"),
                "m.json: precision.kv_cache: expected one of fp16, bf16, got \"int8\"");
  require_error(edited(R"("kv_cache": "fp16")", R"("kv_cache": "fp16", "bias": "fp16")"),
                "m.json: precision.bias: unknown key");
  require_error(edited(R"(, "kv_cache": "fp16")", ""),
                "m.json: precision.kv_cache: missing (expected fp16, bf16)");
  require_error(edited(R"({"weights": "int8", "activations": "fp16", "kv_cache": "fp16"})", "\"int8\""),
                "m.json: precision: expected an object, got \"int8\"");
  REQUIRE_THROWS_MATCHES(load_model("/nonexistent/m.json"), InputError,
                         Message("cannot read '/nonexistent/m.json': No such file or directory"));
}
