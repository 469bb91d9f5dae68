// tspc as a user runs it: --list, a kernel compiled to a program file with its reference outputs,
// the printed tspsim command checking them, and input errors with exit code 2.
#include "cli_harness.h"

#include "tspsim/numeric/numeric.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <utility>
#include <vector>

using tsp::test::run_tool;
using tsp::test::scratch_dir;
using tsp::test::source;

TEST_CASE("tspc --list names every kernel with its options") {
  const auto r = run_tool("tspc", "--list");
  CHECK(r.exit_code == 0);
  for (const char* kernel : {"gemm\n", "gemv\n", "elementwise\n", "convert\n", "requant\n", "residual\n",
                             "reduce\n", "softmax\n", "rmsnorm\n", "layernorm\n", "silu\n", "swiglu\n",
                             "rope\n", "attention\n", "llama\n", "collective\n", "plan\n"})
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

// Sizes no chip holds are refused from the shape before anything grows with them (they used to
// abort with std::bad_alloc or map::at, or take minutes and gigabytes).
TEST_CASE("tspc refuses tensors larger than the chip's SRAM at once, naming the tensors and the SRAM") {
  const std::string config_path = source("configs/14nm.json");
  const std::string config = " --config " + config_path + " -o " + (scratch_dir() / "x.bin").string();
  const std::string sram = "; config '" + config_path +
                           "' has 230686720 (88 MEM slices of 8192 words of 320 bytes): the tensors do not "
                           "fit in MEM\n";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"elementwise --op add --rows 4294967295 --cols 320",
       "elementwise: tensor 'A' (4294967295 x 320 i8) takes 1374389534400 bytes of MEM"},
      {"elementwise --op add --rows 500000 --cols 320",
       "elementwise: tensors 'A' (500000 x 320 i8), 'B' (500000 x 320 i8) take 320000000 bytes of MEM "
       "together"},
      {"convert --rows 100 --cols 4294967295",
       "convert: tensor 'A' (100 x 4294967295 i32) takes 1717986944000 bytes of MEM"},
      {"silu --rows 4294967295 --cols 4294967295",
       "silu: tensor 'X' (4294967295 x 4294967295 f32) takes more than 18446744073709551615 bytes of MEM"},
      {"rope --rows 4294967295 --cols 320",
       "rope: tensor 'X' (4294967295 x 320 f32) takes 5497558137600 bytes of MEM"},
      {"softmax --rows 4294967295 --cols 320",
       "softmax: tensor 'X' (4294967295 x 320 f32) takes 5497558137600 bytes of MEM"},
      {"rmsnorm --rows 3000 --cols 32000",
       "rmsnorm: tensor 'X' (3000 x 32000 f32) takes 384000000 bytes of MEM"},
      {"layernorm --rows 1 --cols 4294967295",
       "layernorm: tensor 'X' (1 x 4294967295 f32) takes 17179869440 bytes of MEM"},
      {"reduce --axis rows --rows 4294967295 --cols 320",
       "reduce: tensor 'X' (4294967295 x 320 f32) takes 5497558137600 bytes of MEM"},
      {"gemv --k 4294967295 --n 320", "gemv: tensor 'A' (1 x 4294967295 i8) takes 4294967360 bytes of MEM"},
      {"gemm --m 320 --k 320 --n 4294967295",
       "gemm: tensor 'B' (320 x 4294967295 i8) takes 1374389555200 bytes of MEM"},
  };
  for (const auto& [kernel, message] : cases) {
    INFO(kernel);
    const auto r = run_tool("tspc", kernel + config);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "error: " + message + sram);
  }
  for (const char* kind : {"all-reduce", "reduce-scatter", "all-gather"}) {
    const auto r =
        run_tool("tspc", fmt::format("collective --system {} --kind {} --rows 100000000 --cols 320{}",
                                     source("configs/systems/node8.json"), kind, config));
    CHECK(r.exit_code == 2);
    CHECK(r.err ==
          fmt::format("error: {} on chip 0: tensor 'X' (100000000 x 320 f32) takes 128000000000 bytes "
                      "of MEM{}",
                      kind, sram));
  }
  const auto transfer =
      run_tool("tspc", "collective --system " + source("configs/systems/node8.json") +
                           " --kind transfer --chips 3,5 --rows 4294967295 --cols 320 --dtype int8" + config);
  CHECK(transfer.exit_code == 2);
  CHECK(transfer.err ==
        "error: transfer on chip 3: tensor 'X' (4294967295 x 320 i8) takes 1374389534400 bytes of MEM" +
            sram);
  // Each input fits, every chip's block of the output does not.
  const auto gather = run_tool("tspc", "collective --system " + source("configs/systems/node8.json") +
                                           " --kind all-gather --rows 30000 --cols 320" + config);
  CHECK(gather.exit_code == 2);
  CHECK(gather.err ==
        "error: all-gather on chip 0: tensor 'Y' (240000 x 320 f32) takes 307200000 bytes of MEM" + sram);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TSP_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TSP_TEST_ASAN 1
#endif

// What passes the size checks may still be too much for the host: a chip of 254 slices of 2^24
// words holds a 320 GB tensor. Running out of memory is then one line and exit 2, not an abort.
// Under an address-space limit, so that no host commits the memory. AddressSanitizer's allocator
// aborts instead of throwing, and its shadow memory needs more address space than the limit.
#ifndef TSP_TEST_ASAN
TEST_CASE("tspc turns running out of host memory into one line and exit 2") {
  const auto err = scratch_dir() / "oom.txt";
  const std::string command =
      "ulimit -v 4000000; exec " + tsp::test::tool("tspc") + " --config " + source("configs/14nm.json") +
      " --set geometry.mem_words_per_slice=16777216 --set geometry.mem_slices_per_hemisphere=127 elementwise "
      "--op mov --rows 1000000000 --cols 320 -o " +
      (scratch_dir() / "oom.bin").string() + " >/dev/null 2>" + err.string();
  const int status = std::system(command.c_str());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(tsp::test::slurp(err) == "error: out of host memory: the input needs more memory than this host can "
                                 "allocate\n");
}
#endif

namespace {

// tspc's suggested check for a kernel, and the first output's reference file.
struct Suggested {
  std::string command;
  std::string symbol;
  std::string reference;
};

Suggested compile_with_reference(const std::string& kernel, const std::string& name) {
  const auto dir = scratch_dir() / name;
  const auto r = run_tool("tspc", kernel + " --config " + source("configs/14nm.json") + " -o " +
                                      (dir.string() + ".bin") + " --reference " + dir.string());
  REQUIRE(r.exit_code == 0);
  const auto check = r.out.find("check: tspsim ");
  REQUIRE(check != std::string::npos);
  Suggested s;
  s.command = r.out.substr(check + 14, r.out.find('\n', check) - check - 14);
  const auto expect = s.command.find(" --expect ") + 10;
  const auto eq = s.command.find('=', expect);
  s.symbol = s.command.substr(expect, eq - expect);
  s.reference = s.command.substr(eq + 1, s.command.find(' ', eq) - eq - 1);
  return s;
}

// The reference with `change` applied to every element (or to the largest one only).
std::string changed(const std::string& bytes, tsp::isa::DType dtype, double factor, bool largest_only) {
  const unsigned width = tsp::isa::dtype_bytes(dtype);
  const size_t n = bytes.size() / width;
  auto value = [&](size_t e) {
    uint32_t bits = 0;
    for (unsigned b = 0; b < width; ++b) bits |= uint32_t(uint8_t(bytes[e * width + b])) << (8 * b);
    return double(tsp::num::float_from_bits(bits, dtype));
  };
  size_t largest = 0;
  for (size_t e = 1; e < n; ++e)
    if (std::fabs(value(e)) > std::fabs(value(largest))) largest = e;
  std::string out = bytes;
  for (size_t e = 0; e < n; ++e) {
    if (largest_only && e != largest) continue;
    const uint32_t bits = tsp::num::float_to_bits(value(e) * factor, dtype);
    for (unsigned b = 0; b < width; ++b) out[e * width + b] = char(bits >> (8 * b));
  }
  return out;
}

// tspsim accepts its own result under tspc's tolerance, and rejects references wrong by 2x or 3x
// (everywhere, or at the largest element only), all zero, or negated.
void check_tolerance_is_sound(const std::string& kernel, const std::string& name, tsp::isa::DType out_dtype) {
  const auto s = compile_with_reference(kernel, name);
  CHECK(s.command.find(" --expect-tol " + s.symbol + "=file:") != std::string::npos);
  const auto ok = run_tool("tspsim", s.command);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("expect " + s.symbol + ": ok\n") != std::string::npos);
  const std::string original = tsp::test::slurp(s.reference);
  for (const double factor : {2.0, 3.0, 0.0, -1.0})
    for (const bool largest_only : {false, true}) {
      if (largest_only && (factor == 0.0 || factor == -1.0)) continue;
      std::ofstream(s.reference, std::ios::binary | std::ios::trunc)
          << changed(original, out_dtype, factor, largest_only);
      const auto bad = run_tool("tspsim", s.command);
      INFO(name << " factor " << factor << (largest_only ? " at the largest element" : " everywhere"));
      CHECK(bad.exit_code == 1);
      CHECK(bad.out.find("expect " + s.symbol + ": FAILED: element [") != std::string::npos);
    }
  std::ofstream(s.reference, std::ios::binary | std::ios::trunc) << original;
}

} // namespace

TEST_CASE("tspc's float tolerance accepts the simulator and rejects wrong results: bf16 GEMM 8x200x40") {
  check_tolerance_is_sound("gemm --m 8 --k 200 --n 40 --dtype bf16", "bf16_small", tsp::isa::DType::f32);
}

TEST_CASE("tspc's float tolerance accepts the simulator and rejects wrong results: bf16 GEMM 64x2048x320") {
  check_tolerance_is_sound("gemm --m 64 --k 2048 --n 320 --dtype bf16", "bf16_large", tsp::isa::DType::f32);
}

TEST_CASE("tspc's float tolerance accepts the simulator and rejects wrong results: fp16 GEMM") {
  check_tolerance_is_sound("gemm --m 16 --k 300 --n 100 --dtype fp16", "fp16_gemm", tsp::isa::DType::f32);
}

TEST_CASE("tspc's float tolerance accepts the simulator and rejects wrong results: softmax fp32 and fp16") {
  check_tolerance_is_sound("softmax --rows 8 --cols 200 --dtype fp32", "softmax32", tsp::isa::DType::f32);
  check_tolerance_is_sound("softmax --rows 8 --cols 200 --dtype fp16", "softmax16", tsp::isa::DType::f16);
}

TEST_CASE(
    "tspc's float tolerance accepts the simulator and rejects wrong results: rmsnorm bf16, layernorm fp32") {
  check_tolerance_is_sound("rmsnorm --rows 8 --cols 320 --dtype bf16", "rmsnorm", tsp::isa::DType::bf16);
  check_tolerance_is_sound("layernorm --rows 8 --cols 320 --dtype fp32", "layernorm", tsp::isa::DType::f32);
}

TEST_CASE("integer and bit-exact outputs are checked exactly") {
  const auto gemm = compile_with_reference("gemm --m 8 --k 64 --n 40", "int8_gemm");
  CHECK(gemm.command.find("--expect-tol") == std::string::npos);
  const auto r =
      run_tool("tspc", "attention --heads 2 --kv-heads 1 --head-dim 64 --seq 16 --config " +
                           source("configs/14nm.json") + " -o " + (scratch_dir() / "att.bin").string() +
                           " --reference " + (scratch_dir() / "att").string());
  REQUIRE(r.exit_code == 0);
  // The appended K and V cache entries are copies: no tolerance; the output O has one.
  CHECK(r.out.find("--expect-tol O=file:") != std::string::npos);
  CHECK(r.out.find("--expect-tol K") == std::string::npos);
  CHECK(r.out.find("--expect-tol V") == std::string::npos);
}

TEST_CASE("tspc's check command runs where the reference holds infinities or NaNs, bound 0 there") {
  // Stress sweep D1-D6: such an element's bound was NaN, and tspsim rejected the .tol file.
  const std::vector<std::pair<std::string, tsp::isa::DType>> kernels{
      {"elementwise --op rsqrt --rows 1 --cols 8 --dtype fp32", tsp::isa::DType::f32},
      {"elementwise --op rsqrt --rows 1 --cols 8 --dtype bf16", tsp::isa::DType::bf16},
      {"elementwise --op rsqrt --rows 1 --cols 8 --dtype fp16", tsp::isa::DType::f16}};
  for (size_t k = 0; k < kernels.size(); ++k) {
    const auto& [kernel, dtype] = kernels[k];
    INFO(kernel);
    const auto s = compile_with_reference(kernel, "nonfinite" + std::to_string(k));
    const auto sim = run_tool("tspsim", s.command);
    CHECK(sim.exit_code == 0);
    CHECK(sim.err == "");
    CHECK(sim.out.find("expect " + s.symbol + ": ok\n") != std::string::npos);
    const std::string reference = tsp::test::slurp(s.reference);
    const std::string bounds = tsp::test::slurp(s.reference.substr(0, s.reference.size() - 3) + "tol");
    const unsigned width = tsp::isa::dtype_bytes(dtype);
    REQUIRE(bounds.size() == reference.size() / width * 8);
    size_t nonfinite = 0;
    for (size_t e = 0; e < reference.size() / width; ++e) {
      uint32_t bits = 0;
      for (unsigned b = 0; b < width; ++b) bits |= uint32_t(uint8_t(reference[e * width + b])) << (8 * b);
      double bound = 0;
      std::memcpy(&bound, bounds.data() + e * 8, 8);
      if (std::isfinite(tsp::num::float_from_bits(bits, dtype))) {
        CHECK(bound > 0);
      } else {
        CHECK(bound == 0.0);
        ++nonfinite;
      }
    }
    CHECK(nonfinite > 0);
  }
  // Outputs all of whose elements are such are exact: no .tol. An int32 beyond fp16's range converts
  // to an infinity; layernorm with eps 0 over one column divides 0 by sqrt(0).
  const std::vector<std::pair<std::string, tsp::isa::DType>> exact{
      {"convert --rows 1 --cols 1 --from int32 --to fp16", tsp::isa::DType::f16},
      {"layernorm --rows 64 --cols 1 --eps 0", tsp::isa::DType::f32}};
  for (size_t k = 0; k < exact.size(); ++k) {
    const auto& [kernel, dtype] = exact[k];
    INFO(kernel);
    const auto s = compile_with_reference(kernel, "nonfinite_exact" + std::to_string(k));
    CHECK(s.command.find("--expect-tol") == std::string::npos);
    const std::string reference = tsp::test::slurp(s.reference);
    const unsigned width = tsp::isa::dtype_bytes(dtype);
    for (size_t e = 0; e < reference.size() / width; ++e) {
      uint32_t bits = 0;
      for (unsigned b = 0; b < width; ++b) bits |= uint32_t(uint8_t(reference[e * width + b])) << (8 * b);
      CHECK_FALSE(std::isfinite(tsp::num::float_from_bits(bits, dtype)));
    }
    const auto sim = run_tool("tspsim", s.command);
    CHECK(sim.exit_code == 0);
    CHECK(sim.out.find("expect " + s.symbol + ": ok\n") != std::string::npos);
  }
}

TEST_CASE("tspc rejects a RoPE base or a norm eps without meaning, and fp32 options it cannot hold") {
  const std::string config =
      " --config " + source("configs/14nm.json") + " -o " + (scratch_dir() / "x.bin").string();
  const std::vector<std::pair<std::string, std::string>> cases{
      {"rope --rows 3 --cols 40 --head-dim 8 --base 0", "rope: --base must be finite and above 0, not 0"},
      {"rope --rows 3 --cols 40 --head-dim 8 --base -5", "rope: --base must be finite and above 0, not -5"},
      {"rmsnorm --rows 3 --cols 40 --eps -1", "rmsnorm: --eps must be finite and at least 0, not -1"},
      {"rmsnorm --rows 3 --cols 40 --eps nan", "rmsnorm: --eps must be finite and at least 0, not nan"},
      {"layernorm --rows 3 --cols 40 --eps inf", "layernorm: --eps must be finite and at least 0, not inf"},
      {"layernorm --rows 3 --cols 40 --eps 1e39", "--eps: '1e39' is beyond the largest fp32, 3.4028235e+38"},
      {"layernorm --rows 3 --cols 40 --eps 1e999",
       "--eps: '1e999' is beyond the largest fp32, 3.4028235e+38"},
      {"requant --rows 3 --cols 40 --scale 1e-46", "--scale: '1e-46' rounds to 0 in fp32, whose smallest "
                                                   "magnitude is 1e-45"},
      {"requant --rows 3 --cols 40 --scale 1e-999", "--scale: '1e-999' rounds to 0 in fp32, whose smallest "
                                                    "magnitude is 1e-45"},
      {"requant --rows 3 --cols 40 --scale x1", "--scale: expected a number, got 'x1'"}};
  for (const auto& [kernel, message] : cases) {
    INFO(kernel);
    const auto r = run_tool("tspc", kernel + config);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "error: " + message + "\n");
  }
  // fp32 holds 1e-45 as its smallest subnormal, and 3.4028235e38 rounds to its largest finite value.
  for (const std::string kernel :
       {"requant --rows 3 --cols 40 --scale 1e-45", "layernorm --rows 3 --cols 40 --eps 3.4028235e38"}) {
    INFO(kernel);
    const auto r = run_tool("tspc", kernel + config);
    CHECK(r.exit_code == 0);
    CHECK(r.err == "");
  }
}

TEST_CASE("a tspc container survives tspdis and tspasm byte for byte, without --config") {
  const auto dir = scratch_dir();
  const auto a = (dir / "rt.bin").string(), text = (dir / "rt.tsp").string(), b = (dir / "rt2.bin").string();
  REQUIRE(run_tool("tspc", "gemm --m 8 --k 64 --n 40 --dtype bf16 --config " + source("configs/14nm.json") +
                               " -o " + a)
              .exit_code == 0);
  REQUIRE(run_tool("tspdis", a + " -o " + text).exit_code == 0);
  CHECK(tsp::test::slurp(text).find(".generator \"tspc ") != std::string::npos);
  REQUIRE(run_tool("tspasm", text + " -o " + b).exit_code == 0);
  CHECK(tsp::test::slurp(a) == tsp::test::slurp(b));
}

TEST_CASE("tspc takes repeated --set between the kernel's options, one value each") {
  const auto r =
      run_tool("tspc", "gemm --m 8 --set clock_mhz=1000 --k 64 --set streams.hop_cycles=1 --n 40 --config " +
                           source("configs/14nm.json") + " -o " + (scratch_dir() / "set.bin").string());
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("gemm 8x64x40 i8: ", 0) == 0);
}

TEST_CASE("tspc --timing-only: any kernel, the same program bytes, no --reference") {
  const auto dir = scratch_dir();
  const std::string args = "gemv --k 700 --n 640 --config " + source("configs/14nm.json") + " -o ";
  const auto with =
      run_tool("tspc", args + (dir / "with.bin").string() + " --reference " + (dir / "r").string());
  const auto without = run_tool("tspc", args + (dir / "without.bin").string() + " --timing-only");
  REQUIRE(with.exit_code == 0);
  REQUIRE(without.exit_code == 0);
  CHECK(tsp::test::slurp(dir / "with.bin") == tsp::test::slurp(dir / "without.bin"));
  // 700 x 640 int8 weights are declared tensors: the file holds their seeds, not 448,000 bytes.
  CHECK(std::filesystem::file_size(dir / "without.bin") < 100000);
  const auto both = run_tool("tspc", args + (dir / "x.bin").string() + " --timing-only --reference " +
                                         (dir / "r2").string());
  CHECK(both.exit_code == 2);
  CHECK(both.err == "error: gemv: --reference needs the host reference: drop --timing-only\n");
}

TEST_CASE("system_runner refuses a chip without the MEM slices of its traffic program, before any run") {
  const auto tiny =
      run_tool("benchmarks/system_runner", "--chips 8 --rounds 10 --config " + source("configs/tiny.json"));
  CHECK(tiny.exit_code == 2);
  CHECK(tiny.err == "error: the traffic program reads link 4's vectors from MEM_W4, which chip 'tiny' does "
                    "not have (4 MEM slices a hemisphere)\n");
  const auto sizes =
      run_tool("benchmarks/system_runner", "--chips 8,12 --config " + source("configs/14nm.json"));
  CHECK(sizes.exit_code == 2);
  CHECK(sizes.err == "error: --chips: sizes must be multiples of 8\n");
  CHECK(sizes.out.empty());
}

TEST_CASE("system_runner runs one round per link and refuses none") {
  const std::string args = "--chips 8 --all-reduce-rows 0 --config " + source("configs/14nm.json");
  const auto one = run_tool("benchmarks/system_runner", "--rounds 1 " + args);
  CHECK(one.exit_code == 0);
  CHECK(one.err.empty());
  CHECK(one.out.find(": 1 vectors per link,") != std::string::npos);
  const auto none = run_tool("benchmarks/system_runner", "--rounds 0 " + args);
  CHECK(none.exit_code == 2);
  CHECK(none.err == "error: --rounds: expected at least 1 vector per link\n");
  CHECK(none.out.empty());
}

TEST_CASE("numeric_bench --help prints its usage instead of running") {
  const auto help = run_tool("benchmarks/numeric_bench", "--help");
  CHECK(help.exit_code == 0);
  CHECK(help.out.rfind("numeric_bench: throughput of the numeric kernels on this host\n", 0) == 0);
  CHECK(help.out.find("MXM kernel levels") == std::string::npos);
  const auto bad = run_tool("benchmarks/numeric_bench", "fast");
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.empty());
}

TEST_CASE("collectives_runner refuses a folder without the systems and an --only of no case") {
  const auto bogus = run_tool("benchmarks/collectives_runner", "--quick --systems bogus");
  CHECK(bogus.exit_code == 2);
  CHECK(bogus.err == "error: --systems bogus: has no node8.json (expected the folder of the bundled systems, "
                     "configs/systems)\n");
  CHECK(bogus.out.empty());
  const auto only = run_tool("benchmarks/collectives_runner",
                             "--quick --systems " + source("configs/systems") + " --only nope.json");
  CHECK(only.exit_code == 2);
  CHECK(only.err.rfind("error: --only nope.json: no case runs on it (the systems are ", 0) == 0);
}

TEST_CASE("bench_runner and kernels_runner refuse a missing tspsim with one line and exit 2") {
  const auto bench = run_tool("benchmarks/bench_runner", "--tspsim /no/such/tspsim --no-kernels --config " +
                                                             source("configs/14nm.json"));
  CHECK(bench.exit_code == 2);
  CHECK(bench.err ==
        "error: --tspsim /no/such/tspsim: not an executable file (build it, or name the tspsim binary)\n");
  const auto kernels = run_tool("benchmarks/kernels_runner", "--tspsim /no/such/tspsim --config " +
                                                                 source("configs/14nm.json") + " --out " +
                                                                 (scratch_dir() / "k.md").string());
  CHECK(kernels.exit_code == 2);
  CHECK(kernels.err == bench.err);
}
