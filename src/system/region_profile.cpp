#include "tspsim/system/region_profile.h"

#include <algorithm>

namespace tsp {

uint64_t GroupBreakdown::total_cycles() const {
  uint64_t total = idle;
  for (uint64_t c : cycles) total += c;
  return total;
}

RegionProfiler::RegionProfiler(const ProgramRegions& regions, size_t queues)
    : regions_(regions), lookup_(regions, queues), instructions_(regions.regions.size(), 0) {
  for (const auto& region : regions.regions) {
    auto it = std::find(groups_.begin(), groups_.end(), region.group);
    if (it == groups_.end()) it = groups_.insert(groups_.end(), region.group);
    group_of_.push_back(static_cast<uint32_t>(it - groups_.begin()));
  }
}

bool RegionProfiler::wins(uint32_t a, uint32_t b) const {
  if (b == RegionRun::kNoRegion) return true;
  const auto ca = regions_.regions[a].category;
  const auto cb = regions_.regions[b].category;
  return ca != cb ? ca < cb : a < b;
}

void RegionProfiler::dispatched(unsigned, const Dispatch& dispatch) {
  const uint32_t region = lookup_.at(dispatch.origin.queue, static_cast<uint64_t>(dispatch.cycle));
  if (region == RegionRun::kNoRegion) {
    ++untagged_;
    return;
  }
  ++instructions_[region];
  const auto cycle = static_cast<size_t>(dispatch.cycle);
  if (cycle >= owner_.size()) owner_.resize(cycle + 1, RegionRun::kNoRegion);
  if (wins(region, owner_[cycle])) owner_[cycle] = region;
}

RegionBreakdown RegionProfiler::breakdown(uint64_t cycles) const {
  RegionBreakdown out;
  out.untagged_instructions = untagged_;
  if (regions_.empty()) return out;
  for (const auto& g : groups_) out.groups.push_back({g, {}, {}, 0});
  for (size_t r = 0; r < instructions_.size(); ++r)
    out.groups[group_of_[r]].instructions[static_cast<size_t>(regions_.regions[r].category)] +=
        instructions_[r];
  // Idle cycles before the first work belong to the first group that works.
  uint32_t current = 0;
  const auto first =
      std::find_if(owner_.begin(), owner_.end(), [](uint32_t r) { return r != RegionRun::kNoRegion; });
  if (first != owner_.end()) current = group_of_[*first];
  for (uint64_t t = 0; t < cycles; ++t) {
    const uint32_t region = t < owner_.size() ? owner_[t] : RegionRun::kNoRegion;
    if (region == RegionRun::kNoRegion) {
      ++out.groups[current].idle;
      continue;
    }
    current = group_of_[region];
    ++out.groups[current].cycles[static_cast<size_t>(regions_.regions[region].category)];
  }
  return out;
}

} // namespace tsp
