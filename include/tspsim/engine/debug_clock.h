// The debug scheduling mode: a real sc_clock at the chip's clock period. Every slice has one
// SC_METHOD on the rising edge (retire the previous cycle, commit this one) and one on the
// falling edge (dispatch and evaluate).
#pragma once

#include "tspsim/engine/engine_types.h"

#include <systemc>

namespace tsp {

struct DebugClock {
  explicit DebugClock(double clock_mhz);

  // The cycle number of the current rising or falling edge.
  Cycle cycle() const;

  sc_core::sc_time period;
  sc_core::sc_clock clock;
};

} // namespace tsp
