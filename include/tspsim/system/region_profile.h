// The per-layer breakdown of a run (docs/llama.md, "Per-layer breakdown"): the simulated
// dispatches, attributed to the program's regions (tspsim/program/regions.h) by queue and
// dispatch cycle. Every cycle of the run goes to exactly one group and category: to the
// highest-priority category with a dispatch in that cycle (ties to the earlier region), or, when
// nothing tagged dispatches, to "idle" of the group that last had work (the first group before
// any work). So a group's categories and idle add up to the cycles it owned, and all groups add up
// to the run's cycles.
#pragma once

#include "tspsim/engine/activity_observer.h"
#include "tspsim/program/regions.h"

#include <array>
#include <string>
#include <vector>

namespace tsp {

struct GroupBreakdown {
  std::string group;
  std::array<uint64_t, kRegionCategories> cycles{};       // by RegionCategory
  std::array<uint64_t, kRegionCategories> instructions{}; // dispatches its regions placed
  uint64_t idle = 0;

  uint64_t total_cycles() const;
};

struct RegionBreakdown {
  std::vector<GroupBreakdown> groups; // in the order the program lists their first region
  uint64_t untagged_instructions = 0; // dispatched outside every region (e.g. Ifetch)

  bool empty() const { return groups.empty(); }
};

class RegionProfiler : public ActivityObserver {
public:
  RegionProfiler(const ProgramRegions& regions, size_t queues);

  void dispatched(unsigned slice, const Dispatch& dispatch) override;
  void busy(unsigned, Cycle) override {}
  void streamed(unsigned, Cycle, StreamRef, unsigned, const Origin&) override {}
  bool dispatches_only() const override { return true; }

  // The breakdown of a run of `cycles` cycles.
  RegionBreakdown breakdown(uint64_t cycles) const;

private:
  // Whether region a wins a cycle over region b.
  bool wins(uint32_t a, uint32_t b) const;

  const ProgramRegions& regions_;
  RegionLookup lookup_;
  std::vector<uint32_t> group_of_; // per region: index into the breakdown's groups
  std::vector<std::string> groups_;
  std::vector<uint32_t> owner_;        // per cycle: the winning region (kNoRegion: none)
  std::vector<uint64_t> instructions_; // per region
  uint64_t untagged_ = 0;
};

} // namespace tsp
