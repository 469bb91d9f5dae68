// Golden regression: every program of tests/golden/manifest.json must reproduce its pinned cycles,
// statistics and per-cycle activity exactly; a difference is reported at the first divergent cycle,
// slice and instruction. TSPSIM_UPDATE_GOLDENS=1 rewrites the pinned files instead
// (tools/scripts/update-goldens.sh; docs/workflow.md).
#include "cli_harness.h"

#include "tspsim/observe/activity_log.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

struct Golden {
  std::string name;
  std::string config;
  std::string program;    // a program file, or
  std::string kernel;     // a tspc kernel spec compiled at check time, or
  std::string collective; // a tspc collective spec for `system`, compiled at check time
  std::string system;     // a system config: the program runs with tspsim --system
};

std::vector<Golden> manifest() {
  const auto j = nlohmann::json::parse(slurp(source("tests/golden/manifest.json")));
  std::vector<Golden> goldens;
  for (const auto& g : j.at("goldens"))
    goldens.push_back({g.at("name"), g.at("config"), g.value("program", ""), g.value("kernel", ""),
                       g.value("collective", ""), g.value("system", "")});
  return goldens;
}

const Golden& named(const std::vector<Golden>& goldens, const std::string& name) {
  const auto it =
      std::find_if(goldens.begin(), goldens.end(), [&](const Golden& g) { return g.name == name; });
  REQUIRE(it != goldens.end());
  return *it;
}

std::string golden_path(const Golden& g, const std::string& suffix) {
  return source("tests/golden/" + g.name + suffix);
}

struct Outcome {
  nlohmann::json stats; // the pinned subset of --stats-json
  std::string activity;
};

// The figures a golden pins: everything of --stats-json that does not name paths or host time, and
// only the slices that did something.
nlohmann::json pinned(const nlohmann::json& stats) {
  nlohmann::json out;
  for (const char* key :
       {"cycles", "instructions", "conformance_errors", "units", "mxm", "mem", "streams", "c2c"})
    out[key] = stats.at(key);
  out["slices"] = nlohmann::json::array();
  for (const auto& slice : stats.at("slices"))
    if (slice.at("busy_cycles") != 0 || slice.at("instructions") != 0) out["slices"].push_back(slice);
  return out;
}

// A system's figures: everything of --stats-json but paths, host time, threads and the config's
// fingerprint; per chip its cycles, errors, unit, MXM, MEM, stream, C2C and link figures.
nlohmann::json pinned_system(const nlohmann::json& stats) {
  nlohmann::json out;
  for (const char* key : {"cycles", "partial", "windows", "window_cycles", "chips_simulated", "chips_reused",
                          "conformance_errors", "links", "chips"})
    out[key] = stats.at(key);
  return out;
}

std::string compile(const Golden& g) {
  const std::string program = (scratch_dir() / (g.name + ".bin")).string();
  const std::string args =
      !g.kernel.empty() ? "--config " + source(g.config) + " -o " + program + " " + g.kernel
                        : "collective --system " + source(g.system) + " -o " + program + " " + g.collective;
  const auto compiled = run_tool("tspc", args);
  INFO(compiled.err);
  REQUIRE(compiled.exit_code == 0);
  return program;
}

Outcome run_golden(const Golden& g, const std::string& extra = "") {
  const std::string program = g.program.empty() ? compile(g) : source(g.program);
  const std::string system = g.system.empty() ? "" : " --system " + source(g.system);
  const auto stats = scratch_dir() / (g.name + ".json");
  const auto activity = scratch_dir() / (g.name + ".activity");
  const auto run =
      run_tool("tspsim", "--config " + source(g.config) + system + " " + extra + " --quiet --stats-json " +
                             stats.string() + " --activity-log " + activity.string() + " " + program);
  INFO(g.name << ": " << run.err);
  REQUIRE((run.exit_code == 0 ||
           run.exit_code == 1)); // 1: the run found conformance errors, which are pinned too
  const auto figures = nlohmann::json::parse(slurp(stats));
  return {g.system.empty() ? pinned(figures) : pinned_system(figures), slurp(activity)};
}

// The first value that differs, by its path in the document.
std::optional<std::string> first_difference(const nlohmann::json& want, const nlohmann::json& got,
                                            const std::string& path) {
  if (want.type() != got.type() || (!want.is_structured() && want != got))
    return path + ": expected " + want.dump() + ", got " + got.dump();
  if (want.is_object()) {
    for (const auto& [key, value] : want.items()) {
      if (!got.contains(key)) return path + "." + key + ": missing";
      if (auto d = first_difference(value, got.at(key), path + "." + key)) return d;
    }
    for (const auto& [key, value] : got.items())
      if (!want.contains(key)) return path + "." + key + ": not in the golden, got " + value.dump();
  }
  if (want.is_array()) {
    for (size_t i = 0; i < std::min(want.size(), got.size()); ++i)
      if (auto d = first_difference(want[i], got[i], path + "[" + std::to_string(i) + "]")) return d;
    if (want.size() != got.size())
      return path + ": expected " + std::to_string(want.size()) + " entries, got " +
             std::to_string(got.size());
  }
  return std::nullopt;
}

// What differs from the pinned files, activity first: it names the cycle where the runs part.
std::optional<std::string> check(const Golden& g, const Outcome& outcome) {
  if (auto d = tsp::first_divergence(slurp(golden_path(g, ".activity")), outcome.activity))
    return "golden " + g.name + ": " + *d;
  const auto want = nlohmann::json::parse(slurp(golden_path(g, ".stats.json")));
  if (auto d = first_difference(want, outcome.stats, "stats")) return "golden " + g.name + ": " + *d;
  return std::nullopt;
}

} // namespace

TEST_CASE("every golden program reproduces its pinned cycles and activity") {
  const bool update = std::getenv("TSPSIM_UPDATE_GOLDENS") != nullptr;
  const auto goldens = manifest();
  REQUIRE(goldens.size() == 17);
  for (const Golden& g : goldens) {
    const Outcome outcome = run_golden(g);
    if (update) {
      std::ofstream(golden_path(g, ".stats.json")) << outcome.stats.dump(2) << '\n';
      std::ofstream(golden_path(g, ".activity")) << outcome.activity;
      continue;
    }
    const auto difference = check(g, outcome);
    CHECK(difference.value_or("") == "");
  }
}

TEST_CASE("the golden of vector_add pins its documented cycle count (docs/programs.md)") {
  const auto stats = nlohmann::json::parse(slurp(source("tests/golden/vector_add.stats.json")));
  CHECK(stats.at("cycles") == 58);
}

TEST_CASE("one changed latency fails the golden check at the first divergent cycle, slice and instruction") {
  const Golden vector_add = manifest().front();
  REQUIRE(vector_add.name == "vector_add");
  const auto difference = check(vector_add, run_golden(vector_add, "--set timing.vxm_int_add=2"));
  // The sum leaves the VXM one cycle later: at cycle 14 the add of line 40 has not yet put its result.
  CHECK(difference.value_or("") == "golden vector_add: first divergence at cycle 14 on VXM: expected "
                                   "'14 VXM put W1 add line 40', got '14 VXM run add line 40'");
}

TEST_CASE("a golden that differs only in its statistics names the first differing figure") {
  const Golden vector_add = manifest().front();
  Outcome outcome = run_golden(vector_add);
  outcome.stats["units"]["VXM"]["busy_slice_cycles"] = 6;
  CHECK(check(vector_add, outcome).value_or("") ==
        "golden vector_add: stats.units.VXM.busy_slice_cycles: expected 5, got 6");
}

TEST_CASE("the system goldens pin every chip: the two-chip transfer and an all-reduce over node8") {
  const auto goldens = manifest();
  const auto pingpong =
      nlohmann::json::parse(slurp(golden_path(named(goldens, "system_two_chip_pingpong"), ".stats.json")));
  // Chip 1 writes the last row at 254 + 60 = 314; the run ends 1 + 19 cycles of superlane stagger later.
  CHECK(pingpong.at("cycles") == 334);
  CHECK(pingpong.at("chips").size() == 2);
  CHECK(pingpong.at("chips").at(0).at("links").at(0).at("busy_cycles") == 80);
  const Golden& node8 = named(goldens, "tspc_all_reduce_node8");
  const auto all_reduce = nlohmann::json::parse(slurp(golden_path(node8, ".stats.json")));
  CHECK(all_reduce.at("chips").size() == 8);
  // Each chip sends a shard of 1 row x 4 byte planes to each of its 7 peers in both phases.
  CHECK(all_reduce.at("links").at("vectors_delivered") == 8 * 7 * 2 * 4);
  // The pinned cycles are the ones tspc predicts for the schedule.
  const auto compiled = run_tool("tspc", "collective --system " + source(node8.system) + " -o " +
                                             (scratch_dir() / "ar.bin").string() + " " + node8.collective);
  REQUIRE(compiled.exit_code == 0);
  const auto predicted = compiled.out.find(" cycles predicted");
  REQUIRE(predicted != std::string::npos);
  const auto from = compiled.out.rfind(' ', predicted - 1) + 1;
  CHECK(all_reduce.at("cycles") == std::stoull(compiled.out.substr(from, predicted - from)));
  // The activity names every chip.
  const std::string activity = slurp(golden_path(named(goldens, "tspc_all_reduce_node8"), ".activity"));
  for (unsigned c = 0; c < 8; ++c)
    CHECK(activity.find(" chip " + std::to_string(c) + " ") != std::string::npos);
}

TEST_CASE(
    "one changed latency fails a system golden at the first divergent cycle, chip, slice and instruction") {
  const auto goldens = manifest();
  const Golden& pingpong = named(goldens, "system_two_chip_pingpong");
  // Receive drives its vector onto the stream one cycle later: chip 1's first Receive (line 36) has
  // not put it on W0 at cycle 251.
  CHECK(check(pingpong, run_golden(pingpong, "--set timing.c2c_receive_func=2")).value_or("") ==
        "golden system_two_chip_pingpong: first divergence at cycle 251 on chip 1 SXM_E: expected "
        "'251 chip 1 SXM_E put W0 Receive line 36', got '252 chip 1 SXM_E put W0 Receive line 36'");
  // A longer link: chip 0's first Send (line 27) arrives at chip 1 ten cycles later.
  CHECK(check(pingpong, run_golden(pingpong, "--set timing.c2c_link=226")).value_or("") ==
        "golden system_two_chip_pingpong: first divergence at cycle 6 on chip 0 link 0: expected "
        "'6 chip 0 link 0 send to chip 1 link 0 arrival 222 until 26 line 27', got "
        "'6 chip 0 link 0 send to chip 1 link 0 arrival 232 until 26 line 27'");
}
