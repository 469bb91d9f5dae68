// tspsim --trace: Chrome/Perfetto trace-event JSON with exact spans, counters, --trace-window, bad
// options, and a file that stays valid JSON when the run is interrupted (SIGINT).
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>
#include <unistd.h>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

struct Span {
  std::string track;
  std::string name;
  uint64_t cycle;
  unsigned line;
  bool operator==(const Span& o) const {
    return std::tie(track, name, cycle, line) == std::tie(o.track, o.name, o.cycle, o.line);
  }
};

std::ostream& operator<<(std::ostream& out, const Span& s) {
  return out << s.track << " " << s.name << " @" << s.cycle << " line " << s.line;
}

nlohmann::json trace_of(const std::string& args) {
  const auto trace = scratch_dir() / "trace.json";
  const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --quiet --trace " +
                                          trace.string() + " " + args);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  return nlohmann::json::parse(slurp(trace));
}

// The spans of a trace, with their tracks named by the thread_name metadata, in file order.
std::vector<Span> spans(const nlohmann::json& trace) {
  std::map<unsigned, std::string> tracks;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "M" && e.at("name") == "thread_name") tracks[e.at("tid")] = e.at("args").at("name");
  std::vector<Span> out;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "X") {
      CHECK(e.at("dur") == 1);
      out.push_back({tracks.at(e.at("tid")), e.at("name"), e.at("ts"), e.at("args").at("line")});
    }
  return out;
}

std::vector<Span> vector_add_spans(uint64_t first, uint64_t last) {
  // examples/vector_add.tsp: A read by MEM_W10 (line 30) at 0..3, B by MEM_E5 (line 35) at 5..8, the
  // adds (line 40) at 13..16, the Writes at MEM_W20 (line 45) at 35..38 (docs/programs.md).
  std::vector<Span> all;
  for (uint64_t i = 0; i < 4; ++i) all.push_back({"MEM_W10", "Read", i, 30});
  for (uint64_t i = 0; i < 4; ++i) all.push_back({"MEM_E5", "Read", 5 + i, 35});
  for (uint64_t i = 0; i < 4; ++i) all.push_back({"VXM", "add", 13 + i, 40});
  for (uint64_t i = 0; i < 4; ++i) all.push_back({"MEM_W20", "Write", 35 + i, 45});
  std::vector<Span> in;
  for (const auto& s : all)
    if (s.cycle >= first && s.cycle < last) in.push_back(s);
  return in;
}

} // namespace

TEST_CASE("tspsim --trace writes a span per executed instruction with its mnemonic, cycle and source line") {
  const auto trace = trace_of(source("examples/vector_add.tsp"));
  CHECK(spans(trace) == vector_add_spans(0, 1000));
  // One process per chip, one named track per slice of the 14 nm chip (88 MEM, VXM, 4 MXM, 2 SXM).
  unsigned threads = 0;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "process_name")
      CHECK(e.at("args").at("name") == "chip 0 (groq-tsp-gen1-14nm)");
    threads += e.at("ph") == "M" && e.at("name") == "thread_name";
  }
  CHECK(threads == 95);
  // Latency (dispatch to result) of the Reads (mem_read_func 2) and the int8 adds (vxm_int_add 1).
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "X" && e.at("name") == "Read") CHECK(e.at("args").at("latency") == 2);
    if (e.at("ph") == "X" && e.at("name") == "add") CHECK(e.at("args").at("latency") == 1);
  }
}

TEST_CASE("tspsim --trace has utilisation counters per unit: busy slices of the unit per cycle window") {
  const auto trace = trace_of(source("examples/vector_add.tsp"));
  std::map<uint64_t, nlohmann::json> counters;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "C") counters[e.at("ts")] = e.at("args");
  // 39 active cycles (0..38): one sample per cycle, then zeros at 39.
  REQUIRE(counters.size() == 40);
  CHECK(counters.at(0).at("MEM") == Approx(1.0 / 88)); // MEM_W10 alone
  CHECK(counters.at(5).at("MEM") == Approx(2.0 / 88)); // MEM_W10's last stream write, MEM_E5's first Read
  CHECK(counters.at(13).at("VXM") == Approx(1.0));
  CHECK(counters.at(20).at("VXM") == Approx(0.0));
  CHECK(counters.at(39).at("MEM") == Approx(0.0));
  CHECK(counters.at(13).at("MXM") == Approx(0.0));
}

TEST_CASE("tspsim --trace-window FIRST:LAST keeps only the spans that start in those cycles") {
  const auto trace = trace_of("--trace-window 5:14 " + source("examples/vector_add.tsp"));
  CHECK(spans(trace) == vector_add_spans(5, 14));
  CHECK(spans(trace).size() == 5);
}

TEST_CASE("tspsim --trace-window without --trace or malformed is a one-line error") {
  const std::string config =
      "--config " + source("configs/14nm.json") + " " + source("examples/vector_add.tsp");
  auto run = run_tool("tspsim", config + " --trace-window 0:10");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --trace-window needs --trace FILE or --vcd FILE\n");
  run =
      run_tool("tspsim", config + " --trace " + (scratch_dir() / "t.json").string() + " --trace-window 10:5");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --trace-window 10:5: expected FIRST:LAST cycles with FIRST < LAST, e.g. 0:1000\n");
  CHECK(!std::filesystem::exists(scratch_dir() / "t.json"));
  // An unwritable trace is found before the run: no summary is printed.
  run = run_tool("tspsim", config + " --trace /nonexistent/dir/t.json");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --trace: cannot write '/nonexistent/dir/t.json': No such file or directory\n");
  CHECK(run.out.empty());
}

namespace {

// Runs tspsim with `args`, sends SIGINT once it is simulating and returns its exit status; stderr
// goes to `err`.
int interrupted_run(const std::vector<std::string>& args, const std::string& err) {
  std::vector<std::string> argv = {tsp::test::tool("tspsim")};
  argv.insert(argv.end(), args.begin(), args.end());
  // Closed by a successful execv (O_CLOEXEC): until then the child is a copy of this process,
  // whose SIGINT handler (Catch's) would pass for tspsim's below.
  int exec_pipe[2];
  REQUIRE(pipe2(exec_pipe, O_CLOEXEC) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(exec_pipe[0]);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(e, 2);
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  close(exec_pipe[1]);
  char byte = 0;
  while (read(exec_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  close(exec_pipe[0]);
  // tspsim installs its SIGINT handler just before the run (bit 2 of SigCgt); a signal sent
  // earlier would kill it.
  const auto catches_sigint = [&] {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("SigCgt:", 0) == 0)
        return ((std::stoull(line.substr(7), nullptr, 16) >> (SIGINT - 1)) & 1) != 0;
    return false;
  };
  const auto started = std::chrono::steady_clock::now();
  while (!catches_sigint() && std::chrono::steady_clock::now() - started < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(kill(pid, SIGINT) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

// The start cycles of the trace's spans of category `cat` (any when empty), sorted.
std::vector<uint64_t> span_cycles(const nlohmann::json& trace, const std::string& cat = "") {
  std::vector<uint64_t> cycles;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "X" && (cat.empty() || e.at("cat") == cat)) cycles.push_back(e.at("ts"));
  std::sort(cycles.begin(), cycles.end());
  return cycles;
}

} // namespace

TEST_CASE("an interrupted run (SIGINT) still writes a valid trace of what it simulated") {
  // Four MEM queues reading every 400 cycles, 16 million times each (about 6.7e9 cycles).
  const auto program = scratch_dir() / "long.tsp";
  {
    std::ofstream text(program);
    const char* streams[] = {"E0", "E1", "W0", "W1"};
    for (unsigned k = 0; k < 4; ++k)
      text << ".queue MEM_W" << 10 * k << "\n    NOP " << k + 1 << "\n    Read 0, " << streams[k]
           << "\n    Repeat 16777215, 400, 0\n";
  }
  const auto trace = scratch_dir() / "long.json";
  const auto stats = scratch_dir() / "long.stats.json";
  const std::string err = (scratch_dir() / "long.err").string();
  const int status = interrupted_run({"--config", source("configs/14nm.json"), "--timing-only", "--quiet",
                                      "--trace", trace.string(), "--trace-window", "0:2000", "--stats-json",
                                      stats.string(), program.string()},
                                     err);
  INFO("stderr: " << slurp(err));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  const auto j = nlohmann::json::parse(slurp(trace)); // throws if the file is not valid JSON
  REQUIRE(nlohmann::json::parse(slurp(stats)).at("partial") == true);
  REQUIRE(nlohmann::json::parse(slurp(stats)).at("cycles") > 2000);
  // Queue k reads at k + 1 + 400 j: five Reads each in cycles [0, 2000).
  std::vector<uint64_t> expected;
  for (uint64_t r = 0; r < 5; ++r)
    for (uint64_t k = 0; k < 4; ++k) expected.push_back(k + 1 + 400 * r);
  CHECK(span_cycles(j) == expected);
}

TEST_CASE("an interrupted system run (SIGINT) still writes a valid trace of every chip and link") {
  // Chip 0 sends a vector on link 0 every 400 cycles, 16 million times; chip 1 receives each 216
  // cycles after its Send.
  const auto program = scratch_dir() / "long-system.tsp";
  std::ofstream(program)
      << ".chip 0\n.queue MEM_E40\n  Read 0, E0\n  Repeat 16777215, 400, 0\n"
         ".queue SXM_E.0\n  NOP 6\n  Send 0, E0\n  Repeat 16777215, 400, 0\n"
         ".chip 1\n.queue SXM_E.1\n  NOP 222\n  Receive 0, W0\n  Repeat 16777215, 400, 0\n";
  const auto trace = scratch_dir() / "long-system.json";
  const auto stats = scratch_dir() / "long-system.stats.json";
  const std::string err = (scratch_dir() / "long-system.err").string();
  const int status = interrupted_run({"--config", source("configs/14nm.json"), "--system",
                                      source("configs/systems/two_chips.json"), "--timing-only", "--quiet",
                                      "--trace", trace.string(), "--trace-window", "0:2000", "--stats-json",
                                      stats.string(), program.string()},
                                     err);
  INFO("stderr: " << slurp(err));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  REQUIRE(nlohmann::json::parse(slurp(stats)).at("partial") == true);
  REQUIRE(nlohmann::json::parse(slurp(stats)).at("cycles") > 2000);
  const auto j = nlohmann::json::parse(slurp(trace)); // throws if the file is not valid JSON
  // Five Sends in [0, 2000) at 6 + 400 r, each a link span; Receives at 222 + 400 r.
  CHECK(span_cycles(j, "link") == std::vector<uint64_t>{6, 406, 806, 1206, 1606});
  CHECK(span_cycles(j, "SXM") == std::vector<uint64_t>{6, 222, 406, 622, 806, 1022, 1206, 1422, 1606, 1822});
}
