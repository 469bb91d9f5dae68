// The trace of a system run (tspsim --system --trace): a process per chip (pid = chip id) with the
// slice tracks and utilisation counters of a one-chip trace, then a track per link with a span per
// vector it serialised and a `links` counter (busy fraction of the chip's cabled links). A chip
// that timing-only replication did not simulate has no slice tracks: its name and a `replication`
// track say which chip it is the same as. Each chip's timestamps are its own cycles.
// docs/workflow.md describes the file.
#pragma once

#include "tspsim/observe/link_recorder.h"
#include "tspsim/system/system.h"

#include <string>
#include <vector>

namespace tsp {

// `recorders[c]` is what chip c's own simulation recorded (empty for a chip that was replicated).
std::string system_trace(const System& system, const SystemResult& result,
                         const std::vector<const ActivityRecorder*>& recorders, const LinkRecorder& links);

// The name of chip `chip`'s process and report section: "chip 3 (config), replicated from chip 0".
std::string system_chip_name(const System& system, uint32_t chip);

} // namespace tsp
