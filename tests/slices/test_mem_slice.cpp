// MEM slice storage on configs/tiny.json (positions in tests/engine/test_timing.cpp): a functional
// run whose declared tensors pass EngineOptions::generate_at_load_bytes (0 here) generates a
// declared word when a slice reads it and stores the word's chunk only when it is read again or
// written (DeclaredWords, MemSlice::read_word), with the same bytes as generating every declared
// tensor into SRAM at load.
#include "engine_harness.h"
#include "tspsim/program/declared_rows.h"

#include <catch2/catch.hpp>
#include <string>

using tsp::test::Simulation;

namespace {

// Every declared word generated when read, however few.
tsp::EngineOptions on_read() {
  tsp::EngineOptions options;
  options.generate_at_load_bytes = 0;
  return options;
}

// A copy of row `row` of `elements` (rows of `cols` elements of `bytes` bytes).
std::vector<uint8_t> row_of(const std::vector<uint8_t>& elements, uint32_t row, uint32_t cols,
                            unsigned bytes) {
  const size_t row_bytes = size_t{cols} * bytes;
  return {elements.begin() + row * row_bytes, elements.begin() + (row + 1) * row_bytes};
}

// A: 4 declared rows in MEM_W3 (seed 7); B: 4 rows in MEM_E3, 8 hops east, where A's rows are
// copied on E0.
const std::string kCopy = R"(
.tensor A i8 4x32 slices=MEM_W3 base=0 init=random(7)
.tensor B i8 4x32 slices=MEM_E3 base=0 init=zeros
)";

// A's elements as declared.
std::vector<uint8_t> declared_a() { return tsp::random_tensor(tsp::isa::DType::i8, 4, 32, 7); }

} // namespace

TEST_CASE("a declared word read once is generated, not stored") {
  // Read A row 2 at 0 -> written to B row 0 at MEM_E3 at 10: B's chunk is the only one stored.
  Simulation sim(kCopy + R"(
.queue MEM_W3
  Read 2, E0
.queue MEM_E3
  NOP 10
  Write 0, E0
)",
                 "tiny.json", {}, on_read());
  CHECK(sim.log().total() == 0);
  const auto a = declared_a();
  CHECK(row_of(sim.symbol("B"), 0, 32, 1) == row_of(a, 2, 32, 1));
  CHECK(sim.chip->context().sram.blocks() == 1);
  CHECK(sim.symbol("A") == a);
}

TEST_CASE("a declared word read twice has its chunk stored, with the same bytes") {
  // A row 2 read at 0 and 1, written to B rows 0 and 1 at 10 and 11; then A row 3 at 2 (from the
  // stored chunk) to B row 2 at 12.
  Simulation sim(kCopy + R"(
.queue MEM_W3
  Read 2, E0
  Read 2, E0
  Read 3, E0
.queue MEM_E3
  NOP 10
  Write 0, E0
  Repeat 2, 1, 1
)",
                 "tiny.json", {}, on_read());
  CHECK(sim.log().total() == 0);
  const auto a = declared_a();
  const auto b = sim.symbol("B");
  CHECK(row_of(b, 0, 32, 1) == row_of(a, 2, 32, 1));
  CHECK(row_of(b, 1, 32, 1) == row_of(a, 2, 32, 1));
  CHECK(row_of(b, 2, 32, 1) == row_of(a, 3, 32, 1));
  CHECK(sim.chip->context().sram.blocks() == 2);
  CHECK(sim.symbol("A") == a);
}

TEST_CASE("a write beside declared words keeps their values, and a multi-byte tensor's planes") {
  // A is fp32 (4 byte planes, MEM_W3..W0); plane p of row 1 is read at cycle p and written to the
  // same plane of B row 0 (MEM_E0..E3) at 7 + 2p. B's plane 2 shares its chunk with W, which that
  // Write stores; C, read at 1, is then written over W's row 1 (MEM_E2 word 9) at 10.
  Simulation sim(R"(
.tensor A f32 2x8 slices=MEM_W3,MEM_W2,MEM_W1,MEM_W0 base=0 init=random(3)
.tensor B f32 1x8 slices=MEM_E0,MEM_E1,MEM_E2,MEM_E3 base=0 init=zeros
.tensor W i8 4x32 slices=MEM_E2 base=8 init=random(5)
.tensor C i8 1x32 slices=MEM_W3 base=8 init=random(6)
.queue MEM_W3
  Read 1, E0
  Read 8, E4
.queue MEM_W2
  NOP 1
  Read 1, E1
.queue MEM_W1
  NOP 2
  Read 1, E2
.queue MEM_W0
  NOP 3
  Read 1, E3
.queue MEM_E0
  NOP 7
  Write 0, E0
.queue MEM_E1
  NOP 8
  Write 0, E1
.queue MEM_E2
  NOP 9
  Write 0, E2
  Write 9, E4
.queue MEM_E3
  NOP 10
  Write 0, E3
)",
                 "tiny.json", {}, on_read());
  CHECK(sim.first_error() == "");
  const auto a = tsp::random_tensor(tsp::isa::DType::f32, 2, 8, 3);
  CHECK(sim.symbol("B") == row_of(a, 1, 8, 4));
  auto w = tsp::random_tensor(tsp::isa::DType::i8, 4, 32, 5);
  const auto c = tsp::random_tensor(tsp::isa::DType::i8, 1, 32, 6);
  std::copy(c.begin(), c.end(), w.begin() + 32);
  CHECK(sim.symbol("W") == w);
}

// Validation refuses declared tensors that share words; loaded anyway, they are generated in order
// at load, the later one winning, as their images would.
TEST_CASE("declared tensors sharing words are generated at load, the later one winning") {
  const auto config = tsp::test::bundled_config("tiny.json");
  tsp::Program program = tsp::assemble(".tensor A i8 4x32 slices=MEM_E1 base=0 init=random(1)\n"
                                       ".tensor B i8 2x32 slices=MEM_E2 base=0 init=random(2)\n"
                                       ".queue MEM_W0\n    NOP 1\n",
                                       "o.tsp", config);
  program.symbols[1].slices = program.symbols[0].slices; // B moves onto A's words 0 and 1
  tsp::Chip chip("overlap_chip", config, on_read());
  chip.load(program);
  auto expected = tsp::random_tensor(tsp::isa::DType::i8, 4, 32, 1);
  const auto b = tsp::random_tensor(tsp::isa::DType::i8, 2, 32, 2);
  std::copy(b.begin(), b.end(), expected.begin());
  CHECK(chip.read_symbol(program.symbols[0]) == expected);
  CHECK(chip.context().sram.blocks() == 1);
}

// Below EngineOptions::generate_at_load_bytes (16 MiB by default) the declared tensors are stored
// at load; above it nothing is stored until a slice reads them again or writes beside them.
TEST_CASE("declared tensors under the size rule are stored at load, over it only when read") {
  const auto config = tsp::test::bundled_config("tiny.json");
  const tsp::Program program = tsp::assemble(".tensor A i8 4x32 slices=MEM_E1 base=0 init=random(1)\n"
                                             ".tensor B i8 70x32 slices=MEM_E2 base=0 init=random(2)\n"
                                             ".queue MEM_W0\n    NOP 1\n",
                                             "s.tsp", config);
  tsp::Chip at_load("at_load_chip", config, tsp::EngineOptions{});
  at_load.load(program);
  CHECK(at_load.context().sram.blocks() == 3); // A's chunk, B's two
  tsp::EngineOptions over;
  over.generate_at_load_bytes = 4 * 32 + 70 * 32 - 1;
  tsp::Chip on_read_chip("on_read_chip", config, over);
  on_read_chip.load(program);
  CHECK(on_read_chip.context().sram.blocks() == 0);
  CHECK(on_read_chip.read_symbol(program.symbols[1]) == tsp::random_tensor(tsp::isa::DType::i8, 70, 32, 2));
  CHECK(at_load.read_symbol(program.symbols[1]) == on_read_chip.read_symbol(program.symbols[1]));
}
