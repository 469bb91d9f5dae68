// How a System runs the chips of one window. The window protocol (system.cpp) only asks "run
// these jobs and wait for all of them"; threads are one transport, processes would be another
// (docs/architecture.md, "Many chips").
//
// A window is short (tens of microseconds of work per thread), so the pool keeps each job on the
// same thread from window to window (its chip's state stays in that core's caches), balances the
// threads by the jobs' measured cost, and waits by spinning briefly before it sleeps. A thread
// that has run its own jobs takes those another thread has not started, so a thread the host has
// not scheduled holds nothing up.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tsp {

// The thread of each job: the costliest job first, each to the least loaded thread so far (ties
// to the lower thread). Deterministic, so a partition changes only when the costs do.
std::vector<unsigned> balance_jobs(const std::vector<double>& cost, unsigned threads);

class WorkerPool {
public:
  // `threads` >= 1 runs jobs on that many threads, the caller's included.
  explicit WorkerPool(unsigned threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Calls job(i) once for every i in [0, count) and returns when all are done. Job i runs on the
  // thread the partition gives it (the same one from run to run while the costs hold) unless that
  // thread is late. If jobs throw, the exception of the lowest-numbered one is rethrown here (the
  // same whatever the threads).
  void run(size_t count, const std::function<void(size_t)>& job);
  unsigned threads() const { return static_cast<unsigned>(shares_.size()); }
  // The thread the partition gives job i (0 is the caller's).
  unsigned owner(size_t i) const { return owner_[i]; }

private:
  // One thread's jobs, on cache lines of its own.
  struct alignas(64) Share {
    std::vector<size_t> jobs;
    std::atomic<size_t> next{0}; // the next of `jobs` to claim, by its owner or another thread
  };

  void work(unsigned thread);
  void run_jobs(unsigned thread);
  void run_job(size_t i);
  void repartition();

  std::vector<std::unique_ptr<Share>> shares_;
  std::vector<std::thread> workers_;
  std::vector<unsigned> owner_; // job -> thread
  std::vector<double> cost_;    // job -> smoothed seconds per run
  std::vector<double> seconds_; // job -> this run's seconds
  size_t count_ = 0;
  uint64_t runs_ = 0; // runs since the partition was last looked at
  const std::function<void(size_t)>* job_ = nullptr;

  alignas(64) std::atomic<uint32_t> generation_{0}; // bumped per run() so workers notice new work
  alignas(64) std::atomic<size_t> unfinished_{0};   // jobs of this run not yet done
  alignas(64) std::atomic<bool> open_{false};       // a run's jobs may be claimed
  std::atomic<unsigned> inside_{0};                 // workers that may be claiming
  alignas(64) std::mutex mutex_;                    // guards stopping_ and error_
  std::condition_variable wake_;
  std::condition_variable idle_;
  bool stopping_ = false;
  std::exception_ptr error_;
  size_t error_job_ = 0;
};

} // namespace tsp
