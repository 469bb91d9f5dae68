// A waveform of the run through SystemC's own tracing (sc_create_vcd_trace_file), for GTKWave:
// per slice a `busy` bit, per stream and direction an `occupied` bit (a value is travelling on it
// somewhere on the chip). The fused scheduler skips idle cycles, so the traced values are set by a
// process of this module at the cycles where they change, never later: each change is stamped
// with the simulated time of its cycle. Construct before the run (SystemC elaborates once).
#pragma once

#include "tspsim/engine/engine_context.h"
#include "tspsim/observe/activity_recorder.h"

#include <map>
#include <memory>
#include <systemc>
#include <vector>

namespace tsp {

class VcdWriter : public sc_core::sc_module, public ActivityObserver {
public:
  SC_HAS_PROCESS(VcdWriter);
  // Writes `path` (through a temporary file renamed by close()); `period` is one clock cycle. Only
  // the activity of `window` is traced.
  VcdWriter(sc_core::sc_module_name name, const EngineContext& ctx, const std::string& path,
            sc_core::sc_time period, CycleWindow window = {});
  ~VcdWriter() override;

  // Ends the trace after the run and moves the file into place.
  void close();

  void dispatched(unsigned, const Dispatch&) override {}
  void busy(unsigned slice, Cycle cycle) override;
  void streamed(unsigned slice, Cycle cycle, StreamRef stream, unsigned group, const Origin& origin) override;

private:
  struct Pending {
    std::vector<unsigned> busy;                  // slices
    std::vector<std::pair<unsigned, Cycle>> put; // stream signal, last cycle the value is on the chip
  };

  void apply();
  Cycle now() const;
  void wake_at(Cycle cycle);

  const EngineContext& ctx_;
  std::string path_;
  std::string temp_base_; // SystemC appends ".vcd"
  sc_core::sc_time period_;
  CycleWindow window_;
  sc_core::sc_trace_file* file_ = nullptr;
  std::unique_ptr<bool[]> busy_;     // per slice
  std::unique_ptr<bool[]> occupied_; // per stream: east 0..S-1, then west
  std::vector<Cycle> occupied_until_;
  std::vector<unsigned> busy_now_; // slices whose busy bit is set for cycle busy_cycle_
  Cycle busy_cycle_ = kNever;
  bool flushed_ = false;
  std::map<Cycle, Pending> pending_;
  sc_core::sc_event wake_;
};

} // namespace tsp
