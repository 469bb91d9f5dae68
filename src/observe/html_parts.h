// The building blocks of the HTML reports (html_report.cpp for one chip, system_html_report.cpp
// for a system): page frame, SVG figures and the chip's own sections. Every chart marks what it
// draws with class "mark", which the page's render check counts (docs/workflow.md).
#pragma once

#include "tspsim/observe/html_report.h"

#include <string>
#include <utility>
#include <vector>

namespace tsp::html {

constexpr int kWidth = 960; // every chart's width in px
constexpr int kLeft = 170;  // room for row labels
constexpr int kPlot = kWidth - kLeft - 20;
constexpr std::array<const char*, 4> kUnitNames = {"MEM", "VXM", "MXM", "SXM"};
constexpr std::array<const char*, 4> kUnitColours = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

std::string escape(const std::string& text);

// <!DOCTYPE html> ... <body><h1>title</h1>
std::string page_begin(const std::string& title);
// The render check script and the closing tags.
std::string page_end();

// A table with an id (the render check counts its rows) of name/value rows.
std::string table(const std::string& id, const std::vector<std::pair<std::string, std::string>>& rows);

// <figure id> with a caption around an SVG body of `height` px.
std::string figure(const std::string& id, const std::string& caption, int height, const std::string& body);

// A line chart of `series` (values 0..`top`) over time buckets of `bucket` cycles, with a legend.
using Series = std::vector<std::pair<std::string, std::vector<double>>>;
std::string line_chart(const Series& series, const std::vector<const char*>& colours, double top,
                       const std::string& unit, Cycle bucket, size_t buckets);

// Horizontal bars, one row each; a bar of value 0 draws no mark. `top` is the full width's value.
struct Bar {
  std::string label; // shown left of the bar (may be empty)
  double value = 0;
  std::string text; // shown right of the bar
  const char* colour = "#4c78a8";
  bool gap_before = false; // a little space before the row (groups)
};
std::string bar_chart(const std::vector<Bar>& bars, double top);
int bar_chart_height(const std::vector<Bar>& bars);

// Stacked horizontal bars: one row per label, one segment per part (kBreakdownColours, the
// categories then idle), with a legend; a segment of 0 draws no mark.
using StackedRow = std::pair<std::string, std::vector<uint64_t>>;
std::string stacked_bars(const std::vector<StackedRow>& rows, const std::vector<std::string>& parts);
int stacked_bars_height(size_t rows);
// The parts of a breakdown: the region categories, then idle; and a group's cycles in that order.
std::vector<std::string> breakdown_parts();
std::vector<uint64_t> breakdown_values(const GroupBreakdown& group);

// The statistics table of one chip (id `table_id`) and its four charts: utilisation heatmap,
// utilisation per unit over time, instruction mix and stream occupancy; with a measured
// breakdown, its per-layer chart too.
std::string chip_sections(const RunReport& report, const ReportCollector& collector,
                          const std::string& table_id);

} // namespace tsp::html
