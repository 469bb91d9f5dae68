#include "tspsim/engine/vector_pool.h"

namespace tsp {

uint32_t VectorPool::take() {
  if (!free_.empty()) {
    const uint32_t id = free_.back();
    free_.pop_back();
    return id;
  }
  if (taken_ % kPerPage == 0) pages_.push_back(pages_arena_.allocate());
  return taken_++;
}

} // namespace tsp
