// A lane-wise expression that needs more queues of a slice in one cycle than the slice has: the
// scheduler delays operations by a mov until it fits, and names the slice when none can.
#include "engine_harness.h"
#include "tspsim/common/error.h"
#include "tspsim/compiler/kernels.h"

#include <catch2/catch.hpp>

using tsp::isa::DType;

TEST_CASE("a lane reduction on one SXM queue per hemisphere is refused with the queue count") {
  // The reduction's two Permutes of one value dispatch in one cycle; delaying either would read
  // that value in two cycles, so no delay is a candidate (this aborted with a logic_error).
  const auto one_queue = tsp::test::bundled_config("14nm.json", {"icu.sxm_queues_per_hemisphere=1"});
  CHECK_THROWS_WITH(
      tsp::compiler::compile_softmax(one_queue, {1, 1, DType::f32}),
      "a lane-wise expression dispatches 2 operations on SXM_E in one cycle; it has 1 queues free");
  const auto two_queues = tsp::test::bundled_config("14nm.json", {"icu.sxm_queues_per_hemisphere=2"});
  CHECK(tsp::compiler::compile_softmax(two_queues, {1, 1, DType::f32}).predicted_cycles == 1955);
}
