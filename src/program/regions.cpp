#include "tspsim/program/regions.h"

#include <algorithm>

namespace tsp {

namespace {
constexpr std::string_view kSeparator = " / ";
}

std::string_view region_category_name(RegionCategory category) {
  return kRegionCategoryNames[static_cast<size_t>(category)];
}

std::string Region::name() const {
  return group + std::string(kSeparator) + std::string(region_category_name(category));
}

std::string prompt_group(const std::string& group) { return std::string(kPromptGroupPrefix) + group; }

bool is_prompt_pass(const ProgramRegions& regions) {
  return std::any_of(regions.regions.begin(), regions.regions.end(),
                     [](const Region& r) { return r.group.rfind(kPromptGroupPrefix, 0) == 0; });
}

std::optional<Region> parse_region(const std::string& name) {
  const size_t at = name.rfind(kSeparator);
  if (at == std::string::npos || at == 0) return std::nullopt;
  const std::string_view category = std::string_view(name).substr(at + kSeparator.size());
  for (size_t c = 0; c < kRegionCategories; ++c)
    if (kRegionCategoryNames[c] == category)
      return Region{name.substr(0, at), static_cast<RegionCategory>(c)};
  return std::nullopt;
}

RegionLookup::RegionLookup(const ProgramRegions& regions, size_t queues) : by_queue_(queues) {
  for (const auto& run : regions.runs)
    if (run.queue < queues) by_queue_[run.queue].push_back(run);
}

uint32_t RegionLookup::at(uint32_t queue, uint64_t cycle) const {
  if (queue >= by_queue_.size()) return RegionRun::kNoRegion;
  const auto& runs = by_queue_[queue];
  const auto after = std::upper_bound(runs.begin(), runs.end(), cycle,
                                      [](uint64_t t, const RegionRun& run) { return t < run.first_cycle; });
  return after == runs.begin() ? RegionRun::kNoRegion : std::prev(after)->region;
}

} // namespace tsp
