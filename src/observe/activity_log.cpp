#include "tspsim/observe/activity_log.h"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <sstream>
#include <tuple>
#include <vector>

namespace tsp {

namespace {

struct Line {
  Cycle cycle;
  unsigned position;
  std::string text;
  bool operator<(const Line& o) const {
    return std::tie(cycle, position, text) < std::tie(o.cycle, o.position, o.text);
  }
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// "<cycle> <slice> ..." → (cycle, slice); the line itself when it does not parse.
std::pair<std::string, std::string> cycle_and_slice(const std::string& line) {
  std::istringstream in(line);
  std::string cycle, slice;
  in >> cycle >> slice;
  return {cycle, slice};
}

} // namespace

std::string activity_log(const ActivityRecorder& recorder, const Floorplan& floorplan) {
  const auto& slices = floorplan.slices();
  std::vector<Line> lines;
  lines.reserve(recorder.dispatches().size() + recorder.streams().size());
  for (const DispatchEvent& d : recorder.dispatches())
    lines.push_back({d.cycle, slices[d.slice].position,
                     fmt::format("{} {} run {} line {}", d.cycle, slices[d.slice].name,
                                 d.instruction.spec().mnemonic, d.origin.line)});
  for (const StreamEvent& s : recorder.streams()) {
    const std::string group = s.group > 1 ? fmt::format("x{}", s.group) : "";
    lines.push_back(
        {s.cycle, slices[s.slice].position,
         fmt::format("{} {} put {}{}{} {} line {}", s.cycle, slices[s.slice].name, s.stream.west ? 'W' : 'E',
                     s.stream.id, group, isa::spec(s.origin.opcode).mnemonic, s.origin.line)});
  }
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const Line& line : lines) text += line.text + '\n';
  return text;
}

std::optional<std::string> first_divergence(const std::string& expected, const std::string& actual) {
  const auto want = split_lines(expected);
  const auto got = split_lines(actual);
  const size_t n = std::min(want.size(), got.size());
  size_t i = 0;
  while (i < n && want[i] == got[i]) ++i;
  if (i == want.size() && i == got.size()) return std::nullopt;
  if (i == want.size()) {
    const auto [cycle, slice] = cycle_and_slice(got[i]);
    return fmt::format("first divergence at cycle {} on {}: expected nothing more, got '{}'", cycle, slice,
                       got[i]);
  }
  if (i == got.size()) {
    const auto [cycle, slice] = cycle_and_slice(want[i]);
    return fmt::format("first divergence at cycle {} on {}: expected '{}', got nothing more", cycle, slice,
                       want[i]);
  }
  // The earlier of the two lines is where the runs part.
  const auto w = cycle_and_slice(want[i]);
  const auto g = cycle_and_slice(got[i]);
  const bool want_first =
      std::strtoull(w.first.c_str(), nullptr, 10) <= std::strtoull(g.first.c_str(), nullptr, 10);
  const auto& [cycle, slice] = want_first ? w : g;
  return fmt::format("first divergence at cycle {} on {}: expected '{}', got '{}'", cycle, slice, want[i],
                     got[i]);
}

} // namespace tsp
