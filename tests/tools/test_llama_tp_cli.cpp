// tspc llama --system and tspsim --system as a user runs them: the tiny Llama's decode step
// tensor-parallel over two_chips and node8 (docs/llama.md, "Tensor parallelism"), each position's
// program starting from the host reference's state, every chip's outputs checked by tspsim
// --expect and the logits gathered over the chips against an independent run of
// tsp::model::Reference.
#include "cli_harness.h"
#include "model_files.h"
#include "tool_output.h"

#include "tspsim/compiler/llama.h"
#include "tspsim/config/system.h"
#include "tspsim/model/reference.h"
#include "tspsim/program/system_program.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

using tsp::test::count;
using tsp::test::field;
using tsp::test::floats;
using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

const std::string kModel = source("configs/models/tiny-llama.json");

// How a system runs the step: tspc's options, the words after "at position P, " in its workload,
// how many outputs tspsim checks, and the chip:symbol tensors that hold the logits in order.
struct Split {
  std::string system;
  std::string options;
  std::string workload;
  size_t outputs = 0;
  std::vector<std::string> logits;
  std::string model = kModel;
};

// Tensor parallelism over n chips: on every chip NEXT, its LOGITS columns and, per layer, K^T
// and V of each of its KV heads.
Split tensor_parallel(const std::string& system, uint32_t n, const std::string& model_path = kModel) {
  const auto m = tsp::model::load_model(model_path);
  const uint32_t logit_tiles = (m.vocab / n + 319) / 320;
  const uint32_t heads = n <= m.heads ? m.heads / n : 1;
  const uint32_t kv_heads = std::max(1u, heads / (m.heads / m.kv_heads));
  Split split{system,
              " --stages 1",
              fmt::format("tensor-parallel over {} chips", n),
              size_t(n) * (1 + logit_tiles + m.layers * (1 + kv_heads)),
              {},
              model_path};
  for (uint32_t c = 0; c < n; ++c)
    for (uint32_t t = 0; t < logit_tiles; ++t)
      split.logits.push_back(logit_tiles == 1 ? fmt::format("{}:LOGITS", c)
                                              : fmt::format("{}:LOGITS.c{}", c, t));
  return split;
}

// Greedy decoding of the split's model (seed 1, first token 1) for steps first .. last, each step
// a system program; `check_report` further checks tspsim's report of the first step.
void decode_on(const Split& split, uint32_t first, uint32_t last,
               const std::function<void(const std::string&)>& check_report = {}) {
  const std::string& system = split.system;
  const auto model = tsp::model::load_model(split.model);
  const auto weights = tsp::model::random_weights(model, 1);
  tsp::model::Reference reference(model, weights);
  uint32_t token = 1;
  for (uint32_t p = 0; p < first; ++p) token = tsp::model::argmax(reference.decode(token));
  const auto dir = scratch_dir();
  for (uint32_t position = first; position <= last; ++position) {
    INFO(system << " position " << position);
    const auto program = (dir / fmt::format("p{}.bin", position)).string();
    const auto ref = (dir / fmt::format("ref{}", position)).string();
    const auto compiled =
        run_tool("tspc", fmt::format("llama --model {} --system {}{} --position {} -o {} --reference {}",
                                     split.model, source("configs/systems/" + system + ".json"),
                                     split.options, position, program, ref));
    REQUIRE(compiled.exit_code == 0);
    const std::string predicted =
        field(compiled.out, fmt::format("at position {}, {}: ", position, split.workload));
    REQUIRE(!predicted.empty());
    const auto check = compiled.out.find("check: tspsim ");
    REQUIRE(check != std::string::npos);
    std::string options = compiled.out.substr(check + 14, compiled.out.find('\n', check) - check - 14);
    for (size_t i = 0; i < split.logits.size(); ++i)
      options += fmt::format(" --dump {}={}/logits{}.bin", split.logits[i], dir.string(), i);
    const auto sim = run_tool("tspsim", options);
    CHECK(sim.exit_code == 0);
    CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
    CHECK(field(sim.out, "cycles              ") == predicted);
    CHECK(count(sim.out, ": ok\n") == split.outputs);
    CHECK(sim.out.find("FAIL") == std::string::npos);
    if (check_report && position == first) check_report(sim.out);

    // The chips' logits side by side are the reference's within the tolerance; the greedy token
    // is the reference's (tspsim checked NEXT on every chip bit-exactly).
    std::vector<float> logits;
    for (size_t i = 0; i < split.logits.size(); ++i) {
      const auto part = floats(slurp(fmt::format("{}/logits{}.bin", dir.string(), i)));
      logits.insert(logits.end(), part.begin(), part.end());
    }
    const auto expected = reference.decode(token);
    REQUIRE(logits.size() == expected.size());
    double worst = 0;
    for (size_t i = 0; i < logits.size(); ++i)
      worst = std::max(worst, double(std::fabs(logits[i] - expected[i])));
    CHECK(worst <= tsp::compiler::llama_tolerance(reference.model().layers));
    token = tsp::model::argmax(expected);
    const uint32_t best = uint32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    CHECK(best == token);
  }
}

} // namespace

TEST_CASE("tiny-llama tensor-parallel on two chips matches the host reference, positions 0-3") {
  decode_on(tensor_parallel("two_chips", 2), 0, 3);
}

TEST_CASE("tiny-llama tensor-parallel on two chips matches the host reference, positions 4-7") {
  decode_on(tensor_parallel("two_chips", 2), 4, 7);
}

// small-llama's rows span several vectors on each chip too: on two chips, 4 heads of 128 (512
// columns, head 2 across the vector boundary) and 2 KV heads per chip.
TEST_CASE("small-llama tensor-parallel on two chips matches the host reference, positions 0-1") {
  decode_on(tensor_parallel("two_chips", 2, source("configs/models/small-llama.json")), 0, 1);
}

TEST_CASE("small-llama tensor-parallel on node8 matches the host reference, position 2") {
  decode_on(tensor_parallel("node8", 8, source("configs/models/small-llama.json")), 2, 2);
}

// The fp32 partial products of Wo and W_down all-reduced as fp32 sums (int8 weights sum int32).
TEST_CASE("tiny-llama with fp16 weights tensor-parallel on node8 matches the host reference, positions 0-1") {
  decode_on(tensor_parallel("node8", 8,
                            tsp::test::model_with_precision(
                                "tiny-llama", "tiny-fp16.json",
                                R"({"weights": "fp16", "activations": "fp16", "kv_cache": "fp16"})")),
            0, 1);
}

TEST_CASE("tiny-llama tensor-parallel on node8 matches the host reference, positions 0-1") {
  decode_on(tensor_parallel("node8", 8), 0, 1);
}

TEST_CASE("tiny-llama tensor-parallel on node8 matches the host reference, positions 2-3") {
  decode_on(tensor_parallel("node8", 8), 2, 3);
}

TEST_CASE("tiny-llama tensor-parallel on node8 matches the host reference, positions 4-5") {
  decode_on(tensor_parallel("node8", 8), 4, 5);
}

TEST_CASE("tiny-llama tensor-parallel on node8 matches the host reference, positions 6-7") {
  decode_on(tensor_parallel("node8", 8), 6, 7);
}

// Pipeline parallelism on two_chips: layer 0 on chip 0 (with the embedding), layer 1, the head
// and the argmax on chip 1; each chip holds its layer's cache.
const Split kTwoStages{"two_chips",
                       " --stages 2",
                       "2 pipeline stages of 1 tensor-parallel chips",
                       3 + 6,
                       {"1:LOGITS.c0", "1:LOGITS.c1"}};

TEST_CASE("tiny-llama in two pipeline stages on two chips matches the host reference, positions 0-3") {
  decode_on(kTwoStages, 0, 3);
}

TEST_CASE("tiny-llama in two pipeline stages on two chips matches the host reference, positions 4-7") {
  decode_on(kTwoStages, 4, 7);
}

// Both at once on node8, as tspc plan chooses for 8 chips (no --stages): chips 0-3 hold layer 0,
// chips 4-7 layer 1 and the head, each stage's heads, FFN and vocabulary split over its 4 chips
// (one KV head per chip).
TEST_CASE("tiny-llama in two stages of four tensor-parallel chips on node8 matches the host reference") {
  Split split{"node8", "", "2 pipeline stages of 4 tensor-parallel chips", 4 * 2 + 4 * 4, {}};
  for (uint32_t c = 4; c < 8; ++c) split.logits.push_back(fmt::format("{}:LOGITS", c));
  decode_on(split, 6, 7);
}

// Half-layer stages (docs/models.md, "Half-layer stages"): tiny-llama's 2 layers over 4 stages
// of 2 tensor-parallel chips (--stages 4 on node8) are one block each: layer 0's attention on
// chips 0-1 (with the embedding and layer 0's cache), its MLP on chips 2-3, layer 1's attention on
// chips 4-5 (layer 1's cache), its MLP, the head and the argmax on chips 6-7. The residual after an
// attention block crosses to the MLP's stage. Outputs: each attention chip's K^T and V of its KV
// head, each last-stage chip's NEXT and LOGITS (256 columns).
const Split kHalfLayerStages{"node8",
                             " --stages 4",
                             "4 pipeline stages of 2 tensor-parallel chips",
                             4 * 2 + 2 * 2,
                             {"6:LOGITS", "7:LOGITS"}};

TEST_CASE("tiny-llama in four half-layer stages on node8 matches the host reference, positions 0-1") {
  decode_on(kHalfLayerStages, 0, 1);
}

TEST_CASE("tiny-llama in four half-layer stages on node8 matches the host reference, positions 2-3") {
  decode_on(kHalfLayerStages, 2, 3);
}

TEST_CASE("tiny-llama in four half-layer stages on node8 matches the host reference, positions 4-7") {
  decode_on(kHalfLayerStages, 4, 7);
}

// small-llama's rows span several vectors: 4 heads of 128 per chip (512 columns), 2 KV heads, the
// residual row handed off 4 vectors long, 512 logits per last-stage chip in two tiles.
TEST_CASE("small-llama in four half-layer stages on node8 matches the host reference, position 2") {
  Split split = kHalfLayerStages;
  split.model = source("configs/models/small-llama.json");
  split.outputs = 4 * 3 + 2 * 3;
  split.logits = {"6:LOGITS.c0", "6:LOGITS.c1", "7:LOGITS.c0", "7:LOGITS.c1"};
  decode_on(split, 2, 2);
}

// Stages without a layer: tiny-llama with a vocabulary of 16,000 on chips of 112 MEM words per
// slice (3.0 MiB of SRAM), where 8,000 embedding rows per chip (2.4 MiB) leave no room for a
// layer's half block: the planner deals node8's 4 stages of 2 chips the embedding alone, layer 0,
// layer 1, and the LM head alone (docs/models.md, "Half-layer stages"). Stage 0 embeds and hands
// the residual on; stage 3 receives it, norms, multiplies the head and takes the argmax. Outputs:
// K^T and V of each layer chip's KV head, each last-stage chip's NEXT and 25 tiles of LOGITS.
TEST_CASE("stages of the embedding alone and the LM head alone match the host reference, positions 0-1") {
  const auto dir = scratch_dir();
  const auto model = (dir / "wide-vocab.json").string();
  std::ofstream(model) << R"({"name": "wide-vocab", "layers": 2, "d_model": 320, "heads": 4, "kv_heads": 2,
    "head_dim": 80, "ffn": 864, "vocab": 16000, "rope_theta": 10000.0, "norm_eps": 1e-5,
    "max_context": 256, "precision": {"weights": "int8", "activations": "fp16", "kv_cache": "fp16"}})";
  Split split{"node8",
              " --stages 4 --set geometry.mem_words_per_slice=112",
              "4 pipeline stages of 2 tensor-parallel chips",
              4 * 2 + 2 * 26,
              {},
              model};
  for (uint32_t c = 6; c < 8; ++c)
    for (uint32_t t = 0; t < 25; ++t) split.logits.push_back(fmt::format("{}:LOGITS.c{}", c, t));
  const auto check_report = [](const std::string& out) {
    // Each chip's per-layer breakdown names its groups: the embedding's stage, a layer each, and
    // the head's stage, whose hand-off is the head's too.
    const std::vector<std::vector<std::string>> groups{{"embedding"}, {"layer 0"}, {"layer 1"}, {"head"}};
    for (uint32_t c = 0; c < 8; ++c) {
      INFO("chip " << c);
      const auto at = out.find(fmt::format("chip {}: per-layer breakdown", c));
      REQUIRE(at != std::string::npos);
      std::vector<std::string> names;
      size_t line = out.find('\n', out.find('\n', at) + 1) + 1;
      while (line < out.size() && out.compare(line, 5, "chip ") != 0 && out.compare(line, 5, "host ") != 0) {
        names.push_back(out.substr(line, out.find("  ", line) - line));
        line = out.find('\n', line) + 1;
      }
      CHECK(names == groups[c / 2]);
    }
  };
  decode_on(split, 0, 1, check_report);
}

TEST_CASE("tspc llama --system says in one line why a model does not split over the chips") {
  const auto dir = scratch_dir();
  const auto model = (dir / "odd.json").string();
  std::string text = slurp(kModel);
  text.replace(text.find("\"ffn\": 864"), 10, "\"ffn\": 860");
  text.replace(text.find("\"name\": \"tiny-llama\""), 20, "\"name\": \"odd-llama\"");
  {
    std::ofstream out(model);
    out << text;
  }
  const auto r =
      run_tool("tspc", fmt::format("llama --model {} --system {} --stages 1 -o {}", model,
                                   source("configs/systems/node8.json"), (dir / "x.bin").string()));
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "error: llama: odd-llama cannot be split over 8 chips: its ffn width 860 is not a multiple of 8\n");
  const auto stages =
      run_tool("tspc", fmt::format("llama --model {} --system {} --stages 3 -o {}", kModel,
                                   source("configs/systems/node8.json"), (dir / "x.bin").string()));
  CHECK(stages.exit_code == 2);
  CHECK(stages.err ==
        "error: llama: --stages 3: expected a divisor of the system's 8 chips, at most twice tiny-llama's 2 "
        "layers (a stage holds at least a layer's attention or MLP block)\n");
  const auto eight =
      run_tool("tspc", fmt::format("llama --model {} --system {} --stages 8 -o {}", kModel,
                                   source("configs/systems/node8.json"), (dir / "x.bin").string()));
  CHECK(eight.exit_code == 2);
  CHECK(eight.err ==
        "error: llama: --stages 8: expected a divisor of the system's 8 chips, at most twice tiny-llama's 2 "
        "layers (a stage holds at least a layer's attention or MLP block)\n");
  // A stage's weights and KV cache beyond its chips' SRAM are refused before the host reference
  // and the programs grow with them (Llama-2 7B deepened to 1024 layers ran for minutes).
  const auto deep = (dir / "deep.json").string();
  {
    std::string deep_text = slurp(kModel);
    deep_text.replace(deep_text.find("\"layers\": 2"), 11, "\"layers\": 1024");
    std::ofstream(deep) << deep_text;
  }
  const auto too_deep =
      run_tool("tspc", fmt::format("llama --model {} --system {} --stages 1 -o {}", deep,
                                   source("configs/systems/node8.json"), (dir / "x.bin").string()));
  CHECK(too_deep.exit_code == 2);
  CHECK(too_deep.err ==
        "error: llama: --stages 1: stage 0 (1024 layers from layer 0) holds 247998592 bytes of "
        "weights, scales, norms and KV cache per chip; a chip has 230686720 bytes of SRAM (tspc "
        "plan --chips 8 says why)\n");
  const auto one = run_tool("tspc", "llama --model " + kModel + " --stages 2 --config " +
                                        source("configs/14nm.json") + " -o " + (dir / "x.bin").string());
  CHECK(one.exit_code == 2);
  CHECK(one.err == "error: llama: --stages needs --system\n");
  const auto progress = run_tool("tspc", "llama --model " + kModel + " --progress --config " +
                                             source("configs/14nm.json") + " -o " + (dir / "x.bin").string());
  CHECK(progress.exit_code == 2);
  CHECK(progress.err == "error: llama: --progress needs --system\n");
  // The system's file names its chips' configs: another --config is refused, not ignored.
  const auto other =
      run_tool("tspc", "--config " + source("configs/tiny.json") + " llama --model " + kModel + " --system " +
                           source("configs/systems/two_chips.json") + " -o " + (dir / "x.bin").string());
  CHECK(other.exit_code == 2);
  CHECK(other.err ==
        fmt::format("error: --config {} does not match chip 0 of system {} (config {}): a system's "
                    "file names its chips' configs; drop --config or pass that one\n",
                    source("configs/tiny.json"), source("configs/systems/two_chips.json"),
                    source("configs/14nm.json")));
  const auto big =
      run_tool("tspc", "llama --model " + source("configs/models/llama2-7b.json") + " --system " +
                           source("configs/systems/two_chips.json") + " -o " + (dir / "x.bin").string());
  CHECK(big.exit_code == 2);
  CHECK(big.err ==
        fmt::format("error: llama: llama2-7b does not fit {}'s 2 chips at its context of 4096 (tspc plan "
                    "--chips 2 says why)\n",
                    source("configs/systems/two_chips.json")));
}

TEST_CASE("tspsim --system reports the tensor-parallel step's latency, tokens/s and weight-streaming bound") {
  const auto model = tsp::model::load_model(kModel);
  const auto dir = scratch_dir();
  const auto program = (dir / "step.bin").string(), json = (dir / "step.json").string();
  const std::string system = " --system " + source("configs/systems/node8.json");
  const auto compiled = run_tool("tspc", "llama --model " + kModel + system + " --stages 1 -o " + program);
  REQUIRE(compiled.exit_code == 0);
  const std::string cycles = field(compiled.out, "tensor-parallel over 8 chips: ");
  REQUIRE(!cycles.empty());
  const auto sim = run_tool("tspsim", program + " --config " + source("configs/14nm.json") + system +
                                          " --stats-json " + json);
  REQUIRE(sim.exit_code == 0);
  CHECK(field(sim.out, "cycles              ") == cycles);
  // Each of the 8 chips holds 512 / 8 = 64 rows of the embedding table, per layer the Wq, Wk and
  // Wv columns of one head (80 each), half of that head's 80 Wo rows, 864 / 8 = 108 FFN columns
  // of w_gate and w_up and rows of w_down, and 64 LM-head columns.
  const uint64_t d = model.d_model, hd = model.head_dim;
  const uint64_t chip_bytes = 64 * d + model.layers * (3 * d * hd + hd / 2 * d + 3 * d * 108) + d * 64;
  CHECK(chip_bytes == 427520);
  const double seconds = std::stod(cycles) / 900e6;
  const double bound = double(chip_bytes) / (88 * 320);
  CHECK(sim.out.find(fmt::format("per-token latency   {:.3f} us (one stream: {:.1f} tokens/s)\n",
                                 seconds * 1e6, 1 / seconds)) != std::string::npos);
  CHECK(sim.out.find(
            fmt::format("weight streaming    427520 weight bytes on the busiest of 8 chips (3420160 on "
                        "all) at 28160 B/cycle (88 MEM slices x 320 B): {:.1f} cycles, bound {:.1f} "
                        "tokens/s\n",
                        bound, 900e6 / bound)) != std::string::npos);
  // The run is slower than streaming the weights once (the step is a chain of dependent phases).
  CHECK(std::stod(cycles) > bound);
  const auto stats = nlohmann::json::parse(slurp(json));
  const auto& decode = stats.at("decode");
  CHECK(decode.at("weight_bytes") == chip_bytes);
  CHECK(decode.at("weight_bytes_all_chips") == 8 * chip_bytes);
  CHECK(decode.at("weight_bound_cycles").get<double>() == bound);
  CHECK(decode.at("seconds_per_token").get<double>() == seconds);
  CHECK(decode.at("tokens_per_second").get<double>() == 1 / seconds);
}

namespace {

// The logit tiles of a one-chip step (n = 1) or of each chip of a tensor-parallel step over n.
std::vector<std::string> logit_tiles(const tsp::model::ModelConfig& m, uint32_t n) {
  const uint32_t tiles = (m.vocab / n + 319) / 320;
  if (tiles == 1) return {"LOGITS"};
  std::vector<std::string> names;
  for (uint32_t t = 0; t < tiles; ++t) names.push_back(fmt::format("LOGITS.c{}", t));
  return names;
}

// The int32 products are all-reduced, not rescaled partial rows, so splitting changes no rounding:
// the logits of the last of `stages` stages of the system's n chips side by side are the one-chip
// step's bytes (a hand-off passes the fp16 residual row as stored, also inside a layer).
void same_bits_as_one_chip(const std::string& model_path, const std::string& system, uint32_t n,
                           uint32_t stages = 1) {
  const uint32_t width = n / stages;
  const auto model = tsp::model::load_model(model_path);
  const auto dir = scratch_dir();
  const std::string at = " --position 3 --token 9 --seed 2";
  const auto one = (dir / "one.bin").string(), many = (dir / "many.bin").string();
  const std::string config = " --config " + source("configs/14nm.json");
  const std::string on = " --system " + source("configs/systems/" + system + ".json");
  REQUIRE(run_tool("tspc", "llama --model " + model_path + at + config + " -o " + one).exit_code == 0);
  REQUIRE(run_tool("tspc",
                   "llama --model " + model_path + at + on + fmt::format(" --stages {} -o ", stages) + many)
              .exit_code == 0);
  const auto logits = (dir / "logits").string();
  std::string options = one + config;
  for (const auto& tile : logit_tiles(model, 1)) options += fmt::format(" --dump {0}={1}.{0}", tile, logits);
  REQUIRE(run_tool("tspsim", options).exit_code == 0);
  options = many + config + on;
  for (uint32_t c = n - width; c < n; ++c)
    for (const auto& tile : logit_tiles(model, width))
      options += fmt::format(" --dump {0}:{1}={2}.chip{0}.{1}", c, tile, logits);
  REQUIRE(run_tool("tspsim", options).exit_code == 0);
  std::string whole, split;
  for (const auto& tile : logit_tiles(model, 1)) whole += slurp(fmt::format("{}.{}", logits, tile));
  for (uint32_t c = n - width; c < n; ++c)
    for (const auto& tile : logit_tiles(model, width))
      split += slurp(fmt::format("{}.chip{}.{}", logits, c, tile));
  REQUIRE(whole.size() == model.vocab * 4);
  CHECK(split == whole);
}

} // namespace

TEST_CASE("tiny-llama's logits on node8 are the one-chip step's bits") {
  same_bits_as_one_chip(kModel, "node8", 8);
}

TEST_CASE("tiny-llama's logits in four half-layer stages on node8 are the one-chip step's bits") {
  same_bits_as_one_chip(kModel, "node8", 8, 4);
}

TEST_CASE("small-llama's logits on two chips are the one-chip step's bits") {
  same_bits_as_one_chip(source("configs/models/small-llama.json"), "two_chips", 2);
}

TEST_CASE(
    "tspsim --requests on a pipelined step: steps every max(latency, P x the busiest chip's occupancy)") {
  const auto dir = scratch_dir();
  const auto program = (dir / "stages.bin").string(), json = (dir / "stages.json").string();
  const std::string system = " --system " + source("configs/systems/two_chips.json");
  REQUIRE(run_tool("tspc", "llama --model " + kModel + system + " --stages 2 -o " + program).exit_code == 0);
  const auto sim = run_tool("tspsim", "--requests 3 " + program + system + " --timing-only --stats-json " +
                                          json + " --config " + source("configs/14nm.json"));
  REQUIRE(sim.exit_code == 0);
  const auto stats = nlohmann::json::parse(slurp(json));
  const uint64_t latency = stats.at("cycles");
  // Stage 0 (chip 0) finishes its layer and hands over; stage 1 (chip 1) ends the step.
  const auto& chips = stats.at("chips");
  CHECK(chips[0].at("last_active_cycle").get<uint64_t>() < chips[1].at("last_active_cycle").get<uint64_t>());
  uint64_t occupancy = 0, busiest = 0;
  for (uint32_t c = 0; c < 2; ++c) {
    const uint64_t held =
        chips[c].at("cycles").get<uint64_t>() - chips[c].at("first_issue_cycle").get<uint64_t>();
    CHECK(chips[c].at("occupancy_cycles") == held);
    if (held > occupancy) occupancy = held, busiest = c;
  }
  // Chip 1's work waits for its hand-off (Schedule::hold_until), so it is occupied for its stage
  // only: chip 0 until it hands over, chip 1 from then on, and 3 streams overlap.
  CHECK(chips[1].at("first_issue_cycle").get<uint64_t>() >= chips[0].at("last_active_cycle").get<uint64_t>());
  CHECK(occupancy < latency);
  const auto& decode = stats.at("decode");
  CHECK(decode.at("occupancy_cycles_per_token") == occupancy);
  CHECK(decode.at("occupancy_chip") == busiest);
  const uint64_t interval = std::max(latency, 3 * occupancy);
  // The report divides by the clock in its own order: equal to a few ulps.
  CHECK(decode.at("step_interval_seconds").get<double>() == Approx(double(interval) / 900e6).epsilon(1e-12));
  CHECK(decode.at("aggregate_tokens_per_second").get<double>() ==
        Approx(3 / (double(interval) / 900e6)).epsilon(1e-12));
  CHECK(
      sim.out.find(fmt::format("occupancy           {} cycles per token (chip {}): a stream's step every {} "
                               "cycles\n",
                               occupancy, busiest, interval)) != std::string::npos);
}

namespace {

// The cache tensors of a chip's program: L<layer>.KT and L<layer>.V.g<group>.
std::vector<std::string> cache_symbols(const tsp::Program& program) {
  std::vector<std::string> names;
  for (const auto& s : program.symbols)
    if (s.name.size() > 1 && s.name[0] == 'L' &&
        (s.name.find(".KT") != std::string::npos || s.name.find(".V.") != std::string::npos))
      names.push_back(s.name);
  return names;
}

} // namespace

// A system step chained over positions: each position's program gets the previous run's token and
// every chip's cache by --load CHIP:SYMBOL=FILE, as the one-chip chain does with --load SYMBOL=FILE;
// the two chains give the same tokens and logits, bit for bit.
TEST_CASE(
    "tiny-llama in two pipeline stages chained with tspsim --system --load is the one-chip chain's bits") {
  const auto dir = scratch_dir();
  const std::string config = " --config " + source("configs/14nm.json");
  const std::string system = " --system " + source("configs/systems/two_chips.json");
  const auto file = [&](const std::string& chain, const std::string& symbol, uint32_t p) {
    return (dir / fmt::format("{}.{}.{}.bin", chain, symbol, p)).string();
  };
  for (uint32_t p = 0; p < 3; ++p) {
    INFO("position " << p);
    const std::string at = fmt::format(" --position {} --token 1", p);
    const auto one = (dir / fmt::format("one{}.bin", p)).string(),
               two = (dir / fmt::format("two{}.bin", p)).string();
    REQUIRE(run_tool("tspc", "llama --model " + kModel + at + config + " -o " + one).exit_code == 0);
    const auto compiled = run_tool("tspc", "llama --model " + kModel + at + system + " --stages 2 -o " + two);
    REQUIRE(compiled.exit_code == 0);

    std::string one_options = one + config;
    const auto one_cache = cache_symbols(tsp::read_program(one));
    REQUIRE(one_cache.size() == 6);
    if (p > 0) {
      one_options += " --load TOKEN=" + file("one", "NEXT", p - 1);
      for (const auto& s : one_cache) one_options += fmt::format(" --load {}={}", s, file("one", s, p - 1));
    }
    for (const auto& s : one_cache) one_options += fmt::format(" --dump {}={}", s, file("one", s, p));
    for (const char* s : {"NEXT", "LOGITS.c0", "LOGITS.c1"})
      one_options += fmt::format(" --dump {}={}", s, file("one", s, p));
    REQUIRE(run_tool("tspsim", one_options).exit_code == 0);

    // Chip 0 embeds the token and holds layer 0's cache; chip 1 holds layer 1's and the head.
    const auto program = tsp::read_system_program(two);
    std::string options = "--quiet" + config + system;
    for (uint32_t c = 0; c < 2; ++c)
      for (const auto& s : cache_symbols(program.program_of(c))) {
        const std::string chip_symbol = fmt::format("{}:{}", c, s);
        if (p > 0) options += fmt::format(" --load {}={}", chip_symbol, file("two", chip_symbol, p - 1));
        options += fmt::format(" --dump {}={}", chip_symbol, file("two", chip_symbol, p));
      }
    if (p > 0) options += " --load 0:TOKEN=" + file("two", "NEXT", p - 1);
    for (const char* s : {"NEXT", "LOGITS.c0", "LOGITS.c1"})
      options += fmt::format(" --dump 1:{}={}", s, file("two", s, p));
    const auto sim = run_tool("tspsim", options + " " + two);
    INFO(sim.err);
    REQUIRE(sim.exit_code == 0);
    for (const char* s : {"NEXT", "LOGITS.c0", "LOGITS.c1"})
      CHECK(slurp(file("two", s, p)) == slurp(file("one", s, p)));
    for (uint32_t c = 0; c < 2; ++c)
      for (const auto& s : cache_symbols(program.program_of(c)))
        CHECK(slurp(file("two", fmt::format("{}:{}", c, s), p)) == slurp(file("one", s, p)));
  }
  // The chain moved on: position 1 decoded the token position 0 chose, not the compiled-in 1.
  uint32_t first_token = 0;
  std::memcpy(&first_token, slurp(file("one", "NEXT", 0)).data(), 4);
  CHECK(first_token != 1);
}

TEST_CASE("tspsim --system --load names the chip and the symbol in one line") {
  const auto dir = scratch_dir();
  const auto program = (dir / "p.bin").string();
  const std::string system = " --system " + source("configs/systems/two_chips.json");
  REQUIRE(run_tool("tspc", "llama --model " + kModel + system + " --stages 2 -o " + program).exit_code == 0);
  const std::string run = program + system + " --config " + source("configs/14nm.json");
  auto r = run_tool("tspsim", run + " --load TOKEN=x.bin");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --load TOKEN=x.bin: with --system, expected CHIP:SYMBOL=FILE\n");
  r = run_tool("tspsim", run + " --load 2:TOKEN=x.bin");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --load 2:TOKEN=x.bin: chip 2 is out of range (the system has 2 chips)\n");
  r = run_tool("tspsim", run + " --load 1:TOKEN=x.bin");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --load TOKEN=x.bin: the program has no symbol 'TOKEN'\n");
  const auto short_file = (dir / "short.bin").string();
  {
    std::ofstream out(short_file);
    out << "abc";
  }
  r = run_tool("tspsim", run + " --load 0:TOKEN=" + short_file);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --load TOKEN: '" + short_file + "' has 3 bytes; TOKEN (i32 1x320) needs 1280\n");
}

// A stage at a time (docs/llama.md, "Compiling stage by stage"): a line per finished stage, the
// finished programs' file removed, and the program the one tspc builds in memory.
TEST_CASE("tspc llama --system --progress reports each finished stage and leaves no spill file") {
  const auto dir = scratch_dir();
  const auto bin = dir / "staged.bin";
  const auto r =
      run_tool("tspc", "llama --model " + kModel + " --system " + source("configs/systems/node8.json") +
                           " --stages 2 --timing-only --progress -o " + bin.string());
  REQUIRE(r.exit_code == 0);
  const auto second = r.err.find('\n') + 1;
  CHECK(r.err.rfind("stage 1 of 2 finished: ", 0) == 0);
  CHECK(r.err.compare(second, 23, "stage 2 of 2 finished: ") == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 2);
  CHECK(r.err.find(" MB peak\n") != std::string::npos);
  CHECK(!std::filesystem::exists(bin.string() + ".finished"));
  CHECK(!std::filesystem::exists(bin.string() + ".partial"));
  tsp::compiler::LlamaStep step;
  step.position = 0;
  step.with_reference = false;
  const auto compiled = tsp::compiler::compile_llama_system(
      tsp::load_system(source("configs/systems/node8.json")), tsp::model::load_model(kModel), step, 2);
  const auto bytes = tsp::serialize_system_program(compiled.program);
  CHECK(slurp(bin) == std::string(bytes.begin(), bytes.end()));
}

// Half-layer stages whose hand-off crosses between nodes of a rack: one chip of the receiving node
// takes the row over the cable and passes it on to the rest of its node. A stage that starts at an
// MLP block receives the residual after attention, and that is the row it passes on (a 5-layer
// tiny-llama in 9 stages of 8 on rack72: every stage boundary but the first falls inside a layer).
TEST_CASE("half-layer stages on rack72 pass the received row on inside each node") {
  const auto dir = scratch_dir();
  auto model = nlohmann::json::parse(slurp(kModel));
  model["layers"] = 5;
  model["name"] = "tiny-llama-5";
  const auto model_path = (dir / "tiny5.json").string();
  std::ofstream(model_path) << model.dump();
  const auto compiled =
      run_tool("tspc", "--config " + source("configs/14nm.json") + " llama --model " + model_path +
                           " --system " + source("configs/systems/rack72.json") + " --stages 9 -o " +
                           (dir / "t.bin").string() + " --reference " + (dir / "ref").string());
  REQUIRE(compiled.exit_code == 0);
  CHECK(compiled.out.rfind("llama decode step: model tiny-llama-5 at position 0, 9 pipeline stages of 8 "
                           "tensor-parallel chips: 67983 cycles predicted",
                           0) == 0);
  const auto check = compiled.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  const auto sim =
      run_tool("tspsim", compiled.out.substr(check + 14, compiled.out.find('\n', check) - check - 14));
  CHECK(sim.exit_code == 0);
  CHECK(field(sim.out, "cycles              ") == "67983");
  CHECK(field(sim.out, "conformance errors  ") == "0");
  // K^T and V on each layer's attention chips, NEXT and LOGITS on the last stage's.
  CHECK(count(sim.out, ": ok\n") == 96);
  CHECK(sim.out.find("FAILED") == std::string::npos);
}
