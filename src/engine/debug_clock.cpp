#include "tspsim/engine/debug_clock.h"

#include <cmath>

namespace tsp {

namespace {
// An even number of picoseconds, so that the falling edge sits exactly half way.
sc_core::sc_time period_of(double clock_mhz) {
  const double ps = std::max(2.0, 2.0 * std::round(1e6 / clock_mhz / 2.0));
  return sc_core::sc_time(ps, sc_core::SC_PS);
}
} // namespace

DebugClock::DebugClock(double clock_mhz)
    : period(period_of(clock_mhz)), clock("debug_clock", period, 0.5, sc_core::SC_ZERO_TIME, true) {}

Cycle DebugClock::cycle() const {
  return static_cast<Cycle>(sc_core::sc_time_stamp().value() / period.value());
}

} // namespace tsp
