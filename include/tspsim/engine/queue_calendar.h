// The ICU's queues waiting for a cycle. Queues due in the same cycle dispatch in id order, so the
// ids of a cycle are kept as a bitmap: they come out sorted without a sort, and a push is a bit
// set instead of a heap insertion. A ring of bitmaps holds the cycles from the last one taken on
// (one cycle per bucket); a push outside that window waits in a heap until the window reaches it.
// Stale entries are the caller's to skip.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

namespace tsp {

class QueueCalendar {
public:
  explicit QueueCalendar(unsigned ids);

  // Inline: the ICU and the chip push an entry for nearly every dispatch and busy slice-cycle.
  void push(Cycle cycle, unsigned id) {
    if (cycle < now_ || cycle - now_ >= kBuckets) return push_overflow(cycle, id);
    const unsigned b = static_cast<unsigned>(cycle % kBuckets);
    occupied_ |= uint64_t{1} << b;
    bits_[size_t(b) * words_ + id / 64] |= uint64_t{1} << (id % 64);
  }
  // Earliest cycle with an entry (stale ones included), kNever if none.
  Cycle earliest() const;
  // Appends every entry due at or before t to `out`, ordered by cycle then id, and removes them.
  // An id pushed twice for one cycle comes out once. t never decreases from one call to the next.
  void take_due(Cycle t, std::vector<std::pair<Cycle, unsigned>>& out);
  // take_due without the list: calls visit(cycle, id) for each entry take_due would append, in
  // its order. The entries are removed before the first visit, so those pushed by a visit come
  // out in a later call.
  template <typename Visit> void take_due_each(Cycle t, Visit visit) {
    if (!overflow_.empty() && overflow_.top().first <= t) { // rare: merged with the heap's, sorted
      taken_.clear();
      take_due(t, taken_);
      for (const auto& [cycle, id] : taken_) visit(cycle, id);
      return;
    }
    take_ring(t);
    if (!overflow_.empty() && overflow_.top().first - now_ < kBuckets) adopt_overflow();
    visit_taken(visit);
  }
  // Drops the entries of the earliest cycles while none of a cycle's entries is current, so that
  // earliest() is the first cycle with a current entry.
  template <typename IsCurrent> void drop_stale(IsCurrent is_current) {
    for (Cycle first = earliest(); first != kNever; first = earliest()) {
      const unsigned b = static_cast<unsigned>(first % kBuckets);
      const bool in_ring = first >= now_ && first - now_ < kBuckets && ((occupied_ >> b) & 1) != 0;
      uint64_t* words = &bits_[size_t(b) * words_];
      for (unsigned w = 0; in_ring && w < words_; ++w)
        for (uint64_t set = words[w]; set != 0; set &= set - 1)
          if (is_current(first, w * 64 + static_cast<unsigned>(__builtin_ctzll(set)))) return;
      for (; !overflow_.empty() && overflow_.top().first == first; overflow_.pop())
        if (is_current(first, overflow_.top().second)) return;
      if (!in_ring) continue;
      for (unsigned w = 0; w < words_; ++w) words[w] = 0;
      occupied_ &= ~(uint64_t{1} << b);
    }
  }

private:
  static constexpr unsigned kBuckets = 64; // one bit each in occupied_

  void push_overflow(Cycle cycle, unsigned id);
  // Moves the ring's entries due by t into taken_words_ and taken_cycles_, and advances now_ to t.
  void take_ring(Cycle t) {
    taken_words_.clear();
    taken_cycles_.clear();
    const Cycle last = std::min(t, now_ + kBuckets - 1);
    for (Cycle cycle = now_; cycle <= last && occupied_ != 0; ++cycle) {
      const unsigned b = static_cast<unsigned>(cycle % kBuckets);
      const uint64_t mask = uint64_t{1} << b;
      if (!(occupied_ & mask)) continue;
      occupied_ &= ~mask;
      uint64_t* words = &bits_[size_t(b) * words_];
      taken_words_.insert(taken_words_.end(), words, words + words_);
      std::fill(words, words + words_, 0);
      taken_cycles_.push_back(cycle);
    }
    now_ = std::max(now_, t);
  }
  // visit(cycle, id) for each entry take_ring took, by cycle then id.
  template <typename Visit> void visit_taken(Visit visit) const {
    const uint64_t* words = taken_words_.data();
    for (const Cycle cycle : taken_cycles_)
      for (unsigned w = 0; w < words_; ++w, ++words)
        for (uint64_t set = *words; set != 0; set &= set - 1)
          visit(cycle, w * 64 + static_cast<unsigned>(__builtin_ctzll(set)));
  }
  // After a take through cycle now_ (the heap holds none due by then): moves the heap's entries
  // that the ring's window now covers into the ring, so that they come out without a sort (out
  // of line: rare).
  void adopt_overflow();

  unsigned words_;             // 64-bit words per bucket
  std::vector<uint64_t> bits_; // [bucket][word]: the ids due in cycle now_ + (bucket - now_) % 64
  uint64_t occupied_ = 0;      // non-empty buckets
  Cycle now_ = 0;              // the latest cycle taken: the ring holds cycles now_ .. now_ + 63
  using Entry = std::pair<Cycle, unsigned>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> overflow_;
  // The entries of a take, taken before they are visited (kept for their capacity).
  std::vector<uint64_t> taken_words_; // the taken buckets' words, bucket after bucket
  std::vector<Cycle> taken_cycles_;   // the taken buckets' cycles
  std::vector<Entry> taken_;          // when the heap has some due too
};

} // namespace tsp
