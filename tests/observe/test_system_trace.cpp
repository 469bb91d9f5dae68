// tspsim --system --trace: a process per chip with its slice spans, a track per link with a span per
// vector serialised (exact cycles from the link model of docs/systems.md), link counters, the trace
// window, and replicated chips named as such.
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

struct Span {
  unsigned chip;
  std::string track;
  std::string name;
  uint64_t cycle;
  uint64_t duration;
  unsigned line;
  bool operator==(const Span& o) const {
    return std::tie(chip, track, name, cycle, duration, line) ==
           std::tie(o.chip, o.track, o.name, o.cycle, o.duration, o.line);
  }
  bool operator<(const Span& o) const {
    return std::tie(chip, track, cycle, name) < std::tie(o.chip, o.track, o.cycle, o.name);
  }
};

std::ostream& operator<<(std::ostream& out, const Span& s) {
  return out << "chip " << s.chip << " " << s.track << " " << s.name << " @" << s.cycle << "+" << s.duration
             << " line " << s.line;
}

const std::string kTwoChips = source("configs/systems/two_chips.json");

nlohmann::json system_trace(const std::string& args) {
  const auto trace = scratch_dir() / "system-trace.json";
  const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --system " + kTwoChips +
                                          " --quiet --trace " + trace.string() + " " + args);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  return nlohmann::json::parse(slurp(trace));
}

// Track names by (pid, tid).
std::map<std::pair<unsigned, unsigned>, std::string> tracks(const nlohmann::json& trace) {
  std::map<std::pair<unsigned, unsigned>, std::string> out;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "M" && e.at("name") == "thread_name")
      out[{e.at("pid").get<unsigned>(), e.at("tid").get<unsigned>()}] = e.at("args").at("name");
  return out;
}

std::map<unsigned, std::string> processes(const nlohmann::json& trace) {
  std::map<unsigned, std::string> out;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "M" && e.at("name") == "process_name") out[e.at("pid")] = e.at("args").at("name");
  return out;
}

// Spans of category `cat` (slice spans have their unit as category), sorted.
std::vector<Span> spans(const nlohmann::json& trace, bool links) {
  const auto names = tracks(trace);
  std::vector<Span> out;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") != "X" || (e.at("cat") == "link") != links || e.at("cat") == "replication") continue;
    const unsigned pid = e.at("pid"), tid = e.at("tid");
    out.push_back(
        {pid, names.at({pid, tid}), e.at("name"), e.at("ts"), e.at("dur"), e.at("args").at("line")});
  }
  std::sort(out.begin(), out.end());
  return out;
}

// examples/systems/two_chip_pingpong.tsp: chip 0 reads row r at MEM_E40 (line 23) at 20r and sends
// it on link 0 (SXM_E, line 27) at 6 + 20r; chip 1 receives (line 36) at 250 + 20r and MEM_E41
// writes (line 40) at 254 + 20r.
std::vector<Span> pingpong_slice_spans(uint64_t first, uint64_t last) {
  std::vector<Span> all;
  for (uint64_t r = 0; r < 4; ++r) {
    all.push_back({0, "MEM_E40", "Read", 20 * r, 1, 23});
    all.push_back({0, "SXM_E", "Send", 6 + 20 * r, 1, 27});
    all.push_back({1, "SXM_E", "Receive", 250 + 20 * r, 1, 36});
    all.push_back({1, "MEM_E41", "Write", 254 + 20 * r, 1, 40});
  }
  std::vector<Span> in;
  for (const auto& s : all)
    if (s.cycle >= first && s.cycle < last) in.push_back(s);
  std::sort(in.begin(), in.end());
  return in;
}

} // namespace

TEST_CASE(
    "tspsim --system --trace: a process per chip with its slice spans and a span per vector on a link") {
  const auto trace = system_trace(source("examples/systems/two_chip_pingpong.tsp"));
  CHECK(processes(trace) == std::map<unsigned, std::string>{{0, "chip 0 (groq-tsp-gen1-14nm)"},
                                                            {1, "chip 1 (groq-tsp-gen1-14nm)"}});
  CHECK(spans(trace, false) == pingpong_slice_spans(0, 1000));
  // Each Send reads its stream in its dispatch cycle (sxm_skew 0) and the link serialises the 320-byte
  // vector for c2c_vector_cycles = ceil(2560 bits / 120 Gb/s x 900 MHz) = 20 cycles; it is receivable at
  // chip 1 c2c_link = 216 cycles after the dispatch.
  std::vector<Span> expected;
  for (uint64_t r = 0; r < 4; ++r)
    expected.push_back({0, "link 0 to chip 1 link 0", "to chip 1", 6 + 20 * r, 20, 27});
  CHECK(spans(trace, true) == expected);
  std::vector<uint64_t> arrivals;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "X" && e.at("cat") == "link") {
      arrivals.push_back(e.at("args").at("arrival"));
      CHECK(e.at("args").at("to") == "chip 1 link 0");
      CHECK(e.at("args").at("serialisation") == 20);
      CHECK(e.at("args").at("queue") == "SXM_E.0");
    }
  CHECK(arrivals == std::vector<uint64_t>{222, 242, 262, 282});
  // Both chips have a track per cabled link (two_chips cables links 0 and 1 of each chip) after their
  // 95 slice tracks (tids 1..95) and the place of a replication track (96).
  const auto names = tracks(trace);
  CHECK(names.at({0, 97}) == "link 0 to chip 1 link 0");
  CHECK(names.at({0, 98}) == "link 1 to chip 1 link 1");
  CHECK(names.at({1, 97}) == "link 0 to chip 0 link 0");
  CHECK(names.size() == 2 * (95 + 2));
}

TEST_CASE("tspsim --system --trace: per chip, counters of unit utilisation and of busy links") {
  const auto trace = system_trace(source("examples/systems/two_chip_pingpong.tsp"));
  std::map<std::pair<unsigned, uint64_t>, double> links, sxm;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") != "C") continue;
    const std::pair<unsigned, uint64_t> at{e.at("pid"), e.at("ts")};
    if (e.at("name") == "links") links[at] = e.at("args").at("busy");
    if (e.at("name") == "utilisation") sxm[at] = e.at("args").at("SXM");
  }
  // Chip 0: one of its two cabled links serialises in [6 + 20r, 26 + 20r): busy 1/2 in cycles 6..85, and
  // the counters (one cycle per sample in a short run) end at 86.
  CHECK(links.at({0, 5}) == 0.0);
  CHECK(links.at({0, 6}) == 0.5);
  CHECK(links.at({0, 85}) == 0.5);
  CHECK(links.at({0, 86}) == 0.0);
  CHECK(links.count({0, 87}) == 0);
  // Chip 1 sends nothing: its link counters stay at zero.
  for (const auto& [at, busy] : links)
    if (at.first == 1) CHECK(busy == 0.0);
  // One of the two SXM slices is busy while a Send or Receive is dispatched.
  CHECK(sxm.at({0, 6}) == 0.5);
  CHECK(sxm.at({1, 250}) == 0.5);
}

TEST_CASE("tspsim --system --trace-window keeps the spans of every chip and link that start in the window") {
  const auto trace =
      system_trace("--trace-window 20:260 " + source("examples/systems/two_chip_pingpong.tsp"));
  CHECK(spans(trace, false) == pingpong_slice_spans(20, 260));
  std::vector<uint64_t> links;
  for (const auto& s : spans(trace, true)) links.push_back(s.cycle);
  CHECK(links == std::vector<uint64_t>{26, 46, 66});
}

TEST_CASE("tspsim --system --trace: a replicated chip says from which chip, with its own link spans") {
  // Both chips run the same program (send A on link 0 at 6, receive on link 0 at 222 into B): with
  // --timing-only chip 1 is proven identical to chip 0 and is not simulated on its own.
  const auto program = scratch_dir() / "mirror.tsp";
  std::ofstream(program)
      << ".chip 0-1\n.tensor A i8 1x320 slices=MEM_E40 base=0 init=random(5)\n"
         ".tensor B i8 1x320 slices=MEM_E41 base=0 init=zeros\n"
         ".queue MEM_E40\n  Read 0, E0\n.queue SXM_E.0\n  NOP 6\n  Send 0, E0\n"
         ".queue SXM_E.1\n  NOP 222\n  Receive 0, W0\n.queue MEM_E41\n  NOP 226\n  Write 0, W0\n";
  const auto trace = system_trace("--timing-only " + program.string());
  CHECK(processes(trace).at(1) == "chip 1 (groq-tsp-gen1-14nm), replicated from chip 0");
  // Chip 1 has no slice tracks, a replication track with one span over its run, and its link tracks.
  const auto names = tracks(trace);
  CHECK(names.at({1, 96}) == "replication");
  CHECK(names.at({1, 97}) == "link 0 to chip 0 link 0");
  CHECK(names.at({1, 98}) == "link 1 to chip 0 link 1");
  CHECK(names.count({1, 1}) == 0);
  unsigned replication_spans = 0;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "X" && e.at("cat") == "replication") {
      ++replication_spans;
      CHECK(e.at("pid") == 1);
      CHECK(e.at("name") == "same as chip 0");
      CHECK(e.at("ts") == 0);
      CHECK(e.at("dur") == 227); // the last Write at 226
      CHECK(e.at("args").at("replicated_from") == 0);
    }
  CHECK(replication_spans == 1);
  CHECK(spans(trace, false) == std::vector<Span>{{0, "MEM_E40", "Read", 0, 1, 5},
                                                 {0, "MEM_E41", "Write", 226, 1, 14},
                                                 {0, "SXM_E", "Send", 6, 1, 8},
                                                 {0, "SXM_E", "Receive", 222, 1, 11}});
  CHECK(spans(trace, true) == std::vector<Span>{{0, "link 0 to chip 1 link 0", "to chip 1", 6, 20, 8},
                                                {1, "link 0 to chip 0 link 0", "to chip 0", 6, 20, 8}});
}

TEST_CASE("tspsim --system: --vcd and --report-chip out of range are one-line errors") {
  const std::string base = "--config " + source("configs/14nm.json") + " --system " + kTwoChips + " " +
                           source("examples/systems/two_chip_pingpong.tsp");
  auto run = run_tool("tspsim", base + " --report " + (scratch_dir() / "r").string() + " --report-chip 2");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --report-chip 2: the system has chips 0 to 1\n");
  run = run_tool("tspsim", base + " --report-chip 1");
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --report-chip needs --report DIR\n");
  run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --report-chip 0 " +
                               source("examples/vector_add.tsp"));
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --report-chip picks a chip of a --system run\n");
}

TEST_CASE("tspsim --system --activity-log: a replicated chip's lines equal those of its own simulation") {
  // The mirror program of the case above: chip 1 replicated from chip 0, or simulated on its own.
  const auto program = scratch_dir() / "mirror-log.tsp";
  std::ofstream(program) << ".chip 0-1\n.tensor A i8 1x320 slices=MEM_E40 base=0 init=random(5)\n"
                            ".queue MEM_E40\n  Read 0, E0\n.queue SXM_E.0\n  NOP 6\n  Send 0, E0\n"
                            ".queue SXM_E.1\n  NOP 222\n  Receive 0, W0\n";
  const auto log = [&](const std::string& extra) {
    const auto path = scratch_dir() / "mirror.activity";
    const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --system " + kTwoChips +
                                            " --timing-only --quiet --activity-log " + path.string() + " " +
                                            extra + " " + program.string());
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    return slurp(path);
  };
  const std::string replicated = log("");
  CHECK(replicated == log("--no-replicate"));
  CHECK(replicated.find("6 chip 1 link 0 send to chip 0 link 0 arrival 222 until 26 line 7\n") !=
        std::string::npos);
  CHECK(replicated.find("222 chip 1 SXM_E run Receive line 10\n") != std::string::npos);
}
