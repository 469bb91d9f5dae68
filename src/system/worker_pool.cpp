#include "tspsim/system/worker_pool.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tsp {

namespace {
using Clock = std::chrono::steady_clock;

// How long a thread spins for the next run (or for the others to finish) before it sleeps: longer
// than the imbalance of a window's shares and the serial work between windows, shorter than a
// window. Sleeping and waking cost tens of microseconds on a virtual machine.
constexpr auto kSpin = std::chrono::microseconds(20);
// Runs between looks at the measured costs.
constexpr uint64_t kRebalanceRuns = 16;
// A new partition must shorten the longest share by this fraction, so that near-equal costs do
// not move jobs (and their caches) back and forth.
constexpr double kRebalanceGain = 0.10;

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spins until ready() or kSpin has passed; true if ready.
template <typename Ready> bool spin_until(Ready ready) {
  const auto deadline = Clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      pause();
    }
    if (Clock::now() >= deadline) return ready();
    std::this_thread::yield(); // the thread we wait for may be waiting for this core
  }
}

double makespan(const std::vector<double>& cost, const std::vector<unsigned>& owner, unsigned threads) {
  std::vector<double> load(threads, 0.0);
  for (size_t i = 0; i < cost.size(); ++i) load[owner[i]] += cost[i];
  return *std::max_element(load.begin(), load.end());
}
} // namespace

std::vector<unsigned> balance_jobs(const std::vector<double>& cost, unsigned threads) {
  std::vector<size_t> order(cost.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  std::vector<double> load(threads, 0.0);
  std::vector<unsigned> owner(cost.size(), 0);
  for (size_t i : order) {
    const auto least = std::min_element(load.begin(), load.end());
    owner[i] = static_cast<unsigned>(least - load.begin());
    *least += cost[i];
  }
  return owner;
}

WorkerPool::WorkerPool(unsigned threads) {
  for (unsigned t = 0; t < threads; ++t) shares_.push_back(std::make_unique<Share>());
  for (unsigned t = 1; t < threads; ++t) workers_.emplace_back([this, t] { work(t); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

// Splits the jobs over the threads as owner_ says, in ascending order within each thread.
void WorkerPool::repartition() {
  for (auto& share : shares_) share->jobs.clear();
  for (size_t i = 0; i < count_; ++i) shares_[owner_[i]]->jobs.push_back(i);
}

void WorkerPool::run_job(size_t i) {
  const bool timed = threads() > 1;
  const auto start = timed ? Clock::now() : Clock::time_point{};
  try {
    (*job_)(i);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_ || i < error_job_) {
      error_ = std::current_exception();
      error_job_ = i;
    }
  }
  if (timed) seconds_[i] = std::chrono::duration<double>(Clock::now() - start).count();
  if (unfinished_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.notify_one();
  }
}

// The thread's own jobs, then any that the other threads have not started.
void WorkerPool::run_jobs(unsigned thread) {
  const unsigned n = threads();
  for (unsigned k = 0; k < n; ++k) {
    Share& share = *shares_[(thread + k) % n];
    for (size_t j; (j = share.next.fetch_add(1, std::memory_order_acq_rel)) < share.jobs.size();)
      run_job(share.jobs[j]);
  }
}

void WorkerPool::work(unsigned thread) {
  uint32_t seen = 0;
  for (;;) {
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_.load(std::memory_order_acquire) != seen; });
      if (stopping_) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    // Announce, then look: run() closes a run, then waits for the workers inside to leave, so a
    // worker woken too late never reads the shares while run() rebuilds them for the next run.
    inside_.fetch_add(1, std::memory_order_seq_cst);
    if (open_.load(std::memory_order_seq_cst)) run_jobs(thread);
    inside_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void WorkerPool::run(size_t count, const std::function<void(size_t)>& job) {
  const unsigned n = threads();
  while (inside_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  if (count != count_) {
    count_ = count;
    owner_.resize(count);
    for (size_t i = 0; i < count; ++i) owner_[i] = static_cast<unsigned>(i * n / count);
    cost_.assign(count, 0.0);
    seconds_.assign(count, 0.0);
    runs_ = 0;
    repartition();
  } else if (n > 1 && runs_ >= kRebalanceRuns) {
    runs_ = 0;
    std::vector<unsigned> better = balance_jobs(cost_, n);
    if (makespan(cost_, better, n) < (1 - kRebalanceGain) * makespan(cost_, owner_, n)) {
      owner_ = std::move(better);
      repartition();
    }
  }
  job_ = &job;
  error_ = nullptr;
  unfinished_.store(count, std::memory_order_relaxed);
  for (auto& share : shares_) share->next.store(0, std::memory_order_release); // publishes job_
  if (n > 1) {
    open_.store(true, std::memory_order_seq_cst);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
  }
  run_jobs(0);
  const auto done = [&] { return unfinished_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, done);
  }
  open_.store(false, std::memory_order_seq_cst);
  job_ = nullptr;
  ++runs_;
  if (n > 1)
    for (size_t i = 0; i < count; ++i) cost_[i] = 0.5 * cost_[i] + 0.5 * seconds_[i];
  if (error_) std::rethrow_exception(error_);
}

} // namespace tsp
