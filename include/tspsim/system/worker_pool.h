// How a System runs the chips of one window. The window protocol (system.cpp) only asks "run
// these jobs and wait for all of them"; threads are one transport, processes would be another
// (docs/architecture.md, "Many chips").
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tsp {

class WorkerPool {
public:
  // `threads` >= 1 runs jobs on that many threads, the caller's included.
  explicit WorkerPool(unsigned threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Calls job(i) once for every i in [0, count), on any thread, and returns when all are done.
  // The first exception a job throws is rethrown here.
  void run(size_t count, const std::function<void(size_t)>& job);
  unsigned threads() const { return static_cast<unsigned>(workers_.size()) + 1; }

private:
  void work();
  void take_jobs();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t count_ = 0;
  size_t next_ = 0;          // next job index to hand out (under mutex_)
  size_t running_ = 0;       // jobs handed out and not yet finished
  unsigned generation_ = 0;  // bumped per run() so sleeping workers notice new work
  bool stopping_ = false;
  std::exception_ptr error_;
};

} // namespace tsp
