// The VXM: one ALU per local queue, lane-wise arithmetic on stream groups. Operands are read at
// dispatch + skew, the result lands on dst at dispatch + func (docs/timing-model.md).
#pragma once

#include "tspsim/engine/functional_slice.h"
#include "tspsim/engine/pending_queue.h"

#include <vector>

namespace tsp {

class VxmSlice : public FunctionalSlice {
public:
  VxmSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock);

  void execute(const Dispatch& dispatch) override;
  void evaluate(Cycle t) override;
  Cycle next_event() const override;

private:
  void perform(const Dispatch& d, Cycle t);
  void compute(const Dispatch& d, uint8_t* dst, const uint8_t* const* sources, unsigned source_count);

  PendingQueue<Dispatch> pending_; // operand reads at dispatch + skew
  std::vector<uint8_t> scratch_; // up to three source groups and the destination, 4 planes each
};

} // namespace tsp
