// A system of chips in one elaboration: one Chip per chip of the SystemConfig, driven by the
// System in windows of the minimum link latency (no chip can affect another sooner), with the
// link traffic delivered between windows (by the chips' own jobs when every chip is simulated).
// Results do not depend on the number of threads.
// docs/systems.md ("Engine") describes the protocol, the clock drift and replication.
#pragma once

#include "tspsim/config/system.h"
#include "tspsim/program/system_program.h"
#include "tspsim/system/chip.h"
#include "tspsim/system/link_observer.h"
#include "tspsim/system/worker_pool.h"

#include <memory>
#include <string>
#include <vector>

namespace tsp {

struct SystemOptions {
  EngineOptions engine;   // debug_clock is not supported: chips are driven by the System
  unsigned threads =
      1; // worker threads for the chips of a window (the caller's included), at most one a chip
  bool replicate = true;  // timing-only: simulate chips proven identical once (docs/systems.md)
  Cycle max_cycles = kNever;
};

struct SystemResult {
  Cycle cycles = 0;              // the longest chip's cycle count
  Cycle window = 0;              // cycles per window
  uint64_t windows = 0;
  unsigned threads = 1;
  uint32_t chips_simulated = 0;  // chips with a simulation of their own
  uint32_t chips_reused = 0;     // chips whose results are those of an identical simulated chip
  uint64_t vectors_delivered = 0;
  uint64_t vectors_unconnected = 0; // sent on a link with no cable: counted, then lost
  bool interrupted = false;
  bool stopped_strict = false;
  std::string strict_message;    // "chip N: <error>"
  double host_seconds = 0;
  std::vector<RunResult> chips;  // per chip
};

class System : public sc_core::sc_module {
public:
  SC_HAS_PROCESS(System);
  // Throws InputError if the program does not fit the system (number of chips) or the options
  // ask for something the System cannot do (the debug clock).
  System(sc_core::sc_module_name name, const SystemConfig& config, const SystemProgram& program,
         const SystemOptions& options);
  ~System() override;

  // Runs every chip to the end. Call once per process (SystemC).
  SystemResult run();

  uint32_t chips() const { return config_.chips(); }
  // The chip whose simulation stands for chip i (chip i itself unless it was reused).
  const Chip& simulated(uint32_t chip) const { return *chips_[class_of_[chip]->representative]; }
  uint32_t representative(uint32_t chip) const { return class_of_[chip]->representative; }
  // The far end of link `link` of `chip`, if it is cabled.
  const LinkEnd* peer(uint32_t chip, uint32_t link) const;
  const SystemConfig& config() const { return config_; }
  const SystemProgram& program() const { return program_; }

  // Observation (before run()): `observer` hears the activity of chip `chip`'s own simulation, which
  // is empty unless the chip is, or becomes, a representative; `links` hears every chip's sends.
  void observe_chip(uint32_t chip, ActivityObserver* observer);
  void observe_links(LinkObserver* links) { link_observer_ = links; }

private:
  // An arrival in the receiver's clock, as delivered at the end of a window.
  struct Arrival {
    uint32_t link;
    C2cLinks::Vector vector;
  };
  // Chips proven to behave identically: one simulated representative, the others reuse it.
  struct Class {
    uint32_t representative;
    std::vector<uint32_t> members;       // including the representative, ascending
    std::vector<Arrival> history;        // every arrival so far (timing only), for a later split
  };

  // What one simulated chip's sends of a window left behind, by link.
  using SentByLink = std::vector<std::vector<C2cLinks::Sent>>;
  // Per chip, what the thread that runs it uses in the parallel exchange (own cache lines).
  struct alignas(64) ChipWork {
    std::vector<C2cLinks::Sent> taken; // the outbox (kept for its capacity)
    uint64_t delivered = 0;
    uint64_t unconnected = 0;
  };

  void drive();
  void step_window(Cycle end);
  void exchange(Cycle end);
  bool all_simulated() const { return simulated_.size() == chips_.size() && !link_observer_; }
  void step_in_parallel(Cycle end);
  void collect(uint32_t chip, SentByLink& sent);
  void receive(uint32_t chip, std::vector<SentByLink>& sent, Cycle sent_by);
  void receive_pending();
  static void check_arrival(const LinkEnd& far, Cycle arrival, Cycle window_end);
  LinkSend observed_send(uint32_t chip, const C2cLinks::Sent& sent, const LinkEnd* far, Cycle arrival) const;
  void split(Class& cls, const std::vector<std::vector<Arrival>>& arrivals, Cycle end);
  bool all_done() const;
  Cycle window_cycles() const;

  const SystemConfig& config_;
  const SystemProgram& program_;
  SystemOptions options_;
  std::vector<std::unique_ptr<Chip>> chips_;
  std::vector<LinkEnd> peers_;           // chip * max_links + link -> far end (chip = kNoPeer: none)
  uint32_t max_links_ = 0;
  std::vector<std::unique_ptr<Class>> classes_;
  std::vector<Class*> class_of_;
  std::vector<uint32_t> simulated_;      // representatives, ascending
  std::vector<std::vector<Arrival>> arrivals_; // per chip, this window's (kept to reuse capacity)
  std::vector<C2cLinks::Sent> taken_;    // one chip's outbox (serial exchange; kept for its capacity)
  std::vector<SentByLink> sent_[2];      // per chip, the sends of even and odd windows (parallel exchange)
  std::vector<ChipWork> work_;           // per chip (parallel exchange)
  bool pending_ = false;                 // sent_ of the last window awaits delivery
  WorkerPool pool_;
  Cycle window_ = 0;
  Cycle now_ = 0;                        // reference cycle: every chip has simulated all before it
  SystemResult result_;
  LinkObserver* link_observer_ = nullptr;
};

} // namespace tsp
