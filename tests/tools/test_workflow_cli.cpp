// tspsim's workflow options from the command line: --log-level, the progress line (a terminal
// only), and the outputs in any order together.
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

// Four MEM queues reading every 400 cycles, about 6.7e9 cycles in all: runs are cut by --max-cycles.
std::filesystem::path long_program() {
  const auto program = scratch_dir() / "long.tsp";
  std::ofstream text(program);
  const char* streams[] = {"E0", "E1", "W0", "W1"};
  for (unsigned k = 0; k < 4; ++k)
    text << ".queue MEM_W" << 10 * k << "\n    NOP " << k + 1 << "\n    Read 0, " << streams[k]
         << "\n    Repeat 16777215, 400, 0\n";
  return program;
}

} // namespace

TEST_CASE("tspsim --log-level info reports the files written on stderr; the default says nothing") {
  const auto trace = scratch_dir() / "t.json";
  const std::string args = "--config " + source("configs/14nm.json") + " --quiet --trace " + trace.string() +
                           " " + source("examples/vector_add.tsp");
  auto run = run_tool("tspsim", args);
  CHECK(run.exit_code == 0);
  CHECK(run.err.empty());
  run = run_tool("tspsim", "--log-level info " + args);
  CHECK(run.exit_code == 0);
  CHECK(run.err == "tspsim: info: wrote the trace to " + trace.string() + " (16 spans)\n");
  run = run_tool("tspsim", args + " --log-level error");
  CHECK(run.err.empty());
}

TEST_CASE("tspsim --log-level with an unknown level is a one-line error") {
  const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --log-level loud " +
                                          source("examples/vector_add.tsp"));
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --log-level loud: expected trace, debug, info, warn, error or off\n");
  CHECK(run.out.empty());
}

TEST_CASE("tspsim shows progress on a terminal and nothing when stderr is not one") {
  const std::string base =
      "--config " + source("configs/14nm.json") + " --timing-only --quiet " + long_program().string();
  // Not a terminal: stderr stays empty.
  const auto quiet = run_tool("tspsim", base + " --max-cycles 40000000");
  CHECK(quiet.exit_code == 1); // cut by --max-cycles: partial
  CHECK(quiet.err.empty());
  // A terminal (script(1) gives the run a pseudo-terminal): after the first second of host time,
  // a line rewritten in place with the cycle, the percentage of --max-cycles, the speed and the time left.
  // 10^6 Reads: a couple of seconds.
  const std::string args = base + " --max-cycles 400000000";
  const auto stats = scratch_dir() / "progress.json";
  const auto log = scratch_dir() / "terminal.txt";
  const std::string command = "script -qec '" + tsp::test::tool("tspsim") + " " + args + " --stats-json " +
                              stats.string() + "' " + log.string() + " >/dev/null 2>&1";
  std::system(command.c_str());
  const double host_seconds = nlohmann::json::parse(slurp(stats)).at("host_seconds");
  const std::string terminal = slurp(log);
  INFO(terminal);
  if (host_seconds >= 1.5) {
    CHECK(terminal.find("\rtspsim: cycle ") != std::string::npos);
    CHECK(terminal.find(" of 400000000 (") != std::string::npos);
    CHECK(terminal.find(" cycles/s, about ") != std::string::npos);
  } else {
    WARN("the run took only " << host_seconds << " s: too short for a progress line");
  }
}

TEST_CASE("tspsim --system shows progress on a terminal too") {
  // Chip 0 sends a vector every 400 cycles to chip 1, which receives it 216 cycles later.
  const auto program = scratch_dir() / "long-system.tsp";
  std::ofstream(program)
      << ".chip 0\n.queue MEM_E40\n  Read 0, E0\n  Repeat 16777215, 400, 0\n"
         ".queue SXM_E.0\n  NOP 6\n  Send 0, E0\n  Repeat 16777215, 400, 0\n"
         ".chip 1\n.queue SXM_E.1\n  NOP 222\n  Receive 0, W0\n  Repeat 16777215, 400, 0\n";
  const auto stats = scratch_dir() / "progress-system.json";
  const auto log = scratch_dir() / "terminal-system.txt";
  const std::string command = "script -qec '" + tsp::test::tool("tspsim") + " --config " +
                              source("configs/14nm.json") + " --system " +
                              source("configs/systems/two_chips.json") +
                              " --timing-only --quiet --max-cycles 200000000 --stats-json " + stats.string() +
                              " " + program.string() + "' " + log.string() + " >/dev/null 2>&1";
  std::system(command.c_str());
  const auto figures = nlohmann::json::parse(slurp(stats));
  // The run ends at the limit (the progress process does not keep the kernel alive): its last
  // activity is within the last 400-cycle period before it.
  CHECK(figures.at("partial") == true);
  CHECK(figures.at("cycles") <= 200000000);
  CHECK(figures.at("cycles") > 200000000 - 400);
  const double host_seconds = figures.at("host_seconds");
  const std::string terminal = slurp(log);
  INFO(terminal);
  if (host_seconds >= 1.5) {
    CHECK(terminal.find("\rtspsim: cycle ") != std::string::npos);
    CHECK(terminal.find(" of 200000000 (") != std::string::npos);
  } else {
    WARN("the run took only " << host_seconds << " s: too short for a progress line");
  }
}

TEST_CASE("tspsim takes the workflow outputs in any order with the other options") {
  const auto dir = scratch_dir() / "any-order";
  std::filesystem::create_directories(dir);
  const auto run =
      run_tool("tspsim", "--report " + (dir / "r").string() + " " + source("examples/vector_add.tsp") +
                             " --vcd " + (dir / "w.vcd").string() + " --config " +
                             source("configs/14nm.json") + " --trace-window 0:20 --quiet --trace " +
                             (dir / "t.json").string() + " --activity-log " + (dir / "a.log").string());
  INFO(run.err);
  CHECK(run.exit_code == 0);
  CHECK(std::filesystem::exists(dir / "r" / "index.html"));
  CHECK(std::filesystem::exists(dir / "w.vcd"));
  CHECK(nlohmann::json::parse(slurp(dir / "t.json")).at("traceEvents").size() > 0);
  // The activity log follows the trace window: dispatches and stream writes of cycles 0..19.
  CHECK(slurp(dir / "a.log").rfind("17 VXM put W1 add line 40\n") != std::string::npos);
  CHECK(slurp(dir / "a.log").find("35 MEM_W20") == std::string::npos);
}
