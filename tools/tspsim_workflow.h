// tspsim's researcher-workflow options (docs/workflow.md): --trace, --trace-window, --vcd,
// --report, --report-chip, --activity-log, --log-level and the terminal progress line. Kept apart
// from tspsim.cpp: add_workflow_options() registers the options, WorkflowOutputs (one chip) and
// SystemWorkflowOutputs (--system) attach what they need before the run and write the files after it.
#pragma once

#include "tspsim/common/file_io.h"
#include "tspsim/observe/activity_recorder.h"
#include "tspsim/observe/html_report.h"
#include "tspsim/observe/link_recorder.h"
#include "tspsim/observe/progress.h"
#include "tspsim/observe/system_html_report.h"
#include "tspsim/observe/vcd_writer.h"
#include "tspsim/system/region_profile.h"
#include "tspsim/system/report.h"
#include "tspsim/system/system_report.h"

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

struct WorkflowOptions {
  std::string trace;
  std::string trace_window;
  std::string vcd;
  std::string report_dir;
  int64_t report_chip = -1; // --system: the chip whose charts the report shows (-1: not given, chip 0)
  std::string activity_log;
  std::string log_level = "warn";
};

void add_workflow_options(CLI::App& app, WorkflowOptions& options);
// Checks every file the options write (--trace, --vcd, --activity-log, --report's folder and page)
// with the run's other outputs, before the run.
void check_workflow_outputs(const WorkflowOptions& options, tsp::OutputFiles& outputs);
// Sets spdlog's level and sends its output to stderr; throws InputError for an unknown level.
void apply_log_level(const WorkflowOptions& options);

class WorkflowOutputs {
public:
  // Checks the options and attaches the observers to `chip` (before the run: SystemC elaborates
  // once). `expected_cycles` (0: unknown) feeds the progress line's estimate.
  // With `regions`, a RegionProfiler measures the per-layer breakdown.
  WorkflowOutputs(const WorkflowOptions& options, tsp::Chip& chip, const tsp::ProgramRegions& regions,
                  tsp::Cycle expected_cycles);
  ~WorkflowOutputs();
  // After the run: the measured breakdown of a run of `cycles` (empty without regions).
  tsp::RegionBreakdown breakdown(uint64_t cycles) const;
  // After the run: stages every requested file with the run's other outputs.
  void stage(const tsp::RunReport& report, tsp::OutputFiles& outputs);
  // After the outputs are committed: puts the waveform in place and logs what was written.
  void finish();

private:
  const WorkflowOptions& options_;
  tsp::Chip& chip_;
  tsp::ObserverFanout fanout_;
  std::unique_ptr<tsp::ActivityRecorder> recorder_;
  std::unique_ptr<tsp::VcdWriter> vcd_;
  std::unique_ptr<tsp::ReportCollector> collector_;
  std::unique_ptr<tsp::RegionProfiler> profiler_;
  std::unique_ptr<tsp::Progress> progress_;
};

class SystemWorkflowOutputs {
public:
  // Checks the options (--vcd is one chip's) and attaches the observers to the system's chips and
  // links (before the run). `expected_cycles` (0: unknown) feeds the progress line's estimate.
  SystemWorkflowOutputs(const WorkflowOptions& options, tsp::System& system, tsp::Cycle expected_cycles);
  ~SystemWorkflowOutputs();
  // After the run: every chip's measured breakdown (a reused chip's is its representative's;
  // empty for a program without regions).
  std::vector<tsp::RegionBreakdown> breakdowns(const tsp::SystemResult& result) const;
  // After the run: stages every requested file with the run's other outputs.
  void stage(const tsp::SystemReport& report, tsp::OutputFiles& outputs);
  // After the outputs are committed: logs what was written.
  void finish();

private:
  const WorkflowOptions& options_;
  tsp::System& system_;
  uint32_t report_chip_ = 0;
  // Per chip: what its own simulation did (trace, activity log) and, for the chips that may stand
  // for the report's chip, its report figures.
  std::vector<std::unique_ptr<tsp::ActivityRecorder>> recorders_;
  std::vector<std::unique_ptr<tsp::ReportCollector>> collectors_;
  std::vector<std::unique_ptr<tsp::RegionProfiler>> profilers_;
  std::vector<std::unique_ptr<tsp::ObserverFanout>> fanouts_;
  std::unique_ptr<tsp::LinkRecorder> link_recorder_;
  std::unique_ptr<tsp::LinkCollector> link_collector_;
  tsp::LinkFanout link_fanout_;
  std::unique_ptr<tsp::Progress> progress_;
};
