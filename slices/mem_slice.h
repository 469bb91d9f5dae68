// A MEM slice: mem_words_per_slice vectors of SRAM in banks of consecutive addresses, each bank
// with mem_ports_per_bank accesses per cycle. Read, Write, Gather, Scatter, and Ifetch reads from
// the ICU. SRAM is allocated lazily in chunks (EngineContext::sram), so untouched memory costs
// nothing; words a program image initialises are read from the image until their chunk is first
// written, so a timing-only run (which writes no SRAM) keeps one copy of a program's text.
#pragma once

#include "slices/icu.h"
#include "tspsim/engine/functional_slice.h"
#include "tspsim/engine/pending_queue.h"

#include <array>
#include <memory>
#include <optional>
#include <vector>

namespace tsp {

class MemSlice : public FunctionalSlice, public InstructionMemory {
public:
  MemSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock);

  void execute(const Dispatch& dispatch) override;
  void evaluate(Cycle t) override;
  void retire(Cycle t) override;
  Cycle next_event() const override;
  bool take_run(const RepeatRun& run) override;
  void stop_run(Cycle last) override;
  uint64_t split_run(Cycle now, Cycle release) override;
  const uint8_t* read_text(Cycle t, uint32_t address, const Origin& origin) override;
  const uint8_t* image_word(uint32_t address) const override;

  // Initialises the words from `address` with `bytes` (whole vectors), which must outlive the
  // run: words of allocated chunks are copied now, the others read `bytes` until first written.
  void share_image(uint32_t address, const std::vector<uint8_t>& bytes);
  // The word at `address` for a loader to write in place (declared tensors, generated into MEM).
  uint8_t* load_word(uint32_t address) { return mutable_word(address); }
  // Allocates the words [address, address + words) now: load_word of them then allocates nothing,
  // so several threads may write different words.
  void reserve(uint32_t address, uint32_t words);
  // The vector at `address` (zeros where never written).
  const uint8_t* word(uint32_t address) const;

private:
  enum class Step : uint8_t { read, write, gather, scatter_read, scatter_write };
  struct Pending {
    Step step;
    Dispatch dispatch;
    std::vector<uint8_t> data; // scatter: source vector and map, read earlier (empty: timing-only)
  };
  // A whole-vector SRAM write of the current cycle; its bytes are at `offset` in word_write_bytes_.
  struct WordWrite {
    uint32_t address;
    uint32_t lanes;
    size_t offset;
  };
  struct LaneWrite {
    uint32_t address;
    uint32_t lane;
    uint8_t value;
  };

  void perform(Step step, const Dispatch& d, const uint8_t* data, Cycle t); // data: scatter_write only
  void do_read(const Dispatch& d, Cycle t);
  void do_write(const Dispatch& d, Cycle t);
  void do_gather(const Dispatch& d, Cycle t);
  void do_scatter_read(const Dispatch& d, Cycle t);
  void do_scatter_write(const Dispatch& d, const uint8_t* data, Cycle t);
  void access(Cycle t, uint32_t address, const Origin& origin);
  void list_run_access(Cycle t); // the bank access of a run taken whole, in cycle t
  void check_ports(Cycle t); // more accesses than ports in cycle t: blames the excess
  // The port check and SRAM writes of cycle t.
  void retire_accesses(Cycle t);
  uint8_t* mutable_word(uint32_t address);
  // Copies the image words shared into chunk `chunk`, now allocated, and forgets them.
  void copy_shared_words(uint32_t chunk);
  // Lane addresses base + map[i] of a Gather or Scatter; lanes outside the slice are reported
  // and get kInvalid.
  std::vector<uint32_t> lane_addresses(const Dispatch& d, const uint8_t* map, Cycle t);
  void schedule(Cycle cycle, Step step, const Dispatch& d);
  // Whether a Read or Write run can be taken whole (the conditions of each are at take_run).
  bool read_run_possible(const RepeatRun& run) const;
  bool write_run_possible(const RepeatRun& run) const;
  // Counts what the run did through cycle `last` and ends it.
  void end_run(Cycle last);

  static constexpr uint32_t kInvalid = UINT32_MAX;

  unsigned words_;
  unsigned words_per_bank_;
  unsigned ports_;
  std::vector<uint8_t*> chunks_; // from ctx_.sram, null until first written
  // Per unallocated chunk, its words' vectors in program images (null: no image), or null.
  using SharedWords = std::array<const uint8_t*, EngineContext::kSramChunkWords>;
  std::vector<std::unique_ptr<SharedWords>> shared_;
  std::vector<uint8_t> zeros_;
  // Bank accesses of the current cycle, checked against the ports in retire() so that which
  // access is blamed does not depend on evaluation order.
  std::vector<std::pair<unsigned, Origin>> accesses_;
  PendingQueue<Pending> pending_;
  // SRAM writes of the current cycle, applied in retire(): whole vectors and single lanes.
  std::vector<WordWrite> word_writes_;
  std::vector<uint8_t> word_write_bytes_;
  std::vector<LaneWrite> lane_writes_;
  Cycle retire_cycle_ = kNever;
  std::vector<uint8_t> scratch_;

  // A Read or Write Repeat run taken whole (timing-only): a Read's values are in the fabric as a
  // write run, a Write's reads were checked when it was taken, its bank accesses join a cycle's
  // access list only when something else accesses the slice then, and its statistics are
  // counted when it ends.
  std::optional<RepeatRun> run_;
  Cycle run_skew_ = 0;               // from dispatch to SRAM access (and a Write's stream read)
  RunCycles run_cycles_;             // dispatch, SRAM access and landing cycles
  Cycle run_counted_ = kNever;       // a run cycle counted busy before the run was taken
  Cycle run_last_ = kNever;          // the run's last busy cycle: it ends in that cycle's retire
  Cycle run_access_listed_ = kNever; // the cycle whose access list holds the run's access
};

} // namespace tsp
