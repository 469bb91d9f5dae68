// One chip: the ICU and every functional slice of the configured floorplan, the program loader,
// and the scheduler that advances the clock.
#pragma once

#include "tspsim/engine/debug_clock.h"
#include "tspsim/engine/event_calendar.h"
#include "slices/icu.h"

#include <atomic>
#include <memory>
#include <queue>
#include <vector>

namespace tsp {

class MemSlice;

struct RunResult {
  Cycle cycles = 0;            // last active cycle + 1 + superlane stagger of the last superlane
  Cycle last_active = 0;
  bool stopped_strict = false; // --strict stopped the run at the first conformance error
  std::string strict_message;
  bool interrupted = false;    // SIGINT or the cycle limit ended the run early: statistics are partial
  double host_seconds = 0;
  // First slice instruction dispatched (EngineContext::first_issue; kNever: none).
  Cycle first_issue = kNever;
};

// Set from a signal handler to end the run at the next scheduled cycle.
extern std::atomic<bool> g_interrupt_requested;

// Who advances the clock: the chip's own SystemC process (one chip per run), or a System that
// calls advance() for each window (the chip then registers no process and is plain C++ state).
enum class ChipDriver { own_process, system };

class Chip : public sc_core::sc_module {
public:
  SC_HAS_PROCESS(Chip);
  Chip(sc_core::sc_module_name name, const ChipConfig& config, const EngineOptions& options,
       ChipDriver driver = ChipDriver::own_process);
  ~Chip() override;

  // Initial MEM images and the instruction text of every queue. MEM reads the stored images in
  // place until their words are written, so `program` must outlive the chip.
  void load(const Program& program);
  // Runs to the end of the program (or `max_cycles`). Call once per process (SystemC).
  RunResult run(Cycle max_cycles = kNever);

  // ChipDriver::system: simulates every cycle before `end` that has work (the fast scheduler's
  // step, without the kernel). Touches only this chip's state, so chips may advance concurrently.
  void advance(Cycle end);
  void set_max_cycles(Cycle max_cycles) { max_cycles_ = max_cycles; }
  // No other SystemC process looks at this chip during run() (no VCD writer, no progress line):
  // its process then simulates every cycle in one activation, and simulated time stays at 0.
  void set_sole_process(bool sole) { sole_process_ = sole; }
  // Finished, stopped by --strict or interrupted: advance() has nothing more to do.
  bool done() const { return finished_ || interrupted_ || ctx_.log.stop_requested(); }
  // The outcome so far (host_seconds left 0).
  RunResult result() const;

  // A named tensor's elements after the run, row-major, each element's bytes little-endian.
  std::vector<uint8_t> read_symbol(const Symbol& symbol) const;

  EngineContext& context() { return ctx_; }
  sc_core::sc_time period() const { return period_; } // one clock cycle of simulated time
  bool running() const { return !finished_ && !interrupted_ && !ctx_.log.stop_requested(); }
  const EngineContext& context() const { return ctx_; }
  const Icu& icu() const { return *icu_; }

private:
  void generate_declared_tensors(const Program& program);
  void own_process_step();
  // One cycle; false when the run has ended (or was stopped), else now_ is the next cycle with work.
  bool fast_step();
  void debug_negedge();
  void debug_monitor();
  bool idle() const;
  void finish(Cycle t);

  EngineContext ctx_;
  std::unique_ptr<DebugClock> debug_clock_;
  std::vector<std::unique_ptr<FunctionalSlice>> slices_;
  std::vector<MemSlice*> mems_;
  std::unique_ptr<Icu> icu_;
  sc_core::sc_time period_;
  ChipDriver driver_;
  Cycle now_ = 0;
  Cycle max_cycles_ = kNever;
  bool finished_ = false;
  bool interrupted_ = false;
  bool limit_reached_ = false; // the engine stopped at max_cycles_ (not at an interrupt)
  bool sole_process_ = false;
  std::string strict_message_;
  sc_core::sc_event settle_;

  // Fast scheduler: slices by the cycle of their next event (stale entries skipped).
  EventCalendar due_;
  std::vector<Cycle> scheduled_at_;
  std::vector<Cycle> stamp_;
  std::vector<unsigned> active_;
};

} // namespace tsp
