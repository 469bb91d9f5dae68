#include "tspsim/engine/repeat_run.h"

#include <algorithm>

namespace tsp {

Instruction RepeatRun::instruction(uint64_t k) const {
  Instruction instruction = first.instruction;
  if (field >= 0) instruction.operands[field] += static_cast<int64_t>(k) * stride;
  return instruction;
}

int64_t RepeatRun::iteration_at(Cycle cycle, Cycle offset) const {
  if (cycle < first.cycle + offset) return -1;
  const Cycle since = cycle - first.cycle - offset;
  if (since % interval != 0 || since / interval >= count) return -1;
  return static_cast<int64_t>(since / interval);
}

uint64_t RepeatRun::iterations_through(Cycle last, Cycle offset) const {
  if (last < first.cycle + offset) return 0;
  return std::min<uint64_t>(count, (last - first.cycle - offset) / interval + 1);
}

RunCycles::RunCycles(const RepeatRun& run, std::array<Cycle, 3> offsets)
    : first_(run.first.cycle), interval_(run.interval), count_(run.count) {
  std::sort(offsets.begin(), offsets.end());
  for (Cycle offset : offsets)
    if (offset_count_ == 0 || offsets_[offset_count_ - 1] != offset) offsets_[offset_count_++] = offset;
}

bool RunCycles::contains(Cycle cycle) const {
  for (unsigned i = 0; i < offset_count_; ++i) {
    const Cycle start = first_ + offsets_[i];
    if (cycle >= start && (cycle - start) % interval_ == 0 && (cycle - start) / interval_ < count_)
      return true;
  }
  return false;
}

// Offset o covers, in its residue class o mod interval, the steps [o / interval, o / interval +
// count); two offsets of one class overlap where their step ranges do. Counting each offset's
// cycles and subtracting what an earlier offset of the same class already covered gives the
// union (offsets ascend, so the earlier one's range starts first).
uint64_t RunCycles::count_through(Cycle last) const {
  uint64_t total = 0;
  for (unsigned i = 0; i < offset_count_; ++i) {
    const Cycle start = first_ + offsets_[i];
    if (last < start) continue;
    const uint64_t steps = std::min<uint64_t>(count_, (last - start) / interval_ + 1);
    uint64_t begin = offsets_[i] / interval_; // in steps, within the residue class
    const uint64_t end = offsets_[i] / interval_ + steps;
    for (unsigned j = 0; j < i; ++j) {
      if (offsets_[j] % interval_ != offsets_[i] % interval_) continue;
      const Cycle earlier_start = first_ + offsets_[j];
      const uint64_t earlier_steps =
          last < earlier_start ? 0 : std::min<uint64_t>(count_, (last - earlier_start) / interval_ + 1);
      begin = std::max<uint64_t>(begin, offsets_[j] / interval_ + earlier_steps);
    }
    if (end > begin) total += end - begin;
  }
  return total;
}

Cycle RunCycles::latest_through(Cycle last) const {
  Cycle latest = kNever;
  for (unsigned i = 0; i < offset_count_; ++i) {
    const Cycle start = first_ + offsets_[i];
    if (last < start) continue;
    const uint64_t steps = std::min<uint64_t>(count_, (last - start) / interval_ + 1);
    const Cycle cycle = start + (steps - 1) * interval_;
    if (latest == kNever || cycle > latest) latest = cycle;
  }
  return latest;
}

} // namespace tsp
