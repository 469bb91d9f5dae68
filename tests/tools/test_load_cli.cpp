// tspsim --load SYMBOL=FILE: a tensor's elements set before the run, in the format --dump writes,
// and its input errors (one line, exit code 2).
#include "cli_harness.h"

#include <catch2/catch.hpp>
#include <fstream>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::slurp;
using tsp::test::source;

namespace {

const std::string kConfig = " --config " + source("configs/14nm.json");

// A residual kernel C = X + R of one fp16 vector, compiled once per test process.
std::string residual_program() {
  const auto program = (scratch_dir() / "residual.bin").string();
  const auto r = run_tool("tspc", "residual --rows 1 --cols 320 --dtype fp16" + kConfig + " -o " + program);
  REQUIRE(r.exit_code == 0);
  return program;
}

std::string write(const std::string& name, const std::string& bytes) {
  const auto path = (scratch_dir() / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// `count` fp16 elements of the bit pattern `bits`.
std::string f16s(uint16_t bits, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += {char(bits & 0xff), char(bits >> 8)};
  return out;
}

} // namespace

TEST_CASE("tspsim --load replaces a tensor's initial elements") {
  const auto program = residual_program();
  const auto x = write("x.bin", f16s(0x3c00, 320)); // 1.0
  const auto r = write("r.bin", f16s(0x4000, 320)); // 2.0
  const auto c = (scratch_dir() / "c.bin").string();
  const auto sim =
      run_tool("tspsim", program + kConfig + " --load X=" + x + " --load R=" + r + " --dump C=" + c);
  CHECK(sim.exit_code == 0);
  CHECK(slurp(c) == f16s(0x4200, 320)); // 3.0
}

TEST_CASE("tspsim --load reports a bad path, an unknown symbol and a wrong size in one line") {
  const auto program = residual_program();
  auto r = run_tool("tspsim", program + kConfig + " --load X=/nonexistent/x.bin");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --load X: cannot read '/nonexistent/x.bin': No such file or directory\n");
  const auto x = write("x.bin", f16s(0x3c00, 320));
  r = run_tool("tspsim", program + kConfig + " --load NOPE=" + x);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --load NOPE=" + x + ": the program has no symbol 'NOPE'\n");
  const auto short_file = write("short.bin", std::string(10, '\0'));
  r = run_tool("tspsim", program + kConfig + " --load X=" + short_file);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --load X: '" + short_file + "' has 10 bytes; X (f16 1x320) needs 640\n");
  r = run_tool("tspsim", program + kConfig + " --load X");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --load X: expected SYMBOL=FILE\n");
}
