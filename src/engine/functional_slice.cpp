#include "tspsim/engine/functional_slice.h"

#include "tspsim/engine/debug_clock.h"
#include "tspsim/engine/operand_groups.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp {

FunctionalSlice::FunctionalSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice,
                                 DebugClock* debug_clock)
    : sc_core::sc_module(name), ctx_(ctx), slice_(slice), position_(ctx.floorplan.slices()[slice].position),
      debug_clock_(debug_clock) {
  if (debug_clock_) {
    SC_METHOD(debug_posedge);
    sensitive << debug_clock_->clock.posedge_event();
    dont_initialize();
    SC_METHOD(debug_negedge);
    sensitive << debug_clock_->clock.negedge_event();
    dont_initialize();
  }
}

void FunctionalSlice::debug_posedge() {
  const Cycle t = debug_clock_->cycle();
  if (t > 0) retire(t - 1);
  commit(t);
}

void FunctionalSlice::debug_negedge() { evaluate(debug_clock_->cycle()); }

void FunctionalSlice::commit(Cycle t) {
  while (pending_.due(t)) {
    const auto popped = pending_.pop();
    const Cycle cycle = popped.first;
    const PendingWrite& write = popped.second;
    const uint32_t* values = write.values.empty() ? nullptr : write.values.data();
    ctx_.fabric.write_group(
        write.stream, write.group, position_, cycle, values, write.origin, ctx_.epoch_of(cycle),
        [&](unsigned s, const Origin& blamed) { report_collision(write.stream, s, cycle, blamed); });
    ctx_.stats.streamed(slice_, cycle, write.stream, write.group, ctx_.vector_bytes, write.origin);
    mark_busy(cycle);
  }
}

void FunctionalSlice::report_collision(StreamRef first, unsigned s, Cycle cycle, const Origin& blamed) {
  ctx_.log.report(ErrorKind::stream_collision, cycle, blamed,
                  fmt::format("second write to stream {} at {} in one cycle",
                              stream_name({first.id + s, first.west}, 1), info().name));
}

Cycle FunctionalSlice::next_event() const { return pending_.earliest(); }

bool FunctionalSlice::read_each_stream(Cycle t, StreamRef stream, unsigned group, uint8_t* out,
                                       const Origin& origin, uint32_t epoch) {
  bool ok = true;
  ctx_.fabric.read_group(
      stream, group, position_, t, epoch,
      [&](unsigned s, StreamFabric::ReadResult result, const uint8_t* data) {
        if (result != StreamFabric::ReadResult::ok) {
          ok = false;
          const StreamRef one{stream.id + s, stream.west};
          if (result == StreamFabric::ReadResult::empty)
            ctx_.log.report(ErrorKind::stream_empty, t, origin,
                            fmt::format("no value on stream {} at {}", stream_name(one, 1), info().name));
          else
            ctx_.log.report(ErrorKind::stream_stale, t, origin,
                            fmt::format("stream {} at {} holds a value from before the last barrier",
                                        stream_name(one, 1), info().name));
        }
        if (out) {
          uint8_t* dst = out + s * ctx_.vector_bytes;
          if (data)
            std::copy(data, data + ctx_.vector_bytes, dst);
          else
            std::fill(dst, dst + ctx_.vector_bytes, uint8_t{0});
        }
      });
  return ok;
}

void FunctionalSlice::hold_values(PendingWrite& write, const uint8_t* data) {
  for (unsigned s = 0; s < write.group; ++s)
    write.values.push_back(ctx_.fabric.hold(data + size_t(s) * ctx_.vector_bytes));
}

FunctionalSlice::StreamOperands FunctionalSlice::read_operands(const Dispatch& d, Cycle t, uint8_t* buffers,
                                                               size_t stride) {
  StreamOperands operands;
  const auto& streams = opcode_streams(d.instruction.opcode);
  for (unsigned i = 0; i < streams.count; ++i) {
    const StreamRef stream = StreamRef::from_field(d.instruction.operands[streams.fields[i].field]);
    const unsigned group = stream_group(d.instruction, streams.fields[i]);
    if (streams.fields[i].write) {
      operands.dst = stream;
      operands.dst_group = group;
      continue;
    }
    read_streams(t, stream, group, buffers ? buffers + operands.sources * stride : nullptr, d.origin);
    ++operands.sources;
  }
  return operands;
}

void FunctionalSlice::report_run_dispatches(const RepeatRun& run, uint64_t count) const {
  ActivityObserver* observer = ctx_.stats.observer();
  if (!observer) return;
  Dispatch dispatch = run.first;
  for (uint64_t k = 0; k < count; ++k) {
    dispatch.instruction = run.instruction(k);
    dispatch.cycle = run.dispatch_cycle(k);
    observer->dispatched(slice_, dispatch);
  }
}

std::string FunctionalSlice::stream_name(StreamRef stream, unsigned group) const {
  const char dir = stream_direction_letter(stream.west);
  if (group <= 1) return fmt::format("{}{}", dir, stream.id);
  return fmt::format("{}{}..{}{}", dir, stream.id, dir, stream.id + group - 1);
}

} // namespace tsp
