// Zero-filled blocks of one size carved from anonymous memory mappings. Fresh pages read as
// zeros, so a block needs no memset, and the pages of a block that are never written cost no
// memory. By default the first region uses small pages, so a sparsely used arena stays small;
// later regions ask for huge pages (MADV_HUGEPAGE), so a densely used one takes one page fault
// per 2 MiB instead of one per 4 KiB. Blocks live as long as the arena.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tsp {

class ZeroArena {
public:
  enum class HugePages : uint8_t { after_first_region, always };
  explicit ZeroArena(size_t block_bytes, HugePages huge = HugePages::after_first_region);
  ~ZeroArena();
  ZeroArena(const ZeroArena&) = delete;
  ZeroArena& operator=(const ZeroArena&) = delete;

  // A block of block_bytes zeros, aligned to 64 bytes.
  uint8_t* allocate();
  size_t block_bytes() const { return block_bytes_; }
  // Blocks handed out so far.
  size_t blocks() const { return blocks_; }

private:
  struct Region {
    void* base;
    size_t bytes;
  };
  void map_region();

  size_t block_bytes_;
  size_t region_bytes_;
  HugePages huge_;
  std::vector<Region> regions_;
  uint8_t* next_ = nullptr;
  uint8_t* end_ = nullptr;
  size_t blocks_ = 0;
};

} // namespace tsp
