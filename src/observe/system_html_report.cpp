#include "tspsim/observe/system_html_report.h"

#include "html_parts.h"
#include "tspsim/observe/system_trace.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp {

namespace {

using html::Bar;

// Larger systems show their busiest chips and links only: the page stays readable.
constexpr size_t kMaxChipBars = 72;
constexpr size_t kMaxLinkBars = 128;

double ratio(double part, double whole) { return whole > 0 ? part / whole : 0.0; }

RunReport chip_report(const SystemReport& report, uint32_t chip) {
  const RegionBreakdown* breakdown = report.breakdowns ? &(*report.breakdowns)[chip] : nullptr;
  return {report.system.simulated(chip),
          report.result.chips[chip],
          report.system.program().program_of(chip),
          report.program_path,
          breakdown,
          report.requests};
}

// Every chip's cycles by category, its groups added up (the per-chip breakdown); none without regions.
std::string chip_breakdown(const SystemReport& report) {
  if (!report.breakdowns) return "";
  std::vector<html::StackedRow> rows;
  for (uint32_t c = 0; c < report.system.chips(); ++c) {
    const RegionBreakdown& b = (*report.breakdowns)[c];
    if (b.empty()) continue;
    std::vector<uint64_t> sum(kRegionCategories + 1, 0);
    for (const auto& g : b.groups) {
      const auto values = html::breakdown_values(g);
      for (size_t p = 0; p < sum.size(); ++p) sum[p] += values[p];
    }
    rows.emplace_back(fmt::format("chip {}", c), std::move(sum));
  }
  if (rows.empty()) return "";
  return html::figure(
      "chip-breakdown",
      "Per-chip breakdown: each chip's cycles by category, its layers added up (docs/llama.md)",
      html::stacked_bars_height(rows.size()), html::stacked_bars(rows, html::breakdown_parts()));
}

std::string replicated_note(const System& system, uint32_t chip) {
  const uint32_t rep = system.representative(chip);
  return rep == chip ? "simulated" : fmt::format("replicated from chip {}", rep);
}

std::vector<std::pair<std::string, std::string>> system_rows(const SystemReport& report,
                                                             const std::vector<ChipLinkFigures>& links) {
  const System& sys = report.system;
  const SystemResult& r = report.result;
  const double mhz = sys.simulated(0).context().config.clock_mhz;
  uint64_t instructions = 0, errors = 0, busy = 0, cabled = 0;
  for (uint32_t c = 0; c < sys.chips(); ++c) {
    instructions += chip_figures(chip_report(report, c)).instructions;
    errors += sys.simulated(c).context().log.total();
    busy += links[c].busy_cycles;
    cabled += links[c].cabled;
  }
  return {
      {"system", fmt::format("{} ({} chips)", sys.config().name, sys.chips())},
      {"mode", sys.simulated(0).context().options.timing_only ? "timing-only" : "functional"},
      {"cycles", fmt::format("{}{}", r.cycles, r.interrupted ? " (partial)" : "")},
      {"simulated time", fmt::format("{:.3f} us at {} MHz", double(r.cycles) / mhz, mhz)},
      {"chips simulated", fmt::format("{} ({} replicated: same program, config and link arrivals, proven by "
                                      "comparison)",
                                      r.chips_simulated, r.chips_reused)},
      {"windows", fmt::format("{} of {} cycles", r.windows, r.window)},
      {"instructions", fmt::format("{}", instructions)},
      {"conformance errors", fmt::format("{}", errors)},
      {"link vectors", fmt::format("{} delivered, {} sent on links without a cable", r.vectors_delivered,
                                   r.vectors_unconnected)},
      {"link utilisation", fmt::format("{:.2f}% of {} cabled link directions",
                                       100 * ratio(double(busy), double(cabled) * double(r.cycles)), cabled)},
  };
}

// A row per chip: cycles, instructions, errors, utilisation per unit and of its links.
std::string chip_table(const SystemReport& report, const std::vector<ChipLinkFigures>& links) {
  std::string html = "<table id=\"chip-table\">\n<tr><th>chip</th><th>simulation</th><th>cycles</th>"
                     "<th>instructions</th><th>errors</th>";
  for (const char* unit : html::kUnitNames) html += fmt::format("<th>{} busy</th>", unit);
  html += "<th>link utilisation</th></tr>\n";
  for (uint32_t c = 0; c < report.system.chips(); ++c) {
    const ChipFigures f = chip_figures(chip_report(report, c));
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>", c,
                        replicated_note(report.system, c), report.result.chips[c].cycles, f.instructions,
                        report.system.simulated(c).context().log.total());
    for (const UnitFigures& u : f.units)
      html += fmt::format("<td>{} ({:.2f}%)</td>", u.busy_slice_cycles, 100 * u.utilisation);
    html += fmt::format("<td>{:.2f}%</td></tr>\n", 100 * links[c].utilisation);
  }
  return html + "</table>\n";
}

// Four bars per chip: each unit's utilisation, labelled with its busy slice-cycles.
std::string chip_units(const SystemReport& report) {
  const uint32_t shown = static_cast<uint32_t>(std::min<size_t>(report.system.chips(), kMaxChipBars));
  std::vector<Bar> bars;
  double top = 0;
  for (uint32_t c = 0; c < shown; ++c) {
    const ChipFigures f = chip_figures(chip_report(report, c));
    const uint32_t rep = report.system.representative(c);
    for (size_t u = 0; u < f.units.size(); ++u) {
      const UnitFigures& unit = f.units[u];
      const std::string label = u != 0     ? ""
                                : rep == c ? fmt::format("chip {}", c)
                                           : fmt::format("chip {} (= chip {})", c, rep);
      bars.push_back({label, 100 * unit.utilisation,
                      fmt::format("{} {:.2f}% ({} busy slice-cycles)", html::kUnitNames[u],
                                  100 * unit.utilisation, unit.busy_slice_cycles),
                      html::kUnitColours[u], u == 0 && c != 0});
      top = std::max(top, 100 * unit.utilisation);
    }
  }
  const std::string more = shown < report.system.chips()
                               ? fmt::format(" (the first {} of {} chips)", shown, report.system.chips())
                               : "";
  return html::figure("chip-units",
                      "Busy slice-cycles per unit per chip; bar length is the unit's utilisation" + more,
                      html::bar_chart_height(bars), html::bar_chart(bars, top > 0 ? top : 1));
}

// A bar per link direction with a cable or traffic: busy serialising / the system's cycles.
std::string link_utilisation(const SystemReport& report, const std::vector<ChipLinkFigures>& links) {
  struct Row {
    uint32_t chip;
    const LinkFigures* link;
  };
  std::vector<Row> rows;
  for (uint32_t c = 0; c < report.system.chips(); ++c)
    for (const LinkFigures& l : links[c].links) rows.push_back({c, &l});
  const size_t total = rows.size();
  if (rows.size() > kMaxLinkBars) {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.link->busy_cycles > b.link->busy_cycles; });
    rows.resize(kMaxLinkBars);
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return std::make_pair(a.chip, a.link->link) < std::make_pair(b.chip, b.link->link);
    });
  }
  std::vector<Bar> bars;
  double top = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const LinkFigures& l = *rows[i].link;
    const std::string to = l.peer ? fmt::format(" to {}.{}", l.peer->chip, l.peer->link) : " (no cable)";
    bars.push_back({fmt::format("chip {} link {}{}", rows[i].chip, l.link, to), 100 * l.utilisation,
                    fmt::format("{:.2f}%: {} vectors, {} busy cycles", 100 * l.utilisation, l.vectors_sent,
                                l.busy_cycles),
                    "#ff7f0e", i != 0 && rows[i].chip != rows[i - 1].chip});
    top = std::max(top, 100 * l.utilisation);
  }
  const std::string more =
      rows.size() < total ? fmt::format(" (the {} busiest of {})", rows.size(), total) : "";
  return html::figure(
      "link-utilisation",
      "Link utilisation per link direction (chip link to chip.link): cycles serialising / the "
      "system's cycles" +
          more,
      html::bar_chart_height(bars), html::bar_chart(bars, top > 0 ? top : 1));
}

std::string link_occupancy(const std::vector<ChipLinkFigures>& links, const LinkCollector& collector) {
  uint64_t cabled = 0;
  for (const auto& f : links) cabled += f.cabled;
  html::Series series = {{"busy cabled link directions", {}}};
  double top = 0;
  for (size_t b = 0; b < collector.buckets(); ++b) {
    const double value =
        100 * ratio(double(collector.busy_in(b)), double(cabled * collector.bucket_cycles()));
    series[0].second.push_back(value);
    top = std::max(top, value);
  }
  return html::figure(
      "link-occupancy",
      fmt::format("Link occupancy over time: busy cabled link directions / all {} (windows of {} "
                  "cycles)",
                  cabled, collector.bucket_cycles()),
      300,
      html::line_chart(series, {"#ff7f0e"}, top > 0 ? top : 1, "%", collector.bucket_cycles(),
                       collector.buckets()));
}

} // namespace

void LinkCollector::sent(const LinkSend& send) {
  if (!send.cabled) return;
  while ((send.end - 1) / bucket_ >= kMaxBuckets) {
    for (size_t i = 0; i < busy_.size(); ++i) busy_[i / 2] = (i % 2 ? busy_[i / 2] : 0) + busy_[i];
    busy_.resize((busy_.size() + 1) / 2);
    bucket_ *= 2;
  }
  busy_.resize(std::max<size_t>(busy_.size(), (send.end - 1) / bucket_ + 1));
  for (Cycle t = send.start; t < send.end;) {
    const Cycle to = std::min(send.end, (t / bucket_ + 1) * bucket_);
    busy_[t / bucket_] += to - t;
    t = to;
  }
}

std::string system_html_report(const SystemReport& report, uint32_t chip, const ReportCollector& collector,
                               const LinkCollector& links) {
  const System& sys = report.system;
  std::vector<ChipLinkFigures> link_figures;
  for (uint32_t c = 0; c < sys.chips(); ++c) link_figures.push_back(chip_link_figures(report, c));
  std::string page =
      html::page_begin(fmt::format("tspsim: {} on system {}", report.program_path, sys.config().name));
  page += "<h2>System</h2>\n" + html::table("system-table", system_rows(report, link_figures));
  if (report.result.chips_reused != 0)
    page += fmt::format(
        "<p>Timing-only replication: {} of {} chips were not simulated on their own; each has the "
        "figures of the chip named in its row (same program, config and link arrivals, proven by "
        "comparison). <code>--no-replicate</code> simulates every chip.</p>\n",
        report.result.chips_reused, sys.chips());
  page +=
      "<h2>Per chip</h2>\n" + chip_table(report, link_figures) + chip_units(report) + chip_breakdown(report);
  page += "<h2>Links</h2>\n" + link_utilisation(report, link_figures) + link_occupancy(link_figures, links);
  page += "<h2>" + html::escape(system_chip_name(sys, chip)) + "</h2>\n";
  if (sys.representative(chip) != chip)
    page += fmt::format(
        "<p>This chip was replicated from chip {}: its slices did exactly what chip {}'s did.</p>\n",
        sys.representative(chip), sys.representative(chip));
  page += html::chip_sections(chip_report(report, chip), collector, "stats-table");
  return page + html::page_end();
}

} // namespace tsp
