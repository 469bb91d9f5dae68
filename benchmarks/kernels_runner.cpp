// Kernel benchmark: compiles every kernel of the library (src/compiler_*.cpp) for a set of shapes,
// simulates each program with tspsim (one process per simulation), checks the outputs against the
// host reference and the cycle count against the compiler's prediction, and writes the table of
// cycles, binding lower bound and ratio (docs/kernels.md).
//   kernels_runner --tspsim build/tspsim --config configs/14nm.json --out docs/kernels.md
#include "runner_checks.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/common/temporary_directory.h"
#include "tspsim/common/version.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/registry.h"
#include "tspsim/config/config.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct Case {
  std::string kernel;
  std::vector<std::pair<std::string, std::string>> options;
};

// Shapes for the 14 nm chip: the targets of the issue, transformer-sized rows, awkward sizes.
const std::vector<Case> kCases = {
    {"gemm", {{"m", "320"}, {"k", "4096"}, {"n", "4096"}, {"dtype", "int8"}}},
    {"gemm", {{"m", "1024"}, {"k", "4096"}, {"n", "4096"}, {"dtype", "int8"}}},
    {"gemm", {{"m", "333"}, {"k", "1000"}, {"n", "2050"}, {"dtype", "int8"}}},
    {"gemm", {{"m", "320"}, {"k", "4096"}, {"n", "4096"}, {"dtype", "int8"}, {"planes", "1"}}},
    {"gemm", {{"m", "320"}, {"k", "2048"}, {"n", "2048"}, {"dtype", "fp16"}}},
    {"gemm", {{"m", "320"}, {"k", "2048"}, {"n", "2048"}, {"dtype", "bf16"}}},
    {"gemv", {{"k", "4096"}, {"n", "4096"}, {"dtype", "int8"}}},
    {"gemv", {{"k", "4096"}, {"n", "11008"}, {"dtype", "int8"}}},
    {"gemv", {{"k", "8192"}, {"n", "8192"}, {"dtype", "int8"}}},
    {"gemv", {{"k", "4096"}, {"n", "4096"}, {"dtype", "fp16"}}},
    {"gemv", {{"k", "4096"}, {"n", "4096"}, {"dtype", "bf16"}}},
    {"gemv", {{"k", "1000"}, {"n", "3000"}, {"dtype", "int8"}}},
    // Large and awkward GEMMs: partial tiles in every dimension, and a small M.
    {"gemm", {{"m", "1280"}, {"k", "4096"}, {"n", "4096"}, {"dtype", "int8"}}},
    {"gemm", {{"m", "2048"}, {"k", "4096"}, {"n", "4096"}, {"dtype", "int8"}}},
    {"gemm", {{"m", "3000"}, {"k", "1000"}, {"n", "640"}, {"dtype", "int8"}}},
    {"gemm", {{"m", "4097"}, {"k", "1000"}, {"n", "1000"}, {"dtype", "int8"}}},
    {"gemm", {{"m", "8"}, {"k", "320"}, {"n", "320"}, {"dtype", "int8"}}},
    {"elementwise", {{"op", "add"}, {"rows", "320"}, {"cols", "4096"}, {"dtype", "int8"}}},
    {"elementwise", {{"op", "exp"}, {"rows", "64"}, {"cols", "4096"}, {"dtype", "fp16"}}},
    {"elementwise",
     {{"op", "mul"}, {"rows", "64"}, {"cols", "4096"}, {"dtype", "bf16"}, {"broadcast", "row"}}},
    {"convert", {{"rows", "64"}, {"cols", "4096"}, {"from", "int32"}, {"to", "bf16"}}},
    {"requant", {{"rows", "320"}, {"cols", "4096"}}},
    {"residual", {{"rows", "64"}, {"cols", "4096"}, {"dtype", "fp16"}}},
    {"reduce", {{"axis", "lanes"}, {"op", "sum"}, {"rows", "64"}, {"cols", "4096"}, {"dtype", "bf16"}}},
    {"reduce", {{"axis", "lanes"}, {"op", "max"}, {"rows", "64"}, {"cols", "1000"}, {"dtype", "fp32"}}},
    {"reduce", {{"axis", "rows"}, {"op", "sum"}, {"rows", "1024"}, {"cols", "4096"}, {"dtype", "fp16"}}},
    {"softmax", {{"rows", "32"}, {"cols", "4096"}, {"dtype", "fp16"}}},
    {"softmax", {{"rows", "4097"}, {"cols", "321"}, {"dtype", "fp16"}}},
    {"layernorm", {{"rows", "4097"}, {"cols", "1"}, {"dtype", "fp32"}}},
    {"rmsnorm", {{"rows", "32"}, {"cols", "4096"}, {"dtype", "bf16"}}},
    {"layernorm", {{"rows", "32"}, {"cols", "4096"}, {"dtype", "fp32"}}},
    {"silu", {{"rows", "64"}, {"cols", "11008"}, {"dtype", "bf16"}}},
    {"swiglu", {{"rows", "64"}, {"cols", "11008"}, {"dtype", "bf16"}}},
    {"rope", {{"rows", "32"}, {"cols", "4096"}, {"head-dim", "128"}, {"pos0", "100"}, {"dtype", "fp16"}}},
    {"attention",
     {{"heads", "32"}, {"kv-heads", "8"}, {"head-dim", "128"}, {"seq", "1000"}, {"dtype", "fp16"}}},
    {"attention",
     {{"heads", "64"}, {"kv-heads", "8"}, {"head-dim", "128"}, {"seq", "319"}, {"dtype", "bf16"}}},
};

struct Simulated {
  uint64_t cycles = 0;
  uint64_t errors = 0;
  std::string check;
};

// Runs tspsim on the program, dumping every output; compares the dumps with the reference.
Simulated simulate(const std::string& tspsim, const std::string& config, const std::filesystem::path& dir,
                   const tsp::compiler::CompiledKernel& kernel) {
  const auto program = dir / "kernel.bin";
  const auto stats = dir / "stats.json";
  tsp::write_program(kernel.program, program);
  std::vector<std::string> args = {tspsim,    "--config",     config,        program.string(),
                                   "--quiet", "--stats-json", stats.string()};
  for (size_t i = 0; i < kernel.outputs.size(); ++i) {
    args.push_back("--dump");
    args.push_back(
        fmt::format("{}={}", kernel.outputs[i].symbol, (dir / fmt::format("out{}.bin", i)).string()));
  }
  std::cout.flush();
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
    throw std::runtime_error(fmt::format("tspsim failed (exit status {})", status));
  std::ifstream in(stats);
  const auto j = nlohmann::json::parse(in);
  Simulated s;
  s.cycles = j.at("cycles").get<uint64_t>();
  for (const auto& [kind, count] : j.at("conformance_errors").items()) s.errors += count.get<uint64_t>();
  s.check = "exact";
  for (size_t i = 0; i < kernel.outputs.size(); ++i) {
    const auto& out = kernel.outputs[i];
    const auto bytes = tsp::read_binary_file(dir / fmt::format("out{}.bin", i));
    const auto* symbol = kernel.program.find_symbol(out.symbol);
    const auto values = tsp::compiler::element_values(symbol->dtype, bytes);
    // An exact element is compared with the reference as written: an fp16 overflow's exact value is
    // finite, its written value (and the chip's) infinite.
    const auto written = tsp::compiler::element_values(symbol->dtype, out.bytes);
    for (size_t e = 0; e < values.size(); ++e) {
      const double diff = std::fabs(values[e] - out.values[e]);
      const bool same =
          out.tolerance[e] == 0
              ? values[e] == written[e] || (std::isnan(values[e]) && std::isnan(out.values[e]))
              : diff <= out.tolerance[e] || (std::isnan(values[e]) && std::isnan(out.values[e]));
      if (!same) return {s.cycles, s.errors, fmt::format("MISMATCH {}[{}]", out.symbol, e)};
      if (out.tolerance[e] != 0) s.check = "within tolerance";
    }
  }
  return s;
}

// The share of the padded work that is real: tensors are padded to whole vectors (GEMM's k and n,
// attention's positions, the columns of the lane-wise kernels). 1 when nothing is padded.
double real_share(const Case& c, unsigned vector) {
  auto option = [&](const std::string& name) -> double {
    for (const auto& [key, value] : c.options)
      if (key == name) return std::stod(value);
    return 0;
  };
  auto share = [&](double n) { return n <= 0 ? 1.0 : n / (std::ceil(n / vector) * vector); };
  if (c.kernel == "gemm" || c.kernel == "gemv") return share(option("k")) * share(option("n"));
  if (c.kernel == "attention") return share(option("seq") + 1);
  return share(option("cols"));
}

std::string options_text(const Case& c) {
  std::string text;
  for (const auto& [name, value] : c.options)
    text += fmt::format("{}--{} {}", text.empty() ? "" : " ", name, value);
  return text;
}

} // namespace

int main(int argc, char* argv[]) {
  std::string tspsim = "build/tspsim";
  std::string config_path = "configs/14nm.json";
  std::string out_path = "docs/kernels.md";
  CLI::App app{"kernel benchmark: cycles of every tspc kernel against its lower bounds"};
  app.add_option("--tspsim", tspsim, "the tspsim binary");
  app.add_option("--config", config_path, "chip config");
  app.add_option("--out", out_path, "markdown table to write");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    const auto config = tsp::load_config(config_path);
    tsp::bench::require_executable(tspsim, "--tspsim");
    const tsp::TemporaryDirectory scratch("tspc-kernels");
    const auto& dir = scratch.path();
    std::ostringstream table;
    bool all_good = true;
    for (const auto& c : kCases) {
      const auto* entry = tsp::compiler::find_kernel(c.kernel);
      tsp::compiler::KernelArgs args;
      for (const auto& [name, value] : c.options) args.set(name, value);
      const auto start = std::chrono::steady_clock::now();
      const auto kernel = entry->compile(config, tsp::compiler::with_defaults(*entry, args));
      const double compile_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const Simulated s = simulate(tspsim, config_path, dir, kernel);
      const auto& bound = kernel.binding_bound();
      const bool good =
          s.errors == 0 && s.cycles == kernel.predicted_cycles && s.check.rfind("MISMATCH", 0) != 0;
      all_good = all_good && good;
      std::string others;
      for (const auto& b : kernel.bounds)
        others += fmt::format("{}{} {:.0f}", others.empty() ? "" : ", ", b.resource, b.cycles);
      // The unpadded bound counts only real elements; a dependency chain has no padding to drop.
      const double unpadded = bound.resource == "dependency chain"
                                  ? bound.cycles
                                  : bound.cycles * real_share(c, config.geometry.vector_bytes());
      table << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {:.0f} | {:.3f} | {:.3f} | {} | {:.1f} |\n",
                           c.kernel, options_text(c), s.cycles,
                           kernel.predicted_cycles == s.cycles ? "=" : "DIFFERS", s.errors, s.check,
                           bound.resource, bound.cycles, double(s.cycles) / bound.cycles,
                           double(s.cycles) / unpadded, others, compile_seconds);
      std::cout << fmt::format("{} {}: {} cycles, {} {:.0f}, ratio {:.3f}, {}{}\n", c.kernel, options_text(c),
                               s.cycles, bound.resource, bound.cycles, double(s.cycles) / bound.cycles,
                               s.check, good ? "" : " (FAILED)");
    }
    std::ostringstream doc;
    doc << "# Kernel cycles\n\n"
        << "Written by `benchmarks/kernels_runner` (tspc " << tsp::kVersion << ") for `" << config_path
        << "` (" << config.name << ", " << config.clock_mhz
        << " MHz). Every program was compiled by the kernel "
        << "library, simulated by tspsim, its outputs compared with the host reference (\"exact\": "
           "bit-exact; "
        << "\"within tolerance\": floats within the kernel's stated bound) and its simulated cycle count "
           "compared "
        << "with the compiler's prediction (\"=\": equal). The ratio is simulated cycles over the largest "
           "lower "
        << "bound; docs/compiler.md says how each bound is computed. The unpadded ratio divides by that "
           "bound scaled to the real elements (tensors are padded to whole vectors of "
        << config.geometry.vector_bytes()
        << " lanes: GEMM's k and n, attention's positions, the columns of lane-wise kernels). Options are "
           "`tspc` options; the rest are defaults (seed 1). Compile seconds are wall-clock seconds on the "
           "machine that ran it.\n\n"
        << "| kernel | options | cycles | prediction | conformance errors | outputs | binding bound | bound "
           "cycles | ratio | ratio (unpadded) | all bounds | compile s |\n"
        << "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        << table.str()
        << "\n## Collectives\n\nTransfers, all-gather, reduce-scatter and all-reduce over the C2C links of "
           "the bundled systems, with their latency and bandwidth bounds: [collectives.md](collectives.md) "
           "(benchmarks/collectives_runner).\n";
    tsp::write_file_atomic(out_path, doc.str());
    std::cout << fmt::format("wrote {}\n", out_path);
    return all_good ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
}
