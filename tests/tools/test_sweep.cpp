// tspsim sweep: every point of the cartesian product re-compiled and simulated in parallel
// processes, exact CSV rows (a point that cannot work is a row with its reason), the SVG plot, and
// sweep specifications that are wrong.
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {
const std::string kWorkload = "\"elementwise --op add --rows 16 --cols 32 --dtype int16\"";
} // namespace

TEST_CASE(
    "tspsim sweep writes a row per point with cycles and predicted cycles, and reasons for invalid points") {
  const auto csv = scratch_dir() / "sweep.csv";
  const auto run = run_tool("tspsim", "sweep --jobs 2 --config " + source("configs/tiny.json") +
                                          " --workload " + kWorkload +
                                          " --param geometry.mem_slices_per_hemisphere=0,2,4 --param "
                                          "streams.per_direction=16,32 --out " +
                                          csv.string());
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(run.out == "sweep: 6 points (4 simulated, 2 could not run); wrote " + csv.string() + " and " +
                       (scratch_dir() / "sweep.svg").string() + "\n");
  const std::string reason =
      "\"--set geometry.mem_slices_per_hemisphere: expected 1..127 (the MEM slice field has 7 "
      "index bits), got 0\"";
  CHECK(slurp(csv) == "geometry.mem_slices_per_hemisphere,streams.per_direction,status,cycles,predicted_"
                      "cycles,conformance_errors,"
                      "MEM,VXM,MXM,SXM,mxm_mac_utilisation,chips_needed,tokens_per_s,reason\n"
                      "0,16,invalid,,,,,,,,,,," +
                          reason +
                          "\n"
                          "0,32,invalid,,,,,,,,,,," +
                          reason +
                          "\n"
                          "2,16,ok,45,45,0,0.655556,0.444444,0.000000,0.000000,0.000000,1,,\n"
                          "2,32,ok,45,45,0,0.655556,0.444444,0.000000,0.000000,0.000000,1,,\n"
                          "4,16,ok,26,26,0,0.528846,0.653846,0.000000,0.000000,0.000000,1,,\n"
                          "4,32,ok,26,26,0,0.528846,0.653846,0.000000,0.000000,0.000000,1,,\n");
  // One point by hand, tspc then tspsim: the same cycles and utilisation.
  const auto program = scratch_dir() / "point.bin";
  const std::string config =
      "--config " + source("configs/tiny.json") + " --set geometry.mem_slices_per_hemisphere=2";
  REQUIRE(run_tool("tspc", config + " -o " + program.string() +
                               " elementwise --op add --rows 16 --cols 32 --dtype int16")
              .exit_code == 0);
  const auto stats = scratch_dir() / "point.json";
  REQUIRE(run_tool("tspsim", config + " --quiet --stats-json " + stats.string() + " " + program.string())
              .exit_code == 0);
  const auto j = nlohmann::json::parse(slurp(stats));
  CHECK(j.at("cycles") == 45);
  CHECK(j.at("units").at("MEM").at("utilisation").get<double>() == Approx(0.655556).margin(1e-6));
  // The plot: a point per simulated row, a series per streams.per_direction value.
  const std::string svg = slurp(scratch_dir() / "sweep.svg");
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  CHECK(circles == 4);
  CHECK(svg.find(">streams.per_direction=16</text>") != std::string::npos);
  CHECK(svg.find(">streams.per_direction=32</text>") != std::string::npos);
}

TEST_CASE("tspsim sweep with a wrong specification is a one-line error and writes nothing") {
  const std::string base =
      "sweep --config " + source("configs/tiny.json") + " --out " + (scratch_dir() / "x.csv").string();
  auto run = run_tool("tspsim", base + " --workload \"gemx --k 2\" --param streams.per_direction=16");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --workload 'gemx --k 2': unknown kernel 'gemx' (tspc --list names them)\n");
  run = run_tool("tspsim", base + " --workload \"gemv --kk 2\" --param streams.per_direction=16");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --workload 'gemv --kk 2': '--kk' is not an option of gemv with a value\n");
  run = run_tool("tspsim", base + " --workload " + kWorkload + " --param streams.per_direction");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --param streams.per_direction: expected key.path=v1,v2,...\n");
  // Outputs are checked before any point is compiled.
  run = run_tool("tspsim", "sweep --config " + source("configs/tiny.json") + " --workload " + kWorkload +
                               " --param streams.per_direction=16 --out /nonexistent/x.csv");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --out: cannot write '/nonexistent/x.csv': No such file or directory\n");
  const auto svg = (scratch_dir() / "both.svg").string();
  run = run_tool("tspsim", "sweep --config " + source("configs/tiny.json") + " --workload " + kWorkload +
                               " --param streams.per_direction=16 --out " + svg);
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --plot: '" + svg + "' is also written by another option\n");
  CHECK(!std::filesystem::exists(scratch_dir() / "x.csv"));
}

TEST_CASE("tspsim sweep refuses an unknown, repeated or empty --param before any point runs") {
  const std::string base = "sweep --config " + source("configs/tiny.json") + " --workload " + kWorkload +
                           " --out " + (scratch_dir() / "p.csv").string();
  auto run = run_tool("tspsim", base + " --param bogus.key=1,2");
  CHECK(run.exit_code == 2);
  CHECK(run.err ==
        "error: --param bogus.key=1,2: unknown config key 'bogus.key' (docs/config.md lists them)\n");
  run = run_tool("tspsim", base + " --param timing.vxm_func=1,2");
  CHECK(run.err == "error: --param timing.vxm_func=1,2: unknown config key 'timing.vxm_func' (docs/config.md "
                   "lists them)\n");
  run = run_tool("tspsim", base + " --param streams.per_direction=16,32 --param streams.per_direction=8");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --param streams.per_direction=8: streams.per_direction is swept by an earlier "
                   "--param: give its values in one\n");
  run = run_tool("tspsim", base + " --param streams.per_direction=16,,32");
  CHECK(run.exit_code == 2);
  CHECK(run.err ==
        "error: --param streams.per_direction=16,,32: value 2 is empty (expected key.path=v1,v2,...)\n");
  CHECK(!std::filesystem::exists(scratch_dir() / "p.csv"));
  CHECK(!std::filesystem::exists(scratch_dir() / "p.svg"));
}

TEST_CASE("tspsim sweep --system re-plans and compiles a llama decode step over the system at every point") {
  const auto csv = scratch_dir() / "llama-sweep.csv";
  const auto run =
      run_tool("tspsim", "sweep --out " + csv.string() + " --system " +
                             source("configs/systems/two_chips.json") + " --param " +
                             "geometry.mem_words_per_slice=64,8192 --config " + source("configs/14nm.json") +
                             " --workload \"llama --model " + source("configs/models/tiny-llama.json") +
                             "\" --jobs 2 --param geometry.mem_slices_per_hemisphere=20,44");
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const std::string too_small = "llama: tiny-llama does not fit " + source("configs/systems/two_chips.json") +
                                "'s 2 chips at its context of 256 (tspc plan --chips 2 says why)";
  CHECK(slurp(csv) ==
        "geometry.mem_words_per_slice,geometry.mem_slices_per_hemisphere,status,cycles,predicted_cycles,"
        "conformance_errors,MEM,VXM,MXM,SXM,mxm_mac_utilisation,chips_needed,tokens_per_s,reason\n"
        "64,20,invalid,,,,,,,,,,," +
            too_small + "\n64,44,invalid,,,,,,,,,,," + too_small +
            "\n"
            "8192,20,ok,17528,17528,0,0.026765,0.066248,0.011934,0.021383,0.000429,2,51346.4,\n"
            "8192,44,ok,28260,28260,0,0.007541,0.042101,0.007359,0.013266,0.000266,2,31847.1,\n");
  // The first simulated point by hand: tspc llama over the system, then tspsim --system.
  const auto program = scratch_dir() / "llama-point.bin";
  const std::string system = "--config " + source("configs/14nm.json") + " --system " +
                             source("configs/systems/two_chips.json") +
                             " --set geometry.mem_slices_per_hemisphere=20";
  REQUIRE(run_tool("tspc", "llama --timing-only --model " + source("configs/models/tiny-llama.json") + " " +
                               system + " -o " + program.string())
              .exit_code == 0);
  const auto stats = scratch_dir() / "llama-point.json";
  REQUIRE(run_tool("tspsim",
                   system + " --timing-only --quiet --stats-json " + stats.string() + " " + program.string())
              .exit_code == 0);
  const auto j = nlohmann::json::parse(slurp(stats));
  CHECK(j.at("cycles") == 17528);
  CHECK(j.at("decode").at("tokens_per_second").get<double>() == Approx(51346.4).margin(0.05));
}

TEST_CASE("tspsim sweep --system takes only a llama workload and a model that loads") {
  const std::string base = "sweep --config " + source("configs/14nm.json") + " --out " +
                           (scratch_dir() / "y.csv").string() + " --param geometry.mem_words_per_slice=8192";
  auto run = run_tool("tspsim", base + " --system " + source("configs/systems/two_chips.json") +
                                    " --workload \"gemv --k 320 --n 320\"");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --system: only a llama workload is scheduled over a system's chips, not gemv\n");
  run = run_tool("tspsim", base + " --stages 2 --workload \"llama --model tiny-llama\"");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --stages needs --system\n");
  run = run_tool("tspsim", base + " --workload \"llama --model /nonexistent/m.json\"");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: cannot read '/nonexistent/m.json': No such file or directory\n");
  CHECK(!std::filesystem::exists(scratch_dir() / "y.csv"));
}
