#include "slices/mem_slice.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <fmt/format.h>

namespace tsp {

using isa::TimingParam;

MemSlice::MemSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock)
    : FunctionalSlice(name, ctx, slice, debug_clock), words_(ctx.config.geometry.mem_words_per_slice),
      words_per_bank_(ctx.config.geometry.words_per_bank()), ports_(ctx.config.geometry.mem_ports_per_bank),
      chunks_((words_ + kChunkWords - 1) / kChunkWords), zeros_(ctx.vector_bytes, 0),
      scratch_(3 * size_t(ctx.vector_bytes)) {}

const uint8_t* MemSlice::word(uint32_t address) const {
  const auto& chunk = chunks_[address / kChunkWords];
  return chunk ? &chunk[size_t(address % kChunkWords) * ctx_.vector_bytes] : zeros_.data();
}

uint8_t* MemSlice::mutable_word(uint32_t address) {
  auto& chunk = chunks_[address / kChunkWords];
  if (!chunk) chunk = std::make_unique<uint8_t[]>(size_t(kChunkWords) * ctx_.vector_bytes);
  return &chunk[size_t(address % kChunkWords) * ctx_.vector_bytes];
}

void MemSlice::load(uint32_t address, const std::vector<uint8_t>& bytes) {
  for (size_t offset = 0; offset < bytes.size(); offset += ctx_.vector_bytes)
    std::memcpy(mutable_word(address + static_cast<uint32_t>(offset / ctx_.vector_bytes)), &bytes[offset],
                ctx_.vector_bytes);
}

void MemSlice::access(Cycle t, uint32_t address, const Origin& origin) {
  accesses_.emplace_back(address / words_per_bank_, origin);
  retire_cycle_ = t;
  mark_busy(t);
}

void MemSlice::check_ports(Cycle t) {
  if (accesses_.size() <= ports_) {
    accesses_.clear();
    return;
  }
  std::sort(accesses_.begin(), accesses_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second.queue, a.second.index) < std::tie(b.first, b.second.queue, b.second.index);
  });
  for (size_t begin = 0; begin < accesses_.size();) {
    size_t end = begin;
    while (end < accesses_.size() && accesses_[end].first == accesses_[begin].first) ++end;
    for (size_t i = begin + ports_; i < end; ++i)
      ctx_.log.report(ErrorKind::mem_port, t, accesses_[i].second,
                      fmt::format("bank {} of {} accessed {} times in one cycle; it has {} port{}", accesses_[i].first,
                                  info().name, end - begin, ports_, ports_ == 1 ? "" : "s"));
    begin = end;
  }
  accesses_.clear();
}

void MemSlice::schedule(Cycle cycle, Step step, const Dispatch& d, std::shared_ptr<std::vector<uint8_t>> data) {
  Pending pending{cycle, sequence_++, step, d, std::move(data)};
  // With no skew the access happens in the dispatch cycle: no need to queue it.
  if (cycle == d.cycle && step != Step::scatter_write)
    perform(pending, cycle);
  else
    pending_.push(std::move(pending));
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
  while (!pending_.empty() && pending_.top().cycle <= t) {
    const Pending pending = pending_.top();
    pending_.pop();
    perform(pending, t);
  }
}

void MemSlice::perform(const Pending& pending, Cycle t) {
  switch (pending.step) {
  case Step::read: return do_read(pending.dispatch, t);
  case Step::write: return do_write(pending.dispatch, t);
  case Step::gather: return do_gather(pending.dispatch, t);
  case Step::scatter_read: return do_scatter_read(pending.dispatch, t);
  case Step::scatter_write: return do_scatter_write(pending, t);
  }
}

void MemSlice::do_read(const Dispatch& d, Cycle t) {
  const auto address = static_cast<uint32_t>(d.instruction.operands[0]);
  const StreamRef dst = StreamRef::from_field(d.instruction.operands[1]);
  access(t, address, d.origin);
  ctx_.stats.slice(slice_id()).sram_bytes_read += ctx_.vector_bytes;
  const uint8_t* data = nullptr;
  if (functional()) {
    const uint8_t* source = word(address);
    std::copy(source, source + d.active_lanes, scratch_.begin());
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
    word_writes_.emplace_back(address, std::vector<uint8_t>(scratch_.begin(), scratch_.begin() + ctx_.vector_bytes));
    word_write_lanes_.push_back(d.active_lanes);
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
static std::vector<uint32_t> touched_banks(const std::vector<uint32_t>& addresses, uint32_t base, unsigned per_bank,
                                           bool functional) {
  std::vector<uint32_t> banks;
  if (!functional) return {base};
  for (uint32_t address : addresses)
    if (address != UINT32_MAX && std::find(banks.begin(), banks.end(), address / per_bank * per_bank) == banks.end())
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
      scratch_[lane] = addresses[lane] == kInvalid ? 0 : word(addresses[lane])[lane];
    data = scratch_.data();
  }
  write_streams(d.cycle + ctx_.timing[TimingParam::mem_gather_func], dst, 1, data, d.origin);
}

void MemSlice::do_scatter_read(const Dispatch& d, Cycle t) {
  const StreamRef src = StreamRef::from_field(d.instruction.operands[0]);
  const StreamRef map = StreamRef::from_field(d.instruction.operands[1]);
  std::shared_ptr<std::vector<uint8_t>> data;
  if (functional()) data = std::make_shared<std::vector<uint8_t>>(3 * size_t(ctx_.vector_bytes));
  read_streams(t, src, 1, data ? data->data() : nullptr, d.origin);
  read_streams(t, map, 2, data ? data->data() + ctx_.vector_bytes : nullptr, d.origin);
  schedule(d.cycle + ctx_.timing[TimingParam::mem_scatter_write], Step::scatter_write, d, std::move(data));
}

void MemSlice::do_scatter_write(const Pending& pending, Cycle t) {
  const Dispatch& d = pending.dispatch;
  const uint8_t* data = pending.data ? pending.data->data() : nullptr;
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
  if (retire_cycle_ != t) return;
  check_ports(t);
  for (size_t i = 0; i < word_writes_.size(); ++i) {
    const auto& [address, bytes] = word_writes_[i];
    std::copy(bytes.begin(), bytes.begin() + word_write_lanes_[i], mutable_word(address));
  }
  for (const auto& lane_write : lane_writes_) mutable_word(lane_write.address)[lane_write.lane] = lane_write.value;
  word_writes_.clear();
  word_write_lanes_.clear();
  lane_writes_.clear();
  retire_cycle_ = kNever;
}

Cycle MemSlice::next_event() const {
  Cycle next = std::min(FunctionalSlice::next_event(), retire_cycle_);
  if (!pending_.empty()) next = std::min(next, pending_.top().cycle);
  return next;
}

const uint8_t* MemSlice::read_text(Cycle t, uint32_t address, const Origin& origin) {
  ctx_.touched.push_back(slice_id());
  access(t, address, origin);
  ctx_.stats.slice(slice_id()).sram_bytes_read += ctx_.vector_bytes;
  return word(address);
}

} // namespace tsp
