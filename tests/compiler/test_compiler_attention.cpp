// One decode step of grouped-query attention from the compiler, simulated: the output equal to a
// double-precision reference within the tolerance of probabilities rounded to the input type, the
// appended KV cache bit-exact, no conformance errors, cycles equal to the prediction.
#include "compiler_harness.h"
#include "tspsim/compiler/kernels.h"

#include <catch2/catch.hpp>

using tsp::compiler::AttentionShape;
using tsp::isa::DType;
using tsp::test::KernelRun;

namespace {

void check(const std::string& config_name, const std::vector<std::string>& overrides,
           const AttentionShape& shape) {
  auto config = tsp::test::bundled_config(config_name, overrides);
  auto kernel = tsp::compiler::compile_attention(config, shape);
  const KernelRun run(std::move(config), std::move(kernel));
  INFO(run.first_error());
  CHECK(run.errors() == 0);
  CHECK(run.mismatch() == "");
  CHECK(run.result.cycles == run.kernel.predicted_cycles);
}

} // namespace

TEST_CASE("attention decode with one kv head on tiny") {
  check("tiny.json", {"geometry.mem_slices_per_hemisphere=16"}, {2, 1, 16, 20, DType::f16, 31});
}

TEST_CASE("attention decode bf16 with grouped heads over two cache tiles") {
  check("tiny.json", {"geometry.mem_slices_per_hemisphere=16"}, {4, 2, 32, 40, DType::bf16, 32});
}

TEST_CASE("attention decode on the 14 nm chip appends at the last lane of a tile") {
  check("14nm.json", {}, {8, 2, 64, 319, DType::f16, 33});
}

TEST_CASE("attention rejects heads that are not a multiple of kv heads") {
  CHECK_THROWS_WITH(
      tsp::compiler::compile_attention(tsp::test::bundled_config("14nm.json"), {6, 4, 64, 8, DType::f16, 1}),
      "attention: heads 6 must be a multiple of kv_heads 4");
}

TEST_CASE("attention without a superlane stagger delays a leaf that collides from row 8 on") {
  // Two Reads of the query collide in every cycle once the row reaches 8, past the rows that the
  // empty-chip probe tries: the search gives that leaf a mov and goes on (this aborted).
  check("14nm.json", {"streams.superlane_stagger_cycles=0"}, {9, 3, 64, 16, DType::f16, 1});
}
