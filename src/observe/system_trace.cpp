#include "tspsim/observe/system_trace.h"

#include "tspsim/observe/trace_writer.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp {

namespace {

std::string link_track_name(const System& system, uint32_t chip, uint32_t link) {
  const LinkEnd* peer = system.peer(chip, link);
  return peer ? fmt::format("link {} to chip {} link {}", link, peer->chip, peer->link)
              : fmt::format("link {} (no cable)", link);
}

// The links' spans and the `links` counter of one chip, its tracks numbered from `first_tid`.
void append_links(nlohmann::json& events, const System& system, uint32_t chip, unsigned first_tid,
                  const LinkRecorder& recorder, Cycle end) {
  const EngineContext& ctx = system.simulated(chip).context();
  const auto& sends = recorder.sends(chip);
  const auto& queues = ctx.floorplan.queues();
  std::vector<bool> used(ctx.config.c2c.links, false);
  for (const LinkSend& s : sends) used[s.link] = true;
  unsigned cabled = 0;
  for (uint32_t l = 0; l < ctx.config.c2c.links; ++l) {
    cabled += system.peer(chip, l) != nullptr;
    if (system.peer(chip, l) || used[l])
      append_track(events, chip, first_tid + l, link_track_name(system, chip, l));
  }
  Cycle last = end;
  for (const LinkSend& s : sends) {
    nlohmann::json args = {
        {"line", s.origin.line}, {"queue", queues[s.origin.queue].name}, {"serialisation", s.end - s.start}};
    if (s.cabled) {
      args["to"] = fmt::format("chip {} link {}", s.peer.chip, s.peer.link);
      args["arrival"] = s.arrival;
    }
    events.push_back({{"ph", "X"},
                      {"name", s.cabled ? fmt::format("to chip {}", s.peer.chip) : "lost (no cable)"},
                      {"cat", "link"},
                      {"pid", chip},
                      {"tid", first_tid + s.link},
                      {"ts", s.start},
                      {"dur", s.end - s.start},
                      {"args", args}});
    last = std::max(last, s.end);
  }
  // Busy fraction of the cabled links per window, as the utilisation counters.
  const Cycle first = recorder.window().first;
  last = std::min(last, recorder.window().last);
  if (cabled == 0 || last <= first) return;
  const Cycle window = counter_window(first, last);
  std::vector<uint64_t> busy((last - first + window - 1) / window);
  for (const LinkSend& s : sends) {
    if (!s.cabled) continue;
    for (Cycle t = std::max(s.start, first); t < std::min(s.end, last);) {
      const size_t w = (t - first) / window;
      const Cycle to = std::min({s.end, last, first + (w + 1) * window});
      busy[w] += to - t;
      t = to;
    }
  }
  for (size_t w = 0; w < busy.size(); ++w) {
    const Cycle start = first + w * window;
    const double length = double(std::min(window, last - start));
    events.push_back({{"ph", "C"},
                      {"name", "links"},
                      {"pid", chip},
                      {"ts", start},
                      {"args", {{"busy", double(busy[w]) / (cabled * length)}}}});
  }
  events.push_back({{"ph", "C"}, {"name", "links"}, {"pid", chip}, {"ts", last}, {"args", {{"busy", 0.0}}}});
}

} // namespace

std::string system_chip_name(const System& system, uint32_t chip) {
  const uint32_t rep = system.representative(chip);
  const std::string name = fmt::format("chip {} ({})", chip, system.simulated(chip).context().config.name);
  return rep == chip ? name : fmt::format("{}, replicated from chip {}", name, rep);
}

std::string system_trace(const System& system, const SystemResult& result,
                         const std::vector<const ActivityRecorder*>& recorders, const LinkRecorder& links) {
  nlohmann::json events = nlohmann::json::array();
  for (uint32_t c = 0; c < system.chips(); ++c) {
    const uint32_t rep = system.representative(c);
    const EngineContext& ctx = system.simulated(c).context();
    const Cycle end = result.chips[c].last_active + 1;
    append_chip_trace(events, {c, system_chip_name(system, c), ctx, *recorders[rep], end, rep == c});
    const auto tracks = static_cast<unsigned>(ctx.floorplan.slices().size()) + 1;
    if (rep != c) {
      // One span over the run says where this chip's slice activity is.
      const CycleWindow& window = links.window();
      const Cycle from = window.first, to = std::min(end, window.last);
      append_track(events, c, tracks, "replication");
      if (to > from)
        events.push_back(
            {{"ph", "X"},
             {"name", fmt::format("same as chip {}", rep)},
             {"cat", "replication"},
             {"pid", c},
             {"tid", tracks},
             {"ts", from},
             {"dur", to - from},
             {"args",
              {{"replicated_from", rep},
               {"why", "timing-only replication: same program, config and link arrivals, proven by "
                       "comparison; its slices did exactly what chip " +
                           std::to_string(rep) + "'s did (--no-replicate traces them)"}}}});
    }
    append_links(events, system, c, tracks + 1, links, end);
  }
  return trace_file(std::move(events));
}

} // namespace tsp
