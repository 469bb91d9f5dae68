// The compact per-cycle activity log of a run that the golden regression suite pins
// (tests/golden/, docs/workflow.md): one line per slice dispatch and per stream write,
//   <cycle> <slice> <event> <mnemonic> line <source line>
// with event "run" (dispatch) or "put <stream>[x<group>]", sorted by cycle, then slice position,
// then text, so that the first line that differs is the earliest divergence. A system's log
// names the chip before the slice ("<cycle> chip 1 SXM_E run ...") and adds a line per vector a
// link serialised: "<start> chip 0 link 0 send to chip 1 link 0 arrival 242 until 26 line 30".
#pragma once

#include "tspsim/engine/engine_context.h"
#include "tspsim/observe/activity_recorder.h"
#include "tspsim/observe/link_recorder.h"
#include "tspsim/system/system.h"

#include <optional>
#include <string>

namespace tsp {

std::string activity_log(const ActivityRecorder& recorder, const Floorplan& floorplan);
// Every chip's lines (a replicated chip's are its representative's); `recorders[c]` is what chip
// c's own simulation recorded.
std::string system_activity_log(const System& system, const std::vector<const ActivityRecorder*>& recorders,
                                const LinkRecorder& links);

// The first difference between two logs, e.g. "first divergence at cycle 14 on VXM: expected
// '14 VXM put E1 add line 9', got '15 VXM put E1 add line 9'" (in a system's: "on chip 1 SXM_E");
// nullopt when they are equal.
std::optional<std::string> first_divergence(const std::string& expected, const std::string& actual);

} // namespace tsp
