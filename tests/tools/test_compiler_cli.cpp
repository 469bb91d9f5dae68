// tspc as a user runs it: --list, a kernel compiled to a program file with its reference outputs,
// the printed tspsim command checking them, and input errors with exit code 2.
#include "cli_harness.h"

#include <catch2/catch.hpp>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::source;

TEST_CASE("tspc --list names every kernel with its options") {
  const auto r = run_tool("tspc", "--list");
  CHECK(r.exit_code == 0);
  for (const char* kernel :
       {"gemm\n", "gemv\n", "elementwise\n", "convert\n", "requant\n", "residual\n", "reduce\n", "softmax\n",
        "rmsnorm\n", "layernorm\n", "silu\n", "swiglu\n", "rope\n", "attention\n"})
    CHECK(r.out.find(kernel) != std::string::npos);
  CHECK(r.out.find("  --m          rows of A and C (required)") != std::string::npos);
}

TEST_CASE("tspc writes a program and references that tspsim confirms") {
  const auto dir = scratch_dir();
  const auto program = (dir / "gemm.bin").string();
  const auto r = run_tool("tspc", "gemm --m 40 --k 300 --n 500 --config " + source("configs/14nm.json") +
                                      " -o " + program + " --reference " + (dir / "ref").string());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("gemm 40x300x500 i8: ", 0) == 0);
  const auto check = r.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  const std::string command = r.out.substr(check + 14, r.out.find('\n', check) - check - 14);
  const auto sim = run_tool("tspsim", command);
  CHECK(sim.exit_code == 0);
  CHECK(sim.out.find("conformance errors  0") != std::string::npos);
  CHECK(sim.out.find("expect C.n0: ok") != std::string::npos);
  CHECK(sim.out.find("expect C.n1: ok") != std::string::npos);
  // The cycle count tspsim reports is the one tspc predicted.
  const auto predicted = r.out.substr(20, r.out.find(" cycles predicted") - 20);
  CHECK(sim.out.find("cycles              " + predicted + "\n") != std::string::npos);
}

TEST_CASE("tspc reports bad options with exit code 2") {
  const std::string config =
      " --config " + source("configs/14nm.json") + " -o " + (scratch_dir() / "x.bin").string();
  auto r = run_tool("tspc", "gemm --k 4 --n 4" + config);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: gemm: --m is required (rows of A and C)\n");
  r = run_tool("tspc", "gemm --m 4 --k 4 --n 4 --dtype int4" + config);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "error: --dtype: unknown type 'int4' (int8, int16, int32, fp16, bf16, fp32)\n");
  r = run_tool("tspc", "gemm --m 4 --k 4 --n 4 --config " + source("configs/tiny.json") + " -o x.bin");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("gemm: an LW reads 16 weight rows per cycle, one from each of 16 MEM slices; config") ==
        7);
}
