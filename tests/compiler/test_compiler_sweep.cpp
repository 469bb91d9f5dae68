// A generated sweep: every kernel of the registry on awkward shapes, on geometries other than the
// two bundled configs (superlanes, MEM slices per hemisphere, streams per direction, SRAM words).
// Each case is compiled and simulated in a child process of its own (SystemC elaborates once per
// process) and must compile, simulate with zero conformance errors, take exactly the predicted
// cycles and produce outputs equal to the host reference. One test case per geometry, so that
// ctest runs the geometries in parallel.
#include "compiler_harness.h"
#include "tspsim/compiler/registry.h"

#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace {

using Args = std::vector<std::pair<std::string, std::string>>;

// Words per MEM slice from which the large cases run.
constexpr uint32_t kLargeWords = 1024;

struct SweepCase {
  std::string kernel;
  Args args;
  bool needs_lw = false; // reads an LW: needs weight_streams MEM slices per hemisphere
  bool large = false;    // its text needs more MEM than 256-word slices have beside its tensors
};

// Shapes chosen to cross tile edges on every geometry (16 to 64 lanes), with one and several
// rows, every dtype family and each kernel's options.
std::vector<SweepCase> sweep_cases() {
  return {
      {"gemm", {{"m", "5"}, {"k", "40"}, {"n", "33"}, {"dtype", "int8"}}, true},
      {"gemm", {{"m", "3"}, {"k", "70"}, {"n", "20"}, {"dtype", "fp16"}}, true},
      {"gemm", {{"m", "9"}, {"k", "17"}, {"n", "50"}, {"dtype", "bf16"}, {"planes", "1"}}, true},
      {"gemv", {{"k", "50"}, {"n", "70"}, {"dtype", "int8"}}, true},
      {"gemv", {{"k", "33"}, {"n", "17"}, {"dtype", "bf16"}}, true},
      {"elementwise", {{"op", "add"}, {"rows", "7"}, {"cols", "50"}, {"dtype", "int8"}}},
      {"elementwise", {{"op", "mul"}, {"rows", "5"}, {"cols", "33"}, {"dtype", "fp32"}}},
      {"elementwise", {{"op", "exp"}, {"rows", "4"}, {"cols", "20"}, {"dtype", "fp16"}}},
      {"elementwise", {{"op", "max"}, {"rows", "6"}, {"cols", "40"}, {"dtype", "bf16"}, {"broadcast", "row"}}},
      {"elementwise", {{"op", "xor"}, {"rows", "3"}, {"cols", "70"}, {"dtype", "int16"}}},
      {"convert", {{"rows", "5"}, {"cols", "40"}, {"from", "int32"}, {"to", "fp32"}}},
      {"convert", {{"rows", "3"}, {"cols", "33"}, {"from", "fp32"}, {"to", "int8"}}},
      {"requant", {{"rows", "4"}, {"cols", "40"}}},
      {"residual", {{"rows", "5"}, {"cols", "40"}, {"dtype", "fp16"}}},
      {"reduce", {{"axis", "lanes"}, {"op", "sum"}, {"rows", "5"}, {"cols", "33"}, {"dtype", "fp32"}}},
      {"reduce", {{"axis", "lanes"}, {"op", "max"}, {"rows", "3"}, {"cols", "50"}, {"dtype", "int16"}}},
      {"reduce", {{"axis", "rows"}, {"op", "sum"}, {"rows", "20"}, {"cols", "7"}, {"dtype", "fp32"}}},
      {"reduce", {{"axis", "rows"}, {"op", "max"}, {"rows", "9"}, {"cols", "40"}, {"dtype", "int32"}}},
      {"reduce", {{"axis", "lanes"}, {"op", "sum"}, {"rows", "24"}, {"cols", "1"}, {"dtype", "fp32"}}},
      {"softmax", {{"rows", "1"}, {"cols", "33"}, {"dtype", "fp32"}}},
      {"softmax", {{"rows", "6"}, {"cols", "40"}, {"dtype", "fp16"}}},
      {"softmax", {{"rows", "16"}, {"cols", "1"}, {"dtype", "fp32"}}},
      {"rmsnorm", {{"rows", "1"}, {"cols", "33"}, {"dtype", "fp32"}}},
      {"rmsnorm", {{"rows", "5"}, {"cols", "50"}, {"dtype", "bf16"}}},
      {"layernorm", {{"rows", "16"}, {"cols", "1"}, {"dtype", "fp32"}}},
      {"layernorm", {{"rows", "3"}, {"cols", "40"}, {"dtype", "fp16"}}},
      {"silu", {{"rows", "5"}, {"cols", "40"}, {"dtype", "fp32"}}},
      {"swiglu", {{"rows", "4"}, {"cols", "50"}, {"dtype", "fp16"}}},
      {"rope", {{"rows", "3"}, {"cols", "32"}, {"head-dim", "16"}, {"dtype", "fp32"}}},
      {"attention", {{"heads", "2"}, {"kv-heads", "1"}, {"head-dim", "16"}, {"seq", "20"}}, true},
      {"attention", {{"heads", "4"}, {"kv-heads", "2"}, {"head-dim", "8"}, {"seq", "0"}}, true},
      // More rows: several slice groups per tensor, rows overlapping in the pipeline. The softmax
      // and layernorm need more MEM for their queue text than 256-word slices leave (tspc stops
      // with a one-line error): these run from 1,024 words per slice.
      {"gemm", {{"m", "70"}, {"k", "100"}, {"n", "90"}, {"dtype", "fp16"}}, true, true},
      {"elementwise", {{"op", "add"}, {"rows", "64"}, {"cols", "100"}, {"dtype", "int8"}}, false, true},
      {"elementwise", {{"op", "rsqrt"}, {"rows", "33"}, {"cols", "45"}, {"dtype", "fp32"}}, false, true},
      {"reduce", {{"axis", "rows"}, {"op", "sum"}, {"rows", "40"}, {"cols", "33"}, {"dtype", "int8"}}, false, true},
      {"softmax", {{"rows", "33"}, {"cols", "70"}, {"dtype", "bf16"}}, false, true},
      {"rmsnorm", {{"rows", "40"}, {"cols", "33"}, {"dtype", "fp32"}}, false, true},
      {"layernorm", {{"rows", "24"}, {"cols", "70"}, {"dtype", "bf16"}}, false, true},
      {"swiglu", {{"rows", "40"}, {"cols", "33"}, {"dtype", "fp32"}}, false, true},
      {"attention", {{"heads", "8"}, {"kv-heads", "2"}, {"head-dim", "16"}, {"seq", "50"}, {"dtype", "bf16"}}, true, true},
  };
}

std::string describe(const SweepCase& c) {
  std::string text = c.kernel;
  for (const auto& [name, value] : c.args) text += " --" + name + " " + value;
  return text;
}

// Compiles and simulates one case; "" when it passes, else what went wrong.
std::string run_case(const tsp::ChipConfig& config, const SweepCase& c) {
  const auto* entry = tsp::compiler::find_kernel(c.kernel);
  if (!entry) return "no kernel " + c.kernel;
  tsp::compiler::KernelArgs args;
  for (const auto& [name, value] : c.args) args.set(name, value);
  try {
    const tsp::test::KernelRun run(config, entry->compile(config, tsp::compiler::with_defaults(*entry, args)));
    if (run.errors() != 0) return fmt::format("{} conformance errors, first: {}", run.errors(), run.first_error());
    if (run.result.cycles != run.kernel.predicted_cycles)
      return fmt::format("{} cycles simulated, {} predicted", run.result.cycles, run.kernel.predicted_cycles);
    return run.mismatch();
  } catch (const std::exception& error) {
    return std::string("threw: ") + error.what();
  }
}

// Runs `run_case` in a child process and returns its verdict ("" on success).
std::string run_isolated(const tsp::ChipConfig& config, const SweepCase& c) {
  std::array<int, 2> pipe_ends{};
  if (pipe(pipe_ends.data()) != 0) return "pipe failed";
  const pid_t child = fork();
  if (child == 0) {
    close(pipe_ends[0]);
    const std::string verdict = run_case(config, c);
    size_t written = 0;
    while (written < verdict.size()) {
      const ssize_t n = write(pipe_ends[1], verdict.data() + written, verdict.size() - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    close(pipe_ends[1]);
    _exit(verdict.empty() ? 0 : 1);
  }
  close(pipe_ends[1]);
  std::string verdict;
  std::array<char, 512> buffer{};
  for (ssize_t n; (n = read(pipe_ends[0], buffer.data(), buffer.size())) > 0;) verdict.append(buffer.data(), size_t(n));
  close(pipe_ends[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {} {}", WTERMSIG(status), verdict);
  if (WEXITSTATUS(status) != 0 && verdict.empty()) return fmt::format("exit {}", WEXITSTATUS(status));
  return verdict;
}

void sweep(const std::string& config_name, const std::vector<std::string>& overrides,
           const std::vector<SweepCase>& extra = {}) {
  const auto config = tsp::test::bundled_config(config_name, overrides);
  const bool lw = config.geometry.mem_slices_per_hemisphere >= config.mxm.weight_streams;
  std::vector<std::string> failures;
  size_t run = 0;
  auto cases = sweep_cases();
  cases.insert(cases.end(), extra.begin(), extra.end());
  for (const auto& c : cases) {
    if ((c.needs_lw && !lw) || (c.large && config.geometry.mem_words_per_slice < kLargeWords)) continue;
    ++run;
    const std::string verdict = run_isolated(config, c);
    if (!verdict.empty()) failures.push_back(describe(c) + ": " + verdict);
  }
  std::string report;
  for (const auto& f : failures) report += f + "\n";
  INFO(fmt::format("{} cases on {} {}", run, config_name, fmt::join(overrides, " ")));
  INFO(report);
  CHECK(failures.empty());
}

} // namespace

TEST_CASE("sweep: tiny (4 MEM slices per hemisphere, 16 streams, 2 superlanes)") { sweep("tiny.json", {}); }

TEST_CASE("sweep: tiny with 16 MEM slices per hemisphere") {
  sweep("tiny.json", {"geometry.mem_slices_per_hemisphere=16"});
}

TEST_CASE("sweep: 3 superlanes, 16 MEM slices per hemisphere, 1024 words per slice, 4 VXM queues") {
  sweep("tiny.json", {"geometry.superlanes=3", "geometry.mem_slices_per_hemisphere=16",
                      "geometry.mem_words_per_slice=1024", "icu.vxm_queues=4"});
}

TEST_CASE("sweep: 1 superlane, 32 streams, 8 MEM slices per hemisphere, 4 VXM queues") {
  sweep("tiny.json", {"geometry.superlanes=1", "streams.per_direction=32", "geometry.mem_slices_per_hemisphere=8",
                      "icu.vxm_queues=4"});
}

TEST_CASE("sweep: 4 superlanes, 20 MEM slices per hemisphere, 2 planes per hemisphere") {
  sweep("tiny.json", {"geometry.superlanes=4", "geometry.mem_slices_per_hemisphere=20",
                      "geometry.mxm_planes_per_hemisphere=2", "geometry.mem_words_per_slice=1024"});
}

TEST_CASE("sweep: hop 2 cycles, superlane stagger 2, 16 MEM slices per hemisphere, 1024 words") {
  sweep("tiny.json", {"streams.hop_cycles=2", "streams.superlane_stagger_cycles=2",
                      "geometry.mem_slices_per_hemisphere=16", "geometry.mem_words_per_slice=1024"});
}

// A 128-entry instruction buffer: many queues fetch their text.
TEST_CASE("sweep: 128-entry instruction buffers, 4 banks of 2 ports, 16 MEM slices per hemisphere") {
  sweep("tiny.json", {"icu.instruction_buffer_entries=128", "geometry.mem_banks_per_slice=4",
                      "geometry.mem_ports_per_bank=2", "geometry.mem_slices_per_hemisphere=16",
                      "geometry.mem_words_per_slice=1024"});
}

// Larger tensors too: their queues fetch text (4 instructions per MEM word at 32 lanes).
TEST_CASE("sweep: the 14 nm chip with 2 superlanes") {
  sweep("14nm.json", {"geometry.superlanes=2"},
        {{"elementwise", {{"op", "mul"}, {"rows", "32"}, {"cols", "1536"}, {"dtype", "fp32"}}},
         {"swiglu", {{"rows", "32"}, {"cols", "1536"}, {"dtype", "fp16"}}},
         {"softmax", {{"rows", "40"}, {"cols", "700"}, {"dtype", "bf16"}}},
         {"gemm", {{"m", "40"}, {"k", "700"}, {"n", "600"}, {"dtype", "int8"}}, true},
         {"gemv", {{"k", "640"}, {"n", "960"}, {"dtype", "fp16"}}, true}});
}
