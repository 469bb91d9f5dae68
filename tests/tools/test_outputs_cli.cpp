// Output paths that name an input of the run, or another output: refused before anything is
// written, so a mistyped option never destroys a program, a config or hand-written assembly.
#include "cli_harness.h"
#include "tspsim/common/version.h"
#include "tspsim/program/system_program.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

// A copy of a bundled file in the scratch directory, which the tests may try to overwrite.
std::string copy_of(const std::string& relative, const std::string& name) {
  const auto path = scratch_dir() / name;
  std::filesystem::copy_file(source(relative), path, std::filesystem::copy_options::overwrite_existing);
  return path.string();
}

} // namespace

TEST_CASE("tspsim refuses an output that is its program, config or another output") {
  const std::string program = copy_of("examples/vector_add.tsp", "outputs_va.tsp");
  const std::string config = copy_of("configs/14nm.json", "outputs_chip.json");
  const std::string before = slurp(program);
  const auto stats = run_tool("tspsim", "--config " + config + " " + program + " --stats-json " + program);
  CHECK(stats.exit_code == 2);
  CHECK(stats.err ==
        "error: --stats-json: '" + program + "' is the program; writing it would overwrite an input\n");
  const auto vcd = run_tool("tspsim", "--config " + config + " " + program + " --vcd " + config);
  CHECK(vcd.exit_code == 2);
  CHECK(vcd.err == "error: --vcd: '" + config + "' is the config; writing it would overwrite an input\n");
  const std::string same = (scratch_dir() / "outputs_same.out").string();
  const auto both =
      run_tool("tspsim", "--config " + config + " " + program + " --trace " + same + " --vcd " + same);
  CHECK(both.exit_code == 2);
  CHECK(both.err == "error: --vcd: '" + same + "' is also written by another option\n");
  CHECK_FALSE(std::filesystem::exists(same));
  CHECK(slurp(program) == before);
}

TEST_CASE("tspasm, tspdis and tspc refuse an output that is their input") {
  const std::string program = copy_of("examples/vector_add.tsp", "outputs_src.tsp");
  const auto assembled = run_tool("tspasm", program + " -o " + program);
  CHECK(assembled.exit_code == 2);
  CHECK(assembled.err == "error: -o: '" + program + "' is the source; writing it would overwrite an input\n");
  const std::string binary = (scratch_dir() / "outputs_src.bin").string();
  REQUIRE(run_tool("tspasm", program + " -o " + binary).exit_code == 0);
  const auto disassembled = run_tool("tspdis", binary + " -o " + binary);
  CHECK(disassembled.exit_code == 2);
  CHECK(disassembled.err ==
        "error: -o: '" + binary + "' is the program; writing it would overwrite an input\n");
  const std::string config = copy_of("configs/14nm.json", "outputs_tspc.json");
  const auto compiled =
      run_tool("tspc", "--config " + config + " elementwise --op add --rows 4 --cols 32 -o " + config);
  CHECK(compiled.exit_code == 2);
  CHECK(compiled.err == "error: -o: '" + config + "' is the config; writing it would overwrite an input\n");
  CHECK(slurp(config) == slurp(source("configs/14nm.json")));
}

TEST_CASE("tspc -o --reference whose folder cannot be made writes neither") {
  const auto file = scratch_dir() / "outputs_plain_file";
  std::ofstream(file) << "x";
  const auto program = scratch_dir() / "outputs_ref.bin";
  const auto compiled = run_tool("tspc", "--config " + source("configs/14nm.json") +
                                             " elementwise --op add --rows 4 --cols 32 -o " +
                                             program.string() + " --reference " + (file / "ref").string());
  CHECK(compiled.exit_code == 2);
  CHECK(compiled.err ==
        "error: --reference: cannot write '" + (file / "ref").string() + "': Not a directory\n");
  CHECK(compiled.out.empty());
  CHECK_FALSE(std::filesystem::exists(program));
}

TEST_CASE("tspsim leaves no --report folder and no statistics when the run fails") {
  const auto report = scratch_dir() / "outputs_report" / "r";
  const auto stats = scratch_dir() / "outputs_report.json";
  const std::string common = "--config " + source("configs/14nm.json") + " " +
                             source("examples/vector_add.tsp") + " --stats-json " + stats.string() +
                             " --report " + report.string();
  const auto window =
      run_tool("tspsim", common + " --trace " + (scratch_dir() / "w.json").string() + " --trace-window 5");
  CHECK(window.exit_code == 2);
  CHECK(window.err == "error: --trace-window 5: expected FIRST:LAST cycles with FIRST < LAST, e.g. 0:1000\n");
  CHECK_FALSE(std::filesystem::exists(scratch_dir() / "outputs_report"));
  const auto trace = run_tool("tspsim", common + " --trace /nonexistent/dir/t.txt");
  CHECK(trace.exit_code == 2);
  CHECK(trace.err == "error: --trace: cannot write '/nonexistent/dir/t.txt': No such file or directory\n");
  CHECK_FALSE(std::filesystem::exists(scratch_dir() / "outputs_report"));
  CHECK_FALSE(std::filesystem::exists(stats));
  const auto file = scratch_dir() / "outputs_report_file";
  std::ofstream(file) << "x";
  const auto under_file =
      run_tool("tspsim", "--config " + source("configs/14nm.json") + " " + source("examples/vector_add.tsp") +
                             " --stats-json " + stats.string() + " --report " + (file / "r").string());
  CHECK(under_file.exit_code == 2);
  CHECK(under_file.err == "error: --report: cannot write '" + (file / "r").string() + "': Not a directory\n");
  CHECK_FALSE(std::filesystem::exists(stats));
}

TEST_CASE("tspdis names the region sections it drops and keeps a system program's generator") {
  const auto dir = scratch_dir();
  const std::string system = source("configs/systems/node8.json");
  const auto original = (dir / "dis_ar.bin").string(), text = (dir / "dis_ar.tsp").string(),
             again = (dir / "dis_ar2.bin").string();
  REQUIRE(run_tool("tspc", "collective --system " + system +
                               " --kind all-reduce --rows 8 --cols 320 --dtype fp32 --timing-only -o " +
                               original)
              .exit_code == 0);
  REQUIRE(run_tool("tspdis", original + " --system " + system + " -o " + text).exit_code == 0);
  const std::string assembly = slurp(text);
  CHECK(
      assembly.substr(0, assembly.find('\n')) ==
      "; tspdis " + std::string(tsp::kVersion) +
          " for system node8: not a round trip: the text drops the region sections of 8 programs (8 regions, "
          "812 runs); tspasm of it makes the same program without them");
  CHECK(assembly.find("\n.generator \"tspc " + std::string(tsp::kVersion) + "\"\n") != std::string::npos);
  REQUIRE(run_tool("tspasm", text + " --system " + system + " -o " + again).exit_code == 0);
  tsp::SystemProgram expected = tsp::read_system_program(original);
  for (auto& program : expected.programs) program.regions = {};
  CHECK(tsp::serialize_system_program(tsp::read_system_program(again)) ==
        tsp::serialize_system_program(expected));
  // Without regions the claim stands.
  const auto plain = (dir / "dis_va.bin").string();
  REQUIRE(run_tool("tspasm", source("examples/vector_add.tsp") + " -o " + plain).exit_code == 0);
  const auto listed = run_tool("tspdis", plain);
  CHECK(listed.out.rfind("; tspdis " + std::string(tsp::kVersion) +
                             " for groq-tsp-gen1-14nm: assembles back to the identical program\n",
                         0) == 0);
}
