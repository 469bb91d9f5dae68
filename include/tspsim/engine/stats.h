// Activity counters. Every counter is bumped where the work happens, so their cost follows the
// activity of the chip, not its size or the number of cycles.
#pragma once

#include "tspsim/config/floorplan.h"
#include "tspsim/engine/activity_observer.h"
#include "tspsim/engine/engine_types.h"
#include "tspsim/engine/repeat_run.h"

#include <array>
#include <vector>

namespace tsp {

struct SliceStats {
  uint64_t busy_cycles = 0; // cycles with any dispatch, stream access, SRAM access or MXM work
  Cycle last_busy = kNever;
  uint64_t instructions = 0; // dispatched by this slice's queues (Repeat iterations included)
  std::array<uint64_t, 256> by_opcode{};
  uint64_t stream_bytes_read = 0;
  uint64_t stream_bytes_written = 0;
  uint64_t sram_bytes_read = 0;
  uint64_t sram_bytes_written = 0;
  uint64_t macs = 0;       // MXM multiply-accumulates
  uint64_t link_bytes = 0; // C2C bytes sent
};

class ChipStats {
public:
  explicit ChipStats(const Floorplan& floorplan);

  void busy(unsigned slice, Cycle cycle) {
    SliceStats& s = slices_[slice];
    if (s.last_busy == cycle) return;
    if (covered_[slice] && covered_[slice]->contains(cycle)) return; // the run counts it
    s.last_busy = cycle;
    ++s.busy_cycles;
    if (recording_) record(slice, cycle);
  }
  void issued(unsigned slice, isa::Opcode opcode) {
    ++slices_[slice].instructions;
    ++slices_[slice].by_opcode[static_cast<uint8_t>(opcode)];
  }
  void streamed(unsigned slice, Cycle cycle, StreamRef stream, unsigned group, unsigned vector_bytes,
                const Origin& origin) {
    slices_[slice].stream_bytes_written += uint64_t(group) * vector_bytes;
    if (observer_) observer_->streamed(slice, cycle, stream, group, origin);
  }
  SliceStats& slice(unsigned slice) { return slices_[slice]; }

  // A Repeat run taken whole by `slice` owns `cycles` until release_run: busy() leaves them to
  // it. Cycles already counted at the start (the current one) are not counted again.
  void cover_run(unsigned slice, const RunCycles* cycles) { covered_[slice] = cycles; }
  // Adds the run's busy cycles through `last` (cycles already counted are skipped) and ends it.
  void release_run(unsigned slice, Cycle last, Cycle counted_through);
  // Whether every busy cycle is observed one by one (windows or an observer): no runs then.
  bool recording() const { return recording_; }
  const std::vector<SliceStats>& slices() const { return slices_; }

  // Per-window busy slice-cycles by slice kind, for --util-csv. Off (window 0) by default.
  void enable_windows(uint64_t window) {
    window_ = window;
    recording_ = window_ != 0 || (observer_ && !observer_->dispatches_only());
  }
  uint64_t window() const { return window_; }
  const std::vector<std::array<uint64_t, kSliceKinds>>& windows() const { return windows_; }

  // Who is told of every dispatch, busy cycle and stream write (null: nobody, the default).
  void set_observer(ActivityObserver* observer) {
    observer_ = observer;
    recording_ = window_ != 0 || (observer_ && !observer_->dispatches_only());
  }
  ActivityObserver* observer() const { return observer_; }

private:
  void record(unsigned slice, Cycle cycle);

  const Floorplan& floorplan_;
  std::vector<SliceStats> slices_;
  std::vector<const RunCycles*> covered_; // per slice: the busy cycles of a run taken whole
  uint64_t window_ = 0;
  ActivityObserver* observer_ = nullptr;
  bool recording_ = false; // windows or an observer of more than dispatches: the one test on the busy path
  std::vector<std::array<uint64_t, kSliceKinds>> windows_;
};

} // namespace tsp
