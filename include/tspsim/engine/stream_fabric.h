// The stream register file of one chip. A value written at position x in cycle t on an eastward
// stream is at x + j in cycle t + j * hop (westward: x - j), so each stream and direction is stored
// by diagonal (t - x*hop eastward, t + x*hop westward) in a ring of slots tagged with the diagonal
// they hold. Reads and writes are O(1); idle streams cost nothing; nothing moves per cycle.
#pragma once

#include "tspsim/engine/engine_types.h"
#include "tspsim/engine/vector_pool.h"

#include <vector>

namespace tsp {

class StreamFabric {
public:
  // `vector_bytes` = 0 keeps no data (timing-only runs).
  StreamFabric(unsigned streams_per_direction, unsigned positions, unsigned hop_cycles,
               unsigned vector_bytes);

  enum class ReadResult { ok, empty, stale };

  // A collision: a second write to the same stream, direction, position and cycle. The value of
  // the lower origin (queue, then instruction index) is kept and the higher one is blamed, so the
  // outcome does not depend on the order the writes land in.
  struct WriteResult {
    bool collision = false;
    Origin blamed;
  };
  // A value to be written later: a pooled copy of the vector_bytes bytes at `bytes` (zeros when
  // null). write_group takes it over; the caller keeps only its id.
  uint32_t hold(const uint8_t* bytes);
  // A pooled vector for a value to be written later, whose vector_bytes bytes the caller writes
  // in place before write_group takes it over.
  struct Held {
    uint32_t id;
    uint8_t* bytes;
  };
  Held hold_to_fill();

  // Puts `group` consecutive byte-streams from `first` at (position, cycle): stream s gets the
  // held value values[s] (values null: no bytes, timing-only). collided(s, blamed) is called for
  // each stream s whose write is a collision, before the next stream is written.
  template <typename Collided>
  void write_group(StreamRef first, unsigned group, unsigned position, Cycle cycle, const uint32_t* values,
                   const Origin& origin, uint32_t epoch, Collided collided) {
    const int64_t diag = diagonal(first, position, cycle);
    // The group's slots are adjacent. A slot not written in this cycle, on a stream with no
    // runs, is simply replaced: the other cases go through write_one.
    Slot* slot = &slots_[slot_index(first, diag)];
    if (run_count_ == 0) { // no runs: the slots alone
      for (unsigned s = 0; s < group; ++s, ++slot) {
        const uint32_t value = values ? values[s] : VectorPool::kNone;
        if (slot->diagonal == diag && slot->cycle == cycle)
          write_collided(first, s, position, cycle, diag, value, origin, epoch, collided);
        else
          replace(*slot, diag, cycle, position, epoch, origin, value);
      }
      return;
    }
    for (unsigned s = 0; s < group; ++s, ++slot) {
      const uint32_t value = values ? values[s] : VectorPool::kNone;
      const StreamRef stream{first.id + s, first.west};
      if ((slot->diagonal == diag && slot->cycle == cycle) || !runs_[stream_index(stream)].empty())
        write_collided(first, s, position, cycle, diag, value, origin, epoch, collided);
      else
        replace(*slot, diag, cycle, position, epoch, origin, value);
    }
  }

  // The values of `group` consecutive byte-streams from `first` at (position, cycle): visit(s,
  // result, bytes) for each stream s in order. `bytes` is the value's vector_bytes bytes (valid
  // until the next hold or write_group), or null when there is none or in timing-only mode. A value written
  // before `epoch` began is stale.
  template <typename Visit>
  void read_group(StreamRef first, unsigned group, unsigned position, Cycle cycle, uint32_t epoch,
                  Visit visit) const {
    const int64_t diag = diagonal(first, position, cycle);
    for (unsigned s = 0; s < group; ++s) {
      const uint8_t* bytes = nullptr;
      const ReadResult result = read_one({first.id + s, first.west}, position, cycle, epoch, diag, &bytes);
      visit(s, result, bytes);
    }
  }

  // Whether read_group would find every stream's value ok (so it would report nothing): read_one's
  // test in one pass over the group's slots, for reads that take no bytes.
  bool group_ok(StreamRef first, unsigned group, unsigned position, Cycle cycle, uint32_t epoch) const {
    const int64_t diag = diagonal(first, position, cycle);
    const Slot* slot = &slots_[slot_index(first, diag)];
    if (run_count_ == 0) { // the slots alone, in the tightest loop
      for (unsigned s = 0; s < group; ++s, ++slot) {
        const bool reaches = first.west ? position <= slot->position : position >= slot->position;
        if (slot->diagonal != diag || !reaches || slot->cycle > cycle || slot->epoch < epoch) return false;
      }
      return true;
    }
    for (unsigned s = 0; s < group; ++s, ++slot) {
      const StreamRef stream{first.id + s, first.west};
      const bool reaches = first.west ? position <= slot->position : position >= slot->position;
      const bool in_slot = slot->diagonal == diag && reaches && slot->cycle <= cycle;
      if (!runs_[stream_index(stream)].empty()) {
        if (read_with_runs(stream, position, cycle, epoch, diag, in_slot ? slot : nullptr) != ReadResult::ok)
          return false;
      } else if (!in_slot || slot->epoch < epoch) {
        return false;
      }
    }
    return true;
  }

  unsigned vector_bytes() const { return vector_bytes_; }

  // The stream writes of a Repeat run taken whole (timing-only, no data): value k lands at
  // `position` in cycle first + k * interval. Reads resolve against runs and slots alike: the
  // latest value on the diagonal that has reached the position wins.
  struct WriteRun {
    StreamRef stream;
    unsigned position = 0;
    Cycle first = 0;
    uint32_t interval = 1;
    uint32_t count = 0;
    Origin origin; // the Repeat's instruction, blamed or kept in a collision
  };
  // `now` is the current cycle: runs no read can reach any more are dropped.
  void add_run(const WriteRun& run, Cycle now);
  // The run of `position` on `stream` whose first value lands at `first` keeps only its first
  // `count` values (a split run: the rest are written one by one).
  void shorten_run(StreamRef stream, unsigned position, Cycle first, uint32_t count);
  // The barrier release cycles (ascending), for the epoch of a run's values; the list must
  // outlive the fabric.
  void set_releases(const std::vector<Cycle>* releases) { releases_ = releases; }
  // Whether every read at `position` in cycles first + k * interval (k < count) is sure to be ok:
  // one write run upstream covers all of their diagonals and no barrier release falls between
  // its first value's landing and the last read. Writes added later cannot change that (a later
  // value on a diagonal only replaces an earlier one, with an epoch no lower); releases added
  // later can, and are the caller's to watch.
  bool run_reads_ok(StreamRef stream, unsigned position, Cycle first, uint32_t interval,
                    uint32_t count) const;

private:
  struct Slot {
    int64_t diagonal = INT64_MIN;
    Cycle cycle = 0;       // when it was written
    uint32_t position = 0; // where it was written
    uint32_t epoch = 0;
    Origin origin;                      // the kept writer of a collision
    uint32_t value = VectorPool::kNone; // its bytes in values_ (none in timing-only runs)
  };
  // A run with the diagonals its values occupy, so that a read skips the runs not on its own.
  struct HeldRun {
    WriteRun run;
    int64_t first_diagonal;
    int64_t last_diagonal;
  };

  int64_t diagonal(StreamRef stream, unsigned position, Cycle cycle) const {
    return stream_diagonal(stream.west, position, int64_t(cycle), hop_);
  }
  size_t slot_index(StreamRef stream, int64_t diagonal) const {
    const size_t ring_slot = static_cast<uint64_t>(diagonal) & (ring_ - 1);
    return (size_t(stream.west) * ring_ + ring_slot) * streams_ + stream.id;
  }
  size_t stream_index(StreamRef stream) const { return size_t(stream.west) * streams_ + stream.id; }
  // The landing cycle of the run's value on `diagonal`, if it has one: kNever otherwise.
  Cycle run_landing(const WriteRun& run, int64_t diagonal) const;
  // One stream of write_group, `diag` being the diagonal of (position, cycle). The slot keeps one
  // value; the other one goes back to the pool.
  WriteResult write_one(StreamRef stream, unsigned position, Cycle cycle, int64_t diag, uint32_t value,
                        const Origin& origin, uint32_t epoch) {
    const size_t index = slot_index(stream, diag);
    Slot& slot = slots_[index];
    WriteResult result;
    const Origin* other = nullptr;
    if (slot.diagonal == diag && slot.cycle == cycle)
      other = &slot.origin;
    else if (run_count_ != 0)
      other = run_value_at(stream, position, cycle, diag);
    if (other) {
      result.collision = true;
      const bool keep_other = kept_before(*other, origin);
      result.blamed = keep_other ? origin : *other;
      if (keep_other) {
        slot = {diag, cycle, position, epoch, *other, slot.value};
        release(value);
        return result;
      }
    }
    release(slot.value);
    slot = {diag, cycle, position, epoch, origin, value};
    return result;
  }
  // One stream of read_group.
  ReadResult read_one(StreamRef stream, unsigned position, Cycle cycle, uint32_t epoch, int64_t diag,
                      const uint8_t** data) const {
    const size_t index = slot_index(stream, diag);
    const Slot& slot = slots_[index];
    const bool reaches = stream.west ? position <= slot.position : position >= slot.position;
    const bool in_slot = slot.diagonal == diag && reaches && slot.cycle <= cycle;
    if (run_count_ != 0 && !runs_[stream_index(stream)].empty())
      return read_with_runs(stream, position, cycle, epoch, diag, in_slot ? &slot : nullptr);
    if (!in_slot) return ReadResult::empty;
    if (slot.value != VectorPool::kNone) *data = values_.bytes(slot.value);
    return slot.epoch < epoch ? ReadResult::stale : ReadResult::ok;
  }
  // Stream s of a group write from `first` through write_one, calling collided(s, blamed) if
  // it collides.
  template <typename Collided>
  void write_collided(StreamRef first, unsigned s, unsigned position, Cycle cycle, int64_t diag,
                      uint32_t value, const Origin& origin, uint32_t epoch, Collided& collided) {
    const WriteResult result =
        write_one({first.id + s, first.west}, position, cycle, diag, value, origin, epoch);
    if (result.collision) collided(s, result.blamed);
  }
  // A slot not written in this cycle, on a stream with no runs, takes the new value. Field by
  // field: an aggregate assignment is built on the stack and copied.
  void replace(Slot& slot, int64_t diag, Cycle cycle, unsigned position, uint32_t epoch, const Origin& origin,
               uint32_t value) {
    release(slot.value);
    slot.diagonal = diag;
    slot.cycle = cycle;
    slot.position = position;
    slot.epoch = epoch;
    slot.origin = origin;
    slot.value = value;
  }
  void release(uint32_t value) {
    if (value != VectorPool::kNone) values_.give_back(value);
  }
  // Origins in the order a collision keeps them: the lower queue, then the earlier instruction.
  static bool kept_before(const Origin& a, const Origin& b) {
    return a.queue != b.queue ? a.queue < b.queue : a.index < b.index;
  }
  // The origin of a run's value landing at (position, cycle) on `diag`, null if none (a slot
  // write of this cycle has already met it).
  const Origin* run_value_at(StreamRef stream, unsigned position, Cycle cycle, int64_t diag) const;
  // read_one on a stream with runs: the latest of the slot's value (if it qualifies) and the runs'.
  ReadResult read_with_runs(StreamRef stream, unsigned position, Cycle cycle, uint32_t epoch, int64_t diag,
                            const Slot* slot) const;

  unsigned streams_;
  unsigned positions_;
  unsigned hop_;
  unsigned vector_bytes_;
  size_t ring_;                            // slots per stream and direction, a power of two
  std::vector<Slot> slots_;                // [direction][ring][stream]: a group's slots adjacent
  VectorPool values_;                      // the slots' and the pending writes' bytes
  std::vector<std::vector<HeldRun>> runs_; // [direction][stream]: runs taken whole
  size_t run_count_ = 0;                   // runs held: none keeps reads and writes on the slot path
  const std::vector<Cycle>* releases_ = nullptr;
};

} // namespace tsp
