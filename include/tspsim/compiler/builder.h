// What a kernel builds besides its schedule: tensors placed in MEM (symbols and initial images),
// the host reference of every output, the lower bounds its cycle count is compared with, and the
// finished program with its metadata.
#pragma once

#include "tspsim/common/error.h"
#include "tspsim/compiler/borrowed_text.h"
#include "tspsim/compiler/mxm_state.h"
#include "tspsim/compiler/schedule.h"
#include "tspsim/program/tensor.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tsp::compiler {

// MEM addresses in use per slice; tensors get the lowest base that is free in all their slices, or
// (staggered tensors) each slice its own lowest free address. Words below a slice's high-water mark
// that were released are free again for tensors written before they are read (`reuse`): a tensor
// with an initial image (loaded at reset) always goes above every word ever used.
class MemoryMap {
public:
  explicit MemoryMap(const ChipConfig& config);

  // A base address with `words` free consecutive words in every slice of `mems`, the lowest one,
  // in released words too if `reuse`. Throws InputError naming `what` when MEM is full.
  uint32_t allocate(const std::vector<unsigned>& mems, uint32_t words, const std::string& what,
                    bool reuse = false);
  // Whether allocate would find the words.
  bool fits(const std::vector<unsigned>& mems, uint32_t words, bool reuse) const {
    return find(mems, words, reuse).has_value();
  }
  // Words [base, base + words) of every slice of `mems` are free again.
  void release(const std::vector<unsigned>& mems, uint32_t base, uint32_t words);
  // `words` free consecutive words in each slice of `mems` from its own lowest free address: the
  // bases, one per slice. Throws like allocate.
  std::vector<uint32_t> allocate_each(const std::vector<unsigned>& mems, uint32_t words,
                                      const std::string& what);
  // Queue text goes at the top of a slice, below `top(mem)`: the last bank is the one tensors
  // reach last, so its ports are the likeliest to be free. take_top reserves `words` below it.
  uint32_t top(unsigned mem) const { return top_[mem]; }
  void take_top(unsigned mem, uint32_t words) { top_[mem] -= words; }
  // Undoes the last take_top of `words` from `mem`.
  void give_back_top(unsigned mem, uint32_t words) { top_[mem] += words; }
  uint32_t used(unsigned mem) const { return next_[mem]; }
  uint32_t words_per_slice() const { return words_per_slice_; }

private:
  std::optional<uint32_t> find(const std::vector<unsigned>& mems, uint32_t words, bool reuse) const;
  // Whether [begin, end) of slice `mem` is free: released words, or above the high-water mark.
  bool free_span(unsigned mem, uint32_t begin, uint32_t end) const;
  uint32_t words_per_slice_;
  std::vector<uint32_t> next_;                         // the high-water mark
  std::vector<uint32_t> top_;                          // words from top_ up are taken from the top
  std::vector<std::map<uint32_t, uint32_t>> released_; // per slice: begin -> end of free runs below next_
};

// A tensor a kernel is going to place, by its shape alone.
struct TensorSize {
  std::string name;
  isa::DType dtype;
  uint64_t rows;
  uint64_t cols;
};

// Throws InputError unless `tensors` together fit in the SRAM of `config`, naming `kernel`, the
// tensors up to the first that overflows and the chip's SRAM. Kernels call it on their shape
// before they allocate anything proportional to it: a size no chip placement could hold is
// refused at once, not after gigabytes of host memory. Placement (MemoryMap) later finds whether
// the tensors fit in the slices they may use.
void require_mem(const ChipConfig& config, const std::string& kernel, const std::vector<TensorSize>& tensors);

// The expected contents of one output symbol.
struct ExpectedOutput {
  std::string symbol;
  std::vector<uint8_t> bytes;    // element bytes as tspsim --dump writes them (reference rounded to dtype)
  std::vector<double> values;    // the reference, one per element, row-major
  std::vector<double> tolerance; // allowed |simulated - reference| per element (0: bit-exact)
};

// A lower bound on the cycle count of a kernel from one resource.
struct Bound {
  std::string resource; // "MXM compute", "MEM bandwidth", "stream bandwidth", "weight install", ...
  double cycles = 0;
};

// The largest of `bounds` (the one that binds).
const Bound& binding_bound(const std::vector<Bound>& bounds);
// What the compilers print: "<workload>: N cycles predicted; binding bound <resource> B cycles
// (ratio N/B)".
std::string prediction_summary(const std::string& workload, uint64_t predicted_cycles,
                               const std::vector<Bound>& bounds);

struct CompiledKernel {
  Program program;
  std::vector<ExpectedOutput> outputs;
  std::vector<Bound> bounds;
  uint64_t predicted_cycles = 0;

  const Bound& binding_bound() const { return compiler::binding_bound(bounds); }
};

class ProgramBuilder;

// Tags every instruction placed while it lives with one region of the program (regions.h), so
// that the simulator can attribute the activity of a phase; scopes nest (the inner one tags until
// it ends, then the outer one again).
class RegionScope {
public:
  RegionScope(ProgramBuilder& builder, const Region& region);
  ~RegionScope();
  RegionScope(const RegionScope&) = delete;
  RegionScope& operator=(const RegionScope&) = delete;

private:
  ProgramBuilder& builder_;
  uint32_t outer_;
};

// Per queue, the period of the cycles it keeps idle for Ifetches (Schedule::keep_fetch_cycles).
using FetchCycles = std::map<unsigned, Cycle>;

// The ProgramBuilders created while it lives keep `kept`'s fetch cycles; compile_keeping_fetch_cycles
// sets it for one run of a compile.
class FetchCycleScope {
public:
  explicit FetchCycleScope(const FetchCycles& kept);
  ~FetchCycleScope();
  FetchCycleScope(const FetchCycleScope&) = delete;
  FetchCycleScope& operator=(const FetchCycleScope&) = delete;

private:
  const FetchCycles* outer_;
};

// A queue's text outgrew its buffer where the queue dispatches in every cycle, leaving no idle
// cycle for an Ifetch (ProgramBuilder::finish). `retry`: every such queue of the program with the
// fetch cycle period to keep in it next (half the one it kept, or half its buffer at first).
class FetchStarved : public InputError {
public:
  FetchStarved(const std::string& message, FetchCycles retry)
      : InputError(message), retry_(std::move(retry)) {}
  const FetchCycles& retry() const { return retry_; }

private:
  FetchCycles retry_;
};

// The shortest fetch cycle period: a shorter one would split the runs of reads a vector needs, so
// a queue that starves with it (or with a buffer of fewer than 32 entries) is an InputError.
constexpr Cycle kMinFetchCyclePeriod = 16;

// Runs `compile` (a whole kernel) and, while its text starves queues of fetch cycles, runs it
// again keeping more of them idle in those queues. Each run at least halves a period, so the runs
// end: with a program, or with the InputError of a queue at kMinFetchCyclePeriod. A run that no
// longer fits with the kept cycles (a chain of operations on a queue in every cycle) reports the
// first starved queue: that is what stops the kernel.
template <class Compile> auto compile_keeping_fetch_cycles(Compile compile) {
  FetchCycles kept;
  std::string first_starved;
  for (;;) {
    try {
      const FetchCycleScope scope(kept);
      return compile();
    } catch (const FetchStarved& starved) {
      if (first_starved.empty()) first_starved = starved.what();
      for (const auto& [queue, period] : starved.retry()) kept[queue] = period;
    } catch (const InputError&) {
      if (first_starved.empty()) throw;
      throw InputError(first_starved);
    }
  }
}

class ProgramBuilder {
public:
  explicit ProgramBuilder(const ChipConfig& config);

  Schedule& schedule() { return schedule_; }
  // The MXM rules state of a plane, kept across the phases of one program.
  MxmPlaneState& mxm_state(unsigned slice);
  const ChipConfig& config() const { return schedule_.config(); }
  MemoryMap& memory() { return memory_; }

  // Places a rows x cols tensor of `dtype` in `groups` slice groups over `mems` (groups *
  // dtype_bytes slices), reserving `reserved_rows` (>= rows) rows of addresses. When `name` is
  // empty the tensor is not a program symbol (a private copy). `elements` (row-major element
  // bytes, or empty for zeros) becomes its initial image; `declared`: its contents are declared
  // (add_random) instead, so it is never scratch.
  Symbol add_tensor(const std::string& name, isa::DType dtype, uint32_t rows, uint32_t cols,
                    const std::vector<unsigned>& mems, uint32_t reserved_rows,
                    const std::vector<uint8_t>& elements, bool declared = false);
  // The same with each slice at its own lowest free address (Symbol::bases): tensors of 16 of a
  // hemisphere's 44 slices then stack like bricks and fill every slice, where tensors at one base
  // would leave 12 slices beside each pair (docs/compiler.md, "Staggered tensors").
  Symbol add_staggered_tensor(const std::string& name, isa::DType dtype, uint32_t rows, uint32_t cols,
                              const std::vector<unsigned>& mems, uint32_t reserved_rows,
                              const std::vector<uint8_t>& elements);

  // The same in as few slice groups as fit: groups are consecutive runs of dtype_bytes slices of
  // `candidates`, taken in order among those with room.
  Symbol add_tensor_spread(const std::string& name, isa::DType dtype, uint32_t rows, uint32_t cols,
                           const std::vector<unsigned>& candidates, const std::vector<uint8_t>& elements,
                           bool declared = false);

  // From now on, tensors without an initial image are scratch (add_tensor): each may reuse MEM
  // that release_scratch freed, and the schedule orders its writes after the old words' reads
  // (Schedule::track_reads). For a program whose phases each write tensors of their own that die
  // within a few phases (the prompt pass, docs/llama.md).
  void reuse_scratch() {
    reuse_ = true;
    schedule_.track_reads();
  }
  bool reuses_scratch() const { return reuse_; }
  // Whether add_tensor finds `words` in every slice of `mems` for a tensor with `elements`.
  bool fits(const std::vector<unsigned>& mems, uint32_t words, const std::vector<uint8_t>& elements,
            bool declared = false) const {
    return memory_.fits(mems, words, scratch(elements, declared));
  }
  // Whether a tensor is scratch (reuse_scratch): it has no initial contents.
  bool scratch(const std::vector<uint8_t>& elements, bool declared) const {
    return reuse_ && elements.empty() && !declared;
  }
  // Frees every scratch tensor placed so far except the tiles and copies of `keep`. Every Read of
  // a freed tensor must be placed already: a later Write to its words waits for them, a later
  // Read would see the new tensor.
  void release_scratch(const std::vector<const Symbol*>& keep);

  // Declares `symbol` (placed by add_tensor, or a part of such a tensor) with the elements
  // random_tensor(symbol's type and shape, seed): the program stores the seed, not the bytes.
  void add_random(const Symbol& symbol, uint64_t seed) {
    add_random(symbol, random_declaration(symbol, seed, config().geometry.vector_bytes()));
  }
  // The same for a window of a seeded stream (DeclaredTensor: row stride, declared rows).
  void add_random(const Symbol& symbol, const DeclaredTensor& declared) {
    random_.push_back({symbol, declared});
  }

  // Emits the schedule and assembles the program; metadata.predicted_cycles is the schedule's.
  // A queue whose text does not fit its instruction buffer starts with what fits and fetches
  // the rest from MEM (Ifetch) in its idle cycles, early enough that it never runs dry and late
  // enough that its buffer never overflows. Throws InputError when that is impossible.
  Program finish(const std::string& workload, uint64_t tokens_per_run = 0);

  // Tags what is placed from now on with region {group, category}, until the next begin_region
  // or end_region (for a sequence of phases).
  void begin_region(const std::string& group, RegionCategory category) {
    schedule_.set_region(region_index(Region{group, category}));
  }
  void end_region() { schedule_.set_region(RegionRun::kNoRegion); }
  // `const RegionScope scope = builder.region("layer 0", RegionCategory::matrix);` tags what the
  // phases in its C++ scope place.
  RegionScope region(const std::string& group, RegionCategory category) {
    return RegionScope(*this, Region{group, category});
  }
  // The index of `region` in the program's region list (added on first use).
  uint32_t region_index(const Region& region);

private:
  // The symbol of a placed tensor: its images, and its entry in the symbol table if named.
  Symbol add_placed(Symbol symbol, const std::vector<uint8_t>& elements);
  QueueProgram queue_text(unsigned queue);
  // `words` consecutive words whose bank has a port in each cycle they are read, from `read_at`
  // on, taken: at the top of a slice, or else borrowed (borrowed_); the slice and the base, or
  // nothing if no slice has the port. Throws InputError naming `queue` if no slice has the words.
  std::optional<std::pair<unsigned, uint32_t>> take_text_words(const std::string& queue, uint32_t words,
                                                               Cycle read_at);
  // How many Ifetch cycles a queue's text may avoid before its placement gives up: each try plans
  // the queue's whole text again.
  static constexpr size_t kMaxIfetchMoves = 1024;
  ProgramRegions region_runs() const;
  Schedule schedule_;
  MemoryMap memory_;
  std::map<unsigned, MxmPlaneState> mxm_states_;
  std::vector<Symbol> symbols_;
  std::vector<MemImage> images_;
  std::vector<std::pair<Symbol, DeclaredTensor>> random_;
  std::vector<Region> regions_;
  bool reuse_ = false;
  // With reuse_, while finish() writes the queues' text: words it may borrow from scratch tensors.
  std::optional<BorrowedTextWords> borrowed_;
  // Scratch tensors not yet released: their slices, base and words.
  struct Scratch {
    std::vector<unsigned> mems;
    uint32_t base;
    uint32_t words;
  };
  std::vector<Scratch> scratch_;
};

} // namespace tsp::compiler
