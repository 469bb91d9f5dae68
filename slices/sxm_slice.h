// A switch slice (SXM_W or SXM_E): superlane and lane moves on stream groups (Shift, Select,
// Permute, Distribute, Rotate, Transpose) and the chip-to-chip Send and Receive its queues issue.
// Multi-byte dtypes move every byte plane of the group the same way.
#pragma once

#include "tspsim/engine/operand_reading_slice.h"

namespace tsp {

class SxmSlice : public OperandReadingSlice {
public:
  SxmSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock);

private:
  void perform(const Dispatch& d, Cycle t) override;
  // Every instruction but the chip-to-chip Send and Receive.
  bool streams_only(const Instruction& instruction) const override;
  void send(const Dispatch& d, Cycle t, const uint8_t* data);
  void receive(const Dispatch& d, Cycle t);
  void compute(const Dispatch& d, unsigned group, const uint8_t* const* sources, uint8_t* out) const;
};

} // namespace tsp
