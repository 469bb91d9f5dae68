// Reductions and the row kernels built on them (softmax, RMSNorm, LayerNorm) and the activations
// (SiLU, SwiGLU, RoPE), simulated on configs/tiny.json and the 14 nm chip: outputs equal to the
// host reference (bit-exact for integer and max results, within the stated tolerance for float
// arithmetic), no conformance errors, cycles equal to the prediction.
#include "compiler_harness.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/lanes.h"

#include <catch2/catch.hpp>

using tsp::compiler::CompiledKernel;
using tsp::compiler::NormShape;
using tsp::compiler::ReduceShape;
using tsp::isa::DType;
using tsp::test::KernelRun;

namespace {

tsp::ChipConfig config(const std::string& name) { return tsp::test::bundled_config(name); }

void check(const std::string& config_name, CompiledKernel kernel) {
  const KernelRun run(config(config_name), std::move(kernel));
  INFO(run.first_error());
  CHECK(run.errors() == 0);
  CHECK(run.mismatch() == "");
  CHECK(run.result.cycles == run.kernel.predicted_cycles);
}

// check, and the cycle count pinned.
void check_cycles(const std::string& config_name, CompiledKernel kernel, uint64_t cycles) {
  CHECK(kernel.predicted_cycles == cycles);
  check(config_name, std::move(kernel));
}

ReduceShape reduce(bool lanes, const std::string& op, uint32_t rows, uint32_t cols, DType dtype) {
  ReduceShape s;
  s.lanes = lanes;
  s.op = op;
  s.rows = rows;
  s.cols = cols;
  s.dtype = dtype;
  s.seed = rows + cols;
  return s;
}

NormShape norm(uint32_t rows, uint32_t cols, DType dtype) {
  NormShape s;
  s.rows = rows;
  s.cols = cols;
  s.dtype = dtype;
  s.seed = 3 * rows + cols;
  return s;
}

} // namespace

TEST_CASE("int8 sum over the lanes of each row through SXM rotations") {
  check("tiny.json",
        tsp::compiler::compile_reduce(config("tiny.json"), reduce(true, "sum", 4, 32, DType::i8)));
}

TEST_CASE("fp16 max over the lanes of a partial tile fills the padding from the row") {
  check("tiny.json",
        tsp::compiler::compile_reduce(config("tiny.json"), reduce(true, "max", 4, 20, DType::f16)));
}

TEST_CASE("int16 max over two column tiles masks the padding of the last") {
  check("tiny.json",
        tsp::compiler::compile_reduce(config("tiny.json"), reduce(true, "max", 3, 50, DType::i16)));
}

TEST_CASE("fp32 sum across rows in chains") {
  check("tiny.json",
        tsp::compiler::compile_reduce(config("tiny.json"), reduce(false, "sum", 20, 50, DType::f32)));
}

TEST_CASE("int8 max across rows on the 14 nm chip") {
  check("14nm.json",
        tsp::compiler::compile_reduce(config("14nm.json"), reduce(false, "max", 100, 700, DType::i8)));
}

TEST_CASE("bf16 sum over 4096 lanes on the 14 nm chip") {
  check("14nm.json",
        tsp::compiler::compile_reduce(config("14nm.json"), reduce(true, "sum", 6, 4096, DType::bf16)));
}

TEST_CASE("reduce refuses an int32 sum") {
  CHECK_THROWS_WITH(
      tsp::compiler::compile_reduce(config("tiny.json"), reduce(true, "sum", 2, 32, DType::i32)),
      "reduce: a sum of int32 can overflow its int32 result; sum int8 or int16");
}

TEST_CASE("softmax fp16 over two column tiles") {
  check("tiny.json", tsp::compiler::compile_softmax(config("tiny.json"), norm(5, 40, DType::f16)));
}

TEST_CASE("softmax fp32 on a partial tile") {
  check("tiny.json", tsp::compiler::compile_softmax(config("tiny.json"), norm(3, 20, DType::f32)));
}

TEST_CASE("softmax fp16 rows of 1000 on the 14 nm chip") {
  check("14nm.json", tsp::compiler::compile_softmax(config("14nm.json"), norm(16, 1000, DType::f16)));
}

TEST_CASE("rmsnorm bf16") {
  check("tiny.json", tsp::compiler::compile_rmsnorm(config("tiny.json"), norm(5, 40, DType::bf16)));
}

TEST_CASE("rmsnorm bf16 rows of 4096 on the 14 nm chip") {
  check("14nm.json", tsp::compiler::compile_rmsnorm(config("14nm.json"), norm(8, 4096, DType::bf16)));
}

TEST_CASE("layernorm fp32 masks the padding in the variance") {
  check("tiny.json", tsp::compiler::compile_layernorm(config("tiny.json"), norm(5, 40, DType::f32)));
}

TEST_CASE("layernorm fp16 on the 14 nm chip") {
  check("14nm.json", tsp::compiler::compile_layernorm(config("14nm.json"), norm(4, 1000, DType::f16)));
}

// Many short rows: 7 copies of the lane maps instead of 3 (lane_map_copies), so that the maps'
// slices, each dispatching one Read per cycle, no longer limit the rows in flight. With 3 copies
// these took 1,882 (reduce), 3,215 (softmax), 2,908 (layernorm) and 1,938 (rmsnorm) cycles.
TEST_CASE("lane maps get more copies for many short rows, as many as fit in slices of their own") {
  using tsp::compiler::lane_map_copies;
  const tsp::ChipConfig c14 = config("14nm.json");
  CHECK(lane_map_copies(c14, 1, 1) == 3);
  CHECK(lane_map_copies(c14, 127, 1) == 3);
  CHECK(lane_map_copies(c14, 128, 2) == 7);
  CHECK(lane_map_copies(c14, 4097, 3) == 3);
  tsp::ChipConfig narrow = c14;
  narrow.geometry.mem_slices_per_hemisphere = 14;
  CHECK(lane_map_copies(narrow, 4097, 1) == 4);
  CHECK(lane_map_copies(config("tiny.json"), 4097, 1) == 3);
}

TEST_CASE("int16 max over the lanes of 200 short rows with 7 copies of the maps") {
  check_cycles("14nm.json",
               tsp::compiler::compile_reduce(config("14nm.json"), reduce(true, "max", 200, 100, DType::i16)),
               1291);
}

TEST_CASE("softmax fp16 of 200 rows of 321 with 7 copies of the maps") {
  check_cycles("14nm.json", tsp::compiler::compile_softmax(config("14nm.json"), norm(200, 321, DType::f16)),
               2720);
}

TEST_CASE("layernorm fp32 of 200 rows of 1 with 7 copies of the maps") {
  check_cycles("14nm.json", tsp::compiler::compile_layernorm(config("14nm.json"), norm(200, 1, DType::f32)),
               2374);
}

TEST_CASE("rmsnorm fp16 of 200 rows of 321 with 7 copies of the maps") {
  check_cycles("14nm.json", tsp::compiler::compile_rmsnorm(config("14nm.json"), norm(200, 321, DType::f16)),
               1459);
}

TEST_CASE("silu fp16") {
  check("tiny.json", tsp::compiler::compile_silu(config("tiny.json"), {5, 40, DType::f16, 21}));
}

TEST_CASE("swiglu bf16") {
  check("tiny.json", tsp::compiler::compile_swiglu(config("tiny.json"), {5, 40, DType::bf16, 22}));
}

TEST_CASE("rope fp32 with several heads per row") {
  tsp::compiler::RopeShape s;
  s.rows = 4;
  s.cols = 64;
  s.head_dim = 16;
  s.pos0 = 3;
  s.seed = 23;
  check("tiny.json", tsp::compiler::compile_rope(config("tiny.json"), s));
}

TEST_CASE("rope fp16 with 128-column heads on the 14 nm chip") {
  tsp::compiler::RopeShape s;
  s.rows = 8;
  s.cols = 1024;
  s.head_dim = 128;
  s.pos0 = 100;
  s.dtype = DType::f16;
  s.seed = 24;
  check("14nm.json", tsp::compiler::compile_rope(config("14nm.json"), s));
}
