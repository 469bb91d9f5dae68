// tspsim --system as a user runs it: the bundled two-chip example, options in any order, thread
// counts, the report's link figures, and bad input (one line, exit 2).
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::source;

namespace {
const std::string kSystem = source("configs/systems/two_chips.json");
const std::string kConfig = source("configs/14nm.json");
const std::string kProgram = source("examples/systems/two_chip_pingpong.tsp");

nlohmann::json stats(const std::string& args, const std::string& name) {
  const auto path = scratch_dir() / name;
  const auto r = run_tool("tspsim", args + " --quiet --stats-json " + path.string());
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(tsp::test::slurp(path));
  j.erase("host_seconds");
  return j;
}
} // namespace

TEST_CASE("tspsim --system: the two-chip example runs both chips and reports its links") {
  const auto r = run_tool("tspsim", fmt::format("--config {} --system {} {}", kConfig, kSystem, kProgram));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("two_chips") != std::string::npos);
  CHECK(r.out.find("cycles              334\n") != std::string::npos);
  CHECK(r.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(r.out.find("link vectors        4 delivered, 0 sent on links without a cable\n") != std::string::npos);

  const auto j = stats(fmt::format("--config {} --system {} {}", kConfig, kSystem, kProgram), "a.json");
  CHECK(j.at("cycles") == 334);
  CHECK(j.at("chips_simulated") == 2);
  CHECK(j.at("window_cycles") == 216);
  const auto& link = j.at("chips").at(0).at("links").at(0);
  CHECK(link.at("link") == 0);
  CHECK(link.at("vectors_sent") == 4);
  CHECK(link.at("busy_cycles") == 80); // 4 vectors x 20 cycles
  CHECK(link.at("utilisation").get<double>() == Approx(80.0 / 334));
  CHECK(link.at("peer") == nlohmann::json({{"chip", 1}, {"link", 0}}));
  CHECK(j.at("chips").at(1).at("links").at(0).at("vectors_received") == 4);
  CHECK(j.at("chips").at(1).at("cycles") == 334);
}

TEST_CASE("tspsim --system: --dump CHIP:SYMBOL=FILE writes chip 1's B, equal to chip 0's A") {
  const auto a = scratch_dir() / "a.bin";
  const auto b = scratch_dir() / "b.bin";
  const auto r = run_tool("tspsim", fmt::format("--dump 1:B={} --config {} --system {} {} --dump 0:A={} --quiet", b.string(),
                                                kConfig, kSystem, kProgram, a.string()));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string sent = tsp::test::slurp(a);
  CHECK(sent.size() == 4 * 320);
  CHECK(tsp::test::slurp(b) == sent);
  CHECK(std::count(sent.begin(), sent.end(), '\0') < 100); // random(71), not zeros
}

TEST_CASE("tspsim --system: options in any order and any thread count give the same statistics") {
  auto a = stats(fmt::format("--config {} --system {} {} --threads 1", kConfig, kSystem, kProgram), "a.json");
  auto b = stats(fmt::format("{} --threads 2 --system {} --config {}", kProgram, kSystem, kConfig), "b.json");
  CHECK(a.at("threads") == 1);
  CHECK(b.at("threads") == 2);
  a.erase("threads");
  b.erase("threads");
  CHECK(a == b);
}

TEST_CASE("tspsim --system: what a system run cannot do is one line and exit 2") {
  auto r = run_tool("tspsim", fmt::format("--config {} --system {} {} --debug-clock", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --debug-clock runs one chip: drop it or --system\n");
  r = run_tool("tspsim", fmt::format("--config {} --system {} {} --expect B=x.bin", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --expect and --util-csv are for one chip: drop them or --system\n");
  r = run_tool("tspsim", fmt::format("--config {} --system {} {} --dump B=x.bin", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump B=x.bin: with --system, expected CHIP:SYMBOL=FILE\n");
  r = run_tool("tspsim", fmt::format("--config {} --system {} {} --dump 2:B=x.bin", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump 2:B=x.bin: chip 2 is out of range (the system has 2 chips)\n");
  r = run_tool("tspsim", fmt::format("--config {} --system {} {} --dump 0:B=x.bin", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump B=x.bin: the program has no symbol 'B'\n");
  r = run_tool("tspsim", fmt::format("--config {} --system {} {}", source("configs/tiny.json"), kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("does not match chip 0 of system") != std::string::npos);
  r = run_tool("tspsim", fmt::format("--config {} --system {} {} --stats-json /nonexistent/dir/s.json", kConfig, kSystem,
                                     kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("/nonexistent/dir/s.json") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}
