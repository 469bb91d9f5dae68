// The compact per-cycle activity log of a run that the golden regression suite pins
// (tests/golden/, docs/workflow.md): one line per slice dispatch and per stream write,
//   <cycle> <slice> <event> <mnemonic> line <source line>
// with event "run" (dispatch) or "put <stream>[x<group>]", sorted by cycle, then slice position,
// then text, so that the first line that differs is the earliest divergence.
#pragma once

#include "tspsim/engine/engine_context.h"
#include "tspsim/observe/activity_recorder.h"

#include <optional>
#include <string>

namespace tsp {

std::string activity_log(const ActivityRecorder& recorder, const Floorplan& floorplan);

// The first difference between two logs, e.g. "first divergence at cycle 14 on VXM: expected
// '14 VXM put E1 add line 9', got '15 VXM put E1 add line 9'"; nullopt when they are equal.
std::optional<std::string> first_divergence(const std::string& expected, const std::string& actual);

} // namespace tsp
