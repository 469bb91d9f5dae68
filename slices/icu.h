// The instruction control unit: one queue per functional slice queue (144 on the 14 nm chip),
// loaded from the program before the clock starts, dispatching in program order. ICU
// instructions (NOP, Repeat, Sync, Notify, Ifetch, Config, Deskew) are carried out here; every
// other instruction is handed to the slice that owns the queue.
#pragma once

#include "tspsim/engine/functional_slice.h"
#include "tspsim/engine/instruction_queue.h"
#include "tspsim/engine/queue_calendar.h"

#include <queue>
#include <unordered_set>
#include <vector>

namespace tsp {

// Where Ifetch reads instruction text: a MEM slice, as one access to one of its banks.
class InstructionMemory {
public:
  virtual ~InstructionMemory() = default;
  // The word at `address` in cycle t (null in a slice with no data), counted as a bank access.
  virtual const uint8_t* read_text(Cycle t, uint32_t address, const Origin& origin) = 0;
  // The word at `address` if it is still the program's image (never written since loading: the
  // bytes never change), else null. Not an access.
  virtual const uint8_t* image_word(uint32_t address) const = 0;
};

class Icu : public sc_core::sc_module {
public:
  SC_HAS_PROCESS(Icu);
  Icu(sc_core::sc_module_name name, EngineContext& ctx, std::vector<FunctionalSlice*> slices,
      std::vector<InstructionMemory*> mems, DebugClock* debug_clock);

  // Fills the queues. Throws InputError if a queue's text does not fit its instruction buffer.
  void load(const Program& program);

  void evaluate(Cycle t);
  Cycle next_event() const;
  // After the last event: queues still parked in Sync are errors.
  void finish(Cycle t);

  const std::vector<InstructionQueue>& queues() const { return queues_; }

private:
  struct FetchRead {
    Cycle cycle;
    Cycle arrival;
    unsigned queue;
    unsigned mem;
    uint32_t address;
    Origin origin;
    bool operator>(const FetchRead& other) const {
      return cycle != other.cycle ? cycle > other.cycle : queue > other.queue;
    }
  };

  void debug_negedge();
  void release_barriers(Cycle t);
  void do_fetch_reads(Cycle t);
  void dispatch(InstructionQueue& queue, Cycle t);
  void issue(InstructionQueue& queue);
  bool hand_over_run(InstructionQueue& queue);
  bool slice_mates_may_write(const InstructionQueue& queue, const Instruction& instruction) const;
  void split_runs(Cycle t, Cycle release);
  // An ICU instruction other than NOP (dispatch runs NOPs); false for a slice instruction.
  bool run_icu_instruction(InstructionQueue& queue, const QueuedInstruction& qi, const Origin& origin,
                           Cycle t);
  void take_arrivals(InstructionQueue& queue, Cycle t);
  // Inline: after nearly every dispatch.
  void schedule(InstructionQueue& queue) {
    if (!queue.parked && !queue.idle()) ready_.push(queue.next_dispatch, queue.id);
  }
  struct DecodedWord {
    uint64_t bits = 0; // 0 (padding, never decoded): empty
    Instruction instruction;
    isa::Unit issuer = isa::Unit::icu; // isa::issuing_unit of the instruction's unit
    // check_fetched_operands's verdict, taken when a word outside the checked images needs it.
    enum class Operands : uint8_t { unchecked, ok, invalid } operands = Operands::unchecked;
  };
  // decode(), remembered by word: fetched text repeats the same few words (throws as decode does).
  DecodedWord& decode_fetched(uint64_t bits);
  // check_fetched_operands's verdict on a decoded word, taken once per entry.
  bool fetched_operands_ok(DecodedWord& entry) const;
  // Checks, while loading, the image words that the program's Ifetches fetch (their slice,
  // address and count are operands; those of checked words too): check_fetched_operands passes
  // for every word of each vector kept in checked_images_, so the ICU does not check them again.
  void check_image_text();
  // Whether every word of a fetched vector passes check_fetched_operands, and every Repeat after
  // the vector's first instruction check_repeat (an undecodable word fails: decode's error is the
  // ICU's to report when it is fetched).
  // Appends the vector's Ifetches to `ifetches` when it passes.
  bool text_vector_ok(const uint8_t* vector, std::vector<Instruction>& ifetches) const;
  // The instruction a fetched one will follow in `queue`: the last of `arrival` so far, of the
  // text still in flight, or of the buffer; nullptr if the queue has had none.
  static const Instruction* instruction_before(const InstructionQueue& queue,
                                               const InstructionQueue::Arrival& arrival);

  EngineContext& ctx_;
  std::vector<FunctionalSlice*> slices_;
  std::vector<InstructionMemory*> mems_;
  DebugClock* debug_clock_;
  std::vector<InstructionQueue> queues_;
  QueueCalendar ready_; // queues by next dispatch cycle (stale entries skipped)
  Cycle now_ = 0;
  std::priority_queue<FetchRead, std::vector<FetchRead>, std::greater<>> fetch_reads_;
  size_t released_ = 0; // entries of ctx_.releases already applied
  // Runs handed over whole and not yet past their last dispatch, by queue: a barrier release
  // may split them.
  std::vector<std::pair<unsigned, RepeatRun>> taken_runs_;
  size_t taken_runs_pruned_ = 1; // their number after the last pruning
  // Slices that take read intervals of their own (the MXM planes' LW reads), split likewise.
  std::vector<FunctionalSlice*> interval_slices_;
  // Direct-mapped by a hash of the word; allocated by the first Ifetch (a program that fetches
  // nothing does not zero it).
  static constexpr unsigned kDecodedLog2 = 10;
  std::vector<DecodedWord> decoded_;
  std::unordered_set<const uint8_t*> checked_images_; // image vectors check_image_text passed
  // The instruction lists of arrivals already taken, kept for their capacity: fetched text then
  // allocates nothing per read once the first few are in flight.
  std::vector<std::vector<QueuedInstruction>> spare_instructions_;
};

} // namespace tsp
