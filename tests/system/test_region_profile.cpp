// The per-layer breakdown (tspsim/system/region_profile.h, docs/llama.md "Per-layer breakdown"):
// dispatches attributed to regions by queue and cycle, each cycle to exactly one group and category.
#include "tspsim/compiler/builder.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/placement.h"
#include "tspsim/system/chip.h"
#include "tspsim/system/region_profile.h"

#include <catch2/catch.hpp>

using namespace tsp;

namespace {

Dispatch at(uint32_t queue, Cycle cycle) {
  Dispatch d;
  d.origin.queue = queue;
  d.cycle = cycle;
  return d;
}

constexpr size_t kMatrix = static_cast<size_t>(RegionCategory::matrix);
constexpr size_t kNorms = static_cast<size_t>(RegionCategory::norms);

} // namespace

TEST_CASE(
    "each cycle goes to the dispatching category of highest priority, idle to the group that last worked") {
  ProgramRegions regions;
  regions.regions = {{"layer 0", RegionCategory::norms},
                     {"layer 0", RegionCategory::matrix},
                     {"layer 1", RegionCategory::matrix}};
  regions.runs = {{0, 0, 0}, {0, 10, 1}, {1, 0, 2}, {3, 20, 0}};
  RegionProfiler profiler(regions, 4);
  for (const auto& [queue, cycle] :
       std::vector<std::pair<uint32_t, Cycle>>{{0, 2}, {0, 3}, {0, 10}, {1, 10}, {1, 12}, {2, 12}, {3, 4}})
    profiler.dispatched(0, at(queue, cycle));
  const RegionBreakdown b = profiler.breakdown(16);
  REQUIRE(b.groups.size() == 2);
  // Cycles 0-1 idle before any work (the first group to work), 2-3 norms, 4-9 idle, 10 matrix (both
  // layers' matrix regions dispatch: the earlier region wins), 11 idle; 12 layer 1's matrix (queue 2
  // has no region), 13-15 idle after it.
  const GroupBreakdown& l0 = b.groups[0];
  CHECK(l0.group == "layer 0");
  CHECK(l0.cycles[kNorms] == 2);
  CHECK(l0.cycles[kMatrix] == 1);
  CHECK(l0.idle == 9);
  CHECK(l0.total_cycles() == 12);
  CHECK(l0.instructions[kNorms] == 2);
  CHECK(l0.instructions[kMatrix] == 1);
  const GroupBreakdown& l1 = b.groups[1];
  CHECK(l1.group == "layer 1");
  CHECK(l1.cycles[kMatrix] == 1);
  CHECK(l1.idle == 3);
  CHECK(l1.total_cycles() == 4);
  CHECK(l1.instructions[kMatrix] == 2);
  // Queue 2 has no runs; queue 3's dispatch at 4 is before its first run.
  CHECK(b.untagged_instructions == 2);
}

TEST_CASE("a program without regions has no breakdown") {
  const ProgramRegions none;
  RegionProfiler profiler(none, 4);
  profiler.dispatched(0, at(1, 3));
  const RegionBreakdown b = profiler.breakdown(10);
  CHECK(b.empty());
  CHECK(b.untagged_instructions == 1);
}

TEST_CASE("the simulated dispatches of each region are exactly the instructions the compiler placed in it") {
  using namespace tsp::compiler;
  const ChipConfig config = load_config(TSPSIM_SOURCE_DIR "/configs/14nm.json");
  ProgramBuilder builder(config);
  const auto place = [&](bool east) {
    return place_tiled(builder, "", isa::DType::f16, 2, 640, least_used(builder, east), 1, {}, false);
  };
  const TiledTensor a = place(false), b = place(true), y = place(false), z = place(true), w = place(false);
  // Four phases, each reading the previous one's result: "first", then "second" in a scope, then
  // "first" again once the scope ends, then one outside every region. Each phase's instructions
  // are counted by the schedule's total, independently of the tags.
  const Schedule& schedule = builder.schedule();
  std::array<uint64_t, 4> phase{};
  const auto run_phase = [&](size_t i, const TiledTensor& x1, const TiledTensor& x2, const TiledTensor& out) {
    const size_t before = schedule.placed();
    schedule_swiglu(builder, x1, x2, out);
    phase[i] = schedule.placed() - before;
    REQUIRE(phase[i] > 0);
  };
  builder.begin_region("first", RegionCategory::norms);
  run_phase(0, a, b, y);
  {
    const RegionScope scope = builder.region("second", RegionCategory::matrix);
    run_phase(1, y, b, z);
  }
  run_phase(2, z, a, w);
  builder.end_region();
  run_phase(3, w, b, y);
  const std::array<uint64_t, 2> placed{phase[0] + phase[2], phase[1]};
  const uint64_t all = phase[0] + phase[1] + phase[2] + phase[3];
  const Program program = builder.finish("two regions");
  REQUIRE(program.regions.regions.size() == 2);

  Chip chip("chip", config, EngineOptions{});
  chip.load(program);
  RegionProfiler profiler(program.regions, chip.context().floorplan.queues().size());
  chip.context().stats.set_observer(&profiler);
  const RunResult result = chip.run();
  chip.context().stats.set_observer(nullptr);
  REQUIRE(chip.context().log.total() == 0);
  REQUIRE(result.cycles == program.metadata.predicted_cycles);
  const RegionBreakdown breakdown = profiler.breakdown(result.cycles);
  REQUIRE(breakdown.groups.size() == 2);
  CHECK(breakdown.groups[0].instructions[kNorms] == placed[0]);
  CHECK(breakdown.groups[1].instructions[kMatrix] == placed[1]);
  CHECK(breakdown.untagged_instructions == all - placed[0] - placed[1]);
  CHECK(breakdown.groups[0].total_cycles() + breakdown.groups[1].total_cycles() == result.cycles);
}
