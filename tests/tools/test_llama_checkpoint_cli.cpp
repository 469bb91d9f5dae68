// tspc llama --checkpoint as a user runs it (docs/models.md, "Checkpoints"): the weights of a
// safetensors file the test writes, declared in the program by path and tensor; the simulated step
// matches the host reference built from the same file, on one chip and over node8; the file is
// needed to run functionally only, and bad combinations and files are one-line errors.
#include "cli_harness.h"
#include "model_files.h"
#include "tool_output.h"

#include "tspsim/compiler/llama.h"
#include "tspsim/model/checkpoint.h"
#include "tspsim/model/reference.h"
#include "tspsim/program/system_program.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>

using tsp::test::count;
using tsp::test::field;
using tsp::test::floats;
using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

const std::string kModel = source("configs/models/tiny-llama.json");
const std::string kConfig = " --config " + source("configs/14nm.json");

// A model's fp16 weights of seed 7 stored as `stored` (tiny-llama's in bf16 unless told): the
// int8 model quantises them per column.
std::string write_checkpoint(const std::string& name, const std::string& model_path = kModel,
                             tsp::model::DType stored = tsp::model::DType::bf16) {
  auto m = tsp::model::load_model(model_path);
  m.precision.weights = tsp::model::DType::f16;
  const auto path = (scratch_dir() / name).string();
  tsp::model::write_safetensors(path,
                                tsp::model::checkpoint_tensors(m, tsp::model::random_weights(m, 7), stored));
  return path;
}

// The host reference's logits at `position` (greedy from token 1) with the checkpoint's weights.
std::vector<float> reference_logits(const std::string& checkpoint, uint32_t position,
                                    const std::string& model_path = kModel) {
  const auto m = tsp::model::load_model(model_path);
  tsp::model::Reference reference(m, tsp::model::load_checkpoint(m, checkpoint));
  uint32_t token = 1;
  for (uint32_t p = 0; p < position; ++p) token = tsp::model::argmax(reference.decode(token));
  return reference.decode(token);
}

// Compiles the step with `options` and --reference, runs tspc's check line with the logits dumped,
// and checks the run: predicted cycles, no conformance error, every output ok, the logits the
// reference's within the tolerance and the same greedy token.
void run_and_check(const std::string& options, const std::string& workload,
                   const std::vector<std::string>& logits, const std::vector<float>& expected) {
  const auto dir = scratch_dir();
  const auto compiled = run_tool("tspc", options + " --reference " + (dir / "ref").string());
  REQUIRE(compiled.exit_code == 0);
  const std::string predicted = field(compiled.out, workload);
  REQUIRE(!predicted.empty());
  const auto check = compiled.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  std::string run = compiled.out.substr(check + 14, compiled.out.find('\n', check) - check - 14);
  const size_t expects = count(run, "--expect ");
  for (size_t i = 0; i < logits.size(); ++i)
    run += fmt::format(" --dump {}={}/logits{}.bin", logits[i], dir.string(), i);
  const auto sim = run_tool("tspsim", run);
  CHECK(sim.exit_code == 0);
  CHECK(sim.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(field(sim.out, "cycles              ") == predicted);
  CHECK(count(sim.out, ": ok\n") == expects);
  CHECK(sim.out.find("FAIL") == std::string::npos);
  std::vector<float> chip;
  for (size_t i = 0; i < logits.size(); ++i) {
    const auto part = floats(slurp(fmt::format("{}/logits{}.bin", dir.string(), i)));
    chip.insert(chip.end(), part.begin(), part.end());
  }
  REQUIRE(chip.size() == expected.size());
  double worst = 0;
  for (size_t i = 0; i < chip.size(); ++i) worst = std::max(worst, double(std::fabs(chip[i] - expected[i])));
  CHECK(worst <= tsp::compiler::kLlamaTolerance); // two-layer models
  CHECK(std::max_element(chip.begin(), chip.end()) - chip.begin() ==
        std::max_element(expected.begin(), expected.end()) - expected.begin());
}

} // namespace

TEST_CASE("tspc llama --checkpoint: the step on one chip reads the file and matches the host reference") {
  const auto checkpoint = write_checkpoint("one.safetensors");
  const auto program = (scratch_dir() / "one.bin").string();
  run_and_check(fmt::format("llama --model {} --checkpoint {} --position 2{} -o {}", kModel, checkpoint,
                            kConfig, program),
                "at position 2: ", {"LOGITS.c0", "LOGITS.c1"}, reference_logits(checkpoint, 2));
  // Every weight, scale and gain is a window of the file, declared; none is seeded or stored.
  const auto p = tsp::read_program(program);
  REQUIRE(p.declared.size() > 0);
  CHECK(std::all_of(p.declared.begin(), p.declared.end(),
                    [](const tsp::DeclaredTensor& d) { return tsp::is_checkpoint(d.values); }));
  const tsp::Symbol* wq = p.find_symbol("L1.wq.k0");
  REQUIRE(wq != nullptr);
  const auto& d = *std::find_if(p.declared.begin(), p.declared.end(),
                                [&](const tsp::DeclaredTensor& x) { return &p.symbols[x.symbol] == wq; });
  CHECK(d.checkpoint.file == checkpoint);
  CHECK(d.checkpoint.tensor == "model.layers.1.self_attn.q_proj.weight");
  CHECK(d.checkpoint.transposed);
  CHECK(d.checkpoint.rotary_head_dim == 80);
  // The weight-streaming bound counts the checkpoint's int8 matrices as it counts seeded ones.
  const auto seeded = (scratch_dir() / "seeded.bin").string();
  REQUIRE(run_tool("tspc", fmt::format("llama --model {} --position 2{} -o {}", kModel, kConfig, seeded))
              .exit_code == 0);
  const std::string line = "weight streaming    ";
  const std::string bound = field(run_tool("tspsim", "--timing-only" + kConfig + " " + program).out, line);
  CHECK(bound == "2600960"); // weight bytes: tiny-llama's parameters less its norm gains
  CHECK(bound == field(run_tool("tspsim", "--timing-only" + kConfig + " " + seeded).out, line));
}

TEST_CASE(
    "tspc llama --checkpoint: two stages of four chips on node8 read the file and match the reference") {
  const auto checkpoint = write_checkpoint("node8.safetensors");
  run_and_check(fmt::format("llama --model {} --checkpoint {} --system {} --stages 2 --position 1{} -o {}",
                            kModel, checkpoint, source("configs/systems/node8.json"), kConfig,
                            (scratch_dir() / "node8.bin").string()),
                "at position 1, 2 pipeline stages of 4 tensor-parallel chips: ",
                {"4:LOGITS", "5:LOGITS", "6:LOGITS", "7:LOGITS"}, reference_logits(checkpoint, 1));
}

TEST_CASE("small-llama from an fp32 checkpoint, tensor-parallel on two chips, matches the reference") {
  // Rows of several vectors, heads of 128 straddling a vector boundary, row-split Wo and W_down.
  const std::string small = source("configs/models/small-llama.json");
  const auto checkpoint = write_checkpoint("small.safetensors", small, tsp::model::DType::f32);
  run_and_check(fmt::format("llama --model {} --checkpoint {} --system {} --stages 1 --position 2{} -o {}",
                            small, checkpoint, source("configs/systems/two_chips.json"), kConfig,
                            (scratch_dir() / "small.bin").string()),
                "at position 2, tensor-parallel over 2 chips: ",
                {"0:LOGITS.c0", "0:LOGITS.c1", "1:LOGITS.c0", "1:LOGITS.c1"},
                reference_logits(checkpoint, 2, small));
}

TEST_CASE("an fp16 model reads a checkpoint's values rounded to fp16 and matches the reference") {
  const auto model = tsp::test::model_with_precision(
      "tiny-llama", "tiny-fp16.json", R"({"weights": "fp16", "activations": "fp16", "kv_cache": "fp16"})");
  const auto checkpoint = write_checkpoint("fp16.safetensors", kModel, tsp::model::DType::f32);
  const auto program = (scratch_dir() / "fp16.bin").string();
  run_and_check(fmt::format("llama --model {} --checkpoint {} --position 1{} -o {}", model, checkpoint,
                            kConfig, program),
                "at position 1: ", {"LOGITS.c0", "LOGITS.c1"}, reference_logits(checkpoint, 1, model));
  const auto p = tsp::read_program(program);
  const tsp::Symbol* wq = p.find_symbol("L0.wq.k0");
  REQUIRE(wq != nullptr);
  CHECK(wq->dtype == tsp::isa::DType::f16);
  CHECK(p.find_symbol("L0.wq.scale") == nullptr); // float weights have no column scales
}

TEST_CASE("tspc llama --checkpoint takes the files of a sharded checkpoint, each tensor read from its own") {
  const auto whole = write_checkpoint("whole.safetensors");
  auto tensors = tsp::model::read_safetensors(whole);
  const std::vector<tsp::model::StoredTensor> first(tensors.begin(), tensors.begin() + 9),
      second(tensors.begin() + 9, tensors.end());
  const auto a = (scratch_dir() / "shard-1.safetensors").string(),
             b = (scratch_dir() / "shard-2.safetensors").string();
  tsp::model::write_safetensors(a, first);
  tsp::model::write_safetensors(b, second);
  const auto program = (scratch_dir() / "shards.bin").string();
  run_and_check(
      fmt::format("llama --model {} --checkpoint {} {} --position 0{} -o {}", kModel, a, b, kConfig, program),
      "at position 0: ", {"LOGITS.c0", "LOGITS.c1"}, reference_logits(whole, 0));
  size_t from_a = 0, from_b = 0;
  for (const auto& d : tsp::read_program(program).declared) (d.checkpoint.file == a ? from_a : from_b) += 1;
  CHECK(from_a > 0);
  CHECK(from_b > 0);
}

TEST_CASE("a checkpoint program needs its file to run functionally, not timing-only") {
  const auto checkpoint = write_checkpoint("moved.safetensors");
  const auto program = (scratch_dir() / "moved.bin").string();
  const auto compiled = run_tool("tspc", fmt::format("llama --model {} --checkpoint {} --position 0{} -o {}",
                                                     kModel, checkpoint, kConfig, program));
  REQUIRE(compiled.exit_code == 0);
  const std::string predicted = field(compiled.out, "at position 0: ");
  std::filesystem::rename(checkpoint, checkpoint + ".away");
  const auto functional = run_tool("tspsim", kConfig + " " + program);
  CHECK(functional.exit_code == 2);
  CHECK(functional.err ==
        fmt::format("error: declared tensor 'embedding.k0' reads a checkpoint: cannot read '{}': "
                    "No such file or directory\n",
                    checkpoint));
  const auto timing = run_tool("tspsim", "--timing-only" + kConfig + " " + program);
  CHECK(timing.exit_code == 0);
  CHECK(field(timing.out, "cycles              ") == predicted);
}

TEST_CASE("tspc llama --checkpoint names what is wrong in one line") {
  const auto checkpoint = write_checkpoint("bad.safetensors");
  const auto compile = [&](const std::string& options) {
    return run_tool("tspc", fmt::format("llama --model {} --position 0{} -o {} {}", kModel, kConfig,
                                        (scratch_dir() / "bad.bin").string(), options));
  };
  auto r = compile("--checkpoint " + checkpoint + " --seed 3");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: --seed makes random weights and --checkpoint reads them: give one\n");
  r = run_tool("tspc", fmt::format("llama --model {} --checkpoint -o {}{}", kModel,
                                   (scratch_dir() / "bad.bin").string(), kConfig));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: llama: --checkpoint: expected a safetensors file, got '-o'\n");
  r = compile("--checkpoint /nonexistent/w.safetensors");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: cannot read '/nonexistent/w.safetensors': No such file or directory\n");
  // The tiny model's checkpoint without its LM head.
  auto tensors = tsp::model::read_safetensors(checkpoint);
  tensors.pop_back();
  const auto partial = (scratch_dir() / "partial.safetensors").string();
  tsp::model::write_safetensors(partial, tensors);
  r = compile("--checkpoint " + partial);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: " + partial + ": missing tensor lm_head.weight of tiny-llama\n");
  CHECK(!std::filesystem::exists(scratch_dir() / "bad.bin"));
}
