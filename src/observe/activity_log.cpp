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
  uint32_t chip;
  unsigned position;
  std::string text;
  bool operator<(const Line& o) const {
    return std::tie(cycle, chip, position, text) < std::tie(o.cycle, o.chip, o.position, o.text);
  }
};

// Link tracks sort after every slice of their chip.
constexpr unsigned kLinkPosition = 1u << 20;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// "<cycle> <where> run|put|send ..." -> (cycle, where), where is "VXM" or "chip 1 SXM_E".
std::pair<std::string, std::string> cycle_and_place(const std::string& line) {
  std::istringstream in(line);
  std::string cycle, word, where;
  in >> cycle;
  while (in >> word && word != "run" && word != "put" && word != "send")
    where += (where.empty() ? "" : " ") + word;
  return {cycle, where};
}

// One chip's lines; `prefix` is "" in a one-chip log, "chip N " in a system's.
void add_lines(std::vector<Line>& lines, const ActivityRecorder& recorder, const Floorplan& floorplan,
               uint32_t chip, const std::string& prefix) {
  const auto& slices = floorplan.slices();
  for (const DispatchEvent& d : recorder.dispatches())
    lines.push_back({d.cycle, chip, slices[d.slice].position,
                     fmt::format("{} {}{} run {} line {}", d.cycle, prefix, slices[d.slice].name,
                                 d.instruction.spec().mnemonic, d.origin.line)});
  for (const StreamEvent& s : recorder.streams()) {
    const std::string group = s.group > 1 ? fmt::format("x{}", s.group) : "";
    lines.push_back({s.cycle, chip, slices[s.slice].position,
                     fmt::format("{} {}{} put {}{}{} {} line {}", s.cycle, prefix, slices[s.slice].name,
                                 s.stream.west ? 'W' : 'E', s.stream.id, group,
                                 isa::spec(s.origin.opcode).mnemonic, s.origin.line)});
  }
}

std::string joined(std::vector<Line>& lines) {
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const Line& line : lines) text += line.text + '\n';
  return text;
}

} // namespace

std::string activity_log(const ActivityRecorder& recorder, const Floorplan& floorplan) {
  std::vector<Line> lines;
  lines.reserve(recorder.dispatches().size() + recorder.streams().size());
  add_lines(lines, recorder, floorplan, 0, "");
  return joined(lines);
}

std::string system_activity_log(const System& system, const std::vector<const ActivityRecorder*>& recorders,
                                const LinkRecorder& links) {
  std::vector<Line> lines;
  for (uint32_t c = 0; c < system.chips(); ++c) {
    const std::string prefix = fmt::format("chip {} ", c);
    add_lines(lines, *recorders[system.representative(c)], system.simulated(c).context().floorplan, c,
              prefix);
    for (const LinkSend& s : links.sends(c)) {
      const std::string to =
          s.cabled ? fmt::format("to chip {} link {} arrival {}", s.peer.chip, s.peer.link, s.arrival)
                   : std::string("lost (no cable)");
      lines.push_back({s.start, c, kLinkPosition + s.link,
                       fmt::format("{} {}link {} send {} until {} line {}", s.start, prefix, s.link, to,
                                   s.end, s.origin.line)});
    }
  }
  return joined(lines);
}

std::optional<std::string> first_divergence(const std::string& expected, const std::string& actual) {
  const auto want = split_lines(expected);
  const auto got = split_lines(actual);
  const size_t n = std::min(want.size(), got.size());
  size_t i = 0;
  while (i < n && want[i] == got[i]) ++i;
  if (i == want.size() && i == got.size()) return std::nullopt;
  if (i == want.size()) {
    const auto [cycle, slice] = cycle_and_place(got[i]);
    return fmt::format("first divergence at cycle {} on {}: expected nothing more, got '{}'", cycle, slice,
                       got[i]);
  }
  if (i == got.size()) {
    const auto [cycle, slice] = cycle_and_place(want[i]);
    return fmt::format("first divergence at cycle {} on {}: expected '{}', got nothing more", cycle, slice,
                       want[i]);
  }
  // The earlier of the two lines is where the runs part.
  const auto w = cycle_and_place(want[i]);
  const auto g = cycle_and_place(got[i]);
  const bool want_first =
      std::strtoull(w.first.c_str(), nullptr, 10) <= std::strtoull(g.first.c_str(), nullptr, 10);
  const auto& [cycle, slice] = want_first ? w : g;
  return fmt::format("first divergence at cycle {} on {}: expected '{}', got '{}'", cycle, slice, want[i],
                     got[i]);
}

} // namespace tsp
