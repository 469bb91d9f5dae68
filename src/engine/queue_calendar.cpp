#include "tspsim/engine/queue_calendar.h"

#include <algorithm>

namespace tsp {

QueueCalendar::QueueCalendar(unsigned ids) : words_((ids + 63) / 64), bits_(size_t(kBuckets) * words_) {}

void QueueCalendar::push_overflow(Cycle cycle, unsigned id) { overflow_.push({cycle, id}); }

Cycle QueueCalendar::earliest() const {
  Cycle next = overflow_.empty() ? kNever : overflow_.top().first;
  if (occupied_ != 0) {
    // Rotate so that bit 0 is now_'s bucket: the lowest set bit is then the earliest cycle.
    const unsigned shift = static_cast<unsigned>(now_ % kBuckets);
    const uint64_t rotated =
        shift == 0 ? occupied_ : (occupied_ >> shift) | (occupied_ << (kBuckets - shift));
    next = std::min(next, now_ + static_cast<Cycle>(__builtin_ctzll(rotated)));
  }
  return next;
}

void QueueCalendar::take_due(Cycle t, std::vector<std::pair<Cycle, unsigned>>& out) {
  const size_t start = out.size();
  take_ring(t);
  visit_taken([&](Cycle cycle, unsigned id) { out.emplace_back(cycle, id); });
  if (!overflow_.empty() && overflow_.top().first <= t) {
    while (!overflow_.empty() && overflow_.top().first <= t) {
      out.push_back(overflow_.top());
      overflow_.pop();
    }
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
    out.erase(std::unique(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()), out.end());
  }
  adopt_overflow();
}

void QueueCalendar::adopt_overflow() {
  for (; !overflow_.empty() && overflow_.top().first - now_ < kBuckets; overflow_.pop())
    push(overflow_.top().first, overflow_.top().second);
}

} // namespace tsp
