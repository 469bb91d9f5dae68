// A slice whose instructions read their stream operands `skew` cycles after dispatch and then
// compute (the VXM and the SXMs): dispatches wait in a queue keyed by their read cycle, and
// perform() runs each one in that cycle.
#pragma once

#include "tspsim/engine/functional_slice.h"
#include "tspsim/engine/pending_queue.h"
#include "tspsim/program/latency.h"

#include <algorithm>

namespace tsp {

class OperandReadingSlice : public FunctionalSlice {
public:
  using FunctionalSlice::FunctionalSlice;

  void execute(const Dispatch& d) override {
    reads_.push(d.cycle + skew_cycles(d.instruction, ctx_.config)) = d;
    evaluate(d.cycle);
  }
  void evaluate(Cycle t) override {
    while (reads_.due(t)) perform(reads_.pop().second, t);
  }
  Cycle next_event() const override { return std::min(FunctionalSlice::next_event(), reads_.earliest()); }

protected:
  // Reads the operands of `d` (due in cycle t), computes and schedules its results.
  virtual void perform(const Dispatch& d, Cycle t) = 0;

private:
  PendingQueue<Dispatch> reads_; // operand reads at dispatch + skew
};

} // namespace tsp
