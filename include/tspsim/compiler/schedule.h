// The static schedule of one program: every instruction at its dispatch cycle, and the resources
// that each one holds, so that a kernel can only place what the simulator will accept
// (docs/timing-model.md). Placements either succeed and reserve everything, or fail and reserve
// nothing; a mark/rollback pair undoes a group of placements that must succeed together.
//
// Resources:
//   queue slots   one dispatch per queue per cycle;
//   stream spans  a value on (stream, direction) lives on one diagonal (t - x*hop eastward,
//                 t + x*hop westward) from its writer's position to its farthest reader; two
//                 values on one diagonal must not share a position;
//   bank ports    mem_ports_per_bank accesses per MEM bank per cycle.
// All latencies come from tspsim/latency.h and the config's timing table.
#pragma once

#include "tspsim/compiler/flat_table.h"
#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/program.h"
#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tsp::compiler {

// Signed so that "the producer would have to dispatch before cycle 0" is a plain comparison.
using Cycle = int64_t;

enum class Dir : uint8_t { east, west };

// One byte-stream.
struct Stream {
  unsigned id = 0;
  Dir dir = Dir::east;

  // The ISA stream field: bit 6 westward, bits 5..0 the id.
  int64_t field() const { return stream_field(id, dir == Dir::west); }
  Stream plus(unsigned k) const { return {id + k, dir}; }
};

// One encoded word of a queue's text and the cycle the queue takes it from its buffer.
struct TextWord {
  uint64_t word = 0;
  Cycle pop = 0;
  Cycle idle = 0; // a NOP: the cycles it keeps the queue idle, from `pop` on
};

// The word difference between consecutive copies of a placed run of `word`'s instruction: the
// lowest bit of its strided field (Schedule::text's Repeat stride: address or accumulator), or 0.
uint64_t copy_step(uint64_t word);

// One placed instruction of a queue, or a run of `count` copies of it placed at once: copy c is
// dispatched at t + c, its word the first's with the strided field advanced by c. Its dispatch
// cycle, its encoded word (8 bytes instead of the 56 of an Instruction: a system program holds
// millions) and its region (tspsim/program/regions.h).
struct PlacedSlot {
  static constexpr uint16_t kUnknown = UINT16_MAX;

  Cycle t = 0;
  uint64_t word = 0;
  uint32_t region = RegionRun::kNoRegion;
  // activity_end - t of each copy where the schedule knows it without decoding (a Read's, a
  // Write's, a run's), else kUnknown; it and the count fill the struct's padding.
  uint16_t active = kUnknown;
  uint16_t count = 1;

  Instruction instruction() const { return decode(word); }
  uint64_t copy_word(unsigned c) const { return c == 0 ? word : word + c * copy_step(word); }
};

class Schedule {
public:
  explicit Schedule(const ChipConfig& config);

  const ChipConfig& config() const { return config_; }
  const Floorplan& floorplan() const { return floorplan_; }

  unsigned slice_position(unsigned slice) const { return floorplan_.slices()[slice].position; }
  unsigned mem_slice(unsigned mem) const { return mems_.at(mem).slice; }
  unsigned mem_position(unsigned mem) const { return mems_.at(mem).position; }
  unsigned mem_queue(unsigned mem) const { return mems_.at(mem).queue; }
  // Cycles for a value to travel from one position to another.
  Cycle travel(unsigned from, unsigned to) const;
  // The direction a value must travel from `from` to reach `to` (east when they coincide).
  static Dir direction(unsigned from, unsigned to) { return to < from ? Dir::west : Dir::east; }

  // ---- Queue slots ----
  bool slot_free(unsigned queue, Cycle t) const;
  // The first cycle from t (>= 0) in which `queue` has a free slot.
  Cycle next_free_slot(unsigned queue, Cycle t) const;
  // Leaves one cycle in every `period` of `queue` (the last of each) without an instruction, for
  // the Ifetches of a queue whose text outgrows its buffer while it would dispatch in every cycle
  // (ProgramBuilder::finish, FetchStarved). Every slot test and search sees those cycles taken.
  void keep_fetch_cycles(unsigned queue, Cycle period);
  // keep_fetch_cycles' period of `queue` (0: it keeps none).
  Cycle fetch_cycle_period(unsigned queue) const { return fetch_period_[queue]; }
  // An empty schedule of the same chip keeping the same fetch cycles: what fits alone.
  Schedule empty_like() const;
  // No instruction is placed before `t` from now on (slot_free, next_free_slot and place refuse
  // earlier cycles): a pipeline stage's work waits for its hand-off (docs/llama.md).
  void hold_until(Cycle t) { floor_ = std::max(floor_, t); }
  // Puts `instruction` on `queue` at dispatch cycle t; false if t is before the floor (0 or
  // hold_until's) or the slot is taken.
  bool place(unsigned queue, Cycle t, const Instruction& instruction);
  // Tries the queues of `slice` in the order of `preference` (local queue numbers; the remaining
  // queues follow in order) and returns the queue used, or -1.
  int place_on_slice(unsigned slice, Cycle t, const Instruction& instruction,
                     const std::vector<unsigned>& preference = {});
  // How many cycles from t in a row place_on_slice(slice, *, *, preference) would put on `queue`
  // (at most `count`): every queue it tries before `queue` is taken and `queue` is free.
  unsigned slice_run(unsigned slice, Cycle t, unsigned count, unsigned queue,
                     const std::vector<unsigned>& preference) const;
  // Whether some queue of `slice` has a free slot at t (place_on_slice can succeed).
  bool slice_free(unsigned slice, Cycle t) const;
  // The first cycle from t at which some queue of `slice` has a free slot.
  Cycle next_free_on_slice(unsigned slice, Cycle t) const;
  // How many of the `count` slots of `queue` from t are free in a row (0 from a t before the floor).
  unsigned free_run(unsigned queue, Cycle t, unsigned count) const;
  // Puts `count` (< 65,536) copies of `instruction` on `queue` in cycles first, first + 1, ..., copy
  // c with its strided field (Schedule::text's Repeat stride: address or accumulator) advanced by c,
  // reserved at once with one undo entry; false, placing nothing, if a slot is not free_run's or
  // the field of the copies does not advance in place (a negative field turning positive).
  bool place_run(unsigned queue, Cycle first, unsigned count, const Instruction& instruction);

  // ---- Streams ----
  // A new value written on `stream` at (position, t); false if that position of its diagonal is
  // taken.
  bool claim_write(Stream stream, unsigned position, Cycle t);
  // Extends the value written at (writer, t) so that it reaches `reader`; false if a position on
  // the way is taken or the reader is upstream of the writer.
  bool extend_read(Stream stream, unsigned writer, Cycle t, unsigned reader);
  // claim_write + extend_read to one reader with one test of the diagonal: [writer, reader] free
  // is what both need (false reserves nothing).
  bool claim_value(Stream stream, unsigned writer, Cycle t, unsigned reader);
  // claim_write + extend_read to every reader.
  bool reserve_value(Stream stream, unsigned writer, Cycle t, const std::vector<unsigned>& readers);
  bool stream_free(Stream stream, unsigned writer, Cycle t, unsigned reader) const;
  // The diagonal and positions a value written at (writer, t) toward `reader` would take on any
  // stream of one direction: a search that tries many streams for one value computes it once.
  struct Reach {
    uint64_t key = 0; // the span key of stream 0 (valid: t >= 0)
    uint16_t lo = 0;
    uint16_t hi = 0;
    bool valid = false;
  };
  Reach reach(Dir dir, unsigned writer, Cycle t, unsigned reader) const;
  // The reach of the same value written dt >= 0 cycles later (its diagonal moves by dt): a run
  // of Reads computes its first value's reach once.
  static Reach later(Reach reach, Cycle dt) {
    reach.key += uint64_t(dt) << kDiagonalShift;
    return reach;
  }
  // stream_free for stream `id` of `reach`'s direction; inline, as searches call it per stream.
  bool stream_free(const Reach& reach, unsigned id) const {
    if (!reach.valid || id >= config_.streams.per_direction) return false;
    const uint64_t key = reach.key | (uint64_t(id) << 1);
    return !spans_.find_if(key, [&](const Spans::Entry& e) {
      return !(reach.hi < e.value.lo || reach.lo > e.value.hi);
    }) && !(has_span_runs_ && marked(key, true) && run_overlaps(key, reach.lo, reach.hi, -1));
  }
  // Whether stream_free(later(first, c), id) holds for every c < count: a run of values, one a
  // diagonal, tested at once.
  bool stream_run_free(const Reach& first, unsigned id, unsigned count) const;

  // Starts loading what stream_free(reach, id) will probe: a run's tests probe one span per row.
  void prefetch_stream(const Reach& reach, unsigned id) const {
    spans_.prefetch(reach.key | (uint64_t(id) << 1));
  }

  // ---- MEM ----
  // Inline for MEMs without runs: the vector searches test a bank port per Read they try.
  bool bank_free(unsigned mem, uint32_t address, Cycle t) const {
    if (mems_[mem].has_bank_runs) return bank_free_with_runs(mem, address, t);
    const auto* entry = banks_.find(bank_key(mem, address, t));
    return !entry || entry->value < config_.geometry.mem_ports_per_bank;
  }
  bool reserve_bank(unsigned mem, uint32_t address, Cycle t);
  // How many of the `count` consecutive words from `address`, accessed in SRAM cycles t, t + 1,
  // ..., find a port of their bank free (bank_free), in a row.
  unsigned bank_free_run(unsigned mem, uint32_t address, Cycle t, unsigned count) const;
  // A Read of (mem, address) whose value is on `stream` at `reader` in cycle `t` (the reader's
  // operand read cycle): the queue slot, the bank port and the stream span.
  bool read_to(unsigned mem, uint32_t address, Stream stream, unsigned reader, Cycle t);
  // A Write to (mem, address) of the value that a writer puts on `stream` at (writer, t). The
  // caller has claimed the write; this extends the value to the MEM slice.
  bool write_from(unsigned mem, uint32_t address, Stream stream, unsigned writer, Cycle t);
  // Whether read_to(mem, address, *, reader, t) finds its queue slot, bank port and SRAM order
  // free: a search tests this before it reserves anything, as read_to can only succeed if it holds.
  bool read_possible(unsigned mem, uint32_t address, unsigned reader, Cycle t) const;
  // The first cycle from t at which read_possible(mem, address, reader, *) holds: it jumps over
  // taken queue slots and the word's write, and steps only through cycles whose bank is full.
  Cycle next_readable(unsigned mem, uint32_t address, unsigned reader, Cycle t) const;
  // The reach of such a Read's value on `dir`: its stream span must be free (read_to needs it too).
  Reach read_reach(unsigned mem, Dir dir, unsigned reader, Cycle t) const;
  // read_to for the `count` (< 65,536) consecutive words from `address`, whose values are at
  // `reader` in cycles t to t + count - 1 (an LW's rows from one slice): their bank ports are one
  // run reservation per bank and their queue slots one undo entry (each value keeps its span).
  bool read_run(unsigned mem, uint32_t address, unsigned count, Stream stream, unsigned reader, Cycle t);
  // The first cycle from t at which read_run(mem, address, count, *, reader, *) finds every queue
  // slot and bank port free, its slots and banks tested at once; t must be no earlier than
  // run_readable_at(mem, address, count, reader), the run's SRAM order, which the caller finds
  // once for a search.
  Cycle next_run_readable(unsigned mem, uint32_t address, unsigned count, unsigned reader, Cycle t) const;
  // The earliest cycle at which such a run can start (readable_at of each word, less its offset).
  Cycle run_readable_at(unsigned mem, uint32_t address, unsigned count, unsigned reader) const;
  // claim_write + write_from for `count` (< 65,536) values written on `stream` at `writer` in
  // cycles t to t + count - 1 to the consecutive words from `address` (a run of ACC results): their
  // queue slots are one place_run, their bank ports one run reservation per bank; false reserves
  // nothing.
  bool write_run(unsigned mem, uint32_t address, unsigned count, Stream stream, unsigned writer, Cycle t);
  // Whether write_from(mem, address, *, writer, t) finds its queue slot, bank port and SRAM order
  // free (it also needs the stream span: stream_free).
  bool write_possible(unsigned mem, uint32_t address, unsigned writer, Cycle t) const;
  // The first cycle t' from t at which Reads of `mem` whose values are at `reader` in cycles t' to
  // t' + count - 1 find all their queue slots free (they are dispatched in consecutive cycles).
  Cycle next_read_slots(unsigned mem, unsigned reader, Cycle t, unsigned count) const;
  // The first cycle t' from t at which a Write to `mem` of a value written at `writer` in t' finds
  // its queue slot free.
  Cycle next_write_slot(unsigned mem, unsigned writer, Cycle t) const;
  // Dispatch cycle of a Read whose value is at `reader` in cycle t.
  Cycle read_dispatch(unsigned mem, unsigned reader, Cycle t) const;
  // The SRAM write cycle of a word written by this schedule (-1: only its initial contents). A
  // Read of it must access the SRAM later; read_to refuses earlier reads.
  Cycle written(unsigned mem, uint32_t address) const {
    return mems_.at(mem).has_writes ? written_word(mem, address) : -1;
  }
  // A Read's and a Write's dispatch to their SRAM cycle.
  Cycle read_skew() const { return read_skew_; }
  Cycle write_skew() const { return write_skew_; }
  // The earliest cycle at which a Read of (mem, address) can have its value at `reader`.
  Cycle readable_at(unsigned mem, uint32_t address, unsigned reader) const;
  // The latest readable_at of the `count` consecutive words from `address`.
  Cycle all_readable_at(unsigned mem, uint32_t address, unsigned count, unsigned reader) const;
  // From now on every Read's SRAM cycle is kept per word, and a Write must reach the SRAM after
  // the last Read of its word placed so far (write-after-read): a program whose MEM words are
  // reused by a later tensor (MemoryMap::release) turns this on before placing anything.
  void track_reads() { track_reads_ = true; }
  // The same for one word only: a word that a later vector reuses (a forwarding word of a
  // collective, SystemSchedule) in a schedule that keeps no other reads.
  void track_reads_of(unsigned mem, uint32_t address);
  // The SRAM cycle of the last Read of (mem, address) placed so far (-1: none, or not tracked).
  Cycle last_read(unsigned mem, uint32_t address) const;
  // The earliest cycle at which a value at `writer` can be written to (mem, address): its SRAM
  // write after the word's last Read.
  Cycle writable_at(unsigned mem, uint32_t address, unsigned writer) const;

  // Room for `count` more MEM accesses (each holds a bank port and a stream span): a kernel that
  // knows its Reads and Writes up front spares the reservation tables their doublings.
  void reserve_accesses(size_t count) {
    spans_.reserve(spans_.size() + count);
    banks_.reserve(banks_.size() + count);
  }
  // Room for `count` more stream values (spans) beyond the MEM accesses' own.
  void reserve_values(size_t count) { spans_.reserve(spans_.size() + count); }
  // Room for `count` more bank-run entries (read_run: one per bank and 64-cycle bucket of a run).
  void reserve_runs(size_t count) { bank_runs_.reserve(bank_runs_.size() + count); }
  // Room for `count` more span-run entries (read_run, write_run: one per bucket of 64 diagonals
  // that a run's values touch).
  void reserve_span_runs(size_t count) { span_runs_.reserve(span_runs_.size() + count); }

  // ---- Transactions ----
  size_t mark() const { return undo_.size(); }
  void rollback(size_t mark);
  // Keeps everything placed so far for good: the undo log is dropped, so no earlier mark can be
  // rolled back to. Long schedules call it between placements to keep the log from growing.
  void commit() { undo_.clear(); }

  // ---- Results ----
  // Last cycle in which anything happens (dispatch, stream read or write, SRAM access), and the
  // cycle count the simulator reports: last + 1 + (superlanes - 1) * stagger.
  Cycle last_active() const;
  uint64_t predicted_cycles() const;
  // The instruction text of one queue: NOPs fill the gaps and runs of equally spaced
  // instructions that differ only by a constant stride of their address (or accumulator) field
  // become Repeats (only back-to-back runs unless `spaced_repeats`: a spaced Repeat leaves its
  // queue no idle cycle for an Ifetch).
  std::vector<TextWord> text(unsigned queue, bool spaced_repeats = true) const;
  // Instructions placed so far (slice instructions only, before NOP/Repeat encoding).
  size_t placed() const;
  // The instructions and runs of one queue in dispatch order.
  const std::vector<PlacedSlot>& queue_slots(unsigned queue) const;

  // ---- Regions (tspsim/program/regions.h) ----
  // Instructions placed from now on belong to region `region` (RegionRun::kNoRegion: none).
  void set_region(uint32_t region) { region_ = region; }
  uint32_t region() const { return region_; }

private:
  // claim_value in a schedule with span runs (kRuns) or without.
  template <bool kRuns>
  [[gnu::noinline]] bool claim_value_in(Stream stream, unsigned writer, Cycle t, unsigned reader);
  // The positions [lo, hi] a value occupies on its diagonal, and where it was written (a value's
  // writer is unique on its diagonal: spans on one diagonal never share a position).
  struct Span {
    uint16_t lo;
    uint16_t hi;
    uint16_t writer;
  };
  using Spans = FlatTable<Span>;
  enum class UndoKind : uint8_t {
    slot,
    slot_run,
    bank,
    bank_run,
    span_new,
    span_grow,
    span_run,
    written,
    read,
    read_new
  };
  // 24 bytes: the log holds an entry per reservation between commits.
  struct Undo {
    uint64_t key; // span, bank or written key; bank run: mem << 32 | bank; span run: its first span key
    Cycle t;      // slot: its cycle; written: the previous write cycle; slot or bank run: its first cycle
    uint16_t queue_or_writer;
    uint16_t lo; // slot, bank or span run: its count
    uint16_t hi;
    UndoKind kind;
  };

  // written() of a MEM with writes: its table entry.
  Cycle written_word(unsigned mem, uint32_t address) const;
  int64_t diagonal(Stream stream, unsigned position, Cycle t) const;
  // A span key: the diagonal above the stream id and direction.
  static constexpr unsigned kDiagonalShift = 7;
  static constexpr uint64_t kStreamBits = (uint64_t{1} << kDiagonalShift) - 1;
  // Diagonals can be slightly negative (eastward: t - x*hop); keys store them offset.
  static constexpr int64_t kDiagonalOffset = int64_t{1} << 24;
  uint64_t span_key(Stream stream, int64_t diagonal) const;
  // Span runs: the values of a run of Reads or Writes (read_run, write_run), value c on the
  // diagonal c after the first's, all at positions [lo, hi], kept as one record under the key of
  // every bucket of 2^kSpanBucketBits diagonals they touch (the bucket above the stream bits)
  // instead of one span each.
  struct SpanRun {
    uint32_t first; // the first value's diagonal, offset as in a span key
    uint16_t count;
    uint16_t lo;
    uint16_t hi;
    uint16_t writer;
  };
  static constexpr unsigned kSpanBucketBits = 6;
  static uint64_t bucket_key(uint64_t span_key) {
    return (span_key >> (kDiagonalShift + kSpanBucketBits)) << kDiagonalShift | (span_key & kStreamBits);
  }
  // Per bucket, one bit per stream (id << 1 | west) where a single span was ever inserted
  // (`points`) and where a run was (`runs`): a run's test probes single spans only in buckets
  // that had some, and a single test probes runs only where there were some. A rollback leaves
  // its bits set (a probe more, never a conflict missed).
  struct BucketMarks {
    uint64_t points[2];
    uint64_t runs[2];
  };
  // marks_[i] is bucket kFirstMarkedBucket + i: diagonals down to -1,024 are marked exactly,
  // lower ones count as marked.
  static constexpr uint64_t kFirstMarkedBucket = (uint64_t(kDiagonalOffset) >> kSpanBucketBits) - 16;
  // Inline: every stream test of a schedule with runs asks.
  bool marked(uint64_t span_key, bool run) const {
    const uint64_t bucket = span_key >> (kDiagonalShift + kSpanBucketBits);
    if (bucket < kFirstMarkedBucket) return true;
    const auto i = static_cast<size_t>(bucket - kFirstMarkedBucket);
    if (i >= marks_.size()) return false;
    const auto stream = unsigned(span_key & kStreamBits);
    const uint64_t* bits = run ? marks_[i].runs : marks_[i].points;
    return (bits[stream >> 6] >> (stream & 63) & 1) != 0;
  }
  void mark(uint64_t span_key, bool run);
  // Single spans are marked once a run exists (before, no test asks): a kernel without runs
  // pays a flag test per span.
  void mark_point(uint64_t span_key) {
    if (has_span_runs_) mark(span_key, false);
  }
  // Whether a run covers the diagonal of `key` at a position of [lo, hi], other than the one of
  // `except_writer` (-1: any run); the bucket's marks first.
  bool run_overlaps(uint64_t key, unsigned lo, unsigned hi, int except_writer) const;
  // The spans of `count` values, the first's `first` on stream `id` (< streams per direction)
  // and each next one a diagonal on, as one run record written at `writer`; false reserves
  // nothing.
  bool claim_reach_run(const Reach& first, unsigned id, unsigned count, unsigned writer);
  void erase_span_run(uint64_t key, unsigned count, unsigned writer);
  uint64_t bank_key(unsigned mem, uint32_t address, Cycle t) const {
    return (static_cast<uint64_t>(t) << 24) | (uint64_t(mem) << 12) | (address / words_per_bank_);
  }
  bool bank_free_with_runs(unsigned mem, uint32_t address, Cycle t) const;
  // Bank-port runs: one access in each SRAM cycle [first, first + count) of one bank, kept under
  // the key of every bucket of 2^kRunBucketBits cycles they touch (a cycle's runs are in its
  // bucket).
  struct BankRun {
    Cycle first;
    uint32_t count;
  };
  static constexpr unsigned kRunBucketBits = 6;
  // Per bucket, a bit per MEM whose bank runs touch it (never cleared): a bank test of a MEM that
  // single accesses use too (the vector searches test its ports) probes the run table only where
  // runs are.
  bool run_marked(unsigned mem, Cycle bucket) const {
    if (bucket < 0) return true;
    const auto i = static_cast<size_t>(bucket) * mark_words_ + mem / 64;
    return i < bank_run_marks_.size() && (bank_run_marks_[i] >> (mem % 64) & 1) != 0;
  }
  uint64_t run_key(unsigned mem, unsigned bank, Cycle t) const;
  // Accesses of (mem, bank) in SRAM cycle t held by runs, and by single accesses.
  unsigned run_accesses(unsigned mem, unsigned bank, Cycle t) const;
  unsigned point_accesses(unsigned mem, unsigned bank, Cycle t) const;
  // Whether a run of (mem, bank) holds a cycle of [first, end).
  bool runs_overlap(unsigned mem, unsigned bank, Cycle first, Cycle end) const;
  // Whether one more access fits in every cycle of [first, first + count) of (mem, bank).
  bool bank_cycles_free(unsigned mem, unsigned bank, Cycle first, unsigned count) const;
  // Takes one port of (mem, bank) in those cycles as one run (bank_cycles_free has said they have
  // one).
  void reserve_bank_run(unsigned mem, unsigned bank, Cycle first, unsigned count);
  void erase_bank_run(unsigned mem, unsigned bank, Cycle first, unsigned count);
  // The bank ports of read_run's words, accessed in SRAM cycles sram, sram + 1, ...; false leaves
  // what it reserved to the caller's rollback.
  bool reserve_run_banks(unsigned mem, uint32_t address, unsigned count, Cycle sram);
  // read_run's banks: every bank its words fall in, each for its own cycles.
  bool run_banks_free(unsigned mem, uint32_t address, unsigned count, Cycle sram) const;
  // Whether a span on diagonal `key` other than the one of `except_writer` covers a position of
  // [lo, hi] (except_writer -1: any span).
  bool overlaps(uint64_t key, unsigned lo, unsigned hi, int except_writer) const;
  void erase_slot(unsigned queue, Cycle t);
  // Calls visit(queue) for the queues of `slice` in place_on_slice's order (`preference`, local
  // numbers, then the others in order) until it returns true.
  template <class Visit>
  void visit_queues(unsigned slice, const std::vector<unsigned>& preference, Visit visit) const;

  ChipConfig config_;
  Floorplan floorplan_;
  // Per global MEM number, from the floorplan once: every Read and Write asks them.
  struct MemSite {
    unsigned slice;
    unsigned position;
    unsigned queue;
    // Whether a Write to it was ever placed: written() of the other MEMs (every Read asks,
    // thrice) skips the table, inline.
    bool has_writes;
    // Whether a bank port of it was ever taken by a single access, or by a run: a bank test skips
    // the table that holds none of its accesses.
    bool has_bank_points;
    bool has_bank_runs;
  };
  static std::vector<MemSite> mem_sites(const Floorplan& floorplan);
  std::vector<MemSite> mems_;
  Cycle floor_ = 0;
  unsigned hop_;
  // A Read's and a Write's latencies (program/latency.h), asked once: every stream access uses them.
  Cycle read_skew_;
  Cycle read_func_;
  Cycle write_skew_;
  // Their activity_end - t, so that last_active decodes neither.
  uint32_t read_active_;
  uint32_t write_active_;
  // Appends the run of `count` copies of `word` to `queue` from `first` (free: the caller has
  // tested them) with their bits and one undo entry.
  void take_slot_run(unsigned queue, Cycle first, unsigned count, uint64_t word, uint32_t active);
  // A Read of (mem, address) in SRAM cycle `at`: its word's last Read, where reads are kept.
  // Inline: every placed Read asks.
  void note_read(unsigned mem, uint32_t address, Cycle at) {
    const uint64_t key = (uint64_t(mem) << 32) | address;
    if (auto* entry = read_.find(key)) {
      undo_.push_back({key, entry->value, 0, 0, 0, UndoKind::read});
      entry->value = std::max(entry->value, at);
    } else if (track_reads_) {
      undo_.push_back({key, -1, 0, 0, 0, UndoKind::read_new});
      read_.insert(key, at);
    }
  }
  // A Write of (mem, address) in SRAM cycle `at`: the word's write cycle (written()).
  void note_write(unsigned mem, uint32_t address, Cycle at);
  // place of an encoded word with its activity_end - t (PlacedSlot::kUnknown or more: not known).
  bool place_word(unsigned queue, Cycle t, uint64_t word, uint32_t active);
  static uint16_t slot_active(uint32_t active) {
    return static_cast<uint16_t>(std::min<uint32_t>(active, PlacedSlot::kUnknown));
  }
  // encode(make_read(address, stream)) from the Read's field positions: every Read is encoded
  // here and only its address and stream vary. Values out of range go to encode, which refuses
  // them.
  uint64_t read_word(uint32_t address, Stream stream) const;
  // The Read's address and stream fields: their lowest bit and largest value (field_max).
  struct WordField {
    unsigned lsb;
    int64_t max;
  };
  static WordField read_field(size_t operand);
  WordField read_address_;
  WordField read_stream_;
  // bank_key's divisor, from the config once: every bank test asks it.
  unsigned words_per_bank_;
  // Whether a queue's slot is taken, one bit per cycle: the searches test slots far more often
  // than they place instructions.
  bool taken(unsigned queue, Cycle t) const;
  // The first cycle in [t, end) (t >= 0) at which `queue`'s slot is taken, or `end` if none: the
  // searches ask whether a run of slots is free, so the scan stops at the run's end (a queue
  // free to the end of its bits would otherwise be scanned to there).
  Cycle next_taken(unsigned queue, Cycle t, Cycle end) const;
  void set_taken(unsigned queue, Cycle t, bool value);
  // The taken bits of `queue` in cycles [64 * word, 64 * word + 64), with its fetch cycles.
  uint64_t taken_word(unsigned queue, size_t word) const;

  // Per queue, its instructions in placement order (appends are cheap wherever the cycle falls),
  // sorted by cycle when read; `sorted_` says whether they still are.
  mutable std::vector<std::vector<PlacedSlot>> slots_;
  mutable std::vector<bool> sorted_;
  uint32_t region_ = RegionRun::kNoRegion;
  std::vector<std::vector<uint64_t>> taken_;
  std::vector<Cycle> fetch_period_; // per queue, keep_fetch_cycles' period (0: none)
  Spans spans_;
  FlatTable<SpanRun> span_runs_; // (bucket, stream) -> the span runs touching the bucket
  std::vector<BucketMarks> marks_;
  // Whether a span run was ever claimed.
  bool has_span_runs_ = false;
  FlatTable<uint32_t> banks_; // (cycle, mem, bank) -> accesses
  FlatTable<BankRun> bank_runs_; // (bucket, mem, bank) -> the runs touching the bucket
  std::vector<uint64_t> bank_run_marks_; // mark_words_ per bucket
  unsigned mark_words_;
  FlatTable<Cycle> written_;  // (mem, address) -> SRAM write cycle
  bool track_reads_ = false;
  FlatTable<Cycle> read_; // (mem, address) -> last SRAM read cycle (-1: none yet), when tracked
  std::vector<Undo> undo_;
};

// Instruction constructors in ISA operand order.
Instruction make_read(uint32_t address, Stream dst);
Instruction make_write(uint32_t address, Stream src);
Instruction make_lw(isa::DType dtype, Stream src);
Instruction make_iw();
Instruction make_abc(isa::DType dtype, Stream src, unsigned acc, bool add);
Instruction make_acc(Stream dst, unsigned acc);
Instruction make_vxm_unary(isa::Opcode opcode, isa::DType dtype, Stream dst, Stream src);
Instruction make_vxm_binary(isa::Opcode opcode, isa::DType dtype, Stream dst, Stream a, Stream b);
Instruction make_send(unsigned link, Stream src);
Instruction make_receive(unsigned link, Stream dst);

// The last cycle in which an instruction dispatched at t is active (reads, writes, SRAM).
Cycle activity_end(const Instruction& instruction, Cycle t, const ChipConfig& config);

} // namespace tsp::compiler
