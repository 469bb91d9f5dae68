#include "tspc_collective.h"

#include "cli/cli_common.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/compiler/collectives.h"
#include "tspsim/compiler/llama.h"
#include "tspsim/compiler/program_spill.h"
#include "tspsim/compiler/registry.h"
#include "tspsim/compiler/system_schedule.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/numeric/tolerance.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>

namespace {

std::vector<uint32_t> parse_chips(const std::string& text) {
  std::vector<uint32_t> chips;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const size_t comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty() || item.size() > 9 || item.find_first_not_of("0123456789") != std::string::npos)
      throw tsp::InputError(
          fmt::format("--chips {}: expected chip numbers separated by commas, e.g. 0,1,2", text));
    chips.push_back(static_cast<uint32_t>(std::stoul(item)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return chips;
}

tsp::compiler::CollectiveAlgorithm parse_algorithm(const std::string& text) {
  if (text.empty()) return tsp::compiler::CollectiveAlgorithm::automatic;
  if (text == "direct") return tsp::compiler::CollectiveAlgorithm::direct;
  if (text == "ring") return tsp::compiler::CollectiveAlgorithm::ring;
  if (text == "hierarchical-direct") return tsp::compiler::CollectiveAlgorithm::hierarchical_direct;
  if (text == "hierarchical-ring") return tsp::compiler::CollectiveAlgorithm::hierarchical_ring;
  if (text == "hierarchical-gateway") return tsp::compiler::CollectiveAlgorithm::hierarchical_gateway;
  throw tsp::InputError(fmt::format(
      "--algorithm {}: expected direct, ring, hierarchical-direct, hierarchical-ring or hierarchical-gateway",
      text));
}

std::string_view bytes_view(const std::vector<uint8_t>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

} // namespace

// The bound per element of a float output against the reference *as written* (rounded to the
// output type): the kernel's bound against the exact value plus that rounding, widened by 2^-30 so
// the check's own double arithmetic cannot tip an element over (docs/numerics.md). An infinity or
// NaN as written gets 0: tspsim checks it exactly, and |exact - written| would be infinite or NaN.
std::vector<double> bounds_against_written(const tsp::compiler::ExpectedOutput& out, tsp::isa::DType dtype) {
  const unsigned width = tsp::isa::dtype_bytes(dtype);
  std::vector<double> bounds(out.values.size());
  for (size_t e = 0; e < bounds.size(); ++e) {
    uint32_t bits = 0;
    for (unsigned b = 0; b < width; ++b) bits |= uint32_t(out.bytes[e * width + b]) << (8 * b);
    const double written = tsp::num::float_from_bits(bits, dtype);
    if (!std::isfinite(written)) continue;
    bounds[e] = (out.tolerance[e] + std::fabs(out.values[e] - written)) * (1 + std::ldexp(1.0, -30));
  }
  return bounds;
}

bool is_exact(const tsp::compiler::ExpectedOutput& out) {
  return std::all_of(out.tolerance.begin(), out.tolerance.end(), [](double t) { return t == 0; });
}

CLI::App* add_collective_command(CLI::App& app, CollectiveArgs& args) {
  CLI::App* command = app.add_subcommand(
      "collective", "transfer, all-gather, reduce-scatter or all-reduce over the C2C links of a system");
  command->fallthrough();
  tsp::cli::takes_path(*command,
                       command->add_option("--system", args.system,
                                           "system (JSON, configs/systems/) to schedule for (required)"));
  command->add_option("--kind", args.kind,
                      "transfer, all-gather, reduce-scatter or all-reduce (default all-reduce)");
  command->add_option("--rows", args.rows, "rows of each chip's tensor (required)");
  command->add_option("--cols", args.cols, "columns of each chip's tensor (required)");
  command->add_option("--dtype", args.dtype, "int8, int16, int32, fp16, bf16 or fp32 (default fp32)");
  command->add_option("--chips", args.chips,
                      "participating chips, e.g. 0,1,2 (transfer: FROM,TO; default every chip)");
  command->add_option("--algorithm", args.algorithm,
                      "direct, ring, hierarchical-direct, hierarchical-ring or hierarchical-gateway "
                      "(default: chosen from the "
                      "topology)");
  command->add_option("--seed", args.seed, "seed of the input tensors (default 1)");
  return command;
}

int run_collective(const CollectiveArgs& args, const tsp::cli::ConfigChoice& config,
                   const std::string& output, const std::string& reference_dir, bool timing_only) {
  if (args.system.empty()) throw tsp::InputError("collective: --system is required");
  if (output.empty()) throw tsp::InputError("-o is required");
  tsp::compiler::KernelArgs values;
  values.set("rows", args.rows.empty() ? "" : args.rows);
  values.set("cols", args.cols.empty() ? "" : args.cols);
  values.set("dtype", args.dtype);
  values.set("seed", args.seed);
  if (args.rows.empty() || args.cols.empty())
    throw tsp::InputError("collective: --rows and --cols are required");
  tsp::compiler::CollectiveShape shape;
  shape.kind = tsp::compiler::parse_collective_kind(args.kind);
  shape.rows = values.positive("rows");
  shape.cols = values.positive("cols");
  shape.dtype = values.dtype("dtype");
  shape.seed = values.number("seed");
  shape.chips = parse_chips(args.chips);
  shape.algorithm = parse_algorithm(args.algorithm);
  shape.with_reference = !timing_only;

  const auto system = tsp::cli::load_chosen_system(args.system, config);
  const auto compiled = tsp::compiler::compile_collective(system, shape);
  const int status = write_system(compiled, output, reference_dir, system, args.system, config);
  const double bound = compiled.latency_plus_bandwidth();
  std::cout << fmt::format("link latency + link bandwidth bound {:.0f} cycles (ratio {:.2f})\n", bound,
                           compiled.predicted_cycles / bound);
  return status;
}

namespace {

// A system program whose programs were spilled to a file as they were finished, written one
// program at a time (into OUTPUT.partial, then renamed, as a failed write leaves no file).
void write_spilled(const tsp::compiler::CompiledSystem& compiled, const std::filesystem::path& output) {
  const tsp::compiler::ProgramSpill& spill = *compiled.spilled;
  std::error_code ec;
  const bool regular = !std::filesystem::exists(output, ec) || std::filesystem::is_regular_file(output, ec);
  const std::filesystem::path into = regular ? std::filesystem::path(output.string() + ".partial") : output;
  std::ofstream out(into, std::ios::binary | std::ios::trunc);
  const auto put = [&](const std::vector<uint8_t>& bytes) {
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  };
  put(tsp::system_program_head(compiled.program, spill.size()));
  tsp::SystemProgramSections sections;
  for (uint32_t p = 0; p < spill.size(); ++p) put(sections.next(spill.bytes(p)));
  out.close();
  if (!out)
    throw tsp::InputError(fmt::format("-o: cannot write '{}': {}", into.string(), std::strerror(errno)));
  if (regular) std::filesystem::rename(into, output);
}

} // namespace

int write_system(const tsp::compiler::CompiledSystem& compiled, const std::string& output,
                 const std::string& reference_dir, const tsp::SystemConfig& system,
                 const std::string& system_path, const tsp::cli::ConfigChoice& config) {
  tsp::OutputFiles outputs;
  outputs.reads(system_path, "the system");
  if (!config.path.empty()) outputs.reads(config.path, "the config");
  outputs.check(output, "-o");
  if (!compiled.spilled) outputs.stage(output, bytes_view(tsp::serialize_system_program(compiled.program)));
  const auto program_of = [&](uint32_t chip) {
    const uint32_t index = compiled.program.chip_program[chip];
    return compiled.spilled ? tsp::deserialize_program(compiled.spilled->bytes(index), output)
                            : compiled.program.programs[index];
  };
  std::string expects;
  if (!reference_dir.empty()) {
    outputs.check_directory(reference_dir, "--reference");
    for (uint32_t chip = 0; chip < compiled.outputs.size(); ++chip)
      for (const auto& out : compiled.outputs[chip]) {
        const auto dir = std::filesystem::path(reference_dir) / fmt::format("chip{}", chip);
        const auto path = dir / (out.symbol + ".bin");
        outputs.check_directory(dir, "--reference");
        outputs.check(path, "--reference");
        outputs.stage(path, bytes_view(out.bytes));
        expects += fmt::format(" --expect {}:{}={}", chip, out.symbol, path.string());
        if (is_exact(out)) continue;
        const auto program = program_of(chip);
        const auto tol = dir / (out.symbol + ".tol");
        outputs.check(tol, "--reference");
        outputs.stage(tol, tsp::num::encode_bounds(
                               bounds_against_written(out, program.find_symbol(out.symbol)->dtype)));
        expects += fmt::format(" --expect-tol {}:{}=file:{}", chip, out.symbol, tol.string());
      }
  }
  if (compiled.spilled) write_spilled(compiled, output);
  outputs.commit();

  std::cout << tsp::compiler::prediction_summary(compiled.program.metadata.workload,
                                                 compiled.predicted_cycles, compiled.bounds)
            << "\n";
  std::cout << fmt::format("wrote {}\n", output);
  if (!reference_dir.empty()) {
    std::string sets;
    for (const auto& o : config.overrides) sets += " --set " + o;
    // Chips of different configs take theirs from the system file: no one --config fits them all.
    const std::string config_option =
        system.configs.size() == 1 ? fmt::format(" --config {}", system.config_of(0).source) : "";
    std::cout << fmt::format("check: tspsim {}{} --system {}{}{}\n", output, config_option, system_path, sets,
                             expects);
  }
  return 0;
}

namespace {

// A field of /proc/self/status in MB ("VmRSS", "VmHWM"), or -1 where there is none (not Linux).
long status_mb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1)) / 1024;
  return -1;
}

} // namespace

int run_llama_system(const tsp::compiler::KernelArgs& args, const std::string& system_path, uint32_t stages,
                     const tsp::cli::ConfigChoice& config, const std::string& output,
                     const std::string& reference_dir, bool progress) {
  if (output.empty()) throw tsp::InputError("-o is required");
  const auto system = tsp::cli::load_chosen_system(system_path, config);
  const auto model = tsp::compiler::llama_model(args);
  if (stages == 0) stages = tsp::compiler::planned_llama_stages(system, model, system_path);
  tsp::compiler::StageProgress report;
  if (progress)
    report = [](uint32_t stage, uint32_t count, const tsp::compiler::SystemSchedule&) {
      std::cerr << fmt::format("stage {} of {} finished: {:.1f} s CPU, {} MB resident, {} MB peak\n",
                               stage + 1, count, double(std::clock()) / CLOCKS_PER_SEC, status_mb("VmRSS"),
                               status_mb("VmHWM"));
    };
  // The finished programs wait in a file next to the output (removed after): the compile holds
  // one pipeline stage at a time, not the whole system.
  const auto step = tsp::compiler::llama_step(args);
  const auto compiled =
      tsp::compiler::compile_llama_system(system, model, step, stages, report, output + ".finished");
  const int status = write_system(compiled, output, reference_dir, system, system_path, config);
  if (step.prompt_tokens != 0)
    std::cout << tsp::compiler::prompt_prediction(compiled.predicted_cycles, system.config_of(0).clock_mhz)
              << "\n";
  return status;
}
