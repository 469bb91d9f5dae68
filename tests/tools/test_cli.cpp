// tspsim as a user runs it: exit codes (0 success, 1 the simulation found errors, 2 bad input),
// one-line error messages, output files, and no partial output on failure.
#include "cli_harness.h"
#include "tspsim/common/version.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::source;

namespace {
const std::string k14nm = "--config " + source("configs/14nm.json");
const std::string kTiny = "--config " + source("configs/tiny.json");
const std::string kVectorAdd = source("examples/vector_add.tsp");

std::string write_scratch(const std::string& name, const std::string& text) {
  const auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

// A tiny-chip copy: A (W3) read east to B's slice E3 one cycle too early when `early`.
std::string copy_program(bool early) {
  return std::string(R"(
.tensor A i8 1x32 slices=MEM_W3 base=0 init=random(3)
.tensor B i8 1x32 slices=MEM_E3 base=0 init=zeros
.queue MEM_W3
  Read 0, E0
.queue MEM_E3
  NOP )") + (early ? "9" : "10") + R"(
  Write 0, E0
)";
}
} // namespace

TEST_CASE("tspsim runs the bundled example and prints its report") {
  const auto r = run_tool("tspsim", k14nm + " " + kVectorAdd);
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("cycles              58\n") != std::string::npos);
  CHECK(r.out.find("conformance errors  0\n") != std::string::npos);
}

// vector_add's inputs are declared tensors: a timing-only run never generates them, so what would
// read MEM data is refused there, and the cycles are the functional run's.
TEST_CASE("tspsim --timing-only refuses --dump and --expect and runs the same cycles") {
  const auto out = (scratch_dir() / "a.bin").string();
  const auto functional = run_tool("tspsim", k14nm + " " + kVectorAdd + " --dump A=" + out);
  REQUIRE(functional.exit_code == 0);
  for (const std::string flag : {" --dump A=", " --expect A="}) {
    const auto r = run_tool("tspsim", k14nm + " " + kVectorAdd + " --timing-only" + flag + out);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "error: --dump and --expect need data: drop --timing-only\n");
  }
  const auto r = run_tool("tspsim", k14nm + " " + kVectorAdd + " --timing-only");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("cycles              58\n") != std::string::npos);
}

TEST_CASE("a missing config file is bad input") {
  const auto r = run_tool("tspsim", "--config nope.json " + kVectorAdd);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: cannot open config file 'nope.json'\n");
}

TEST_CASE("a missing program file is bad input") {
  const auto r = run_tool("tspsim", k14nm + " nope.tsp");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: cannot read 'nope.tsp': No such file or directory\n");
}

TEST_CASE("a garbage program file is bad input and leaves no statistics file") {
  const auto garbage = write_scratch("garbage.bin", std::string(64, '\x5a'));
  const auto stats = (scratch_dir() / "stats.json").string();
  const auto r = run_tool("tspsim", k14nm + " " + garbage + " --stats-json " + stats);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: " + garbage + ": not a tspsim program (bad magic)\n");
  CHECK_FALSE(std::filesystem::exists(stats));
}

TEST_CASE("a program built for another geometry is refused") {
  const auto text = write_scratch("copy.tsp", copy_program(false));
  const auto bin = (scratch_dir() / "copy.bin").string();
  REQUIRE(run_tool("tspasm", kTiny + " " + text + " -o " + bin).exit_code == 0);
  const auto r = run_tool("tspsim", k14nm + " " + bin);
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("error: " + bin + ": built for another chip geometry (program fingerprint 0x", 0) == 0);
  CHECK(r.err.find("); it was built for configs/tiny.json\n") != std::string::npos);
}

TEST_CASE("an override with the wrong type is bad input") {
  const auto r = run_tool("tspsim", k14nm + " " + kVectorAdd + " --set geometry.superlanes=abc");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --set geometry.superlanes: expected a positive integer, got \"abc\"\n");
}

TEST_CASE("tspsim --dump of an unknown symbol is bad input") {
  const auto r = run_tool("tspsim", k14nm + " " + kVectorAdd + " --dump Q=x.bin");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump Q=x.bin: the program has no symbol 'Q'\n");
}

TEST_CASE("a conformance error gives exit code 1 and is listed on stderr, with --quiet too") {
  const auto text = write_scratch("early.tsp", copy_program(true));
  for (const std::string quiet : {"", " --quiet"}) {
    const auto r = run_tool("tspsim", kTiny + " " + text + quiet);
    CHECK(r.exit_code == 1);
    CHECK(r.err == "error: cycle 9: stream-empty: MEM_E3 instruction 1 (Write) line 8: no value on stream E0 at "
                   "MEM_E3\n");
    CHECK(r.out.find("error:") == std::string::npos);
  }
}

TEST_CASE("tspsim --strict stops at the first conformance error and calls the statistics partial") {
  const auto text = write_scratch("early.tsp", copy_program(true));
  const auto r = run_tool("tspsim", kTiny + " " + text + " --strict");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("stopped (--strict): cycle 9: stream-empty: MEM_E3 instruction 1 (Write) line 8") !=
        std::string::npos);
  CHECK(r.out.find("cycles              11 (partial: --strict stopped at the first error)\n") != std::string::npos);
}

TEST_CASE("after the first 1000 conformance errors tspsim says how many more there were") {
  const std::string text = ".queue MEM_E3\n  Write 0, E0\n  Repeat 1002, 1, 0\n";
  const auto r = run_tool("tspsim", kTiny + " " + write_scratch("empty_reads.tsp", text) + " --quiet");
  CHECK(r.exit_code == 1);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1001);
  CHECK(r.err.find("error: cycle 999: stream-empty: MEM_E3 instruction 0 (Write) line 2:") != std::string::npos);
  CHECK(r.err.find("error: cycle 1000:") == std::string::npos);
  CHECK(r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1) ==
        "... and 3 more conformance errors (the first 1000 are listed)\n");
}

TEST_CASE("an instruction reading the same empty stream twice is one error") {
  const auto text = write_scratch("twice.tsp", ".queue VXM.0\n  add.i8 W1, E0, E0\n");
  const auto r = run_tool("tspsim", kTiny + " " + text + " --quiet");
  CHECK(r.exit_code == 1);
  CHECK(r.err == "error: cycle 0: stream-empty: VXM.0 instruction 0 (add) line 2: no value on stream E0 at VXM\n");
}

TEST_CASE("options and the program in any order; repeatable options take one value each") {
  const auto text = write_scratch("copy.tsp", copy_program(false));
  const auto a = (scratch_dir() / "a.bin").string();
  auto r = run_tool("tspsim", kTiny + " --set clock_mhz=1000 " + text);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("simulated time      0.012 us at 1000 MHz\n") != std::string::npos);
  r = run_tool("tspsim", "--dump A=" + a + " " + text + " --set clock_mhz=1000 " + kTiny + " --dump B=" + a + ".b");
  CHECK(r.exit_code == 0);
  CHECK(tsp::test::slurp(a).size() == 32);
  CHECK(tsp::test::slurp(a) == tsp::test::slurp(a + ".b"));
  r = run_tool("tspsim", "--expect B=" + a + " " + text + " " + kTiny);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("expect B: ok\n") != std::string::npos);
  // A second positional is not taken as another --set value.
  r = run_tool("tspsim", kTiny + " --set clock_mhz=1000 " + text + " " + text);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "The following argument was not expected: " + text + "\nRun with --help for more information.\n");
  const auto bin = (scratch_dir() / "copy.bin").string();
  r = run_tool("tspasm", "--set clock_mhz=1000 " + text + " -o " + bin + " " + kTiny);
  CHECK(r.exit_code == 0);
  r = run_tool("tspdis", "--set clock_mhz=1000 " + bin + " " + kTiny);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("    Write 0, E0") != std::string::npos);
}

TEST_CASE("an unwritable output stops tspsim before the run and leaves no file") {
  const auto text = write_scratch("copy.tsp", copy_program(false));
  const auto stats = (scratch_dir() / "never_stats.json").string();
  const auto dump = (scratch_dir() / "never_a.bin").string();
  const std::string missing = "/nonexistent-tspsim-dir/u.csv";
  auto r = run_tool("tspsim", kTiny + " " + text + " --stats-json " + stats + " --dump A=" + dump +
                                  " --util-csv " + missing);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --util-csv: cannot write '" + missing + "': No such file or directory\n");
  CHECK(r.out.empty());
  r = run_tool("tspsim", kTiny + " " + text + " --stats-json " + stats + " --dump A=" + dump + " --dump B=" +
                             scratch_dir().string());
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump B: cannot write '" + scratch_dir().string() + "': is a directory\n");
  r = run_tool("tspsim", kTiny + " " + text + " --stats-json " + stats + " --dump A=" + stats);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dump A: '" + stats + "' is also written by another option\n");
  for (const auto& path : {stats, dump, stats + ".tmp", dump + ".tmp"}) CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("an empty program is refused whether it is a .tsp or a .bin") {
  const auto tsp = write_scratch("empty.tsp", "");
  const auto bin = write_scratch("empty.bin", "");
  auto r = run_tool("tspsim", kTiny + " " + tsp);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: " + tsp + ": the program has no instructions\n");
  r = run_tool("tspsim", kTiny + " " + bin);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: " + bin + ": truncated at offset 0 (header)\n");
  const auto only_tensor = write_scratch("tensor_only.tsp", ".tensor A i8 1x32 slices=MEM_W3 base=0 init=zeros\n");
  r = run_tool("tspasm", kTiny + " " + only_tensor + " -o " + (scratch_dir() / "t.bin").string());
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: " + only_tensor + ": the program has no instructions\n");
}

TEST_CASE("a directory as --config is named as one") {
  const auto r = run_tool("tspsim", "--config " + scratch_dir().string() + " " + kVectorAdd);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: cannot open config file '" + scratch_dir().string() + "': is a directory\n");
}

TEST_CASE("messages show control bytes escaped and do not stop at a NUL") {
  const auto out = " -o " + (scratch_dir() / "nul.bin").string();
  auto text = write_scratch("nul.tsp", std::string(".queue MEM_W3\n  NOP 1\x00\n", 23));
  auto r = run_tool("tspasm", kTiny + " " + text + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: " + text + ":2:8: unexpected character '\\x00'\n");
  text = write_scratch("ctrl.tsp", ".queue MEM_W3\n  NOP 1\n\x1b[31m\n");
  r = run_tool("tspasm", kTiny + " " + text + out);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: " + text + ":3:1: unexpected character '\\x1b'\n");
}

TEST_CASE("tspsim --dump writes a tensor and --expect compares one") {
  const auto text = write_scratch("copy.tsp", copy_program(false));
  const auto a = (scratch_dir() / "a.bin").string();
  const auto b = (scratch_dir() / "b.bin").string();
  REQUIRE(run_tool("tspsim", kTiny + " " + text + " --dump A=" + a + " --dump B=" + b).exit_code == 0);
  CHECK(tsp::test::slurp(a).size() == 32);
  CHECK(tsp::test::slurp(a) == tsp::test::slurp(b));
  const auto ok = run_tool("tspsim", kTiny + " " + text + " --expect B=" + a);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("expect B: ok\n") != std::string::npos);

  std::string wrong = tsp::test::slurp(a);
  wrong[5] = static_cast<char>(wrong[5] + 1);
  const auto bad = write_scratch("wrong.bin", wrong);
  const auto r = run_tool("tspsim", kTiny + " " + text + " --expect B=" + bad);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("expect B: FAILED: element [0, 5] is 0x") != std::string::npos);
}

TEST_CASE("tspsim --expect with a file of the wrong size is bad input") {
  const auto text = write_scratch("copy.tsp", copy_program(false));
  const auto small = write_scratch("small.bin", "abc");
  const auto r = run_tool("tspsim", kTiny + " " + text + " --expect B=" + small);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --expect B: '" + small + "' has 3 bytes; B (i8 1x32) needs 32\n");
}

TEST_CASE("tspsim --stats-json and --util-csv report the run") {
  const auto text = write_scratch("copy.tsp", copy_program(false));
  const auto stats = (scratch_dir() / "stats.json").string();
  const auto csv = (scratch_dir() / "util.csv").string();
  const auto r = run_tool("tspsim", kTiny + " " + text + " --stats-json " + stats + " --util-csv " + csv +
                                        " --util-window 4");
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(tsp::test::slurp(stats));
  // Read at 0 -> E0 at 2 -> MEM_E3 at 10: last active 10, + 1, + 1 superlane stagger.
  CHECK(j.at("cycles") == 12);
  CHECK(j.at("instructions") == 3);
  CHECK(j.at("conformance_errors").at("stream-empty") == 0);
  CHECK(j.at("partial") == false);
  const auto& slices = j.at("slices");
  const auto w3 = std::find_if(slices.begin(), slices.end(), [](const auto& s) { return s.at("name") == "MEM_W3"; });
  REQUIRE(w3 != slices.end());
  CHECK(w3->at("instructions_by_opcode").at("Read") == 1);
  CHECK(w3->at("sram_bytes_read") == 32);
  CHECK(w3->at("stream_bytes_written") == 32);
  // 12 cycles in windows of 4 over 8 MEM slices (32 slice-cycles a window). MEM_W3 is busy at 0
  // (read) and 2 (stream write), MEM_E3 at 10 (write); a NOP is not work.
  CHECK(tsp::test::slurp(csv) ==
        "cycle_start,cycles,MEM,VXM,MXM,SXM\n"
        "0,4,0.062500,0.000000,0.000000,0.000000\n"
        "4,4,0.000000,0.000000,0.000000,0.000000\n"
        "8,4,0.031250,0.000000,0.000000,0.000000\n");
}

TEST_CASE("tspsim --print-config prints the resolved config with overrides applied") {
  const auto r = run_tool("tspsim", kTiny + " --print-config --set clock_mhz=1000");
  CHECK(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.at("clock_mhz") == 1000);
  CHECK(j.at("geometry").at("superlanes") == 2);
}

TEST_CASE("tspsim --expect-tol needs a float symbol with an --expect") {
  const auto text = write_scratch("copy.tsp", copy_program(false));
  const auto a = (scratch_dir() / "a.bin").string();
  REQUIRE(run_tool("tspsim", kTiny + " " + text + " --dump A=" + a).exit_code == 0);
  auto r = run_tool("tspsim", kTiny + " " + text + " --expect B=" + a + " --expect-tol B=abs:1");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --expect-tol B: B is i8; integer results are checked exactly\n");
  r = run_tool("tspsim", kTiny + " " + text + " --expect-tol B=exact");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --expect-tol B: no --expect B=FILE to apply it to\n");
}

TEST_CASE("every tool prints its version with --version") {
  for (const char* name : {"tspsim", "tspasm", "tspdis", "tspc", "tspisa-doc"}) {
    const auto r = run_tool(name, "--version");
    CHECK(r.exit_code == 0);
    CHECK(r.out == std::string(name) + " " + std::string(tsp::kVersion) + "\n");
  }
}

TEST_CASE("outputs to /dev/null are written in place, not renamed over the device") {
  const auto text = write_scratch("copy.tsp", copy_program(false));
  const auto r = run_tool("tspsim", kTiny + " " + text + " --stats-json /dev/null --dump A=/dev/null --dump B=/dev/null");
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(std::filesystem::is_character_file("/dev/null"));
  CHECK_FALSE(std::filesystem::exists("/dev/null.tmp"));
}

TEST_CASE("cycle counts are whole numbers: a sign, letters or more than 64 bits are bad input") {
  // CLI11 alone read --max-cycles -1 as 2^64 - 1, a run without limit.
  for (const std::string value : {"-1", "12abc", "36893488147419103237"}) {
    const auto r = tsp::test::run_tool("tspsim", k14nm + " " + kVectorAdd + " --max-cycles " + value);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "--max-cycles: expected a whole number from 0 to 18446744073709551615, got '" + value +
                       "'\nRun with --help for more information.\n");
  }
  const auto window = tsp::test::run_tool("tspsim", k14nm + " " + kVectorAdd + " --util-window -5");
  CHECK(window.exit_code == 2);
  CHECK(window.err.rfind("--util-window: expected a whole number from 0 to 18446744073709551615, got '-5'",
                         0) == 0);
}

TEST_CASE("an option where a path belongs is refused, not written as a file of that name") {
  const auto stats = tsp::test::run_tool("tspsim", k14nm + " --stats-json --quiet " + kVectorAdd);
  CHECK(stats.exit_code == 2);
  CHECK(stats.err == "error: --stats-json needs a path, got the option --quiet\n");
  CHECK(stats.out.empty());
  CHECK_FALSE(std::filesystem::exists("--quiet"));
  const auto report = tsp::test::run_tool("tspsim", k14nm + " " + kVectorAdd + " --report --trace x.json");
  CHECK(report.err == "error: --report needs a path, got the option --trace\n");
  const auto compiled =
      tsp::test::run_tool("tspc", k14nm + " elementwise --op add --rows 4 --cols 32 -o --reference r");
  CHECK(compiled.exit_code == 2);
  CHECK(compiled.err == "error: -o needs a path, got the option --reference\n");
  const auto config = tsp::test::run_tool("tspasm", kVectorAdd + " -o x.bin --config --system");
  CHECK(config.exit_code == 2);
  CHECK(config.err == "error: --config needs a path, got the option --system\n");
  const auto sweep =
      tsp::test::run_tool("tspsim", "sweep " + k14nm +
                                        " --workload 'elementwise --op add --rows 4 --cols 32' --param "
                                        "timing.vxm_func=1 --out --plot");
  CHECK(sweep.exit_code == 2);
  CHECK(sweep.err == "error: --out needs a path, got the option --plot\n");
  CHECK_FALSE(std::filesystem::exists("--plot"));
}

TEST_CASE("a summary that cannot be written to stdout is a failed run") {
  const auto err = tsp::test::scratch_dir() / "full_stderr.txt";
  const std::string command =
      tsp::test::tool("tspsim") + " " + k14nm + " " + kVectorAdd + " >/dev/full 2>" + err.string();
  const int status = std::system(command.c_str());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(tsp::test::slurp(err) == "error: cannot write to stdout: No space left on device\n");
  const std::string quiet =
      tsp::test::tool("tspsim") + " " + k14nm + " " + kVectorAdd + " --quiet >/dev/full";
  CHECK(std::system(quiet.c_str()) == 0);
}

TEST_CASE("tspsim --max-cycles bounds the cycles a run reports, in every mode") {
  // vector_add takes 58 cycles: its last work is at cycle 38 and the last superlane's 19 later.
  for (const std::string mode : {"", " --debug-clock", " --timing-only"}) {
    INFO("mode" << mode);
    for (const unsigned limit : {1u, 10u, 40u, 57u}) {
      const auto r = tsp::test::run_tool("tspsim", k14nm + " " + kVectorAdd + mode + " --max-cycles " +
                                                       std::to_string(limit));
      CHECK(r.exit_code == 1);
      CHECK(r.out.find("\ncycles              " + std::to_string(limit) +
                       " (partial: the run was interrupted)\n") != std::string::npos);
    }
    for (const unsigned limit : {58u, 59u}) {
      const auto stats = tsp::test::scratch_dir() / "limit.json";
      const auto r =
          tsp::test::run_tool("tspsim", k14nm + " " + kVectorAdd + mode + " --quiet --max-cycles " +
                                            std::to_string(limit) + " --stats-json " + stats.string());
      CHECK(r.exit_code == 0);
      const auto json = nlohmann::json::parse(tsp::test::slurp(stats));
      CHECK(json.at("cycles") == 58);
      CHECK(json.at("partial") == false);
    }
  }
}
