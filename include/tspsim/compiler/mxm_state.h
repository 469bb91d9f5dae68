// The MXM rules of docs/timing-model.md for one plane, as a kernel places its LW, IW, ABC and ACC
// instructions: the earliest legal cycle for each, and a std::logic_error (a compiler bug) for a
// placement that would make the simulator report mxm-weights or mxm-accumulator. The weight
// buffer rules are the simulator's own (program/mxm_rules.h); the planner adds its intent: one ABC
// a cycle, an IW only after the ABCs of the weights it replaces, and a new sum into an accumulator
// only once the ACC of its previous contents has read it.
#pragma once

#include "tspsim/compiler/schedule.h"
#include "tspsim/program/mxm_rules.h"

#include <vector>

namespace tsp::compiler {

class MxmPlaneState {
public:
  explicit MxmPlaneState(const ChipConfig& config);

  // LW: the first read cycle of a new load must come after the previous load is installed (its
  // IW's install cycle may coincide: installs land before reads of their cycle).
  Cycle lw_earliest() const;
  void lw(Cycle first_read, isa::DType dtype);
  // IW: the install cycle must come after the last read of the load and after every ABC that
  // uses the weights it replaces.
  Cycle iw_earliest() const;
  void iw(Cycle install);
  // ABC: reads at or after the install, one 16-bit float activation per interval, and a new sum
  // into an accumulator only once the ACC of its previous contents has read it.
  Cycle abc_earliest(isa::DType dtype, unsigned acc, bool add) const;
  void abc(Cycle read, Cycle ready, isa::DType dtype, unsigned acc, bool add);
  // How many of `count` ABCs into accumulators acc, acc + 1, ..., reading in cycles first,
  // first + 1, ... right after the latest ABC, abc_earliest puts each at its own cycle (none of
  // 16-bit floats, which are paced).
  unsigned abc_run(Cycle first, isa::DType dtype, unsigned acc, bool add, unsigned count) const;
  // abc(first + k, ready + k, dtype, acc + k, add) for k < count at once, with abc's checks.
  void abcs(Cycle first, Cycle ready, isa::DType dtype, unsigned acc, bool add, unsigned count);
  // ACC: once the accumulator's latest product is in.
  Cycle acc_earliest(unsigned acc) const;
  void acc(Cycle t, unsigned acc);
  // How many of `count` ACCs of accumulators acc, acc + 1, ... in cycles first, first + 1, ...
  // acc_earliest allows (stopping at one that holds nothing).
  unsigned acc_run(Cycle first, unsigned acc, unsigned count) const;
  // acc(first + k, acc + k) for k < count at once, with acc's checks.
  void accs(Cycle first, unsigned acc, unsigned count);

  Cycle last_abc_read() const { return last_abc_; }

private:
  MxmWeightRules weights_;
  Cycle last_abc_ = -1;
  std::vector<Cycle> ready_;    // per accumulator: when its latest product is in (-1: none)
  std::vector<Cycle> read_out_; // per accumulator: its latest ACC (-1: none)
};

} // namespace tsp::compiler
