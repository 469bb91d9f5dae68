// Token rates of --requests streams (tspsim/system/report.h, docs/llama.md "Requests sharing the
// chip"): a stream's steps come every max(latency, requests x the busiest chip's occupancy).
#include "tspsim/system/report.h"

#include <catch2/catch.hpp>

using tsp::request_rates;

TEST_CASE("one stage: the chip is occupied for the whole step, so P streams share one chip's rate") {
  const auto r = request_rates(0.5, 0.5, 4);
  CHECK(r.requests == 4);
  CHECK(r.step_interval_seconds == 2.0);
  CHECK(r.per_user_tokens_per_second == 0.5);
  CHECK(r.aggregate_tokens_per_second == 2.0);
}

TEST_CASE("pipeline stages: streams fill the stages until the busiest chip is occupied all the time") {
  // Four stages of a quarter of the latency each: up to four streams keep the latency interval.
  CHECK(request_rates(1.0, 0.25, 1).step_interval_seconds == 1.0);
  CHECK(request_rates(1.0, 0.25, 4).step_interval_seconds == 1.0);
  CHECK(request_rates(1.0, 0.25, 4).aggregate_tokens_per_second == 4.0);
  // A fifth stream waits for the busiest chip: 5 x 0.25 between its steps.
  const auto five = request_rates(1.0, 0.25, 5);
  CHECK(five.step_interval_seconds == 1.25);
  CHECK(five.per_user_tokens_per_second == 0.8);
  CHECK(five.aggregate_tokens_per_second == 4.0);
}

TEST_CASE("a run with no step time has no rates") {
  const auto r = request_rates(0, 0, 3);
  CHECK(r.requests == 3);
  CHECK(r.step_interval_seconds == 0);
  CHECK(r.per_user_tokens_per_second == 0);
  CHECK(r.aggregate_tokens_per_second == 0);
}
