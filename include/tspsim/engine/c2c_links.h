// The chip-to-chip links of one chip, as seen by its Send and Receive instructions: one FIFO per
// link of the vectors that will be (or are) receivable, oldest first. With c2c.loopback a Send
// arrives on the same link of the same chip; without it the vector leaves the chip and is dropped.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <deque>
#include <optional>
#include <vector>

namespace tsp {

class C2cLinks {
public:
  C2cLinks(unsigned links, bool loopback);

  struct Vector {
    Cycle arrival;
    std::vector<uint8_t> bytes; // empty in timing-only runs
    Origin origin;              // the Send
  };

  // A vector sent on `link` that becomes receivable at `arrival` (kept only with loopback).
  void send(unsigned link, Cycle arrival, std::vector<uint8_t> bytes, const Origin& origin);
  // The oldest vector on `link` that has arrived by cycle t, removed; nothing if none.
  std::optional<Vector> receive(unsigned link, Cycle t);

private:
  bool loopback_;
  std::vector<std::deque<Vector>> links_;
};

} // namespace tsp
