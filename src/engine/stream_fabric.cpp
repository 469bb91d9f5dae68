#include "tspsim/engine/stream_fabric.h"

#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <cstring>

namespace tsp {

StreamFabric::StreamFabric(unsigned streams_per_direction, unsigned positions, unsigned hop_cycles,
                           unsigned vector_bytes)
    : streams_(streams_per_direction), positions_(positions), hop_(hop_cycles), vector_bytes_(vector_bytes),
      values_(vector_bytes) {
  // A diagonal stays on the chip for positions * hop cycles; the ring must outlast it.
  ring_ = 1;
  while (ring_ < size_t(positions_) * hop_ + 2) ring_ <<= 1;
  slots_.resize(2 * size_t(streams_) * ring_);
  runs_.resize(2 * size_t(streams_));
}

uint32_t StreamFabric::hold(const uint8_t* bytes) {
  const Held held = hold_to_fill();
  if (bytes)
    std::memcpy(held.bytes, bytes, vector_bytes_);
  else
    std::memset(held.bytes, 0, vector_bytes_);
  return held.id;
}

StreamFabric::Held StreamFabric::hold_to_fill() {
  const uint32_t id = values_.take();
  return {id, values_.bytes(id)};
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

const Origin* StreamFabric::run_value_at(StreamRef stream, unsigned position, Cycle cycle,
                                         int64_t diag) const {
  const Origin* other = nullptr;
  for (const HeldRun& held : runs_[stream_index(stream)])
    if (held.run.position == position && run_landing(held.run, diag) == cycle) other = &held.run.origin;
  return other;
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
