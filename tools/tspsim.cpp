// tspsim: replays a statically scheduled program on the modelled chip and reports cycles,
// utilisation and schedule conformance. Exit codes: 0 success, 1 the simulation found errors
// (conformance errors or an --expect mismatch), 2 bad input.
#include "cli/cli_common.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/numeric/tolerance.h"
#include "tspsim/program/tensor.h"
#include "tspsim/system/chip.h"
#include "tspsim/system/report.h"
#include "tspsim/system/system.h"
#include "tspsim/system/system_report.h"
#include "tspsim_sweep.h"
#include "tspsim_workflow.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fmt/format.h>
#include <functional>
#include <iostream>
#include <thread>

namespace {

struct Options {
  tsp::cli::ConfigChoice config;
  std::string program_path;
  bool print_config = false;
  std::string stats_json;
  std::string util_csv;
  uint64_t util_window = 1000;
  std::vector<std::string> loads;
  std::vector<std::string> dumps;
  std::vector<std::string> expects;
  std::vector<std::string> expect_tols;
  bool strict = false;
  bool timing_only = false;
  bool debug_clock = false;
  uint64_t max_cycles = 0;
  bool quiet = false;
  std::string system_path;
  unsigned threads = 0;
  bool no_replicate = false;
  uint32_t requests = 1;
};

// Every option of tspsim, in one place.
void register_options(CLI::App& app, Options& opt) {
  tsp::cli::add_config_options(app, opt.config,
                               "chip config (JSON), e.g. configs/14nm.json (with --system: optional, the "
                               "system file names each chip's)");
  app.add_option("program", opt.program_path, "program to run: .tsp assembly or a .bin container");
  app.add_flag("--print-config", opt.print_config, "print the resolved config as JSON");
  tsp::cli::takes_path(app, app.add_option("--stats-json", opt.stats_json,
                                           "write statistics (per unit and per slice) as JSON"));
  tsp::cli::takes_path(
      app, app.add_option("--util-csv", opt.util_csv, "write utilisation per window of cycles as CSV"));
  app.add_option("--util-window", opt.util_window, "cycles per --util-csv row (default 1000)")
      ->check(tsp::cli::whole_number());
  tsp::cli::add_repeatable(
      app, "--load", opt.loads,
      "SYMBOL=FILE: set a tensor's elements before the run, from FILE as --dump writes it "
      "(repeatable; with --system, CHIP:SYMBOL=FILE)");
  tsp::cli::add_repeatable(app, "--dump", opt.dumps,
                           "SYMBOL=FILE: write a tensor's elements after the run (repeatable)");
  tsp::cli::add_repeatable(
      app, "--expect", opt.expects,
      "SYMBOL=FILE: compare a tensor with FILE's elements, bit-exact unless --expect-tol "
      "(repeatable)");
  tsp::cli::add_repeatable(
      app, "--expect-tol", opt.expect_tols,
      "SYMBOL=rel:R,abs:A,file:BOUNDS: float tolerance of SYMBOL's --expect (repeatable; "
      "docs/numerics.md)");
  app.add_flag("--strict", opt.strict, "stop at the first conformance error");
  app.add_flag("--timing-only", opt.timing_only,
               "skip data and arithmetic; keep every timing rule and check");
  app.add_flag("--debug-clock", opt.debug_clock,
               "one SC_METHOD per slice on an sc_clock (slow; same results)");
  app.add_option("--max-cycles", opt.max_cycles,
                 "stop after this many cycles (statistics marked partial; 0: no limit)")
      ->check(tsp::cli::whole_number());
  app.add_flag("--quiet", opt.quiet, "no summary on stdout (errors still go to stderr)");
  tsp::cli::takes_path(
      app, app.add_option(
               "--system", opt.system_path,
               "run a system of chips (configs/systems/*.json); PROGRAM is a system program, and --dump, "
               "--expect and --expect-tol name symbols as CHIP:SYMBOL"));
  app.add_option("--threads", opt.threads,
                 "--system: worker threads for the chips (default: the host's cores), at most one per chip");
  app.add_flag("--no-replicate", opt.no_replicate,
               "--system --timing-only: simulate every chip, even identical ones");
  app.add_option(
      "--requests", opt.requests,
      "token workloads: P token streams share the chip (or system); reports tokens/s per user and in "
      "aggregate (default 1)");
}

// SYMBOL=VALUE of a symbol the program has.
std::pair<const tsp::Symbol*, std::string>
symbol_argument(const std::string& spec, const tsp::Program& program, const char* flag, const char* value) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw tsp::InputError(fmt::format("{} {}: expected SYMBOL={}", flag, spec, value));
  const std::string name = spec.substr(0, eq);
  const tsp::Symbol* symbol = program.find_symbol(name);
  if (!symbol) throw tsp::InputError(fmt::format("{} {}: the program has no symbol '{}'", flag, spec, name));
  return {symbol, spec.substr(eq + 1)};
}

size_t symbol_bytes(const tsp::Symbol& s) { return size_t(s.rows) * s.cols * tsp::isa::dtype_bytes(s.dtype); }

struct Dump {
  const tsp::Symbol* symbol;
  std::string path;
};

struct Expectation {
  const tsp::Symbol* symbol;
  std::vector<uint8_t> expected;
  tsp::num::Tolerance tolerance;
};

// --load: each FILE's elements (as --dump writes them) replace its symbol's initial contents; the
// images are appended, so they are loaded after (over) the program's own.
void apply_loads(const std::vector<std::string>& specs, tsp::Program& program, unsigned vector_bytes) {
  for (const auto& spec : specs) {
    auto [symbol, path] = symbol_argument(spec, program, "--load", "FILE");
    std::vector<uint8_t> bytes;
    try {
      bytes = tsp::read_binary_file(path);
    } catch (const tsp::InputError& e) {
      throw tsp::InputError(fmt::format("--load {}: {}", symbol->name, e.what()));
    }
    if (bytes.size() != symbol_bytes(*symbol))
      throw tsp::InputError(fmt::format("--load {}: '{}' has {} bytes; {} ({} {}x{}) needs {}", symbol->name,
                                        path, bytes.size(), symbol->name, tsp::isa::dtype_name(symbol->dtype),
                                        symbol->rows, symbol->cols, symbol_bytes(*symbol)));
    auto images = tsp::tensor_images(*symbol, bytes, vector_bytes);
    program.images.insert(program.images.end(), std::make_move_iterator(images.begin()),
                          std::make_move_iterator(images.end()));
  }
}

std::vector<Dump> read_dumps(const std::vector<std::string>& specs, const tsp::Program& program) {
  std::vector<Dump> dumps;
  for (const auto& spec : specs) {
    auto [symbol, path] = symbol_argument(spec, program, "--dump", "FILE");
    dumps.push_back({symbol, path});
  }
  return dumps;
}

// Each --expect with its reference read and its --expect-tol applied.
std::vector<Expectation> read_expectations(const std::vector<std::string>& expect_specs,
                                           const std::vector<std::string>& tolerance_specs,
                                           const tsp::Program& program) {
  std::vector<Expectation> expects;
  for (const auto& spec : expect_specs) {
    auto [symbol, path] = symbol_argument(spec, program, "--expect", "FILE");
    auto bytes = tsp::read_binary_file(path);
    if (bytes.size() != symbol_bytes(*symbol))
      throw tsp::InputError(fmt::format("--expect {}: '{}' has {} bytes; {} ({} {}x{}) needs {}",
                                        symbol->name, path, bytes.size(), symbol->name,
                                        tsp::isa::dtype_name(symbol->dtype), symbol->rows, symbol->cols,
                                        symbol_bytes(*symbol)));
    expects.push_back({symbol, std::move(bytes), {}});
  }
  for (const auto& spec : tolerance_specs) {
    auto [symbol, text] = symbol_argument(spec, program, "--expect-tol", "TOLERANCE");
    const std::string what = "--expect-tol " + symbol->name;
    auto it = std::find_if(expects.begin(), expects.end(), [&](const auto& e) { return e.symbol == symbol; });
    if (it == expects.end())
      throw tsp::InputError(fmt::format("{}: no --expect {}=FILE to apply it to", what, symbol->name));
    tsp::num::Tolerance tolerance = tsp::num::parse_tolerance(text, what);
    if (!tolerance.exact() && !tsp::isa::dtype_is_float(symbol->dtype))
      throw tsp::InputError(fmt::format("{}: {} is {}; integer results are checked exactly", what,
                                        symbol->name, tsp::isa::dtype_name(symbol->dtype)));
    if (!tolerance.bounds_file.empty())
      tolerance.bounds = tsp::num::decode_bounds(tsp::read_binary_file(tolerance.bounds_file),
                                                 size_t(symbol->rows) * symbol->cols,
                                                 fmt::format("{}: '{}'", what, tolerance.bounds_file));
    it->tolerance = std::move(tolerance);
  }
  return expects;
}

// The files a run reads, which no output may name.
void note_inputs(const Options& opt, tsp::OutputFiles& outputs) {
  outputs.reads(opt.program_path, "the program");
  if (!opt.config.path.empty()) outputs.reads(opt.config.path, "the config");
  if (!opt.system_path.empty()) outputs.reads(opt.system_path, "the system");
  for (const auto* specs : {&opt.loads, &opt.expects})
    for (const auto& spec : *specs)
      if (const auto eq = spec.find('='); eq != std::string::npos)
        outputs.reads(spec.substr(eq + 1),
                      fmt::format("the file of {} {}", specs == &opt.loads ? "--load" : "--expect", spec));
}

// Every output path is checked before the run, so a bad one costs no simulation and leaves nothing.
void check_outputs(const Options& opt, const WorkflowOptions& workflow, const std::vector<Dump>& dumps,
                   tsp::OutputFiles& outputs) {
  note_inputs(opt, outputs);
  if (!opt.stats_json.empty()) outputs.check(opt.stats_json, "--stats-json");
  if (!opt.util_csv.empty()) outputs.check(opt.util_csv, "--util-csv");
  for (const auto& d : dumps) outputs.check(d.path, "--dump " + d.symbol->name);
  check_workflow_outputs(workflow, outputs);
}

// Returns whether every expectation holds; `prefix` names the chip in a system run.
bool check_expectations(const std::vector<Expectation>& expects, const std::string& prefix,
                        const std::function<std::vector<uint8_t>(const tsp::Symbol&)>& read) {
  bool ok = true;
  for (const auto& e : expects) {
    const auto actual = read(*e.symbol);
    if (auto mismatch =
            tsp::num::find_mismatch(e.symbol->dtype, e.symbol->cols, actual, e.expected, e.tolerance)) {
      std::cout << fmt::format("expect {}{}: FAILED: {}\n", prefix, e.symbol->name, *mismatch);
      ok = false;
    } else {
      std::cout << fmt::format("expect {}{}: ok\n", prefix, e.symbol->name);
    }
  }
  return ok;
}

void load(tsp::Chip& chip, const Options& opt, const tsp::Program& program) {
  if (!opt.util_csv.empty()) chip.context().stats.enable_windows(opt.util_window);
  chip.load(program);
}

tsp::RunResult simulate(tsp::Chip& chip, const Options& opt) {
  std::signal(SIGINT, [](int) { tsp::g_interrupt_requested = true; });
  return chip.run(opt.max_cycles == 0 ? tsp::kNever : opt.max_cycles);
}

// The summary on stdout; conformance errors on stderr, the first ones kept by the log.
void print_report(const tsp::RunReport& report, const tsp::Chip& chip, const Options& opt) {
  if (!opt.quiet) tsp::print_summary(std::cout, report);
  const auto& log = chip.context().log;
  for (const auto& e : log.kept()) tsp::cli::print_error(e.describe());
  if (log.total() > log.kept().size())
    std::cerr << fmt::format("... and {} more conformance errors (the first {} are listed)\n",
                             log.total() - log.kept().size(), log.kept().size());
  if (report.result.stopped_strict)
    std::cerr << "stopped (--strict): " << report.result.strict_message << '\n';
}

void stage_outputs(const tsp::RunReport& report, tsp::Chip& chip, const Options& opt,
                   const std::vector<Dump>& dumps, tsp::OutputFiles& outputs) {
  if (!opt.stats_json.empty()) outputs.stage(opt.stats_json, tsp::stats_json(report).dump(2) + "\n");
  if (!opt.util_csv.empty()) outputs.stage(opt.util_csv, tsp::utilisation_csv(report));
  for (const auto& d : dumps) {
    const auto data = chip.read_symbol(*d.symbol);
    outputs.stage(d.path, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  }
}

// The options of a system run, split by chip: "CHIP:SYMBOL=..." -> chip, "SYMBOL=...".
std::vector<std::vector<std::string>> by_chip(const std::vector<std::string>& specs, uint32_t chips,
                                              const char* flag, const char* value) {
  std::vector<std::vector<std::string>> out(chips);
  for (const auto& spec : specs) {
    const auto colon = spec.find(':');
    const std::string chip_text = colon == std::string::npos ? "" : spec.substr(0, colon);
    if (chip_text.empty() || chip_text.find_first_not_of("0123456789") != std::string::npos ||
        chip_text.size() > 9)
      throw tsp::InputError(fmt::format("{} {}: with --system, expected CHIP:SYMBOL={}", flag, spec, value));
    const auto chip = static_cast<uint32_t>(std::stoul(chip_text));
    if (chip >= chips)
      throw tsp::InputError(
          fmt::format("{} {}: chip {} is out of range (the system has {} chips)", flag, spec, chip, chips));
    out[chip].push_back(spec.substr(colon + 1));
  }
  return out;
}

// --load CHIP:SYMBOL=FILE: a chip whose program other chips share gets a copy of its own first, so
// the others keep theirs (and identical chips stay replicable).
void apply_system_loads(const std::vector<std::vector<std::string>>& loads, tsp::SystemProgram& program,
                        const tsp::SystemConfig& system) {
  for (uint32_t c = 0; c < program.chips(); ++c) {
    if (loads[c].empty()) continue;
    const uint32_t shared = program.chip_program[c];
    if (std::count(program.chip_program.begin(), program.chip_program.end(), shared) > 1) {
      program.programs.push_back(program.programs[shared]);
      program.chip_program[c] = static_cast<uint32_t>(program.programs.size() - 1);
    }
    apply_loads(loads[c], program.programs[program.chip_program[c]],
                system.config_of(c).geometry.vector_bytes());
  }
}

// --system: every chip of the system in one elaboration (docs/systems.md, "Engine").
int run_system(const Options& opt, const WorkflowOptions& workflow) {
  if (opt.debug_clock) throw tsp::InputError("--debug-clock runs one chip: drop it or --system");
  if (!opt.util_csv.empty()) throw tsp::InputError("--util-csv is for one chip: drop it or --system");
  const tsp::SystemConfig system = tsp::cli::load_chosen_system(opt.system_path, opt.config);
  tsp::SystemProgram program = tsp::load_system_program(opt.program_path, system);
  apply_system_loads(by_chip(opt.loads, program.chips(), "--load", "FILE"), program, system);
  const auto dump_specs = by_chip(opt.dumps, program.chips(), "--dump", "FILE");
  const auto expect_specs = by_chip(opt.expects, program.chips(), "--expect", "FILE");
  const auto tolerance_specs = by_chip(opt.expect_tols, program.chips(), "--expect-tol", "TOLERANCE");
  std::vector<std::vector<Dump>> dumps;
  std::vector<std::vector<Expectation>> expects;
  tsp::OutputFiles outputs;
  note_inputs(opt, outputs);
  if (!opt.stats_json.empty()) outputs.check(opt.stats_json, "--stats-json");
  check_workflow_outputs(workflow, outputs);
  for (uint32_t c = 0; c < program.chips(); ++c) {
    dumps.push_back(read_dumps(dump_specs[c], program.program_of(c)));
    expects.push_back(read_expectations(expect_specs[c], tolerance_specs[c], program.program_of(c)));
    for (const auto& d : dumps.back()) outputs.check(d.path, fmt::format("--dump {}:{}", c, d.symbol->name));
    if (opt.timing_only && (!dumps.back().empty() || !expects.back().empty()))
      throw tsp::InputError("--dump and --expect need data: drop --timing-only");
  }
  tsp::SystemOptions options;
  options.engine.timing_only = opt.timing_only;
  options.engine.strict = opt.strict;
  options.threads = opt.threads != 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
  options.replicate = !opt.no_replicate;
  options.max_cycles = opt.max_cycles == 0 ? tsp::kNever : opt.max_cycles;
  tsp::System sys("system", system, program, options);
  SystemWorkflowOutputs observers(workflow, sys,
                                  opt.max_cycles != 0 ? opt.max_cycles : program.metadata.predicted_cycles);
  std::signal(SIGINT, [](int) { tsp::g_interrupt_requested = true; });
  const tsp::SystemResult result = sys.run();

  const std::vector<tsp::RegionBreakdown> breakdowns = observers.breakdowns(result);
  const tsp::SystemReport report{sys, result, opt.program_path, &breakdowns, opt.requests};
  if (!opt.quiet) tsp::print_system_summary(std::cout, report);
  uint64_t errors = 0;
  for (uint32_t c = 0; c < sys.chips(); ++c) {
    const auto& log = sys.simulated(c).context().log;
    errors += log.total();
    for (const auto& e : log.kept()) tsp::cli::print_error(fmt::format("chip {}: {}", c, e.describe()));
  }
  if (result.stopped_strict)
    std::cerr << "stopped (--strict, statistics partial): " << result.strict_message << '\n';
  const std::string bound =
      result.interrupted || opt.max_cycles != 0 ? "" : tsp::weight_bound_violation(report);
  if (!bound.empty()) tsp::cli::print_error(bound);
  if (!opt.stats_json.empty()) outputs.stage(opt.stats_json, tsp::system_stats_json(report).dump(2) + "\n");
  for (uint32_t c = 0; c < sys.chips(); ++c)
    for (const auto& d : dumps[c]) {
      const auto data = sys.simulated(c).read_symbol(*d.symbol);
      outputs.stage(d.path, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
    }
  observers.stage(report, outputs);
  outputs.commit();
  observers.finish();
  bool expectations_hold = true;
  for (uint32_t c = 0; c < sys.chips(); ++c)
    expectations_hold &=
        check_expectations(expects[c], fmt::format("{}:", c),
                           [&](const tsp::Symbol& symbol) { return sys.simulated(c).read_symbol(symbol); });
  return errors != 0 || !expectations_hold || !bound.empty() || result.interrupted ? 1 : 0;
}

int run(const Options& opt, const WorkflowOptions& workflow) {
  apply_log_level(workflow);
  // A system's file names each chip's config; one chip needs --config.
  if (opt.config.path.empty() && (opt.system_path.empty() || opt.print_config))
    throw tsp::InputError(opt.system_path.empty()
                              ? "--config is required (or --system, whose file names each chip's config)"
                              : "--print-config prints one chip config: give it with --config");
  // With --system, --config is only compared with the chips' configs (load_chosen_system).
  const tsp::ChipConfig config =
      opt.config.path.empty() ? tsp::ChipConfig{} : tsp::cli::load_chosen_config(opt.config, {});
  if (opt.print_config) {
    std::cout << tsp::config_to_json(config).dump(2) << '\n';
    if (opt.program_path.empty()) return 0;
  }
  if (opt.program_path.empty()) throw tsp::InputError("a PROGRAM file is required (or --print-config)");
  if (opt.requests == 0) throw tsp::InputError("--requests: expected a positive number of token streams");
  if (!opt.system_path.empty()) return run_system(opt, workflow);
  if (opt.util_window == 0) throw tsp::InputError("--util-window: expected a positive number of cycles");
  tsp::Program program = tsp::cli::load_program_for(opt.program_path, config);
  apply_loads(opt.loads, program, config.geometry.vector_bytes());
  const auto dumps = read_dumps(opt.dumps, program);
  const auto expects = read_expectations(opt.expects, opt.expect_tols, program);
  if (opt.timing_only && (!dumps.empty() || !expects.empty()))
    throw tsp::InputError("--dump and --expect need data: drop --timing-only");
  tsp::OutputFiles outputs;
  check_outputs(opt, workflow, dumps, outputs);

  tsp::EngineOptions engine;
  engine.timing_only = opt.timing_only;
  engine.strict = opt.strict;
  engine.debug_clock = opt.debug_clock;
  tsp::Chip chip("chip", config, engine);
  load(chip, opt, program);
  WorkflowOutputs observers(workflow, chip, program.regions,
                            opt.max_cycles != 0 ? opt.max_cycles : program.metadata.predicted_cycles);
  const tsp::RunResult result = simulate(chip, opt);
  const tsp::RegionBreakdown breakdown = observers.breakdown(result.cycles);
  const tsp::RunReport report{chip, result, program, opt.program_path, &breakdown, opt.requests};
  print_report(report, chip, opt);
  // A run cut short (--max-cycles, Ctrl-C) is not measured against the bound.
  const std::string bound = result.interrupted || opt.max_cycles != 0
                                ? ""
                                : tsp::weight_bound_violation(tsp::chip_figures(report), config.clock_mhz);
  if (!bound.empty()) tsp::cli::print_error(bound);
  stage_outputs(report, chip, opt, dumps, outputs);
  observers.stage(report, outputs);
  outputs.commit();
  observers.finish();
  const bool expectations_hold =
      check_expectations(expects, "", [&](const tsp::Symbol& symbol) { return chip.read_symbol(symbol); });
  const bool failed = chip.context().log.total() != 0 || !expectations_hold || !bound.empty();
  return failed || result.interrupted ? 1 : 0;
}

} // namespace

int sc_main(int argc, char* argv[]) {
  if (argc > 1 && std::string(argv[1]) == "sweep") return sweep_main(argc - 1, argv + 1);
  Options opt;
  WorkflowOptions workflow;
  auto app = tsp::cli::make_app("tspsim", "cycle-accurate Groq TSP simulator");
  register_options(*app, opt);
  add_workflow_options(*app, workflow);
  return tsp::cli::run(*app, argc, argv, [&] { return run(opt, workflow); });
}

// Our own entry point, so that SystemC's banner is switched off before the kernel starts.
int main(int argc, char* argv[]) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
