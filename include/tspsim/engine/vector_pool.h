// Stream values in flight, each one vector of a fixed size, named by a 32-bit id. Vectors are
// carved from pages as needed and reused through a free list, so a value moves from the slice
// that produced it to the fabric by its id, not by copying its bytes. A vector's bytes are not
// initialised when it is taken: whoever takes it writes all of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tsp {

class VectorPool {
public:
  static constexpr uint32_t kNone = UINT32_MAX;

  explicit VectorPool(unsigned vector_bytes) : vector_bytes_(vector_bytes) {}

  uint32_t take();
  void give_back(uint32_t id) { free_.push_back(id); }
  uint8_t* bytes(uint32_t id) { return pages_[id / kPerPage].get() + size_t(id % kPerPage) * vector_bytes_; }
  const uint8_t* bytes(uint32_t id) const {
    return pages_[id / kPerPage].get() + size_t(id % kPerPage) * vector_bytes_;
  }

private:
  static constexpr uint32_t kPerPage = 256;

  unsigned vector_bytes_;
  std::vector<std::unique_ptr<uint8_t[]>> pages_;
  std::vector<uint32_t> free_;
  uint32_t taken_ = 0; // ids handed out from the pages so far
};

} // namespace tsp
