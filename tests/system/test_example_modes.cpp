// Every example of examples/ and examples/misscheduled/ run by the tspsim binary on the 14 nm chip
// three ways: the fused scheduler, --debug-clock (one SC_METHOD per slice on an sc_clock) and
// --timing-only. The debug clock must give the same statistics JSON (host_seconds aside) and exit
// code; timing-only the same cycles and conformance counts.
#include "engine_harness.h"
#include "tspsim/common/file_io.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/wait.h>

namespace {

const std::vector<std::string> kExamples = {
    "c2c_loopback.tsp",
    "gather_scatter.tsp",
    "gemm_f16.tsp",
    "gemm_i8_four_planes.tsp",
    "gemm_i8_one_plane.tsp",
    "ifetch_long.tsp",
    "softmax_f32.tsp",
    "transpose.tsp",
    "vector_add.tsp",
    "misscheduled/ifetch-invalid.tsp",
    "misscheduled/link-empty.tsp",
    "misscheduled/link-overrun.tsp",
    "misscheduled/mem-address.tsp",
    "misscheduled/mem-port.tsp",
    "misscheduled/mxm-accumulator.tsp",
    "misscheduled/mxm-weights.tsp",
    "misscheduled/queue-overflow.tsp",
    "misscheduled/queue-starved.tsp",
    "misscheduled/stream-collision.tsp",
    "misscheduled/stream-empty.tsp",
    "misscheduled/stream-stale.tsp",
    "misscheduled/sync-unreleased.tsp",
};

struct Run {
  int exit_code;
  nlohmann::json stats;
};

Run run_tspsim(const std::string& example, const std::string& flag) {
  std::string tag = example + flag;
  for (char& c : tag)
    if (c == '/' || c == '.' || c == '-') c = '_';
  const std::string out = fmt::format("{}/tests/modes_{}.json", TSPSIM_BINARY_DIR, tag);
  std::filesystem::remove(out);
  const std::string command = fmt::format(
      "\"{}/tspsim\" --config \"{}/configs/14nm.json\" \"{}/examples/{}\" --quiet --stats-json \"{}\" {}",
      TSPSIM_BINARY_DIR, TSPSIM_SOURCE_DIR, TSPSIM_SOURCE_DIR, example, out, flag);
  const int status = std::system(command.c_str());
  INFO(command);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) <= 1); // 1: the run found conformance errors
  return {WEXITSTATUS(status), nlohmann::json::parse(tsp::read_text_file(out))};
}

// `blind` names the conformance kinds timing-only cannot see in this example.
void check_modes(const std::string& example, const std::set<std::string>& blind = {}) {
  Run fused = run_tspsim(example, "");
  Run debug = run_tspsim(example, "--debug-clock");
  const Run timing = run_tspsim(example, "--timing-only");
  CHECK(debug.exit_code == fused.exit_code);
  fused.stats.erase("host_seconds");
  debug.stats.erase("host_seconds");
  INFO("debug clock vs fused: " << nlohmann::json::diff(fused.stats, debug.stats).dump());
  CHECK(debug.stats == fused.stats);
  CHECK(timing.stats.at("mode") == "timing-only");
  CHECK(timing.stats.at("cycles") == fused.stats.at("cycles"));
  for (const auto& [kind, count] : fused.stats.at("conformance_errors").items()) {
    INFO(kind);
    CHECK(timing.stats.at("conformance_errors").at(kind) == (blind.count(kind) ? nlohmann::json(0) : count));
  }
}

} // namespace

TEST_CASE("modes: the list covers every example") {
  std::set<std::string> found;
  for (const char* dir : {"", "misscheduled/"})
    for (const auto& entry :
         std::filesystem::directory_iterator(std::string(TSPSIM_SOURCE_DIR) + "/examples/" + dir))
      if (entry.path().extension() == ".tsp") found.insert(dir + entry.path().filename().string());
  CHECK(found == std::set<std::string>(kExamples.begin(), kExamples.end()));
}

TEST_CASE("modes: c2c_loopback") { check_modes("c2c_loopback.tsp"); }
TEST_CASE("modes: gather_scatter") { check_modes("gather_scatter.tsp"); }
TEST_CASE("modes: gemm_f16") { check_modes("gemm_f16.tsp"); }
TEST_CASE("modes: gemm_i8_four_planes") { check_modes("gemm_i8_four_planes.tsp"); }
TEST_CASE("modes: gemm_i8_one_plane") { check_modes("gemm_i8_one_plane.tsp"); }
TEST_CASE("modes: ifetch_long") { check_modes("ifetch_long.tsp"); }
TEST_CASE("modes: softmax_f32") { check_modes("softmax_f32.tsp"); }
TEST_CASE("modes: transpose") { check_modes("transpose.tsp"); }
TEST_CASE("modes: vector_add") { check_modes("vector_add.tsp"); }
TEST_CASE("modes: misscheduled/ifetch-invalid") { check_modes("misscheduled/ifetch-invalid.tsp"); }
TEST_CASE("modes: misscheduled/link-empty") { check_modes("misscheduled/link-empty.tsp"); }
TEST_CASE("modes: misscheduled/link-overrun") { check_modes("misscheduled/link-overrun.tsp"); }
// Gather lane addresses come from the map's data, which a timing-only run does not have.
TEST_CASE("modes: misscheduled/mem-address") { check_modes("misscheduled/mem-address.tsp", {"mem-address"}); }
TEST_CASE("modes: misscheduled/mem-port") { check_modes("misscheduled/mem-port.tsp"); }
TEST_CASE("modes: misscheduled/mxm-accumulator") { check_modes("misscheduled/mxm-accumulator.tsp"); }
TEST_CASE("modes: misscheduled/mxm-weights") { check_modes("misscheduled/mxm-weights.tsp"); }
TEST_CASE("modes: misscheduled/queue-overflow") { check_modes("misscheduled/queue-overflow.tsp"); }
TEST_CASE("modes: misscheduled/queue-starved") { check_modes("misscheduled/queue-starved.tsp"); }
TEST_CASE("modes: misscheduled/stream-collision") { check_modes("misscheduled/stream-collision.tsp"); }
TEST_CASE("modes: misscheduled/stream-empty") { check_modes("misscheduled/stream-empty.tsp"); }
TEST_CASE("modes: misscheduled/stream-stale") { check_modes("misscheduled/stream-stale.tsp"); }
TEST_CASE("modes: misscheduled/sync-unreleased") {
  check_modes("misscheduled/sync-unreleased.tsp");
}

// When the last work of a run is a MEM Write, the debug clock notices the end one cycle later than
// the fused scheduler; the end-of-run error must still name the same cycle.
TEST_CASE("debug clock: sync-unreleased is reported at the same cycle as by the fused scheduler") {
  tsp::EngineOptions options;
  options.debug_clock = true;
  // Tiny chip: MEM_W3 at 2, MEM_W2 at 3; the value read at 0 is at MEM_W2 at 3, written there.
  tsp::test::Simulation sim(
      ".queue MEM_W0\n  Sync\n.queue MEM_W3\n  Read 0, E0\n.queue MEM_W2\n  NOP 3\n  Write 0, E0\n",
      "tiny.json", {}, options);
  CHECK(sim.result.cycles == 5);
  CHECK(sim.log().total() == 1);
  CHECK(sim.first_error() ==
        "cycle 3: sync-unreleased: MEM_W0: queue MEM_W0 is still parked in the Sync it reached "
        "at cycle 0");
}
