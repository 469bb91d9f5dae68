// Every kernel of tspc's registry compiled without its host reference (tspc --timing-only): the
// same program byte for byte, the same prediction, no outputs; and the kernels' random inputs are
// declared tensors whose generated elements are the host reference's inputs.
#include "engine_harness.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/registry.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"

#include <catch2/catch.hpp>

using tsp::compiler::KernelArgs;
using tsp::isa::DType;

namespace {

// tiny.json with the 16 MEM slices per side that an LW (GEMM, attention) reads from.
tsp::ChipConfig tiny_lw() {
  return tsp::test::bundled_config("tiny.json", {"geometry.mem_slices_per_hemisphere=16"});
}

KernelArgs args_of(const std::vector<std::pair<std::string, std::string>>& values) {
  KernelArgs args;
  for (const auto& [name, value] : values) args.set(name, value);
  return args;
}

// The declaration of `name` in `program`, or null.
const tsp::DeclaredTensor* declaration(const tsp::Program& program, const std::string& name) {
  const tsp::Symbol* symbol = program.find_symbol(name);
  for (const auto& d : program.declared)
    if (&program.symbols.at(d.symbol) == symbol) return &d;
  return nullptr;
}

} // namespace

TEST_CASE("tspc --timing-only: every kernel compiles to the same program without outputs") {
  const auto config = tiny_lw();
  const std::map<std::string, KernelArgs> cases{
      {"gemm", args_of({{"m", "5"}, {"k", "40"}, {"n", "36"}})},
      {"gemv", args_of({{"k", "70"}, {"n", "40"}, {"dtype", "fp16"}})},
      {"elementwise", args_of({{"op", "add"}, {"rows", "9"}, {"cols", "40"}, {"broadcast", "row"}})},
      {"convert", args_of({{"rows", "3"}, {"cols", "20"}})},
      {"requant", args_of({{"rows", "3"}, {"cols", "20"}})},
      {"residual", args_of({{"rows", "4"}, {"cols", "33"}})},
      {"reduce", args_of({{"rows", "6"}, {"cols", "40"}, {"axis", "rows"}})},
      {"softmax", args_of({{"rows", "4"}, {"cols", "40"}})},
      {"rmsnorm", args_of({{"rows", "4"}, {"cols", "40"}})},
      {"layernorm", args_of({{"rows", "4"}, {"cols", "40"}, {"dtype", "bf16"}})},
      {"silu", args_of({{"rows", "3"}, {"cols", "32"}})},
      {"swiglu", args_of({{"rows", "3"}, {"cols", "40"}, {"dtype", "fp16"}})},
      {"rope", args_of({{"rows", "3"}, {"cols", "32"}, {"head-dim", "16"}})},
      {"attention", args_of({{"heads", "2"}, {"kv-heads", "1"}, {"head-dim", "16"}, {"seq", "5"}})},
  };
  for (const auto& entry : tsp::compiler::kernel_registry()) {
    if (entry.name == "llama") continue; // tests/tools/test_llama_cli.cpp
    INFO(entry.name);
    REQUIRE(cases.count(entry.name) == 1);
    const KernelArgs args = tsp::compiler::with_defaults(entry, cases.at(entry.name));
    KernelArgs timing = args;
    timing.set("timing-only", "");
    const auto full = entry.compile(config, args);
    const auto bare = entry.compile(config, timing);
    CHECK(tsp::serialize_program(bare.program) == tsp::serialize_program(full.program));
    CHECK(bare.predicted_cycles == full.predicted_cycles);
    CHECK_FALSE(full.outputs.empty());
    CHECK(bare.outputs.empty());
    CHECK_FALSE(full.program.declared.empty());
  }
}

TEST_CASE("gemv and gemm: A and B are declared windows of their seeded streams, no stored images") {
  const auto config = tiny_lw();
  const auto& entry = *tsp::compiler::find_kernel("gemm");
  const auto kernel = entry.compile(
      config,
      tsp::compiler::with_defaults(entry, args_of({{"m", "3"}, {"k", "70"}, {"n", "40"}, {"seed", "7"}})));
  // MEM starts at zero, so C needs no image; A (3 x 70: k-tiles of 32, 32, 6 columns) and B
  // (70 x 40: 3 x 2 tiles) are declared.
  CHECK(kernel.program.images.empty());
  const auto a = tsp::random_tensor(DType::i8, 3, 70, 7);
  const auto b = tsp::random_tensor(DType::i8, 70, 40, 8);
  const tsp::DeclaredTensor* a2 = declaration(kernel.program, "A.k2");
  REQUIRE(a2 != nullptr);
  CHECK(a2->row_stride == 70);
  CHECK(tsp::declared_elements(*a2, *kernel.program.find_symbol("A.k2")) ==
        tsp::compiler::sub_block(a, 1, 70, 0, 3, 64, 6));
  const tsp::DeclaredTensor* b21 = declaration(kernel.program, "B.k2.n1");
  REQUIRE(b21 != nullptr);
  CHECK(tsp::declared_elements(*b21, *kernel.program.find_symbol("B.k2.n1")) ==
        tsp::compiler::sub_block(b, 1, 40, 64, 6, 32, 8));
  CHECK(declaration(kernel.program, "C.n0") == nullptr);
}
