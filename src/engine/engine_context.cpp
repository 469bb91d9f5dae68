#include "tspsim/engine/engine_context.h"

namespace tsp {

EngineContext::EngineContext(const ChipConfig& config_in, const EngineOptions& options_in)
    : config(config_in), options(options_in), floorplan(config_in.geometry, config_in.icu),
      timing(config_in.timing), vector_bytes(config_in.geometry.vector_bytes()),
      fabric(config_in.streams.per_direction, floorplan.positions(), config_in.streams.hop_cycles,
             options_in.timing_only ? 0 : config_in.geometry.vector_bytes()),
      log(floorplan, options_in.strict), stats(floorplan), links(config_in),
      sram(size_t{kSramChunkWords} * vector_bytes), clock(config_in.c2c.drift_ppm) {
  fabric.set_releases(&releases);
}

bool EngineContext::runs_allowed() const {
  return options.timing_only && options.intervals && !options.debug_clock && !options.strict &&
         !stats.recording();
}

} // namespace tsp
