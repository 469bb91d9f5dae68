#pragma once
// One worker thread beside the calling one, for jobs that split into two halves writing disjoint
// results (large MXM batches, generating declared weights), so that a result never depends on
// whether the second core ran.
#include <functional>

namespace tsp {

// Runs job(0) on this thread and job(1) on the second core (a thread started on first use) and
// returns true when both are done. Returns false without running anything where the host has one
// core or another thread is using the second core (a system's chips run on several threads). An
// exception from either half is rethrown here once both halves are done (the first half's first).
bool try_run_on_two_cores(const std::function<void(unsigned part)>& job);

} // namespace tsp
