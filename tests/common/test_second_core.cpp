// The second core's jobs (include/tspsim/common/second_core.h): an exception from either half
// reaches the caller, and only after the other half has ended (it may use the caller's stack).
#include "tspsim/common/second_core.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

TEST_CASE("an exception from either half of a two-core job comes back after both halves end") {
  if (std::thread::hardware_concurrency() < 2) return; // one core: the job never splits
  std::atomic<bool> other_done{false};
  const auto run = [&](unsigned thrower) {
    other_done = false;
    try {
      tsp::try_run_on_two_cores([&](unsigned part) {
        if (part == thrower) throw std::runtime_error("half " + std::to_string(part));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        other_done = true;
      });
    } catch (const std::runtime_error& e) {
      return std::string(e.what()) + (other_done ? ", the other ended" : ", the other still running");
    }
    return std::string("no exception");
  };
  CHECK(run(0) == "half 0, the other ended");
  CHECK(run(1) == "half 1, the other ended");
  // The second core still takes jobs afterwards.
  std::atomic<int> parts{0};
  CHECK(tsp::try_run_on_two_cores([&](unsigned) { ++parts; }));
  CHECK(parts == 2);
}
