#include "tspsim/engine/stats.h"

#include <algorithm>

namespace tsp {

ChipStats::ChipStats(const Floorplan& floorplan)
    : floorplan_(floorplan), slices_(floorplan.slices().size()),
      covered_(floorplan.slices().size(), nullptr) {}

void ChipStats::release_run(unsigned slice, Cycle last, Cycle counted_through) {
  const RunCycles* cycles = covered_[slice];
  covered_[slice] = nullptr;
  if (!cycles) return;
  SliceStats& s = slices_[slice];
  const bool before = counted_through != kNever;
  const uint64_t already = before ? cycles->count_through(counted_through) : 0;
  s.busy_cycles += cycles->count_through(last) - std::min(already, cycles->count_through(last));
  const Cycle latest = cycles->latest_through(last);
  if (latest != kNever && (s.last_busy == kNever || latest > s.last_busy)) s.last_busy = latest;
}

void ChipStats::record(unsigned slice, Cycle cycle) {
  if (observer_) observer_->busy(slice, cycle);
  if (window_ == 0) return;
  const size_t w = cycle / window_;
  if (w >= windows_.size()) windows_.resize(w + 1);
  ++windows_[w][static_cast<size_t>(floorplan_.slices()[slice].kind)];
}

} // namespace tsp
