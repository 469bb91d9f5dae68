// The planner promises only what the compiler lays out: the layers `tspc plan` deals to a chip
// compile (docs/models.md, "Per-chip SRAM budget"), for the tiny and small models and for one chip
// of a Llama-2 7B stage (its 8-way share of every layer: 4 query and 4 KV heads of 128, 1,376 ffn
// columns, 4,000 vocabulary rows) at context 4096 and 2048, compiled timing-only.
#include "tspsim/compiler/llama.h"
#include "tspsim/config/config.h"
#include "tspsim/model/plan.h"

#include <catch2/catch.hpp>

namespace {

const std::string kSource = TSPSIM_SOURCE_DIR;

tsp::ChipConfig chip() { return tsp::load_config(kSource + "/configs/14nm.json"); }

tsp::model::ModelConfig bundled(const std::string& name) {
  return tsp::model::load_model(kSource + "/configs/models/" + name + ".json");
}

// One chip's share of a Llama-2 7B stage of `layers` layers as a model of its own.
tsp::model::ModelConfig llama2_7b_chip(uint32_t layers, uint32_t context) {
  tsp::model::ModelConfig m = bundled("llama2-7b");
  m.name = "llama2-7b-chip";
  m.layers = layers;
  m.heads = 4;
  m.kv_heads = 4;
  m.ffn = 1376;
  m.vocab = 4000;
  m.max_context = context;
  return m;
}

// The most layers of `m` that the planner puts on one chip.
uint32_t planned_layers(tsp::model::ModelConfig m) {
  uint32_t layers = 0;
  for (m.layers = 1;; ++m.layers) {
    if (!tsp::model::plan_model(m, chip(), {m.max_context, 1}).fits) return layers;
    layers = m.layers;
  }
}

void compiles(const tsp::model::ModelConfig& m) {
  tsp::compiler::LlamaStep step;
  step.with_reference = false;
  INFO(m.name << ", " << m.layers << " layers at context " << m.max_context);
  CHECK_NOTHROW(tsp::compiler::compile_llama_step(chip(), m, step));
}

} // namespace

TEST_CASE("the tiny and small models: the plan's one chip compiles") {
  for (const char* name : {"tiny-llama", "small-llama"}) {
    const auto m = bundled(name);
    REQUIRE(tsp::model::plan_model(m, chip(), {m.max_context, 1}).fits);
    compiles(m);
  }
}

TEST_CASE("one chip of a Llama-2 7B stage at context 4096: the planner's layers compile") {
  const auto m = llama2_7b_chip(1, 4096);
  const uint32_t layers = planned_layers(m);
  CHECK(layers == 4u);
  compiles(llama2_7b_chip(layers, 4096));
}

TEST_CASE("one chip of a Llama-2 7B stage at context 2048: the planner's layers compile") {
  const auto m = llama2_7b_chip(1, 2048);
  const uint32_t layers = planned_layers(m);
  CHECK(layers == 4u);
  compiles(llama2_7b_chip(layers, 2048));
}
