// Simulator speed and memory: builds the benchmark programs for a config (a synthetic streaming
// program and compiled kernels from the tspc library: GEMM, GEMV, SwiGLU, attention), runs tspsim on
// each in functional and timing-only mode (one process per run: SystemC elaborates once per
// process), prints simulated cycles per host second, whole-process time and peak RSS, and then each
// target of docs/performance.md with its measured figure. Usage:
//   bench_runner --tspsim build/tspsim --config configs/14nm.json [--cycles N] [--repeat N]
//                [--no-kernels] [--program extra.bin ...]
#include "runner_checks.h"
#include "tspsim/common/file_io.h"
#include "tspsim/common/temporary_directory.h"
#include "tspsim/common/version.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"
#include "tspsim/program/timing_rules.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using tsp::Instruction;
using tsp::isa::Opcode;

void emit(tsp::QueueProgram& queue, Opcode opcode, std::initializer_list<int64_t> operands) {
  Instruction instruction;
  instruction.opcode = opcode;
  size_t i = 0;
  for (int64_t v : operands) instruction.operands[i++] = v;
  queue.words.push_back(tsp::encode(instruction));
}

// Every west MEM slice reads a vector every cycle onto an eastward stream; every east MEM slice
// writes the vector arriving on its stream every cycle. All 88 slices are busy each cycle and
// every vector crosses the VXM.
tsp::Program streaming_program(const tsp::ChipConfig& config, uint64_t cycles) {
  const tsp::Floorplan floorplan(config.geometry, config.icu);
  const unsigned streams = config.streams.per_direction;
  const unsigned per_hemisphere = config.geometry.mem_slices_per_hemisphere;
  const uint64_t lead = 2 * floorplan.positions() + 8; // writers start once every stream carries data
  tsp::Program program;
  program.fingerprint = tsp::geometry_fingerprint(config);
  program.metadata.workload =
      fmt::format("streaming: {} MEM slices for {} cycles", 2 * per_hemisphere, cycles);
  program.metadata.generator = fmt::format("bench_runner {}", tsp::kVersion);
  for (unsigned i = 0; i < per_hemisphere; ++i) {
    const unsigned west =
        floorplan.slices()[floorplan.slice_of_mem(floorplan.mem_global(false, i))].first_queue;
    const unsigned east =
        floorplan.slices()[floorplan.slice_of_mem(floorplan.mem_global(true, i))].first_queue;
    tsp::QueueProgram reader{west, {}, {}};
    emit(reader, Opcode::read, {int64_t(i), tsp::stream_field(i % streams, false)});
    emit(reader, Opcode::repeat, {int64_t(cycles + 2 * lead - 1), 1, 0});
    tsp::QueueProgram writer{east, {}, {}};
    emit(writer, Opcode::nop, {int64_t(lead)});
    emit(writer, Opcode::write, {int64_t(i), tsp::stream_field(i % streams, false)});
    emit(writer, Opcode::repeat, {int64_t(cycles - 1), 1, 0});
    program.queues.push_back(std::move(reader));
    program.queues.push_back(std::move(writer));
    tsp::MemImage image{floorplan.mem_global(false, i), uint32_t(i), {}};
    image.bytes.assign(config.geometry.vector_bytes(), uint8_t(i + 1));
    program.images.push_back(std::move(image));
  }
  return program;
}

struct Measurement {
  uint64_t cycles = 0;
  uint64_t errors = 0;
  double sim_seconds = 0;
  double wall_seconds = 0;
  long peak_rss_kib = 0;
};

Measurement run_tspsim(const std::string& tspsim, const std::string& config, const std::string& program,
                       bool timing_only, const std::filesystem::path& stats) {
  std::vector<std::string> args = {tspsim,    "--config",     config,        program,
                                   "--quiet", "--stats-json", stats.string()};
  if (timing_only) args.push_back("--timing-only");
  std::cout.flush();
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (!std::freopen("/dev/null", "w", stdout)) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  Measurement m;
  m.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_rss_kib = usage.ru_maxrss;
  if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
    throw std::runtime_error(fmt::format(
        "{} failed on {} ({})", tspsim, program,
        WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status)) : "killed by a signal"));
  std::ifstream in(stats);
  const auto j = nlohmann::json::parse(in);
  m.cycles = j.at("cycles").get<uint64_t>();
  m.sim_seconds = j.at("host_seconds").get<double>();
  for (const auto& [kind, count] : j.at("conformance_errors").items()) m.errors += count.get<uint64_t>();
  return m;
}

// The compiled kernels measured next to the streaming program, so that no fast path is tuned to
// one program's shape. GEMM 1280^3 keeps all four MXM planes busy; GEMV 8192 x 8192 is the
// loading-time case (64 MiB of weights, declared tensors the functional run generates).
struct KernelCase {
  std::string name;
  // With or without the host reference (tspc --timing-only): the same program.
  std::function<tsp::compiler::CompiledKernel(const tsp::ChipConfig&, bool with_reference)> compile;
};

std::vector<KernelCase> kernel_cases() {
  using namespace tsp::compiler;
  using tsp::isa::DType;
  return {
      {"gemm int8 1280x1280x1280",
       [](const tsp::ChipConfig& c, bool reference) {
         return compile_gemm(c, {1280, 1280, 1280, DType::i8, 1, 0, reference});
       }},
      {"gemv int8 8192x8192",
       [](const tsp::ChipConfig& c, bool reference) {
         return compile_gemm(c, {1, 8192, 8192, DType::i8, 1, 0, reference});
       }},
      {"swiglu bf16 64x11008",
       [](const tsp::ChipConfig& c, bool reference) {
         return compile_swiglu(c, {64, 11008, DType::bf16, 1, reference});
       }},
      {"attention fp16 32/8x128 seq 1000",
       [](const tsp::ChipConfig& c, bool reference) {
         return compile_attention(c, {32, 8, 128, 1000, DType::f16, 1, reference});
       }},
  };
}

// Compiles in a child process, so that this process stays small: the peak RSS of a tspsim child
// counts the memory of its parent at fork time. Returns the child's CPU seconds (user + system):
// the compile time that issue 12 item 5 holds against the timing-only simulation. `announce`:
// print what was compiled (the first of repeated compiles).
double compile_in_child(const KernelCase& kernel, const tsp::ChipConfig& config, bool with_reference,
                        const std::filesystem::path& path, bool announce) {
  std::cout.flush();
  const pid_t pid = fork();
  if (pid == 0) {
    const auto start = std::chrono::steady_clock::now();
    const auto compiled = kernel.compile(config, with_reference);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    tsp::write_program(compiled.program, path);
    if (announce)
      std::cout << fmt::format("compiled {} {} in {:.2f} s ({} predicted cycles, {:.1f} KiB)\n", kernel.name,
                               with_reference ? "with its reference" : "timing-only", seconds,
                               compiled.predicted_cycles, std::filesystem::file_size(path) / 1024.0);
    std::cout.flush();
    _exit(0);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(fmt::format("compiling {} failed (status {})", kernel.name, status));
  const auto seconds = [](const timeval& tv) { return double(tv.tv_sec) + double(tv.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Row {
  std::string name;
  bool timing_only;
  Measurement m;
  double rate() const { return m.sim_seconds > 0 ? double(m.cycles) / m.sim_seconds : 0.0; }
};

void print_target(const std::string& what, double value, double target, bool at_least, const char* unit) {
  const bool met = at_least ? value >= target : value <= target;
  std::cout << fmt::format("  {:<58} {:>12.2f} {:<10} target {} {:<10} {}\n", what, value, unit,
                           at_least ? ">=" : "<=", target, met ? "met" : "MISSED");
}

// Writes the programs, runs them and prints the table and the targets; 0, or throws.
int run(const std::string& tspsim, const std::string& config_path, uint64_t cycles,
        const std::vector<std::string>& extra, const std::string& write_dir, bool no_kernels,
        unsigned repeat) {
  const tsp::ChipConfig config = tsp::load_config(config_path);
  if (write_dir.empty()) tsp::bench::require_executable(tspsim, "--tspsim");
  std::optional<tsp::TemporaryDirectory> scratch;
  if (write_dir.empty()) scratch.emplace("tspsim-bench");
  const std::filesystem::path dir = scratch ? scratch->path() : std::filesystem::path(write_dir);
  std::filesystem::create_directories(dir);
  std::vector<std::pair<std::string, std::string>> programs;
  std::vector<std::string> kernel_names;
  std::map<std::string, double> compile_cpu_seconds, reference_cpu_seconds;
  const auto streaming = dir / "streaming.bin";
  tsp::write_program(streaming_program(config, cycles), streaming);
  programs.emplace_back("streaming (88 MEM slices)", streaming.string());
  if (!no_kernels)
    for (const auto& kernel : kernel_cases()) {
      std::string file;
      for (char c : kernel.name) file += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      const auto path = dir / (file + ".bin");
      // The program measured is the timing-only compile's; the compile with the reference must
      // write the same bytes.
      // The fastest of `repeat` compiles, as the runs below keep the fastest of `repeat` runs:
      // one sample of a 10-50 ms compile on a shared host is mostly its noise.
      const auto with_path = dir / (file + ".reference.bin");
      double compile_cpu = compile_in_child(kernel, config, false, path, true);
      double reference_cpu = compile_in_child(kernel, config, true, with_path, true);
      for (unsigned r = 1; r < repeat; ++r) {
        compile_cpu = std::min(compile_cpu, compile_in_child(kernel, config, false, path, false));
        reference_cpu = std::min(reference_cpu, compile_in_child(kernel, config, true, with_path, false));
      }
      compile_cpu_seconds[kernel.name] = compile_cpu;
      reference_cpu_seconds[kernel.name] = reference_cpu;
      if (tsp::read_binary_file(with_path) != tsp::read_binary_file(path))
        throw std::runtime_error(
            fmt::format("{}: the compile with the reference wrote another program", kernel.name));
      std::filesystem::remove(with_path);
      programs.emplace_back(kernel.name, path.string());
      kernel_names.push_back(kernel.name);
    }
  if (!write_dir.empty()) return 0;
  for (const auto& p : extra) programs.emplace_back(std::filesystem::path(p).filename().string(), p);

  std::cout << fmt::format("config {} ({}), tspsim {}\n", config.name, config_path, tsp::kVersion);
  std::cout << fmt::format("{:<34} {:<12} {:>10} {:>9} {:>9} {:>12} {:>9} {:>7}\n", "program", "mode",
                           "cycles", "sim s", "process s", "cycles/s", "RSS MiB", "errors");
  std::vector<Row> rows;
  for (const auto& [name, path] : programs)
    for (bool timing_only : {false, true}) {
      Row row{name, timing_only, run_tspsim(tspsim, config_path, path, timing_only, dir / "stats.json")};
      for (unsigned r = 1; r < repeat; ++r) {
        const Measurement m = run_tspsim(tspsim, config_path, path, timing_only, dir / "stats.json");
        if (m.sim_seconds < row.m.sim_seconds) row.m = m;
      }
      std::cout << fmt::format("{:<34} {:<12} {:>10} {:>9.3f} {:>9.3f} {:>12.0f} {:>9.1f} {:>7}\n", name,
                               timing_only ? "timing-only" : "functional", row.m.cycles, row.m.sim_seconds,
                               row.m.wall_seconds, row.rate(), row.m.peak_rss_kib / 1024.0, row.m.errors);
      rows.push_back(row);
    }

  std::cout << "targets (issue 12):\n";
  for (const auto& row : rows) {
    if (row.name == programs.front().first && row.timing_only)
      print_target("streaming, timing-only (cycles/s)", row.rate(), 1e6, true, "cycles/s");
    else if (row.name.rfind("gemm int8", 0) == 0 && !row.timing_only)
      print_target("int8 GEMM, all four planes, functional (cycles/s)", row.rate(), 1e5, true, "cycles/s");
    if (row.timing_only &&
        std::find(kernel_names.begin(), kernel_names.end(), row.name) != kernel_names.end())
      print_target(fmt::format("{}, timing-only (cycles/s)", row.name), row.rate(), 5e5, true, "cycles/s");
    if (row.timing_only && compile_cpu_seconds.count(row.name) && row.m.wall_seconds > 0) {
      print_target(fmt::format("{}: compile CPU / timing-only run", row.name),
                   compile_cpu_seconds.at(row.name) / row.m.wall_seconds, 1.0, false, "x");
      print_target(fmt::format("{}: same, compiled with reference", row.name),
                   reference_cpu_seconds.at(row.name) / row.m.wall_seconds, 1.0, false, "x");
    }
    if (row.name.rfind("gemv", 0) == 0 && !row.timing_only && row.m.sim_seconds > 0)
      print_target(fmt::format("{}: process time / simulation time", row.name),
                   row.m.wall_seconds / row.m.sim_seconds, 1.5, false, "x");
  }
  return 0;
}

} // namespace

int main(int argc, char* argv[]) {
  std::string tspsim = "build/tspsim";
  std::string config_path = "configs/14nm.json";
  uint64_t cycles = 200000;
  std::vector<std::string> extra;
  std::string write_dir;
  bool no_kernels = false;
  unsigned repeat = 1;
  CLI::App app{"tspsim benchmark runner: simulated cycles per host second, whole-process time and peak RSS"};
  app.add_option("--tspsim", tspsim, "the tspsim binary");
  app.add_option("--config", config_path, "chip config");
  app.add_option("--cycles", cycles, "length of the streaming benchmark in cycles");
  app.add_option("--program", extra, "further programs to measure (.bin or .tsp)");
  app.add_flag("--no-kernels", no_kernels, "measure only the streaming program (and --program ones)");
  app.add_option("--repeat", repeat,
                 "runs per program and mode, and compiles per kernel; the fastest is kept (a shared machine "
                 "is noisy)")
      ->check(CLI::PositiveNumber);
  app.add_option("--write-programs", write_dir, "only write the generated programs into this directory");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(tspsim, config_path, cycles, extra, write_dir, no_kernels, repeat);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
}
