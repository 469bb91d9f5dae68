// Named regions of a compiled program (docs/program-format.md, "Region section"): which phase of
// the workload placed each instruction, so that the simulator can attribute the activity it
// simulates to the phases (docs/llama.md, "Per-layer breakdown"). A region is a group (a layer,
// "embedding", "head") and a category; the compiler tags every instruction it places while a
// region is open, and the program stores, per queue, runs of dispatch cycles with one region each.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsp {

// What a region's instructions do, in the priority order the breakdown attributes a cycle with
// several kinds of work in (the first wins).
enum class RegionCategory : uint8_t { matrix, attention, norms, collectives, handoff, count };

inline constexpr size_t kRegionCategories = static_cast<size_t>(RegionCategory::count);
inline constexpr std::array<std::string_view, kRegionCategories> kRegionCategoryNames = {
    "matrix", "attention", "norms+activations", "collectives", "hand-off"};

std::string_view region_category_name(RegionCategory category);

// One region: "layer 0 / matrix" is group "layer 0", category matrix.
struct Region {
  std::string group;
  RegionCategory category = RegionCategory::matrix;

  // "<group> / <category name>", the name the container stores.
  std::string name() const;
  bool operator==(const Region& other) const { return group == other.group && category == other.category; }
};

// The groups of a prompt pass (tspc llama --prompt-tokens, docs/llama.md "Prompt pass") carry this
// prefix ("prompt layer 0"): the report finds a prompt pass by it and gives time to first token.
inline constexpr std::string_view kPromptGroupPrefix = "prompt ";
std::string prompt_group(const std::string& group);
// Whether any region of `regions` belongs to a prompt pass.
struct ProgramRegions;
bool is_prompt_pass(const ProgramRegions& regions);

// Parses a stored name; nullopt when it is not "<non-empty group> / <category name>".
std::optional<Region> parse_region(const std::string& name);

// From `first_cycle` on (until the queue's next run), the instructions `queue` dispatches belong
// to region `region` (an index into ProgramRegions::regions), or to none when region is kNoRegion.
struct RegionRun {
  static constexpr uint32_t kNoRegion = UINT32_MAX;
  uint32_t queue = 0;
  uint64_t first_cycle = 0;
  uint32_t region = kNoRegion;

  bool operator==(const RegionRun& other) const {
    return queue == other.queue && first_cycle == other.first_cycle && region == other.region;
  }
};

// Runs are sorted by queue, then first cycle; a queue's cycles before its first run are in no region.
struct ProgramRegions {
  std::vector<Region> regions;
  std::vector<RegionRun> runs;

  bool empty() const { return regions.empty(); }
};

// The region of the instruction `queue` dispatches in `cycle` (RegionRun::kNoRegion if none).
// Lookups are a binary search per dispatch in the runs of `regions`, which must outlive the
// lookup: it keeps only where each queue's runs start, not a copy of them (a long program has
// hundreds of thousands per chip).
class RegionLookup {
public:
  RegionLookup(const ProgramRegions& regions, size_t queues);
  uint32_t at(uint32_t queue, uint64_t cycle) const;

private:
  const std::vector<RegionRun>& runs_;
  std::vector<size_t> first_; // per queue, its first run; then the end of the last queue's runs
};

} // namespace tsp
