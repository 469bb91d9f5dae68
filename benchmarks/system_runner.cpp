// Multi-chip engine speed, memory and link bandwidth on the 14 nm chip. Generates a system of
// nodes of 8 fully connected chips (links 1..7) whose nodes form a ring (links 8 and 9), and one
// traffic program that every chip runs: each cabled link carries a vector every
// c2c_vector_cycles for `rounds` rounds, and every vector is received on arrival. Each
// configuration runs in a child process (SystemC elaborates once per process) and prints simulated
// cycles per host second, chip-cycles per second, peak RSS and the achieved link bandwidth.
// The thread speedup is measured on that traffic program and on a tspc all-reduce over the
// 8-chip node, whose windows hold about eight times the work of the traffic program's.
// Usage: system_runner --config configs/14nm.json [--rounds N] [--chips 8,72,576] [--threads 2]
#include "tspsim/common/error.h"
#include "tspsim/common/version.h"
#include "tspsim/compiler/collectives.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/latency.h"
#include "tspsim/system/system.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/format.h>
#include <functional>
#include <iostream>
#include <optional>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr uint32_t kNode = 8;

// Link k of a chip (1..7) goes to the chip k further round its node, arriving on link 8 - k;
// link 8 goes to the same chip of the next node, arriving on its link 9.
tsp::SystemConfig generate_system(const tsp::ChipConfig& chip, uint32_t chips) {
  tsp::SystemConfig system;
  system.name = fmt::format("generated-{}", chips);
  system.configs.push_back(chip);
  system.chip_config.assign(chips, 0);
  const uint32_t nodes = chips / kNode;
  for (uint32_t c = 0; c < chips; ++c) {
    const uint32_t node = c / kNode, a = c % kNode;
    for (uint32_t k = 1; k < kNode; ++k) {
      const uint32_t b = (a + k) % kNode;
      if (std::make_pair(a, k) < std::make_pair(b, kNode - k))
        system.cables.push_back({{c, k}, {node * kNode + b, kNode - k}});
    }
    if (nodes > 1) system.cables.push_back({{c, 8}, {((node + 1) % nodes) * kNode + a, 9}});
  }
  return system;
}

// The far link of each link in use (the same for every chip of a symmetric system).
std::vector<std::pair<unsigned, unsigned>> links_in_use(const tsp::SystemConfig& system) {
  std::vector<std::pair<unsigned, unsigned>> out;
  for (const auto& cable : system.cables) {
    if (cable.a.chip == 0) out.push_back({cable.a.link, cable.b.link});
    if (cable.b.chip == 0) out.push_back({cable.b.link, cable.a.link});
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Link k: MEM_Wk reads a vector every `spacing` cycles onto W<k>, SXM_W.<k> sends it on link k;
// SXM_E.<k> receives the far chip's vectors on link k as they arrive.
std::string traffic_program(const tsp::ChipConfig& config,
                            const std::vector<std::pair<unsigned, unsigned>>& links, uint64_t rounds) {
  const tsp::Floorplan floorplan(config.geometry, config.icu);
  const uint32_t spacing = tsp::c2c_vector_cycles(config);
  const uint32_t latency = config.timing[tsp::isa::TimingParam::c2c_link];
  const uint32_t read_func = config.timing[tsp::isa::TimingParam::mem_read_func];
  const unsigned sxm_w = floorplan.slices()[*floorplan.find_slice("SXM_W")].position;
  std::string text = ".workload \"system traffic\"\n";
  const uint64_t start = 200;
  for (const auto& [link, far] : links) {
    const std::string mem = fmt::format("MEM_W{}", link);
    const std::optional<unsigned> mem_slice = floorplan.find_slice(mem);
    if (!mem_slice)
      throw tsp::InputError(fmt::format("the traffic program reads link {}'s vectors from {}, which chip '{}' "
                                        "does not have ({} MEM slices a hemisphere)",
                                        link, mem, config.name, floorplan.mem_count() / 2));
    const unsigned hops = floorplan.slices()[*mem_slice].position - sxm_w;
    const uint64_t send = start + link; // the far chip sends on `far` at start + far
    // A Repeat repeats at least once: one round is the instruction alone.
    const std::string repeat = rounds > 1 ? fmt::format("  Repeat {}, {}, 0\n", rounds - 1, spacing) : "";
    text += fmt::format(".queue {}\n  NOP {}\n  Read 0, W{}\n{}", mem,
                        send - hops * config.streams.hop_cycles - read_func, link, repeat);
    text += fmt::format(".queue SXM_W.{}\n  NOP {}\n  Send {}, W{}\n{}", link, send, link, link, repeat);
    text += fmt::format(".queue SXM_E.{}\n  NOP {}\n  Receive {}, E{}\n{}", link, start + far + latency, link,
                        link, repeat);
  }
  return text;
}

struct Figures {
  uint64_t cycles = 0;
  double seconds = 0;
  long rss_kib = 0;
  double cpu_seconds = 0; // user + system time of all threads, over the run's host seconds: cores in use
  uint32_t simulated = 0;
  uint64_t errors = 0;
  uint64_t link1_vectors = 0; // received on link 1 of chip 0
  uint64_t link1_busy_cycles = 0;
};

double cpu_seconds_so_far() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

Figures simulate(const tsp::SystemConfig& system, const tsp::SystemProgram& program, unsigned threads,
                 bool replicate) {
  tsp::SystemOptions options;
  options.engine.timing_only = true;
  options.threads = threads;
  options.replicate = replicate;
  tsp::System sys("system", system, program, options);
  const double cpu_before = cpu_seconds_so_far();
  const tsp::SystemResult result = sys.run();
  Figures f;
  f.cycles = result.cycles;
  f.seconds = result.host_seconds;
  f.simulated = result.chips_simulated;
  for (uint32_t c = 0; c < system.chips(); ++c) f.errors += sys.simulated(c).context().log.total();
  const auto& link1 = sys.simulated(0).context().links.stats()[1];
  f.link1_vectors = link1.vectors_received;
  f.link1_busy_cycles = link1.busy_cycles;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  f.rss_kib = usage.ru_maxrss;
  f.cpu_seconds = cpu_seconds_so_far() - cpu_before;
  return f;
}

// One run in a child process (SystemC elaborates once per process); the figures come back
// through a pipe.
Figures run_in_child(const std::function<Figures()>& run) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    try {
      const Figures f = run();
      if (write(fds[1], &f, sizeof f) != ssize_t(sizeof f)) _exit(1);
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << '\n';
      _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  Figures f;
  const bool ok = read(fds[0], &f, sizeof f) == ssize_t(sizeof f);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("a run failed");
  return f;
}

Figures run_traffic(const tsp::ChipConfig& chip, uint32_t chips, uint64_t rounds, unsigned threads,
                    bool replicate) {
  return run_in_child([&] {
    const tsp::SystemConfig system = generate_system(chip, chips);
    tsp::SystemProgram program;
    program.programs.push_back(tsp::assemble(traffic_program(system.configs[0], links_in_use(system), rounds),
                                             "traffic.tsp", system.configs[0]));
    program.chip_program.assign(chips, 0);
    return simulate(system, program, threads, replicate);
  });
}

// Link 1's achieved rate over the span from its first to its last arrival.
double link_gbytes_per_s(const tsp::ChipConfig& chip, uint64_t rounds, const Figures& f) {
  const double span = double(rounds) * tsp::c2c_vector_cycles(chip) / (chip.clock_mhz * 1e6);
  return double(f.link1_vectors) * chip.geometry.vector_bytes() / span / 1e9;
}

double host_load() {
  double load[3] = {};
  getloadavg(load, 3);
  return load[0];
}

// The fastest of `repeat` runs of each thread count, alternating so both see the same moments
// of a shared host.
std::pair<Figures, Figures> best_pair(unsigned repeat, const std::function<Figures(unsigned)>& run,
                                      const std::function<void(unsigned, const Figures&)>& print) {
  std::pair<Figures, Figures> best;
  for (unsigned r = 0; r < repeat; ++r) {
    const Figures one = run(1);
    print(1, one);
    const Figures two = run(2);
    print(2, two);
    if (r == 0 || one.seconds < best.first.seconds) best.first = one;
    if (r == 0 || two.seconds < best.second.seconds) best.second = two;
  }
  return best;
}

// The tspc all-reduce of `rows` x 320 fp32 over every chip of `system_path`, simulated timing-only
// on one and two threads with every chip simulated. Its cycles must equal tspc's prediction.
void compiled_pair(const std::string& system_path, uint32_t rows, unsigned repeat) {
  const tsp::SystemConfig system = tsp::load_system(system_path);
  tsp::compiler::CollectiveShape shape;
  shape.kind = tsp::compiler::CollectiveKind::all_reduce;
  shape.rows = rows;
  shape.cols = 320;
  shape.dtype = tsp::isa::DType::f32;
  shape.with_reference = false;
  const double compile_start = cpu_seconds_so_far();
  const tsp::compiler::CompiledSystem compiled = tsp::compiler::compile_collective(system, shape);
  if (compiled.spilled) throw std::runtime_error("the all-reduce's programs were spilled to a file");
  const std::string name = fmt::format("tspc all-reduce {}x320 fp32 ({})", rows, compiled.algorithm);
  std::cout << fmt::format("\n{} on {} ({} chips): compiled in {:.2f} CPU s, {} cycles predicted\n", name,
                           system.name, system.chips(), cpu_seconds_so_far() - compile_start,
                           compiled.predicted_cycles);
  std::cout << "threads  cycles  host s  cycles/s  chip-cycles/s  peak RSS MiB  errors  cores used  "
               "chip-cycles/CPU s\n";
  const uint32_t chips = system.chips();
  const auto run = [&](unsigned threads) {
    const Figures f = run_in_child([&] { return simulate(system, compiled.program, threads, false); });
    if (f.cycles != compiled.predicted_cycles || f.errors != 0)
      throw std::runtime_error(fmt::format("{}: simulated {} cycles with {} conformance errors, predicted {}",
                                           name, f.cycles, f.errors, compiled.predicted_cycles));
    return f;
  };
  const auto print = [&](unsigned threads, const Figures& f) {
    std::cout << fmt::format(
        "{:>7}  {:>6}  {:>6.3f}  {:>8.0f}  {:>13.0f}  {:>12.1f}  {:>6}  {:>10.2f}  {:>17.0f}\n", threads,
        f.cycles, f.seconds, f.cycles / f.seconds, double(f.cycles) * chips / f.seconds, f.rss_kib / 1024.0,
        f.errors, f.cpu_seconds / f.seconds, double(f.cycles) * chips / f.cpu_seconds);
  };
  const auto [one, two] = best_pair(repeat, run, print);
  std::cout << fmt::format("{}-chip {}, 2 threads vs 1 (fastest of {}): {:.2f}x (host load average {:.1f})\n",
                           chips, name, repeat, one.seconds / two.seconds, host_load());
}

} // namespace

int sc_main(int argc, char* argv[]) {
  std::string config_path = "configs/14nm.json";
  std::string node_path = "configs/systems/node8.json";
  uint64_t rounds = 2000;
  uint32_t all_reduce_rows = 8192;
  unsigned repeat = 1;
  std::vector<uint32_t> sizes = {8, 72, 576};
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  bool full = false;
  CLI::App app{"system_runner: multi-chip engine speed, memory and link bandwidth"};
  app.add_option("--config", config_path, "chip config");
  app.add_option("--rounds", rounds, "vectors per link (default 2000)");
  app.add_option("--chips", sizes, "system sizes (multiples of 8)")->delimiter(',');
  app.add_option("--threads", threads, "worker threads for the replicated runs");
  app.add_flag("--full", full, "also run every size without replication");
  app.add_option("--node", node_path, "system whose chips the compiled all-reduce spans");
  app.add_option("--all-reduce-rows", all_reduce_rows,
                 "rows of 320 fp32 in the compiled all-reduce (default 8192: 10 MiB); 0 skips it");
  app.add_option("--repeat", repeat, "runs of each thread-speedup pair; the fastest of each is compared")
      ->check(CLI::Range(1u, 1000u));
  CLI11_PARSE(app, argc, argv);
  try {
    const tsp::ChipConfig chip = tsp::load_config(config_path);
    if (rounds == 0) throw std::runtime_error("--rounds: expected at least 1 vector per link");
    // Checked before any child runs; the largest system uses the most links.
    for (uint32_t chips : sizes)
      if (chips == 0 || chips % kNode != 0) throw std::runtime_error("--chips: sizes must be multiples of 8");
    const uint32_t largest = *std::max_element(sizes.begin(), sizes.end());
    traffic_program(chip, links_in_use(generate_system(chip, largest)), rounds);
    std::cout << fmt::format(
        "system_runner {} on {}: {} vectors per link, c2c_vector_cycles {}, timing-only\n", tsp::kVersion,
        chip.name, rounds, tsp::c2c_vector_cycles(chip));
    std::cout
        << "chips  threads  replicate  simulated  cycles  host s  cycles/s  chip-cycles/s  peak RSS MiB  "
           "link GB/s  link util  errors  cores used  chip-cycles/CPU s\n";
    auto print = [&](uint32_t chips, unsigned t, bool replicate, const Figures& f) {
      std::cout << fmt::format(
          "{:>5}  {:>7}  {:>9}  {:>9}  {:>6}  {:>6.2f}  {:>8.0f}  {:>13.0f}  {:>12.1f}  {:>9.2f}  "
          "{:>8.1f}%  {:>6}  {:>10.2f}  {:>17.0f}\n",
          chips, t, replicate ? "yes" : "no", f.simulated, f.cycles, f.seconds, f.cycles / f.seconds,
          double(f.cycles) * chips / f.seconds, f.rss_kib / 1024.0, link_gbytes_per_s(chip, rounds, f),
          100.0 * f.link1_busy_cycles / f.cycles, f.errors, f.cpu_seconds / f.seconds,
          double(f.cycles) * chips / f.cpu_seconds);
    };
    // The thread speedup: an 8-chip node with every chip simulated.
    const auto [one, two] = best_pair(
        repeat, [&](unsigned t) { return run_traffic(chip, 8, rounds, t, false); },
        [&](unsigned t, const Figures& f) { print(8, t, false, f); });
    std::cout << fmt::format(
        "8-chip node, traffic program, 2 threads vs 1 (fastest of {}): {:.2f}x (host load "
        "average {:.1f})\n",
        repeat, one.seconds / two.seconds, host_load());
    for (uint32_t chips : sizes) {
      print(chips, threads, true, run_traffic(chip, chips, rounds, threads, true));
      if (full && chips != 8) print(chips, threads, false, run_traffic(chip, chips, rounds, threads, false));
    }
    if (all_reduce_rows > 0) compiled_pair(node_path, all_reduce_rows, repeat);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
  return 0;
}

int main(int argc, char* argv[]) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
