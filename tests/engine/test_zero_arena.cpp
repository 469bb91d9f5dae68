// ZeroArena: every block is zeros, 64-byte aligned, and disjoint from every other, across the
// regions it maps (a 2 MiB region holds 102 blocks of 20,480 bytes, so 250 blocks take three).
#include "tspsim/engine/zero_arena.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

TEST_CASE("zero arena: blocks are zeroed, aligned and disjoint across regions") {
  for (auto huge : {tsp::ZeroArena::HugePages::after_first_region, tsp::ZeroArena::HugePages::always}) {
    tsp::ZeroArena arena(20480, huge);
    CHECK(arena.block_bytes() == 20480);
    std::vector<uint8_t*> blocks;
    for (int i = 0; i < 250; ++i) {
      uint8_t* block = arena.allocate();
      REQUIRE(reinterpret_cast<uintptr_t>(block) % 64 == 0);
      REQUIRE(std::all_of(block, block + 20480, [](uint8_t b) { return b == 0; }));
      std::memset(block, i + 1, 20480);
      blocks.push_back(block);
    }
    for (int i = 0; i < 250; ++i) {
      INFO("block " << i);
      CHECK(blocks[i][0] == uint8_t(i + 1));
      CHECK(blocks[i][20479] == uint8_t(i + 1));
    }
  }
}

TEST_CASE("zero arena: a block size is rounded up to 64 bytes") {
  tsp::ZeroArena arena(1000);
  CHECK(arena.block_bytes() == 1024);
  uint8_t* first = arena.allocate();
  CHECK(arena.allocate() == first + 1024);
}
