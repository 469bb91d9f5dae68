// Records what a chip does in a window of cycles: every slice dispatch, busy cycle and stream write,
// in the order the engine reports them. The trace (trace_writer.h) and the golden activity log
// (activity_log.h) are written from it. Memory grows with the activity inside the window only.
#pragma once

#include "tspsim/engine/activity_observer.h"

#include <algorithm>
#include <vector>

namespace tsp {

// Cycles [first, last) to record; the default is the whole run.
struct CycleWindow {
  Cycle first = 0;
  Cycle last = kNever;
  bool contains(Cycle t) const { return t >= first && t < last; }
};

// "A:B" → [A, B); throws InputError naming `flag` when malformed or empty.
CycleWindow parse_cycle_window(const std::string& text, const char* flag);

struct DispatchEvent {
  Cycle cycle;
  unsigned slice;
  Instruction instruction;
  Origin origin;
};

struct StreamEvent {
  Cycle cycle;
  unsigned slice;
  StreamRef stream;
  unsigned group;
  Origin origin;
};

struct BusyEvent {
  Cycle cycle;
  unsigned slice;
};

class ActivityRecorder : public ActivityObserver {
public:
  explicit ActivityRecorder(CycleWindow window = {}) : window_(window) {}

  void dispatched(unsigned slice, const Dispatch& dispatch) override;
  void busy(unsigned slice, Cycle cycle) override;
  void streamed(unsigned slice, Cycle cycle, StreamRef stream, unsigned group, const Origin& origin) override;

  const CycleWindow& window() const { return window_; }
  const std::vector<DispatchEvent>& dispatches() const { return dispatches_; }
  const std::vector<StreamEvent>& streams() const { return streams_; }
  const std::vector<BusyEvent>& busy_cycles() const { return busy_; }

private:
  CycleWindow window_;
  std::vector<DispatchEvent> dispatches_;
  std::vector<StreamEvent> streams_;
  std::vector<BusyEvent> busy_;
};

// Passes every event on to several observers (e.g. a trace and a waveform of the same run).
class ObserverFanout : public ActivityObserver {
public:
  void add(ActivityObserver* observer) { observers_.push_back(observer); }
  bool empty() const { return observers_.empty(); }
  bool dispatches_only() const override {
    return std::all_of(observers_.begin(), observers_.end(), [](auto* o) { return o->dispatches_only(); });
  }

  void dispatched(unsigned slice, const Dispatch& dispatch) override {
    for (auto* o : observers_) o->dispatched(slice, dispatch);
  }
  void busy(unsigned slice, Cycle cycle) override {
    for (auto* o : observers_) o->busy(slice, cycle);
  }
  void streamed(unsigned slice, Cycle cycle, StreamRef stream, unsigned group,
                const Origin& origin) override {
    for (auto* o : observers_) o->streamed(slice, cycle, stream, group, origin);
  }

private:
  std::vector<ActivityObserver*> observers_;
};

} // namespace tsp
