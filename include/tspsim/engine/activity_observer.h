// An optional listener for what the chip does, for traces, waveforms, reports and golden activity
// logs (src/observe/). Null by default: when nothing observes, the engine pays one pointer check per
// dispatch and per stream write, and nothing per cycle.
#pragma once

#include "tspsim/engine/engine_types.h"

namespace tsp {

class ActivityObserver {
public:
  virtual ~ActivityObserver() = default;
  // A slice instruction dispatched by one of `slice`'s queues (ICU instructions such as NOP,
  // Repeat or Sync are not reported; Repeat iterations are).
  virtual void dispatched(unsigned slice, const Dispatch& dispatch) = 0;
  // `slice` did work in `cycle`; reported once per slice and cycle.
  virtual void busy(unsigned slice, Cycle cycle) = 0;
  // `group` byte-streams from `stream` put on the fabric by `slice` in `cycle`, for `origin`.
  virtual void streamed(unsigned slice, Cycle cycle, StreamRef stream, unsigned group,
                        const Origin& origin) = 0;
  // Whether only dispatched() matters to it: Repeat runs may then be taken whole in timing-only
  // runs, and report every dispatch of theirs when they end (not in cycle order).
  virtual bool dispatches_only() const { return false; }
};

} // namespace tsp
