#include "tspsim/observe/vcd_writer.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

namespace tsp {

VcdWriter::VcdWriter(sc_core::sc_module_name name, const EngineContext& ctx, const std::string& path,
                     sc_core::sc_time period, CycleWindow window)
    : sc_core::sc_module(name), ctx_(ctx), path_(path), temp_base_(path + ".tmp"), period_(period),
      window_(window) {
  {
    std::ofstream probe(temp_base_ + ".vcd");
    if (!probe) throw InputError(fmt::format("cannot write '{}': {}", path_, std::strerror(errno)));
  }
  const auto& slices = ctx_.floorplan.slices();
  const unsigned streams = ctx_.config.streams.per_direction;
  busy_ = std::make_unique<bool[]>(slices.size());
  occupied_ = std::make_unique<bool[]>(2 * streams);
  occupied_until_.assign(2 * streams, 0);
  file_ = sc_core::sc_create_vcd_trace_file(temp_base_.c_str());
  // SystemC would announce the unit on stdout (message I703), mixing it into the summary.
  sc_core::sc_report_handler::set_actions("tracing timescale unit set", sc_core::SC_DO_NOTHING);
  file_->set_time_unit(1, sc_core::SC_PS);
  for (unsigned s = 0; s < slices.size(); ++s) sc_core::sc_trace(file_, busy_[s], "busy." + slices[s].name);
  for (unsigned i = 0; i < 2 * streams; ++i)
    sc_core::sc_trace(file_, occupied_[i], fmt::format("stream.{}{}", i < streams ? 'E' : 'W', i % streams));
  SC_METHOD(apply);
  sensitive << wake_;
  dont_initialize();
}

VcdWriter::~VcdWriter() {
  if (file_) {
    sc_core::sc_close_vcd_trace_file(file_);
    std::filesystem::remove(temp_base_ + ".vcd");
  }
}

void VcdWriter::close() {
  sc_core::sc_close_vcd_trace_file(file_);
  file_ = nullptr;
  move_into_place(temp_base_ + ".vcd", path_);
}

// The cycle of the current simulated time (the debug clock evaluates half a period in).
Cycle VcdWriter::now() const { return Cycle(sc_core::sc_time_stamp() / period_); }

void VcdWriter::wake_at(Cycle cycle) {
  const Cycle t = now();
  if (cycle <= t)
    wake_.notify(sc_core::SC_ZERO_TIME);
  else
    wake_.notify(period_ * double(cycle) - sc_core::sc_time_stamp());
}

void VcdWriter::busy(unsigned slice, Cycle cycle) {
  if (!window_.contains(cycle)) return;
  pending_[cycle].busy.push_back(slice);
  wake_at(cycle);
}

void VcdWriter::streamed(unsigned slice, Cycle cycle, StreamRef stream, unsigned group, const Origin&) {
  if (!window_.contains(cycle)) return;
  // The value travels hop by hop to the edge of the chip it is moving towards.
  const unsigned position = ctx_.floorplan.slices()[slice].position;
  const unsigned hops = stream.west ? position : ctx_.floorplan.positions() - 1 - position;
  const Cycle last = cycle + Cycle(hops) * ctx_.config.streams.hop_cycles;
  const unsigned streams = ctx_.config.streams.per_direction;
  for (unsigned s = 0; s < group; ++s)
    pending_[cycle].put.push_back({(stream.west ? streams : 0) + stream.id + s, last});
  wake_at(cycle);
}

// Runs in the cycles where a traced value changes, after the chip's own process of that cycle.
void VcdWriter::apply() {
  const Cycle t = now();
  if (t != busy_cycle_) {
    for (unsigned s : busy_now_) busy_[s] = false;
    busy_now_.clear();
    busy_cycle_ = t;
  }
  while (!pending_.empty() && pending_.begin()->first <= t) {
    for (unsigned s : pending_.begin()->second.busy)
      if (pending_.begin()->first == t) {
        busy_[s] = true;
        busy_now_.push_back(s);
      }
    for (const auto& [stream, last] : pending_.begin()->second.put) {
      occupied_[stream] = true;
      occupied_until_[stream] = std::max(occupied_until_[stream], last);
    }
    pending_.erase(pending_.begin());
  }
  Cycle next = pending_.empty() ? kNever : pending_.begin()->first;
  if (!busy_now_.empty()) next = std::min(next, t + 1);
  for (size_t i = 0; i < occupied_until_.size(); ++i) {
    if (!occupied_[i]) continue;
    if (occupied_until_[i] < t)
      occupied_[i] = false;
    else
      next = std::min(next, occupied_until_[i] + 1);
  }
  // SystemC writes a time step's changes once time moves past it: after the last change, one more
  // (empty) step flushes it into the file.
  if (next != kNever) {
    wake_at(next);
    flushed_ = false;
  } else if (!flushed_) {
    wake_at(t + 1);
    flushed_ = true;
  }
}

} // namespace tsp
