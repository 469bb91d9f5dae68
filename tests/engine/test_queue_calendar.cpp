// The ICU's due calendar against a sorted set of (cycle, id) entries: what take_due returns (and
// take_due_each visits) and what earliest() reports, for near pushes (the bitmap ring), far and
// past ones (the heap) and their mix.
#include "tspsim/engine/queue_calendar.h"

#include <catch2/catch.hpp>
#include <random>
#include <set>

namespace {

using Due = std::vector<std::pair<tsp::Cycle, unsigned>>;

Due take(tsp::QueueCalendar& calendar, tsp::Cycle t) {
  Due out;
  calendar.take_due(t, out);
  return out;
}

Due take_each(tsp::QueueCalendar& calendar, tsp::Cycle t) {
  Due out;
  calendar.take_due_each(t, [&](tsp::Cycle cycle, unsigned id) { out.push_back({cycle, id}); });
  return out;
}

} // namespace

TEST_CASE("queue calendar: ids of a cycle come out in id order, once each") {
  tsp::QueueCalendar calendar(144);
  for (unsigned id : {143u, 5u, 70u, 64u, 5u, 0u}) calendar.push(3, id);
  calendar.push(4, 1);
  CHECK(calendar.earliest() == 3);
  CHECK(take(calendar, 2).empty());
  CHECK(take(calendar, 3) == Due{{3, 0}, {3, 5}, {3, 64}, {3, 70}, {3, 143}});
  CHECK(calendar.earliest() == 4);
  // Pushed for the cycle being taken: comes out at the next take of that cycle.
  calendar.push(3, 9);
  CHECK(calendar.earliest() == 3);
  CHECK(take(calendar, 3) == Due{{3, 9}});
  CHECK(take(calendar, 10) == Due{{4, 1}});
  CHECK(calendar.earliest() == tsp::kNever);
}

TEST_CASE("queue calendar: cycles beyond the ring and behind it merge in cycle order") {
  tsp::QueueCalendar calendar(8);
  calendar.push(200, 2); // 200 cycles ahead: the heap
  calendar.push(63, 7);  // the ring's last bucket
  calendar.push(64, 1);  // one past the ring
  CHECK(calendar.earliest() == 63);
  CHECK(take(calendar, 100) == Due{{63, 7}, {64, 1}});
  calendar.push(50, 3);  // behind the latest cycle taken
  calendar.push(200, 2); // in the ring now, and in the heap: once
  calendar.push(150, 4);
  CHECK(calendar.earliest() == 50);
  CHECK(take(calendar, 200) == Due{{50, 3}, {150, 4}, {200, 2}});
  CHECK(calendar.earliest() == tsp::kNever);
}

TEST_CASE("queue calendar: random pushes and takes agree with a sorted set") {
  std::mt19937 rng(12);
  for (unsigned ids : {1u, 64u, 144u, 300u}) {
    tsp::QueueCalendar calendar(ids);
    std::set<std::pair<tsp::Cycle, unsigned>> model;
    tsp::Cycle t = 0;
    for (int step = 0; step < 4000; ++step) {
      const unsigned pushes = rng() % 4;
      for (unsigned i = 0; i < pushes; ++i) {
        // Mostly near, sometimes far ahead, sometimes behind.
        const unsigned kind = rng() % 10;
        const tsp::Cycle cycle = kind < 7   ? t + rng() % 8
                                 : kind < 9 ? t + rng() % 300
                                            : t - std::min<tsp::Cycle>(t, rng() % 5);
        const unsigned id = rng() % ids;
        calendar.push(cycle, id);
        model.insert({cycle, id});
      }
      const tsp::Cycle expected_earliest = model.empty() ? tsp::kNever : model.begin()->first;
      REQUIRE(calendar.earliest() == expected_earliest);
      if (rng() % 3 == 0) t += 1 + rng() % (rng() % 8 == 0 ? 150 : 3);
      Due expected;
      while (!model.empty() && model.begin()->first <= t) {
        expected.push_back(*model.begin());
        model.erase(model.begin());
      }
      REQUIRE((step % 2 == 0 ? take(calendar, t) : take_each(calendar, t)) == expected);
    }
  }
}

TEST_CASE("queue calendar: take_due_each visits as take_due lists, and a visit's pushes come later") {
  tsp::QueueCalendar calendar(144);
  for (unsigned id : {143u, 5u, 70u}) calendar.push(3, id);
  calendar.push(2, 9);
  Due visited;
  calendar.take_due_each(3, [&](tsp::Cycle cycle, unsigned id) {
    visited.push_back({cycle, id});
    if (id == 5) calendar.push(3, 100); // a higher id of the cycle being visited
  });
  CHECK(visited == Due{{2, 9}, {3, 5}, {3, 70}, {3, 143}});
  CHECK(take_each(calendar, 3) == Due{{3, 100}});
  calendar.push(300, 1); // the heap
  calendar.push(40, 2);
  CHECK(take_each(calendar, 300) == Due{{40, 2}, {300, 1}});
  CHECK(calendar.earliest() == tsp::kNever);
}

TEST_CASE("queue calendar: drop_stale drops whole cycles until one has a current entry") {
  tsp::QueueCalendar calendar(16);
  calendar.push(2, 1);  // stale
  calendar.push(2, 3);  // stale
  calendar.push(5, 4);  // stale
  calendar.push(5, 6);  // current
  calendar.push(5, 9);  // stale
  calendar.push(90, 2); // current, in the heap
  const std::set<std::pair<tsp::Cycle, unsigned>> current{{5, 6}, {90, 2}};
  const auto is_current = [&](tsp::Cycle cycle, unsigned id) { return current.count({cycle, id}) != 0; };
  calendar.drop_stale(is_current);
  CHECK(calendar.earliest() == 5);
  // Cycle 5 keeps its stale entries: take_due returns them for the caller to skip.
  CHECK(take(calendar, 5) == Due{{5, 4}, {5, 6}, {5, 9}});
  calendar.push(30, 7); // stale, before the heap's current entry
  calendar.drop_stale(is_current);
  CHECK(calendar.earliest() == 90);
  calendar.drop_stale([](tsp::Cycle, unsigned) { return false; });
  CHECK(calendar.earliest() == tsp::kNever);
}
