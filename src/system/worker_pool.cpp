#include "tspsim/system/worker_pool.h"

namespace tsp {

WorkerPool::WorkerPool(unsigned threads) {
  for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

// Hands out job indices one at a time, so a slow chip does not hold up a whole share of them.
void WorkerPool::take_jobs() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (next_ < count_) {
    const size_t i = next_++;
    ++running_;
    lock.unlock();
    try {
      (*job_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> guard(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    lock.lock();
    --running_;
  }
  if (running_ == 0) idle_.notify_all();
}

void WorkerPool::work() {
  unsigned seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    take_jobs();
  }
}

void WorkerPool::run(size_t count, const std::function<void(size_t)>& job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    count_ = count;
    next_ = 0;
    running_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  take_jobs();
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [&] { return next_ >= count_ && running_ == 0; });
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

} // namespace tsp
