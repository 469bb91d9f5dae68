// Schedule conformance: the hardware has no interlocks, so every hazard a static schedule can
// contain is detected here, counted, and described with its place in the program.
#pragma once

#include "tspsim/engine/engine_types.h"

#include <array>
#include <set>
#include <string>
#include <vector>

namespace tsp {

enum class ErrorKind : uint8_t {
  stream_empty,
  stream_stale,
  stream_collision,
  mem_port,
  mem_address,
  mxm_weights,
  mxm_accumulator,
  queue_starved,
  queue_overflow,
  ifetch_invalid,
  sync_unreleased,
  link_empty,
  link_overrun,
  count,
};

const char* error_kind_name(ErrorKind kind);

struct ConformanceError {
  ErrorKind kind;
  Cycle cycle;
  std::string slice;
  std::string queue;
  uint32_t index;
  uint32_t line;
  std::string opcode;
  std::string message;

  std::string describe() const;
};

class Floorplan;

class ConformanceLog {
public:
  ConformanceLog(const Floorplan& floorplan, bool strict, size_t keep = 1000);

  void report(ErrorKind kind, Cycle cycle, const Origin& origin, std::string message);
  // For errors that belong to a slice rather than one instruction.
  void report_slice(ErrorKind kind, Cycle cycle, unsigned slice, std::string message);

  uint64_t total() const;
  // Under --strict: the first error has been reported and the run must stop; later reports of
  // the same cycle are dropped.
  bool stop_requested() const { return strict_ && !kept_.empty(); }
  uint64_t count(ErrorKind kind) const { return counts_[static_cast<size_t>(kind)]; }
  const std::vector<ConformanceError>& kept() const { return kept_; }

private:
  void add(ConformanceError error);

  const Floorplan& floorplan_;
  bool strict_;
  size_t keep_;
  std::array<uint64_t, static_cast<size_t>(ErrorKind::count)> counts_{};
  std::vector<ConformanceError> kept_;
  // One instruction reading the same empty stream twice (add S, E0, E0) is one error: the errors
  // of the latest cycle, so a repeat is dropped.
  Cycle recent_cycle_ = kNever;
  std::set<std::string> recent_;
};

} // namespace tsp
