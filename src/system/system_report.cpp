#include "tspsim/system/system_report.h"

#include "tspsim/system/report.h"

#include <fmt/format.h>

namespace tsp {

namespace {
constexpr uint32_t kChipTableLimit = 72;    // larger systems list their chips in --stats-json only
constexpr uint32_t kBreakdownChipLimit = 8; // larger systems give each chip's breakdown in --stats-json only

double ratio(double part, double whole) { return whole > 0 ? part / whole : 0.0; }

uint64_t instructions_of(const SystemReport& report, uint32_t chip) {
  const RunReport run{report.system.simulated(chip), report.result.chips[chip],
                      report.system.program().program_of(chip), report.program_path};
  return chip_figures(run).instructions;
}
// A system's decode figures: the latency of the whole run, and the weight-streaming bound of the
// chip with the most weight bytes (every chip streams its own at once, so the busiest one bounds
// the step). Zero weights: not a decode workload.
ChipFigures system_decode(const SystemReport& report, uint64_t& all_weight_bytes) {
  ChipFigures busiest;
  uint64_t occupancy = 0;
  uint32_t occupancy_chip = 0;
  all_weight_bytes = 0;
  const uint64_t tokens = report.system.program().metadata.tokens_per_run;
  for (uint32_t c = 0; c < report.system.chips(); ++c) {
    const RunReport run{report.system.simulated(c), report.result.chips[c],
                        report.system.program().program_of(c), report.program_path};
    const ChipFigures f = chip_figures(run);
    all_weight_bytes += f.weight_bytes;
    if (f.weight_bytes > busiest.weight_bytes) busiest = f;
    // Every chip counts, with weights or not: a chip that only forwards is still held.
    const uint64_t held = occupancy_cycles(report.result.chips[c]);
    if (held > occupancy) {
      occupancy = held;
      occupancy_chip = c;
    }
  }
  if (busiest.weight_bytes == 0 || tokens == 0) return {};
  busiest.occupancy_cycles = double(occupancy) / double(tokens);
  busiest.occupancy_chip = occupancy_chip;
  const double clock = report.system.simulated(0).context().config.clock_mhz * 1e6;
  busiest.seconds_per_token = double(report.result.cycles) / clock / double(tokens);
  busiest.seconds = double(report.result.cycles) / clock;
  busiest.pass_cycles = report.result.cycles;
  busiest.tokens_per_second = 1 / busiest.seconds_per_token;
  return busiest;
}

} // namespace

std::string weight_bound_violation(const SystemReport& report) {
  uint64_t all_weight_bytes = 0;
  return weight_bound_violation(system_decode(report, all_weight_bytes),
                                report.system.simulated(0).context().config.clock_mhz);
}

ChipLinkFigures chip_link_figures(const SystemReport& report, uint32_t chip) {
  const C2cLinks& links = report.system.simulated(chip).context().links;
  const double cycles = double(report.result.cycles);
  ChipLinkFigures out;
  for (uint32_t l = 0; l < links.links(); ++l) {
    const auto& st = links.stats()[l];
    const LinkEnd* peer = report.system.peer(chip, l);
    if (!peer && st.vectors_sent == 0 && st.vectors_received == 0) continue;
    out.links.push_back({l, peer, st.vectors_sent, st.vectors_received, st.busy_cycles,
                         ratio(double(st.busy_cycles), cycles)});
    if (peer) {
      ++out.cabled;
      out.busy_cycles += st.busy_cycles;
    }
  }
  out.utilisation = ratio(double(out.busy_cycles), double(out.cabled) * cycles);
  return out;
}

void print_system_summary(std::ostream& out, const SystemReport& report) {
  const System& sys = report.system;
  const SystemResult& r = report.result;
  const ChipConfig& first = sys.simulated(0).context().config;
  out << fmt::format("tspsim: {} on system {} ({}), {} chips\n", report.program_path, sys.config().name,
                     sys.config().source, sys.chips());
  if (!sys.program().metadata.workload.empty())
    out << fmt::format("workload            {}\n", sys.program().metadata.workload);
  out << fmt::format("mode                {}\n",
                     sys.simulated(0).context().options.timing_only ? "timing-only" : "functional");
  out << fmt::format("cycles              {}{}\n", r.cycles,
                     r.interrupted ? " (partial: the run was interrupted)" : "");
  out << fmt::format("simulated time      {:.3f} us at {} MHz\n", double(r.cycles) / first.clock_mhz,
                     first.clock_mhz);
  out << fmt::format("windows             {} of {} cycles, {} thread{}\n", r.windows, r.window, r.threads,
                     r.threads == 1 ? "" : "s");
  if (r.chips_reused != 0)
    out << fmt::format("replication         {} chips simulated, {} reused (same program, config and link "
                       "arrivals, proven by comparison)\n",
                       r.chips_simulated, r.chips_reused);
  std::array<uint64_t, static_cast<size_t>(ErrorKind::count)> errors{};
  uint64_t instructions = 0, busy = 0, cabled = 0;
  std::vector<ChipLinkFigures> links;
  for (uint32_t c = 0; c < sys.chips(); ++c) {
    const ConformanceLog& log = sys.simulated(c).context().log;
    for (size_t k = 0; k < errors.size(); ++k) errors[k] += log.count(static_cast<ErrorKind>(k));
    instructions += instructions_of(report, c);
    links.push_back(chip_link_figures(report, c));
    busy += links.back().busy_cycles;
    cabled += links.back().cabled;
  }
  uint64_t total = 0;
  for (uint64_t n : errors) total += n;
  out << fmt::format("instructions        {}\n", instructions);
  out << fmt::format("conformance errors  {}\n", total);
  for (size_t k = 0; k < errors.size(); ++k)
    if (errors[k] != 0)
      out << fmt::format("  {:<18}{}\n", error_kind_name(static_cast<ErrorKind>(k)), errors[k]);
  out << fmt::format("link vectors        {} delivered, {} sent on links without a cable\n",
                     r.vectors_delivered, r.vectors_unconnected);
  out << fmt::format("link utilisation    {:.2f}% of {} cabled link directions (busy serialising / cycles)\n",
                     100 * ratio(double(busy), double(cabled) * double(r.cycles)), cabled);
  if (sys.chips() <= kChipTableLimit) {
    out << "chip  cycles  instructions  errors  cabled links  vectors sent  link util  busiest link\n";
    for (uint32_t c = 0; c < sys.chips(); ++c) {
      const ChipLinkFigures& f = links[c];
      uint64_t sent = 0;
      const LinkFigures* busiest = nullptr;
      for (const auto& l : f.links) {
        sent += l.vectors_sent;
        if (l.busy_cycles != 0 && (!busiest || l.busy_cycles > busiest->busy_cycles)) busiest = &l;
      }
      out << fmt::format("{:>4}  {:>6}  {:>12}  {:>6}  {:>12}  {:>12}  {:>8.2f}%  {}\n", c, r.chips[c].cycles,
                         instructions_of(report, c), sys.simulated(c).context().log.total(), f.cabled, sent,
                         100 * f.utilisation,
                         busiest ? fmt::format("{} ({:.2f}%)", busiest->link, 100 * busiest->utilisation)
                                 : "-");
    }
  } else {
    out << fmt::format("({} chips: per-chip and per-link figures are in --stats-json)\n", sys.chips());
  }
  uint64_t all_weights = 0;
  const ChipFigures decode = system_decode(report, all_weights);
  print_decode(out, decode, first,
               fmt::format(" on the busiest of {} chips ({} on all)", sys.chips(), all_weights),
               report.requests, "system");
  if (report.breakdowns && sys.chips() <= kBreakdownChipLimit)
    for (uint32_t c = 0; c < sys.chips(); ++c)
      if (!(*report.breakdowns)[c].empty()) {
        out << fmt::format("chip {}: ", c);
        print_breakdown(out, (*report.breakdowns)[c]);
      }
  out << fmt::format("host                {:.3f} s, {:.0f} simulated cycles/s, {:.0f} chip-cycles/s\n",
                     r.host_seconds, ratio(double(r.cycles), r.host_seconds),
                     ratio(double(r.cycles) * sys.chips(), r.host_seconds));
}

nlohmann::json system_stats_json(const SystemReport& report) {
  const System& sys = report.system;
  const SystemResult& r = report.result;
  nlohmann::json j;
  j["program"] = report.program_path;
  j["system"] = sys.config().name;
  j["system_fingerprint"] = fmt::format("0x{:016x}", system_fingerprint(sys.config()));
  j["mode"] = sys.simulated(0).context().options.timing_only ? "timing-only" : "functional";
  j["partial"] = r.interrupted || r.stopped_strict;
  j["cycles"] = r.cycles;
  j["windows"] = r.windows;
  j["window_cycles"] = r.window;
  j["threads"] = r.threads;
  j["chips_simulated"] = r.chips_simulated;
  j["chips_reused"] = r.chips_reused;
  j["host_seconds"] = r.host_seconds;
  nlohmann::json totals = nlohmann::json::object();
  for (size_t k = 0; k < static_cast<size_t>(ErrorKind::count); ++k)
    totals[error_kind_name(static_cast<ErrorKind>(k))] = 0;
  uint64_t busy = 0, cabled = 0;
  nlohmann::json chips = nlohmann::json::array();
  for (uint32_t c = 0; c < sys.chips(); ++c) {
    const ConformanceLog& log = sys.simulated(c).context().log;
    nlohmann::json errors = nlohmann::json::object();
    for (size_t k = 0; k < static_cast<size_t>(ErrorKind::count); ++k) {
      const auto kind = static_cast<ErrorKind>(k);
      errors[error_kind_name(kind)] = log.count(kind);
      totals[error_kind_name(kind)] = totals[error_kind_name(kind)].get<uint64_t>() + log.count(kind);
    }
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : log.kept()) list.push_back(e.describe());
    const ChipLinkFigures f = chip_link_figures(report, c);
    busy += f.busy_cycles;
    cabled += f.cabled;
    nlohmann::json links = nlohmann::json::array();
    for (const auto& l : f.links) {
      nlohmann::json link = {{"link", l.link},
                             {"vectors_sent", l.vectors_sent},
                             {"vectors_received", l.vectors_received},
                             {"busy_cycles", l.busy_cycles},
                             {"utilisation", l.utilisation}};
      if (l.peer) link["peer"] = {{"chip", l.peer->chip}, {"link", l.peer->link}};
      links.push_back(std::move(link));
    }
    nlohmann::json chip = {{"chip", c},
                           {"simulated_as", sys.representative(c)},
                           {"cycles", r.chips[c].cycles},
                           {"first_issue_cycle", r.chips[c].first_issue == kNever
                                                     ? nlohmann::json()
                                                     : nlohmann::json(r.chips[c].first_issue)},
                           {"last_active_cycle", r.chips[c].last_active},
                           {"occupancy_cycles", occupancy_cycles(r.chips[c])},
                           {"instructions", instructions_of(report, c)},
                           {"conformance_errors", errors},
                           {"conformance_error_list", list},
                           {"link_utilisation", f.utilisation},
                           {"links", links}};
    // The chip's unit, MXM, MEM, stream and C2C figures, as a one-chip run reports them.
    const nlohmann::json figures =
        stats_json({sys.simulated(c), r.chips[c], sys.program().program_of(c), report.program_path});
    for (const char* key : {"units", "mxm", "mem", "streams", "c2c"}) chip[key] = figures.at(key);
    if (report.breakdowns && !(*report.breakdowns)[c].empty())
      chip["breakdown"] = breakdown_json((*report.breakdowns)[c]);
    chips.push_back(std::move(chip));
  }
  j["conformance_errors"] = totals;
  j["links"] = {{"vectors_delivered", r.vectors_delivered},
                {"vectors_unconnected", r.vectors_unconnected},
                {"cabled_link_directions", cabled},
                {"utilisation", ratio(double(busy), double(cabled) * double(r.cycles))}};
  j["chips"] = chips;
  uint64_t all_weights = 0;
  const ChipFigures decode = system_decode(report, all_weights);
  if (decode.weight_bytes != 0) {
    const char* key = stats_key(decode);
    j[key] = decode_json(decode, sys.simulated(0).context().config, report.requests);
    j[key]["weight_bytes_all_chips"] = all_weights;
  }
  return j;
}

} // namespace tsp
