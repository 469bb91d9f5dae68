// Staggered tensors (docs/compiler.md, "Staggered tensors"): MXM operands of 16 slices, each slice
// at its own base, fill all 44 slices of a hemisphere, where tensors at one base fill at most 32.
#include "engine_harness.h"
#include "tspsim/common/error.h"
#include "tspsim/compiler/placement.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>

using tsp::isa::DType;

namespace {

// The 14 nm chip with 160 words per slice: a hemisphere holds 44 x 160 / 320 = 22 tiles of 320
// int8 rows over 16 slices (20 words per slice).
tsp::ChipConfig small_mem() {
  return tsp::test::bundled_config("14nm.json",
                                   {"geometry.mem_words_per_slice=160", "geometry.sram_bytes=4505600"});
}

// Places 320 x 320 int8 tiles in the 16 least used west slices until MEM is full; returns how many
// fit and the message of the one that did not.
template <typename Place>
std::pair<unsigned, std::string> fill(tsp::compiler::ProgramBuilder& builder, Place place) {
  for (unsigned n = 0;; ++n) {
    auto mems = tsp::compiler::least_used(builder, false);
    mems.resize(16);
    try {
      place(fmt::format("T{}", n), mems);
    } catch (const tsp::InputError& e) {
      return {n, e.what()};
    }
  }
}

} // namespace

TEST_CASE("16-slice tensors at their own bases fill all 44 slices of a hemisphere, at one base 32 at most") {
  const auto config = small_mem();
  tsp::compiler::ProgramBuilder staggered(config);
  std::vector<tsp::Symbol> staggered_tiles;
  const auto [count, message] =
      fill(staggered, [&](const std::string& name, const std::vector<unsigned>& mems) {
        staggered_tiles.push_back(staggered.add_staggered_tensor(name, DType::i8, 320, 320, mems, 320, {}));
      });
  CHECK(count == 22);
  for (unsigned mem : tsp::compiler::side_slices(staggered.schedule(), false))
    CHECK(staggered.memory().used(mem) == 160);
  // Global MEM 0 is MEM_W0, the nearest to the VXM: first among the equally full.
  CHECK(message ==
        "tensor 'T22' needs 20 words from address 160 in MEM slice 0; a slice has 160 words (the tensors "
        "do not fit in MEM)");
  // The third tile takes the 12 slices beside the first two at address 0 and 4 of their slices at
  // 20: row r is in slice r % 16 at that slice's own base + r / 16.
  const tsp::Symbol& third = staggered_tiles.at(2);
  REQUIRE(third.bases.size() == 16);
  CHECK(std::count(third.bases.begin(), third.bases.end(), 0u) == 12);
  CHECK(std::count(third.bases.begin(), third.bases.end(), 20u) == 4);
  CHECK(third.base == third.bases[0]);
  for (uint32_t r = 0; r < 320; ++r) {
    const tsp::SymbolWord w = tsp::symbol_word(third, r, 0);
    CHECK(w.mem == third.slices[r % 16]);
    CHECK(w.address == third.bases[r % 16] + r / 16);
  }

  tsp::compiler::ProgramBuilder one_base(config);
  const auto [at_one_base, full] =
      fill(one_base, [&](const std::string& name, const std::vector<unsigned>& mems) {
        one_base.add_tensor(name, DType::i8, 320, 320, mems, 320, {});
      });
  // At most 2 of them side by side in each 20-word band of addresses: 2 x 160 / 20 = 16 tiles, the
  // 12 slices beside each pair left to other tensors.
  CHECK(at_one_base == 16u);
  CHECK(full.find("(the tensors do not fit in MEM)") != std::string::npos);
}

// A byte past the element is a caller's bug, not a word: an fp32 value written unconverted to an
// fp16 tensor asked for bytes 2 and 3, which named a slice of the next row group (rows 0..G-2) or
// read past the slices (the last group's rows: a garbage MEM number).
TEST_CASE("symbol_word refuses a byte past the symbol's element") {
  tsp::Symbol head;
  head.name = "heads";
  head.dtype = DType::f16;
  head.rows = 2;
  head.cols = 16;
  head.slices = {3, 4, 5, 6};
  CHECK(tsp::symbol_word(head, 1, 1).mem == 6);
  REQUIRE_THROWS_MATCHES(tsp::symbol_word(head, 0, 2), std::logic_error,
                         Catch::Message("symbol heads: byte 2 of a 2-byte f16 element"));
  REQUIRE_THROWS_MATCHES(tsp::symbol_word(head, 1, 3), std::logic_error,
                         Catch::Message("symbol heads: byte 3 of a 2-byte f16 element"));
  head.name.clear();
  REQUIRE_THROWS_MATCHES(tsp::symbol_word(head, 0, 2), std::logic_error,
                         Catch::Message("a symbol: byte 2 of a 2-byte f16 element"));
}
