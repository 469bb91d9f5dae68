#include "tspsim/observe/trace_writer.h"

#include "tspsim/program/latency.h"

#include <algorithm>
#include <array>

namespace tsp {

namespace {
constexpr std::array<const char*, 4> kUnitNames = {"MEM", "VXM", "MXM", "SXM"};
} // namespace

Cycle counter_window(Cycle first, Cycle end) {
  return end > first ? std::max<Cycle>(1, (end - first + 199) / 200) : 1;
}

void append_chip_trace(nlohmann::json& events, const ChipTrace& chip) {
  const auto& slices = chip.ctx.floorplan.slices();
  const auto& queues = chip.ctx.floorplan.queues();
  const unsigned pid = chip.chip_id;
  events.push_back(
      {{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"args", {{"name", chip.chip_name}}}});
  events.push_back(
      {{"ph", "M"}, {"name", "process_sort_index"}, {"pid", pid}, {"args", {{"sort_index", pid}}}});
  // Tracks west to east, as the slices sit on the chip; tid 0 is avoided (some viewers treat it specially).
  for (unsigned s = 0; chip.slice_spans && s < slices.size(); ++s) {
    events.push_back({{"ph", "M"},
                      {"name", "thread_name"},
                      {"pid", pid},
                      {"tid", s + 1},
                      {"args", {{"name", slices[s].name}}}});
    events.push_back({{"ph", "M"},
                      {"name", "thread_sort_index"},
                      {"pid", pid},
                      {"tid", s + 1},
                      {"args", {{"sort_index", slices[s].position}}}});
  }
  const std::vector<DispatchEvent> none;
  for (const DispatchEvent& d : chip.slice_spans ? chip.recorder.dispatches() : none) {
    const auto& spec = d.instruction.spec();
    events.push_back({{"ph", "X"},
                      {"name", std::string(spec.mnemonic)},
                      {"cat", kUnitNames[static_cast<size_t>(slices[d.slice].kind)]},
                      {"pid", pid},
                      {"tid", d.slice + 1},
                      {"ts", d.cycle},
                      {"dur", 1},
                      {"args",
                       {{"line", d.origin.line},
                        {"queue", queues[d.origin.queue].name},
                        {"latency", func_cycles(d.instruction, chip.ctx.config)}}}});
  }
  // Utilisation counters: busy slices of each unit over its slices, per window.
  const Cycle first = chip.recorder.window().first;
  const Cycle end = std::min(chip.end, chip.recorder.window().last);
  if (end <= first) return;
  const Cycle window = counter_window(first, end);
  std::array<unsigned, 4> counts{};
  for (const auto& s : slices) ++counts[static_cast<size_t>(s.kind)];
  std::vector<std::array<uint64_t, tsp::kSliceKinds>> busy((end - first + window - 1) / window);
  for (const BusyEvent& b : chip.recorder.busy_cycles())
    if (b.cycle < end) ++busy[(b.cycle - first) / window][static_cast<size_t>(slices[b.slice].kind)];
  for (size_t w = 0; w < busy.size(); ++w) {
    const Cycle start = first + w * window;
    const double length = double(std::min(window, end - start));
    nlohmann::json args = nlohmann::json::object();
    for (size_t u = 0; u < 4; ++u)
      args[kUnitNames[u]] = counts[u] ? double(busy[w][u]) / (counts[u] * length) : 0.0;
    events.push_back({{"ph", "C"}, {"name", "utilisation"}, {"pid", pid}, {"ts", start}, {"args", args}});
  }
  nlohmann::json zero = nlohmann::json::object();
  for (const char* unit : kUnitNames) zero[unit] = 0.0;
  events.push_back({{"ph", "C"}, {"name", "utilisation"}, {"pid", pid}, {"ts", end}, {"args", zero}});
}

void append_track(nlohmann::json& events, unsigned pid, unsigned tid, const std::string& name) {
  events.push_back(
      {{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}});
  // Slice positions are below 1000: extra tracks come after the slices, in tid order.
  events.push_back({{"ph", "M"},
                    {"name", "thread_sort_index"},
                    {"pid", pid},
                    {"tid", tid},
                    {"args", {{"sort_index", 1000 + tid}}}});
}

std::string trace_file(nlohmann::json events) {
  nlohmann::json file = {{"traceEvents", std::move(events)},
                         {"displayTimeUnit", "ns"},
                         {"otherData", {{"time_unit", "cycles (1 us on the viewer's axis = 1 cycle)"}}}};
  return file.dump() + "\n";
}

} // namespace tsp
