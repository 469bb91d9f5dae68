#include "tspsim_workflow.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/observe/activity_log.h"
#include "tspsim/observe/system_trace.h"
#include "tspsim/observe/trace_writer.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace {
// Fails before the run, not after it, when an output cannot be written: creates and removes a probe
// file beside `path`. (tools/tspsim.cpp's own output check can take this over.)
void check_writable(const std::filesystem::path& path) {
  const auto probe = std::filesystem::path(path.string() + ".probe");
  {
    std::ofstream out(probe);
    if (!out)
      throw tsp::InputError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));
  }
  std::filesystem::remove(probe);
}

// The checks every run makes before it starts: an output that cannot be written, a --trace-window
// without a trace. Returns the window to observe.
tsp::CycleWindow check_outputs(const WorkflowOptions& options) {
  if (!options.trace_window.empty() && options.trace.empty() && options.vcd.empty())
    throw tsp::InputError("--trace-window needs --trace FILE or --vcd FILE");
  if (!options.report_dir.empty() && std::filesystem::exists(options.report_dir) &&
      !std::filesystem::is_directory(options.report_dir))
    throw tsp::InputError(fmt::format("--report {}: exists and is not a directory", options.report_dir));
  for (const auto* path : {&options.trace, &options.activity_log})
    if (!path->empty()) check_writable(*path);
  if (!options.report_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(options.report_dir, error);
    if (error)
      throw tsp::InputError(fmt::format("cannot write '{}': {}", options.report_dir, error.message()));
    check_writable(std::filesystem::path(options.report_dir) / "index.html");
  }
  return options.trace_window.empty() ? tsp::CycleWindow{}
                                      : tsp::parse_cycle_window(options.trace_window, "--trace-window");
}

void write_report_page(const std::string& dir, const std::string& html) {
  const auto page = std::filesystem::path(dir) / "index.html";
  tsp::write_file_atomic(page, html);
  spdlog::info("wrote the report to {}", page.string());
}
} // namespace

void add_workflow_options(CLI::App& app, WorkflowOptions& options) {
  app.add_option("--trace", options.trace,
                 "write a Chrome/Perfetto trace (JSON): a span per instruction, per slice");
  app.add_option("--trace-window", options.trace_window,
                 "FIRST:LAST: trace (and --vcd) only cycles [FIRST, LAST)");
  app.add_option("--vcd", options.vcd, "write a waveform (VCD): per-slice busy and per-stream occupancy");
  app.add_option("--report", options.report_dir, "write an HTML report with charts to DIR/index.html");
  app.add_option("--report-chip", options.report_chip,
                 "--system --report: the chip whose slice charts the report shows (default 0)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--activity-log", options.activity_log,
                 "write the per-cycle activity log the golden suite compares");
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
  const tsp::CycleWindow window = check_outputs(options);
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

void WorkflowOutputs::write(const tsp::RunReport& report) {
  if (progress_) progress_->finish();
  const tsp::EngineContext& ctx = chip_.context();
  if (!options_.trace.empty()) {
    nlohmann::json events = nlohmann::json::array();
    const tsp::Cycle end = report.result.last_active + 1;
    tsp::append_chip_trace(events, {0, fmt::format("chip 0 ({})", ctx.config.name), ctx, *recorder_, end});
    tsp::write_file_atomic(options_.trace, tsp::trace_file(std::move(events)));
    spdlog::info("wrote the trace to {} ({} spans)", options_.trace, recorder_->dispatches().size());
  }
  if (!options_.activity_log.empty())
    tsp::write_file_atomic(options_.activity_log, tsp::activity_log(*recorder_, ctx.floorplan));
  if (vcd_) {
    vcd_->close();
    spdlog::info("wrote the waveform to {}", options_.vcd);
  }
  if (collector_) write_report_page(options_.report_dir, tsp::html_report(report, *collector_));
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
  const tsp::CycleWindow window = check_outputs(options);
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

void SystemWorkflowOutputs::write(const tsp::SystemReport& report) {
  if (progress_) progress_->finish();
  std::vector<const tsp::ActivityRecorder*> recorders;
  for (const auto& r : recorders_) recorders.push_back(r.get());
  if (!options_.trace.empty()) {
    tsp::write_file_atomic(options_.trace,
                           tsp::system_trace(system_, report.result, recorders, *link_recorder_));
    spdlog::info("wrote the trace to {}", options_.trace);
  }
  if (!options_.activity_log.empty())
    tsp::write_file_atomic(options_.activity_log,
                           tsp::system_activity_log(system_, recorders, *link_recorder_));
  if (link_collector_)
    write_report_page(options_.report_dir,
                      tsp::system_html_report(report, report_chip_,
                                              *collectors_[system_.representative(report_chip_)],
                                              *link_collector_));
}
