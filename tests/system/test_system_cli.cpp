// tspsim --system as a user runs it: the bundled two-chip example, options in any order, thread
// counts, the report's link figures, and bad input (one line, exit 2).
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fstream>
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
  CHECK(r.out.find("link vectors        4 delivered, 0 sent on links without a cable\n") !=
        std::string::npos);

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
  const auto r =
      run_tool("tspsim", fmt::format("--dump 1:B={} --config {} --system {} {} --dump 0:A={} --quiet",
                                     b.string(), kConfig, kSystem, kProgram, a.string()));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string sent = tsp::test::slurp(a);
  CHECK(sent.size() == 4 * 320);
  CHECK(tsp::test::slurp(b) == sent);
  CHECK(std::count(sent.begin(), sent.end(), '\0') < 100); // random(71), not zeros
}

TEST_CASE("tspsim --system: configs/systems/node8.json runs a ring of 8 chips over its bundled wiring") {
  // node8 wiring: chip i's link to chip j is j if j < i, else j - 1. Chip i sends row 0 of A to
  // chip i + 1 (mod 8) at 6 and receives chip i - 1's row at 222 into B (timing as in
  // examples/c2c_loopback.tsp).
  std::string text = ".workload \"ring of 8\"\n";
  for (unsigned i = 0; i < 8; ++i) {
    const unsigned next = (i + 1) % 8, prev = (i + 7) % 8;
    const unsigned out = next < i ? next : next - 1, in = prev < i ? prev : prev - 1;
    text +=
        fmt::format(".chip {}\n.tensor A i8 1x320 slices=MEM_E40 base=0 init=random({})\n"
                    ".tensor B i8 1x320 slices=MEM_E41 base=0 init=zeros\n"
                    ".queue MEM_E40\n  Read 0, E0\n.queue SXM_E.0\n  NOP 6\n  Send {}, E0\n"
                    ".queue SXM_E.1\n  NOP 222\n  Receive {}, W0\n.queue MEM_E41\n  NOP 226\n  Write 0, W0\n",
                    i, 100 + i, out, in);
  }
  const auto program = scratch_dir() / "ring8.tsp";
  std::ofstream(program) << text;
  const auto b3 = scratch_dir() / "b3.bin";
  const auto a2 = scratch_dir() / "a2.bin";
  const auto j =
      stats(fmt::format("--config {} --system {} {} --dump 3:B={} --dump 2:A={}", kConfig,
                        source("configs/systems/node8.json"), program.string(), b3.string(), a2.string()),
            "ring.json");
  CHECK(j.at("chips").size() == 8);
  CHECK(j.at("cycles") == 246); // the Write at 226 + 1 + 19 (superlane stagger)
  CHECK(j.at("links").at("vectors_delivered") == 8);
  CHECK(j.at("links").at("cabled_link_directions") == 56);
  for (const auto& chip : j.at("chips")) CHECK(chip.at("conformance_errors").at("link-empty") == 0);
  CHECK(tsp::test::slurp(b3) == tsp::test::slurp(a2)); // chip 3 got chip 2's row
  CHECK(tsp::test::slurp(b3).size() == 320);
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

// More threads than chips would only wait: --threads 100000 used to start them all (minutes, and
// gigabytes of stacks for 4294967295).
TEST_CASE("tspsim --system: --threads beyond the chips runs one thread per chip") {
  const auto j = stats(fmt::format("--config {} --system {} {} --threads 100000", kConfig, kSystem, kProgram),
                       "many.json");
  CHECK(j.at("threads") == 2);
}

TEST_CASE("tspsim --system: what a system run cannot do is one line and exit 2") {
  auto r =
      run_tool("tspsim", fmt::format("--config {} --system {} {} --debug-clock", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --debug-clock runs one chip: drop it or --system\n");
  r = run_tool("tspsim",
               fmt::format("--config {} --system {} {} --expect B=x.bin", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --expect B=x.bin: with --system, expected CHIP:SYMBOL=FILE\n");
  r = run_tool("tspsim",
               fmt::format("--config {} --system {} {} --util-csv u.csv", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --util-csv is for one chip: drop it or --system\n");
  r = run_tool("tspsim", fmt::format("--config {} --system {} {} --vcd t.vcd", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --vcd writes one chip's waveform: drop it or --system (--trace shows every chip)\n");
  r = run_tool("tspsim",
               fmt::format("--config {} --system {} {} --dump B=x.bin", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump B=x.bin: with --system, expected CHIP:SYMBOL=FILE\n");
  r = run_tool("tspsim",
               fmt::format("--config {} --system {} {} --dump 2:B=x.bin", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump 2:B=x.bin: chip 2 is out of range (the system has 2 chips)\n");
  r = run_tool("tspsim",
               fmt::format("--config {} --system {} {} --dump 0:B=x.bin", kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump B=x.bin: the program has no symbol 'B'\n");
  r = run_tool("tspsim",
               fmt::format("--config {} --system {} {}", source("configs/tiny.json"), kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("does not match chip 0 of system") != std::string::npos);
  r = run_tool("tspsim", fmt::format("--config {} --system {} {} --stats-json /nonexistent/dir/s.json",
                                     kConfig, kSystem, kProgram));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("/nonexistent/dir/s.json") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

namespace {
// The reference files tspc wrote and the --expect options of its check line.
std::string check_options(const std::string& tspc_out) {
  const auto at = tspc_out.find("check: tspsim ");
  REQUIRE(at != std::string::npos);
  const std::string line = tspc_out.substr(at, tspc_out.find('\n', at) - at);
  return line.substr(line.find(" --expect "));
}
} // namespace

TEST_CASE("tspc collective + tspsim --system: an fp32 all-reduce on the 8-chip node, checked on every chip") {
  const auto program = scratch_dir() / "ar.bin";
  const auto ref = scratch_dir() / "ar.ref";
  const std::string node = source("configs/systems/node8.json");
  auto c = run_tool(
      "tspc", fmt::format("collective --system {} --kind all-reduce --rows 16 --cols 320 --dtype fp32 -o {} "
                          "--reference {}",
                          node, program.string(), ref.string()));
  INFO(c.out << c.err);
  REQUIRE(c.exit_code == 0);
  CHECK(c.out.find("all-reduce 16x320 f32 over 8 chips (direct): ") == 0);
  const std::string expects = check_options(c.out);
  CHECK(std::count(expects.begin(), expects.end(), ':') == 64); // 8 chips x 8 shards, one CHIP:SYMBOL each
  const auto stats_path = scratch_dir() / "ar.json";
  auto r = run_tool("tspsim", fmt::format("--config {} --system {} {} --stats-json {}{}", kConfig, node,
                                          program.string(), stats_path.string(), expects));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("expect 0:Y.s0: ok\n") != std::string::npos);
  CHECK(r.out.find("expect 7:Y.s7: ok\n") != std::string::npos);
  CHECK(r.out.find("FAILED") == std::string::npos);
  const auto j = nlohmann::json::parse(tsp::test::slurp(stats_path));
  const uint64_t predicted = std::stoull(c.out.substr(c.out.find("): ") + 3));
  CHECK(j.at("cycles") == predicted);
  // Every chip sends 2 x 7 shards of 2 rows x 4 byte planes over its 7 links: 16 vectors each.
  for (const auto& chip : j.at("chips")) {
    uint64_t sent = 0;
    for (const auto& link : chip.at("links")) {
      sent += link.at("vectors_sent").get<uint64_t>();
      if (link.at("vectors_sent").get<uint64_t>() > 0) CHECK(link.at("utilisation").get<double>() > 0);
    }
    CHECK(sent == 7 * 16);
  }

  // A reference that is wrong in one element fails the check, naming the chip and the symbol.
  const auto wrong = ref / "chip5" / "Y.s2.bin";
  std::string bytes = tsp::test::slurp(wrong);
  bytes[0] = static_cast<char>(bytes[0] ^ 0x40);
  std::ofstream(wrong, std::ios::binary) << bytes;
  r = run_tool("tspsim",
               fmt::format("--config {} --system {} {}{}", kConfig, node, program.string(), expects));
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("expect 5:Y.s2: FAILED: element [0, 0]") != std::string::npos);
}

TEST_CASE("tspsim --system without --config: chips of different timing each run their own config") {
  // Chip 1's fp adds take a cycle longer: a program scheduled for chip 0's timing on both would
  // read its sums a cycle early there.
  const auto dir = scratch_dir() / "mixed";
  std::filesystem::create_directories(dir);
  nlohmann::json slow = nlohmann::json::parse(tsp::test::slurp(kConfig));
  slow["name"] = "14nm-slow-fp-add";
  slow["timing"]["vxm_fp_add"] = slow["timing"]["vxm_fp_add"].get<int>() + 1;
  std::ofstream(dir / "slow.json") << slow.dump();
  const auto system = dir / "mixed.json";
  std::ofstream(system) << nlohmann::json{
      {"name", "mixed"},
      {"chips", {{{"config", kConfig}}, {{"config", "slow.json"}}}},
      {"cables",
       {{{0, 0}, {1, 0}}}}}.dump();
  const auto program = dir / "ar.bin";
  auto c = run_tool(
      "tspc", fmt::format("collective --system {} --rows 64 --cols 320 --dtype fp32 -o {} --reference {}",
                          system.string(), program.string(), (dir / "ref").string()));
  INFO(c.out << c.err);
  REQUIRE(c.exit_code == 0);
  // No one --config fits both chips, so the check names none.
  CHECK(c.out.find(fmt::format("check: tspsim {} --system {} --expect ", program.string(),
                               system.string())) != std::string::npos);
  const uint64_t predicted = std::stoull(c.out.substr(c.out.find("): ") + 3));
  auto r = run_tool("tspsim",
                    fmt::format("--system {} {}{}", system.string(), program.string(), check_options(c.out)));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(fmt::format("cycles              {}\n", predicted)) != std::string::npos);
  CHECK(r.out.find("conformance errors  0\n") != std::string::npos);
  CHECK(r.out.find("expect 1:Y.s1: ok\n") != std::string::npos);
  CHECK(r.out.find("FAILED") == std::string::npos);

  r = run_tool("tspsim",
               fmt::format("--config {} --system {} {}", kConfig, system.string(), program.string()));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("does not match chip 1 of system") != std::string::npos);
  r = run_tool("tspsim", fmt::format("--system {} --print-config {}", system.string(), program.string()));
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --print-config prints one chip config: give it with --config\n");
  r = run_tool("tspsim", program.string());
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --config is required (or --system, whose file names each chip's config)\n");
}

TEST_CASE("tspc collective + tspsim --system --timing-only: a 576-chip Dragonfly all-reduce takes the "
          "predicted cycles") {
  const auto program = scratch_dir() / "df.bin";
  const std::string dragonfly = source("configs/systems/dragonfly8.json");
  auto c = run_tool(
      "tspc", fmt::format("collective --system {} --kind all-reduce --rows 1 --cols 80 --dtype fp32 -o {} "
                          "--timing-only",
                          dragonfly, program.string()));
  INFO(c.out << c.err);
  REQUIRE(c.exit_code == 0);
  CHECK(c.out.find("check:") == std::string::npos); // no reference to check against
  // 8 racks of 9 nodes of 8: inside each node, through the nodes' gateways inside each rack, then
  // through the racks' gateways, then back.
  CHECK(c.out.find("all-reduce 1x80 f32 over 576 chips (hierarchical-gateway)") == 0);
  const uint64_t predicted = std::stoull(c.out.substr(c.out.find("): ") + 3));
  const auto stats_path = scratch_dir() / "df.json";
  auto r = run_tool("tspsim", fmt::format("--config {} --system {} --timing-only {} --stats-json {}", kConfig,
                                          dragonfly, program.string(), stats_path.string()));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("conformance errors  0\n") != std::string::npos);
  const auto j = nlohmann::json::parse(tsp::test::slurp(stats_path));
  CHECK(j.at("cycles") == predicted);
  CHECK(j.at("chips").size() == 576);
  auto e = run_tool(
      "tspc", fmt::format("collective --system {} --rows 1 --cols 80 -o {} --timing-only --reference {}",
                          dragonfly, program.string(), (scratch_dir() / "df.ref").string()));
  CHECK(e.exit_code == 2);
  CHECK(e.err == "error: collective: --reference needs the host reference: drop --timing-only\n");
}

TEST_CASE(
    "tspc collective + tspsim --system: a program scheduled for faster links is refused, naming both rates") {
  const auto program = scratch_dir() / "fast.bin";
  const std::string node = source("configs/systems/node8.json");
  auto c = run_tool("tspc",
                    fmt::format("collective --system {} --rows 8 --cols 320 -o {}", node, program.string()));
  INFO(c.out << c.err);
  REQUIRE(c.exit_code == 0);
  // Half the lane rate: 2560 bits / 60 Gb/s = 38.4 cycles -> 39 per vector, where the program spaces
  // its Sends by 20.
  auto r = run_tool("tspsim", fmt::format("--config {} --system {} --set c2c.gbps_per_lane=15 {}", kConfig,
                                          node, program.string()));
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        fmt::format("error: {} (chip 0): scheduled for C2C links of 20 cycles per vector, but system 'node8' "
                    "has links of 39 cycles per vector (4 lanes x 15 Gb/s at 900 MHz)\n",
                    program.string()));
}

TEST_CASE("tspc collective --algorithm: the hierarchy forced, and a bad name is one line") {
  const auto program = scratch_dir() / "h.bin";
  const std::string rack = source("configs/systems/rack72.json");
  auto c = run_tool(
      "tspc", fmt::format("collective --system {} --rows 1 --cols 80 --algorithm hierarchical-ring -o {}",
                          rack, program.string()));
  INFO(c.out << c.err);
  REQUIRE(c.exit_code == 0);
  CHECK(c.out.find("all-reduce 1x80 f32 over 72 chips (hierarchical-ring): ") == 0);
  c = run_tool("tspc", fmt::format("collective --system {} --rows 1 --cols 80 --algorithm tree -o {}", rack,
                                   program.string()));
  CHECK(c.exit_code == 2);
  CHECK(c.err == "error: --algorithm tree: expected direct, ring, hierarchical-direct, hierarchical-ring or "
                 "hierarchical-gateway\n");
}
