// The VXM: one ALU per local queue, lane-wise arithmetic on stream groups. Operands are read at
// dispatch + skew, the result lands on dst at dispatch + func (docs/timing-model.md).
#pragma once

#include "tspsim/engine/operand_reading_slice.h"

namespace tsp {

class VxmSlice : public OperandReadingSlice {
public:
  VxmSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock);

private:
  void perform(const Dispatch& d, Cycle t) override;
  bool streams_only(const Instruction&) const override { return true; }
  void compute(const Dispatch& d, uint8_t* dst, const uint8_t* const* sources, unsigned source_count);
};

} // namespace tsp
