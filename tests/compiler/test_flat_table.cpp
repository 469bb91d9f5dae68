// FlatTable (the scheduler's reservation tables) against std::multimap on a seeded sequence of
// inserts, lookups and erases, with many entries per key and keys that share a home slot.
#include "tspsim/compiler/flat_table.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

using tsp::compiler::FlatTable;

namespace {

// The values stored under `key`, sorted.
std::vector<int> values_of(const FlatTable<int>& table, uint64_t key) {
  std::vector<int> out;
  table.for_each(key, [&](const FlatTable<int>::Entry& e) { out.push_back(e.value); });
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> values_of(const std::multimap<uint64_t, int>& model, uint64_t key) {
  std::vector<int> out;
  for (auto [it, end] = model.equal_range(key); it != end; ++it) out.push_back(it->second);
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("a flat table keeps every entry of a key through growth and erases") {
  FlatTable<int> table;
  std::multimap<uint64_t, int> model;
  std::mt19937_64 random(7);
  // 300 keys, spaced so that some share low bits, a few entries each.
  const auto key_of = [](uint64_t k) { return (k % 3 == 0 ? k << 20 : k) * 7; };
  for (int step = 0; step < 20000; ++step) {
    const uint64_t key = key_of(random() % 300);
    if (random() % 3 != 0 || model.empty()) {
      table.insert(key, step);
      model.emplace(key, step);
      continue;
    }
    // Erase the entry with the smallest value under `key`, if any.
    const auto expected = values_of(model, key);
    if (expected.empty()) continue;
    const int victim = expected.front();
    table.erase(table.find_if(key, [&](const FlatTable<int>::Entry& e) { return e.value == victim; }));
    for (auto [it, end] = model.equal_range(key); it != end; ++it)
      if (it->second == victim) {
        model.erase(it);
        break;
      }
  }
  CHECK(table.size() == model.size());
  CHECK(table.size() > 5000); // the table grew several times
  for (uint64_t k = 0; k < 300; ++k) REQUIRE(values_of(table, key_of(k)) == values_of(model, key_of(k)));
  CHECK(table.find(12345) == nullptr);
}

TEST_CASE("a flat table finds an entry by key and predicate and updates it in place") {
  FlatTable<int> table;
  CHECK(table.find(3) == nullptr);
  table.insert(3, 10);
  table.insert(3, 20);
  table.insert(4, 30);
  auto* twenty = table.find_if(3, [](const FlatTable<int>::Entry& e) { return e.value == 20; });
  REQUIRE(twenty != nullptr);
  twenty->value = 21;
  CHECK(values_of(table, 3) == std::vector<int>{10, 21});
  table.erase(table.find(4));
  CHECK(table.find(4) == nullptr);
  CHECK(table.size() == 2);
}

TEST_CASE("a reserved flat table holds what a growing one holds") {
  FlatTable<int> grown;
  FlatTable<int> reserved;
  reserved.reserve(3000);
  const auto key_of = [](uint64_t k) { return (k % 5 == 0 ? k << 24 : k) * 11; };
  for (int step = 0; step < 6000; ++step) {
    // Reserving again halfway moves the entries already there into a larger array.
    if (step == 3000) reserved.reserve(reserved.size() + 3000);
    grown.insert(key_of(uint64_t(step) % 400), step);
    reserved.insert(key_of(uint64_t(step) % 400), step);
  }
  CHECK(reserved.size() == grown.size());
  for (uint64_t k = 0; k < 400; ++k) REQUIRE(values_of(reserved, key_of(k)) == values_of(grown, key_of(k)));
  REQUIRE(values_of(reserved, key_of(7)).size() == 15);
  CHECK(values_of(reserved, key_of(7)).front() == 7);
}
