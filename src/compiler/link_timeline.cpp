// One direction of a C2C cable as the system schedule fills it (link_timeline.h).
#include "tspsim/compiler/link_timeline.h"

#include <algorithm>
#include <stdexcept>

namespace tsp::compiler {

std::vector<LinkTimeline::Placed>::const_iterator LinkTimeline::first_from(Cycle t) const {
  return std::lower_bound(placed_.begin(), placed_.end(), t,
                          [](const Placed& p, Cycle cycle) { return p.send < cycle; });
}

Cycle LinkTimeline::free_from(Cycle t) const {
  // Sends do not overlap, so only those from t - vector_cycles + 1 on can hold the link at t.
  for (auto it = first_from(t - vector_cycles_ + 1); it != placed_.end() && it->send < t + vector_cycles_;
       ++it)
    t = it->send + vector_cycles_;
  return t;
}

LinkTimeline::Window LinkTimeline::window(Cycle t) const {
  const auto next = first_from(t);
  return {next == placed_.begin() ? Cycle(-1) : std::prev(next)->receive,
          next == placed_.end() ? kNever : next->receive, next == placed_.end() ? kNever : next->send};
}

void LinkTimeline::add(Cycle send, Cycle receive) {
  const auto at = first_from(send);
  if (free_from(send) != send) throw std::logic_error("link timeline: a Send placed where the link is busy");
  placed_.insert(placed_.begin() + (at - placed_.begin()), {send, receive});
}

} // namespace tsp::compiler
