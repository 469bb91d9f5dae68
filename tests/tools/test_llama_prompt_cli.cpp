// tspc llama --prompt-tokens and tspsim as a user runs them (docs/llama.md, "Prompt pass"): the
// tiny Llama's prompt pass on one chip and on systems, its first token, last logits and KV cache
// against the host reference tsp::model::Reference fed the prompt one token at a time, the decode
// step that follows from its cache, and the time to first token in the report.
#include "cli_harness.h"
#include "tool_output.h"

#include "tspsim/compiler/llama.h"
#include "tspsim/model/reference.h"
#include "tspsim/numeric/numeric.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

using tsp::test::count;
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

// TOKEN of the prompt pass: row i holds prompt token i in each of its 320 int32 lanes.
std::string token_rows(const std::vector<uint32_t>& prompt) {
  std::string bytes;
  for (uint32_t t : prompt)
    for (int lane = 0; lane < 320; ++lane) bytes.append(reinterpret_cast<const char*>(&t), 4);
  return bytes;
}

std::vector<std::string> cache_symbols(const tsp::model::ModelConfig& m) {
  std::vector<std::string> symbols;
  for (uint32_t l = 0; l < m.layers; ++l) {
    symbols.push_back(fmt::format("L{}.KT", l));
    for (uint32_t g = 0; g < m.kv_heads; ++g) symbols.push_back(fmt::format("L{}.V.g{}", l, g));
  }
  return symbols;
}

const std::vector<std::string> kLogits = {"LOGITS.c0", "LOGITS.c1"};

// The chip's logits against the reference's: each within the logit tolerance, and the greedy
// token the reference's (or, where its two best logits are closer than twice the tolerance, one
// of them: docs/llama.md, "Precision and tolerance").
void check_logits(const std::vector<float>& chip, uint32_t token, const std::vector<float>& expected) {
  const double tolerance = tsp::compiler::llama_tolerance(tsp::model::load_model(kModel).layers);
  REQUIRE(chip.size() == expected.size());
  for (size_t i = 0; i < chip.size(); ++i) {
    INFO("logit " << i);
    CHECK(std::fabs(chip[i] - expected[i]) <= tolerance);
  }
  auto sorted = expected;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  REQUIRE(token < expected.size());
  if (sorted[0] - sorted[1] > 2 * tolerance)
    CHECK(token == tsp::model::argmax(expected));
  else
    CHECK(expected[token] >= sorted[0] - 2 * tolerance);
}

// The prompt pass of `prompt` (loaded as TOKEN, not the program's default) on one chip: its
// cycles are tspc's prediction and `pinned`; its last logits, first token and the cache of every
// prompt position are the reference's fed the same tokens; the cache past the prompt is still
// zero. Then the decode step at position L, fed the pass's token and cache, gives the reference's
// next logits and token. `set` changes the chip for both programs (tspc's and tspsim's --set).
void prompt_on_one_chip(const std::vector<uint32_t>& prompt, uint64_t pinned, const std::string& set = "") {
  const std::string config = kConfig + set;
  const auto model = tsp::model::load_model(kModel);
  const auto weights = tsp::model::random_weights(model, 1);
  const auto L = static_cast<uint32_t>(prompt.size());
  const auto dir = scratch_dir();
  const auto file = [&](const std::string& symbol, const std::string& run) {
    return (dir / fmt::format("{}.{}.bin", symbol, run)).string();
  };
  const auto pass = (dir / "prompt.bin").string();
  const auto compiled = run_tool(
      "tspc", fmt::format("llama --model {} --prompt-tokens {} --seed 1{} -o {}", kModel, L, config, pass));
  REQUIRE(compiled.exit_code == 0);
  const std::string predicted = field(compiled.out, fmt::format("at positions 0 to {}: ", L - 1));
  CHECK(predicted == std::to_string(pinned));
  CHECK(compiled.out.find(fmt::format("time to first token: {:.3f} us predicted ({} cycles at 900 MHz)\n",
                                      double(pinned) / 900, pinned)) != std::string::npos);
  {
    std::ofstream out(file("TOKEN", "prompt"), std::ios::binary);
    out << token_rows(prompt);
  }
  const auto cache = cache_symbols(model);
  std::string options = config + " " + pass + " --load TOKEN=" + file("TOKEN", "prompt");
  for (const auto& symbol : cache) options += fmt::format(" --dump {}={}", symbol, file(symbol, "prompt"));
  for (const auto& symbol : kLogits) options += fmt::format(" --dump {}={}", symbol, file(symbol, "prompt"));
  options += " --dump NEXT=" + file("NEXT", "prompt");
  const auto sim = run_tool("tspsim", options);
  REQUIRE(sim.exit_code == 0);
  CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(field(sim.out, "cycles              ") == predicted);

  tsp::model::Reference reference(model, weights);
  std::vector<float> expected;
  for (uint32_t t : prompt) expected = reference.decode(t);
  std::vector<float> logits;
  for (const auto& symbol : kLogits) {
    const auto part = floats(slurp(file(symbol, "prompt")));
    logits.insert(logits.end(), part.begin(), part.end());
  }
  const uint32_t first = first_int(slurp(file("NEXT", "prompt")));
  check_logits(logits, first, expected);

  // Every prompt position's keys (K^T: one lane per position) and values, and zeros past them.
  const uint32_t width = model.kv_width(), hd = model.head_dim;
  std::vector<std::vector<float>> keys(model.layers), values(model.layers);
  for (uint32_t l = 0; l < model.layers; ++l) {
    const auto kt = halves(slurp(file(fmt::format("L{}.KT", l), "prompt")));
    REQUIRE(kt.size() == size_t(width) * model.max_context);
    for (uint32_t r = 0; r < width; ++r)
      for (uint32_t p = 0; p < model.max_context; ++p) {
        INFO("layer " << l << " key row " << r << " position " << p);
        const float chip = kt[size_t(r) * model.max_context + p];
        if (p < L)
          CHECK(std::fabs(chip - reference.keys(l)[size_t(p) * width + r]) <=
                tsp::compiler::llama_tolerance(l));
        else
          CHECK(chip == 0.0f);
      }
    keys[l].resize(size_t(L) * width);
    values[l].resize(size_t(L) * width);
    for (uint32_t p = 0; p < L; ++p)
      for (uint32_t r = 0; r < width; ++r)
        keys[l][size_t(p) * width + r] = kt[size_t(r) * model.max_context + p];
    for (uint32_t g = 0; g < model.kv_heads; ++g) {
      const auto v = halves(slurp(file(fmt::format("L{}.V.g{}", l, g), "prompt")));
      for (uint32_t p = 0; p < model.max_context; ++p)
        for (uint32_t i = 0; i < hd; ++i) {
          INFO("layer " << l << " value head " << g << " position " << p << " element " << i);
          const float chip = v[size_t(p) * hd + i];
          if (p < L) {
            CHECK(std::fabs(chip - reference.values(l)[size_t(p) * width + g * hd + i]) <=
                  tsp::compiler::llama_tolerance(l));
            values[l][size_t(p) * width + g * hd + i] = chip;
          } else {
            CHECK(chip == 0.0f);
          }
        }
    }
  }

  // The decode step at position L from the pass's token and cache, against the reference run on
  // the chip's state (so that the tolerance bounds one step).
  const auto step = (dir / "step.bin").string();
  REQUIRE(run_tool("tspc",
                   fmt::format("llama --model {} --position {} --seed 1{} -o {}", kModel, L, config, step))
              .exit_code == 0);
  options = config + " " + step + " --load TOKEN=" + file("NEXT", "prompt");
  for (const auto& symbol : cache) options += fmt::format(" --load {}={}", symbol, file(symbol, "prompt"));
  for (const auto& symbol : kLogits) options += fmt::format(" --dump {}={}", symbol, file(symbol, "step"));
  options += " --dump NEXT=" + file("NEXT", "step");
  const auto decoded = run_tool("tspsim", options);
  REQUIRE(decoded.exit_code == 0);
  CHECK(decoded.out.find("conformance errors  0\n") != std::string::npos);
  tsp::model::Reference next(model, weights);
  next.restore(keys, values);
  const auto expected_next = next.decode(first);
  logits.clear();
  for (const auto& symbol : kLogits) {
    const auto part = floats(slurp(file(symbol, "step")));
    logits.insert(logits.end(), part.begin(), part.end());
  }
  check_logits(logits, first_int(slurp(file("NEXT", "step"))), expected_next);
}

} // namespace

TEST_CASE("tiny-llama's prompt pass of 4 tokens on one chip matches the host reference, then decodes") {
  prompt_on_one_chip({7, 300, 42, 511}, 25877);
}

TEST_CASE("tiny-llama's prompt pass of 8 tokens on one chip matches the host reference, then decodes") {
  prompt_on_one_chip({7, 300, 42, 511, 0, 128, 9, 77}, 26634);
}

TEST_CASE("tiny-llama's prompt pass of 64 tokens on one chip matches the host reference, then decodes") {
  // Longer than the pass compiled before its keys went into K^T in blocks (24 tokens failed).
  std::vector<uint32_t> prompt;
  for (uint32_t i = 0; i < 64; ++i) prompt.push_back((i * 37 + 11) % 512);
  prompt_on_one_chip(prompt, 36274);
}

TEST_CASE("tiny-llama's prompt pass of 64 tokens fits a chip of 1024 MEM words a slice by reusing them") {
  // Each phase's 64-row tensors take MEM that a later phase reuses once their last Read is placed
  // (docs/llama.md, "Cost and limit"): without the reuse, this chip's MEM is full (`queue VXM.6:
  // its fetched text needs 2 more consecutive MEM words and no slice has them free`).
  std::vector<uint32_t> prompt;
  for (uint32_t i = 0; i < 64; ++i) prompt.push_back((i * 53 + 5) % 512);
  prompt_on_one_chip(prompt, 36274, " --set geometry.mem_words_per_slice=1024");
}

TEST_CASE("tiny-llama's prompt pass of 64 tokens on 896 MEM words a slice fetches text from words it reuses "
          "later") {
  // The fetched instruction text no longer fits above the tensors (`queue MEM_E18: its fetched
  // text needs 2 more consecutive MEM words and no slice has them free`, before text borrowed
  // words): early chunks sit in words a later phase's tensor first writes after they are read.
  std::vector<uint32_t> prompt;
  for (uint32_t i = 0; i < 64; ++i) prompt.push_back((i * 29 + 7) % 512);
  prompt_on_one_chip(prompt, 36274, " --set geometry.mem_words_per_slice=896");
}

namespace {

// The prompt pass (the default prompt: the reference's greedy continuation of --token) over a
// system, every chip's logits, first token and cache checked by tspsim --expect against the
// reference tspc ran; cycles are tspc's prediction and `pinned`, with no conformance error.
// Returns tspsim's report.
std::string prompt_on_system(const std::string& system, const std::string& stages, uint32_t L, size_t outputs,
                             uint64_t pinned) {
  const auto dir = scratch_dir();
  const std::string on = " --system " + source("configs/systems/" + system + ".json");
  const auto r = run_tool("tspc", fmt::format("llama --model {} --prompt-tokens {} --token 3{}{}{} -o {} "
                                              "--reference {}",
                                              kModel, L, kConfig, on, stages, (dir / "p.bin").string(),
                                              (dir / "ref").string()));
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(fmt::format("at positions 0 to {}, ", L - 1)) != std::string::npos);
  CHECK(r.out.find(fmt::format(": {} cycles predicted", pinned)) != std::string::npos);
  CHECK(r.out.find(fmt::format("time to first token: {:.3f} us predicted ({} cycles at 900 MHz)\n",
                               double(pinned) / 900, pinned)) != std::string::npos);
  const auto check = r.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  const auto sim = run_tool("tspsim", r.out.substr(check + 14, r.out.find('\n', check) - check - 14));
  CHECK(sim.exit_code == 0);
  CHECK(field(sim.out, "cycles              ") == std::to_string(pinned));
  CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(count(sim.out, ": ok\n") == outputs);
  CHECK(count(sim.out, "expect ") == outputs);
  return sim.out;
}

} // namespace

TEST_CASE("tiny-llama's prompt pass tensor-parallel on two chips matches the host reference") {
  // Per chip: NEXT, one LOGITS tile, L0/L1 K^T and one V head each.
  prompt_on_system("two_chips", " --stages 1", 8, 2 * 6, 30377);
}

TEST_CASE("tiny-llama's 16-token prompt pass tensor-parallel on node8 all-reduces in two phases") {
  // 16 rows over 8 chips: every all-reduce but the head's (one row) is a reduce-scatter and an
  // all-gather of 2-row shards (one phase: 36995 cycles and 32704 link vectors).
  const std::string report = prompt_on_system("node8", " --stages 1", 16, 8 * 6, 33339);
  CHECK(field(report, "link vectors        ") == "8512");
}

TEST_CASE("tiny-llama's prompt pass in two pipeline stages on two chips matches the host reference") {
  // Chip 0: layer 0's cache (K^T, 2 V heads); chip 1: layer 1's, NEXT and 2 LOGITS tiles.
  prompt_on_system("two_chips", " --stages 2", 8, 3 + 6, 27073);
}

TEST_CASE("tiny-llama's prompt pass in two stages of four chips on node8 matches the host reference") {
  // Stage 0 (chips 0-3): layer 0's K^T and V head; stage 1: layer 1's, NEXT and one LOGITS tile.
  prompt_on_system("node8", "", 4, 4 * 2 + 4 * 4, 30487);
}

TEST_CASE("a prompt pass from position 3 appends to the reference's cache of the first 3 positions") {
  const auto dir = scratch_dir();
  const auto r =
      run_tool("tspc", "llama --model " + kModel + " --prompt-tokens 4 --position 3 --token 5" + kConfig +
                           " -o " + (dir / "p.bin").string() + " --reference " + (dir / "ref").string());
  REQUIRE(r.exit_code == 0);
  CHECK(
      r.out.rfind("llama prompt pass: model tiny-llama, 4 tokens at positions 3 to 6: 25848 cycles predicted",
                  0) == 0);
  const auto check = r.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  const auto sim = run_tool("tspsim", r.out.substr(check + 14, r.out.find('\n', check) - check - 14));
  CHECK(sim.exit_code == 0);
  CHECK(field(sim.out, "cycles              ") == "25848");
  for (const char* symbol :
       {"LOGITS.c0", "LOGITS.c1", "NEXT", "L0.KT", "L0.V.g0", "L0.V.g1", "L1.KT", "L1.V.g0", "L1.V.g1"})
    CHECK(sim.out.find(fmt::format("expect {}: ok\n", symbol)) != std::string::npos);
}

TEST_CASE("tspsim reports a prompt pass's time to first token, one chip and a system") {
  const auto dir = scratch_dir();
  const auto program = (dir / "p.bin").string(), json = (dir / "p.json").string();
  REQUIRE(run_tool("tspc", "llama --model " + kModel + " --prompt-tokens 8" + kConfig + " -o " + program)
              .exit_code == 0);
  auto sim = run_tool("tspsim", program + kConfig + " --stats-json " + json);
  REQUIRE(sim.exit_code == 0);
  const double seconds = 26634 / 900e6;
  CHECK(sim.out.find(
            "workload            llama prompt pass: model tiny-llama, 8 tokens at positions 0 to 7\n") !=
        std::string::npos);
  CHECK(sim.out.find(fmt::format("time to first token 29.593 us (the prompt pass of 8 tokens: 26634 cycles; "
                                 "{:.1f} prompt tokens/s)\n",
                                 8 / seconds)) != std::string::npos);
  // The weights are streamed once for the 8 prompt tokens: the bound per prompt token is an eighth.
  const double bound = 2600960.0 / (88 * 320) / 8;
  CHECK(sim.out.find(fmt::format("weight streaming    2600960 weight bytes at 28160 B/cycle (88 MEM slices x "
                                 "320 B): {:.1f} cycles, bound {:.1f} tokens/s\n",
                                 bound, 900e6 / bound)) != std::string::npos);
  CHECK(sim.out.find("per-token latency") == std::string::npos);
  CHECK(sim.out.find("requests            ") == std::string::npos);
  CHECK(sim.out.find("prompt layer 1 ") != std::string::npos);
  auto stats = nlohmann::json::parse(slurp(json));
  CHECK(!stats.contains("decode"));
  const auto& prefill = stats.at("prefill");
  CHECK(prefill.at("time_to_first_token_cycles") == 26634);
  CHECK(prefill.at("time_to_first_token_seconds").get<double>() == seconds);
  CHECK(prefill.at("prompt_tokens") == 8);
  CHECK(prefill.at("prompt_tokens_per_second").get<double>() == 8 / seconds);
  CHECK(prefill.at("weight_bytes") == 2600960);
  CHECK(prefill.at("weight_bound_cycles").get<double>() == bound);

  const std::string on = " --system " + source("configs/systems/two_chips.json");
  REQUIRE(run_tool("tspc", "llama --model " + kModel + " --prompt-tokens 8 --stages 2" + kConfig + on +
                               " -o " + program)
              .exit_code == 0);
  sim = run_tool("tspsim", program + kConfig + on + " --stats-json " + json);
  REQUIRE(sim.exit_code == 0);
  CHECK(sim.out.find(fmt::format("time to first token 30.081 us (the prompt pass of 8 tokens: 27073 cycles; "
                                 "{:.1f} prompt tokens/s)\n",
                                 8 / (27073 / 900e6))) != std::string::npos);
  stats = nlohmann::json::parse(slurp(json));
  CHECK(!stats.contains("decode"));
  CHECK(stats.at("prefill").at("time_to_first_token_cycles") == 27073);
  CHECK(stats.at("prefill").at("time_to_first_token_seconds").get<double>() == 27073 / 900e6);
  CHECK(stats.at("prefill").at("weight_bytes_all_chips") == 2600960);
}

TEST_CASE("tspc llama --prompt-tokens says in one line what is wrong with the count") {
  const std::string out = kConfig + " -o " + (scratch_dir() / "x.bin").string();
  auto r = run_tool("tspc", "llama --model " + kModel + " --prompt-tokens 0" + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --prompt-tokens: expected an integer from 1 to 4294967295, got '0'\n");
  r = run_tool("tspc", "llama --model " + kModel + " --prompt-tokens 16 --position 241" + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "error: llama: --prompt-tokens 16 from position 241 is more than tiny-llama's context of 256 "
        "positions\n");
  r = run_tool("tspc", "llama --model " + kModel + " --prompt-tokens 257" + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: --prompt-tokens 257: the prompt pass is compiled for at most 256 tokens "
                 "(docs/llama.md, \"Prompt pass\")\n");
  r = run_tool("tspc", "llama --model " + kModel + " --prompt-tokens 0 --system " +
                           source("configs/systems/two_chips.json") + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --prompt-tokens: expected an integer from 1 to 4294967295, got '0'\n");
}
