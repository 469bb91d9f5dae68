// The Llama decode step compiled stage by stage (docs/llama.md, "Compiling stage by stage"): a
// stage's schedules are freed once the next stage has its hand-off, the finished programs spilled
// to a file give the same system program as those kept in memory, the step's schedule is the one
// main produced before stages were finished one at a time, and a hand-off from node s to node s + 1
// uses the cables between those two nodes (so each chip is busy during its own stage only).
#include "tspsim/common/error.h"
#include "tspsim/common/temporary_directory.h"
#include "tspsim/compiler/llama.h"
#include "tspsim/compiler/program_spill.h"
#include "tspsim/compiler/system_schedule.h"
#include "tspsim/config/system.h"
#include "tspsim/model/model.h"
#include "tspsim/model/plan.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>

namespace {

const std::string kSource = TSPSIM_SOURCE_DIR;

tsp::model::ModelConfig tiny_llama() {
  return tsp::model::load_model(kSource + "/configs/models/tiny-llama.json");
}
tsp::SystemConfig system_named(const std::string& name) {
  return tsp::load_system(kSource + "/configs/systems/" + name + ".json");
}

tsp::compiler::LlamaStep timing_only() {
  tsp::compiler::LlamaStep step;
  step.position = 3;
  step.with_reference = false;
  return step;
}

// FNV-1a over what a schedule decides: every chip's program's queues (numbers and instruction
// words), its region runs and its predicted cycles; not its declarations of weights.
uint64_t schedule_hash(const tsp::SystemProgram& program) {
  uint64_t hash = 0xcbf29ce484222325ull;
  const auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) hash = (hash ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ull;
  };
  for (uint32_t c = 0; c < program.chips(); ++c) {
    const tsp::Program& p = program.program_of(c);
    for (const auto& queue : p.queues) {
      mix(queue.queue);
      for (uint64_t word : queue.words) mix(word);
    }
    for (const auto& run : p.regions.runs) {
      mix(run.queue);
      mix(run.first_cycle);
      mix(run.region);
    }
    mix(p.metadata.predicted_cycles);
  }
  return hash;
}

} // namespace

TEST_CASE("a finished stage's schedules are freed before the next stage is scheduled past its hand-off") {
  const auto system = system_named("node8");
  std::vector<std::vector<size_t>> held; // per finished stage, every chip's held instructions
  std::vector<std::vector<bool>> finished;
  const auto progress = [&](uint32_t, uint32_t stages, const tsp::compiler::SystemSchedule& schedule) {
    CHECK(stages == 2);
    held.emplace_back();
    finished.emplace_back();
    for (uint32_t c = 0; c < 8; ++c) {
      held.back().push_back(schedule.held_instructions(c));
      finished.back().push_back(schedule.finished(c));
    }
  };
  const auto compiled = tsp::compiler::compile_llama_system(system, tiny_llama(), timing_only(), 2, progress);
  REQUIRE(held.size() == 2);
  // Stage 0 (chips 0-3) finished and freed; stage 1 holds its hand-off's Receives and no more.
  for (uint32_t c = 0; c < 4; ++c) {
    INFO("chip " << c);
    CHECK(finished[0][c]);
    CHECK(held[0][c] == 0);
  }
  for (uint32_t c = 4; c < 8; ++c) {
    INFO("chip " << c);
    CHECK(!finished[0][c]);
    CHECK(held[0][c] > 0);
  }
  CHECK(std::all_of(finished[1].begin(), finished[1].end(), [](bool f) { return f; }));
  CHECK(std::all_of(held[1].begin(), held[1].end(), [](size_t n) { return n == 0; }));
  CHECK(compiled.program.programs.size() == 8);
}

TEST_CASE(
    "programs spilled to a file as they finish make the same system program as programs kept in memory") {
  const auto system = system_named("node8");
  const tsp::TemporaryDirectory dir("tspsim-llama-stages");
  const auto spill_path = dir.path() / "spill.bin";
  const auto in_memory = tsp::compiler::compile_llama_system(system, tiny_llama(), timing_only(), 2);
  std::vector<uint8_t> streamed;
  {
    const auto spilled =
        tsp::compiler::compile_llama_system(system, tiny_llama(), timing_only(), 2, {}, spill_path);
    REQUIRE(spilled.spilled);
    CHECK(spilled.program.programs.empty());
    CHECK(spilled.program.chip_program == in_memory.program.chip_program);
    CHECK(spilled.predicted_cycles == in_memory.predicted_cycles);
    streamed = tsp::system_program_head(spilled.program, spilled.spilled->size());
    tsp::SystemProgramSections sections;
    for (uint32_t p = 0; p < spilled.spilled->size(); ++p) {
      const auto section = sections.next(spilled.spilled->bytes(p));
      streamed.insert(streamed.end(), section.begin(), section.end());
    }
  }
  CHECK(streamed == tsp::serialize_system_program(in_memory.program));
  CHECK(!std::filesystem::exists(spill_path)); // removed with the compile's result
}

// Pinned from main 7b50849, before stages were finished one at a time (the hash checked on the
// program main's tspc wrote; the whole files were byte-identical too: tools/scripts/compare-llama.sh).
// A change that moves the schedule on purpose updates the pins and says why: re-pinned when the MXM
// operands were staggered (tiny-llama 29,172 -> 29,237 cycles, small-llama 31,363 -> 31,089;
// docs/compiler.md, "Staggered tensors"), and when a link's Sends began to fill its idle gaps
// (small-llama 31,089 -> 30,901; docs/collectives.md, "How the vectors travel"), and when a chip's
// Sends and Receives began to take the SXM's queues in turn (cycles unchanged; the same page).
TEST_CASE("the stage-by-stage compile on node8 (2 stages x 4 chips) keeps main's schedule") {
  struct Pin {
    std::string model;
    uint64_t cycles;
    uint64_t hash;
  };
  for (const Pin& pin :
       {Pin{"tiny-llama", 29237, 0x7f587034d009d7a2}, Pin{"small-llama", 30901, 0x3ab366dcf11cf8d7}}) {
    INFO(pin.model);
    const auto model = tsp::model::load_model(kSource + "/configs/models/" + pin.model + ".json");
    const auto compiled = tsp::compiler::compile_llama_system(system_named("node8"), model, timing_only(), 2);
    CHECK(compiled.predicted_cycles == pin.cycles);
    CHECK(schedule_hash(compiled.program) == pin.hash);
  }
}

// Between nodes of rack72 one copy of the residual row crosses the cables between the two nodes
// and is passed on inside the receiving node.
TEST_CASE(
    "a hand-off from node s to node s + 1 of rack72 uses their cables: each node ends before the next") {
  auto model = tiny_llama();
  model.layers = 9;
  const auto compiled = tsp::compiler::compile_llama_system(system_named("rack72"), model, timing_only(), 9);
  const auto& program = compiled.program;
  std::vector<uint64_t> first_end(9, UINT64_MAX), last_end(9, 0);
  for (uint32_t c = 0; c < 72; ++c) {
    const uint64_t end = program.program_of(c).metadata.predicted_cycles;
    first_end[c / 8] = std::min(first_end[c / 8], end);
    last_end[c / 8] = std::max(last_end[c / 8], end);
  }
  // Routed by the shortest route with the lowest chip numbers first, later hand-offs passed through
  // earlier nodes' chips and kept them busy until then (chip 7 of node 0 ended at 99,286 simulated
  // cycles instead of about 12,600).
  for (uint32_t s = 0; s + 1 < 9; ++s) {
    INFO("stage " << s << " ends " << first_end[s] << " .. " << last_end[s] << ", stage " << s + 1 << " from "
                  << first_end[s + 1]);
    CHECK(last_end[s] < first_end[s + 1]);
  }
}

// The compiler takes the planner's deal of layers over the stages (one deal, model::stage_layers):
// the stages holding the embedding or the LM head get the fewer layers, so that 7B at context
// 2048 on rack72 (9 stages: 3, 4, 4, 4, 4, 4, 3, 3, 3) fits where an even split by
// layers · s / stages (3, 4, 3, 4, 3, 4, 3, 4, 4) gave the last stage 4 layers and the LM head.
TEST_CASE(
    "each stage holds the layers the planner deals it: 5 layers over 4 stages of node8 are 1, 2, 1, 1") {
  auto model = tiny_llama();
  model.layers = 5;
  const auto system = system_named("node8");
  const auto deal = tsp::model::stage_layers(model, system.config_of(0), model.max_context, 2, 4);
  REQUIRE(deal.size() == 4);
  const std::vector<uint32_t> first{0, 1, 3, 4}, count{1, 2, 1, 1};
  for (uint32_t s = 0; s < 4; ++s) {
    CHECK(deal[s].first_layer == first[s]);
    CHECK(deal[s].layers == count[s]);
  }
  const auto compiled = tsp::compiler::compile_llama_system(system, model, timing_only(), 4);
  for (uint32_t c = 0; c < 8; ++c) {
    const uint32_t s = c / 2;
    std::vector<uint32_t> cached; // the layers whose K^T cache the chip holds
    for (const auto& symbol : compiled.program.program_of(c).symbols)
      for (uint32_t l = 0; l < model.layers; ++l)
        if (symbol.name.rfind("L" + std::to_string(l) + ".KT", 0) == 0) cached.push_back(l);
    std::vector<uint32_t> expected;
    for (uint32_t l = first[s]; l < first[s] + count[s]; ++l) expected.push_back(l);
    INFO("chip " << c << ", stage " << s);
    CHECK(cached == expected);
  }
}

// More stages than layers: the planner deals half-layer blocks (docs/models.md, "Half-layer
// stages"). tiny-llama's 2 layers over 4 stages of 2 chips on node8 are one block each: layer 0's
// attention, its MLP, layer 1's attention, its MLP. Each chip declares only its blocks' weights and
// holds the KV cache of the attention blocks it holds; the step's schedule is pinned.
TEST_CASE("4 stages of node8 hold tiny-llama's half-layer blocks: attention 0, MLP 0, attention 1, MLP 1") {
  const auto model = tiny_llama();
  const auto system = system_named("node8");
  const auto deal = tsp::model::stage_layers(model, system.config_of(0), model.max_context, 2, 4);
  REQUIRE(deal.size() == 4);
  for (uint32_t s = 0; s < 4; ++s) {
    INFO("stage " << s);
    CHECK(deal[s].first_layer == s / 2);
    CHECK(deal[s].layers == 1);
    CHECK(deal[s].starts_at_mlp == (s % 2 == 1));
    CHECK(deal[s].ends_after_attention == (s % 2 == 0));
    CHECK(deal[s].embedding == (s == 0));
    CHECK(deal[s].lm_head == (s == 3));
  }
  const auto compiled = tsp::compiler::compile_llama_system(system, model, timing_only(), 4);
  for (uint32_t c = 0; c < 8; ++c) {
    const uint32_t s = c / 2;
    const std::string layer = "L" + std::to_string(s / 2);
    // The chip's layer tensors: cache, norm gains, weight matrices of their tiles and scales.
    std::vector<std::string> names;
    for (const auto& symbol : compiled.program.program_of(c).symbols)
      if (symbol.name.size() > 1 && symbol.name[0] == 'L' && std::isdigit(symbol.name[1])) {
        const size_t scale = symbol.name.find(".scale");
        names.push_back(scale != std::string::npos ? symbol.name.substr(0, scale + 6)
                                                   : symbol.name.substr(0, symbol.name.rfind(".k")));
      }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    const std::vector<std::string> attention{layer + ".KT",        layer + ".V.g" + std::to_string(c % 2),
                                             layer + ".attn_norm", layer + ".wk",
                                             layer + ".wk.scale",  layer + ".wo",
                                             layer + ".wo.scale",  layer + ".wq",
                                             layer + ".wq.scale",  layer + ".wv",
                                             layer + ".wv.scale"};
    const std::vector<std::string> mlp{layer + ".ffn_norm",  layer + ".w_down",       layer + ".w_down.scale",
                                       layer + ".w_gate",    layer + ".w_gate.scale", layer + ".w_up",
                                       layer + ".w_up.scale"};
    INFO("chip " << c << ", stage " << s);
    CHECK(names == (s % 2 == 0 ? attention : mlp));
  }
  CHECK(compiled.predicted_cycles == 29773);
  CHECK(schedule_hash(compiled.program) == 0x7b90f12d7979db5e);
}

// Llama-2 70B at context 4096 fits dragonfly8's 576 chips only in half-layer stages: the step
// compiler takes the planner's 72 stages of 8 (docs/models.md, "Llama-2 70B on 576 chips").
TEST_CASE("tspc llama --system dragonfly8 plans Llama-2 70B in 72 stages") {
  const auto model = tsp::model::load_model(kSource + "/configs/models/llama2-70b.json");
  CHECK(tsp::compiler::planned_llama_stages(system_named("dragonfly8"), model, "dragonfly8") == 72);
}

// The chips of consecutive stages differ in a few words (docs/program-format.md, "Derived
// programs"): the container stores most of them as edits, and reads back every chip's program with
// the same bytes as the compile's.
TEST_CASE("a rack72 step's container derives its stages' programs and reads them back unchanged") {
  auto model = tiny_llama();
  model.layers = 9;
  const auto compiled = tsp::compiler::compile_llama_system(system_named("rack72"), model, timing_only(), 9);
  const auto bytes = tsp::serialize_system_program(compiled.program);
  size_t whole = 0;
  for (const auto& p : compiled.program.programs) whole += tsp::serialize_program(p).size();
  INFO(compiled.program.programs.size()
       << " programs: " << whole << " bytes whole, container " << bytes.size());
  // Measured with tspc on the same step (2026-12-04): 2,021,441 bytes with the first encodings of
  // derived programs and regions, 1,169,722 with the compact ones.
  CHECK(12 * bytes.size() < whole);
  const auto read = tsp::deserialize_system_program(bytes, "rack72.bin");
  REQUIRE(read.chip_program == compiled.program.chip_program);
  for (size_t p = 0; p < read.programs.size(); ++p)
    CHECK(tsp::serialize_program(read.programs[p]) == tsp::serialize_program(compiled.program.programs[p]));
}
