// tspsim --report DIR: a self-contained HTML page, rendered in headless Chromium (Debian's chromium
// package, installed by tools/scripts/install-deps.sh). The page's own script measures every chart
// after layout (marks drawn, their rendered area) into <pre id="render-check">, which the DOM dump
// shows. Without chromium this test fails: it is a dependency, not an option.
#include "cli_harness.h"

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
  CHECK(run.err == "error: --report " + file.string() + ": exists and is not a directory\n");
  CHECK(run.out.empty());
}
