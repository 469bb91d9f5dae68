// tspsim: replays a statically scheduled program on the modelled chip and reports cycles,
// utilisation and schedule conformance. Exit codes: 0 success, 1 the simulation found errors
// (conformance errors or an --expect mismatch), 2 bad input.
#include "tspsim/system/chip.h"
#include "tspsim/system/report.h"
#include "tspsim/system/system_report.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/common/version.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <thread>

namespace {

struct Options {
  std::string config_path;
  std::string program_path;
  std::vector<std::string> overrides;
  bool print_config = false;
  std::string stats_json;
  std::string util_csv;
  uint64_t util_window = 1000;
  std::vector<std::string> dumps;
  std::vector<std::string> expects;
  unsigned expect_ulp = 1;
  bool strict = false;
  bool timing_only = false;
  bool debug_clock = false;
  uint64_t max_cycles = 0;
  bool quiet = false;
  std::string system_path;
  unsigned threads = 0;
  bool no_replicate = false;
};

struct SymbolFile {
  const tsp::Symbol* symbol;
  std::string path;
};

std::vector<SymbolFile> parse_symbol_files(const std::vector<std::string>& specs, const tsp::Program& program,
                                           const char* flag) {
  std::vector<SymbolFile> out;
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw tsp::InputError(fmt::format("{} {}: expected SYMBOL=FILE", flag, spec));
    const std::string name = spec.substr(0, eq);
    const tsp::Symbol* symbol = program.find_symbol(name);
    if (!symbol) throw tsp::InputError(fmt::format("{} {}: the program has no symbol '{}'", flag, spec, name));
    out.push_back({symbol, spec.substr(eq + 1)});
  }
  return out;
}

// Ordered distance in units in the last place between two floats of `dtype` given as bits.
uint64_t ulp_distance(uint32_t a, uint32_t b, unsigned bytes) {
  const unsigned bits = 8 * bytes;
  const uint32_t sign = 1u << (bits - 1);
  auto ordered = [&](uint32_t x) -> int64_t { return (x & sign) ? -int64_t(x & (sign - 1)) : int64_t(x); };
  const int64_t d = ordered(a) - ordered(b);
  return static_cast<uint64_t>(d < 0 ? -d : d);
}

bool is_nan(uint32_t x, tsp::isa::DType dtype) {
  switch (dtype) {
  case tsp::isa::DType::f16: return (x & 0x7c00) == 0x7c00 && (x & 0x3ff) != 0;
  case tsp::isa::DType::bf16: return (x & 0x7f80) == 0x7f80 && (x & 0x7f) != 0;
  case tsp::isa::DType::f32: return (x & 0x7f800000) == 0x7f800000 && (x & 0x7fffff) != 0;
  default: return false;
  }
}

// Compares a tensor with the expected element bytes; returns a description of the first mismatch.
std::optional<std::string> compare(const tsp::Symbol& symbol, const std::vector<uint8_t>& actual,
                                   const std::vector<uint8_t>& expected, unsigned ulp) {
  const unsigned bytes = tsp::isa::dtype_bytes(symbol.dtype);
  const bool is_float = tsp::isa::dtype_is_float(symbol.dtype);
  for (size_t e = 0; e < actual.size() / bytes; ++e) {
    uint32_t a = 0, x = 0;
    for (unsigned b = 0; b < bytes; ++b) {
      a |= uint32_t(actual[e * bytes + b]) << (8 * b);
      x |= uint32_t(expected[e * bytes + b]) << (8 * b);
    }
    const bool same = is_float ? (is_nan(a, symbol.dtype) && is_nan(x, symbol.dtype)) ||
                                     (!is_nan(a, symbol.dtype) && !is_nan(x, symbol.dtype) &&
                                      ulp_distance(a, x, bytes) <= ulp)
                               : a == x;
    if (!same)
      return fmt::format("element [{}, {}] is 0x{:0{}x}, expected 0x{:0{}x}{}", e / symbol.cols, e % symbol.cols, a,
                         2 * bytes, x, 2 * bytes, is_float ? fmt::format(" (tolerance {} ulp)", ulp) : "");
  }
  return std::nullopt;
}

struct ChipSymbolFile {
  uint32_t chip;
  SymbolFile file;
};

// --dump CHIP:SYMBOL=FILE of a system run.
std::vector<ChipSymbolFile> parse_chip_dumps(const std::vector<std::string>& specs, const tsp::SystemProgram& program) {
  std::vector<ChipSymbolFile> out;
  for (const auto& spec : specs) {
    const auto colon = spec.find(':');
    const std::string chip_text = colon == std::string::npos ? "" : spec.substr(0, colon);
    if (chip_text.empty() || chip_text.find_first_not_of("0123456789") != std::string::npos || chip_text.size() > 9)
      throw tsp::InputError(fmt::format("--dump {}: with --system, expected CHIP:SYMBOL=FILE", spec));
    const auto chip = static_cast<uint32_t>(std::stoul(chip_text));
    if (chip >= program.chips())
      throw tsp::InputError(fmt::format("--dump {}: chip {} is out of range (the system has {} chips)", spec, chip,
                                        program.chips()));
    out.push_back({chip, parse_symbol_files({spec.substr(colon + 1)}, program.program_of(chip), "--dump").front()});
  }
  return out;
}

// --system: every chip of the system in one elaboration (docs/systems.md, "Engine").
int run_system(const Options& opt, const tsp::ChipConfig& config) {
  if (opt.debug_clock) throw tsp::InputError("--debug-clock runs one chip: drop it or --system");
  if (!opt.expects.empty() || !opt.util_csv.empty())
    throw tsp::InputError("--expect and --util-csv are for one chip: drop them or --system");
  if (opt.timing_only && !opt.dumps.empty()) throw tsp::InputError("--dump needs data: drop --timing-only");
  const tsp::SystemConfig system = tsp::load_system(opt.system_path, opt.overrides);
  for (uint32_t c = 0; c < system.chips(); ++c)
    if (tsp::geometry_fingerprint(system.config_of(c)) != tsp::geometry_fingerprint(config))
      throw tsp::InputError(fmt::format("--config {} does not match chip {} of system {} (config {})", opt.config_path,
                                        c, opt.system_path, system.config_of(c).source));
  const tsp::SystemProgram program = tsp::load_system_program(opt.program_path, system);
  const auto dumps = parse_chip_dumps(opt.dumps, program);
  tsp::SystemOptions options;
  options.engine.timing_only = opt.timing_only;
  options.engine.strict = opt.strict;
  options.threads = opt.threads != 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
  options.replicate = !opt.no_replicate;
  options.max_cycles = opt.max_cycles == 0 ? tsp::kNever : opt.max_cycles;
  tsp::System sys("system", system, program, options);
  std::signal(SIGINT, [](int) { tsp::g_interrupt_requested = true; });
  const tsp::SystemResult result = sys.run();

  const tsp::SystemReport report{sys, result, opt.program_path};
  uint64_t errors = 0;
  if (!opt.quiet) tsp::print_system_summary(std::cout, report);
  for (uint32_t c = 0; c < sys.chips(); ++c) {
    errors += sys.simulated(c).context().log.total();
    if (!opt.quiet)
      for (const auto& e : sys.simulated(c).context().log.kept()) std::cout << "error: chip " << c << ": " << e.describe() << '\n';
  }
  if (result.stopped_strict) std::cout << "stopped (--strict): " << result.strict_message << '\n';
  if (!opt.stats_json.empty()) tsp::write_file_atomic(opt.stats_json, tsp::system_stats_json(report).dump(2) + "\n");
  for (const auto& d : dumps) {
    const auto data = sys.simulated(d.chip).read_symbol(*d.file.symbol);
    tsp::write_file_atomic(d.file.path, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  }
  return errors != 0 || result.interrupted ? 1 : 0;
}

int run(const Options& opt) {
  const tsp::ChipConfig config = tsp::load_config(opt.config_path, opt.overrides);
  if (opt.print_config) {
    std::cout << tsp::config_to_json(config).dump(2) << '\n';
    if (opt.program_path.empty()) return 0;
  }
  if (opt.program_path.empty()) throw tsp::InputError("a PROGRAM file is required (or --print-config)");
  if (!opt.system_path.empty()) return run_system(opt, config);
  const tsp::Program program = tsp::load_program(opt.program_path, config);
  const auto dumps = parse_symbol_files(opt.dumps, program, "--dump");
  const auto expects = parse_symbol_files(opt.expects, program, "--expect");
  std::vector<std::vector<uint8_t>> expected;
  for (const auto& e : expects) {
    expected.push_back(tsp::read_binary_file(e.path));
    const size_t want = size_t(e.symbol->rows) * e.symbol->cols * tsp::isa::dtype_bytes(e.symbol->dtype);
    if (expected.back().size() != want)
      throw tsp::InputError(fmt::format("--expect {}: '{}' has {} bytes; {} ({} {}x{}) needs {}", e.symbol->name,
                                        e.path, expected.back().size(), e.symbol->name,
                                        tsp::isa::dtype_name(e.symbol->dtype), e.symbol->rows, e.symbol->cols, want));
  }
  if (opt.util_window == 0) throw tsp::InputError("--util-window: expected a positive number of cycles");
  if (opt.timing_only && (!dumps.empty() || !expects.empty()))
    throw tsp::InputError("--dump and --expect need data: drop --timing-only");

  tsp::EngineOptions engine;
  engine.timing_only = opt.timing_only;
  engine.strict = opt.strict;
  engine.debug_clock = opt.debug_clock;
  tsp::Chip chip("chip", config, engine);
  if (!opt.util_csv.empty()) chip.context().stats.enable_windows(opt.util_window);
  chip.load(program);
  std::signal(SIGINT, [](int) { tsp::g_interrupt_requested = true; });
  const tsp::RunResult result = chip.run(opt.max_cycles == 0 ? tsp::kNever : opt.max_cycles);

  const tsp::RunReport report{chip, result, program, opt.program_path};
  if (!opt.quiet) tsp::print_summary(std::cout, report);
  for (const auto& e : chip.context().log.kept())
    if (!opt.quiet) std::cout << "error: " << e.describe() << '\n';
  if (result.stopped_strict) std::cout << "stopped (--strict): " << result.strict_message << '\n';
  if (!opt.stats_json.empty()) tsp::write_file_atomic(opt.stats_json, tsp::stats_json(report).dump(2) + "\n");
  if (!opt.util_csv.empty()) tsp::write_file_atomic(opt.util_csv, tsp::utilisation_csv(report));

  bool failed = chip.context().log.total() != 0;
  for (const auto& d : dumps) {
    const auto data = chip.read_symbol(*d.symbol);
    tsp::write_file_atomic(d.path, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  }
  for (size_t i = 0; i < expects.size(); ++i) {
    const auto actual = chip.read_symbol(*expects[i].symbol);
    if (auto mismatch = compare(*expects[i].symbol, actual, expected[i], opt.expect_ulp)) {
      std::cout << fmt::format("expect {}: FAILED: {}\n", expects[i].symbol->name, *mismatch);
      failed = true;
    } else {
      std::cout << fmt::format("expect {}: ok\n", expects[i].symbol->name);
    }
  }
  return failed || result.interrupted ? 1 : 0;
}

} // namespace

int sc_main(int argc, char* argv[]) {
  Options opt;
  CLI::App app{fmt::format("tspsim {}: cycle-accurate Groq TSP simulator", tsp::kVersion)};
  app.add_option("--config", opt.config_path, "chip config (JSON), e.g. configs/14nm.json")->required();
  app.add_option("program", opt.program_path, "program to run: .tsp assembly or a .bin container");
  app.add_option("--set", opt.overrides, "override a config key: key.path=value (repeatable)");
  app.add_flag("--print-config", opt.print_config, "print the resolved config as JSON");
  app.add_option("--stats-json", opt.stats_json, "write statistics (per unit and per slice) as JSON");
  app.add_option("--util-csv", opt.util_csv, "write utilisation per window of cycles as CSV");
  app.add_option("--util-window", opt.util_window, "cycles per --util-csv row (default 1000)");
  app.add_option("--dump", opt.dumps, "SYMBOL=FILE (CHIP:SYMBOL=FILE with --system): write a tensor's elements after the run (repeatable)");
  app.add_option("--expect", opt.expects, "SYMBOL=FILE: compare a tensor with FILE's elements (repeatable)");
  app.add_option("--expect-ulp", opt.expect_ulp, "float tolerance of --expect in units in the last place (default 1)");
  app.add_flag("--strict", opt.strict, "stop at the first conformance error");
  app.add_flag("--timing-only", opt.timing_only, "skip data and arithmetic; keep every timing rule and check");
  app.add_flag("--debug-clock", opt.debug_clock, "one SC_METHOD per slice on an sc_clock (slow; same results)");
  app.add_option("--max-cycles", opt.max_cycles, "stop after this many cycles (statistics marked partial)");
  app.add_flag("--quiet", opt.quiet, "no summary on stdout");
  app.add_option("--system", opt.system_path, "run a system of chips (configs/systems/*.json); PROGRAM is a system program");
  app.add_option("--threads", opt.threads, "--system: worker threads for the chips (default: the host's cores)");
  app.add_flag("--no-replicate", opt.no_replicate, "--system --timing-only: simulate every chip, even identical ones");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    return run(opt);
  } catch (const tsp::InputError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
}

// Our own entry point, so that SystemC's banner is switched off before the kernel starts.
int main(int argc, char* argv[]) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
