// Simulator speed and memory: builds the benchmark programs for a config, runs tspsim on each in
// functional and timing-only mode (one process per run: SystemC elaborates once per process), and
// prints simulated cycles per host second and peak RSS. Usage:
//   bench_runner --tspsim build/tspsim --config configs/14nm.json [--cycles N] [--program extra.bin ...]
#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"
#include "tspsim/common/version.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using tsp::Instruction;
using tsp::isa::Opcode;

int64_t stream_field(unsigned id, bool west) { return (west ? 0x40 : 0) | id; }

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
  program.metadata.workload = fmt::format("streaming: {} MEM slices for {} cycles", 2 * per_hemisphere, cycles);
  program.metadata.generator = fmt::format("bench_runner {}", tsp::kVersion);
  for (unsigned i = 0; i < per_hemisphere; ++i) {
    const unsigned west = floorplan.slices()[floorplan.slice_of_mem(floorplan.mem_global(false, i))].first_queue;
    const unsigned east = floorplan.slices()[floorplan.slice_of_mem(floorplan.mem_global(true, i))].first_queue;
    tsp::QueueProgram reader{west, {}, {}};
    emit(reader, Opcode::read, {int64_t(i), stream_field(i % streams, false)});
    emit(reader, Opcode::repeat, {int64_t(cycles + 2 * lead - 1), 1, 0});
    tsp::QueueProgram writer{east, {}, {}};
    emit(writer, Opcode::nop, {int64_t(lead)});
    emit(writer, Opcode::write, {int64_t(i), stream_field(i % streams, false)});
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
  std::vector<std::string> args = {tspsim, "--config", config, program, "--quiet", "--stats-json", stats.string()};
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
    throw std::runtime_error(fmt::format("tspsim failed on {} (exit status {})", program, status));
  std::ifstream in(stats);
  const auto j = nlohmann::json::parse(in);
  m.cycles = j.at("cycles").get<uint64_t>();
  m.sim_seconds = j.at("host_seconds").get<double>();
  for (const auto& [kind, count] : j.at("conformance_errors").items()) m.errors += count.get<uint64_t>();
  return m;
}

} // namespace

int main(int argc, char* argv[]) {
  std::string tspsim = "build/tspsim";
  std::string config_path = "configs/14nm.json";
  uint64_t cycles = 200000;
  std::vector<std::string> extra;
  std::string write_dir;
  CLI::App app{"tspsim benchmark runner: simulated cycles per host second and peak RSS"};
  app.add_option("--tspsim", tspsim, "the tspsim binary");
  app.add_option("--config", config_path, "chip config");
  app.add_option("--cycles", cycles, "length of the streaming benchmark in cycles");
  app.add_option("--program", extra, "further programs to measure (.bin or .tsp)");
  app.add_option("--write-programs", write_dir, "only write the generated programs into this directory");
  CLI11_PARSE(app, argc, argv);

  const tsp::ChipConfig config = tsp::load_config(config_path);
  const auto dir = write_dir.empty() ? std::filesystem::temp_directory_path() / fmt::format("tspsim-bench-{}", getpid())
                                     : std::filesystem::path(write_dir);
  std::filesystem::create_directories(dir);
  const auto streaming = dir / "streaming.bin";
  tsp::write_program(streaming_program(config, cycles), streaming);
  if (!write_dir.empty()) return 0;
  std::vector<std::pair<std::string, std::string>> programs = {{"streaming (88 MEM slices)", streaming.string()}};
  for (const auto& p : extra) programs.emplace_back(std::filesystem::path(p).filename().string(), p);

  std::cout << fmt::format("config {} ({}), tspsim {}\n", config.name, config_path, tsp::kVersion);
  std::cout << fmt::format("{:<34} {:<12} {:>12} {:>10} {:>14} {:>12} {:>7}\n", "program", "mode", "cycles",
                           "sim s", "cycles/s", "peak RSS MiB", "errors");
  for (const auto& [name, path] : programs)
    for (bool timing_only : {false, true}) {
      const Measurement m = run_tspsim(tspsim, config_path, path, timing_only, dir / "stats.json");
      std::cout << fmt::format("{:<34} {:<12} {:>12} {:>10.3f} {:>14.0f} {:>12.1f} {:>7}\n", name,
                               timing_only ? "timing-only" : "functional", m.cycles, m.sim_seconds,
                               m.sim_seconds > 0 ? double(m.cycles) / m.sim_seconds : 0.0, m.peak_rss_kib / 1024.0,
                               m.errors);
    }
  std::filesystem::remove_all(dir);
  return 0;
}
