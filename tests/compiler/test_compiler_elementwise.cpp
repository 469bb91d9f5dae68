// Lane-wise kernels from the compiler, simulated on configs/tiny.json (and one 14 nm shape):
// outputs equal to the host reference (bit-exact for integers, within the stated tolerance for
// floats), no conformance errors, cycles equal to the prediction.
#include "compiler_harness.h"
#include "tspsim/compiler/kernels.h"

#include <catch2/catch.hpp>

using tsp::compiler::CompiledKernel;
using tsp::compiler::ElementwiseShape;
using tsp::isa::DType;
using tsp::test::KernelRun;

namespace {

KernelRun simulate(const std::string& config_name, CompiledKernel kernel) {
  return KernelRun(tsp::test::bundled_config(config_name), std::move(kernel));
}

void check(const KernelRun& run) {
  INFO(run.first_error());
  CHECK(run.errors() == 0);
  CHECK(run.mismatch() == "");
  CHECK(run.result.cycles == run.kernel.predicted_cycles);
}

ElementwiseShape shape(const std::string& op, uint32_t rows, uint32_t cols, DType dtype,
                       bool broadcast = false) {
  ElementwiseShape s;
  s.op = op;
  s.rows = rows;
  s.cols = cols;
  s.dtype = dtype;
  s.broadcast = broadcast;
  s.seed = rows * 131 + cols;
  return s;
}

CompiledKernel elementwise(const ElementwiseShape& s) {
  return tsp::compiler::compile_elementwise(tsp::test::bundled_config("tiny.json"), s);
}

} // namespace

TEST_CASE("int8 add saturates lane by lane over two column tiles") {
  check(simulate("tiny.json", elementwise(shape("add", 7, 45, DType::i8))));
}

TEST_CASE("int32 sub with a broadcast row") {
  check(simulate("tiny.json", elementwise(shape("sub", 6, 40, DType::i32, true))));
}

TEST_CASE("int16 xor") { check(simulate("tiny.json", elementwise(shape("xor", 5, 32, DType::i16)))); }

TEST_CASE("fp16 exp") { check(simulate("tiny.json", elementwise(shape("exp", 9, 50, DType::f16)))); }

TEST_CASE("bf16 mul with a broadcast row") {
  check(simulate("tiny.json", elementwise(shape("mul", 9, 70, DType::bf16, true))));
}

TEST_CASE("fp32 rsqrt of random signs gives NaN where the reference does") {
  check(simulate("tiny.json", elementwise(shape("rsqrt", 3, 32, DType::f32))));
}

TEST_CASE("int8 relu and neg wrap at the type's limits") {
  check(simulate("tiny.json", elementwise(shape("neg", 4, 64, DType::i8))));
}

TEST_CASE("convert fp32 to int8 rounds to the nearest integer") {
  tsp::compiler::ConvertShape s{6, 40, DType::f32, DType::i8, 12};
  check(simulate("tiny.json", tsp::compiler::compile_convert(tsp::test::bundled_config("tiny.json"), s)));
}

TEST_CASE("convert int32 to bf16") {
  tsp::compiler::ConvertShape s{5, 33, DType::i32, DType::bf16, 13};
  check(simulate("tiny.json", tsp::compiler::compile_convert(tsp::test::bundled_config("tiny.json"), s)));
}

TEST_CASE("requant int32 to int8 with a scale") {
  tsp::compiler::RequantShape s;
  s.rows = 7;
  s.cols = 48;
  s.scale = 1.0f / 8388608.0f;
  s.seed = 14;
  const auto run =
      simulate("tiny.json", tsp::compiler::compile_requant(tsp::test::bundled_config("tiny.json"), s));
  check(run);
  // Some elements saturate at the int8 limits.
  const auto& values = run.kernel.outputs[0].values;
  CHECK(std::count(values.begin(), values.end(), 127.0) > 0);
  CHECK(std::count(values.begin(), values.end(), -128.0) > 0);
}

TEST_CASE("residual add fp16 on the 14 nm chip") {
  tsp::compiler::ResidualShape s{40, 1000, DType::f16, 15};
  check(simulate("14nm.json", tsp::compiler::compile_residual(tsp::test::bundled_config("14nm.json"), s)));
}

TEST_CASE("elementwise rejects a float-only op on integers and unknown ops") {
  CHECK_THROWS_WITH(elementwise(shape("exp", 2, 32, DType::i8)),
                    "elementwise: exp takes a float type, not i8");
  CHECK_THROWS_WITH(
      elementwise(shape("pow", 2, 32, DType::i8)),
      "elementwise: unknown op 'pow' (one of abs exp mov neg recip relu rsqrt tanh add and max min mul "
      "or sub xor)");
}
