// tspsim's researcher-workflow options (docs/workflow.md): --trace, --trace-window, --vcd,
// --report, --activity-log, --log-level and the terminal progress line. Kept apart from
// tspsim.cpp: add_workflow_options() registers the options, WorkflowOutputs attaches what they
// need to the chip before the run and writes the files after it.
#pragma once

#include "tspsim/observe/activity_recorder.h"
#include "tspsim/observe/html_report.h"
#include "tspsim/observe/progress.h"
#include "tspsim/observe/vcd_writer.h"
#include "tspsim/system/report.h"

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

struct WorkflowOptions {
  std::string trace;
  std::string trace_window;
  std::string vcd;
  std::string report_dir;
  std::string activity_log;
  std::string log_level = "warn";
};

void add_workflow_options(CLI::App& app, WorkflowOptions& options);
// Sets spdlog's level and sends its output to stderr; throws InputError for an unknown level.
void apply_log_level(const WorkflowOptions& options);

class WorkflowOutputs {
public:
  // Checks the options and attaches the observers to `chip` (before the run: SystemC elaborates
  // once). `expected_cycles` (0: unknown) feeds the progress line's estimate.
  WorkflowOutputs(const WorkflowOptions& options, tsp::Chip& chip, tsp::Cycle expected_cycles);
  ~WorkflowOutputs();
  // After the run: writes every requested file.
  void write(const tsp::RunReport& report);

private:
  const WorkflowOptions& options_;
  tsp::Chip& chip_;
  tsp::ObserverFanout fanout_;
  std::unique_ptr<tsp::ActivityRecorder> recorder_;
  std::unique_ptr<tsp::VcdWriter> vcd_;
  std::unique_ptr<tsp::ReportCollector> collector_;
  std::unique_ptr<tsp::Progress> progress_;
};
