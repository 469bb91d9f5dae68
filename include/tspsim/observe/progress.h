// Progress of a long run on a terminal: simulated cycles, cycles per host second and, when the
// length is known (--max-cycles or the program's predicted cycles), the percentage and time left.
// Wakes the kernel a few times per second of host time, prints only after the first second, and
// is not created at all when stderr is not a terminal.
#pragma once

#include "tspsim/system/chip.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <systemc>

namespace tsp {

class Progress : public sc_core::sc_module {
public:
  SC_HAS_PROCESS(Progress);
  // `running` says whether the run goes on (when it answers false the process stops waking the
  // kernel); `period` is one clock cycle of kernel time. `expected_cycles` 0: unknown.
  Progress(sc_core::sc_module_name name, std::function<bool()> running, sc_core::sc_time period,
           Cycle expected_cycles, std::FILE* out);
  // Ends the progress line (call after the run).
  void finish();

private:
  void tick();

  std::function<bool()> running_;
  sc_core::sc_time period_;
  Cycle expected_;
  std::FILE* out_;
  Cycle step_ = 100000; // simulated cycles between wake-ups, adapted to about 4 per host second
  Cycle last_cycle_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
  bool printed_ = false;
};

} // namespace tsp
