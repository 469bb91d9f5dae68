#include "tspsim/engine/stats.h"

namespace tsp {

ChipStats::ChipStats(const Floorplan& floorplan) : floorplan_(floorplan), slices_(floorplan.slices().size()) {}

void ChipStats::record(unsigned slice, Cycle cycle) {
  if (observer_) observer_->busy(slice, cycle);
  if (window_ == 0) return;
  const size_t w = cycle / window_;
  if (w >= windows_.size()) windows_.resize(w + 1);
  ++windows_[w][static_cast<size_t>(floorplan_.slices()[slice].kind)];
}

} // namespace tsp
