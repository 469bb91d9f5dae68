// The cases on which tspc once aborted or emitted hazards (issue 9), each compiled as `tspc` would
// compile it and simulated: zero conformance errors, cycles equal to the prediction, outputs equal
// to the host reference; or, where the config cannot hold the kernel, the one-line error that
// names the limit.
#include "compiler_harness.h"
#include "tspsim/common/error.h"
#include "tspsim/compiler/registry.h"

#include <catch2/catch.hpp>
#include <limits>

namespace {

using Args = std::vector<std::pair<std::string, std::string>>;

tsp::compiler::CompiledKernel compile(const tsp::ChipConfig& config, const std::string& kernel, const Args& args) {
  const auto* entry = tsp::compiler::find_kernel(kernel);
  REQUIRE(entry != nullptr);
  tsp::compiler::KernelArgs values;
  for (const auto& [name, value] : args) values.set(name, value);
  return entry->compile(config, tsp::compiler::with_defaults(*entry, values));
}

void check(const std::string& config_name, const std::vector<std::string>& overrides, const std::string& kernel,
           const Args& args) {
  auto config = tsp::test::bundled_config(config_name, overrides);
  auto compiled = compile(config, kernel, args);
  const tsp::test::KernelRun run(std::move(config), std::move(compiled));
  INFO(run.first_error());
  CHECK(run.errors() == 0);
  CHECK(run.mismatch() == "");
  CHECK(run.result.cycles == run.kernel.predicted_cycles);
}

} // namespace

TEST_CASE("attention over 3,521 positions (a partial 12th tile) on the 14 nm chip") {
  check("14nm.json", {}, "attention", {{"heads", "4"}, {"kv-heads", "4"}, {"head-dim", "64"}, {"seq", "3520"}});
}

TEST_CASE("attention with a Llama 4k context (32 heads, 8 kv heads, head_dim 128, seq 4096)") {
  check("14nm.json", {}, "attention", {{"heads", "32"}, {"kv-heads", "8"}, {"head-dim", "128"}, {"seq", "4096"}});
}

TEST_CASE("fp32 sum over 20 rows of 7 columns") {
  check("14nm.json", {}, "reduce", {{"axis", "rows"}, {"op", "sum"}, {"rows", "20"}, {"cols", "7"}, {"dtype", "fp32"}});
}

TEST_CASE("int32 max over 19 rows of 1000 columns") {
  check("14nm.json", {}, "reduce",
        {{"axis", "rows"}, {"op", "max"}, {"rows", "19"}, {"cols", "1000"}, {"dtype", "int32"}});
}

TEST_CASE("int32 max over 320 rows of 1000 columns takes fewer chains") {
  check("14nm.json", {}, "reduce",
        {{"axis", "rows"}, {"op", "max"}, {"rows", "320"}, {"cols", "1000"}, {"dtype", "int32"}});
}

TEST_CASE("fp32 softmax of one row of 33 on tiny (two tiles in the same four slices)") {
  check("tiny.json", {}, "softmax", {{"rows", "1"}, {"cols", "33"}, {"dtype", "fp32"}});
}

TEST_CASE("fp32 rmsnorm of one row of 33 on tiny") {
  check("tiny.json", {}, "rmsnorm", {{"rows", "1"}, {"cols", "33"}, {"dtype", "fp32"}});
}

TEST_CASE("fp32 layernorm of one row of 64 on tiny (two VXM queues)") {
  check("tiny.json", {}, "layernorm", {{"rows", "1"}, {"cols", "64"}, {"dtype", "fp32"}});
}

TEST_CASE("fp32 layernorm of 16 rows of 1 on tiny fetches its text") {
  check("tiny.json", {}, "layernorm", {{"rows", "16"}, {"cols", "1"}, {"dtype", "fp32"}});
}

TEST_CASE("fp32 softmax of 32 rows of 1 on tiny fetches its text") {
  check("tiny.json", {}, "softmax", {{"rows", "32"}, {"cols", "1"}, {"dtype", "fp32"}});
}

TEST_CASE("fp32 rmsnorm of 64 rows of 1 on tiny fetches its text") {
  check("tiny.json", {}, "rmsnorm", {{"rows", "64"}, {"cols", "1"}, {"dtype", "fp32"}});
}

TEST_CASE("fp32 lane sum of 64 rows of 1 on tiny fetches its text") {
  check("tiny.json", {}, "reduce", {{"rows", "64"}, {"cols", "1"}, {"dtype", "fp32"}});
}

TEST_CASE("swiglu 128 x 1536 on the 14 nm chip with 2 superlanes fetches its text in order") {
  check("14nm.json", {"geometry.superlanes=2"}, "swiglu", {{"rows", "128"}, {"cols", "1536"}, {"dtype", "fp32"}});
}

TEST_CASE("gemv with n over 576 on the 14 nm chip with 2 superlanes") {
  check("14nm.json", {"geometry.superlanes=2"}, "gemv", {{"k", "640"}, {"n", "960"}});
}

TEST_CASE("attention on tiny names its MEM slice limit") {
  const auto config = tsp::test::bundled_config("tiny.json");
  CHECK_THROWS_WITH(compile(config, "attention", {{"heads", "1"}, {"kv-heads", "1"}, {"head-dim", "8"}, {"seq", "0"}}),
                    "attention: the KV cache is read by LW from 16 MEM slices of one hemisphere; config '" +
                        config.source + "' has 4 MEM slices per hemisphere");
}

TEST_CASE("a small GEMM without --planes takes the fastest plane count (one, for 8 x 320 x 320)") {
  auto config = tsp::test::bundled_config("14nm.json");
  const Args shape{{"m", "8"}, {"k", "320"}, {"n", "320"}, {"dtype", "int8"}};
  Args one = shape;
  one.emplace_back("planes", "1");
  Args four = shape;
  four.emplace_back("planes", "4");
  const auto on_one = compile(config, "gemm", one).predicted_cycles;
  CHECK(compile(config, "gemm", four).predicted_cycles > on_one);
  auto chosen = compile(config, "gemm", shape);
  CHECK(chosen.predicted_cycles == on_one);
  const tsp::test::KernelRun run(std::move(config), std::move(chosen));
  CHECK(run.errors() == 0);
  CHECK(run.mismatch() == "");
  CHECK(run.result.cycles == run.kernel.predicted_cycles);
}

// Outputs with infinities or NaNs (stress sweep D1-D6): the reference holds them with tolerance 0,
// and the simulated chip writes the same infinities and NaNs.
TEST_CASE("rsqrt of negative fp32 inputs gives NaNs checked exactly") {
  check("14nm.json", {}, "elementwise", {{"op", "rsqrt"}, {"rows", "1"}, {"cols", "8"}, {"dtype", "fp32"}});
}

TEST_CASE("rsqrt of negative bf16 inputs gives NaNs checked exactly") {
  check("14nm.json", {}, "elementwise", {{"op", "rsqrt"}, {"rows", "1"}, {"cols", "8"}, {"dtype", "bf16"}});
}

TEST_CASE("recip of a bf16 zero gives an infinity checked exactly") {
  check("14nm.json", {}, "elementwise",
        {{"op", "recip"}, {"rows", "64"}, {"cols", "4095"}, {"dtype", "bf16"}});
}

TEST_CASE("int32 to fp16 beyond 65504 converts to infinity, checked exactly") {
  check("14nm.json", {}, "convert", {{"rows", "1"}, {"cols", "1"}, {"from", "int32"}, {"to", "fp16"}});
}

TEST_CASE("layernorm with eps 0 over rows of one column gives NaNs checked exactly") {
  check("14nm.json", {}, "layernorm", {{"rows", "64"}, {"cols", "1"}, {"eps", "0"}});
}

TEST_CASE("an infinity or NaN as written takes tolerance 0, whatever bound the kernel gave") {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // 70000 rounds to +infinity in fp16; the kernels' bounds there are infinite or NaN.
  const auto out = tsp::compiler::make_expected("Y", tsp::isa::DType::f16, {1.0, -inf, nan, 70000.0},
                                                {0.5, inf, nan, 0.5});
  CHECK(out.tolerance == std::vector<double>{0.5, 0.0, 0.0, 0.0});
}

TEST_CASE("silu on 3 MEM slices per hemisphere names its MEM slice limit") {
  const auto config = tsp::test::bundled_config("14nm.json", {"geometry.mem_slices_per_hemisphere=3"});
  CHECK_THROWS_WITH(
      compile(config, "silu", {{"rows", "3"}, {"cols", "13"}}),
      "tensor 'X' needs 4 MEM slices of one hemisphere, one for each byte plane of its f32 vectors; "
      "config '" +
          config.source + "' has 3 MEM slices per hemisphere");
}

TEST_CASE("an int8 lane sum on 1 MEM slice per hemisphere names the lane maps' MEM slice limit") {
  const auto config = tsp::test::bundled_config("tiny.json", {"geometry.mem_slices_per_hemisphere=1"});
  CHECK_THROWS_WITH(
      compile(config, "reduce", {{"axis", "lanes"}, {"rows", "3"}, {"cols", "13"}, {"dtype", "int8"}}),
      "an unnamed tensor needs 2 MEM slices of one hemisphere, one for each byte plane of its i16 "
      "vectors; config '" +
          config.source + "' has 1 MEM slices per hemisphere");
}

TEST_CASE("fp32 softmax of 8 rows of 1 on tiny with one lane (the max over one lane is a mov)") {
  check("tiny.json", {"geometry.superlanes=1", "geometry.lanes_per_superlane=1"}, "softmax",
        {{"rows", "8"}, {"cols", "1"}, {"dtype", "fp32"}});
}

TEST_CASE("a queue that must fetch text on a 6-byte vector names the instruction word size") {
  const auto config =
      tsp::test::bundled_config("14nm.json", {"geometry.superlanes=1", "geometry.lanes_per_superlane=6"});
  CHECK_THROWS_WITH(compile(config, "softmax", {{"rows", "64"}, {"cols", "1"}}),
                    "queue MEM_E32 has 316 instructions, more than its 256-entry buffer, and a 6-byte vector "
                    "cannot hold one 8-byte instruction word to fetch the rest");
}

TEST_CASE("an int8 sum over 20,000 rows in one chain (a 40,000-operation path) on the 14 nm chip") {
  check("14nm.json", {"icu.vxm_queues=2", "icu.instruction_buffer_entries=32768"}, "reduce",
        {{"axis", "rows"}, {"op", "sum"}, {"rows", "20000"}, {"cols", "3"}, {"dtype", "int8"}});
}

TEST_CASE("fp16 GEMM of 700 x 4096 x 16 keeps idle cycles for the Ifetches of its busiest MEM queue") {
  // Its result and copy Writes left MEM_W43 no idle cycle for 1,431 instructions against a
  // 256-entry buffer; the second compile keeps one cycle in 128 of that queue idle.
  check("14nm.json", {}, "gemm", {{"m", "700"}, {"k", "4096"}, {"n", "16"}, {"dtype", "fp16"}});
}

TEST_CASE("an int8 add of 1000 rows of 1 with 64-entry instruction buffers keeps fetch cycles") {
  check("14nm.json", {"icu.instruction_buffer_entries=64"}, "elementwise",
        {{"op", "add"}, {"rows", "1000"}, {"cols", "1"}, {"dtype", "int8"}});
}

TEST_CASE("with 32-entry buffers a queue that starves with one cycle in 16 kept is the one-line error") {
  // The retries move the Writes to MEM_W10, which starves too; the error names the first queue.
  const auto config = tsp::test::bundled_config("14nm.json", {"icu.instruction_buffer_entries=32"});
  CHECK_THROWS_WITH(
      compile(config, "elementwise", {{"op", "add"}, {"rows", "1000"}, {"cols", "1"}, {"dtype", "int8"}}),
      "queue MEM_W15 has 126 instructions and too few idle cycles to fetch them in time into its "
      "32-entry buffer");
}

TEST_CASE("a reduction whose chain no longer fits with kept fetch cycles names the starved queue") {
  const auto config = tsp::test::bundled_config("tiny.json");
  CHECK_THROWS_WITH(
      compile(config, "reduce",
              {{"axis", "rows"}, {"op", "max"}, {"rows", "320"}, {"cols", "7"}, {"dtype", "int16"}}),
      "queue VXM.0 has 321 instructions and too few idle cycles to fetch them in time into its 256-entry "
      "buffer");
}

TEST_CASE("int32 max over 4,000 rows of 320 columns: five chains collide in their first rows, one fits") {
  check("14nm.json", {}, "reduce",
        {{"axis", "rows"}, {"op", "max"}, {"rows", "4000"}, {"cols", "320"}, {"dtype", "int32"}});
}
