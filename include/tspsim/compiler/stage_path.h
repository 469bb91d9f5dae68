// Where a pipeline's stages sit in a system: consecutive stages on blocks of chips that share a
// cable, so a hand-off never needs another stage's chips to forward it (docs/llama.md, "Stage
// placement").
#pragma once

#include "tspsim/compiler/system_schedule.h"

#include <cstdint>
#include <vector>

namespace tsp::compiler {

// The chips of each of `stages` stages of `width` chips, in pipeline order: the system's
// `stages` x `width` chips are cut into blocks of `width` consecutive chips; stage 0 is block 0 and each next
// stage is a block cabled to the previous one (fewest onward choices first, then the lowest block, so that an
// order of cabled blocks, as in a node or a rack, is kept). When no such path exists within the search's
// budget, the stages take the blocks in order.
std::vector<std::vector<uint32_t>> pipeline_stage_chips(const Topology& topology, uint32_t stages,
                                                        uint32_t width);

} // namespace tsp::compiler
