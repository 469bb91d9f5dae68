#include "tspsim/engine/functional_slice.h"

#include "tspsim/engine/debug_clock.h"

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
  while (!pending_.empty() && pending_.front().cycle <= t) {
    std::pop_heap(pending_.begin(), pending_.end(), Later{});
    const PendingWrite write = pending_.back();
    pending_.pop_back();
    const uint8_t* data = write.buffer == kNoBuffer ? nullptr : buffers_[write.buffer].data();
    for (unsigned s = 0; s < write.group; ++s) {
      const StreamRef stream{write.stream.id + s, write.stream.west};
      const auto result = ctx_.fabric.write(stream, position_, write.cycle, data ? data + s * ctx_.vector_bytes : nullptr,
                                            write.origin.queue, ctx_.epoch_of(write.cycle));
      if (result == StreamFabric::WriteResult::collision)
        ctx_.log.report(ErrorKind::stream_collision, write.cycle, write.origin,
                        fmt::format("second write to stream {} at {} in one cycle", stream_name(stream, 1), info().name));
    }
    ctx_.stats.streamed(slice_, write.cycle, write.stream, write.group, ctx_.vector_bytes, write.origin);
    mark_busy(write.cycle);
    if (write.buffer != kNoBuffer) free_.push_back(write.buffer);
  }
}

Cycle FunctionalSlice::next_event() const { return pending_.empty() ? kNever : pending_.front().cycle; }

bool FunctionalSlice::read_streams(Cycle t, StreamRef stream, unsigned group, uint8_t* out, const Origin& origin) {
  bool ok = true;
  for (unsigned s = 0; s < group; ++s) {
    const StreamRef one{stream.id + s, stream.west};
    const uint8_t* data = nullptr;
    const auto result = ctx_.fabric.read(one, position_, t, ctx_.epoch_of(t), &data);
    if (result != StreamFabric::ReadResult::ok) {
      ok = false;
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
  }
  ctx_.stats.slice(slice_).stream_bytes_read += uint64_t(group) * ctx_.vector_bytes;
  mark_busy(t);
  return ok;
}

void FunctionalSlice::write_streams(Cycle t, StreamRef stream, unsigned group, const uint8_t* data,
                                    const Origin& origin) {
  PendingWrite write{t, sequence_++, stream, group, origin, kNoBuffer};
  if (data) {
    if (free_.empty()) {
      free_.push_back(static_cast<uint32_t>(buffers_.size()));
      buffers_.emplace_back();
    }
    write.buffer = free_.back();
    free_.pop_back();
    buffers_[write.buffer].assign(data, data + size_t(group) * ctx_.vector_bytes);
  }
  pending_.push_back(write);
  std::push_heap(pending_.begin(), pending_.end(), Later{});
}

std::string FunctionalSlice::stream_name(StreamRef stream, unsigned group) const {
  const char dir = stream.west ? 'W' : 'E';
  if (group <= 1) return fmt::format("{}{}", dir, stream.id);
  return fmt::format("{}{}..{}{}", dir, stream.id, dir, stream.id + group - 1);
}

} // namespace tsp
