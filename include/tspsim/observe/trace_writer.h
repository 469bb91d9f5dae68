// Chrome/Perfetto trace-event JSON (the "JSON Array/Object Format" read by ui.perfetto.dev and
// chrome://tracing). Each chip is a process (pid = chip id) with a track (tid) per slice; each
// executed slice instruction is a one-cycle span named by its mnemonic; utilisation per unit is a
// set of counter tracks. Timestamps are cycles: one microsecond on the viewer's axis is one cycle.
// docs/workflow.md describes the file.
#pragma once

#include "tspsim/engine/engine_context.h"
#include "tspsim/observe/activity_recorder.h"

#include <nlohmann/json.hpp>
#include <string>

namespace tsp {

// One chip's share of a trace; a system run adds one per chip with its own id.
struct ChipTrace {
  unsigned chip_id = 0;
  std::string chip_name;
  const EngineContext& ctx;
  const ActivityRecorder& recorder;
  Cycle end = 0;           // the run's last active cycle + 1: counters stop here
  bool slice_spans = true; // false: the process, its counters and no slice tracks (a replicated chip)
};

// Appends the chip's track names, spans and counters to `events`.
void append_chip_trace(nlohmann::json& events, const ChipTrace& chip);

// Appends the names of a chip's extra tracks: tid `tid`, named `name`, sorted after the slices.
void append_track(nlohmann::json& events, unsigned pid, unsigned tid, const std::string& name);
// The whole file: {"traceEvents": events, "displayTimeUnit": ..., "otherData": ...}.
std::string trace_file(nlohmann::json events);

// Cycles per utilisation counter sample: about 200 samples over the recorded window.
Cycle counter_window(Cycle first, Cycle end);

} // namespace tsp
