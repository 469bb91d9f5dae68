#include "slices/mem_slice.h"

#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <tuple>

namespace tsp {

using isa::TimingParam;

MemSlice::MemSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock)
    : FunctionalSlice(name, ctx, slice, debug_clock), words_(ctx.config.geometry.mem_words_per_slice),
      words_per_bank_(ctx.config.geometry.words_per_bank()), ports_(ctx.config.geometry.mem_ports_per_bank),
      chunks_((words_ + EngineContext::kSramChunkWords - 1) / EngineContext::kSramChunkWords, nullptr),
      shared_(chunks_.size()), zeros_(ctx.vector_bytes, 0),
      mem_(ctx.floorplan.mem_global(info().east, info().index)), generated_(ctx.vector_bytes),
      generated_once_(chunks_.size(), 0), scratch_(3 * size_t(ctx.vector_bytes)) {
  static_assert(EngineContext::kSramChunkWords <= 64, "generated_once_ keeps a bit per word of a chunk");
}

const uint8_t* MemSlice::word(uint32_t address) const {
  const uint32_t index = address / EngineContext::kSramChunkWords;
  const uint32_t offset = address % EngineContext::kSramChunkWords;
  if (const uint8_t* chunk = chunks_[index]) return chunk + size_t(offset) * ctx_.vector_bytes;
  if (const SharedWords* shared = shared_[index].get(); shared && (*shared)[offset]) return (*shared)[offset];
  if (ctx_.declared.generate(mem_, address, generated_.data(), ctx_.vector_bytes)) return generated_.data();
  return zeros_.data();
}

const uint8_t* MemSlice::read_word(uint32_t address) {
  const uint32_t index = address / EngineContext::kSramChunkWords;
  if (chunks_[index] || !ctx_.declared.holds(mem_)) return word(address);
  const uint64_t bit = uint64_t{1} << (address % EngineContext::kSramChunkWords);
  if (generated_once_[index] & bit) return mutable_word(address);
  generated_once_[index] |= bit;
  return word(address);
}

const uint8_t* MemSlice::image_word(uint32_t address) const {
  const uint32_t index = address / EngineContext::kSramChunkWords;
  if (index >= chunks_.size() || chunks_[index]) return nullptr;
  const SharedWords* shared = shared_[index].get();
  return shared ? (*shared)[address % EngineContext::kSramChunkWords] : nullptr;
}

uint8_t* MemSlice::mutable_word(uint32_t address) {
  const uint32_t index = address / EngineContext::kSramChunkWords;
  uint8_t*& chunk = chunks_[index];
  if (!chunk) {
    chunk = ctx_.sram.allocate();
    // Declared words first: an image loaded over them wins, as when both were stored at load.
    if (ctx_.declared.holds(mem_))
      for (uint32_t w = 0; w < EngineContext::kSramChunkWords; ++w)
        ctx_.declared.generate(mem_, index * EngineContext::kSramChunkWords + w,
                               chunk + size_t(w) * ctx_.vector_bytes, ctx_.vector_bytes);
    copy_shared_words(index);
  }
  return chunk + size_t(address % EngineContext::kSramChunkWords) * ctx_.vector_bytes;
}

void MemSlice::copy_shared_words(uint32_t chunk) {
  if (!shared_[chunk]) return;
  const SharedWords& words = *shared_[chunk];
  for (size_t w = 0; w < words.size(); ++w)
    if (words[w]) std::memcpy(chunks_[chunk] + w * ctx_.vector_bytes, words[w], ctx_.vector_bytes);
  shared_[chunk].reset();
}

void MemSlice::reserve(uint32_t address, uint32_t words) {
  const uint64_t end = uint64_t{address} + words;
  for (uint64_t a = address; a < end;
       a = (a / EngineContext::kSramChunkWords + 1) * EngineContext::kSramChunkWords)
    mutable_word(static_cast<uint32_t>(a));
}

void MemSlice::share_image(uint32_t address, const std::vector<uint8_t>& bytes) {
  for (size_t offset = 0; offset < bytes.size(); offset += ctx_.vector_bytes) {
    const uint32_t word = address + static_cast<uint32_t>(offset / ctx_.vector_bytes);
    const uint32_t index = word / EngineContext::kSramChunkWords;
    if (chunks_[index]) {
      std::memcpy(mutable_word(word), &bytes[offset], ctx_.vector_bytes);
      continue;
    }
    if (!shared_[index]) shared_[index] = std::make_unique<SharedWords>();
    (*shared_[index])[word % EngineContext::kSramChunkWords] = &bytes[offset];
  }
}

// Inline: on every access's path; a run's access is listed out of line.
inline void MemSlice::access(Cycle t, uint32_t address, const Origin& origin) {
  accesses_.emplace_back(address / words_per_bank_, origin);
  retire_cycle_ = t;
  mark_busy(t);
  if (run_ && run_access_listed_ != t) list_run_access(t);
}

// A run taken whole accesses its bank in this cycle too: list it, so the port check sees both.
void MemSlice::list_run_access(Cycle t) {
  const int64_t k = run_->iteration_at(t, run_skew_);
  if (k < 0) return;
  const auto run_address = static_cast<uint32_t>(run_->instruction(uint64_t(k)).operands[0]);
  accesses_.emplace_back(run_address / words_per_bank_, run_->first.origin);
  run_access_listed_ = t;
}

// A Read run with no stream write of this slice still to land at or after the run's first
// value: its own values and accesses then cannot fail a check, and what others do against it
// is checked when they do it.
bool MemSlice::read_run_possible(const RepeatRun& run) const {
  const Cycle first_landing = run.first.cycle + ctx_.timing[TimingParam::mem_read_func];
  const Cycle pending_landing = latest_pending_write();
  return pending_landing == kNever || pending_landing < first_landing;
}

// A Write run whose every stream read is sure to be ok (StreamFabric::run_reads_ok), so it has
// no conformance error of its own; a barrier release scheduled later splits it (split_run).
// Only with no skew: a split returns the iterations dispatched after the split cycle, and with
// a skew one dispatched earlier would still read later. Only when a release is known at least a
// cycle ahead, so that a Notify cannot change a read of its own cycle.
bool MemSlice::write_run_possible(const RepeatRun& run) const {
  if (ctx_.timing[TimingParam::mem_write_skew] != 0 || notify_release_cycles(ctx_.config) == 0) return false;
  const StreamRef src = StreamRef::from_field(run.first.instruction.operands[1]);
  return ctx_.fabric.run_reads_ok(src, info().position, run.first.cycle, run.interval, run.count);
}

// Only with no SRAM step of this slice pending: the run's busy cycles, accesses and stream
// traffic are then exactly the progressions it describes.
bool MemSlice::take_run(const RepeatRun& run) {
  if (run_ || !pending_.empty()) return false;
  const isa::Opcode opcode = run.first.instruction.opcode;
  if (opcode == isa::Opcode::read) {
    if (!read_run_possible(run)) return false;
    run_skew_ = ctx_.timing[TimingParam::mem_read_skew];
    run_cycles_ = RunCycles(run, {0, run_skew_, ctx_.timing[TimingParam::mem_read_func]});
    const StreamRef dst = StreamRef::from_field(run.first.instruction.operands[1]);
    ctx_.fabric.add_run({dst, info().position, run.first.cycle + ctx_.timing[TimingParam::mem_read_func],
                         run.interval, run.count, run.first.origin},
                        run.first.cycle);
  } else if (opcode == isa::Opcode::write) {
    if (!write_run_possible(run)) return false;
    run_skew_ = 0;
    run_cycles_ = RunCycles(run, {0, 0, 0});
  } else {
    return false;
  }
  run_ = run;
  run_counted_ = ctx_.stats.slice(slice_id()).last_busy == run.first.cycle ? run.first.cycle : kNever;
  run_last_ = run_cycles_.last();
  run_access_listed_ = kNever;
  ctx_.stats.cover_run(slice_id(), &run_cycles_);
  // Accesses already listed in the run's first access cycle meet its first access.
  if (retire_cycle_ == run.first.cycle + run_skew_ && !accesses_.empty()) {
    const auto address = static_cast<uint32_t>(run.first.instruction.operands[0]);
    accesses_.emplace_back(address / words_per_bank_, run.first.origin);
    run_access_listed_ = run.first.cycle + run_skew_;
  }
  ++ctx_.runs_taken;
  return true;
}

void MemSlice::end_run(Cycle last) {
  const RepeatRun& run = *run_;
  const uint64_t dispatched = run.iterations_through(last, 0);
  const uint64_t accessed = run.iterations_through(last, run_skew_);
  SliceStats& stats = ctx_.stats.slice(slice_id());
  stats.instructions += dispatched;
  stats.by_opcode[static_cast<uint8_t>(run.first.instruction.opcode)] += dispatched;
  report_run_dispatches(run, dispatched);
  if (run.first.instruction.opcode == isa::Opcode::read) {
    const uint64_t landed = run.iterations_through(last, ctx_.timing[TimingParam::mem_read_func]);
    stats.sram_bytes_read += accessed * ctx_.vector_bytes;
    stats.stream_bytes_written += landed * ctx_.vector_bytes;
  } else {
    stats.stream_bytes_read += accessed * ctx_.vector_bytes;
    stats.sram_bytes_written += accessed * run.first.active_lanes;
  }
  ctx_.stats.release_run(slice_id(), last, run_counted_);
  const Cycle latest = run_cycles_.latest_through(last);
  if (latest != kNever) ctx_.mark_active(latest);
  run_.reset();
  run_last_ = kNever;
}

void MemSlice::stop_run(Cycle last) {
  if (run_) end_run(last);
}

// Only a Write run reads the stream, and only its reads from the release on can turn stale.
uint64_t MemSlice::split_run(Cycle now, Cycle release) {
  if (!run_ || run_->first.instruction.opcode != isa::Opcode::write) return 0;
  if (release > run_->last_dispatch() + run_skew_ || run_->last_dispatch() <= now) return 0;
  // The iteration of this cycle has its bank access: list it, so that an access later in the
  // cycle (an Ifetch read comes after the dispatches) still meets it.
  const int64_t k = run_->iteration_at(now, run_skew_);
  if (k >= 0 && run_access_listed_ != now) {
    const auto address = static_cast<uint32_t>(run_->instruction(uint64_t(k)).operands[0]);
    accesses_.emplace_back(address / words_per_bank_, run_->first.origin);
    retire_cycle_ = now;
  }
  const uint64_t kept = run_->iterations_through(now, 0);
  end_run(now);
  return kept;
}

void MemSlice::check_ports(Cycle t) {
  std::sort(accesses_.begin(), accesses_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second.queue, a.second.index) <
           std::tie(b.first, b.second.queue, b.second.index);
  });
  for (size_t begin = 0; begin < accesses_.size();) {
    size_t end = begin;
    while (end < accesses_.size() && accesses_[end].first == accesses_[begin].first) ++end;
    for (size_t i = begin + ports_; i < end; ++i)
      ctx_.log.report(ErrorKind::mem_port, t, accesses_[i].second,
                      fmt::format("bank {} of {} accessed {} times in one cycle; it has {} port{}",
                                  accesses_[i].first, info().name, end - begin, ports_,
                                  ports_ == 1 ? "" : "s"));
    begin = end;
  }
}

inline void MemSlice::schedule(Cycle cycle, Step step, const Dispatch& d) {
  // With no skew the access happens in the dispatch cycle: no need to queue it.
  if (cycle == d.cycle) return perform(step, d, nullptr, cycle);
  Pending& pending = pending_.push(cycle);
  pending.step = step;
  pending.dispatch = d;
}

void MemSlice::execute(const Dispatch& d) {
  const Cycle t = d.cycle;
  switch (d.instruction.opcode) {
  case isa::Opcode::read:
    schedule(t + ctx_.timing[TimingParam::mem_read_skew], Step::read, d);
    break;
  case isa::Opcode::write:
    schedule(t + ctx_.timing[TimingParam::mem_write_skew], Step::write, d);
    break;
  case isa::Opcode::gather:
    schedule(t + ctx_.timing[TimingParam::mem_gather_skew], Step::gather, d);
    break;
  case isa::Opcode::scatter:
    schedule(t + ctx_.timing[TimingParam::mem_gather_skew], Step::scatter_read, d);
    break;
  default:
    break;
  }
  evaluate(t);
}

void MemSlice::evaluate(Cycle t) {
  while (pending_.due(t)) {
    const Pending& pending = pending_.pop().second;
    perform(pending.step, pending.dispatch, pending.data.empty() ? nullptr : pending.data.data(), t);
  }
}

void MemSlice::perform(Step step, const Dispatch& d, const uint8_t* data, Cycle t) {
  switch (step) {
  case Step::read:
    return do_read(d, t);
  case Step::write:
    return do_write(d, t);
  case Step::gather:
    return do_gather(d, t);
  case Step::scatter_read:
    return do_scatter_read(d, t);
  case Step::scatter_write:
    return do_scatter_write(d, data, t);
  }
}

void MemSlice::do_read(const Dispatch& d, Cycle t) {
  const auto address = static_cast<uint32_t>(d.instruction.operands[0]);
  const StreamRef dst = StreamRef::from_field(d.instruction.operands[1]);
  access(t, address, d.origin);
  ctx_.stats.slice(slice_id()).sram_bytes_read += ctx_.vector_bytes;
  const uint8_t* data = functional() ? read_word(address) : nullptr;
  // Lanes past the active ones read as zeros.
  if (data && d.active_lanes < ctx_.vector_bytes) {
    std::copy(data, data + d.active_lanes, scratch_.begin());
    std::fill(scratch_.begin() + d.active_lanes, scratch_.begin() + ctx_.vector_bytes, uint8_t{0});
    data = scratch_.data();
  }
  write_streams(d.cycle + ctx_.timing[TimingParam::mem_read_func], dst, 1, data, d.origin);
}

void MemSlice::do_write(const Dispatch& d, Cycle t) {
  const auto address = static_cast<uint32_t>(d.instruction.operands[0]);
  const StreamRef src = StreamRef::from_field(d.instruction.operands[1]);
  read_streams(t, src, 1, functional() ? scratch_.data() : nullptr, d.origin);
  access(t, address, d.origin);
  ctx_.stats.slice(slice_id()).sram_bytes_written += d.active_lanes;
  retire_cycle_ = t;
  if (functional()) {
    const size_t offset = word_write_bytes_.size();
    word_write_bytes_.insert(word_write_bytes_.end(), scratch_.begin(), scratch_.begin() + d.active_lanes);
    word_writes_.push_back({address, d.active_lanes, offset});
  }
}

std::vector<uint32_t> MemSlice::lane_addresses(const Dispatch& d, const uint8_t* map, Cycle t) {
  const auto base = static_cast<uint32_t>(d.instruction.operands[2]);
  std::vector<uint32_t> addresses(ctx_.vector_bytes, kInvalid);
  if (!map) return addresses;
  unsigned outside = 0;
  for (unsigned lane = 0; lane < d.active_lanes; ++lane) {
    const uint32_t offset = uint32_t(map[lane]) | uint32_t(map[ctx_.vector_bytes + lane]) << 8;
    const uint32_t address = base + offset;
    if (address < words_)
      addresses[lane] = address;
    else
      ++outside;
  }
  if (outside != 0)
    ctx_.log.report(ErrorKind::mem_address, t, d.origin,
                    fmt::format("{} lane address{} outside {} ({} words)", outside, outside == 1 ? "" : "es",
                                info().name, words_));
  return addresses;
}

// The bank accesses of a Gather or Scatter: one per bank its lanes touch. In a timing-only run
// the map is unknown, so the access is counted on the bank of `base`.
static std::vector<uint32_t> touched_banks(const std::vector<uint32_t>& addresses, uint32_t base,
                                           unsigned per_bank, bool functional) {
  std::vector<uint32_t> banks;
  if (!functional) return {base};
  for (uint32_t address : addresses)
    if (address != UINT32_MAX &&
        std::find(banks.begin(), banks.end(), address / per_bank * per_bank) == banks.end())
      banks.push_back(address / per_bank * per_bank);
  return banks;
}

void MemSlice::do_gather(const Dispatch& d, Cycle t) {
  const StreamRef dst = StreamRef::from_field(d.instruction.operands[0]);
  const StreamRef map = StreamRef::from_field(d.instruction.operands[1]);
  uint8_t* map_bytes = functional() ? scratch_.data() + ctx_.vector_bytes : nullptr;
  read_streams(t, map, 2, map_bytes, d.origin);
  const auto addresses = lane_addresses(d, map_bytes, t);
  const auto base = static_cast<uint32_t>(d.instruction.operands[2]);
  for (uint32_t bank_address : touched_banks(addresses, base, words_per_bank_, functional()))
    access(t, bank_address, d.origin);
  ctx_.stats.slice(slice_id()).sram_bytes_read += d.active_lanes;
  const uint8_t* data = nullptr;
  if (functional()) {
    for (unsigned lane = 0; lane < ctx_.vector_bytes; ++lane)
      scratch_[lane] = addresses[lane] == kInvalid ? 0 : read_word(addresses[lane])[lane];
    data = scratch_.data();
  }
  write_streams(d.cycle + ctx_.timing[TimingParam::mem_gather_func], dst, 1, data, d.origin);
}

void MemSlice::do_scatter_read(const Dispatch& d, Cycle t) {
  const StreamRef src = StreamRef::from_field(d.instruction.operands[0]);
  const StreamRef map = StreamRef::from_field(d.instruction.operands[1]);
  // Queued even without skew: the SRAM write is a later step of the same cycle.
  Pending& next = pending_.push(d.cycle + ctx_.timing[TimingParam::mem_scatter_write]);
  next.step = Step::scatter_write;
  next.dispatch = d;
  uint8_t* data = nullptr;
  if (functional()) {
    next.data.resize(3 * size_t(ctx_.vector_bytes));
    data = next.data.data();
  }
  read_streams(t, src, 1, data, d.origin);
  read_streams(t, map, 2, data ? data + ctx_.vector_bytes : nullptr, d.origin);
}

void MemSlice::do_scatter_write(const Dispatch& d, const uint8_t* data, Cycle t) {
  const auto addresses = lane_addresses(d, data ? data + ctx_.vector_bytes : nullptr, t);
  const auto base = static_cast<uint32_t>(d.instruction.operands[2]);
  for (uint32_t bank_address : touched_banks(addresses, base, words_per_bank_, functional()))
    access(t, bank_address, d.origin);
  ctx_.stats.slice(slice_id()).sram_bytes_written += d.active_lanes;
  retire_cycle_ = t;
  if (!data) return;
  for (unsigned lane = 0; lane < d.active_lanes; ++lane)
    if (addresses[lane] != kInvalid) lane_writes_.push_back({addresses[lane], lane, data[lane]});
}

void MemSlice::retire(Cycle t) {
  // After the port check, which may still list the run's access of this cycle.
  if (retire_cycle_ == t) retire_accesses(t);
  if (run_ && t >= run_last_) end_run(run_last_);
}

void MemSlice::retire_accesses(Cycle t) {
  // Within the ports (nearly always) there is nothing to sort or blame.
  if (accesses_.size() > ports_) check_ports(t);
  accesses_.clear();
  for (const WordWrite& write : word_writes_)
    std::memcpy(mutable_word(write.address), &word_write_bytes_[write.offset], write.lanes);
  for (const auto& lane_write : lane_writes_)
    mutable_word(lane_write.address)[lane_write.lane] = lane_write.value;
  word_writes_.clear();
  word_write_bytes_.clear();
  lane_writes_.clear();
  retire_cycle_ = kNever;
}

Cycle MemSlice::next_event() const {
  Cycle next = std::min(FunctionalSlice::next_event(), retire_cycle_);
  next = std::min(next, pending_.earliest());
  return std::min(next, run_last_);
}

const uint8_t* MemSlice::read_text(Cycle t, uint32_t address, const Origin& origin) {
  ctx_.touched.push_back(slice_id());
  access(t, address, origin);
  ctx_.stats.slice(slice_id()).sram_bytes_read += ctx_.vector_bytes;
  return read_word(address);
}

} // namespace tsp
