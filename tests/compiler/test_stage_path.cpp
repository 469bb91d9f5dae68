// Pipeline stage placement (include/tspsim/compiler/stage_path.h): consecutive stages on cabled
// blocks of chips, the blocks' own order kept where it is already cabled, and the fallback.
#include "tspsim/compiler/stage_path.h"
#include "tspsim/config/system.h"

#include <catch2/catch.hpp>
#include <numeric>
#include <set>

using namespace tsp;
using namespace tsp::compiler;

namespace {

const std::string kSystems = TSPSIM_SOURCE_DIR "/configs/systems";

// The block (index of `width` consecutive chips) each stage sits on, checking that a stage is one
// whole block.
std::vector<uint32_t> blocks_of(const std::vector<std::vector<uint32_t>>& stages, uint32_t width) {
  std::vector<uint32_t> blocks;
  for (const auto& chips : stages) {
    REQUIRE(chips.size() == width);
    for (uint32_t k = 0; k < width; ++k) REQUIRE(chips[k] == chips[0] + k);
    REQUIRE(chips[0] % width == 0);
    blocks.push_back(chips[0] / width);
  }
  return blocks;
}

std::vector<uint32_t> in_order(uint32_t n) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  return order;
}

bool cabled(const Topology& topology, const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  for (uint32_t x : a)
    for (uint32_t y : b)
      if (topology.direct(x, y)) return true;
  return false;
}

} // namespace

TEST_CASE("stages keep the chips' order where consecutive blocks are cabled (node, rack)") {
  const Topology node(load_system(kSystems + "/node8.json"));
  REQUIRE(blocks_of(pipeline_stage_chips(node, 2, 4), 4) == in_order(2));
  REQUIRE(blocks_of(pipeline_stage_chips(node, 8, 1), 1) == in_order(8));
  const Topology rack(load_system(kSystems + "/rack72.json"));
  REQUIRE(blocks_of(pipeline_stage_chips(rack, 9, 8), 8) == in_order(9));
  REQUIRE(blocks_of(pipeline_stage_chips(rack, 1, 72), 72) == in_order(1));
}

TEST_CASE("on two racks the second rack starts at the node cabled to the first rack's last") {
  // Rack 0's chip c is cabled to rack 1's chip c: node 8 of rack 0 (block 8) reaches only node 8
  // of rack 1 (block 17) among the blocks not yet used.
  const Topology topology(load_system(kSystems + "/dragonfly2.json"));
  const auto stages = pipeline_stage_chips(topology, 18, 8);
  REQUIRE(blocks_of(stages, 8) ==
          std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 17, 9, 10, 11, 12, 13, 14, 15, 16});
  for (size_t s = 1; s < stages.size(); ++s) REQUIRE(cabled(topology, stages[s - 1], stages[s]));
}

TEST_CASE("on eight racks every stage's node is cabled to the previous stage's") {
  const Topology topology(load_system(kSystems + "/dragonfly8.json"));
  const auto stages = pipeline_stage_chips(topology, 72, 8);
  const auto blocks = blocks_of(stages, 8);
  REQUIRE(blocks.front() == 0);
  REQUIRE(std::set<uint32_t>(blocks.begin(), blocks.end()).size() == 72);
  for (size_t s = 1; s < stages.size(); ++s) REQUIRE(cabled(topology, stages[s - 1], stages[s]));
}

TEST_CASE("without a path through every block from block 0, the stages take the blocks in order") {
  // A star: chip 0 cabled to chips 1, 2 and 3, which share no cable.
  const auto system = parse_system(R"({"chips": [{"config": "../14nm.json", "count": 4}],
      "cables": [[[0, 0], [1, 0]], [[0, 1], [2, 0]], [[0, 2], [3, 0]]]})",
                                   "star.json", kSystems);
  const Topology topology(system);
  REQUIRE(blocks_of(pipeline_stage_chips(topology, 4, 1), 1) == in_order(4));
  // Blocks of two (0-1 and 2-3) are cabled through chip 0 and chip 2: a path exists.
  REQUIRE(blocks_of(pipeline_stage_chips(topology, 2, 2), 2) == in_order(2));
}
