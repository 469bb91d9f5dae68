// collectives_runner: compiles every collective for the bundled systems over message sizes from
// one vector to tens of MiB and prints a Markdown table of predicted cycles against the
// latency/bandwidth lower bound (docs/kernels.md, "Collectives"). The predictions are the ones the
// simulator reproduces exactly (tests/compiler/test_collectives.cpp proves it on small cases).
#include "tspsim/compiler/collectives.h"
#include "tspsim/common/error.h"
#include "tspsim/common/version.h"

#include <CLI/CLI.hpp>
#include <ctime>
#include <fmt/format.h>
#include <iostream>

namespace {

struct Case {
  std::string system;
  tsp::compiler::CollectiveKind kind;
  uint32_t rows;
  uint32_t cols;
  tsp::isa::DType dtype;
  tsp::compiler::CollectiveAlgorithm algorithm = tsp::compiler::CollectiveAlgorithm::automatic;
};

std::string size_text(double bytes) {
  if (bytes >= 1 << 20) return fmt::format("{:.1f} MiB", bytes / (1 << 20));
  if (bytes >= 1 << 10) return fmt::format("{:.1f} KiB", bytes / (1 << 10));
  return fmt::format("{:.0f} B", bytes);
}

} // namespace

int main(int argc, char* argv[]) {
  std::string systems_dir = "configs/systems";
  bool quick = false;
  std::string only;
  CLI::App app{fmt::format("collectives_runner {}: collective cycles against their bounds", tsp::kVersion)};
  app.add_option("--systems", systems_dir, "folder of the bundled system descriptions");
  app.add_flag("--quick", quick, "only the 8-chip node and small messages");
  app.add_option("--only", only, "only the cases of this system file, e.g. rack72.json");
  CLI11_PARSE(app, argc, argv);

  using K = tsp::compiler::CollectiveKind;
  std::vector<Case> cases;
  // Messages from one vector per chip to tens of MiB (all-gather's output is chips x its input).
  using Sizes = std::vector<std::pair<uint32_t, uint32_t>>;
  const Sizes reduce_sizes = quick ? Sizes{{8, 320}, {256, 320}} : Sizes{{8, 320}, {256, 320}, {8192, 320}};
  const Sizes gather_sizes = quick ? Sizes{{1, 320}, {32, 320}} : Sizes{{1, 320}, {32, 320}, {1024, 320}};
  for (K kind : {K::all_reduce, K::reduce_scatter})
    for (auto [rows, cols] : reduce_sizes) cases.push_back({"node8.json", kind, rows, cols, tsp::isa::DType::f32});
  if (!quick) cases.push_back({"node8.json", K::all_reduce, 8192, 1024, tsp::isa::DType::f32}); // 32 MiB
  for (auto [rows, cols] : gather_sizes) cases.push_back({"node8.json", K::all_gather, rows, cols, tsp::isa::DType::f32});
  cases.push_back({"node8.json", K::all_reduce, 8192, 320, tsp::isa::DType::bf16});
  if (!quick) {
    for (auto [rows, cols] : Sizes{{72, 320}, {4608, 320}})
      cases.push_back({"rack72.json", K::all_reduce, rows, cols, tsp::isa::DType::f32});
    // The rack is not fully connected: the ring (tspc's choice) against direct routes.
    cases.push_back({"rack72.json", K::all_reduce, 72, 320, tsp::isa::DType::f32,
                     tsp::compiler::CollectiveAlgorithm::direct});
    cases.push_back({"dragonfly8.json", K::all_reduce, 576, 320, tsp::isa::DType::f32});
  }

  std::cout << "| system | chips | collective | message | dtype | algorithm | predicted cycles | µs at clock |"
               " binding bound | bound cycles | ratio | compile CPU s |\n";
  std::cout << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Case& c : cases) {
    if (!only.empty() && c.system != only) continue;
    try {
      const auto system = tsp::load_system(systems_dir + "/" + c.system);
      tsp::compiler::CollectiveShape shape;
      shape.kind = c.kind;
      shape.rows = c.rows;
      shape.cols = c.cols;
      shape.dtype = c.dtype;
      shape.algorithm = c.algorithm;
      const std::clock_t start = std::clock();
      const auto compiled = tsp::compiler::compile_collective(system, shape);
      const double seconds = double(std::clock() - start) / CLOCKS_PER_SEC; // CPU time: the load varies
      const auto& bound = compiled.binding_bound();
      const double bytes = double(c.rows) * c.cols * tsp::isa::dtype_bytes(c.dtype);
      std::cout << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {:.1f} | {} | {:.0f} | {:.2f} | {:.1f} |\n",
                               system.name, system.chips(), tsp::compiler::collective_kind_name(c.kind),
                               size_text(bytes), tsp::isa::dtype_name(c.dtype), compiled.algorithm,
                               compiled.predicted_cycles,
                               compiled.predicted_cycles / system.config_of(0).clock_mhz, bound.resource,
                               bound.cycles, compiled.predicted_cycles / bound.cycles, seconds)
              << std::flush;
    } catch (const tsp::InputError& e) {
      std::cout << fmt::format("| {} | | {} | {}x{} | | error: {} | | | | | | |\n", c.system,
                               tsp::compiler::collective_kind_name(c.kind), c.rows, c.cols, e.what());
    }
  }
  return 0;
}
