#include "tspsim/common/second_core.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

namespace tsp {
namespace {

class SecondCore {
public:
  static SecondCore& instance() {
    static SecondCore core;
    return core;
  }

  bool try_run(const std::function<void(unsigned)>& job) {
    std::unique_lock<std::mutex> claim(user_, std::try_to_lock);
    if (!claim.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &job;
      done_ = false;
    }
    wake_.notify_one();
    // Either half may throw (a checkpoint file that cannot be read): the other half still uses the
    // caller's stack, so its end is awaited before anything is rethrown.
    std::exception_ptr first;
    try {
      job(0);
    } catch (...) {
      first = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return done_; });
    job_ = nullptr;
    const std::exception_ptr second = std::exchange(error_, nullptr);
    if (first) std::rethrow_exception(first);
    if (second) std::rethrow_exception(second);
    return true;
  }

  ~SecondCore() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

private:
  SecondCore() : thread_([this] { work(); }) {}

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (job_ && !done_); });
      if (stop_) return;
      const auto* job = job_;
      lock.unlock();
      std::exception_ptr error;
      try {
        (*job)(1);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      error_ = error;
      done_ = true;
      finished_.notify_one();
    }
  }

  std::mutex user_; // held by the thread whose job the second core runs
  std::mutex mutex_;
  std::condition_variable wake_, finished_;
  const std::function<void(unsigned)>* job_ = nullptr;
  std::exception_ptr error_; // what the second half threw
  bool done_ = true;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace

bool try_run_on_two_cores(const std::function<void(unsigned part)>& job) {
  static const bool two_cores = std::thread::hardware_concurrency() >= 2;
  return two_cores && SecondCore::instance().try_run(job);
}

} // namespace tsp
