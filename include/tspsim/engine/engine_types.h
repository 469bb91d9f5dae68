// Small types shared by every part of the engine.
#pragma once

#include "tspsim/program/program.h"
#include "tspsim/program/timing_rules.h"

#include <cstdint>
#include <limits>

namespace tsp {

using Cycle = uint64_t;
inline constexpr Cycle kNever = std::numeric_limits<Cycle>::max();

// A stream operand as encoded in the ISA: bit 6 = westward, bits 5..0 = id (group base).
struct StreamRef {
  unsigned id = 0;
  bool west = false;

  static StreamRef from_field(int64_t field) { return {stream_field_id(field), stream_field_west(field)}; }
};

// Where an instruction came from, carried by everything it schedules so that conformance errors
// can name it.
struct Origin {
  uint32_t queue = 0;
  uint32_t index = 0; // position in the queue's instruction stream (initial text, then fetched text)
  uint32_t line = 0;  // assembly source line, 0 when unknown
  isa::Opcode opcode = isa::Opcode::nop;
};

// An instruction handed by a queue to its slice.
struct Dispatch {
  Instruction instruction;
  Origin origin;
  unsigned local_queue = 0; // queue number within the slice
  unsigned active_lanes = 0; // Config vl x lanes per superlane
  Cycle cycle = 0;
};

} // namespace tsp
