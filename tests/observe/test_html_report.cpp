// tspsim --report DIR: a self-contained HTML page, rendered in headless Chromium (Debian's chromium
// package, installed by tools/scripts/install-deps.sh). The page's own script measures every chart
// after layout (marks drawn, their rendered area) into <pre id="render-check">, which the DOM dump
// shows. Without chromium this test fails: it is a dependency, not an option.
#include "cli_harness.h"
#include "tspsim/config/system.h"
#include "tspsim/program/system_program.h"

#include <catch2/catch.hpp>
#include <cstdlib>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

// The text of <pre id="render-check"> in the DOM that headless Chromium built for `page`.
std::string rendered_check(const std::filesystem::path& page) {
  REQUIRE(std::system("command -v chromium >/dev/null 2>&1") ==
          0); // tools/scripts/install-deps.sh installs it
  const auto dom = scratch_dir() / "dom.html";
  const std::string command = "chromium --headless --no-sandbox --disable-gpu --user-data-dir=" +
                              (scratch_dir() / "chromium-profile").string() + " --dump-dom file://" +
                              page.string() + " >" + dom.string() + " 2>" +
                              (scratch_dir() / "chromium.err").string();
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
  const std::string text = slurp(dom);
  const std::string open = "<pre id=\"render-check\">";
  const auto begin = text.find(open);
  REQUIRE(begin != std::string::npos);
  const auto end = text.find("</pre>", begin);
  return text.substr(begin + open.size(), end - begin - open.size());
}

} // namespace

TEST_CASE("tspsim --report writes one self-contained page whose charts all render non-empty") {
  const auto dir = scratch_dir() / "report";
  const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --quiet --report " +
                                          dir.string() + " " + source("examples/vector_add.tsp"));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const std::string html = slurp(dir / "index.html");
  // Nothing is fetched: no src or href attributes, no URL but the SVG namespace.
  CHECK(html.find(" src=") == std::string::npos);
  CHECK(html.find(" href=") == std::string::npos);
  CHECK(html.find("http") == html.find("http://www.w3.org/2000/svg"));
  CHECK(html.find("<td>58</td>") != std::string::npos); // the stats table's cycles
  // vector_add: 21 busy slice-cycles (16 MEM, 5 VXM), each a heatmap cell of one cycle; a line per
  // unit; 5 mnemonics (Read, Write, add, NOP, Repeat); a line per stream direction; 11 table rows.
  CHECK(rendered_check(dir / "index.html") == "heatmap marks=21 area=positive\n"
                                              "unit-utilisation marks=4 area=positive\n"
                                              "instruction-mix marks=5 area=positive\n"
                                              "stream-occupancy marks=2 area=positive\n"
                                              "stats-table rows=11");
}

TEST_CASE("tspsim --report on a long run merges time windows so the page stays small") {
  const auto dir = scratch_dir() / "report-gemm";
  const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --quiet --report " +
                                          dir.string() + " " + source("examples/gemm_f16.tsp"));
  REQUIRE(run.exit_code == 0);
  const std::string html = slurp(dir / "index.html");
  // 1404 cycles in at most 128 windows: 16 cycles each.
  CHECK(html.find("window of 16 cycles") != std::string::npos);
  CHECK(html.size() < 200000);
  const std::string check = rendered_check(dir / "index.html");
  CHECK(check.find("area=zero") == std::string::npos);
  CHECK(check.find("marks=0") == std::string::npos);
}

TEST_CASE("tspsim --report onto a file is a one-line error before the run") {
  const auto file = scratch_dir() / "not-a-dir";
  std::ofstream(file) << "x";
  const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --report " +
                                          file.string() + " " + source("examples/vector_add.tsp"));
  CHECK(run.exit_code == 2);
  CHECK(run.err == "error: --report: cannot write '" + file.string() + "': not a directory\n");
  CHECK(run.out.empty());
}

TEST_CASE(
    "tspsim --system --report: system figures, a per-chip breakdown and link charts, then chip 0's charts") {
  const auto dir = scratch_dir() / "report-system";
  const auto run =
      run_tool("tspsim", "--config " + source("configs/14nm.json") + " --system " +
                             source("configs/systems/two_chips.json") + " --quiet --report " + dir.string() +
                             " " + source("examples/systems/two_chip_pingpong.tsp"));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const std::string html = slurp(dir / "index.html");
  CHECK(html.find(" src=") == std::string::npos);
  CHECK(html.find(" href=") == std::string::npos);
  CHECK(html.find("<tr><th>cycles</th><td>334</td></tr>") != std::string::npos);
  // Chip 0 sends 4 vectors of 20 cycles on link 0: 80 of 334 cycles.
  CHECK(html.find("23.95%: 4 vectors, 80 busy cycles") != std::string::npos);
  CHECK(html.find("<h2>chip 0 (groq-tsp-gen1-14nm)</h2>") != std::string::npos);
  // Per chip: MEM and SXM are busy on both chips (4 bars); one of the 4 cabled link directions
  // carries traffic; chip 0's own charts: 12 busy slice-cycles (MEM_E40 reads at 20r and puts
  // its row two cycles later, SXM_E sends at 6 + 20r) in windows of one cycle, Read, Send, NOP
  // and Repeat, a line per stream direction; its table has a C2C row.
  CHECK(rendered_check(dir / "index.html") == "chip-units marks=4 area=positive\n"
                                              "link-utilisation marks=1 area=positive\n"
                                              "link-occupancy marks=1 area=positive\n"
                                              "heatmap marks=12 area=positive\n"
                                              "unit-utilisation marks=4 area=positive\n"
                                              "instruction-mix marks=4 area=positive\n"
                                              "stream-occupancy marks=2 area=positive\n"
                                              "system-table rows=10\n"
                                              "chip-table rows=3\n"
                                              "stats-table rows=12");
}

TEST_CASE("tspsim --system --report of an all-reduce on node8: every chip and link direction is charted") {
  const auto program = scratch_dir() / "ar.bin";
  const std::string node = source("configs/systems/node8.json");
  const auto compiled =
      run_tool("tspc", "collective --system " + node +
                           " --kind all-reduce --rows 16 --cols 320 --dtype fp32 -o " + program.string());
  INFO(compiled.err);
  REQUIRE(compiled.exit_code == 0);
  const auto dir = scratch_dir() / "report-node8";
  const auto run =
      run_tool("tspsim", "--config " + source("configs/14nm.json") + " --system " + node +
                             " --quiet --report-chip 5 --report " + dir.string() + " " + program.string());
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const std::string html = slurp(dir / "index.html");
  CHECK(html.find("<h2>chip 5 (groq-tsp-gen1-14nm)</h2>") != std::string::npos);
  const std::string check = rendered_check(dir / "index.html");
  // Each chip reads and writes MEM, adds on the VXM and sends and receives through the SXM (3 bars
  // each); each of the 8 x 7 cabled link directions carries shards.
  CHECK(check.find("chip-units marks=24 area=positive\n") != std::string::npos);
  CHECK(check.find("link-utilisation marks=56 area=positive\n") != std::string::npos);
  CHECK(check.find("link-occupancy marks=1 area=positive\n") != std::string::npos);
  CHECK(check.find("chip-table rows=9\n") != std::string::npos);
  CHECK(check.find("area=zero") == std::string::npos);
  CHECK(check.find("marks=0") == std::string::npos);
}

TEST_CASE("tspsim --system --report of a replicated chip says from which chip its figures are") {
  const auto program = scratch_dir() / "mirror.tsp";
  std::ofstream(program) << ".chip 0-1\n.tensor A i8 1x320 slices=MEM_E40 base=0 init=random(5)\n"
                            ".queue MEM_E40\n  Read 0, E0\n.queue SXM_E.0\n  NOP 6\n  Send 0, E0\n"
                            ".queue SXM_E.1\n  NOP 222\n  Receive 0, W0\n";
  const auto dir = scratch_dir() / "report-mirror";
  const auto run = run_tool("tspsim", "--config " + source("configs/14nm.json") + " --system " +
                                          source("configs/systems/two_chips.json") +
                                          " --timing-only --quiet --report-chip 1 --report " + dir.string() +
                                          " " + program.string());
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const std::string html = slurp(dir / "index.html");
  CHECK(html.find("<h2>chip 1 (groq-tsp-gen1-14nm), replicated from chip 0</h2>") != std::string::npos);
  CHECK(html.find("<tr><td>1</td><td>replicated from chip 0</td>") != std::string::npos);
  CHECK(html.find("1 of 2 chips were not simulated on their own") != std::string::npos);
  const std::string check = rendered_check(dir / "index.html");
  CHECK(check.find("chip-units marks=4 area=positive\n") != std::string::npos);
  CHECK(check.find("link-utilisation marks=2 area=positive\n") != std::string::npos);
  CHECK(check.find("heatmap marks=0") == std::string::npos);
}

TEST_CASE("tspsim --report of a decode step charts its per-layer breakdown") {
  const auto dir = scratch_dir() / "report-llama";
  const auto program = (scratch_dir() / "step.bin").string();
  const std::string config = " --config " + source("configs/14nm.json");
  REQUIRE(run_tool("tspc",
                   "llama --model " + source("configs/models/tiny-llama.json") + config + " -o " + program)
              .exit_code == 0);
  const auto run = run_tool("tspsim", program + config + " --quiet --report " + dir.string());
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  // A segment per category with cycles, and idle, per group: embedding (matrix, idle), each layer
  // (matrix, attention, norms+activations, idle), head (matrix, norms+activations, idle).
  const std::string check = rendered_check(dir / "index.html");
  CHECK(check.find("layer-breakdown marks=13 area=positive\n") != std::string::npos);
  CHECK(check.find("marks=0") == std::string::npos);
}

TEST_CASE("tspsim --system --report of decode steps charts the per-chip and the chip's per-layer breakdown") {
  const auto dir = scratch_dir();
  const std::string config = " --config " + source("configs/14nm.json");
  const auto step = (dir / "step.bin").string();
  REQUIRE(
      run_tool("tspc", "llama --model " + source("configs/models/tiny-llama.json") + config + " -o " + step)
          .exit_code == 0);
  // Both chips of two_chips run the step.
  const auto system = tsp::load_system(source("configs/systems/two_chips.json"));
  tsp::SystemProgram both;
  both.system_fingerprint = tsp::system_fingerprint(system);
  both.system_name = system.name;
  both.programs.push_back(tsp::read_program(step));
  both.chip_program = {0, 0};
  both.metadata = both.programs[0].metadata;
  both.metadata.chips = 2;
  const auto program = (dir / "both.bin").string();
  tsp::write_system_program(both, program);
  const auto report = dir / "report-system-llama";
  const auto run =
      run_tool("tspsim", program + config + " --system " + source("configs/systems/two_chips.json") +
                             " --timing-only --quiet --report " + report.string() + " --report-chip 1");
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  // Per chip: matrix, attention, norms+activations and idle have cycles (4 segments, 2 chips);
  // chip 1's layers as in the one-chip report.
  const std::string check = rendered_check(report / "index.html");
  CHECK(check.find("chip-breakdown marks=8 area=positive\n") != std::string::npos);
  CHECK(check.find("layer-breakdown marks=13 area=positive\n") != std::string::npos);
  // No chip sends anything: the link charts are empty, as for any program without link traffic.
  CHECK(check.find("link-utilisation marks=0 area=zero\n") != std::string::npos);
}
