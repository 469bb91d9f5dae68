// A chip's own clock against the system's reference time. Each chip has its own crystal: with a
// drift of p ppm its local cycle count runs ahead (p > 0) or behind the reference by p cycles per
// million. A chip simulates in local cycles; links convert between clocks, and the HAC epochs
// (Deskew) are boundaries of the reference time, which is what lets Deskew realign drifting chips.
// With no drift (the default) local and reference cycles are the same numbers.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <cmath>

namespace tsp {

class ChipClock {
public:
  explicit ChipClock(double drift_ppm = 0) : ppm_(drift_ppm) {}

  double drift_ppm() const { return ppm_; }
  // The local cycle in progress at reference cycle g.
  Cycle local(Cycle g) const {
    if (ppm_ == 0) return g;
    return Cycle(int64_t(g) + int64_t(std::floor(double(g) * ppm_ / 1e6)));
  }
  // The first reference cycle at which local cycle l is in progress.
  Cycle reference(Cycle l) const {
    if (ppm_ == 0) return l;
    Cycle g = Cycle(std::floor(double(l) * 1e6 / (1e6 + ppm_)));
    while (g > 0 && local(g - 1) >= l) --g;
    while (local(g) < l) ++g;
    return g;
  }
  // Deskew at local cycle t: the local cycle of the next HAC epoch boundary (a multiple of
  // `period` in reference time) after t.
  Cycle next_epoch(Cycle t, Cycle period) const {
    return local((reference(t) / period + 1) * period);
  }

private:
  double ppm_;
};

} // namespace tsp
