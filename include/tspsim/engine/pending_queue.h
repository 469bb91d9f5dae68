// Work a slice has scheduled for a later cycle (an operand read at dispatch + skew, a stream write
// at dispatch + func), taken in cycle order and, within a cycle, in the order it was scheduled.
// Items live in a pool that is reused, so scheduling neither allocates nor moves them; only small
// keys move in the heap. Every slice uses this one structure.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <algorithm>
#include <deque>
#include <vector>

namespace tsp {

template <typename T> class PendingQueue {
public:
  // A slot for an item due at `cycle`, to be filled by the caller before the next pop.
  T& push(Cycle cycle) {
    uint32_t slot;
    if (free_.empty()) {
      slot = static_cast<uint32_t>(pool_.size());
      pool_.emplace_back();
    } else {
      slot = free_.back();
      free_.pop_back();
    }
    heap_.push_back({cycle, sequence_++, slot});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
    return pool_[slot];
  }

  bool empty() const { return heap_.empty(); }
  // Earliest cycle with an item, kNever when empty.
  Cycle earliest() const { return heap_.empty() ? kNever : heap_.front().cycle; }
  bool due(Cycle t) const { return !heap_.empty() && heap_.front().cycle <= t; }
  // Latest cycle with an item, kNever when empty (a scan: for the rare checks that need it).
  Cycle latest() const {
    Cycle latest = kNever;
    for (const Key& key : heap_)
      if (latest == kNever || key.cycle > latest) latest = key.cycle;
    return latest;
  }

  // Removes the earliest item and returns its cycle and a reference to it, valid until the next
  // pop (pushes made while handling it neither reuse nor move its slot).
  std::pair<Cycle, T&> pop() {
    if (popped_ != kNone) free_.push_back(popped_);
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    const Key key = heap_.back();
    heap_.pop_back();
    popped_ = key.slot;
    return {key.cycle, pool_[key.slot]};
  }

private:
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

  static constexpr uint32_t kNone = UINT32_MAX;

  std::vector<Key> heap_;
  std::deque<T> pool_; // a deque: slots stay in place when it grows
  std::vector<uint32_t> free_;
  uint64_t sequence_ = 0;
  uint32_t popped_ = kNone; // the slot handed out by the last pop, freed by the next
};

} // namespace tsp
