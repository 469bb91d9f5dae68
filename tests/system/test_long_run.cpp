// Long runs: memory stays flat however many cycles a program runs, and an interrupted run (SIGINT)
// stops at the next scheduled cycle and still writes its statistics, marked partial.
// tools/scripts/long_run.sh runs the 10^9-cycle version of the same program (docs/reliability.md).
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <thread>

using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

// Four MEM queues on the 14 nm chip, each reading once every `distance` cycles, `repeats` + 1 times:
// queue k (k = 0..3) issues its first Read at cycle k + 1. Timing-only runs take these Read
// Repeats whole (docs/timing-model.md, "Intervals in timing-only mode"), and VXM runs too, so
// VXM.1 splats onto E6 at the same distance, `repeats` + 1 times from cycle 0, and VXM.0 onto E5
// from cycle 1: VXM.1's Repeat is taken whole first and a slice holds one run at a time, so
// VXM.0's splats go vector by vector and the per-cycle path runs as long as the program (its
// last value lands before the last Read's).
std::string long_program(unsigned repeats, unsigned distance) {
  std::string text;
  const char* streams[] = {"E0", "E1", "W0", "W1"};
  for (unsigned k = 0; k < 4; ++k)
    text += ".queue MEM_W" + std::to_string(10 * k) + "\n    NOP " + std::to_string(k + 1) +
            "\n    Read 0, " + streams[k] + "\n    Repeat " + std::to_string(repeats) + ", " +
            std::to_string(distance) + ", 0\n";
  text += ".queue VXM.1\n    splat.i8 E6, 0x01\n    Repeat " + std::to_string(repeats) + ", " +
          std::to_string(distance) + ", 0\n";
  text += ".queue VXM.0\n    NOP 1\n    splat.i8 E5, 0x01\n    Repeat " + std::to_string(repeats) + ", " +
          std::to_string(distance) + ", 0\n";
  return text;
}

// The last Read dispatches at 4 + repeats * distance and drives its stream mem_read_func (2) later;
// the 14 nm chip's 20 superlanes add 19 cycles of stagger.
uint64_t expected_cycles(unsigned repeats, unsigned distance) {
  return 4 + uint64_t(repeats) * distance + 2 + 1 + 19;
}

struct Child {
  pid_t pid = -1;
  int exit_code = -1;
  long peak_rss_kib = 0;
};

// Starts tspsim with stdout and stderr to files in the scratch directory.
Child start_tspsim(const std::vector<std::string>& args, const std::string& tag) {
  std::vector<std::string> argv = {tsp::test::tool("tspsim")};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out = (scratch_dir() / (tag + ".out")).string();
  const std::string err = (scratch_dir() / (tag + ".err")).string();
  Child child;
  child.pid = fork();
  REQUIRE(child.pid >= 0);
  if (child.pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  return child;
}

void wait_for(Child& child) {
  int status = 0;
  rusage usage{};
  REQUIRE(wait4(child.pid, &status, 0, &usage) == child.pid);
  child.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  child.peak_rss_kib = usage.ru_maxrss;
}

// True once the process has a handler for SIGINT (bit 2 of SigCgt in /proc/PID/status): tspsim
// installs it just before the run, so a signal sent earlier would kill it instead.
bool catches_sigint(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("SigCgt:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> (SIGINT - 1)) & 1;
  return false;
}

struct LongRun {
  long peak_rss_kib;
  nlohmann::json stats;
};

LongRun run_long(unsigned repeats, unsigned distance, const std::string& tag) {
  const auto program = scratch_dir() / (tag + ".tsp");
  std::ofstream(program) << long_program(repeats, distance);
  const auto stats = scratch_dir() / (tag + ".json");
  Child child = start_tspsim({"--config", source("configs/14nm.json"), "--timing-only", "--quiet",
                              "--stats-json", stats.string(), program.string()},
                             tag);
  wait_for(child);
  INFO("stderr: " << slurp(scratch_dir() / (tag + ".err")));
  REQUIRE(child.exit_code == 0);
  return {child.peak_rss_kib, nlohmann::json::parse(slurp(stats))};
}

} // namespace

TEST_CASE("peak memory of a run does not grow with its length (10^6 vs 10^8 cycles)") {
  const LongRun short_run = run_long(2500, 400, "short");
  const LongRun long_run = run_long(250000, 400, "long");
  CHECK(short_run.stats.at("cycles") == expected_cycles(2500, 400));
  CHECK(long_run.stats.at("cycles") == expected_cycles(250000, 400));
  // Per MEM queue and VXM.0: the NOP, the Repeat and 250001 Reads or splats; VXM.1: the Repeat
  // and 250001 splats.
  CHECK(long_run.stats.at("instructions") == 5 * (1 + 1 + 250001) + 1 + 250001);
  CHECK(long_run.stats.at("partial") == false);
  // A hundred times the cycles and instructions; any per-cycle or per-instruction growth of even a few
  // bytes would show as megabytes here.
  INFO("peak RSS " << short_run.peak_rss_kib << " KiB for 10^6 cycles, " << long_run.peak_rss_kib
                   << " KiB for 10^8");
  CHECK(long_run.peak_rss_kib <= short_run.peak_rss_kib + 2048);
}

TEST_CASE("SIGINT stops a long run cleanly and the statistics so far are written, marked partial") {
  const auto program = scratch_dir() / "interrupted.tsp";
  std::ofstream(program) << long_program(16777215, 60);
  const auto stats = scratch_dir() / "interrupted.json";
  Child child = start_tspsim({"--config", source("configs/14nm.json"), "--timing-only", "--stats-json",
                              stats.string(), program.string()},
                             "interrupted");
  const auto started = std::chrono::steady_clock::now();
  while (!catches_sigint(child.pid) && std::chrono::steady_clock::now() - started < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Half a second into the run: well before its end (a few minutes), well after its start.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  REQUIRE(kill(child.pid, SIGINT) == 0);
  const auto sent = std::chrono::steady_clock::now();
  wait_for(child);
  const double stop_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();

  INFO("stderr: " << slurp(scratch_dir() / "interrupted.err"));
  CHECK(child.exit_code == 1);
  CHECK(stop_seconds < 5);
  const auto out = slurp(scratch_dir() / "interrupted.out");
  CHECK(out.find(" (partial: the run was interrupted)\n") != std::string::npos);
  const auto j = nlohmann::json::parse(slurp(stats));
  CHECK(j.at("partial") == true);
  // Some of the run, not all of it: the full program is about 10^9 cycles.
  CHECK(j.at("cycles") > 0);
  CHECK(j.at("cycles") < expected_cycles(16777215, 60));
  CHECK(j.at("instructions") > 4);
  CHECK(j.at("conformance_errors").at("stream-empty") == 0);
}
