#include "tspsim/observe/activity_recorder.h"

#include "tspsim/common/error.h"

#include <fmt/format.h>

namespace tsp {

namespace {
bool parse_cycle(const std::string& text, Cycle& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19)
    return false;
  out = std::stoull(text);
  return true;
}
} // namespace

CycleWindow parse_cycle_window(const std::string& text, const char* flag) {
  const auto colon = text.find(':');
  CycleWindow window;
  if (colon == std::string::npos || !parse_cycle(text.substr(0, colon), window.first) ||
      !parse_cycle(text.substr(colon + 1), window.last) || window.last <= window.first)
    throw InputError(
        fmt::format("{} {}: expected FIRST:LAST cycles with FIRST < LAST, e.g. 0:1000", flag, text));
  return window;
}

void ActivityRecorder::dispatched(unsigned slice, const Dispatch& dispatch) {
  if (window_.contains(dispatch.cycle))
    dispatches_.push_back({dispatch.cycle, slice, dispatch.instruction, dispatch.origin});
}

void ActivityRecorder::busy(unsigned slice, Cycle cycle) {
  if (window_.contains(cycle)) busy_.push_back({cycle, slice});
}

void ActivityRecorder::streamed(unsigned slice, Cycle cycle, StreamRef stream, unsigned group,
                                const Origin& origin) {
  if (window_.contains(cycle)) streams_.push_back({cycle, slice, stream, group, origin});
}

} // namespace tsp
