#include "tspsim/engine/zero_arena.h"

#include <new>
#include <sys/mman.h>

namespace tsp {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kAlign = 64;

} // namespace

ZeroArena::ZeroArena(size_t block_bytes, HugePages huge)
    : block_bytes_((block_bytes + kAlign - 1) / kAlign * kAlign),
      region_bytes_((block_bytes_ + kHugePage - 1) / kHugePage * kHugePage), huge_(huge) {}

ZeroArena::~ZeroArena() {
  for (const Region& region : regions_) munmap(region.base, region.bytes);
}

uint8_t* ZeroArena::allocate() {
  if (next_ == nullptr || static_cast<size_t>(end_ - next_) < block_bytes_) map_region();
  uint8_t* block = next_;
  next_ += block_bytes_;
  ++blocks_;
  return block;
}

// Maps a region aligned to a huge page (one huge page more, trimmed), so that MADV_HUGEPAGE can
// back all of it. MAP_NORESERVE: only the pages written count against memory.
void ZeroArena::map_region() {
  const size_t mapped = region_bytes_ + kHugePage;
  void* raw =
      mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t tail = aligned + region_bytes_;
  if (start + mapped > tail) munmap(reinterpret_cast<void*>(tail), start + mapped - tail);
  auto* base = reinterpret_cast<uint8_t*>(aligned);
  if (huge_ == HugePages::always || !regions_.empty()) madvise(base, region_bytes_, MADV_HUGEPAGE);
  regions_.push_back({base, region_bytes_});
  next_ = base;
  end_ = base + region_bytes_;
}

} // namespace tsp
