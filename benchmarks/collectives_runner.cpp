// collectives_runner: compiles every collective for the bundled systems (8, 72 and 576 chips) over
// message sizes from one vector to tens of MiB and prints a Markdown table of predicted cycles
// against the latency/bandwidth lower bound. The predictions are the ones the simulator
// reproduces exactly (tests/compiler/test_collectives.cpp and tests/system/test_system_cli.cpp
// prove it). `--write-doc docs/collectives.md` rewrites the table between the file's markers.
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/common/version.h"
#include "tspsim/compiler/collectives.h"

#include <CLI/CLI.hpp>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>
#include <set>
#include <sstream>

namespace {

using tsp::compiler::CollectiveAlgorithm;
using K = tsp::compiler::CollectiveKind;
using tsp::isa::DType;

constexpr const char* kBegin = "<!-- collectives_runner: begin -->";
constexpr const char* kEnd = "<!-- collectives_runner: end -->";

struct Case {
  std::string system;
  K kind;
  uint32_t rows;
  uint32_t cols;
  DType dtype;
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::automatic;
  std::vector<uint32_t> chips; // empty: every chip of the system
};

std::string size_text(double bytes) {
  if (bytes >= 1 << 20) return fmt::format("{:.1f} MiB", bytes / (1 << 20));
  if (bytes >= 1 << 10) return fmt::format("{:.1f} KiB", bytes / (1 << 10));
  return fmt::format("{:.0f} B", bytes);
}

// The collective's name, and for a transfer its two chips.
std::string collective_text(const Case& c) {
  const std::string name = tsp::compiler::collective_kind_name(c.kind);
  return c.chips.size() == 2 ? fmt::format("{} {} → {}", name, c.chips[0], c.chips[1]) : name;
}

std::vector<Case> cases(bool quick) {
  std::vector<Case> out;
  const auto add = [&](const std::string& system, K kind, std::vector<std::pair<uint32_t, uint32_t>> sizes,
                       DType dtype = DType::f32) {
    for (auto [rows, cols] : sizes)
      out.push_back({system, kind, rows, cols, dtype, CollectiveAlgorithm::automatic, {}});
  };
  // Transfers from chip 0 to the last chip (on the rack and the Dragonfly the farthest one): one
  // vector to 32 MiB, over every route that shares no cable.
  const auto transfers = [&](const std::string& system, uint32_t to) {
    for (auto [rows, cols] :
         std::vector<std::pair<uint32_t, uint32_t>>{{1, 80}, {8, 320}, {1024, 320}, {26214, 320}})
      out.push_back({system, K::transfer, rows, cols, DType::f32, CollectiveAlgorithm::automatic, {0, to}});
  };
  // One vector (1 x 80 fp32 = 320 B) up to tens of MiB; all-gather's output is chips x its input.
  if (quick) {
    add("node8.json", K::all_reduce, {{1, 80}, {8, 320}, {256, 320}});
    add("node8.json", K::all_gather, {{1, 80}, {32, 320}});
    return out;
  }
  add("node8.json", K::all_reduce, {{1, 80}, {8, 320}, {256, 320}, {8192, 320}, {8192, 1024}});
  add("node8.json", K::reduce_scatter, {{8, 320}, {256, 320}, {8192, 320}});
  add("node8.json", K::all_gather, {{1, 80}, {32, 320}, {1024, 320}});
  add("node8.json", K::all_reduce, {{8192, 320}}, DType::bf16);
  transfers("node8.json", 7);
  // 72 and 576 chips stop where compiling needs a few GB (docs/collectives.md, "How far it
  // scales"): the scheduler holds every placed instruction of every chip until the end, about 100
  // bytes each. The rack's collectives go through its nodes' gateways, the Dragonfly's through its
  // nodes' and its racks' gateways (one schedule each).
  add("rack72.json", K::all_reduce,
      {{1, 80}, {72, 320}, {576, 320}, {1152, 320}, {2304, 320}, {4608, 320}, {13104, 320}});
  add("rack72.json", K::reduce_scatter, {{72, 320}, {2304, 320}});
  add("rack72.json", K::all_gather, {{1, 80}, {8, 320}, {32, 320}});
  // The schedules tspc used before the gateways and before the hierarchy, for comparison.
  out.push_back(
      {"rack72.json", K::all_reduce, 576, 320, DType::f32, CollectiveAlgorithm::hierarchical_direct, {}});
  out.push_back({"rack72.json", K::all_reduce, 72, 320, DType::f32, CollectiveAlgorithm::ring, {}});
  out.push_back({"rack72.json", K::all_reduce, 72, 320, DType::f32, CollectiveAlgorithm::direct, {}});
  transfers("rack72.json", 71);
  add("dragonfly8.json", K::all_reduce, {{1, 80}, {8, 320}, {64, 320}, {128, 320}, {576, 320}, {1152, 320}});
  add("dragonfly8.json", K::reduce_scatter, {{576, 80}, {2304, 320}});
  add("dragonfly8.json", K::all_gather, {{1, 80}, {4, 80}});
  // The schedule tspc used before the racks' gateways (between the chips at one position of every
  // node), for comparison.
  out.push_back(
      {"dragonfly8.json", K::all_reduce, 576, 320, DType::f32, CollectiveAlgorithm::hierarchical_direct, {}});
  transfers("dragonfly8.json", 575);
  return out;
}

// Before the table: a folder without the systems, or an --only of no case, would otherwise give a
// table of error rows, or none, and exit 0.
void check_systems(const std::string& systems_dir, const std::string& only, bool quick) {
  std::set<std::string> names;
  for (const Case& c : cases(quick)) names.insert(c.system);
  if (!only.empty() && names.count(only) == 0)
    throw tsp::InputError(
        fmt::format("--only {}: no case runs on it (the systems are {})", only, fmt::join(names, ", ")));
  for (const std::string& name : names) {
    if (!only.empty() && name != only) continue;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(std::filesystem::path(systems_dir) / name, ec))
      throw tsp::InputError(
          fmt::format("--systems {}: has no {} (expected the folder of the bundled systems, configs/systems)",
                      systems_dir, name));
  }
}

std::string table(const std::string& systems_dir, const std::string& only, bool quick) {
  std::ostringstream out;
  out << "| system | chips | collective | message | dtype | algorithm | predicted cycles | µs at clock | "
         "hops | "
         "latency term | bandwidth term | bound | ratio | binds | compile CPU s |\n";
  out << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::cout << out.str() << std::flush;
  for (const Case& c : cases(quick)) {
    if (!only.empty() && c.system != only) continue;
    std::string row;
    try {
      const auto system = tsp::load_system(systems_dir + "/" + c.system);
      tsp::compiler::CollectiveShape shape;
      shape.kind = c.kind;
      shape.rows = c.rows;
      shape.cols = c.cols;
      shape.dtype = c.dtype;
      shape.algorithm = c.algorithm;
      shape.chips = c.chips;
      shape.with_reference = false; // the table needs the schedule only: the programs are the same
      const std::clock_t start = std::clock();
      const auto compiled = tsp::compiler::compile_collective(system, shape);
      const double seconds = double(std::clock() - start) / CLOCKS_PER_SEC; // CPU time: the load varies
      const double latency = compiled.bound_cycles("link latency");
      const double bandwidth = compiled.bound_cycles("link bandwidth");
      const double bound = compiled.latency_plus_bandwidth();
      const double hops = latency / system.config_of(0).timing[tsp::isa::TimingParam::c2c_link];
      const double bytes = double(c.rows) * c.cols * tsp::isa::dtype_bytes(c.dtype);
      row = fmt::format(
          "| {} | {} | {} | {} | {} | {} | {} | {:.1f} | {:.0f} | {:.0f} | {:.0f} | {:.0f} | {:.2f} | {} | "
          "{:.1f} |\n",
          system.name, system.chips(), collective_text(c), size_text(bytes), tsp::isa::dtype_name(c.dtype),
          compiled.algorithm, compiled.predicted_cycles,
          compiled.predicted_cycles / system.config_of(0).clock_mhz, hops, latency, bandwidth, bound,
          compiled.predicted_cycles / bound, latency >= bandwidth ? "latency" : "bandwidth", seconds);
    } catch (const tsp::InputError& e) {
      row = fmt::format("| {} | | {} | {}x{} | | error: {} | | | | | | | | | |\n", c.system,
                        collective_text(c), c.rows, c.cols, e.what());
    }
    std::cout << row << std::flush;
    out << row;
  }
  return out.str();
}

// Replaces what lies between the markers of `path` with `section`.
void write_doc(const std::string& path, const std::string& section) {
  const std::string doc = tsp::read_text_file(path);
  const size_t begin = doc.find(kBegin);
  const size_t end = doc.find(kEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin)
    throw tsp::InputError(
        fmt::format("{}: expected the markers '{}' and '{}' around the table", path, kBegin, kEnd));
  const size_t after_begin = begin + std::string(kBegin).size();
  tsp::write_file_atomic(path, doc.substr(0, after_begin) + "\n" + section + doc.substr(end));
}

std::string today() {
  const std::time_t now = std::time(nullptr);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", std::gmtime(&now));
  return text;
}

} // namespace

int main(int argc, char* argv[]) {
  std::string systems_dir = "configs/systems";
  bool quick = false;
  std::string only;
  std::string doc;
  CLI::App app{fmt::format("collectives_runner {}: collective cycles against their bounds", tsp::kVersion)};
  app.add_option("--systems", systems_dir, "folder of the bundled system descriptions");
  app.add_flag("--quick", quick, "only the 8-chip node and small messages");
  app.add_option("--only", only, "only the cases of this system file, e.g. rack72.json");
  app.add_option("--write-doc", doc,
                 "rewrite the table between the markers of this file (docs/collectives.md)");
  CLI11_PARSE(app, argc, argv);
  try {
    check_systems(systems_dir, only, quick);
    const std::string rows = table(systems_dir, only, quick);
    if (!doc.empty())
      write_doc(doc,
                fmt::format(
                    "Generated by `collectives_runner --write-doc {}` on {} (UTC), tspsim {}, on a shared "
                    "2-core machine (compile times are CPU seconds of a compile without the host reference, "
                    "`tspc collective --timing-only`: the same programs; they vary with the load).\n\n{}",
                    doc, today(), tsp::kVersion, rows));
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
