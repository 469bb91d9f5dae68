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

RegionLookup::RegionLookup(const ProgramRegions& regions, size_t queues) : runs_(regions.runs) {
  for (size_t queue = 0; queue <= queues; ++queue)
    first_.push_back(
        static_cast<size_t>(std::lower_bound(runs_.begin(), runs_.end(), queue,
                                             [](const RegionRun& run, size_t q) { return run.queue < q; }) -
                            runs_.begin()));
}

uint32_t RegionLookup::at(uint32_t queue, uint64_t cycle) const {
  if (size_t{queue} + 1 >= first_.size()) return RegionRun::kNoRegion;
  const auto begin = runs_.begin() + static_cast<std::ptrdiff_t>(first_[queue]);
  const auto end = runs_.begin() + static_cast<std::ptrdiff_t>(first_[queue + 1]);
  const auto after = std::upper_bound(begin, end, cycle,
                                      [](uint64_t t, const RegionRun& run) { return t < run.first_cycle; });
  return after == begin ? RegionRun::kNoRegion : std::prev(after)->region;
}

} // namespace tsp
