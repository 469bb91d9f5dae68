// A Repeat run taken whole by a slice in a timing-only run (docs/timing-model.md, "Intervals in
// timing-only mode"): instead of one dispatch per iteration, the slice is handed the run once and
// the fabric, the bank checks and the statistics treat it as arithmetic progressions of cycles.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <array>

namespace tsp {

struct RepeatRun {
  Dispatch first;     // iteration 0, its strided field already advanced
  uint32_t count = 0; // iterations
  uint32_t interval = 1;
  int field = -1; // operand advanced by `stride` per iteration (-1: none)
  int64_t stride = 0;

  Cycle dispatch_cycle(uint64_t k) const { return first.cycle + k * interval; }
  Cycle last_dispatch() const { return dispatch_cycle(count - 1); }
  // Iteration k's instruction.
  Instruction instruction(uint64_t k) const;
  // The iteration whose event `offset` cycles after its dispatch falls on `cycle`, or -1.
  int64_t iteration_at(Cycle cycle, Cycle offset) const;
  // Iterations whose event `offset` cycles after dispatch falls at or before `last`.
  uint64_t iterations_through(Cycle last, Cycle offset) const;
};

// The cycles {run dispatch k + offset : k < count, offset in offsets}: the busy cycles of a run
// (dispatch, SRAM access, stream landing).
class RunCycles {
public:
  RunCycles() = default;
  RunCycles(const RepeatRun& run, std::array<Cycle, 3> offsets);

  bool contains(Cycle cycle) const;
  // Distinct cycles at or before `last`, and the latest of them (kNever: none).
  uint64_t count_through(Cycle last) const;
  Cycle latest_through(Cycle last) const;
  Cycle last() const { return latest_through(kNever - 1); }

private:
  Cycle first_ = 0;
  uint64_t interval_ = 1;
  uint64_t count_ = 0;
  std::array<Cycle, 3> offsets_{}; // ascending, distinct
  unsigned offset_count_ = 0;
};

} // namespace tsp
