// The decode step's program as tspc builds it, without simulating it: its weights are declared
// initialisers holding exactly model::random_weights' elements, and its cache starts as the
// reference's. The simulated steps are in tests/tools/test_llama_cli.cpp.
#include "engine_harness.h"
#include "tspsim/compiler/llama.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/config/system.h"
#include "tspsim/model/reference.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>

using tsp::isa::DType;

namespace {

// The elements of a declared symbol's declared rows, generated as a functional run does.
std::vector<uint8_t> declared_elements(const tsp::Program& program, const std::string& name) {
  const tsp::Symbol* symbol = program.find_symbol(name);
  REQUIRE(symbol != nullptr);
  const auto index = static_cast<uint32_t>(symbol - program.symbols.data());
  for (const auto& d : program.declared)
    if (d.symbol == index) return tsp::declared_elements(d, *symbol);
  FAIL("symbol " << name << " is not declared");
  return {};
}

// Elements [first, first + count) of `values` as little-endian bytes of `dtype` (fp32 or fp16; the
// values are exact in it).
std::vector<uint8_t> value_bytes(DType dtype, const std::vector<float>& values, size_t first, size_t count) {
  std::vector<uint8_t> out;
  for (size_t i = first; i < first + count; ++i) {
    uint32_t bits = 0;
    if (dtype == DType::f16)
      bits = tsp::num::f32_to_f16(values[i]);
    else
      std::memcpy(&bits, &values[i], 4);
    for (unsigned b = 0; b < tsp::isa::dtype_bytes(dtype); ++b) out.push_back(uint8_t(bits >> (8 * b)));
  }
  return out;
}

// Rows [row0, row0 + rows) and columns [col0, col0 + cols) of an int8 matrix.
std::vector<uint8_t> block(const tsp::model::Matrix& m, uint32_t row0, uint32_t rows, uint32_t col0,
                           uint32_t cols) {
  std::vector<uint8_t> out;
  for (uint32_t r = row0; r < row0 + rows; ++r)
    for (uint32_t c = col0; c < col0 + cols; ++c) out.push_back(uint8_t(m.q[size_t(r) * m.cols + c]));
  return out;
}

} // namespace

TEST_CASE("the decode step declares random_weights' elements and starts from the reference's cache") {
  const auto config = tsp::test::bundled_config("14nm.json");
  const auto model =
      tsp::model::load_model(std::string(TSPSIM_SOURCE_DIR) + "/configs/models/tiny-llama.json");
  const auto kernel = tsp::compiler::compile_llama_step(config, model, {2, 3, 5});
  const auto& program = kernel.program;
  const auto weights = tsp::model::random_weights(model, 3);
  // One declaration per tile: whole rows, or a column window of a wider matrix (row stride).
  CHECK(declared_elements(program, "embedding.k1") == block(weights.embedding, 320, 192, 0, 320));
  CHECK(declared_elements(program, "L0.wq.k0") == block(weights.layers[0].wq, 0, 320, 0, 320));
  CHECK(declared_elements(program, "L1.wv.k0") == block(weights.layers[1].wv, 0, 320, 0, 160));
  CHECK(declared_elements(program, "L1.w_down.k2") == block(weights.layers[1].w_down, 640, 224, 0, 320));
  CHECK(declared_elements(program, "L0.w_gate.k0.n2") == block(weights.layers[0].w_gate, 0, 320, 640, 224));
  CHECK(declared_elements(program, "lm_head.k0.n1") == block(weights.lm_head, 0, 320, 320, 192));
  // The per-column scales and the norm gains are jitter declarations of random_weights' values.
  CHECK(declared_elements(program, "L0.wq.scale") ==
        value_bytes(DType::f32, weights.layers[0].wq.scale, 0, 320));
  CHECK(declared_elements(program, "L1.w_gate.scale.c2") ==
        value_bytes(DType::f32, weights.layers[1].w_gate.scale, 640, 224));
  CHECK(declared_elements(program, "lm_head.scale.c1") ==
        value_bytes(DType::f32, weights.lm_head.scale, 320, 192));
  CHECK(declared_elements(program, "L1.ffn_norm") ==
        value_bytes(DType::f16, weights.layers[1].ffn_norm, 0, 320));
  CHECK(declared_elements(program, "final_norm") == value_bytes(DType::f16, weights.final_norm, 0, 320));
  // Every int8 weight is declared once (the parameters less the norm gains), and every scale
  // (one per column of each matrix) and gain once.
  uint64_t raw = 0, jitter = 0;
  for (const auto& d : program.declared) {
    const auto& s = program.symbols[d.symbol];
    (d.values == tsp::DeclaredValues::raw ? raw : jitter) += uint64_t(d.row_count) * s.cols;
  }
  const uint64_t gains = (2 * model.layers + 1) * uint64_t(model.d_model);
  CHECK(raw == model.parameters() - gains);
  const uint64_t layer_scales =
      model.q_width() + 2 * model.kv_width() + model.d_model + 2 * model.ffn + model.d_model;
  CHECK(jitter == model.d_model + model.layers * layer_scales + model.vocab + gains);
  // The state at position 2: the reference's token after greedy decoding from token 5, and its
  // cache (positions 0 and 1; the rest zero).
  tsp::model::Reference reference(model, weights);
  uint32_t token = 5;
  for (int p = 0; p < 2; ++p) token = tsp::model::argmax(reference.decode(token));
  const tsp::Symbol& token_symbol = *program.find_symbol("TOKEN");
  const tsp::Symbol& kt = *program.find_symbol("L1.KT");
  std::vector<double> keys(size_t(kt.rows) * kt.cols, 0.0);
  for (uint32_t p = 0; p < 2; ++p)
    for (uint32_t r = 0; r < kt.rows; ++r)
      keys[size_t(r) * kt.cols + p] = reference.keys(1)[size_t(p) * kt.rows + r];
  const auto read = [&](const tsp::Symbol& s) {
    // The symbol's rows from the program's images (the last image of a word wins, as the loader).
    std::vector<uint8_t> out(size_t(s.rows) * s.cols * tsp::isa::dtype_bytes(s.dtype));
    const unsigned bytes = tsp::isa::dtype_bytes(s.dtype);
    for (uint32_t r = 0; r < s.rows; ++r)
      for (unsigned b = 0; b < bytes; ++b) {
        const auto word = tsp::symbol_word(s, r, b);
        for (const auto& im : program.images)
          if (im.mem == word.mem && word.address >= im.address &&
              word.address < im.address + im.bytes.size() / config.geometry.vector_bytes())
            for (uint32_t c = 0; c < s.cols; ++c)
              out[(size_t(r) * s.cols + c) * bytes + b] =
                  im.bytes[size_t(word.address - im.address) * config.geometry.vector_bytes() + c];
      }
    return out;
  };
  CHECK(read(token_symbol) == tsp::compiler::element_bytes_of(DType::i32, std::vector<double>(320, token)));
  CHECK(read(kt) == tsp::compiler::element_bytes_of(DType::f16, keys));
  CHECK(kernel.predicted_cycles == 24789);
}

// small-llama's rows span several tiles: every matrix is tiles of 320 x 320, the last of a row or
// column partial, each tile one declaration of a window of the matrix's elements.
TEST_CASE("small-llama's step declares every weight once, in tiles of wide matrices") {
  const auto config = tsp::test::bundled_config("14nm.json");
  const auto model =
      tsp::model::load_model(std::string(TSPSIM_SOURCE_DIR) + "/configs/models/small-llama.json");
  const auto kernel = tsp::compiler::compile_llama_step(config, model, {0, 1, 1});
  const auto& program = kernel.program;
  const auto weights = tsp::model::random_weights(model, 1);
  // Wq's last tile: rows 960-1023 (k-tile 3), columns 960-1023 (n-tile 3).
  CHECK(declared_elements(program, "L0.wq.k3.n3") == block(weights.layers[0].wq, 960, 64, 960, 64));
  // Wk (512 columns): n-tile 1 is columns 320-511, head 2's second half among them.
  CHECK(declared_elements(program, "L1.wk.k0.n1") == block(weights.layers[1].wk, 0, 320, 320, 192));
  // w_down: 2816 rows are 9 k-tiles, the last of 256 rows.
  CHECK(declared_elements(program, "L1.w_down.k8.n2") ==
        block(weights.layers[1].w_down, 2560, 256, 640, 320));
  // The weights are raw declarations; the scales and gains, jitter ones.
  uint64_t declared = 0;
  for (const auto& d : program.declared) {
    const auto& s = program.symbols[d.symbol];
    if (d.values == tsp::DeclaredValues::raw) declared += uint64_t(d.row_count) * s.cols;
  }
  CHECK(declared == model.parameters() - (2 * model.layers + 1) * uint64_t(model.d_model));
  CHECK(kernel.predicted_cycles == 28634);
}

// Tensor-parallel over node8, tiny-llama's 4 query heads have two replicas each and its 2 KV heads
// four: a replica holds its head's Wq (Wk, Wv) columns too, but its Wo rows are zero, so those
// tiles declare only their live rows. Each tile is one declaration, and over the chips every
// weight is declared once but for the replicated Wq, Wk and Wv columns.
TEST_CASE("a tensor-parallel step declares every weight once over the chips, one declaration per tile") {
  const auto system = tsp::load_system(std::string(TSPSIM_SOURCE_DIR) + "/configs/systems/node8.json");
  const auto model =
      tsp::model::load_model(std::string(TSPSIM_SOURCE_DIR) + "/configs/models/tiny-llama.json");
  const auto compiled = tsp::compiler::compile_llama_system(system, model, {0, 1, 1});
  uint64_t declared = 0;
  bool partial = false;
  for (uint32_t c = 0; c < compiled.program.chips(); ++c) {
    const auto& program = compiled.program.program_of(c);
    for (const auto& d : program.declared) {
      const auto& s = program.symbols[d.symbol];
      CHECK(s.name.find(".r") == std::string::npos);
      if (d.values == tsp::DeclaredValues::raw) declared += uint64_t(d.row_count) * s.cols;
      partial = partial || d.row_count < s.rows;
    }
  }
  CHECK(partial);
  const uint64_t chips = compiled.program.chips();
  const uint64_t replicas = uint64_t(model.d_model) * (model.q_width() * (chips / model.heads - 1) +
                                                       2 * model.kv_width() * (chips / model.kv_heads - 1));
  CHECK(declared ==
        model.parameters() - (2 * model.layers + 1) * uint64_t(model.d_model) + model.layers * replicas);
}

// The reference's outputs carry the tolerance of their depth (docs/llama.md, "Precision and
// tolerance"): 0.15 up to four layers, then growing with the square root of the layers before.
TEST_CASE("a deep step's expected keys, values and logits carry the tolerance of their depth") {
  using tsp::compiler::llama_tolerance;
  CHECK(llama_tolerance(0) == 0.15);
  CHECK(llama_tolerance(4) == 0.15);
  CHECK(llama_tolerance(16) == 0.30);
  CHECK(llama_tolerance(32) == Approx(0.15 * std::sqrt(8.0)).epsilon(1e-15));
  const auto config = tsp::test::bundled_config("14nm.json");
  auto model = tsp::model::load_model(std::string(TSPSIM_SOURCE_DIR) + "/configs/models/tiny-llama.json");
  model.layers = 9;
  model.max_context = 16;
  const auto kernel = tsp::compiler::compile_llama_step(config, model, {});
  std::map<std::string, double> largest;
  for (const auto& output : kernel.outputs)
    largest[output.symbol] = *std::max_element(output.tolerance.begin(), output.tolerance.end());
  CHECK(largest.at("LOGITS.c0") == llama_tolerance(9));
  CHECK(largest.at("L0.KT") == 0.15);
  CHECK(largest.at("L8.KT") == llama_tolerance(8));
  CHECK(largest.at("L8.V.g0") == llama_tolerance(8));
  CHECK(largest.at("NEXT") == 0.0);
}
