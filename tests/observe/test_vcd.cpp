// tspsim --vcd: the waveform through SystemC's VCD tracing, parsed back: header, $var declarations
// and the value changes at the simulated times of their cycles, although the fused scheduler
// skips the idle cycles in between.
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <map>
#include <sstream>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

struct Vcd {
  std::string timescale;
  std::map<std::string, std::string> names;                              // id -> scope.name
  std::map<std::string, std::vector<std::pair<uint64_t, char>>> changes; // scope.name -> (time, value)
};

Vcd parse_vcd(const std::string& text) {
  Vcd vcd;
  std::istringstream in(text);
  std::vector<std::string> scopes;
  std::string word;
  uint64_t time = 0;
  bool definitions = true;
  while (in >> word) {
    if (definitions) {
      if (word == "$timescale") {
        std::string value, unit;
        in >> value >> unit;
        vcd.timescale = value + " " + unit;
      } else if (word == "$scope") {
        std::string kind, name;
        in >> kind >> name;
        scopes.push_back(name);
      } else if (word == "$upscope") {
        scopes.pop_back();
      } else if (word == "$var") {
        std::string kind, width, id, name;
        in >> kind >> width >> id >> name;
        REQUIRE(width == "1");
        vcd.names[id] = scopes.back() + "." + name;
      } else if (word == "$enddefinitions") {
        definitions = false;
      }
      continue;
    }
    if (word[0] == '#') {
      time = std::stoull(word.substr(1));
    } else if ((word[0] == '0' || word[0] == '1') && vcd.names.count(word.substr(1))) {
      vcd.changes[vcd.names.at(word.substr(1))].push_back({time, word[0]});
    }
  }
  return vcd;
}

using Changes = std::vector<std::pair<uint64_t, char>>;

// Every signal that leaves 0, with its changes after the initial dump of 0, as text.
std::string changed_signals(const Vcd& vcd) {
  std::string out;
  for (const auto& [name, changes] : vcd.changes) {
    Changes kept = changes;
    if (!kept.empty() && kept[0] == std::make_pair(uint64_t(0), '0')) kept.erase(kept.begin());
    if (kept.empty()) continue;
    out += name + ":";
    for (const auto& [time, value] : kept) out += " " + std::to_string(time) + "=" + value;
    out += "\n";
  }
  return out;
}

} // namespace

TEST_CASE("tspsim --vcd traces per-slice busy and per-stream occupancy at the times of their cycles") {
  const auto path = scratch_dir() / "vector_add.vcd";
  const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --vcd " + path.string() +
                                          " " + source("examples/vector_add.tsp"));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.find("cycles              58\n") != std::string::npos);
  CHECK(run.out.find("Info") == std::string::npos); // SystemC's tracing message stays off stdout
  CHECK(!std::filesystem::exists(path.string() + ".tmp.vcd"));
  const Vcd vcd = parse_vcd(slurp(path));
  CHECK(vcd.timescale == "1 ps");
  // A busy bit per slice (95 on the 14 nm chip) and an occupancy bit per stream and direction (2 x 32).
  CHECK(vcd.names.size() == 95 + 64);
  unsigned busy = 0, streams = 0;
  for (const auto& [id, name] : vcd.names) {
    busy += name.rfind("busy.", 0) == 0;
    streams += name.rfind("stream.", 0) == 0;
  }
  CHECK(busy == 95);
  CHECK(streams == 64);
  // 900 MHz: one cycle is 1111 ps. MEM_W10 is busy 0..5 (Reads 0..3, stream writes 2..5), MEM_E5
  // 5..10, the VXM 13..17, MEM_W20 35..38. E0 carries A from MEM_W10 (position 36) from cycle 2 until
  // the last value passes the east edge (position 94) at 5 + 58 = 63; W0 carries B from MEM_E5
  // (position 53) from 7 to 10 + 53 = 63; W1 the sums from the VXM (47) from 14 to 17 + 47 = 64.
  const auto at = [](uint64_t cycle) { return std::to_string(cycle * 1111); };
  // Every other signal stays 0.
  CHECK(changed_signals(vcd) == "busy.MEM_E5: " + at(5) + "=1 " + at(11) +
                                    "=0\n"
                                    "busy.MEM_W10: 0=1 " +
                                    at(6) +
                                    "=0\n"
                                    "busy.MEM_W20: " +
                                    at(35) + "=1 " + at(39) +
                                    "=0\n"
                                    "busy.VXM: " +
                                    at(13) + "=1 " + at(18) +
                                    "=0\n"
                                    "stream.E0: " +
                                    at(2) + "=1 " + at(64) +
                                    "=0\n"
                                    "stream.W0: " +
                                    at(7) + "=1 " + at(64) +
                                    "=0\n"
                                    "stream.W1: " +
                                    at(14) + "=1 " + at(65) + "=0\n");
}

TEST_CASE("tspsim --vcd with --trace-window traces only the activity of those cycles") {
  const auto path = scratch_dir() / "window.vcd";
  const auto run =
      run_tool("tspsim", "--config " + source("configs/14nm.json") + " --quiet --trace-window 13:20 --vcd " +
                             path.string() + " " + source("examples/vector_add.tsp"));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  // The adds and their results only; the sums still travel to the west edge (cycle 64).
  CHECK(changed_signals(parse_vcd(slurp(path))) == "busy.VXM: 14443=1 19998=0\nstream.W1: 15554=1 72215=0\n");
}

TEST_CASE("tspsim --vcd to a directory that does not exist is a one-line error before the run") {
  const auto run =
      run_tool("tspsim", "--config " + source("configs/14nm.json") + " --vcd /nonexistent/dir/w.vcd " +
                             source("examples/vector_add.tsp"));
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --vcd: cannot write '/nonexistent/dir/w.vcd': No such file or directory\n");
  CHECK(run.out.empty());
}
