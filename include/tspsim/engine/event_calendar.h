// Ids waiting for a cycle. Most events of a busy chip are due in the very next cycle, so those go
// to a plain list, in the order they were pushed; the rest wait in a QueueCalendar and come out
// after them, ordered by cycle then id. Stale entries are the caller's to skip.
#pragma once

#include "tspsim/engine/engine_types.h"
#include "tspsim/engine/queue_calendar.h"

#include <vector>

namespace tsp {

class EventCalendar {
public:
  explicit EventCalendar(unsigned ids) : later_(ids) {}

  // `now` is the cycle being processed; an event for now + 1 takes the fast path.
  void push(Cycle cycle, unsigned id, Cycle now) {
    if (cycle == now + 1 && (next_.empty() || next_cycle_ == cycle)) {
      next_cycle_ = cycle;
      next_.push_back(id);
    } else {
      later_.push(cycle, id);
    }
  }

  // Earliest cycle with an entry (stale ones included), kNever if none.
  Cycle earliest() const {
    const Cycle c = later_.earliest();
    return next_.empty() ? c : std::min(c, next_cycle_);
  }

  // Calls visit(cycle, id) for every id due at or before t and removes them. A visit must not
  // push.
  template <typename Visit> void take_due_each(Cycle t, Visit visit) {
    if (!next_.empty() && next_cycle_ <= t) {
      for (unsigned id : next_) visit(next_cycle_, id);
      next_.clear();
    }
    later_.take_due_each(t, visit);
  }

  // Drops stale entries of the earliest cycles.
  template <typename IsCurrent> void drop_stale(IsCurrent is_current) {
    later_.drop_stale(is_current);
    if (!next_.empty()) {
      bool any = false;
      for (unsigned id : next_) any = any || is_current(next_cycle_, id);
      if (!any) next_.clear();
    }
  }

private:
  Cycle next_cycle_ = 0;
  std::vector<unsigned> next_;
  QueueCalendar later_;
};

} // namespace tsp
