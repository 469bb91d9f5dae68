// tspc llama and tspsim --load as a user runs them: greedy decoding of the tiny Llama on one chip,
// step by step, each step's program fed the previous step's token and KV cache (tspsim --dump
// then --load), checked against the host reference tsp::model::Reference (docs/llama.md).
#include "cli_harness.h"
#include "model_files.h"
#include "tool_output.h"

#include "tspsim/compiler/llama.h"
#include "tspsim/config/system.h"
#include "tspsim/model/reference.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/system_program.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

using tsp::test::field;
using tsp::test::first_int;
using tsp::test::floats;
using tsp::test::halves;
using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

const std::string kModel = source("configs/models/tiny-llama.json");
const std::string kConfig = " --config " + source("configs/14nm.json");

// The chip's cache after a step, position-major per layer (tsp::model::Reference's layout): the
// transposed keys L<l>.KT and the values L<l>.V.g<g> as tspsim --dump wrote them.
struct Cache {
  std::vector<std::vector<float>> keys, values;
};

Cache read_cache(const tsp::model::ModelConfig& m, uint32_t positions,
                 const std::function<std::string(const std::string&)>& file) {
  const uint32_t width = m.kv_width(), hd = m.head_dim;
  Cache cache;
  for (uint32_t l = 0; l < m.layers; ++l) {
    const auto kt = halves(slurp(file(fmt::format("L{}.KT", l))));
    std::vector<float> keys(size_t(positions) * width), values(size_t(positions) * width);
    for (uint32_t p = 0; p < positions; ++p)
      for (uint32_t r = 0; r < width; ++r) keys[size_t(p) * width + r] = kt[size_t(r) * m.max_context + p];
    for (uint32_t g = 0; g < m.kv_heads; ++g) {
      const auto v = halves(slurp(file(fmt::format("L{}.V.g{}", l, g))));
      for (uint32_t p = 0; p < positions; ++p)
        for (uint32_t i = 0; i < hd; ++i) values[size_t(p) * width + g * hd + i] = v[size_t(p) * hd + i];
    }
    cache.keys.push_back(std::move(keys));
    cache.values.push_back(std::move(values));
  }
  return cache;
}

// The symbols of a one-chip step's cache and logits (docs/llama.md, "State between steps").
std::vector<std::string> cache_symbols(const tsp::model::ModelConfig& m) {
  std::vector<std::string> symbols;
  for (uint32_t l = 0; l < m.layers; ++l) {
    symbols.push_back(fmt::format("L{}.KT", l));
    for (uint32_t g = 0; g < m.kv_heads; ++g) symbols.push_back(fmt::format("L{}.V.g{}", l, g));
  }
  return symbols;
}

std::vector<std::string> logit_symbols(const tsp::model::ModelConfig& m) {
  const uint32_t tiles = (m.vocab + 319) / 320;
  if (tiles == 1) return {"LOGITS"};
  std::vector<std::string> symbols;
  for (uint32_t t = 0; t < tiles; ++t) symbols.push_back(fmt::format("LOGITS.c{}", t));
  return symbols;
}

// Greedy decoding (seed 1, first token 1) at positions first .. last on one chip, each step's
// program fed the previous step's token and cache (tspsim --dump, then --load; the first step
// starts from the program's own state, the reference's after `first` greedy steps). Each step is
// compared with the reference run on the same input: the chip's token and the chip's cache
// (Reference::restore), so the tolerance bounds one step's difference and does not grow with the
// steps. `settings` (--set options) change the chip for both tspc and tspsim.
void decode_on_one_chip(const std::string& model_path, uint32_t first, uint32_t last,
                        const std::string& settings = "") {
  const std::string config = kConfig + settings;
  const auto model = tsp::model::load_model(model_path);
  const auto weights = tsp::model::random_weights(model, 1);
  const auto dir = scratch_dir();
  const auto cache = cache_symbols(model);
  const auto logit_tiles = logit_symbols(model);
  uint32_t token = 1;
  Cache state{std::vector<std::vector<float>>(model.layers), std::vector<std::vector<float>>(model.layers)};
  {
    tsp::model::Reference start(model, weights);
    for (uint32_t p = 0; p < first; ++p) token = tsp::model::argmax(start.decode(token));
    for (uint32_t l = 0; l < model.layers; ++l) {
      state.keys[l] = start.keys(l);
      state.values[l] = start.values(l);
    }
  }
  for (uint32_t step = first; step <= last; ++step) {
    const auto program = (dir / fmt::format("step{}.bin", step)).string();
    const auto compiled =
        run_tool("tspc", fmt::format("llama --model {} --position {} --token 1 --seed 1{} -o {}", model_path,
                                     step, config, program));
    REQUIRE(compiled.exit_code == 0);
    const std::string predicted = field(compiled.out, fmt::format("at position {}: ", step));
    // State in: the previous step's token and cache. State out: the logits, the token and the cache.
    std::string options = config + " " + program;
    const auto file = [&](const std::string& symbol, uint32_t s) {
      return (dir / fmt::format("{}.{}.bin", symbol, s)).string();
    };
    if (step > first) {
      options += " --load TOKEN=" + file("NEXT", step - 1);
      for (const auto& symbol : cache)
        options += fmt::format(" --load {}={}", symbol, file(symbol, step - 1));
    }
    for (const auto& symbol : cache) options += fmt::format(" --dump {}={}", symbol, file(symbol, step));
    options += fmt::format(" --dump NEXT={}", file("NEXT", step));
    for (const auto& symbol : logit_tiles)
      options += fmt::format(" --dump {}={}", symbol, file(symbol, step));
    const auto sim = run_tool("tspsim", options);
    REQUIRE(sim.exit_code == 0);
    CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
    CHECK(field(sim.out, "cycles              ") == predicted);

    tsp::model::Reference reference(model, weights);
    reference.restore(state.keys, state.values);
    const auto expected = reference.decode(token);
    std::vector<float> logits;
    for (const auto& symbol : logit_tiles) {
      const auto part = floats(slurp(file(symbol, step)));
      logits.insert(logits.end(), part.begin(), part.end());
    }
    REQUIRE(logits.size() == expected.size());
    for (size_t i = 0; i < logits.size(); ++i) {
      INFO("step " << step << " logit " << i);
      CHECK(std::fabs(logits[i] - expected[i]) <= tsp::compiler::llama_tolerance(model.layers));
    }
    // The greedy token: the reference's, unless its two best logits are closer than twice the
    // tolerance, when either of them is right.
    const uint32_t chip = first_int(slurp(file("NEXT", step)));
    const uint32_t best = tsp::model::argmax(expected);
    auto sorted = expected;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    INFO("step " << step << ": chip token " << chip << ", reference " << best);
    REQUIRE(chip < expected.size());
    if (sorted[0] - sorted[1] > 2 * tsp::compiler::llama_tolerance(model.layers))
      CHECK(chip == best);
    else
      CHECK(expected[chip] >= sorted[0] - 2 * tsp::compiler::llama_tolerance(model.layers));
    // The appended position of the chip's cache equals the reference's within the cache tolerance.
    state = read_cache(model, step + 1, [&](const std::string& symbol) { return file(symbol, step); });
    for (uint32_t l = 0; l < model.layers; ++l)
      for (uint32_t e = step * model.kv_width(); e < (step + 1) * model.kv_width(); ++e) {
        INFO("step " << step << " layer " << l << " element " << e);
        CHECK(std::fabs(state.keys[l][e] - reference.keys(l)[e]) <= tsp::compiler::llama_tolerance(l));
        CHECK(std::fabs(state.values[l][e] - reference.values(l)[e]) <= tsp::compiler::llama_tolerance(l));
      }
    token = chip;
  }
}

} // namespace

TEST_CASE("tiny-llama: eight greedy decode steps on one chip match the host reference") {
  decode_on_one_chip(kModel, 0, 7);
}

// Float weights (fp16 or bf16, the activations' type): the projections multiply the input as it
// is, without the int8 quantisation, and convert the fp32 products (docs/llama.md, "Precision and
// tolerance").
TEST_CASE("tiny-llama with fp16 weights: four greedy decode steps on one chip match the host reference") {
  decode_on_one_chip(
      tsp::test::model_with_precision("tiny-llama", "tiny-fp16.json",
                                      R"({"weights": "fp16", "activations": "fp16", "kv_cache": "fp16"})"),
      0, 3);
}

TEST_CASE(
    "tiny-llama with bf16 weights: every output of a step matches the reference; mixed types are refused") {
  const auto dir = scratch_dir();
  const auto model = tsp::test::model_with_precision(
      "tiny-llama", "tiny-bf16.json", R"({"weights": "bf16", "activations": "bf16", "kv_cache": "bf16"})");
  const auto compiled =
      run_tool("tspc", fmt::format("llama --model {} --position 3{} -o {} --reference {}", model, kConfig,
                                   (dir / "b16.bin").string(), (dir / "b16").string()));
  REQUIRE(compiled.exit_code == 0);
  const auto check = compiled.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  const auto sim =
      run_tool("tspsim", compiled.out.substr(check + 14, compiled.out.find('\n', check) - check - 14));
  CHECK(sim.exit_code == 0);
  CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(tsp::test::count(sim.out, ": ok\n") == 9);
  CHECK(field(sim.out, "cycles              ") == field(compiled.out, "at position 3: "));
  const auto mixed = tsp::test::model_with_precision(
      "tiny-llama", "tiny-mixed.json", R"({"weights": "bf16", "activations": "fp16", "kv_cache": "fp16"})");
  const auto r =
      run_tool("tspc", fmt::format("llama --model {}{} -o {}", mixed, kConfig, (dir / "m.bin").string()));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: tiny-llama has bf16 weights and fp16 activations; float weights need "
                 "activations of their type (the MXM multiplies two operands of one type)\n");
}

// The step's own check (tspc's `check:` line, the reference's outputs with their tolerances) and
// the step's cache bit for bit against the reference's: tspsim's output for both.
namespace {

struct CheckedStep {
  tsp::test::CommandResult tolerant, exact_cache;
};

CheckedStep checked_step(const std::string& model, uint32_t position, const std::string& name) {
  const auto dir = scratch_dir();
  const auto reference = (dir / name).string();
  const auto compiled =
      run_tool("tspc", fmt::format("llama --model {} --position {}{} -o {}.bin --reference {}", model,
                                   position, kConfig, reference, reference));
  REQUIRE(compiled.exit_code == 0);
  const auto check = compiled.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  CheckedStep step;
  step.tolerant =
      run_tool("tspsim", compiled.out.substr(check + 14, compiled.out.find('\n', check) - check - 14));
  std::string exact = reference + ".bin" + kConfig;
  for (const auto& symbol : cache_symbols(tsp::model::load_model(model)))
    exact += fmt::format(" --expect {}={}/{}.bin", symbol, reference, symbol);
  step.exact_cache = run_tool("tspsim", exact);
  return step;
}

} // namespace

// A KV cache of another type than the activations: the new keys (RoPE's output), values and queries
// are converted to the cache type where the heads are split (a Permute alone stored the activations'
// bytes as they were: an fp16 value read as bf16, and 0 conformance errors), and the reference rounds
// the query to the cache type too (docs/models.md, "Precision model").
TEST_CASE("tiny-llama with a bf16 KV cache and fp16 activations: the step matches the reference") {
  const auto model = tsp::test::model_with_precision(
      "tiny-llama", "tiny-kv-bf16.json", R"({"weights": "int8", "activations": "fp16", "kv_cache": "bf16"})");
  const auto step = checked_step(model, 3, "kvb16");
  CHECK(step.tolerant.exit_code == 0);
  CHECK(step.tolerant.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(tsp::test::count(step.tolerant.out, ": ok\n") == 9);
  CHECK(step.exact_cache.exit_code == 0);
  CHECK(tsp::test::count(step.exact_cache.out, ": ok\n") == 6);
}

// fp32 activations split into fp16 heads: the Permute's 4-byte elements were written to a 2-byte
// tensor, and tspc read past the tensor's slices (an out_of_range of a garbage slice index, or
// worse). Now converted; a head of 2 is refused as any head_dim under 8 is.
TEST_CASE("fp32 activations with an fp16 KV cache: the step matches the reference") {
  const auto dir = scratch_dir();
  const auto write = [&](const std::string& name, uint32_t width) {
    const auto path = (dir / name).string();
    std::ofstream(path) << fmt::format(
        R"({{"name": "d{0}", "layers": 1, "d_model": {0}, "heads": 1, "kv_heads": 1, "head_dim": {0},
            "ffn": 1, "vocab": 3, "max_context": 4, "rope_theta": 10000.0, "norm_eps": 1e-05,
            "precision": {{"weights": "int8", "activations": "fp32", "kv_cache": "fp16"}}}})",
        width);
    return path;
  };
  const auto step = checked_step(write("d16.json", 16), 3, "d16");
  CHECK(step.tolerant.exit_code == 0);
  CHECK(step.tolerant.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(tsp::test::count(step.tolerant.out, ": ok\n") == 4);
  CHECK(tsp::test::count(step.exact_cache.out, ": ok\n") == 2);
  const auto narrow = run_tool("tspc", fmt::format("llama --model {}{} -o {}", write("d2.json", 2), kConfig,
                                                   (dir / "d2.bin").string()));
  CHECK(narrow.exit_code == 2);
  CHECK(narrow.err == "error: attention: head_dim 2 must be a multiple of 8 up to 320\n");
}

// small-llama's rows span several vectors (d_model 1024, 8 heads of 128 with heads 2 and 7
// across a vector boundary, a key/value row of 512): docs/llama.md, "Rows wider than one vector".
TEST_CASE("small-llama: greedy decode steps 0-1 on one chip match the host reference") {
  decode_on_one_chip(source("configs/models/small-llama.json"), 0, 1);
}

TEST_CASE("small-llama: greedy decode steps 4-5 on one chip match the host reference") {
  decode_on_one_chip(source("configs/models/small-llama.json"), 4, 5);
}

// 1,536 words per slice hold small-llama only if its MXM operands (118,016 words of weight tiles
// and cache, each tensor over 16 slices of a hemisphere) use every slice: at one base per tensor at
// most 32 of a hemisphere's 44 slices can hold them, 1,844 words each (docs/compiler.md, "Staggered
// tensors"; main's tspc stopped with "a tensor copy needs 20 words from address 1524"). The
// planner agrees that the step fits.
TEST_CASE("small-llama fits a chip of 1,536 words per slice only with its MXM operands staggered") {
  decode_on_one_chip(source("configs/models/small-llama.json"), 0, 1,
                     " --set geometry.mem_words_per_slice=1536 --set geometry.sram_bytes=43253760");
}

TEST_CASE("tspsim reports a decode step's latency, tokens/s and weight-streaming bound") {
  const auto model = tsp::model::load_model(kModel);
  const auto program = (scratch_dir() / "step.bin").string();
  const auto json = (scratch_dir() / "step.json").string();
  REQUIRE(run_tool("tspc", "llama --model " + kModel + kConfig + " -o " + program).exit_code == 0);
  const auto sim = run_tool("tspsim", program + kConfig + " --stats-json " + json);
  REQUIRE(sim.exit_code == 0);
  // The weights are every int8 matrix: the parameters less the norm gains (2 per layer, 1 final).
  const uint64_t weights = model.parameters() - (2 * model.layers + 1) * uint64_t(model.d_model);
  CHECK(weights == 2600960);
  CHECK(sim.out.find("workload            llama decode step: model tiny-llama at position 0\n") !=
        std::string::npos);
  CHECK(sim.out.find("cycles              24789\n") != std::string::npos);
  CHECK(sim.out.find("per-token latency   27.543 us (one stream: 36306.4 tokens/s)\n") != std::string::npos);
  CHECK(
      sim.out.find("weight streaming    2600960 weight bytes at 28160 B/cycle (88 MEM slices x 320 B): 92.4 "
                   "cycles, bound 9744094.5 tokens/s\n") != std::string::npos);
  const auto stats = nlohmann::json::parse(slurp(json));
  const auto& decode = stats.at("decode");
  CHECK(decode.at("weight_bytes") == weights);
  CHECK(decode.at("weight_bound_cycles").get<double>() == double(weights) / (88 * 320));
  CHECK(decode.at("weight_bound_tokens_per_second").get<double>() == 900e6 / (double(weights) / (88 * 320)));
  CHECK(decode.at("seconds_per_token").get<double>() == 24789 / 900e6);
  CHECK(decode.at("tokens_per_second").get<double>() == 1 / (24789 / 900e6));
}

TEST_CASE("tspc llama --context sizes the cache: a step of context 64 matches the host reference") {
  const auto dir = scratch_dir();
  const auto program = (dir / "c64.bin").string();
  const auto compiled =
      run_tool("tspc", fmt::format("llama --model {} --context 64 --position 3{} -o {} --reference {}",
                                   kModel, kConfig, program, (dir / "c64").string()));
  REQUIRE(compiled.exit_code == 0);
  const auto check = compiled.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  const std::string run = compiled.out.substr(check + 14, compiled.out.find('\n', check) - check - 14);
  const auto sim = run_tool("tspsim", run);
  CHECK(sim.exit_code == 0);
  CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(tsp::test::count(sim.out, ": ok\n") == 9);
  CHECK(field(sim.out, "cycles              ") == field(compiled.out, "at position 3: "));
  // The cache's transposed keys hold 64 positions, not the model's 256.
  const auto p = tsp::read_program(program);
  REQUIRE(p.find_symbol("L0.KT") != nullptr);
  CHECK(p.find_symbol("L0.KT")->cols == 64);
}

// A token program whose run is shorter than reading its declared weights takes: the simulator
// reports the impossible rate as an error, except for a run cut short by --max-cycles (exit 1 as
// partial, with no error).
TEST_CASE("a token run faster than its weight-streaming bound is reported as a modelling error") {
  const auto dir = scratch_dir();
  const auto source_path = (dir / "fast.tsp").string(), program = (dir / "fast.bin").string();
  {
    std::ofstream file(source_path);
    file
        << ".tokens 1\n.tensor W i8 4096x320 slices=MEM_W0 base=0 init=random(1)\n.queue MEM_W1\n    NOP 5\n";
  }
  REQUIRE(run_tool("tspasm", source_path + kConfig + " -o " + program).exit_code == 0);
  auto r = run_tool("tspsim", "--timing-only" + kConfig + " " + program);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "error: 20.0 cycles per token is faster than the weight-streaming bound of 46.5 cycles: the "
                 "1310720 weight bytes cannot all have been read (a modelling error)\n");
  r = run_tool("tspsim", "--timing-only --max-cycles 10" + kConfig + " " + program);
  CHECK(r.exit_code == 1);
  CHECK(r.err.empty());
}

TEST_CASE("tspc llama reports what does not fit one chip and bad positions in one line") {
  const std::string out = kConfig + " -o " + (scratch_dir() / "x.bin").string();
  auto r = run_tool("tspc", "llama --model " + source("configs/models/llama2-7b.json") + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: llama2-7b does not fit one chip at its context of 4096 (tspc plan --chips 1 "
                 "says why)\n");
  // A head wider than one vector: the attention kernel holds each head in one row.
  const auto wide = (scratch_dir() / "wide-head.json").string();
  std::string text = slurp(kModel);
  text.replace(text.find("\"head_dim\": 80"), 14, "\"head_dim\": 400");
  text.replace(text.find("\"d_model\": 320"), 14, "\"d_model\": 1600");
  {
    std::ofstream file(wide);
    file << text;
  }
  r = run_tool("tspc", "llama --model " + wide + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: tiny-llama: head_dim 400 must fit one 320-lane vector (each head is one row "
                 "of the attention kernel)\n");
  r = run_tool("tspc", "llama --model " + kModel + " --position 256" + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: --position 256 is outside tiny-llama's context of 256 positions\n");
  r = run_tool("tspc", "llama --model " + kModel + " --context 300" + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: --context 300: expected 1 to 256 (tiny-llama's max_context)\n");
  r = run_tool("tspc", "llama --model " + kModel + " --context 64 --position 64" + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: --position 64 is outside tiny-llama's context of 64 positions\n");
  r = run_tool("tspc", "llama --model " + kModel + " --token 512" + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: --token 512 is outside tiny-llama's vocabulary of 512\n");
  r = run_tool("tspc", "llama" + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: --model is required (model name (configs/models/NAME.json, from the working "
                 "directory) or a model file)\n");
}

TEST_CASE(
    "a decode step at position 3 starts from the reference's state and tspsim confirms its references") {
  const auto dir = scratch_dir();
  const auto r = run_tool("tspc", "llama --model " + kModel + " --position 3 --token 7" + kConfig + " -o " +
                                      (dir / "p3.bin").string() + " --reference " + (dir / "ref").string());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("llama decode step: model tiny-llama at position 3: 24789 cycles predicted", 0) == 0);
  const auto check = r.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  const auto sim = run_tool("tspsim", r.out.substr(check + 14, r.out.find('\n', check) - check - 14));
  CHECK(sim.exit_code == 0);
  for (const char* symbol :
       {"LOGITS.c0", "LOGITS.c1", "NEXT", "L0.KT", "L0.V.g0", "L0.V.g1", "L1.KT", "L1.V.g0", "L1.V.g1"})
    CHECK(sim.out.find(fmt::format("expect {}: ok\n", symbol)) != std::string::npos);
}

TEST_CASE("tspsim measures a decode step's per-layer breakdown and the rates of --requests streams") {
  const auto program = (scratch_dir() / "step.bin").string();
  const auto json = (scratch_dir() / "step.json").string();
  REQUIRE(run_tool("tspc", "llama --model " + kModel + kConfig + " -o " + program).exit_code == 0);
  const auto sim = run_tool("tspsim", program + kConfig + " --requests 4 --stats-json " + json);
  REQUIRE(sim.exit_code == 0);
  // One stage: each of 4 streams gets a token every 4 steps of 24789 cycles at 900 MHz.
  CHECK(sim.out.find("requests            4 sharing the chip: 9076.6 tokens/s per user, 36306.4 tokens/s in "
                     "aggregate\n") != std::string::npos);
  CHECK(sim.out.find("occupancy           24789 cycles per token (the chip): a stream's step every 99156 "
                     "cycles\n") != std::string::npos);
  CHECK(sim.out.find("group          matrix  attention  norms+activations  collectives  hand-off     idle    "
                     "total  instructions\n") != std::string::npos);
  CHECK(sim.out.find("layer 0           892       1228                211            0         0     7848    "
                     "10179         12820\n") != std::string::npos);
  const auto stats = nlohmann::json::parse(slurp(json));
  const double step = 24789 / 900e6;
  const auto& decode = stats.at("decode");
  CHECK(decode.at("requests") == 4);
  CHECK(decode.at("occupancy_cycles_per_token") == 24789);
  CHECK(decode.at("step_interval_seconds").get<double>() == 4 * step);
  CHECK(decode.at("tokens_per_second_per_user").get<double>() == 1 / (4 * step));
  CHECK(decode.at("aggregate_tokens_per_second").get<double>() == 1 / step); // x4 is exact in binary

  // Every slice instruction (not the ICU's NOP, Repeat and Ifetch) was placed in a region, every
  // cycle is in exactly one group, and the two layers, the same work, dispatch about as many
  // instructions: their tensors are staggered over different slices (docs/compiler.md), so the
  // scheduler's choices, and the text where a phase's region begins, differ a little.
  const auto& breakdown = stats.at("breakdown");
  CHECK(breakdown.at("untagged_instructions") == 0);
  uint64_t slice_instructions = 0;
  for (const auto& slice : stats.at("slices"))
    for (const auto& [mnemonic, n] : slice.at("instructions_by_opcode").items())
      if (mnemonic != "NOP" && mnemonic != "Repeat" && mnemonic != "Ifetch")
        slice_instructions += n.get<uint64_t>();
  std::vector<std::string> groups;
  uint64_t cycles = 0, instructions = 0;
  for (const auto& g : breakdown.at("groups")) {
    groups.push_back(g.at("group"));
    uint64_t total = 0;
    for (const auto& [category, n] : g.at("cycles").items()) total += n.get<uint64_t>();
    CHECK(total == g.at("total_cycles").get<uint64_t>());
    cycles += total;
    for (const auto& [category, n] : g.at("instructions").items()) instructions += n.get<uint64_t>();
    // One chip: nothing crosses a link.
    CHECK(g.at("cycles").at("collectives") == 0);
    CHECK(g.at("cycles").at("hand-off") == 0);
    CHECK(g.at("cycles").at("matrix").get<uint64_t>() > 0);
  }
  CHECK(groups == std::vector<std::string>{"embedding", "layer 0", "layer 1", "head"});
  CHECK(cycles == 24789);
  CHECK(instructions == slice_instructions);
  const auto& layers = breakdown.at("groups");
  uint64_t per_layer[2] = {0, 0};
  for (int l = 0; l < 2; ++l)
    for (const auto& [category, n] : layers[1 + l].at("instructions").items())
      per_layer[l] += n.get<uint64_t>();
  CHECK(per_layer[0] == 12820);
  CHECK(per_layer[1] == 12821);
  CHECK(layers[1].at("cycles").at("attention").get<uint64_t>() > 0);
  CHECK(layers[0].at("cycles").at("attention") == 0);

  const auto bad = run_tool("tspsim", program + kConfig + " --requests 0");
  CHECK(bad.exit_code == 2);
  CHECK(bad.err == "error: --requests: expected a positive number of token streams\n");
}

TEST_CASE("tspsim --system gives every chip its breakdown, a replicated chip its representative's") {
  const auto dir = scratch_dir();
  const auto program = (dir / "step.bin").string();
  REQUIRE(run_tool("tspc", "llama --model " + kModel + kConfig + " -o " + program).exit_code == 0);
  // Both chips of two_chips run the same step (no link traffic), so --timing-only reuses chip 0's
  // simulation for chip 1.
  const auto system = tsp::load_system(source("configs/systems/two_chips.json"));
  tsp::SystemProgram both;
  both.system_fingerprint = tsp::system_fingerprint(system);
  both.system_name = system.name;
  both.programs.push_back(tsp::read_program(program));
  both.chip_program = {0, 0};
  both.metadata = both.programs[0].metadata;
  both.metadata.chips = 2;
  const auto sys_program = (dir / "both.bin").string();
  tsp::write_system_program(both, sys_program);

  const auto one = (dir / "one.json").string(), two = (dir / "two.json").string();
  REQUIRE(run_tool("tspsim", program + kConfig + " --timing-only --quiet --stats-json " + one).exit_code ==
          0);
  const auto sim =
      run_tool("tspsim", sys_program + kConfig + " --system " + source("configs/systems/two_chips.json") +
                             " --timing-only --requests 2 --stats-json " + two);
  INFO(sim.err);
  REQUIRE(sim.exit_code == 0);
  const auto chip = nlohmann::json::parse(slurp(one));
  const auto sys = nlohmann::json::parse(slurp(two));
  REQUIRE(sys.at("chips_reused") == 1);
  CHECK(sys.at("chips")[0].at("breakdown") == chip.at("breakdown"));
  CHECK(sys.at("chips")[1].at("breakdown") == chip.at("breakdown"));
  CHECK(sim.out.find("chip 1: per-layer breakdown") != std::string::npos);
  CHECK(
      sim.out.find("requests            2 sharing the system: 18153.2 tokens/s per user, 36306.4 tokens/s in "
                   "aggregate\n") != std::string::npos);
  CHECK(sys.at("decode").at("tokens_per_second_per_user").get<double>() == 1 / (2 * (24789 / 900e6)));
}

// Two pipeline stages of four tensor-parallel chips on node8: every chip's breakdown has the
// all-reduces' cycles as collectives and the stage's Sends or Receives as the hand-off, each cycle
// in one category; every chip reports each unit's utilisation and its links'.
TEST_CASE("tspsim --system measures a pipelined step's collectives, hand-off and every chip's units") {
  const auto dir = scratch_dir();
  const auto program = (dir / "n8.bin").string(), stats = (dir / "n8.json").string();
  const std::string node8 = source("configs/systems/node8.json");
  REQUIRE(run_tool("tspc",
                   fmt::format("llama --model {} --system {} --stages 2 --position 2 --timing-only{} -o {}",
                               kModel, node8, kConfig, program))
              .exit_code == 0);
  const auto sim = run_tool("tspsim", fmt::format("{}{} --system {} --timing-only --stats-json {}", program,
                                                  kConfig, node8, stats));
  REQUIRE(sim.exit_code == 0);
  const auto json = nlohmann::json::parse(slurp(stats));
  REQUIRE(json.at("chips").size() == 8);
  const auto group = [&](size_t chip, const std::string& name) {
    for (const auto& g : json.at("chips")[chip].at("breakdown").at("groups"))
      if (g.at("group") == name) return g;
    FAIL("chip " << chip << " has no group " << name);
    return nlohmann::json();
  };
  const nlohmann::json first = {{"attention", 551}, {"collectives", 250}, {"hand-off", 3},
                                {"idle", 9983},     {"matrix", 754},      {"norms+activations", 181}};
  CHECK(group(0, "layer 0").at("cycles") == first);
  const nlohmann::json second = {{"attention", 547}, {"collectives", 245}, {"hand-off", 3},
                                 {"idle", 22385},    {"matrix", 698},      {"norms+activations", 179}};
  CHECK(group(4, "layer 1").at("cycles") == second);
  CHECK(group(4, "head").at("cycles").at("collectives") == 116);
  for (const auto& chip : json.at("chips")) {
    INFO("chip " << chip.at("chip"));
    for (const auto& g : chip.at("breakdown").at("groups")) {
      uint64_t sum = 0;
      for (const auto& [category, cycles] : g.at("cycles").items()) sum += cycles.get<uint64_t>();
      CHECK(sum == g.at("total_cycles").get<uint64_t>());
    }
    for (const char* unit : {"MEM", "MXM", "SXM", "VXM"}) {
      const double u = chip.at("units").at(unit).at("utilisation").get<double>();
      CHECK(u > 0);
      CHECK(u < 0.05);
    }
    CHECK(chip.at("link_utilisation").get<double>() > 0);
  }
}

// --timing-only skips the host reference: the schedule does not depend on data, so the program is
// the same but for the cache's initial contents (at position 0, whose cache is empty, the same
// bytes; at 3 the reference's cache is stored, the all-zero one is not), and it simulates with its
// predicted cycles.
TEST_CASE("tspc llama --timing-only compiles the same schedule without the host reference") {
  const auto dir = scratch_dir();
  const auto path = [&](const std::string& name) { return (dir / name).string(); };
  for (uint32_t position : {0u, 3u}) {
    INFO("position " << position);
    const std::string at = fmt::format(" --position {}", position);
    const auto with = run_tool("tspc", "llama --model " + kModel + at + kConfig + " -o " + path("with.bin"));
    const auto without = run_tool("tspc", "--timing-only llama -o " + path("without.bin") + " --model " +
                                              kModel + at + kConfig);
    REQUIRE(with.exit_code == 0);
    REQUIRE(without.exit_code == 0);
    const std::string predicted = field(with.out, fmt::format("at position {}: ", position));
    CHECK(field(without.out, fmt::format("at position {}: ", position)) == predicted);
    const std::string a = slurp(path("with.bin")), b = slurp(path("without.bin"));
    if (position == 0) CHECK(a == b);
    if (position == 3) CHECK(a.size() > b.size()); // the reference's cache of positions 0-2 is stored
    const auto sim = run_tool("tspsim", path("without.bin") + kConfig + " --timing-only");
    CHECK(sim.exit_code == 0);
    CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
    CHECK(field(sim.out, "cycles              ") == predicted);
  }
  const auto both = run_tool("tspc", "llama --timing-only --model " + kModel + kConfig + " -o " +
                                         path("x.bin") + " --reference " + path("ref"));
  CHECK(both.exit_code == 2);
  CHECK(both.err == "error: llama: --reference needs the host reference: drop --timing-only\n");
}

TEST_CASE("tspc llama --system --timing-only: a system step without the host reference, same cycles") {
  const auto dir = scratch_dir();
  const std::string system = " --system " + source("configs/systems/two_chips.json");
  const auto with = run_tool("tspc", "llama --model " + kModel + system + " --position 2 --stages 1 -o " +
                                         (dir / "with.bin").string());
  const auto without = run_tool("tspc", "llama --model " + kModel + system + " --position 2 --stages 1 -o " +
                                            (dir / "without.bin").string() + " --timing-only");
  REQUIRE(with.exit_code == 0);
  REQUIRE(without.exit_code == 0);
  const std::string predicted = field(with.out, "tensor-parallel over 2 chips: ");
  REQUIRE(!predicted.empty());
  CHECK(field(without.out, "tensor-parallel over 2 chips: ") == predicted);
  const auto sim = run_tool("tspsim", (dir / "without.bin").string() + kConfig + system + " --timing-only");
  CHECK(sim.exit_code == 0);
  CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(field(sim.out, "cycles              ") == predicted);
}
