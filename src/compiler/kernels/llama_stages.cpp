// The capacity planner's partition of a decode step over a given system (include/tspsim/compiler/llama.h).
#include "tspsim/common/error.h"
#include "tspsim/compiler/llama.h"
#include "tspsim/model/plan.h"

#include <fmt/format.h>

namespace tsp::compiler {

uint32_t planned_llama_stages(const SystemConfig& system, const model::ModelConfig& model,
                              const std::string& system_name) {
  const auto plan = model::plan_model(model, system.config_of(0), {model.max_context, system.chips()});
  if (!plan.fits)
    throw InputError(fmt::format("llama: {} does not fit {}'s {} chips at its context of {} (tspc plan "
                                 "--chips {} says why)",
                                 model.name, system_name, system.chips(), model.max_context, system.chips()));
  return plan.partition.pipeline_stages;
}

} // namespace tsp::compiler
