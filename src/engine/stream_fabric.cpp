#include "tspsim/engine/stream_fabric.h"

#include "tspsim/program/timing_rules.h"

#include <algorithm>
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
  runs_.resize(2 * size_t(streams_));
}

void StreamFabric::add_run(const WriteRun& run, Cycle now) {
  auto& runs = runs_[stream_index(run.stream)];
  // A value stays on the chip for positions * hop cycles after it lands.
  const Cycle lifetime = Cycle(positions_) * hop_;
  const auto kept = std::remove_if(runs.begin(), runs.end(), [&](const HeldRun& held) {
    const WriteRun& r = held.run;
    return r.first + Cycle(r.count - 1) * r.interval + lifetime < now;
  });
  run_count_ -= size_t(runs.end() - kept);
  runs.erase(kept, runs.end());
  const int64_t first_diagonal = diagonal(run.stream, run.position, run.first);
  runs.push_back({run, first_diagonal, first_diagonal + int64_t(run.count - 1) * run.interval});
  ++run_count_;
}

void StreamFabric::shorten_run(StreamRef stream, unsigned position, Cycle first, uint32_t count) {
  for (HeldRun& held : runs_[stream_index(stream)])
    if (held.run.position == position && held.run.first == first && count < held.run.count) {
      held.run.count = count;
      held.last_diagonal = held.first_diagonal + int64_t(count - 1) * held.run.interval;
    }
}

Cycle StreamFabric::run_landing(const WriteRun& run, int64_t diagonal) const {
  const int64_t offset = int64_t(run.position) * hop_;
  const int64_t at = run.stream.west ? diagonal - offset : diagonal + offset;
  if (at < int64_t(run.first)) return kNever;
  const Cycle since = Cycle(at) - run.first;
  if (run.interval == 1) return since < run.count ? Cycle(at) : kNever;
  if (since % run.interval != 0 || since / run.interval >= run.count) return kNever;
  return Cycle(at);
}

bool StreamFabric::run_reads_ok(StreamRef stream, unsigned position, Cycle first, uint32_t interval,
                                uint32_t count) const {
  if (count == 0 || interval == 0) return false;
  const int64_t first_diag = diagonal(stream, position, first);
  const int64_t last_diag = first_diag + int64_t(count - 1) * interval;
  const Cycle last_read = first + Cycle(count - 1) * interval;
  for (const HeldRun& held : runs_[stream_index(stream)]) {
    const WriteRun& run = held.run;
    if (stream.west ? position > run.position : position < run.position) continue;
    const int64_t run_diag = held.first_diagonal;
    const int64_t run_last = held.last_diagonal;
    if (first_diag < run_diag || last_diag > run_last || (first_diag - run_diag) % run.interval != 0 ||
        interval % run.interval != 0)
      continue;
    // The values land in diagonal order, the first of them at:
    const Cycle landing = run_landing(run, first_diag);
    const auto release = std::upper_bound(releases_->begin(), releases_->end(), landing);
    if (release == releases_->end() || *release > last_read) return true;
  }
  return false;
}

int64_t StreamFabric::diagonal(StreamRef stream, unsigned position, Cycle cycle) const {
  return stream_diagonal(stream.west, position, int64_t(cycle), hop_);
}

size_t StreamFabric::slot_index(StreamRef stream, int64_t diagonal) const {
  const size_t base = (size_t(stream.west) * streams_ + stream.id) * ring_;
  return base + (static_cast<uint64_t>(diagonal) & (ring_ - 1));
}

// Origins in the order a collision keeps them: the lower queue, then the earlier instruction.
static bool kept_before(const Origin& a, const Origin& b) {
  return a.queue != b.queue ? a.queue < b.queue : a.index < b.index;
}

StreamFabric::WriteResult StreamFabric::write(StreamRef stream, unsigned position, Cycle cycle,
                                              const uint8_t* data, const Origin& origin, uint32_t epoch) {
  const int64_t diag = diagonal(stream, position, cycle);
  const size_t index = slot_index(stream, diag);
  Slot& slot = slots_[index];
  WriteResult result;
  const Origin* other = nullptr;
  if (slot.diagonal == diag && slot.cycle == cycle) {
    other = &slot.origin;
  } else if (run_count_ != 0) {
    // A run's value landing here in this cycle (a slot write of this cycle has already met it).
    for (const HeldRun& held : runs_[stream_index(stream)])
      if (held.run.position == position && run_landing(held.run, diag) == cycle) other = &held.run.origin;
  }
  if (other) {
    result.collision = true;
    const bool keep_other = kept_before(*other, origin);
    result.blamed = keep_other ? origin : *other;
    if (keep_other) {
      slot = {diag, cycle, position, epoch, *other};
      return result;
    }
  }
  slot = {diag, cycle, position, epoch, origin};
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
  const bool in_slot = slot.diagonal == diag && reaches && slot.cycle <= cycle;
  if (run_count_ != 0 && !runs_[stream_index(stream)].empty())
    return read_with_runs(stream, position, cycle, epoch, diag, in_slot ? &slot : nullptr);
  if (!in_slot) return ReadResult::empty;
  if (vector_bytes_ != 0) *data = &data_[index * vector_bytes_];
  return slot.epoch < epoch ? ReadResult::stale : ReadResult::ok;
}

// Runs hold no data (timing-only), so only the result is computed.
StreamFabric::ReadResult StreamFabric::read_with_runs(StreamRef stream, unsigned position, Cycle cycle,
                                                      uint32_t epoch, int64_t diag, const Slot* slot) const {
  Cycle landed = slot ? slot->cycle : kNever;
  uint32_t value_epoch = slot ? slot->epoch : 0;
  for (const HeldRun& held : runs_[stream_index(stream)]) {
    if (diag < held.first_diagonal || diag > held.last_diagonal) continue;
    const WriteRun& run = held.run;
    if (stream.west ? position > run.position : position < run.position) continue;
    const Cycle at = run_landing(run, diag);
    if (at > cycle || (landed != kNever && at <= landed)) continue;
    landed = at;
    value_epoch = static_cast<uint32_t>(std::upper_bound(releases_->begin(), releases_->end(), at) -
                                        releases_->begin());
  }
  if (landed == kNever) return ReadResult::empty;
  return value_epoch < epoch ? ReadResult::stale : ReadResult::ok;
}

} // namespace tsp
