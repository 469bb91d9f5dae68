// One instruction queue of the ICU: its buffer of instruction text, when it dispatches next, and
// the state of NOP, Repeat, Sync and Config.
#pragma once

#include "tspsim/engine/engine_types.h"
#include "tspsim/engine/ring_queue.h"

#include <deque>
#include <vector>

namespace tsp {

struct QueuedInstruction {
  Instruction instruction;
  uint32_t index = 0;
  uint32_t line = 0;
};

struct InstructionQueue {
  struct Arrival {
    Cycle cycle;
    Origin origin; // the Ifetch that brought it
    std::vector<QueuedInstruction> instructions;
  };
  // What the ICU's ready check (next_dispatch, parked, idle()) and every dispatch read comes
  // first, so that they touch few cache lines.
  Cycle next_dispatch = 0;
  bool parked = false; // in Sync
  uint32_t repeats_left = 0;
  unsigned id = 0;
  unsigned slice = 0;
  unsigned local = 0;
  uint32_t appended = 0;     // instructions ever placed in the buffer (next index)
  unsigned active_lanes = 0; // Config vl x lanes per superlane
  RingQueue<QueuedInstruction> buffer;
  std::deque<Arrival> arrivals; // Ifetch text in flight, in arrival order

  // Repeat: `previous` is issued again every `repeat_interval` cycles while repeats_left > 0.
  bool has_previous = false;
  Dispatch previous;
  uint32_t repeat_interval = 1;
  int64_t repeat_stride = 0;
  int repeat_field = -1; // operand advanced by the stride
  // Offers of the Repeat's rest to its slice as a run taken whole: at its first iteration and,
  // while refused, after 1, 2, 4, .. more (a run whose checks pass only later is still taken;
  // one that never passes costs about log2 n offers).
  uint32_t offer_in = 0; // iterations until the next offer, counting this one (0: no more)
  uint32_t offer_gap = 1;
  void offer_from_next() {
    offer_in = 1;
    offer_gap = 1;
  }

  Cycle parked_at = 0;

  // The last instruction placed in the buffer (valid when appended > 0): what a fetched Repeat at
  // the start of its text repeats.
  Instruction last_appended;

  uint32_t fetched_in_flight = 0;   // instructions in `arrivals`
  uint32_t fetch_reads_pending = 0; // words its Ifetches have still to read

  bool idle() const { return buffer.empty() && repeats_left == 0 && arrivals.empty(); }
};

// The operand a Repeat stride advances: the first address field, or an MXM accumulator number;
// -1 if the instruction has none.
int strided_field(const isa::OpcodeSpec& spec);

} // namespace tsp
