// The pool that runs a System's chips: every job once per run, errors passed on, and the
// partition of jobs over threads by their measured cost.
#include "tspsim/system/worker_pool.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

TEST_CASE("worker pool: jobs go costliest first to the least loaded thread") {
  CHECK(tsp::balance_jobs({1, 5, 2, 2, 4}, 2) == std::vector<unsigned>{1, 0, 1, 0, 1});
  CHECK(tsp::balance_jobs({1, 1, 1, 1}, 2) == std::vector<unsigned>{0, 1, 0, 1});
  CHECK(tsp::balance_jobs({3, 3, 3}, 1) == std::vector<unsigned>{0, 0, 0});
  CHECK(tsp::balance_jobs({9, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 2) ==
        std::vector<unsigned>{0, 1, 1, 1, 1, 1, 1, 1, 1, 1});
}

TEST_CASE("worker pool: every job runs once per run, whatever the count and thread count") {
  for (unsigned threads : {1u, 2u, 3u}) {
    tsp::WorkerPool pool(threads);
    CHECK(pool.threads() == threads);
    for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{64}, size_t{3}}) {
      for (int run = 0; run < 40; ++run) {
        std::vector<std::atomic<int>> calls(count);
        pool.run(count, [&](size_t i) { calls[i].fetch_add(1); });
        for (size_t i = 0; i < count; ++i) REQUIRE(calls[i].load() == 1);
      }
    }
  }
}

TEST_CASE(
    "worker pool: the lowest failing job's exception is rethrown after every job ran, and the pool goes on") {
  tsp::WorkerPool pool(2);
  std::atomic<int> ran{0};
  // Job 5 runs on the second thread, job 1 on the first; job 5 may well fail first.
  CHECK_THROWS_WITH(pool.run(8,
                             [&](size_t i) {
                               ++ran;
                               if (i == 5) throw std::runtime_error("job 5 failed");
                               if (i == 1) {
                                 std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                 throw std::runtime_error("job 1 failed");
                               }
                             }),
                    "job 1 failed");
  CHECK(ran == 8);
  ran = 0;
  pool.run(8, [&](size_t) { ++ran; });
  CHECK(ran == 8);
}

TEST_CASE("worker pool: two costly jobs that start on one thread are moved apart") {
  tsp::WorkerPool pool(2);
  // Jobs 0 and 1 share thread 0 at first (contiguous halves); they take 5 ms, the others nothing.
  const auto job = [](size_t i) {
    if (i < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  pool.run(4, job);
  CHECK(pool.owner(0) == pool.owner(1));
  for (int run = 0; run < 20; ++run) pool.run(4, job);
  CHECK(pool.owner(0) != pool.owner(1));
}

TEST_CASE("worker pool: runs whose job count changes every time, back to back") {
  // Each change of count rebuilds the shares while a worker may still be leaving the last run.
  tsp::WorkerPool pool(2);
  for (int run = 0; run < 5000; ++run) {
    const size_t count = 1 + run % 9;
    std::vector<std::atomic<int>> calls(count);
    pool.run(count, [&](size_t i) { calls[i].fetch_add(1); });
    for (size_t i = 0; i < count; ++i) REQUIRE(calls[i].load() == 1);
  }
}
