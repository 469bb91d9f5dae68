// Ids waiting for a cycle. Most events of a busy chip are due in the very next cycle, so those go
// to a plain list; the rest wait in a heap. Stale entries are the caller's to skip.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <functional>
#include <queue>
#include <vector>

namespace tsp {

class EventCalendar {
public:
  // `now` is the cycle being processed; an event for now + 1 takes the fast path.
  void push(Cycle cycle, unsigned id, Cycle now) {
    if (cycle == now + 1 && (next_.empty() || next_cycle_ == cycle)) {
      next_cycle_ = cycle;
      next_.push_back(id);
    } else {
      later_.push({cycle, id});
    }
  }

  // Earliest cycle with an entry (stale ones included), kNever if none.
  Cycle earliest() const {
    Cycle c = later_.empty() ? kNever : later_.top().first;
    return next_.empty() ? c : std::min(c, next_cycle_);
  }

  // Appends to `out` every id due at or before t (with its cycle) and removes them.
  void take_due(Cycle t, std::vector<std::pair<Cycle, unsigned>>& out) {
    if (!next_.empty() && next_cycle_ <= t) {
      for (unsigned id : next_) out.push_back({next_cycle_, id});
      next_.clear();
    }
    while (!later_.empty() && later_.top().first <= t) {
      out.push_back(later_.top());
      later_.pop();
    }
  }

  // Drops stale entries at the front of the heap.
  template <typename IsCurrent> void drop_stale(IsCurrent is_current) {
    while (!later_.empty() && !is_current(later_.top().first, later_.top().second)) later_.pop();
    if (!next_.empty()) {
      bool any = false;
      for (unsigned id : next_) any = any || is_current(next_cycle_, id);
      if (!any) next_.clear();
    }
  }

private:
  using Entry = std::pair<Cycle, unsigned>;
  Cycle next_cycle_ = 0;
  std::vector<unsigned> next_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> later_;
};

} // namespace tsp
