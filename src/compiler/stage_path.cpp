// Stage placement along the cables (include/tspsim/compiler/stage_path.h).
#include "tspsim/compiler/stage_path.h"

#include <algorithm>
#include <numeric>

namespace tsp::compiler {

namespace {

// Blocks joined by at least one cable, as sorted adjacency lists.
std::vector<std::vector<uint32_t>> cabled_blocks(const Topology& topology, uint32_t blocks, uint32_t width) {
  std::vector<std::vector<uint32_t>> next(blocks);
  for (uint32_t b = 0; b < blocks; ++b) {
    for (uint32_t c = b * width; c < (b + 1) * width; ++c)
      for (const Hop& hop : topology.hops(c)) {
        const uint32_t other = hop.to / width;
        if (other != b && other < blocks) next[b].push_back(other);
      }
    std::sort(next[b].begin(), next[b].end());
    next[b].erase(std::unique(next[b].begin(), next[b].end()), next[b].end());
  }
  return next;
}

// A depth-first search for a path through every block from block 0, trying the blocks with the
// fewest unvisited neighbours first (Warnsdorff's rule); gives up after `budget` steps.
class PathSearch {
public:
  explicit PathSearch(std::vector<std::vector<uint32_t>> next)
      : next_(std::move(next)), seen_(next_.size()) {}

  std::vector<uint32_t> find() {
    path_.push_back(0);
    seen_[0] = true;
    return extend() ? path_ : std::vector<uint32_t>{};
  }

private:
  static constexpr uint64_t kBudget = 1'000'000;

  uint32_t unvisited(uint32_t block) const {
    return uint32_t(
        std::count_if(next_[block].begin(), next_[block].end(), [&](uint32_t b) { return !seen_[b]; }));
  }

  bool extend() {
    if (path_.size() == next_.size()) return true;
    if (++steps_ > kBudget) return false;
    std::vector<std::pair<uint32_t, uint32_t>> choices;
    for (uint32_t b : next_[path_.back()])
      if (!seen_[b]) choices.push_back({unvisited(b), b});
    std::sort(choices.begin(), choices.end());
    for (const auto& [degree, b] : choices) {
      path_.push_back(b);
      seen_[b] = true;
      if (extend()) return true;
      seen_[b] = false;
      path_.pop_back();
      if (steps_ > kBudget) return false;
    }
    return false;
  }

  std::vector<std::vector<uint32_t>> next_;
  std::vector<bool> seen_;
  std::vector<uint32_t> path_;
  uint64_t steps_ = 0;
};

} // namespace

std::vector<std::vector<uint32_t>> pipeline_stage_chips(const Topology& topology, uint32_t stages,
                                                        uint32_t width) {
  std::vector<uint32_t> order = PathSearch(cabled_blocks(topology, stages, width)).find();
  if (order.empty()) {
    order.resize(stages);
    std::iota(order.begin(), order.end(), 0u);
  }
  std::vector<std::vector<uint32_t>> members(stages);
  for (uint32_t s = 0; s < stages; ++s)
    for (uint32_t k = 0; k < width; ++k) members[s].push_back(order[s] * width + k);
  return members;
}

} // namespace tsp::compiler
