#include "tspsim/compiler/schedule.h"

#include "tspsim/program/encoding.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/timing_rules.h"

#include <algorithm>

namespace tsp::compiler {

using isa::Opcode;

namespace {

// The field a Repeat advances: the first address field or the MXM accumulator index (null: none).
const isa::FieldSpec* strided_field(const isa::OpcodeSpec& spec) {
  for (const isa::FieldSpec& field : spec.operand_fields())
    if (field.kind == isa::FieldKind::address || field.name == "acc") return &field;
  return nullptr;
}

Instruction make(Opcode opcode, std::initializer_list<int64_t> operands) {
  Instruction instruction;
  instruction.opcode = opcode;
  size_t i = 0;
  for (int64_t value : operands) instruction.operands[i++] = value;
  return instruction;
}

// encode(make(opcode, values)) for values the caller has kept within their fields' ranges: the
// NOPs and Repeats of a queue's text (bounded by repeat_limits, which the fields set), one or two
// per run of Reads.
uint64_t word_in_range(Opcode opcode, std::initializer_list<int64_t> values) {
  const auto fields = isa::spec(opcode).operand_fields();
  uint64_t word = static_cast<uint8_t>(opcode);
  size_t i = 0;
  for (int64_t value : values) {
    const isa::FieldSpec& field = fields[i++];
    word |= (static_cast<uint64_t>(value) << field.lsb) & field_mask(field);
  }
  return word;
}

} // namespace

uint64_t copy_step(uint64_t word) {
  const isa::FieldSpec* field = strided_field(*isa::find_opcode(static_cast<uint8_t>(word)));
  return field ? uint64_t{1} << field->lsb : 0;
}

Instruction make_read(uint32_t address, Stream dst) { return make(Opcode::read, {address, dst.field()}); }
Instruction make_write(uint32_t address, Stream src) { return make(Opcode::write, {address, src.field()}); }
Instruction make_lw(isa::DType dtype, Stream src) {
  return make(Opcode::lw, {static_cast<int64_t>(dtype), src.field()});
}
Instruction make_iw() { return make(Opcode::iw, {}); }
Instruction make_send(unsigned link, Stream src) { return make(Opcode::send, {link, src.field()}); }
Instruction make_receive(unsigned link, Stream dst) { return make(Opcode::receive, {link, dst.field()}); }
Instruction make_abc(isa::DType dtype, Stream src, unsigned acc, bool add) {
  return make(Opcode::abc, {static_cast<int64_t>(dtype), src.field(), acc, add ? 1 : 0});
}
Instruction make_acc(Stream dst, unsigned acc) { return make(Opcode::acc, {dst.field(), acc}); }
Instruction make_vxm_unary(Opcode opcode, isa::DType dtype, Stream dst, Stream src) {
  return make(opcode, {static_cast<int64_t>(dtype), dst.field(), src.field()});
}
Instruction make_vxm_binary(Opcode opcode, isa::DType dtype, Stream dst, Stream a, Stream b) {
  return make(opcode, {static_cast<int64_t>(dtype), dst.field(), a.field(), b.field()});
}

Cycle activity_end(const Instruction& instruction, Cycle t, const ChipConfig& config) {
  const auto& spec = instruction.spec();
  switch (instruction.opcode) {
  case Opcode::lw:
    return t + skew_cycles(instruction, config) +
           lw_cycles(static_cast<isa::DType>(instruction.operands[0]), config) - 1;
  case Opcode::abc:
  case Opcode::send:
    return t + skew_cycles(instruction, config);
  case Opcode::ifetch:
    return t + Cycle(ifetch_read_cycles(config)) + instruction.operands[2] - 1;
  default:
    break;
  }
  if (spec.unit == isa::Unit::icu) return t;
  Cycle end = t + skew_cycles(instruction, config);
  if (spec.func != isa::TimingParam::none) end = std::max<Cycle>(end, t + func_cycles(instruction, config));
  return end;
}

std::vector<Schedule::MemSite> Schedule::mem_sites(const Floorplan& floorplan) {
  std::vector<MemSite> sites;
  sites.reserve(floorplan.mem_count());
  for (unsigned mem = 0; mem < floorplan.mem_count(); ++mem) {
    const SliceInfo& info = floorplan.slices()[floorplan.slice_of_mem(mem)];
    sites.push_back({floorplan.slice_of_mem(mem), info.position, info.first_queue, false, false, false});
  }
  return sites;
}

Schedule::Schedule(const ChipConfig& config)
    : config_(config), floorplan_(config.geometry, config.icu), mems_(mem_sites(floorplan_)),
      hop_(config.streams.hop_cycles), read_skew_(Cycle(skew_cycles(make_read(0, {}), config))),
      read_func_(Cycle(func_cycles(make_read(0, {}), config))),
      write_skew_(Cycle(skew_cycles(make_write(0, {}), config))),
      read_active_(uint32_t(activity_end(make_read(0, {}), 0, config))),
      write_active_(uint32_t(activity_end(make_write(0, {}), 0, config))), read_address_(read_field(0)),
      read_stream_(read_field(1)), words_per_bank_(config.geometry.words_per_bank()),
      slots_(floorplan_.queues().size()), sorted_(floorplan_.queues().size(), true),
      taken_(floorplan_.queues().size()), fetch_period_(floorplan_.queues().size(), 0),
      mark_words_((floorplan_.mem_count() + 63) / 64) {}

Cycle Schedule::travel(unsigned from, unsigned to) const {
  return Cycle(from > to ? from - to : to - from) * hop_;
}

bool Schedule::taken(unsigned queue, Cycle t) const {
  const auto& bits = taken_[queue];
  const auto word = static_cast<size_t>(t / 64);
  const Cycle period = fetch_period_[queue];
  return (word < bits.size() && (bits[word] >> (t % 64) & 1) != 0) ||
         (period != 0 && t % period == period - 1);
}

void Schedule::keep_fetch_cycles(unsigned queue, Cycle period) {
  if (period < 2) throw std::logic_error("keep_fetch_cycles: a period of at least 2 cycles");
  fetch_period_.at(queue) = period;
}

Schedule Schedule::empty_like() const {
  Schedule empty(config_);
  empty.fetch_period_ = fetch_period_;
  return empty;
}

uint64_t Schedule::taken_word(unsigned queue, size_t word) const {
  const auto& bits = taken_[queue];
  uint64_t out = word < bits.size() ? bits[word] : 0;
  const Cycle period = fetch_period_[queue];
  if (period == 0) return out;
  const Cycle first = Cycle(word) * 64;
  for (Cycle t = first + (period - 1 - first % period); t < first + 64; t += period)
    out |= uint64_t{1} << (t - first);
  return out;
}

void Schedule::set_taken(unsigned queue, Cycle t, bool value) {
  auto& bits = taken_[queue];
  const auto word = static_cast<size_t>(t / 64);
  if (word >= bits.size()) bits.resize(std::max(word + 1, bits.size() * 2), 0);
  const uint64_t mask = uint64_t{1} << (t % 64);
  bits[word] = value ? bits[word] | mask : bits[word] & ~mask;
}

bool Schedule::slot_free(unsigned queue, Cycle t) const { return t >= floor_ && !taken(queue, t); }

Cycle Schedule::next_free_slot(unsigned queue, Cycle t) const {
  t = std::max(t, floor_);
  const auto& bits = taken_[queue];
  auto word = static_cast<size_t>(t / 64);
  // Past the bits only the fetch cycles are taken, and a period of 2 or more leaves a free one in
  // every word.
  const bool kept = fetch_period_[queue] != 0;
  if (word >= bits.size() && !kept) return t;
  uint64_t free = ~taken_word(queue, word) & (~uint64_t{0} << (t % 64));
  while (free == 0) {
    if (++word >= bits.size() && !kept) return Cycle(word * 64);
    free = ~taken_word(queue, word);
  }
  return Cycle(word * 64) + __builtin_ctzll(free);
}

Cycle Schedule::next_taken(unsigned queue, Cycle t, Cycle end) const {
  if (t >= end) return end;
  const Cycle period = fetch_period_[queue];
  // The next fetch cycle bounds the scan: past it nothing placed matters.
  if (period != 0) end = std::min(end, t + (period - 1 - t % period));
  const auto& bits = taken_[queue];
  if (t >= end) return end;
  const auto last = std::min(static_cast<size_t>((end - 1) / 64), bits.size());
  auto word = static_cast<size_t>(t / 64);
  if (word >= bits.size()) return end;
  uint64_t busy = bits[word] & (~uint64_t{0} << (t % 64));
  while (busy == 0) {
    if (++word > last || word >= bits.size()) return end;
    busy = bits[word];
  }
  return std::min(end, Cycle(word * 64) + __builtin_ctzll(busy));
}

bool Schedule::place(unsigned queue, Cycle t, const Instruction& instruction) {
  return place_word(queue, t, encode(instruction), PlacedSlot::kUnknown);
}

bool Schedule::place_word(unsigned queue, Cycle t, uint64_t word, uint32_t active) {
  if (!slot_free(queue, t)) return false;
  auto& slots = slots_[queue];
  if (!slots.empty() && slots.back().t > t) sorted_[queue] = false;
  slots.push_back({t, word, region_, slot_active(active), 1});
  set_taken(queue, t, true);
  undo_.push_back({0, t, static_cast<uint16_t>(queue), 0, 0, UndoKind::slot});
  return true;
}

void Schedule::erase_slot(unsigned queue, Cycle t) {
  auto& slots = slots_[queue];
  // Rollbacks undo the latest placements, so the slot is almost always the last one.
  auto it = slots.end();
  while ((--it)->t != t) {
  }
  for (Cycle c = t; c < t + it->count; ++c) set_taken(queue, c, false);
  slots.erase(it);
}

const std::vector<PlacedSlot>& Schedule::queue_slots(unsigned queue) const {
  if (!sorted_[queue]) {
    std::sort(slots_[queue].begin(), slots_[queue].end(),
              [](const PlacedSlot& a, const PlacedSlot& b) { return a.t < b.t; });
    sorted_[queue] = true;
  }
  return slots_[queue];
}

template <class Visit>
void Schedule::visit_queues(unsigned slice, const std::vector<unsigned>& preference, Visit visit) const {
  const SliceInfo& info = floorplan_.slices()[slice];
  for (unsigned local : preference)
    if (local < info.queue_count && visit(info.first_queue + local)) return;
  for (unsigned local = 0; local < info.queue_count; ++local)
    if (std::find(preference.begin(), preference.end(), local) == preference.end() &&
        visit(info.first_queue + local))
      return;
}

int Schedule::place_on_slice(unsigned slice, Cycle t, const Instruction& instruction,
                             const std::vector<unsigned>& preference) {
  int placed = -1;
  visit_queues(slice, preference, [&](unsigned queue) {
    if (place(queue, t, instruction)) placed = static_cast<int>(queue);
    return placed >= 0;
  });
  return placed;
}

unsigned Schedule::slice_run(unsigned slice, Cycle t, unsigned count, unsigned queue,
                             const std::vector<unsigned>& preference) const {
  bool reached = false;
  visit_queues(slice, preference, [&](unsigned tried) {
    if (tried == queue) {
      count = free_run(queue, t, count);
      reached = true;
      return true;
    }
    // Taken up to its next free slot.
    count = unsigned(std::min<Cycle>(count, next_free_slot(tried, t) - t));
    return count == 0;
  });
  return reached ? count : 0;
}

unsigned Schedule::free_run(unsigned queue, Cycle t, unsigned count) const {
  if (t < floor_) return 0;
  return unsigned(next_taken(queue, t, t + Cycle(count)) - t);
}

bool Schedule::place_run(unsigned queue, Cycle first, unsigned count, const Instruction& instruction) {
  if (count == 0 || count > UINT16_MAX || free_run(queue, first, count) < count) return false;
  const isa::FieldSpec* field = strided_field(instruction.spec());
  // Copy c is the first word plus c in the field when the last copy's word is (encode refuses a
  // field out of range, and a negative one that turns positive is not).
  Instruction last = instruction;
  if (field) last.operands[size_t(field - instruction.spec().operand_fields().begin())] += count - 1;
  const uint64_t word = encode(instruction);
  const uint64_t step = field ? uint64_t{1} << field->lsb : 0;
  if (encode(last) != word + (count - 1) * step) return false;
  take_slot_run(queue, first, count, word, uint32_t(activity_end(instruction, 0, config_)));
  return true;
}

bool Schedule::slice_free(unsigned slice, Cycle t) const {
  const SliceInfo& info = floorplan_.slices()[slice];
  for (unsigned local = 0; local < info.queue_count; ++local)
    if (slot_free(info.first_queue + local, t)) return true;
  return false;
}

Cycle Schedule::next_free_on_slice(unsigned slice, Cycle t) const {
  const SliceInfo& info = floorplan_.slices()[slice];
  Cycle first = next_free_slot(info.first_queue, t);
  for (unsigned local = 1; local < info.queue_count; ++local)
    first = std::min(first, next_free_slot(info.first_queue + local, t));
  return first;
}

int64_t Schedule::diagonal(Stream stream, unsigned position, Cycle t) const {
  return stream_diagonal(stream.dir == Dir::west, position, t, hop_);
}

uint64_t Schedule::span_key(Stream stream, int64_t diagonal) const {
  return (static_cast<uint64_t>(diagonal + kDiagonalOffset) << kDiagonalShift) | (uint64_t(stream.id) << 1) |
         (stream.dir == Dir::west ? 1u : 0u);
}

bool Schedule::overlaps(uint64_t key, unsigned lo, unsigned hi, int except_writer) const {
  return spans_.find_if(key,
                        [&](const Spans::Entry& e) {
                          const Span& s = e.value;
                          return int{s.writer} != except_writer && !(hi < s.lo || lo > s.hi);
                        }) != nullptr ||
         (has_span_runs_ && run_overlaps(key, lo, hi, except_writer));
}

void Schedule::mark(uint64_t span_key, bool run) {
  const uint64_t bucket = span_key >> (kDiagonalShift + kSpanBucketBits);
  if (bucket < kFirstMarkedBucket) return;
  const auto i = static_cast<size_t>(bucket - kFirstMarkedBucket);
  if (i >= marks_.size()) marks_.resize(std::max(i + 1, marks_.size() * 2), BucketMarks{});
  const unsigned stream = unsigned(span_key & kStreamBits);
  uint64_t* bits = run ? marks_[i].runs : marks_[i].points;
  bits[stream >> 6] |= uint64_t{1} << (stream & 63);
}

bool Schedule::run_overlaps(uint64_t key, unsigned lo, unsigned hi, int except_writer) const {
  if (!marked(key, true)) return false;
  const uint64_t d = key >> kDiagonalShift;
  return span_runs_.find_if(bucket_key(key), [&](const FlatTable<SpanRun>::Entry& e) {
    const SpanRun& r = e.value;
    return r.first <= d && d < uint64_t{r.first} + r.count && int{r.writer} != except_writer &&
           !(hi < r.lo || lo > r.hi);
  }) != nullptr;
}

bool Schedule::stream_run_free(const Reach& first, unsigned id, unsigned count) const {
  if (!first.valid || id >= config_.streams.per_direction) return false;
  const uint64_t key = first.key | (uint64_t(id) << 1);
  const uint64_t d0 = key >> kDiagonalShift;
  const uint64_t end = d0 + count;
  for (uint64_t d = d0; d < end;) {
    // The diagonals [d, bucket_end) of one bucket: its runs at once, its single spans one by one.
    const uint64_t bucket_end = std::min(end, ((d >> kSpanBucketBits) + 1) << kSpanBucketBits);
    const uint64_t at = (d << kDiagonalShift) | (key & kStreamBits);
    if (has_span_runs_ && marked(at, true) &&
        span_runs_.find_if(bucket_key(at), [&](const FlatTable<SpanRun>::Entry& e) {
          const SpanRun& r = e.value;
          return r.first < bucket_end && d < uint64_t{r.first} + r.count &&
                 !(first.hi < r.lo || first.lo > r.hi);
        }))
      return false;
    // Single spans are marked once a run exists.
    if (!has_span_runs_ || marked(at, false))
      for (uint64_t c = d; c < bucket_end; ++c)
        if (spans_.find_if((c << kDiagonalShift) | (key & kStreamBits), [&](const Spans::Entry& e) {
              return !(first.hi < e.value.lo || first.lo > e.value.hi);
            }))
          return false;
    d = bucket_end;
  }
  return true;
}

bool Schedule::claim_reach_run(const Reach& first, unsigned id, unsigned count, unsigned writer) {
  if (!stream_run_free(first, id, count)) return false;
  if (count == 0) return true;
  if (!has_span_runs_) {
    // The first run: its tests need the buckets of the single spans placed so far.
    has_span_runs_ = true;
    spans_.for_each_entry([&](const Spans::Entry& e) { mark(e.key, false); });
  }
  const uint64_t key = first.key | (uint64_t(id) << 1);
  const uint64_t d0 = key >> kDiagonalShift;
  const SpanRun run{uint32_t(d0), uint16_t(count), first.lo, first.hi, uint16_t(writer)};
  for (uint64_t bucket = d0 >> kSpanBucketBits; bucket <= (d0 + count - 1) >> kSpanBucketBits; ++bucket) {
    const uint64_t at = (bucket << (kDiagonalShift + kSpanBucketBits)) | (key & kStreamBits);
    span_runs_.insert(bucket_key(at), run);
    mark(at, true);
  }
  undo_.push_back({key, 0, uint16_t(writer), uint16_t(count), 0, UndoKind::span_run});
  return true;
}

void Schedule::erase_span_run(uint64_t key, unsigned count, unsigned writer) {
  const uint64_t d0 = key >> kDiagonalShift;
  for (uint64_t bucket = d0 >> kSpanBucketBits; bucket <= (d0 + count - 1) >> kSpanBucketBits; ++bucket)
    span_runs_.erase(span_runs_.find_if(
        (bucket << kDiagonalShift) | (key & kStreamBits),
        [&](const FlatTable<SpanRun>::Entry& e) { return e.value.first == d0 && e.value.writer == writer; }));
}

bool Schedule::claim_write(Stream stream, unsigned position, Cycle t) {
  if (t < 0 || stream.id >= config_.streams.per_direction) return false;
  const uint64_t key = span_key(stream, diagonal(stream, position, t));
  if (overlaps(key, position, position, -1)) return false;
  const auto p = static_cast<uint16_t>(position);
  spans_.insert(key, {p, p, p});
  mark_point(key);
  undo_.push_back({key, 0, p, 0, 0, UndoKind::span_new});
  return true;
}

bool Schedule::extend_read(Stream stream, unsigned writer, Cycle t, unsigned reader) {
  if (stream.dir == Dir::east ? reader < writer : reader > writer) return false;
  const uint64_t key = span_key(stream, diagonal(stream, writer, t));
  Spans::Entry* entry = spans_.find_if(key, [&](const Spans::Entry& e) { return e.value.writer == writer; });
  if (!entry) return false;
  Span& s = entry->value;
  const unsigned lo = std::min<unsigned>(s.lo, reader);
  const unsigned hi = std::max<unsigned>(s.hi, reader);
  if (overlaps(key, lo, hi, int(writer))) return false;
  undo_.push_back({key, 0, s.writer, s.lo, s.hi, UndoKind::span_grow});
  s.lo = static_cast<uint16_t>(lo);
  s.hi = static_cast<uint16_t>(hi);
  return true;
}

template <bool kRuns>
bool Schedule::claim_value_in(Stream stream, unsigned writer, Cycle t, unsigned reader) {
  if (t < 0 || stream.id >= config_.streams.per_direction) return false;
  if (stream.dir == Dir::east ? reader < writer : reader > writer) return false;
  const uint64_t key = span_key(stream, diagonal(stream, writer, t));
  const unsigned lo = std::min(writer, reader);
  const unsigned hi = std::max(writer, reader);
  const auto w = static_cast<uint16_t>(writer);
  if ((kRuns && run_overlaps(key, lo, hi, -1)) ||
      !spans_.insert_unless(key, {static_cast<uint16_t>(lo), static_cast<uint16_t>(hi), w},
                            [&](const Spans::Entry& e) { return !(hi < e.value.lo || lo > e.value.hi); }))
    return false;
  if (kRuns) mark(key, false);
  undo_.push_back({key, 0, w, 0, 0, UndoKind::span_new});
  return true;
}

bool Schedule::claim_value(Stream stream, unsigned writer, Cycle t, unsigned reader) {
  // Two copies: the vector searches claim and roll back values by the hundred thousand, mostly in
  // schedules without span runs, whose copy has no run test (and no registers saved for it).
  if (has_span_runs_) return claim_value_in<true>(stream, writer, t, reader);
  return claim_value_in<false>(stream, writer, t, reader);
}

bool Schedule::reserve_value(Stream stream, unsigned writer, Cycle t, const std::vector<unsigned>& readers) {
  const size_t m = mark();
  bool ok = claim_write(stream, writer, t);
  for (size_t i = 0; ok && i < readers.size(); ++i) ok = extend_read(stream, writer, t, readers[i]);
  if (!ok) rollback(m);
  return ok;
}

bool Schedule::stream_free(Stream stream, unsigned writer, Cycle t, unsigned reader) const {
  return stream_free(reach(stream.dir, writer, t, reader), stream.id);
}

Schedule::Reach Schedule::reach(Dir dir, unsigned writer, Cycle t, unsigned reader) const {
  if (t < 0) return {};
  const Stream first{0, dir};
  return {span_key(first, diagonal(first, writer, t)), static_cast<uint16_t>(std::min(writer, reader)),
          static_cast<uint16_t>(std::max(writer, reader)), true};
}

uint64_t Schedule::run_key(unsigned mem, unsigned bank, Cycle t) const {
  return (static_cast<uint64_t>(t >> kRunBucketBits) << 24) | (uint64_t(mem) << 12) | bank;
}

unsigned Schedule::run_accesses(unsigned mem, unsigned bank, Cycle t) const {
  unsigned n = 0;
  if (mems_[mem].has_bank_runs && run_marked(mem, t >> kRunBucketBits))
    bank_runs_.for_each(run_key(mem, bank, t), [&](const FlatTable<BankRun>::Entry& e) {
      if (e.value.first <= t && t < e.value.first + Cycle(e.value.count)) ++n;
    });
  return n;
}

unsigned Schedule::point_accesses(unsigned mem, unsigned bank, Cycle t) const {
  if (!mems_[mem].has_bank_points) return 0;
  const auto* entry = banks_.find(bank_key(mem, bank * words_per_bank_, t));
  return entry ? entry->value : 0;
}

bool Schedule::runs_overlap(unsigned mem, unsigned bank, Cycle first, Cycle end) const {
  if (!mems_[mem].has_bank_runs) return false;
  for (Cycle bucket = first >> kRunBucketBits; bucket <= (end - 1) >> kRunBucketBits; ++bucket)
    if (run_marked(mem, bucket) && bank_runs_.find_if(run_key(mem, bank, bucket << kRunBucketBits),
                                                      [&](const FlatTable<BankRun>::Entry& e) {
                                                        return e.value.first < end &&
                                                               first < e.value.first + Cycle(e.value.count);
                                                      }))
      return true;
  return false;
}

bool Schedule::bank_cycles_free(unsigned mem, unsigned bank, Cycle first, unsigned count) const {
  const unsigned ports = config_.geometry.mem_ports_per_bank;
  const Cycle end = first + Cycle(count);
  if (ports == 1) {
    // One port: any run in the cycles takes it, and each cycle's point entry, if any.
    if (runs_overlap(mem, bank, first, end)) return false;
    for (Cycle t = first; mems_[mem].has_bank_points && t < end; ++t)
      if (point_accesses(mem, bank, t) > 0) return false;
    return true;
  }
  for (Cycle t = first; t < end; ++t)
    if (point_accesses(mem, bank, t) + run_accesses(mem, bank, t) >= ports) return false;
  return true;
}

void Schedule::reserve_bank_run(unsigned mem, unsigned bank, Cycle first, unsigned count) {
  const Cycle last = first + Cycle(count) - 1;
  for (Cycle bucket = first >> kRunBucketBits; bucket <= last >> kRunBucketBits; ++bucket) {
    bank_runs_.insert(run_key(mem, bank, bucket << kRunBucketBits), {first, count});
    const auto i = static_cast<size_t>(bucket) * mark_words_ + mem / 64;
    if (i >= bank_run_marks_.size())
      bank_run_marks_.resize(std::max(i + mark_words_, bank_run_marks_.size() * 2), 0);
    bank_run_marks_[i] |= uint64_t{1} << (mem % 64);
  }
  mems_[mem].has_bank_runs = true;
  undo_.push_back(
      {(uint64_t(mem) << 32) | bank, first, 0, static_cast<uint16_t>(count), 0, UndoKind::bank_run});
}

void Schedule::erase_bank_run(unsigned mem, unsigned bank, Cycle first, unsigned count) {
  const Cycle last = first + Cycle(count) - 1;
  for (Cycle bucket = first >> kRunBucketBits; bucket <= last >> kRunBucketBits; ++bucket)
    bank_runs_.erase(bank_runs_.find_if(run_key(mem, bank, bucket << kRunBucketBits),
                                        [&](const FlatTable<BankRun>::Entry& e) {
                                          return e.value.first == first && e.value.count == count;
                                        }));
}

bool Schedule::run_banks_free(unsigned mem, uint32_t address, unsigned count, Cycle sram) const {
  for (uint32_t word = address; word < address + count;) {
    const unsigned bank = word / words_per_bank_;
    const uint32_t end = std::min<uint32_t>(address + count, (bank + 1) * words_per_bank_);
    if (!bank_cycles_free(mem, bank, sram + (word - address), end - word)) return false;
    word = end;
  }
  return true;
}

bool Schedule::bank_free_with_runs(unsigned mem, uint32_t address, Cycle t) const {
  const unsigned bank = address / words_per_bank_;
  return point_accesses(mem, bank, t) + run_accesses(mem, bank, t) < config_.geometry.mem_ports_per_bank;
}

unsigned Schedule::bank_free_run(unsigned mem, uint32_t address, Cycle t, unsigned count) const {
  // Each word's entry is a cache miss in a large table: they are fetched some words ahead.
  constexpr unsigned kAhead = 16;
  for (unsigned c = 0; c < count; ++c) {
    if (mems_[mem].has_bank_points && c + kAhead < count)
      banks_.prefetch(bank_key(mem, address + c + kAhead, t + Cycle(c + kAhead)));
    if (!bank_free(mem, address + c, t + Cycle(c))) return c;
  }
  return count;
}

bool Schedule::reserve_bank(unsigned mem, uint32_t address, Cycle t) {
  if (t < 0) return false;
  MemSite& site = mems_[mem];
  const unsigned ports = config_.geometry.mem_ports_per_bank;
  const unsigned runs = site.has_bank_runs ? run_accesses(mem, address / words_per_bank_, t) : 0;
  if (runs >= ports) return false;
  const uint64_t key = bank_key(mem, address, t);
  bool inserted = false;
  auto& entry = banks_.find_or_insert(key, 1, inserted);
  if (!inserted) {
    if (entry.value + runs >= ports) return false;
    ++entry.value;
  }
  site.has_bank_points = true;
  undo_.push_back({key, 0, 0, 0, 0, UndoKind::bank});
  return true;
}

Cycle Schedule::read_dispatch(unsigned mem, unsigned reader, Cycle t) const {
  return t - travel(mem_position(mem), reader) - read_func_;
}

bool Schedule::read_possible(unsigned mem, uint32_t address, unsigned reader, Cycle t) const {
  const Cycle dispatch = read_dispatch(mem, reader, t);
  return dispatch >= 0 && slot_free(mem_queue(mem), dispatch) &&
         bank_free(mem, address, dispatch + read_skew_) && dispatch + read_skew_ > written(mem, address);
}

Cycle Schedule::next_readable(unsigned mem, uint32_t address, unsigned reader, Cycle t) const {
  const unsigned queue = mem_queue(mem);
  const Cycle lag = t - read_dispatch(mem, reader, t);
  // A Read dispatched at d accesses the SRAM at d + read_skew_, after the word's write.
  Cycle dispatch = std::max({t - lag, Cycle{0}, written(mem, address) + 1 - read_skew_});
  while (true) {
    dispatch = next_free_slot(queue, dispatch);
    if (bank_free(mem, address, dispatch + read_skew_)) return dispatch + lag;
    ++dispatch;
  }
}

Schedule::Reach Schedule::read_reach(unsigned mem, Dir dir, unsigned reader, Cycle t) const {
  return reach(dir, mem_position(mem), read_dispatch(mem, reader, t) + read_func_, reader);
}

bool Schedule::write_possible(unsigned mem, uint32_t address, unsigned writer, Cycle t) const {
  const Cycle dispatch = t + travel(writer, mem_position(mem)) - write_skew_;
  return dispatch >= 0 && dispatch + write_skew_ > last_read(mem, address) &&
         slot_free(mem_queue(mem), dispatch) && bank_free(mem, address, dispatch + write_skew_);
}

Cycle Schedule::next_read_slots(unsigned mem, unsigned reader, Cycle t, unsigned count) const {
  const unsigned queue = mem_queue(mem);
  const Cycle dispatch = read_dispatch(mem, reader, t);
  Cycle first = std::max<Cycle>(dispatch, 0);
  while (true) {
    first = next_free_slot(queue, first);
    const Cycle busy = next_taken(queue, first, first + Cycle(count));
    if (busy == first + Cycle(count)) return t + (first - dispatch);
    first = busy + 1;
  }
}

Cycle Schedule::next_write_slot(unsigned mem, unsigned writer, Cycle t) const {
  const Cycle lag = travel(writer, mem_position(mem)) - write_skew_;
  return next_free_slot(mem_queue(mem), t + lag) - lag;
}

bool Schedule::read_to(unsigned mem, uint32_t address, Stream stream, unsigned reader, Cycle t) {
  const Cycle dispatch = read_dispatch(mem, reader, t);
  if (dispatch < 0 || dispatch + read_skew_ <= written(mem, address)) return false;
  const unsigned position = mem_position(mem);
  const size_t m = mark();
  const bool ok = place_word(mem_queue(mem), dispatch, read_word(address, stream), read_active_) &&
                  reserve_bank(mem, address, dispatch + read_skew_) &&
                  claim_value(stream, position, dispatch + read_func_, reader);
  if (!ok) {
    rollback(m);
    return false;
  }
  note_read(mem, address, dispatch + read_skew_);
  return true;
}

bool Schedule::read_run(unsigned mem, uint32_t address, unsigned count, Stream stream, unsigned reader,
                        Cycle t) {
  const Cycle dispatch = read_dispatch(mem, reader, t);
  const unsigned queue = mem_queue(mem);
  if (dispatch < floor_ || count > UINT16_MAX ||
      next_taken(queue, dispatch, dispatch + Cycle(count)) < dispatch + Cycle(count))
    return false;
  const unsigned position = mem_position(mem);
  if (stream.id >= config_.streams.per_direction ||
      (stream.dir == Dir::east ? reader < position : reader > position))
    return false;
  for (unsigned c = 0; mems_[mem].has_writes && c < count; ++c)
    if (dispatch + read_skew_ + Cycle(c) <= written(mem, address + c)) return false;
  const size_t m = mark();
  bool ok = reserve_run_banks(mem, address, count, dispatch + read_skew_);
  // The last Read's address must fit its field too: encode refuses it, naming the field.
  if (ok && int64_t{address} + count - 1 > read_address_.max) encode(make_read(address + count - 1, stream));
  if (ok) take_slot_run(queue, dispatch, count, read_word(address, stream), read_active_);
  // The values' spans, one run: Read c's value is the first one's reach c diagonals on.
  ok = ok && claim_reach_run(reach(stream.dir, position, dispatch + read_func_, reader), stream.id, count,
                             position);
  // Reads are kept only where tracked: a schedule that keeps none skips the words.
  for (unsigned c = 0; ok && (track_reads_ || read_.size() != 0) && c < count; ++c)
    note_read(mem, address + c, dispatch + read_skew_ + Cycle(c));
  if (!ok) rollback(m);
  return ok;
}

void Schedule::take_slot_run(unsigned queue, Cycle first, unsigned count, uint64_t word, uint32_t active) {
  auto& slots = slots_[queue];
  if (!slots.empty() && slots.back().t > first) sorted_[queue] = false;
  slots.push_back({first, word, region_, slot_active(active), static_cast<uint16_t>(count)});
  auto& bits = taken_[queue];
  const auto words = static_cast<size_t>((first + Cycle(count) - 1) / 64 + 1);
  if (words > bits.size()) bits.resize(std::max(words, bits.size() * 2), 0);
  // A word of bits at a time: a run of ABCs holds hundreds of slots.
  const Cycle end = first + Cycle(count);
  for (Cycle t = first; t < end;) {
    const auto bit = unsigned(t % 64);
    const auto n = unsigned(std::min<Cycle>(64 - bit, end - t));
    const uint64_t ones = n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
    bits[static_cast<size_t>(t / 64)] |= ones << bit;
    t += n;
  }
  undo_.push_back(
      {0, first, static_cast<uint16_t>(queue), static_cast<uint16_t>(count), 0, UndoKind::slot_run});
}

bool Schedule::reserve_run_banks(unsigned mem, uint32_t address, unsigned count, Cycle sram) {
  if (!run_banks_free(mem, address, count, sram)) return false;
  for (uint32_t word = address; word < address + count;) {
    const unsigned bank = word / words_per_bank_;
    const uint32_t end = std::min<uint32_t>(address + count, (bank + 1) * words_per_bank_);
    reserve_bank_run(mem, bank, sram + (word - address), end - word);
    word = end;
  }
  return true;
}

Cycle Schedule::next_run_readable(unsigned mem, uint32_t address, unsigned count, unsigned reader,
                                  Cycle t) const {
  while (true) {
    t = next_read_slots(mem, reader, t, count);
    if (run_banks_free(mem, address, count, read_dispatch(mem, reader, t) + read_skew_)) return t;
    ++t;
  }
}

Cycle Schedule::run_readable_at(unsigned mem, uint32_t address, unsigned count, unsigned reader) const {
  if (!mems_[mem].has_writes) return readable_at(mem, address, reader);
  Cycle first = 0;
  for (unsigned c = 0; c < count; ++c)
    first = std::max(first, readable_at(mem, address + c, reader) - Cycle(c));
  return first;
}

Schedule::WordField Schedule::read_field(size_t operand) {
  const isa::FieldSpec& field = isa::spec(Opcode::read).operand_fields()[operand];
  return {field.lsb, field_max(field)};
}

uint64_t Schedule::read_word(uint32_t address, Stream stream) const {
  const int64_t field = stream.field();
  if (int64_t{address} > read_address_.max || field < 0 || field > read_stream_.max)
    return encode(make_read(address, stream));
  return uint64_t{static_cast<uint8_t>(Opcode::read)} | uint64_t{address} << read_address_.lsb |
         uint64_t(field) << read_stream_.lsb;
}

bool Schedule::write_from(unsigned mem, uint32_t address, Stream stream, unsigned writer, Cycle t) {
  const unsigned position = mem_position(mem);
  const Cycle dispatch = t + travel(writer, position) - write_skew_;
  if (dispatch < 0 || dispatch + write_skew_ <= last_read(mem, address)) return false;
  const size_t m = mark();
  const bool ok = place_word(mem_queue(mem), dispatch, encode(make_write(address, stream)), write_active_) &&
                  reserve_bank(mem, address, dispatch + write_skew_) &&
                  extend_read(stream, writer, t, position);
  if (!ok) {
    rollback(m);
    return false;
  }
  note_write(mem, address, dispatch + write_skew_);
  return true;
}

void Schedule::note_write(unsigned mem, uint32_t address, Cycle at) {
  const uint64_t key = (uint64_t(mem) << 32) | address;
  if (auto* entry = written_.find(key)) {
    undo_.push_back({key, entry->value, 0, 0, 0, UndoKind::written});
    entry->value = at;
  } else {
    undo_.push_back({key, -1, 0, 0, 0, UndoKind::written});
    written_.insert(key, at);
    mems_[mem].has_writes = true;
  }
}

bool Schedule::write_run(unsigned mem, uint32_t address, unsigned count, Stream stream, unsigned writer,
                         Cycle t) {
  const unsigned position = mem_position(mem);
  const Cycle dispatch = t + travel(writer, position) - write_skew_;
  if (t < 0 || dispatch < 0 || stream.id >= config_.streams.per_direction ||
      (stream.dir == Dir::east ? position < writer : position > writer))
    return false;
  const Cycle sram = dispatch + write_skew_;
  for (unsigned c = 0; c < count; ++c)
    if (sram + Cycle(c) <= last_read(mem, address + c)) return false;
  const size_t m = mark();
  bool ok = place_run(mem_queue(mem), dispatch, count, make_write(address, stream)) &&
            reserve_run_banks(mem, address, count, sram);
  // The values' spans, one run: value c's, from the writer to the MEM slice, is the first one's
  // c diagonals on.
  ok = ok && claim_reach_run(reach(stream.dir, writer, t, position), stream.id, count, writer);
  for (unsigned c = 0; ok && c < count; ++c) note_write(mem, address + c, sram + Cycle(c));
  if (!ok) rollback(m);
  return ok;
}

Cycle Schedule::written_word(unsigned mem, uint32_t address) const {
  const auto* entry = written_.find((uint64_t(mem) << 32) | address);
  return entry ? entry->value : -1;
}

Cycle Schedule::last_read(unsigned mem, uint32_t address) const {
  const auto* entry = read_.find((uint64_t(mem) << 32) | address);
  return entry ? entry->value : -1;
}

void Schedule::track_reads_of(unsigned mem, uint32_t address) {
  const uint64_t key = (uint64_t(mem) << 32) | address;
  if (!read_.find(key)) read_.insert(key, -1);
}

Cycle Schedule::writable_at(unsigned mem, uint32_t address, unsigned writer) const {
  return last_read(mem, address) + 1 - travel(writer, mem_position(mem));
}

Cycle Schedule::readable_at(unsigned mem, uint32_t address, unsigned reader) const {
  const Cycle dispatch = std::max<Cycle>(0, written(mem, address) + 1 - read_skew_);
  return dispatch + read_func_ + travel(mem_position(mem), reader);
}

Cycle Schedule::all_readable_at(unsigned mem, uint32_t address, unsigned count, unsigned reader) const {
  // Words never written are all readable at once.
  if (!mems_[mem].has_writes) return readable_at(mem, address, reader);
  Cycle latest = readable_at(mem, address, reader);
  for (unsigned c = 1; c < count; ++c) latest = std::max(latest, readable_at(mem, address + c, reader));
  return latest;
}

void Schedule::rollback(size_t mark) {
  while (undo_.size() > mark) {
    const Undo u = undo_.back();
    undo_.pop_back();
    const auto writer_is = [&](const Spans::Entry& e) { return e.value.writer == u.queue_or_writer; };
    switch (u.kind) {
    case UndoKind::slot:
    case UndoKind::slot_run:
      erase_slot(u.queue_or_writer, u.t);
      break;
    case UndoKind::bank: {
      auto* entry = banks_.find(u.key);
      if (--entry->value == 0) banks_.erase(entry);
      break;
    }
    case UndoKind::bank_run:
      erase_bank_run(unsigned(u.key >> 32), unsigned(u.key & 0xffffffffu), u.t, u.lo);
      break;
    case UndoKind::span_new:
      spans_.erase(spans_.find_if(u.key, writer_is));
      break;
    case UndoKind::span_run:
      erase_span_run(u.key, u.lo, u.queue_or_writer);
      break;
    case UndoKind::written:
      if (u.t < 0)
        written_.erase(written_.find(u.key));
      else
        written_.find(u.key)->value = u.t;
      break;
    case UndoKind::read:
      read_.find(u.key)->value = u.t;
      break;
    case UndoKind::read_new:
      read_.erase(read_.find(u.key));
      break;
    case UndoKind::span_grow: {
      Span& s = spans_.find_if(u.key, writer_is)->value;
      s.lo = u.lo;
      s.hi = u.hi;
      break;
    }
    }
  }
}

Cycle Schedule::last_active() const {
  Cycle last = -1;
  // A run's copies differ only in their strided field: the last one is active as long after it.
  for (const auto& queue : slots_)
    for (const PlacedSlot& slot : queue)
      last = std::max(last,
                      (slot.active == PlacedSlot::kUnknown ? activity_end(slot.instruction(), slot.t, config_)
                                                           : slot.t + Cycle(slot.active)) +
                          Cycle(slot.count) - 1);
  return last;
}

uint64_t Schedule::predicted_cycles() const {
  const Cycle last = last_active();
  if (last < 0) return 0;
  return run_cycles(uint64_t(last), config_);
}

size_t Schedule::placed() const {
  size_t n = 0;
  for (const auto& queue : slots_)
    for (const PlacedSlot& slot : queue) n += slot.count;
  return n;
}

std::vector<TextWord> Schedule::text(unsigned queue, bool spaced_repeats) const {
  const std::vector<PlacedSlot>& slots = queue_slots(queue);
  std::vector<TextWord> out;
  const RepeatLimits& limits = repeat_limits();
  // Copy k of slot i (a placed run holds several), and the copy after it.
  struct Copy {
    size_t i;
    unsigned k;
  };
  const auto time = [&](Copy c) { return slots[c.i].t + Cycle(c.k); };
  const auto after = [&](Copy c) {
    return c.k + 1 < slots[c.i].count ? Copy{c.i, c.k + 1} : Copy{c.i + 1, 0};
  };
  Cycle next = 0; // the cycle the queue would dispatch its next instruction without a NOP
  for (Copy c{0, 0}; c.i < slots.size();) {
    const Cycle t = time(c);
    const uint64_t word = slots[c.i].copy_word(c.k);
    while (t > next) {
      const Cycle n = std::min<Cycle>(t - next, Cycle(limits.nop));
      out.push_back({word_in_range(Opcode::nop, {n}), next, n});
      next += n;
    }
    out.push_back({word, t, 0});
    // The longest run of equally spaced copies with one stride; the Repeat leaves the buffer in
    // the cycle after the instruction. Placed words are encoded instructions, so their opcode byte
    // names a spec and their fields are compared in place.
    Copy last = c;
    const isa::OpcodeSpec& spec = *isa::find_opcode(static_cast<uint8_t>(word));
    const Copy second = after(c);
    if (second.i < slots.size() && spec.unit != isa::Unit::icu) {
      const Cycle d = time(second) - t;
      const isa::FieldSpec* field = strided_field(spec);
      const uint64_t second_word = slots[second.i].copy_word(second.k);
      const int64_t stride = field ? field_value(second_word, *field) - field_value(word, *field) : 0;
      if (d <= limits.interval && (spaced_repeats || d == 1) && std::abs(stride) <= limits.stride) {
        // A copy equals the first outside the strided field (placed words have no bits outside
        // their fields) and holds the previous copy's field value plus the stride.
        const uint64_t mask = field ? field_mask(*field) : 0;
        int64_t value = field ? field_value(word, *field) : 0;
        size_t folded = 0;
        while (folded < limits.count) {
          const Copy n = after(last);
          if (n.i >= slots.size() || time(n) - time(last) != d) break;
          if (n.i == last.i && d == 1 && stride == (field ? 1 : 0)) {
            // The rest of a placed run whose copy `last` was folded: each copy is the previous one
            // a cycle later with the field advanced by one.
            const auto take = std::min<size_t>(slots[n.i].count - n.k, limits.count - folded);
            last = {n.i, n.k + unsigned(take) - 1};
            value += int64_t(take) * stride;
            folded += take;
            continue;
          }
          const uint64_t copy = slots[n.i].copy_word(n.k);
          if ((copy & ~mask) != (word & ~mask) || (field && field_value(copy, *field) != value + stride))
            break;
          value += stride;
          last = n;
          ++folded;
        }
        if (folded > 0)
          out.push_back({word_in_range(Opcode::repeat, {int64_t(folded), d, stride}), t + 1, 0});
      }
    }
    next = time(last) + 1;
    c = after(last);
  }
  return out;
}

} // namespace tsp::compiler
