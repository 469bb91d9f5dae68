// The chip-to-chip links of one chip, as seen by its Send and Receive instructions.
// Sending: each link serialises one vector at a time for c2c_vector_cycles (lanes x lane rate);
// a Send while the link is still busy is an overrun (the hardware has no back-pressure).
// Receiving: one FIFO per link of the vectors that will be (or are) receivable, oldest first.
// Wiring: with c2c.loopback a Send arrives on the same link of the same chip (single-chip runs);
// a System cables the chips instead: sends wait in an outbox that the System delivers to the far
// chip at the end of each window (docs/systems.md).
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/engine/engine_types.h"

#include <deque>
#include <optional>
#include <vector>

namespace tsp {

class C2cLinks {
public:
  explicit C2cLinks(const ChipConfig& config);

  struct Vector {
    Cycle arrival;
    std::vector<uint8_t> bytes; // empty in timing-only runs
    Origin origin;              // the Send
  };
  // A vector that left this chip, waiting in the outbox for the System to deliver it.
  struct Sent {
    unsigned link;
    Cycle start; // the cycle the link started serialising it (the link is busy vector_cycles() from here)
    Vector vector;
  };
  struct LinkStats {
    uint64_t vectors_sent = 0;
    uint64_t vectors_received = 0;
    uint64_t busy_cycles = 0; // cycles spent serialising (vectors_sent x c2c_vector_cycles)
  };

  // Starts serialising a vector on `link` at cycle t, receivable at the far end at `arrival`.
  // If the link is still busy with an earlier vector, returns the cycle it is busy until (an
  // overrun); the vector then queues behind it and still arrives, so later checks stay meaningful.
  std::optional<Cycle> send(unsigned link, Cycle t, Cycle arrival, std::vector<uint8_t> bytes, const Origin& origin);
  // The oldest vector on `link` that has arrived by cycle t, removed; nothing if none.
  std::optional<Vector> receive(unsigned link, Cycle t);

  // System wiring: sends go to the outbox instead of looping back.
  void set_cabled() { loopback_ = false; }
  // Replaces `into` by every vector sent since the last call, in send order (the outbox keeps
  // `into`'s capacity, so a System's windows do not allocate).
  void take_outbox(std::vector<Sent>& into);
  // A vector arriving from the far end of `link`. Deliveries on a link come in arrival order.
  void deliver(unsigned link, Vector vector);

  unsigned links() const { return static_cast<unsigned>(incoming_.size()); }
  Cycle vector_cycles() const { return vector_cycles_; }
  const std::vector<LinkStats>& stats() const { return stats_; }

private:
  bool loopback_;
  Cycle vector_cycles_;
  std::vector<std::deque<Vector>> incoming_;
  std::vector<Cycle> busy_until_;
  std::vector<LinkStats> stats_;
  std::vector<Sent> outbox_;
};

} // namespace tsp
