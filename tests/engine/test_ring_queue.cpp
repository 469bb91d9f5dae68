// The ICU queue's buffer against std::deque: appends that wrap around the ring or grow it, pops,
// front, back and indexing, from an empty ring and from a ring taken over full from a vector.
#include "tspsim/engine/ring_queue.h"

#include <catch2/catch.hpp>
#include <deque>
#include <random>

namespace {

void check_same(const tsp::RingQueue<int>& ring, const std::deque<int>& model) {
  REQUIRE(ring.size() == model.size());
  REQUIRE(ring.empty() == model.empty());
  if (model.empty()) return;
  REQUIRE(ring.front() == model.front());
  REQUIRE(ring.back() == model.back());
  for (size_t i = 0; i < model.size(); ++i) REQUIRE(ring[i] == model[i]);
}

void random_use(tsp::RingQueue<int>& ring, std::deque<int>& model, unsigned seed) {
  std::mt19937 rng(seed);
  int next = static_cast<int>(model.size());
  for (int step = 0; step < 3000; ++step) {
    if (rng() % 2 == 0) {
      std::vector<int> block(rng() % 40);
      for (int& value : block) value = next++;
      ring.append(block.data(), block.size());
      model.insert(model.end(), block.begin(), block.end());
    } else {
      for (unsigned pops = rng() % 40; pops > 0 && !model.empty(); --pops) {
        ring.pop_front();
        model.pop_front();
      }
    }
    check_same(ring, model);
  }
}

} // namespace

TEST_CASE("ring queue: appends and pops agree with a deque, growing and wrapping") {
  tsp::RingQueue<int> ring;
  std::deque<int> model;
  check_same(ring, model);
  random_use(ring, model, 7);
}

TEST_CASE("ring queue: a ring taken over full from a vector keeps its order as it grows") {
  tsp::RingQueue<int> ring(std::vector<int>{0, 1, 2, 3, 4});
  std::deque<int> model{0, 1, 2, 3, 4};
  check_same(ring, model);
  random_use(ring, model, 11);
}
