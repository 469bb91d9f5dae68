#include "tspsim/observe/html_report.h"

#include "html_parts.h"
#include "tspsim/config/config.h"

#include <algorithm>
#include <fmt/format.h>
#include <map>

namespace tsp::html {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

namespace {

// White (idle) to dark blue (busy every cycle).
std::string heat_colour(double fraction) {
  const auto mix = [&](int from, int to) { return int(from + (to - from) * std::clamp(fraction, 0.0, 1.0)); };
  return fmt::format("rgb({},{},{})", mix(235, 8), mix(242, 48), mix(250, 107));
}

// The time axis under a chart: bucket boundaries as cycles.
std::string time_axis(int y, Cycle bucket, size_t buckets) {
  std::string svg = fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#444\"/>\n", kLeft, y,
                                kLeft + kPlot, y);
  const size_t ticks = std::min<size_t>(buckets, 8);
  for (size_t i = 0; i <= ticks; ++i) {
    const double x = kLeft + double(kPlot) * double(i) / double(ticks);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n", x,
                       y + 14, Cycle(double(buckets) * double(bucket) * double(i) / double(ticks)));
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">cycle</text>\n",
                     kLeft + kPlot / 2, y + 28);
  return svg;
}

} // namespace

std::string figure(const std::string& id, const std::string& caption, int height, const std::string& body) {
  return fmt::format(
      "<figure id=\"{}\"><figcaption>{}</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\">\n{}</svg></figure>\n",
      id, caption, kWidth, height, kWidth, height, body);
}

// A line chart of `series` (values 0..`top`) over the buckets, with a legend.
std::string line_chart(const Series& series, const std::vector<const char*>& colours, double top,
                       const std::string& unit, Cycle bucket, size_t buckets) {
  const int height = 220;
  std::string svg;
  for (int i = 0; i <= 4; ++i) {
    const double y = 10 + height * (1 - i / 4.0);
    svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
                       "<text x=\"{}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"end\">{:.3g}{}</text>\n",
                       kLeft, y, kLeft + kPlot, y, kLeft - 6, y + 4, top * i / 4.0, unit);
  }
  const double step = buckets > 0 ? double(kPlot) / double(buckets) : 0;
  for (size_t k = 0; k < series.size(); ++k) {
    std::string points;
    for (size_t b = 0; b < series[k].second.size(); ++b) {
      const double y = 10 + height * (1 - (top > 0 ? series[k].second[b] / top : 0));
      points += fmt::format("{:.1f},{:.1f} {:.1f},{:.1f} ", kLeft + step * b, y, kLeft + step * (b + 1), y);
    }
    svg += fmt::format(
        "<polyline class=\"mark\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
        colours[k], points);
    svg +=
        fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" "
                    "font-size=\"12\">{}</text>\n",
                    kLeft + 10 + 90 * int(k), height + 52, colours[k], kLeft + 26 + 90 * int(k), height + 56,
                    escape(series[k].first));
  }
  return svg + time_axis(height + 10, bucket, buckets);
}

namespace {

std::string heatmap(const EngineContext& ctx, const ReportCollector& c) {
  const auto& slices = ctx.floorplan.slices();
  std::vector<unsigned> order(slices.size());
  for (unsigned s = 0; s < order.size(); ++s) order[s] = s;
  std::sort(order.begin(), order.end(),
            [&](unsigned a, unsigned b) { return slices[a].position < slices[b].position; });
  const int row = std::clamp(600 / int(order.size()), 4, 14);
  const size_t buckets = std::max<size_t>(c.buckets(), 1);
  const double cell = double(kPlot) / double(buckets);
  std::string svg = fmt::format("<rect x=\"{}\" y=\"10\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", kLeft,
                                kPlot, row * int(order.size()), heat_colour(0));
  const unsigned label_every = std::max(1, 12 / row);
  for (size_t r = 0; r < order.size(); ++r) {
    const unsigned s = order[r];
    const int y = 10 + row * int(r);
    if (r % label_every == 0)
      svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"end\">{}</text>\n",
                         kLeft - 6, y + row - 1, std::min(row + 1, 11), escape(slices[s].name));
    for (size_t b = 0; b < c.buckets(); ++b) {
      const uint64_t busy = c.busy_in(s, b);
      if (busy == 0) continue;
      svg +=
          fmt::format("<rect class=\"mark\" x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\">"
                      "<title>{} cycles {}..{}: busy {}</title></rect>\n",
                      kLeft + cell * b, y, cell, row, heat_colour(double(busy) / double(c.bucket_cycles())),
                      escape(slices[s].name), b * c.bucket_cycles(), (b + 1) * c.bucket_cycles() - 1, busy);
    }
  }
  const int bottom = 10 + row * int(order.size());
  return figure(
      "heatmap",
      fmt::format("Busy fraction per slice (west to east) and window of {} cycles; darker is busier",
                  c.bucket_cycles()),
      bottom + 36, svg + time_axis(bottom, c.bucket_cycles(), buckets));
}

std::string unit_utilisation(const EngineContext& ctx, const ReportCollector& c, Cycle cycles) {
  const auto& slices = ctx.floorplan.slices();
  std::vector<std::pair<std::string, std::vector<double>>> series;
  for (size_t u = 0; u < 4; ++u) series.push_back({kUnitNames[u], std::vector<double>(c.buckets(), 0.0)});
  std::array<unsigned, 4> counts{};
  for (const auto& s : slices) ++counts[static_cast<size_t>(s.kind)];
  for (unsigned s = 0; s < slices.size(); ++s)
    for (size_t b = 0; b < c.buckets(); ++b)
      series[static_cast<size_t>(slices[s].kind)].second[b] += double(c.busy_in(s, b));
  for (size_t b = 0; b < c.buckets(); ++b) {
    const Cycle start = b * c.bucket_cycles();
    const double length = double(std::min(c.bucket_cycles(), cycles > start ? cycles - start : 1));
    for (size_t u = 0; u < 4; ++u)
      series[u].second[b] = counts[u] ? 100 * series[u].second[b] / (counts[u] * length) : 0;
  }
  return figure("unit-utilisation", "Utilisation per unit over time (busy slices / slices of the unit)", 300,
                line_chart(series, {kUnitColours.begin(), kUnitColours.end()}, 100, "%", c.bucket_cycles(),
                           c.buckets()));
}

std::string stream_occupancy(const ReportCollector& c, Cycle cycles) {
  std::vector<std::pair<std::string, std::vector<double>>> series = {{"eastward", {}}, {"westward", {}}};
  double top = 0;
  for (size_t d = 0; d < 2; ++d)
    for (size_t b = 0; b < c.buckets(); ++b) {
      const Cycle start = b * c.bucket_cycles();
      const double length = double(std::min(c.bucket_cycles(), cycles > start ? cycles - start : 1));
      series[d].second.push_back(double(c.stream_writes()[d][b]) / length);
      top = std::max(top, series[d].second.back());
    }
  return figure(
      "stream-occupancy", "Stream writes per cycle by direction (vectors put on streams)", 300,
      line_chart(series, {"#ff7f0e", "#17becf"}, top > 0 ? top : 1, "", c.bucket_cycles(), c.buckets()));
}

std::string instruction_mix(const EngineContext& ctx) {
  std::map<std::string, uint64_t> counts;
  for (const auto& st : ctx.stats.slices())
    for (const auto& spec : isa::opcodes())
      if (const uint64_t n = st.by_opcode[static_cast<uint8_t>(spec.opcode)])
        counts[std::string(spec.mnemonic)] += n;
  std::vector<std::pair<std::string, uint64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<Bar> bars;
  for (const auto& [mnemonic, n] : sorted) bars.push_back({mnemonic, double(n), std::to_string(n)});
  return figure("instruction-mix", "Instruction mix: dispatches by mnemonic (Repeat iterations counted)",
                bar_chart_height(bars), bar_chart(bars, bars.empty() ? 1 : bars.front().value));
}

std::vector<std::pair<std::string, std::string>> stats_rows(const RunReport& report) {
  const ChipFigures f = chip_figures(report);
  const EngineContext& ctx = report.chip.context();
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("cycles",
                    fmt::format("{}{}", report.result.cycles, report.result.interrupted ? " (partial)" : ""));
  rows.emplace_back("simulated time",
                    fmt::format("{:.3f} us at {} MHz", f.seconds * 1e6, ctx.config.clock_mhz));
  rows.emplace_back("instructions", fmt::format("{}", f.instructions));
  rows.emplace_back("conformance errors", fmt::format("{}", ctx.log.total()));
  for (size_t u = 0; u < 4; ++u)
    rows.emplace_back(fmt::format("{} utilisation", kUnitNames[u]),
                      fmt::format("{:.2f}% ({} slices, {} instructions)", 100 * f.units[u].utilisation,
                                  f.units[u].slices, f.units[u].instructions));
  rows.emplace_back("MXM MACs", fmt::format("{} ({:.2f}% of peak)", f.macs, 100 * f.mac_utilisation));
  rows.emplace_back("MEM bytes", fmt::format("{} ({:.2f}% of peak)", f.sram_bytes, 100 * f.sram_utilisation));
  rows.emplace_back("stream bytes", fmt::format("{} ({:.2f}% of one boundary's peak)", f.stream_bytes,
                                                100 * f.stream_utilisation));
  if (f.link_bytes != 0) rows.emplace_back("C2C bytes sent", fmt::format("{}", f.link_bytes));
  if (f.tokens_per_second > 0) rows.emplace_back("tokens/s", fmt::format("{:.1f}", f.tokens_per_second));
  return rows;
}

// Counts each chart's drawn marks and their rendered extent, so that a headless browser's DOM dump
// shows whether every chart really rendered (tests/observe/test_html_report.cpp).
constexpr const char* kRenderCheck = R"(<pre id="render-check"></pre>
<script>
const lines = [];
for (const fig of document.querySelectorAll('figure')) {
  let marks = 0, area = 0;
  for (const m of fig.querySelectorAll('.mark')) { const b = m.getBBox(); marks++; area += b.width * Math.max(b.height, 1); }
  lines.push(fig.id + ' marks=' + marks + ' area=' + (area > 0 ? 'positive' : 'zero'));
}
for (const t of document.querySelectorAll('table[id]')) lines.push(t.id + ' rows=' + t.rows.length);
document.getElementById('render-check').textContent = lines.join('\n');
</script>
)";

} // namespace

std::string page_begin(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + escape(title) +
         "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222}figure{margin:0 0 28px 0}"
         "figcaption{font-weight:bold;margin-bottom:6px}table{border-collapse:collapse;margin-bottom:16px}"
         "th,td{border:1px solid #ccc;padding:3px 10px;text-align:left}th{background:#f4f4f4}"
         "pre#render-check{color:#888;font-size:11px}</style></head><body>\n<h1>" +
         escape(title) + "</h1>\n";
}

std::string page_end() { return std::string(kRenderCheck) + "</body></html>\n"; }

std::string table(const std::string& id, const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string html = "<table id=\"" + id + "\">\n";
  for (const auto& [name, value] : rows)
    html += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", escape(name), escape(value));
  return html + "</table>\n";
}

int bar_chart_height(const std::vector<Bar>& bars) {
  int height = 20;
  for (const Bar& bar : bars) height += bar.gap_before ? 24 : 18;
  return height;
}

std::string bar_chart(const std::vector<Bar>& bars, double top) {
  std::string svg;
  int y = 10;
  for (const Bar& bar : bars) {
    y += bar.gap_before ? 6 : 0;
    const double w = top > 0 ? double(kPlot - 280) * bar.value / top : 0; // room for the text
    if (!bar.label.empty())
      svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>", kLeft - 6,
                         y + 11, escape(bar.label));
    if (bar.value > 0)
      svg +=
          fmt::format("<rect class=\"mark\" x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"13\" fill=\"{}\"/>",
                      kLeft, y, std::max(w, 1.0), bar.colour);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\">{}</text>\n",
                       kLeft + std::max(w, 1.0) + 5, y + 11, escape(bar.text));
    y += 18;
  }
  return svg;
}

namespace {
constexpr std::array<const char*, kRegionCategories + 1> kBreakdownColours = {
    "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#d9d9d9"};
constexpr int kStackedRow = 20;
constexpr int kLegend = 24;

std::string layer_breakdown(const RegionBreakdown& breakdown) {
  std::vector<StackedRow> rows;
  for (const auto& g : breakdown.groups) rows.emplace_back(g.group, breakdown_values(g));
  return figure("layer-breakdown",
                "Per-layer breakdown: each simulated cycle to the category that dispatched in it (idle: "
                "nothing dispatched; docs/llama.md)",
                stacked_bars_height(rows.size()), stacked_bars(rows, breakdown_parts()));
}
} // namespace

std::vector<std::string> breakdown_parts() {
  std::vector<std::string> parts(kRegionCategoryNames.begin(), kRegionCategoryNames.end());
  parts.emplace_back("idle");
  return parts;
}

std::vector<uint64_t> breakdown_values(const GroupBreakdown& group) {
  std::vector<uint64_t> values(group.cycles.begin(), group.cycles.end());
  values.push_back(group.idle);
  return values;
}

int stacked_bars_height(size_t rows) { return kLegend + 10 + int(rows) * kStackedRow; }

std::string stacked_bars(const std::vector<StackedRow>& rows, const std::vector<std::string>& parts) {
  uint64_t top = 1;
  for (const auto& row : rows) {
    uint64_t sum = 0;
    for (uint64_t v : row.second) sum += v;
    top = std::max(top, sum);
  }
  std::string svg;
  for (size_t p = 0; p < parts.size(); ++p)
    svg += fmt::format("<rect x=\"{}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" "
                       "y=\"13\" font-size=\"11\">{}</text>",
                       kLeft + int(p) * 120, kBreakdownColours[p % kBreakdownColours.size()],
                       kLeft + int(p) * 120 + 14, escape(parts[p]));
  svg += "\n";
  int y = kLegend;
  for (const auto& [label, values] : rows) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>", kLeft - 6,
                       y + 13, escape(label));
    double x = kLeft;
    uint64_t sum = 0;
    for (size_t p = 0; p < values.size(); ++p) {
      sum += values[p];
      if (values[p] == 0) continue;
      const double w = double(kPlot - 80) * double(values[p]) / double(top);
      svg += fmt::format("<rect class=\"mark\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"15\" "
                         "fill=\"{}\"><title>{}: {} cycles</title></rect>",
                         x, y, std::max(w, 0.5), kBreakdownColours[p % kBreakdownColours.size()],
                         escape(parts[p]), values[p]);
      x += w;
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\">{}</text>\n", x + 5, y + 13, sum);
    y += kStackedRow;
  }
  return svg;
}

std::string chip_sections(const RunReport& report, const ReportCollector& collector,
                          const std::string& table_id) {
  const EngineContext& ctx = report.chip.context();
  const Cycle cycles = report.result.cycles;
  std::string html = table(table_id, stats_rows(report)) + heatmap(ctx, collector) +
                     unit_utilisation(ctx, collector, cycles) + instruction_mix(ctx) +
                     stream_occupancy(collector, cycles);
  if (report.breakdown && !report.breakdown->empty()) html += layer_breakdown(*report.breakdown);
  return html;
}

} // namespace tsp::html

namespace tsp {

ReportCollector::ReportCollector(const Floorplan& floorplan) : busy_(floorplan.slices().size()) {}

size_t ReportCollector::bucket_of(Cycle cycle) {
  while (cycle / bucket_ >= kMaxBuckets) {
    // Twice the window: neighbours merge.
    const auto halve = [](std::vector<uint64_t>& v) {
      for (size_t i = 0; i < v.size(); ++i) v[i / 2] = (i % 2 ? v[i / 2] : 0) + v[i];
      v.resize((v.size() + 1) / 2);
    };
    for (auto& v : busy_) halve(v);
    for (auto& v : writes_) halve(v);
    bucket_ *= 2;
    used_ = (used_ + 1) / 2;
  }
  const size_t b = cycle / bucket_;
  if (b >= used_) {
    used_ = b + 1;
    for (auto& v : busy_) v.resize(used_);
    for (auto& v : writes_) v.resize(used_);
  }
  return b;
}

void ReportCollector::busy(unsigned slice, Cycle cycle) { ++busy_[slice][bucket_of(cycle)]; }

void ReportCollector::streamed(unsigned, Cycle cycle, StreamRef stream, unsigned group, const Origin&) {
  writes_[stream.west ? 1 : 0][bucket_of(cycle)] += group;
}

std::string html_report(const RunReport& report, const ReportCollector& collector) {
  const std::string title =
      fmt::format("tspsim: {} on {}", report.program_path, report.chip.context().config.name);
  return html::page_begin(title) + "<h2>Statistics and charts</h2>\n" +
         html::chip_sections(report, collector, "stats-table") + html::page_end();
}

} // namespace tsp
