#include "tspsim_workflow.h"

#include "cli/cli_common.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/observe/activity_log.h"
#include "tspsim/observe/system_trace.h"
#include "tspsim/observe/trace_writer.h"

#include <filesystem>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace {
// The checks every run makes before it starts, beside tspsim's check of the output paths: a
// --trace-window without a trace, or one that does not parse. Returns the window to observe.
tsp::CycleWindow check_options(const WorkflowOptions& options) {
  if (!options.trace_window.empty() && options.trace.empty() && options.vcd.empty())
    throw tsp::InputError("--trace-window needs --trace FILE or --vcd FILE");
  return options.trace_window.empty() ? tsp::CycleWindow{}
                                      : tsp::parse_cycle_window(options.trace_window, "--trace-window");
}

std::filesystem::path report_page(const std::string& dir) {
  return std::filesystem::path(dir) / "index.html";
}

// After the outputs are in place: what --log-level info reports.
void log_written(const WorkflowOptions& options, const std::string& trace_detail) {
  if (!options.trace.empty()) spdlog::info("wrote the trace to {}{}", options.trace, trace_detail);
  if (!options.vcd.empty()) spdlog::info("wrote the waveform to {}", options.vcd);
  if (!options.report_dir.empty())
    spdlog::info("wrote the report to {}", report_page(options.report_dir).string());
}
} // namespace

void check_workflow_outputs(const WorkflowOptions& options, tsp::OutputFiles& outputs) {
  if (!options.trace.empty()) outputs.check(options.trace, "--trace");
  if (!options.vcd.empty()) outputs.check(options.vcd, "--vcd");
  if (!options.activity_log.empty()) outputs.check(options.activity_log, "--activity-log");
  if (!options.report_dir.empty()) {
    outputs.check_directory(options.report_dir, "--report");
    outputs.check(report_page(options.report_dir), "--report");
  }
}

void add_workflow_options(CLI::App& app, WorkflowOptions& options) {
  tsp::cli::takes_path(
      app, app.add_option("--trace", options.trace,
                          "write a Chrome/Perfetto trace (JSON): a span per instruction, per slice"));
  app.add_option("--trace-window", options.trace_window,
                 "FIRST:LAST: trace (and --vcd) only cycles [FIRST, LAST)");
  tsp::cli::takes_path(app,
                       app.add_option("--vcd", options.vcd,
                                      "write a waveform (VCD): per-slice busy and per-stream occupancy"));
  tsp::cli::takes_path(app, app.add_option("--report", options.report_dir,
                                           "write an HTML report with charts to DIR/index.html"));
  app.add_option("--report-chip", options.report_chip,
                 "--system --report: the chip whose slice charts the report shows (default 0)")
      ->check(CLI::NonNegativeNumber);
  tsp::cli::takes_path(app, app.add_option("--activity-log", options.activity_log,
                                           "write the per-cycle activity log the golden suite compares"));
  app.add_option("--log-level", options.log_level,
                 "trace|debug|info|warn|error|off (default warn), on stderr");
}

void apply_log_level(const WorkflowOptions& options) {
  const auto level = spdlog::level::from_str(options.log_level);
  // from_str answers "off" for anything it does not know.
  if (level == spdlog::level::off && options.log_level != "off")
    throw tsp::InputError(
        fmt::format("--log-level {}: expected trace, debug, info, warn, error or off", options.log_level));
  spdlog::set_default_logger(spdlog::stderr_color_st("tspsim"));
  spdlog::set_level(level);
  spdlog::set_pattern("tspsim: %l: %v");
}

WorkflowOutputs::WorkflowOutputs(const WorkflowOptions& options, tsp::Chip& chip,
                                 const tsp::ProgramRegions& regions, tsp::Cycle expected_cycles)
    : options_(options), chip_(chip) {
  if (options.report_chip >= 0) throw tsp::InputError("--report-chip picks a chip of a --system run");
  const tsp::CycleWindow window = check_options(options);
  const tsp::EngineContext& ctx = chip.context();
  if (!options.trace.empty() || !options.activity_log.empty()) {
    recorder_ = std::make_unique<tsp::ActivityRecorder>(window);
    fanout_.add(recorder_.get());
  }
  if (!options.vcd.empty()) {
    vcd_ = std::make_unique<tsp::VcdWriter>("vcd", ctx, options.vcd, chip.period(), window);
    fanout_.add(vcd_.get());
  }
  if (!options.report_dir.empty()) {
    collector_ = std::make_unique<tsp::ReportCollector>(ctx.floorplan);
    fanout_.add(collector_.get());
  }
  if (!regions.empty()) {
    profiler_ = std::make_unique<tsp::RegionProfiler>(regions, ctx.floorplan.queues().size());
    fanout_.add(profiler_.get());
  }
  if (!fanout_.empty()) chip.context().stats.set_observer(&fanout_);
  if (isatty(STDERR_FILENO))
    progress_ = std::make_unique<tsp::Progress>(
        "progress", [&chip] { return chip.running(); }, chip.period(), expected_cycles, stderr);
  chip.set_sole_process(!vcd_ && !progress_);
}

WorkflowOutputs::~WorkflowOutputs() { chip_.context().stats.set_observer(nullptr); }

tsp::RegionBreakdown WorkflowOutputs::breakdown(uint64_t cycles) const {
  return profiler_ ? profiler_->breakdown(cycles) : tsp::RegionBreakdown{};
}

void WorkflowOutputs::stage(const tsp::RunReport& report, tsp::OutputFiles& outputs) {
  if (progress_) progress_->finish();
  const tsp::EngineContext& ctx = chip_.context();
  if (!options_.trace.empty()) {
    nlohmann::json events = nlohmann::json::array();
    const tsp::Cycle end = report.result.last_active + 1;
    tsp::append_chip_trace(events, {0, fmt::format("chip 0 ({})", ctx.config.name), ctx, *recorder_, end});
    outputs.stage(options_.trace, tsp::trace_file(std::move(events)));
  }
  if (!options_.activity_log.empty())
    outputs.stage(options_.activity_log, tsp::activity_log(*recorder_, ctx.floorplan));
  if (collector_) outputs.stage(report_page(options_.report_dir), tsp::html_report(report, *collector_));
}

void WorkflowOutputs::finish() {
  if (vcd_) vcd_->close();
  log_written(options_, recorder_ ? fmt::format(" ({} spans)", recorder_->dispatches().size()) : "");
}

SystemWorkflowOutputs::SystemWorkflowOutputs(const WorkflowOptions& options, tsp::System& system,
                                             tsp::Cycle expected_cycles)
    : options_(options), system_(system) {
  if (!options.vcd.empty())
    throw tsp::InputError("--vcd writes one chip's waveform: drop it or --system (--trace shows every chip)");
  if (options.report_chip >= 0) {
    if (options.report_dir.empty()) throw tsp::InputError("--report-chip needs --report DIR");
    if (options.report_chip >= int64_t(system.chips()))
      throw tsp::InputError(fmt::format("--report-chip {}: the system has chips 0 to {}", options.report_chip,
                                        system.chips() - 1));
    report_chip_ = static_cast<uint32_t>(options.report_chip);
  }
  const tsp::CycleWindow window = check_options(options);
  const uint32_t chips = system.chips();
  const bool record = !options.trace.empty() || !options.activity_log.empty();
  if (record) {
    link_recorder_ = std::make_unique<tsp::LinkRecorder>(chips, window);
    link_fanout_.add(link_recorder_.get());
  }
  if (!options.report_dir.empty()) {
    link_collector_ = std::make_unique<tsp::LinkCollector>();
    link_fanout_.add(link_collector_.get());
  }
  if (!link_fanout_.empty()) system.observe_links(&link_fanout_);
  recorders_.resize(chips);
  collectors_.resize(chips);
  for (uint32_t c = 0; c < chips; ++c) {
    auto fanout = std::make_unique<tsp::ObserverFanout>();
    if (record) {
      recorders_[c] = std::make_unique<tsp::ActivityRecorder>(window);
      fanout->add(recorders_[c].get());
    }
    // The simulation that stands for the report's chip in the end is one of its class's (replication).
    if (!options.report_dir.empty() && system.representative(c) == system.representative(report_chip_)) {
      collectors_[c] = std::make_unique<tsp::ReportCollector>(system.simulated(c).context().floorplan);
      fanout->add(collectors_[c].get());
    }
    const tsp::ProgramRegions& regions = system.program().program_of(c).regions;
    if (!regions.empty()) {
      profilers_.push_back(std::make_unique<tsp::RegionProfiler>(
          regions, system.simulated(c).context().floorplan.queues().size()));
      fanout->add(profilers_.back().get());
    } else {
      profilers_.push_back(nullptr);
    }
    if (fanout->empty()) continue;
    system.observe_chip(c, fanout.get());
    fanouts_.push_back(std::move(fanout));
  }
  if (isatty(STDERR_FILENO) && chips != 0) {
    // The System goes on while no chip stopped the run (--strict) and some chip has work; the
    // chips are read between windows, when no worker thread runs.
    const auto running = [&system] {
      bool stop = false, done = true;
      for (uint32_t c = 0; c < system.chips(); ++c) {
        stop = stop || system.simulated(c).context().log.stop_requested();
        done = done && system.simulated(c).done();
      }
      return !stop && !done;
    };
    progress_ = std::make_unique<tsp::Progress>("progress", running, system.simulated(0).period(),
                                                expected_cycles, stderr);
  }
}

SystemWorkflowOutputs::~SystemWorkflowOutputs() {
  for (uint32_t c = 0; c < system_.chips(); ++c) system_.observe_chip(c, nullptr);
  system_.observe_links(nullptr);
}

std::vector<tsp::RegionBreakdown> SystemWorkflowOutputs::breakdowns(const tsp::SystemResult& result) const {
  std::vector<tsp::RegionBreakdown> out;
  for (uint32_t c = 0; c < system_.chips(); ++c) {
    const auto& profiler = profilers_[system_.representative(c)];
    out.push_back(profiler ? profiler->breakdown(result.chips[c].cycles) : tsp::RegionBreakdown{});
  }
  return out;
}

void SystemWorkflowOutputs::stage(const tsp::SystemReport& report, tsp::OutputFiles& outputs) {
  if (progress_) progress_->finish();
  std::vector<const tsp::ActivityRecorder*> recorders;
  for (const auto& r : recorders_) recorders.push_back(r.get());
  if (!options_.trace.empty())
    outputs.stage(options_.trace, tsp::system_trace(system_, report.result, recorders, *link_recorder_));
  if (!options_.activity_log.empty())
    outputs.stage(options_.activity_log, tsp::system_activity_log(system_, recorders, *link_recorder_));
  if (link_collector_)
    outputs.stage(report_page(options_.report_dir),
                  tsp::system_html_report(report, report_chip_,
                                          *collectors_[system_.representative(report_chip_)],
                                          *link_collector_));
}

void SystemWorkflowOutputs::finish() { log_written(options_, ""); }
