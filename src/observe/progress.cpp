#include "tspsim/observe/progress.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp {

Progress::Progress(sc_core::sc_module_name name, std::function<bool()> running, sc_core::sc_time period,
                   Cycle expected_cycles, std::FILE* out)
    : sc_core::sc_module(name), running_(std::move(running)), period_(period), expected_(expected_cycles),
      out_(out), start_(std::chrono::steady_clock::now()), last_(start_) {
  SC_METHOD(tick);
}

void Progress::tick() {
  if (!running_()) return; // no next trigger: the kernel may stop
  const Cycle cycle = Cycle(sc_core::sc_time_stamp() / period_);
  const auto now = std::chrono::steady_clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (since_last > 0 && cycle > last_cycle_) {
    const double rate = double(cycle - last_cycle_) / since_last;
    step_ = std::clamp<Cycle>(Cycle(rate / 4), 1000, 1000000000);
    if (elapsed >= 1.0) {
      std::string line = fmt::format("\rtspsim: cycle {}", cycle);
      if (expected_ > cycle)
        line += fmt::format(" of {} ({:.1f}%)", expected_, 100.0 * double(cycle) / double(expected_));
      line += fmt::format(", {:.3g} cycles/s", rate);
      if (expected_ > cycle) line += fmt::format(", about {:.0f} s left", double(expected_ - cycle) / rate);
      std::fputs((line + "   ").c_str(), out_);
      std::fflush(out_);
      printed_ = true;
    }
  }
  last_ = now;
  last_cycle_ = cycle;
  next_trigger(period_ * double(step_));
}

void Progress::finish() {
  if (printed_) std::fputs("\n", out_);
  printed_ = false;
}

} // namespace tsp
