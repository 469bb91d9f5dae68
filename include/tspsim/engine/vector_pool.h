// Stream values in flight, each one vector of a fixed size, named by a 32-bit id. Vectors are
// carved from pages as needed and reused through a free list, so a value moves from the slice
// that produced it to the fabric by its id, not by copying its bytes. Whoever takes a vector
// writes all of its bytes. The pages come from huge pages: a fabric holds a value per slot until
// another replaces it (2.6 MB on the 14 nm chip), which on small pages was 640 page faults in
// the first cycles of a functional run.
#pragma once

#include "tspsim/engine/zero_arena.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tsp {

class VectorPool {
public:
  static constexpr uint32_t kNone = UINT32_MAX;

  explicit VectorPool(unsigned vector_bytes)
      : vector_bytes_(vector_bytes),
        pages_arena_(size_t(kPerPage) * vector_bytes, ZeroArena::HugePages::always) {}

  uint32_t take();
  void give_back(uint32_t id) { free_.push_back(id); }
  uint8_t* bytes(uint32_t id) { return pages_[id / kPerPage] + size_t(id % kPerPage) * vector_bytes_; }
  const uint8_t* bytes(uint32_t id) const {
    return pages_[id / kPerPage] + size_t(id % kPerPage) * vector_bytes_;
  }

private:
  static constexpr uint32_t kPerPage = 256;

  unsigned vector_bytes_;
  ZeroArena pages_arena_;
  std::vector<uint8_t*> pages_;
  std::vector<uint32_t> free_;
  uint32_t taken_ = 0; // ids handed out from the pages so far
};

} // namespace tsp
