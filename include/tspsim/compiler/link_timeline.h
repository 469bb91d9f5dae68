// The vectors placed on one direction of a C2C cable, for the system schedule
// (system_schedule.h): each Send's cycle and the cycle of its Receive at the far end.
// A Send may fill an idle gap left earlier on the link, so that a flow placed late does not hold
// back every flow placed after it whose route crosses the link. The far end's FIFO hands the
// vectors out in send order, so a vector sent between two placed ones is received between their
// Receives.
#pragma once

#include "tspsim/compiler/schedule.h"

#include <limits>
#include <utility>
#include <vector>

namespace tsp::compiler {

class LinkTimeline {
public:
  static constexpr Cycle kNever = std::numeric_limits<Cycle>::max();

  explicit LinkTimeline(Cycle vector_cycles) : vector_cycles_(vector_cycles) {}

  // The first cycle from t on at which a Send holds the link for vector_cycles without overlapping
  // a placed one.
  Cycle free_from(Cycle t) const;
  // For a Send at a free cycle t: the Receive cycles that keep the send order at the far end, as
  // exclusive bounds (the previous vector's Receive, the next one's or kNever), and the first
  // cycle of the link's next busy stretch after t (kNever if none).
  struct Window {
    Cycle after;
    Cycle before;
    Cycle next_send;
  };
  Window window(Cycle t) const;
  // Records a Send at t (a free cycle) whose Receive is at `receive` (inside window(t)).
  void add(Cycle send, Cycle receive);
  // The cycle the last placed Send frees the link (0 if none).
  Cycle end() const { return placed_.empty() ? 0 : placed_.back().send + vector_cycles_; }

private:
  struct Placed {
    Cycle send;
    Cycle receive;
  };
  // The first placed Send at or after t.
  std::vector<Placed>::const_iterator first_from(Cycle t) const;

  Cycle vector_cycles_;
  std::vector<Placed> placed_; // in send order, which is also receive order
};

} // namespace tsp::compiler
