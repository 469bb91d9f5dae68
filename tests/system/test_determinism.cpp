// Determinism: the same program and config give bit-identical results run after run and in every
// scheduling mode. Every bundled example runs through tspsim three times (fast, fast again,
// --debug-clock) and once more --timing-only; the statistics JSON, the utilisation trace, every
// symbol's dump and the summary must match byte for byte. Only host_seconds and mode may differ
// (and, in the summary, the lines that print them).
#include "cli_harness.h"
#include "tspsim/program/assembler.h"
#include "tspsim/config/config.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

struct Outputs {
  std::string stats;   // the statistics JSON without host_seconds and mode
  std::string summary; // stdout without the host and mode lines
  std::string csv;
  std::vector<std::string> dumps;
};

std::string without_lines_starting(const std::string& text, const std::vector<std::string>& prefixes) {
  std::istringstream in(text);
  std::string out, line;
  while (std::getline(in, line))
    if (std::none_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return line.rfind(p, 0) == 0; }))
      out += line + '\n';
  return out;
}

Outputs run(const std::string& program, const std::vector<std::string>& symbols, const std::string& flags,
            const std::string& tag) {
  const fs::path dir = scratch_dir() / tag;
  fs::create_directories(dir);
  std::string args = "--config " + source("configs/14nm.json") + " " + program + " " + flags +
                     " --stats-json " + (dir / "stats.json").string() + " --util-csv " +
                     (dir / "util.csv").string() + " --util-window 16";
  const bool dumps = flags.find("--timing-only") == std::string::npos;
  if (dumps)
    for (const auto& s : symbols) args += " --dump " + s + "=" + (dir / (s + ".bin")).string();
  const auto r = run_tool("tspsim", args);
  INFO("tspsim " << args << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  Outputs o;
  auto stats = nlohmann::json::parse(slurp(dir / "stats.json"));
  REQUIRE(stats.at("host_seconds").is_number());
  stats.erase("host_seconds");
  stats.erase("mode");
  o.stats = stats.dump(1);
  // --debug-clock ends with sc_stop(), after which SystemC prints this note first.
  const std::string note = "\nInfo: /OSCI/SystemC: Simulation stopped by user.\n";
  const bool noted = r.out.rfind(note, 0) == 0;
  CHECK(noted == (flags == "--debug-clock"));
  o.summary = without_lines_starting(r.out.substr(noted ? note.size() : 0), {"host ", "mode "});
  o.csv = slurp(dir / "util.csv");
  if (dumps)
    for (const auto& s : symbols) o.dumps.push_back(slurp(dir / (s + ".bin")));
  return o;
}

std::vector<fs::path> examples() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(source("examples")))
    if (entry.path().extension() == ".tsp") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

TEST_CASE(
    "every example gives bit-identical outputs across runs and fast, debug-clock and timing-only modes") {
  const auto config = tsp::load_config(source("configs/14nm.json"));
  const auto files = examples();
  REQUIRE(files.size() >= 2);
  for (const auto& file : files) {
    INFO("example " << file.filename().string());
    std::vector<std::string> symbols;
    for (const auto& s : tsp::assemble_file(file, config).symbols) symbols.push_back(s.name);
    REQUIRE_FALSE(symbols.empty());
    const std::string name = file.stem().string();
    const Outputs first = run(file.string(), symbols, "", name + "-fast1");
    const Outputs second = run(file.string(), symbols, "", name + "-fast2");
    const Outputs debug = run(file.string(), symbols, "--debug-clock", name + "-debug");
    const Outputs timing = run(file.string(), symbols, "--timing-only", name + "-timing");

    // The trace is not trivially empty: a program does some work in its first window.
    CHECK(first.csv.find("\n0,16,") != std::string::npos);
    CHECK(second.stats == first.stats);
    CHECK(second.summary == first.summary);
    CHECK(second.csv == first.csv);
    CHECK(second.dumps == first.dumps);
    CHECK(debug.stats == first.stats);
    CHECK(debug.summary == first.summary);
    CHECK(debug.csv == first.csv);
    CHECK(debug.dumps == first.dumps);
    // Timing-only skips the data but no timing rule: the same cycles, counts and trace.
    CHECK(timing.stats == first.stats);
    CHECK(timing.csv == first.csv);
  }
}
