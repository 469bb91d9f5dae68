// A slice whose instructions read their stream operands `skew` cycles after dispatch and then
// compute (the VXM and the SXMs): dispatches wait in a queue keyed by their read cycle, and
// perform() runs each one in that cycle, reading the operands into a scratch area of the slice.
// In timing-only runs a Repeat of an instruction that only reads and writes streams can be taken
// whole (docs/timing-model.md, "Intervals in timing-only mode").
#pragma once

#include "tspsim/engine/functional_slice.h"
#include "tspsim/engine/pending_queue.h"
#include "tspsim/program/latency.h"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

namespace tsp {

class OperandReadingSlice : public FunctionalSlice {
public:
  // Scratch for up to `max_sources` source groups and a destination group of `max_planes` planes.
  OperandReadingSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice,
                      DebugClock* debug_clock, unsigned max_sources, unsigned max_planes)
      : FunctionalSlice(name, ctx, slice, debug_clock), max_sources_(max_sources),
        stride_(size_t(max_planes) * ctx.vector_bytes), scratch_((max_sources + 1) * stride_) {}

  void execute(const Dispatch& d) override {
    const Cycle read = d.cycle + skew_cycles(d.instruction, ctx_.config);
    // With no skew and no earlier read due, the queue would hand `d` straight back.
    if (read == d.cycle && !reads_.due(read)) return perform(d, read);
    reads_.push(read) = d;
    evaluate(d.cycle);
  }
  void evaluate(Cycle t) override {
    while (reads_.due(t)) perform(reads_.pop().second, t);
  }
  void retire(Cycle t) override {
    if (run_ && t >= run_last_) end_run(run_last_);
  }
  Cycle next_event() const override {
    return std::min({FunctionalSlice::next_event(), reads_.earliest(), run_last_});
  }
  bool take_run(const RepeatRun& run) override;
  void stop_run(Cycle last) override {
    if (run_) end_run(last);
  }
  uint64_t split_run(Cycle now, Cycle release) override;

protected:
  static constexpr unsigned kMaxSources = 3;
  // The operands of an instruction read into the scratch: source group i at sources[i], and
  // where its destination group is computed (null in timing-only runs, which read no data).
  struct ScratchOperands : StreamOperands {
    std::array<const uint8_t*, kMaxSources> source_data{};
    uint8_t* out = nullptr;
  };
  ScratchOperands read_to_scratch(const Dispatch& d, Cycle t) {
    ScratchOperands operands;
    static_cast<StreamOperands&>(operands) =
        read_operands(d, t, functional() ? scratch_.data() : nullptr, stride_);
    for (unsigned i = 0; i < operands.sources; ++i) operands.source_data[i] = scratch_.data() + i * stride_;
    if (functional()) operands.out = scratch_.data() + max_sources_ * stride_;
    return operands;
  }
  uint8_t* scratch() { return scratch_.data(); }

  // Reads the operands of `d` (due in cycle t), computes and schedules its results.
  virtual void perform(const Dispatch& d, Cycle t) = 0;
  // Whether perform() of `instruction` only reads its sources and writes its destination group
  // dispatch + func later (so a Repeat of it can be taken whole).
  virtual bool streams_only(const Instruction& instruction) const = 0;

private:
  // The streams one iteration of a run reads and writes.
  struct RunStreams {
    std::array<StreamRef, kMaxSources> sources{};
    std::array<unsigned, kMaxSources> groups{};
    unsigned source_count = 0;
    StreamRef dst;
    unsigned dst_group = 0; // 0: the instruction writes no stream
  };
  static RunStreams run_streams(const Instruction& instruction);
  bool run_possible(const RepeatRun& run, const RunStreams& streams, Cycle skew, Cycle func) const;
  // Counts what the run did through cycle `last` and ends it.
  void end_run(Cycle last);

  PendingQueue<Dispatch> reads_; // operand reads at dispatch + skew
  unsigned max_sources_;
  size_t stride_;
  std::vector<uint8_t> scratch_;

  // A Repeat run taken whole (timing-only): its reads were checked when it was taken, its values
  // are in the fabric as write runs, and its statistics are counted when it ends.
  std::optional<RepeatRun> run_;
  RunStreams run_streams_;
  std::array<Cycle, 3> run_offsets_{}; // dispatch, operand read, landing (after dispatch)
  RunCycles run_cycles_;
  Cycle run_counted_ = kNever; // a run cycle counted busy before the run was taken
  Cycle run_last_ = kNever;    // the run's last busy cycle: it ends in that cycle's retire
};

} // namespace tsp
