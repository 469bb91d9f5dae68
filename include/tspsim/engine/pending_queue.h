// Work a slice has scheduled for a later cycle (an operand read at dispatch + skew, a stream write
// at dispatch + func), taken in cycle order and, within a cycle, in the order it was scheduled.
// Items live in a pool that is reused, so scheduling neither allocates nor moves them; only their
// slot numbers move. Every slice uses this one structure.
//
// The slots wait in a ring of per-cycle FIFO buckets (lists through the slots) spanning the
// earliest to the latest cycle held: one cycle per bucket, a power of two of them, grown as the
// span needs, with a bitmap of the non-empty ones, so a push and a pop are constant work. A span
// over kMaxRingSpan cycles (a latency configured that long) moves every slot into a heap keyed by
// cycle and push order, in the order the ring would take them, until the queue is empty again.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <algorithm>
#include <memory>
#include <vector>

namespace tsp {

template <typename T> class PendingQueue {
public:
  // A slot for an item due at `cycle`, to be filled by the caller before the next pop.
  T& push(Cycle cycle) {
    uint32_t slot;
    if (free_.empty()) {
      slot = static_cast<uint32_t>(next_.size());
      const uint32_t v = slot + kFirstChunk;
      if ((v & (v - 1)) == 0) chunks_.push_back(std::make_unique<T[]>(v));
      next_.push_back(kNone);
    } else {
      slot = free_.back();
      free_.pop_back();
    }
    const Cycle earliest = size_ == 0 ? cycle : std::min(earliest_, cycle);
    const Cycle latest = size_ == 0 ? cycle : std::max(latest_, cycle);
    // The ring's slots are re-placed from the cycles they were placed by (earliest_).
    if (heap_.empty() && latest - earliest >= kMaxRingSpan) to_heap();
    if (!heap_.empty()) {
      heap_.push_back({cycle, sequence_++, slot});
      std::push_heap(heap_.begin(), heap_.end(), Later{});
    } else {
      if (latest - earliest >= buckets_.size()) grow(latest - earliest + 1);
      const size_t b = cycle & (buckets_.size() - 1);
      Bucket& bucket = buckets_[b];
      next_[slot] = kNone;
      if (bucket.first == kNone)
        bucket.first = slot;
      else
        next_[bucket.last] = slot;
      bucket.last = slot;
      occupied_[b / 64] |= uint64_t{1} << (b % 64);
    }
    earliest_ = earliest;
    latest_ = latest;
    ++size_;
    return item(slot);
  }

  bool empty() const { return size_ == 0; }
  // Earliest cycle with an item, kNever when empty.
  Cycle earliest() const { return size_ == 0 ? kNever : earliest_; }
  bool due(Cycle t) const { return size_ != 0 && earliest_ <= t; }
  // Latest cycle with an item, kNever when empty.
  Cycle latest() const { return size_ == 0 ? kNever : latest_; }

  // Removes the earliest item and returns its cycle and a reference to it, valid until the next
  // pop (pushes made while handling it neither reuse nor move its slot).
  std::pair<Cycle, T&> pop() {
    if (popped_ != kNone) free_.push_back(popped_);
    const Cycle cycle = earliest_;
    if (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      popped_ = heap_.back().slot;
      heap_.pop_back();
      if (!heap_.empty()) earliest_ = heap_.front().cycle;
    } else {
      const size_t b = cycle & (buckets_.size() - 1);
      Bucket& bucket = buckets_[b];
      popped_ = bucket.first;
      bucket.first = next_[popped_];
      if (bucket.first == kNone) {
        occupied_[b / 64] &= ~(uint64_t{1} << (b % 64));
        if (size_ > 1) earliest_ = next_occupied(cycle);
      }
    }
    --size_;
    return {cycle, item(popped_)};
  }

private:
  // Spans of up to this many cycles stay in the ring (every configured latency of a real chip).
  static constexpr Cycle kMaxRingSpan = Cycle{1} << 12;
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr unsigned kFirstChunkLog2 = 2;
  static constexpr uint32_t kFirstChunk = uint32_t{1} << kFirstChunkLog2;

  // Chunk c holds kFirstChunk << c slots, from slot (kFirstChunk << c) - kFirstChunk on.
  T& item(uint32_t slot) {
    const uint32_t v = slot + kFirstChunk;
    const unsigned top = 31 - static_cast<unsigned>(__builtin_clz(v));
    return chunks_[top - kFirstChunkLog2][v - (uint32_t{1} << top)];
  }

  struct Bucket { // a list of slots through next_, in push order
    uint32_t first = kNone;
    uint32_t last = kNone;
  };
  struct Key {
    Cycle cycle;
    uint64_t sequence;
    uint32_t slot;
  };
  struct Later {
    bool operator()(const Key& a, const Key& b) const {
      return a.cycle != b.cycle ? a.cycle > b.cycle : a.sequence > b.sequence;
    }
  };

  // The first non-empty bucket's cycle after `cycle` (some bucket is non-empty).
  Cycle next_occupied(Cycle cycle) const {
    const size_t mask = buckets_.size() - 1;
    const size_t start = (cycle + 1) & mask;
    for (size_t pos = start;; pos = ((pos | 63) + 1) & mask) {
      const uint64_t word = occupied_[pos / 64] & (~uint64_t{0} << (pos % 64));
      if (word != 0) {
        const size_t b = (pos & ~size_t{63}) + static_cast<size_t>(__builtin_ctzll(word));
        return cycle + 1 + ((b - start) & mask);
      }
    }
  }

  // The rare paths below stay out of line, so that push and pop keep few registers.
  // Re-buckets the held slots into a ring of at least `span` buckets (each bucket keeps its order).
  [[gnu::noinline]] void grow(Cycle span) {
    size_t size = std::max<size_t>(64, buckets_.size());
    while (size < span) size *= 2;
    std::vector<Bucket> buckets(size);
    std::vector<uint64_t> occupied(size / 64);
    for (size_t b = 0; b < buckets_.size(); ++b) {
      if (buckets_[b].first == kNone) continue;
      const Cycle cycle = earliest_ + ((b - earliest_) & (buckets_.size() - 1));
      const size_t to = cycle & (size - 1);
      buckets[to] = buckets_[b];
      occupied[to / 64] |= uint64_t{1} << (to % 64);
    }
    buckets_ = std::move(buckets);
    occupied_ = std::move(occupied);
  }

  // Moves the ring's slots into the heap in the order pops would take them.
  [[gnu::noinline]] void to_heap() {
    for (size_t b = 0; b < buckets_.size(); ++b) {
      Bucket& bucket = buckets_[b];
      if (bucket.first == kNone) continue;
      const Cycle cycle = earliest_ + ((b - earliest_) & (buckets_.size() - 1));
      for (uint32_t slot = bucket.first; slot != kNone; slot = next_[slot]) heap_.push_back({cycle, 0, slot});
      bucket = {};
    }
    std::fill(occupied_.begin(), occupied_.end(), 0);
    std::stable_sort(heap_.begin(), heap_.end(),
                     [](const Key& a, const Key& b) { return a.cycle < b.cycle; });
    for (Key& key : heap_) key.sequence = sequence_++;
    std::make_heap(heap_.begin(), heap_.end(), Later{});
  }

  std::vector<Bucket> buckets_;    // by cycle modulo their count, a power of two
  std::vector<uint64_t> occupied_; // a bit per non-empty bucket
  std::vector<Key> heap_;          // all held slots while a span is too long for the ring
  uint64_t sequence_ = 0;          // push order within the heap
  size_t size_ = 0;
  Cycle earliest_ = 0;         // exact while size_ != 0
  Cycle latest_ = 0;           // exact while size_ != 0: a pop takes the latest cycle's slots last
  std::vector<std::unique_ptr<T[]>> chunks_; // the slots, in chunks that double: none ever moves
  std::vector<uint32_t> next_;               // per slot: the next slot of its bucket
  std::vector<uint32_t> free_;
  uint32_t popped_ = kNone; // the slot handed out by the last pop, freed by the next
};

} // namespace tsp
