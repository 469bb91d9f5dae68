// A switch slice (SXM_W or SXM_E): superlane and lane moves on stream groups (Shift, Select,
// Permute, Distribute, Rotate, Transpose) and the chip-to-chip Send and Receive its queues issue.
// Multi-byte dtypes move every byte plane of the group the same way.
#pragma once

#include "tspsim/engine/functional_slice.h"
#include "tspsim/engine/pending_queue.h"

#include <vector>

namespace tsp {

class SxmSlice : public FunctionalSlice {
public:
  SxmSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock);

  void execute(const Dispatch& dispatch) override;
  void evaluate(Cycle t) override;
  Cycle next_event() const override;

private:
  void perform(const Dispatch& d, Cycle t);
  void send(const Dispatch& d, Cycle t, const uint8_t* data);
  void receive(const Dispatch& d, Cycle t);
  void compute(const Dispatch& d, unsigned group, const uint8_t* const* sources, uint8_t* out) const;

  PendingQueue<Dispatch> pending_; // operand reads at dispatch + skew
  std::vector<uint8_t> scratch_; // two source groups and the destination, 16 planes each
};

} // namespace tsp
