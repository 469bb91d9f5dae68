#include "tspsim/engine/operand_reading_slice.h"

#include "tspsim/engine/operand_groups.h"
#include "tspsim/program/timing_rules.h"

namespace tsp {

OperandReadingSlice::RunStreams OperandReadingSlice::run_streams(const Instruction& instruction) {
  RunStreams streams;
  const auto fields = instruction.spec().operand_fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].kind != isa::FieldKind::stream) continue;
    const StreamRef stream = StreamRef::from_field(instruction.operands[i]);
    const unsigned group = stream_group(instruction, i);
    if (fields[i].role == isa::StreamRole::write) {
      streams.dst = stream;
      streams.dst_group = group;
    } else if (streams.source_count < kMaxSources) {
      streams.sources[streams.source_count] = stream;
      streams.groups[streams.source_count++] = group;
    }
  }
  return streams;
}

// A run is taken when nothing of the slice is still to be read, no stream write of its own lands
// at or after the run's first value (so its own values cannot meet one), and every operand read
// is sure to be ok (StreamFabric::run_reads_ok), so the run has no conformance error of its own;
// a barrier release scheduled later splits it (split_run). The operand read must come before any
// release a Notify of the run's last kept dispatch cycle can schedule, so that a split returns
// every iteration that reads after the release.
bool OperandReadingSlice::run_possible(const RepeatRun& run, const RunStreams& streams, Cycle skew,
                                       Cycle func) const {
  if (run_ || !reads_.empty() || run.interval == 0 || streams.dst_group == 0) return false;
  if (!streams_only(run.first.instruction) || skew >= notify_release_cycles(ctx_.config)) return false;
  const Cycle pending = latest_pending_write();
  if (pending != kNever && pending >= run.first.cycle + func) return false;
  const unsigned position = info().position;
  for (unsigned i = 0; i < streams.source_count; ++i)
    for (unsigned s = 0; s < streams.groups[i]; ++s)
      if (!ctx_.fabric.run_reads_ok({streams.sources[i].id + s, streams.sources[i].west}, position,
                                    run.first.cycle + skew, run.interval, run.count))
        return false;
  return true;
}

bool OperandReadingSlice::take_run(const RepeatRun& run) {
  const Instruction& instruction = run.first.instruction;
  const RunStreams streams = run_streams(instruction);
  const Cycle skew = skew_cycles(instruction, ctx_.config);
  const Cycle func = func_cycles(instruction, ctx_.config);
  if (!run_possible(run, streams, skew, func)) return false;
  run_ = run;
  run_streams_ = streams;
  // With no source there is no operand read, so no busy cycle at dispatch + skew.
  run_offsets_ = {0, streams.source_count != 0 ? skew : 0, func};
  run_cycles_ = RunCycles(run, run_offsets_);
  for (unsigned s = 0; s < streams.dst_group; ++s)
    ctx_.fabric.add_run({{streams.dst.id + s, streams.dst.west},
                         info().position,
                         run.first.cycle + func,
                         run.interval,
                         run.count,
                         run.first.origin},
                        run.first.cycle);
  run_counted_ = ctx_.stats.slice(slice_id()).last_busy == run.first.cycle ? run.first.cycle : kNever;
  run_last_ = run_cycles_.last();
  ctx_.stats.cover_run(slice_id(), &run_cycles_);
  ++ctx_.runs_taken;
  return true;
}

void OperandReadingSlice::end_run(Cycle last) {
  const RepeatRun& run = *run_;
  const uint64_t dispatched = run.iterations_through(last, 0);
  SliceStats& stats = ctx_.stats.slice(slice_id());
  stats.instructions += dispatched;
  stats.by_opcode[static_cast<uint8_t>(run.first.instruction.opcode)] += dispatched;
  report_run_dispatches(run, dispatched);
  uint64_t groups_read = 0;
  for (unsigned i = 0; i < run_streams_.source_count; ++i) groups_read += run_streams_.groups[i];
  const uint64_t read = run.iterations_through(last, run_offsets_[1]);
  const uint64_t landed = run.iterations_through(last, run_offsets_[2]);
  stats.stream_bytes_read += read * groups_read * ctx_.vector_bytes;
  stats.stream_bytes_written += landed * run_streams_.dst_group * ctx_.vector_bytes;
  ctx_.stats.release_run(slice_id(), last, run_counted_);
  const Cycle latest = run_cycles_.latest_through(last);
  if (latest != kNever) ctx_.mark_active(latest);
  run_.reset();
  run_last_ = kNever;
}

// The run keeps its iterations dispatched by `now` (their reads come before the release) and
// the queue dispatches the rest one by one.
uint64_t OperandReadingSlice::split_run(Cycle now, Cycle release) {
  if (!run_ || run_streams_.source_count == 0) return 0;
  if (release > run_->last_dispatch() + run_offsets_[1] || run_->last_dispatch() <= now) return 0;
  const uint64_t kept = run_->iterations_through(now, 0);
  const Cycle first_landing = run_->first.cycle + run_offsets_[2];
  run_->count = static_cast<uint32_t>(kept);
  run_cycles_ = RunCycles(*run_, run_offsets_);
  run_last_ = run_cycles_.last();
  for (unsigned s = 0; s < run_streams_.dst_group; ++s)
    ctx_.fabric.shorten_run({run_streams_.dst.id + s, run_streams_.dst.west}, info().position, first_landing,
                            run_->count);
  return kept;
}

} // namespace tsp
