// The stream register file of one chip. A value written at position x in cycle t on an eastward
// stream is at x + j in cycle t + j * hop (westward: x - j), so each stream and direction is stored
// by diagonal (t - x*hop eastward, t + x*hop westward) in a ring of slots tagged with the diagonal
// they hold. Reads and writes are O(1); idle streams cost nothing; nothing moves per cycle.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <vector>

namespace tsp {

class StreamFabric {
public:
  // `vector_bytes` = 0 keeps no data (timing-only runs).
  StreamFabric(unsigned streams_per_direction, unsigned positions, unsigned hop_cycles, unsigned vector_bytes);

  enum class WriteResult { ok, collision };
  enum class ReadResult { ok, empty, stale };

  // Puts `data` (vector_bytes bytes, or null) on one byte-stream at (position, cycle). On a
  // collision (a second write to the same stream, direction, position and cycle) the value of the
  // lower `writer` number is kept, so the outcome does not depend on evaluation order.
  WriteResult write(StreamRef stream, unsigned position, Cycle cycle, const uint8_t* data, uint32_t writer,
                    uint32_t epoch);

  // The value at (position, cycle). `data` is set to its bytes (valid until the slot is reused,
  // at least until the end of the cycle), or to null when none or in timing-only mode. A value
  // written before `epoch` began is stale.
  ReadResult read(StreamRef stream, unsigned position, Cycle cycle, uint32_t epoch, const uint8_t** data) const;

  unsigned vector_bytes() const { return vector_bytes_; }

private:
  struct Slot {
    int64_t diagonal = INT64_MIN;
    Cycle cycle = 0;        // when it was written
    uint32_t position = 0;  // where it was written
    uint32_t writer = 0;
    uint32_t epoch = 0;
  };

  int64_t diagonal(StreamRef stream, unsigned position, Cycle cycle) const;
  size_t slot_index(StreamRef stream, int64_t diagonal) const;

  unsigned streams_;
  unsigned positions_;
  unsigned hop_;
  unsigned vector_bytes_;
  size_t ring_;                 // slots per stream and direction, a power of two
  std::vector<Slot> slots_;     // [direction][stream][ring]
  std::vector<uint8_t> data_;   // vector_bytes per slot
};

} // namespace tsp
