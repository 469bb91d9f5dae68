// The first GiB of a tool's heap on transparent huge pages (docs/performance.md, "Start-up heap").
//
// On the virtual machines we measure, a 4 KiB page fault costs about 10 µs, and a tool touches
// thousands of fresh heap pages before it does any work (SystemC's static constructors zero a
// 3 MiB buffer, `sc_temp_heap`; building the chip and reading the program allocate tens of MiB in
// small blocks) and tens of thousands in a large compile or system run. glibc only asks for huge
// pages when GLIBC_TUNABLES is set before exec, so this does the same for the first GiB of the
// heap, from .preinit_array: the executable's pre-initialisers run before any shared library's
// constructors. The heap grows by a GiB of address space at a time (only pages written count),
// and blocks up to 8 MiB come from it instead of separate mappings (up to 32 MiB kept a GiB more
// of a Llama-2 70B system run resident). Nothing changes but where the memory lives.
#include <cstdint>
#include <cstdlib>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TSP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TSP_ASAN 1
#endif

// AddressSanitizer has its own allocator, not glibc's heap: nothing to do there.
#ifndef TSP_ASAN
namespace {

constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
constexpr int kHeapBytes = 1 << 30;
constexpr int kLargestHeapBlock = 8 << 20;

void start_heap_on_huge_pages(int, char**, char**) {
  mallopt(M_MMAP_THRESHOLD, kLargestHeapBlock);
  mallopt(M_TOP_PAD, kHeapBytes);
  const auto start = reinterpret_cast<std::uintptr_t>(sbrk(0));
  void* volatile first = std::malloc(1); // volatile: the pair must not be optimised away
  std::free(first);
  const auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
  const std::uintptr_t lo = (start + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t hi = end & ~(kHugePage - 1);
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
}

} // namespace

using PreInitialiser = void (*)(int, char**, char**);
__attribute__((section(".preinit_array"), used)) const PreInitialiser tsp_start_heap =
    start_heap_on_huge_pages;
#endif
