// GEMM and GEMV from the compiler, simulated: outputs equal to the host reference, no conformance
// errors, and the simulated cycle count equal to the compiler's prediction. configs/tiny.json
// has 4 MEM slices per hemisphere, fewer than the 16 an LW reads from at once, so the tests give
// it 16 (the MXM plane tests do the same).
#include "compiler_harness.h"
#include "tspsim/compiler/kernels.h"

#include <catch2/catch.hpp>

using tsp::compiler::GemmShape;
using tsp::isa::DType;
using tsp::test::KernelRun;

namespace {

const std::vector<std::string> kTinyLw{"geometry.mem_slices_per_hemisphere=16"};

KernelRun run_gemm(const std::string& config_name, const std::vector<std::string>& overrides,
                   GemmShape shape) {
  auto config = tsp::test::bundled_config(config_name, overrides);
  auto kernel = tsp::compiler::compile_gemm(config, shape);
  return KernelRun(std::move(config), std::move(kernel));
}

void check(const KernelRun& run) {
  INFO(run.first_error());
  CHECK(run.errors() == 0);
  CHECK(run.mismatch() == "");
  CHECK(run.result.cycles == run.kernel.predicted_cycles);
  CHECK(run.kernel.program.metadata.predicted_cycles == run.kernel.predicted_cycles);
}

} // namespace

TEST_CASE("gemm int8 one tile on tiny") {
  const auto run = run_gemm("tiny.json", kTinyLw, {4, 32, 32, DType::i8, 3});
  check(run);
}

TEST_CASE("gemm int8 with k over several tiles, ragged m n and k on both planes") {
  const auto run = run_gemm("tiny.json", kTinyLw, {37, 75, 70, DType::i8, 5});
  check(run);
}

TEST_CASE("gemv int8 splits k over both planes and adds the partial sums in the VXM") {
  const auto run = run_gemm("tiny.json", kTinyLw, {1, 100, 40, DType::i8, 6});
  check(run);
}

TEST_CASE("gemm fp16 on tiny") {
  const auto run = run_gemm("tiny.json", kTinyLw, {9, 70, 40, DType::f16, 7});
  check(run);
}

TEST_CASE("gemv bf16 on tiny") {
  const auto run = run_gemm("tiny.json", kTinyLw, {1, 96, 64, DType::bf16, 8});
  check(run);
}

TEST_CASE("gemm int8 on the 14 nm chip on four planes") {
  const auto run = run_gemm("14nm.json", {}, {100, 700, 1000, DType::i8, 9});
  check(run);
}

TEST_CASE("gemm int8 on a single plane") {
  GemmShape shape{50, 64, 96, DType::i8, 10};
  shape.max_planes = 1;
  const auto run = run_gemm("tiny.json", kTinyLw, shape);
  check(run);
  const auto& floorplan = run.chip->context().floorplan;
  CHECK(run.chip->context().stats.slice(*floorplan.find_slice("MXM_W0")).macs > 0);
  CHECK(run.chip->context().stats.slice(*floorplan.find_slice("MXM_E0")).macs == 0);
}

TEST_CASE("queues longer than their buffer fetch the rest of their text in time") {
  const auto run =
      run_gemm("tiny.json", {"geometry.mem_slices_per_hemisphere=16", "icu.instruction_buffer_entries=16"},
               {3, 200, 64, DType::i8, 11});
  size_t ifetches = 0;
  for (const auto& queue : run.kernel.program.queues) {
    CHECK(queue.words.size() <= 16);
    for (uint64_t word : queue.words) ifetches += tsp::decode(word).opcode == tsp::isa::Opcode::ifetch;
  }
  CHECK(ifetches > 0);
  check(run);
}

TEST_CASE("gemm int8 whose activation copies overflow their slices keeps its planes busy") {
  // 4097 rows of 4 k-tiles per plane need 4 slices of activations; before the overflow avoided
  // weight slices, one plane's LW waited for another's row reads and the GEMM took 20237 cycles.
  const auto run = run_gemm("14nm.json", {}, {4097, 1000, 1000, DType::i8, 12});
  check(run);
  CHECK(run.result.cycles == 16624);
  CHECK(run.kernel.binding_bound().cycles == 16388);
}
