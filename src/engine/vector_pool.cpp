#include "tspsim/engine/vector_pool.h"

namespace tsp {

uint32_t VectorPool::take() {
  if (!free_.empty()) {
    const uint32_t id = free_.back();
    free_.pop_back();
    return id;
  }
  // Default-initialised: a page is written vector by vector as its vectors are taken.
  if (taken_ % kPerPage == 0) pages_.emplace_back(new uint8_t[size_t(kPerPage) * vector_bytes_]);
  return taken_++;
}

} // namespace tsp
