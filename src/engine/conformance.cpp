#include "tspsim/engine/conformance.h"

#include "tspsim/config/floorplan.h"

#include <fmt/format.h>
#include <numeric>

namespace tsp {

const char* error_kind_name(ErrorKind kind) {
  static constexpr const char* names[] = {
      "stream-empty",  "stream-stale",   "stream-collision", "mem-port",        "mem-address",
      "mxm-weights", "mxm-accumulator",
      "queue-starved", "queue-overflow", "ifetch-invalid",   "sync-unreleased", "link-empty",
      "link-overrun",
  };
  return names[static_cast<size_t>(kind)];
}

std::string ConformanceError::describe() const {
  std::string where = queue.empty() ? slice : fmt::format("{} instruction {} ({})", queue, index, opcode);
  if (line != 0) where += fmt::format(" line {}", line);
  return fmt::format("cycle {}: {}: {}: {}", cycle, error_kind_name(kind), where, message);
}

ConformanceLog::ConformanceLog(const Floorplan& floorplan, bool strict, size_t keep)
    : floorplan_(floorplan), strict_(strict), keep_(keep) {}

void ConformanceLog::report(ErrorKind kind, Cycle cycle, const Origin& origin, std::string message) {
  const auto& queue = floorplan_.queues()[origin.queue];
  add({kind, cycle, floorplan_.slices()[queue.slice].name, queue.name, origin.index, origin.line,
       std::string(isa::spec(origin.opcode).mnemonic), std::move(message)});
}

void ConformanceLog::report_slice(ErrorKind kind, Cycle cycle, unsigned slice, std::string message) {
  add({kind, cycle, floorplan_.slices()[slice].name, "", 0, 0, "", std::move(message)});
}

void ConformanceLog::add(ConformanceError error) {
  if (stop_requested()) return;
  if (error.cycle != recent_cycle_) {
    recent_cycle_ = error.cycle;
    recent_.clear();
  }
  if (!recent_.insert(error.describe()).second) return;
  ++counts_[static_cast<size_t>(error.kind)];
  if (kept_.size() < keep_) kept_.push_back(std::move(error));
}

uint64_t ConformanceLog::total() const { return std::accumulate(counts_.begin(), counts_.end(), uint64_t{0}); }

} // namespace tsp
