// An open-addressing hash table from 64-bit keys to small values: one flat array of entries, no
// allocation per entry. The scheduler's reservation tables hold one entry per placed value or
// SRAM access, millions on a system-scale program, so a node-based map would cost several times
// the entries themselves. Several entries may share a key (a value's diagonal can carry several
// spans); erasing shifts the following entries back, so no tombstones pile up under rollbacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tsp::compiler {

template <class Value> class FlatTable {
public:
  // Keys are the scheduler's packed reservation keys, which never reach this value.
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  struct Entry {
    uint64_t key = kEmpty;
    Value value{};
  };

  size_t size() const { return size_; }

  // The first entry with `key` for which `match(entry)` holds, or nullptr.
  template <class Match> Entry* find_if(uint64_t key, Match match) {
    if (entries_.empty()) return nullptr;
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      Entry& e = entries_[i];
      if (e.key == kEmpty) return nullptr;
      if (e.key == key && match(e)) return &e;
    }
  }
  template <class Match> const Entry* find_if(uint64_t key, Match match) const {
    return const_cast<FlatTable*>(this)->find_if(key, match);
  }
  Entry* find(uint64_t key) {
    return find_if(key, [](const Entry&) { return true; });
  }
  const Entry* find(uint64_t key) const {
    return find_if(key, [](const Entry&) { return true; });
  }

  // Calls visit(entry) for every entry with `key`.
  template <class Visit> void for_each(uint64_t key, Visit visit) const {
    find_if(key, [&](const Entry& e) {
      visit(e);
      return false;
    });
  }

  // Calls visit(entry) for every entry.
  template <class Visit> void for_each_entry(Visit visit) const {
    for (const Entry& e : entries_)
      if (e.key != kEmpty) visit(e);
  }

  // Starts loading the line where a probe of `key` begins: a caller that knows its next keys hides
  // the cache misses of a large table.
  void prefetch(uint64_t key) const {
    if (!entries_.empty()) __builtin_prefetch(&entries_[home(key)]);
  }

  // Room for `count` entries without growing: a caller that knows how many it will insert spares
  // the doublings, each of which fills a new array and inserts every entry again. Lookups do not
  // depend on the capacity (at most one entry with a key matches).
  void reserve(size_t count) {
    size_t capacity = entries_.empty() ? 64 : entries_.size();
    while (count * 10 > capacity * 7) capacity *= 2;
    if (capacity > entries_.size()) rehash(capacity);
  }

  // Adds an entry (also when `key` is present already); pointers to entries become invalid.
  Entry& insert(uint64_t key, const Value& value) {
    if ((size_ + 1) * 10 > entries_.size() * 7) grow();
    size_t i = home(key);
    while (entries_[i].key != kEmpty) i = (i + 1) & mask_;
    entries_[i] = {key, value};
    ++size_;
    return entries_[i];
  }

  // The entry with `key`, or a new one with `value` if there is none, in one probe; `inserted`
  // says which. Pointers to entries become invalid.
  Entry& find_or_insert(uint64_t key, const Value& value, bool& inserted) {
    if ((size_ + 1) * 10 > entries_.size() * 7) grow();
    size_t i = home(key);
    for (; entries_[i].key != kEmpty; i = (i + 1) & mask_)
      if (entries_[i].key == key) {
        inserted = false;
        return entries_[i];
      }
    entries_[i] = {key, value};
    ++size_;
    inserted = true;
    return entries_[i];
  }

  // Adds an entry unless one with `key` satisfies `conflict(entry)` (then nullptr), in one probe:
  // the probe that finds no conflict ends at the free slot. Pointers to entries become invalid.
  template <class Conflict> Entry* insert_unless(uint64_t key, const Value& value, Conflict conflict) {
    if ((size_ + 1) * 10 > entries_.size() * 7) grow();
    size_t i = home(key);
    for (; entries_[i].key != kEmpty; i = (i + 1) & mask_)
      if (entries_[i].key == key && conflict(entries_[i])) return nullptr;
    entries_[i] = {key, value};
    ++size_;
    return &entries_[i];
  }

  // Removes `entry` (from find); pointers to other entries become invalid.
  void erase(Entry* entry) {
    auto hole = static_cast<size_t>(entry - entries_.data());
    for (size_t j = (hole + 1) & mask_; entries_[j].key != kEmpty; j = (j + 1) & mask_) {
      // An entry may fill the hole if its home is not in (hole, j]: the probe from its home
      // passes the hole before reaching j.
      const size_t from_home = (j - home(entries_[j].key)) & mask_;
      if (from_home >= ((j - hole) & mask_)) {
        entries_[hole] = entries_[j];
        hole = j;
      }
    }
    entries_[hole] = Entry{};
    --size_;
  }

private:
  size_t home(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }

  void grow() { rehash(entries_.empty() ? 64 : entries_.size() * 2); }

  void rehash(size_t capacity) {
    std::vector<Entry> old;
    old.swap(entries_);
    entries_.assign(capacity, Entry{});
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(capacity));
    size_ = 0;
    for (const Entry& e : old)
      if (e.key != kEmpty) insert(e.key, e.value);
  }

  std::vector<Entry> entries_;
  size_t mask_ = 0;
  unsigned shift_ = 0;
  size_t size_ = 0;
};

} // namespace tsp::compiler
