#include "tspsim/engine/stream_fabric.h"

#include "tspsim/program/timing_rules.h"

#include <cstring>

namespace tsp {

StreamFabric::StreamFabric(unsigned streams_per_direction, unsigned positions, unsigned hop_cycles,
                           unsigned vector_bytes)
    : streams_(streams_per_direction), positions_(positions), hop_(hop_cycles), vector_bytes_(vector_bytes) {
  // A diagonal stays on the chip for positions * hop cycles; the ring must outlast it.
  ring_ = 1;
  while (ring_ < size_t(positions_) * hop_ + 2) ring_ <<= 1;
  slots_.resize(2 * size_t(streams_) * ring_);
  data_.resize(slots_.size() * vector_bytes_);
}

int64_t StreamFabric::diagonal(StreamRef stream, unsigned position, Cycle cycle) const {
  return stream_diagonal(stream.west, position, int64_t(cycle), hop_);
}

size_t StreamFabric::slot_index(StreamRef stream, int64_t diagonal) const {
  const size_t base = (size_t(stream.west) * streams_ + stream.id) * ring_;
  return base + (static_cast<uint64_t>(diagonal) & (ring_ - 1));
}

StreamFabric::WriteResult StreamFabric::write(StreamRef stream, unsigned position, Cycle cycle, const uint8_t* data,
                                              uint32_t writer, uint32_t epoch) {
  const int64_t diag = diagonal(stream, position, cycle);
  const size_t index = slot_index(stream, diag);
  Slot& slot = slots_[index];
  WriteResult result = WriteResult::ok;
  if (slot.diagonal == diag && slot.cycle == cycle) {
    result = WriteResult::collision;
    if (slot.writer < writer) return result;
  }
  slot = {diag, cycle, position, writer, epoch};
  if (vector_bytes_ != 0) {
    uint8_t* dst = &data_[index * vector_bytes_];
    if (data)
      std::memcpy(dst, data, vector_bytes_);
    else
      std::memset(dst, 0, vector_bytes_);
  }
  return result;
}

StreamFabric::ReadResult StreamFabric::read(StreamRef stream, unsigned position, Cycle cycle, uint32_t epoch,
                                            const uint8_t** data) const {
  *data = nullptr;
  const int64_t diag = diagonal(stream, position, cycle);
  const size_t index = slot_index(stream, diag);
  const Slot& slot = slots_[index];
  const bool reaches = stream.west ? position <= slot.position : position >= slot.position;
  if (slot.diagonal != diag || !reaches || slot.cycle > cycle) return ReadResult::empty;
  if (vector_bytes_ != 0) *data = &data_[index * vector_bytes_];
  return slot.epoch < epoch ? ReadResult::stale : ReadResult::ok;
}

} // namespace tsp
