// A slice's pending work against a reference ordered by (cycle, push number): what pop() returns,
// and what earliest() and latest() report, for spans in the ring, spans that grow it (also by a
// push earlier than everything held) and spans long enough for the heap.
#include "tspsim/engine/pending_queue.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>

namespace {

using Popped = std::vector<std::pair<tsp::Cycle, int>>;

Popped pop_due(tsp::PendingQueue<int>& queue, tsp::Cycle t) {
  Popped out;
  while (queue.due(t)) {
    const auto [cycle, value] = queue.pop();
    out.emplace_back(cycle, value);
  }
  return out;
}

} // namespace

TEST_CASE("pending queue: cycle order, push order within a cycle") {
  tsp::PendingQueue<int> queue;
  CHECK(queue.empty());
  CHECK(queue.earliest() == tsp::kNever);
  CHECK(queue.latest() == tsp::kNever);
  queue.push(12) = 1;
  queue.push(10) = 2;
  queue.push(12) = 3;
  queue.push(10) = 4;
  CHECK(queue.earliest() == 10);
  CHECK(queue.latest() == 12);
  CHECK(pop_due(queue, 9).empty());
  CHECK(pop_due(queue, 10) == Popped{{10, 2}, {10, 4}});
  CHECK(queue.earliest() == 12);
  // The ring of 64 wraps: cycle 70 is in bucket 6, before cycle 12's.
  queue.push(70) = 5;
  CHECK(queue.latest() == 70);
  CHECK(pop_due(queue, 100) == Popped{{12, 1}, {12, 3}, {70, 5}});
  CHECK(queue.empty());
}

TEST_CASE("pending queue: the ring grows for longer spans, also below the earliest cycle") {
  tsp::PendingQueue<int> queue;
  queue.push(200) = 1;
  queue.push(260) = 2;
  queue.push(150) = 3; // span 110: 128 buckets, re-placed from cycle 200
  queue.push(260) = 4;
  queue.push(1100) = 5; // span 950: 1024 buckets
  CHECK(queue.earliest() == 150);
  CHECK(queue.latest() == 1100);
  CHECK(pop_due(queue, 2000) == Popped{{150, 3}, {200, 1}, {260, 2}, {260, 4}, {1100, 5}});
}

TEST_CASE("pending queue: a span over 4096 cycles waits in a heap until the queue is empty") {
  tsp::PendingQueue<int> queue;
  queue.push(7) = 1;
  queue.push(5) = 2;
  queue.push(7) = 3;
  queue.push(5000) = 4; // span 4995: to the heap, in the ring's order
  queue.push(7) = 5;
  CHECK(queue.earliest() == 5);
  CHECK(queue.latest() == 5000);
  CHECK(pop_due(queue, 7) == Popped{{5, 2}, {7, 1}, {7, 3}, {7, 5}});
  queue.push(6) = 6; // still the heap
  CHECK(queue.earliest() == 6);
  CHECK(pop_due(queue, 5000) == Popped{{6, 6}, {5000, 4}});
  queue.push(9000) = 7; // empty: back to the ring
  queue.push(9001) = 8;
  CHECK(pop_due(queue, 9001) == Popped{{9000, 7}, {9001, 8}});
}

TEST_CASE("pending queue: random pushes and pops match the reference") {
  // Up to three pushes a cycle for 20,000 cycles: most 0-7 cycles ahead, a tenth up to 299 (the
  // ring grows) and `far` per thousand 3,000-5,999 (the heap while one is held). Returns the pushes.
  const auto run = [](uint64_t seed, uint64_t far) {
    std::mt19937_64 random(seed);
    tsp::PendingQueue<int> queue;
    std::map<std::pair<tsp::Cycle, int>, int> reference; // (cycle, push number) -> value
    int pushed = 0;
    for (tsp::Cycle t = 0; t < 20000; ++t) {
      const unsigned pushes = random() % 4;
      for (unsigned i = 0; i < pushes; ++i) {
        const uint64_t kind = random() % 1000;
        const tsp::Cycle delay = kind < far   ? 3000 + random() % 3000
                                 : kind < 100 ? random() % 300
                                              : random() % 8;
        queue.push(t + delay) = pushed;
        reference[{t + delay, pushed}] = pushed;
        ++pushed;
      }
      REQUIRE(queue.earliest() == (reference.empty() ? tsp::kNever : reference.begin()->first.first));
      REQUIRE(queue.latest() == (reference.empty() ? tsp::kNever : reference.rbegin()->first.first));
      while (queue.due(t)) {
        const auto [cycle, value] = queue.pop();
        REQUIRE(!reference.empty());
        REQUIRE(cycle == reference.begin()->first.first);
        REQUIRE(value == reference.begin()->second);
        reference.erase(reference.begin());
      }
      REQUIRE(reference.upper_bound({t, INT32_MAX}) == reference.begin());
    }
    return pushed;
  };
  CHECK(run(12, 0) == 30044);
  CHECK(run(13, 2) == 30149);
}
