// Test helper for the slice tests: places instructions at exact dispatch cycles (NOPs fill the
// gaps) and works out when MEM slices must Read or Write so that a stream group meets another
// slice at a given cycle, from the config's positions and timing.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"

#include <cstdint>
#include <fmt/format.h>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace tsp::test {

class Schedule {
public:
  explicit Schedule(const ChipConfig& config) : config_(config), floorplan_(config.geometry, config.icu) {}

  // `text` is dispatched by `queue` at `cycle` and keeps the queue busy for `cycles` cycles (a
  // Repeat written into `text`). Two instructions in one queue slot are a bug in the test.
  void at(const std::string& queue, uint64_t cycle, const std::string& text, uint64_t cycles = 1) {
    auto& slots = queues_[queue];
    const auto next = slots.lower_bound(cycle);
    const auto before = next == slots.begin() ? slots.end() : std::prev(next);
    if ((next != slots.end() && next->first < cycle + cycles) ||
        (before != slots.end() && before->first + before->second.cycles > cycle))
      throw std::logic_error(fmt::format("{} has two instructions at cycle {}", queue, cycle));
    slots[cycle] = {text, cycles};
  }

  unsigned position(const std::string& slice) const {
    return floorplan_.slices().at(*floorplan_.find_slice(slice)).position;
  }

  // mems[b] reads `address` onto stream base + b so that the group is at slice `to` at `cycle`.
  void read_group(const std::vector<std::string>& mems, uint32_t address, unsigned base,
                  const std::string& to, uint64_t cycle) {
    for (unsigned b = 0; b < mems.size(); ++b) {
      const auto [hops, dir] = route(position(mems[b]), position(to));
      if (cycle < hops + timing(isa::TimingParam::mem_read_func))
        throw std::logic_error(fmt::format("{} would have to read before cycle 0", mems[b]));
      at(mems[b], cycle - hops - timing(isa::TimingParam::mem_read_func),
         fmt::format("Read {}, {}{}", address, dir, base + b));
    }
  }

  // mems[b] writes to `address` the stream base + b that slice `from` put on the stream at `cycle`.
  void write_group(const std::vector<std::string>& mems, uint32_t address, unsigned base,
                   const std::string& from, uint64_t cycle) {
    for (unsigned b = 0; b < mems.size(); ++b) {
      const auto [hops, dir] = route(position(from), position(mems[b]));
      at(mems[b], cycle + hops - timing(isa::TimingParam::mem_write_skew),
         fmt::format("Write {}, {}{}", address, dir, base + b));
    }
  }

  std::string text() const {
    std::ostringstream out;
    for (const auto& [queue, slots] : queues_) {
      out << ".queue " << queue << "\n";
      uint64_t next = 0;
      for (const auto& [cycle, slot] : slots) {
        if (cycle > next) out << "  NOP " << cycle - next << "\n";
        out << "  " << slot.text << "\n";
        next = cycle + slot.cycles;
      }
    }
    return out.str();
  }

private:
  struct Slot {
    std::string text;
    uint64_t cycles;
  };

  uint64_t timing(isa::TimingParam p) const { return config_.timing[p]; }

  // Hops from position `from` to `to` and the stream direction that gets there.
  std::pair<uint64_t, char> route(unsigned from, unsigned to) const {
    const uint64_t distance = from < to ? to - from : from - to;
    return {distance * config_.streams.hop_cycles, from < to ? 'E' : 'W'};
  }

  const ChipConfig& config_;
  Floorplan floorplan_;
  std::map<std::string, std::map<uint64_t, Slot>> queues_;
};

// The 1-based line of `text` that contains `needle` for the `occurrence`-th time (0 if none).
inline uint32_t line_of(const std::string& text, const std::string& needle, unsigned occurrence = 1) {
  std::istringstream in(text);
  std::string line;
  for (uint32_t n = 1; std::getline(in, line); ++n)
    if (line.find(needle) != std::string::npos && --occurrence == 0) return n;
  return 0;
}

} // namespace tsp::test
