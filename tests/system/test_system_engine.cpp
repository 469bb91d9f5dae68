// The multi-chip engine: chips cabled by a SystemConfig run in one elaboration, in windows of the
// link latency. Transfers between chips, forwarding over two hops, link utilisation, bit-identical
// results on one and two threads, replication proven by arrivals, and clock drift with Deskew.
// SystemC allows one elaboration per process: a comparison of two runs forks the first one.
#include "engine_harness.h"
#include "slice_schedule.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/tensor.h"
#include "tspsim/system/system.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using tsp::test::Schedule;

namespace {

constexpr unsigned kVector = 32; // tiny.json

const char* kTensors = R"(
.tensor A i8 2x32 slices=MEM_W3 base=0 init=random(45)
.tensor B i8 2x32 slices=MEM_E3 base=0 init=zeros
)";

// Row `row` of A leaves on `link` at cycle t (MEM_W3 is one hop from SXM_W).
void send(Schedule& s, unsigned link, uint64_t t, uint32_t row = 0) {
  s.read_group({"MEM_W3"}, row, 0, "SXM_W", t);
  s.at("SXM_W.0", t, fmt::format("Send {}, W0", link));
}

// The vector on `link` is received at t and written to row `row` of B.
void receive(Schedule& s, unsigned link, uint64_t t, uint32_t row = 0) {
  s.at("SXM_E.0", t, fmt::format("Receive {}, W0", link));
  s.write_group({"MEM_E3"}, row, 0, "SXM_E", t + 1);
}

// Receive on `in` at t and send the vector on `out` at t + 1, straight from the stream.
void forward(Schedule& s, unsigned in, unsigned out, uint64_t t) {
  s.at("SXM_E.1", t, fmt::format("Receive {}, W1", in));
  s.at("SXM_E.1", t + 1, fmt::format("Send {}, W1", out));
}

tsp::SystemConfig tiny_system(uint32_t chips, std::vector<tsp::Cable> cables,
                              const std::vector<std::string>& overrides = {}) {
  tsp::SystemConfig system;
  system.name = fmt::format("test{}", chips);
  system.configs.push_back(tsp::test::bundled_config("tiny.json", overrides));
  system.chip_config.assign(chips, 0);
  system.cables = std::move(cables);
  return system;
}

tsp::SystemProgram programs(const tsp::SystemConfig& system, const std::vector<std::string>& texts) {
  tsp::SystemProgram program;
  for (uint32_t c = 0; c < system.chips(); ++c) {
    program.programs.push_back(tsp::assemble(kTensors + texts.at(c), fmt::format("chip{}.tsp", c), system.config_of(c)));
    program.chip_program.push_back(c);
  }
  return program;
}

std::vector<uint8_t> symbol(const tsp::System& system, uint32_t chip, const char* name) {
  return system.simulated(chip).read_symbol(*system.program().program_of(chip).find_symbol(name));
}

// The initial elements of A on `chip`, from its program's memory image.
std::vector<uint8_t> initial_a(const tsp::SystemProgram& program, uint32_t chip) {
  const tsp::Program& p = program.program_of(chip);
  const uint32_t mem = p.find_symbol("A")->slices.at(0);
  std::vector<uint8_t> bytes;
  tsp::for_each_image(p, [&](const tsp::MemImage& image) {
    if (image.mem == mem && image.address == 0) bytes = image.bytes;
  });
  return bytes;
}

// Everything a run produces, as text: cycles, errors, link traffic and the B tensors.
std::string digest(const tsp::System& system, const tsp::SystemResult& result) {
  std::ostringstream out;
  out << "cycles " << result.cycles << " windows " << result.windows << "\n";
  for (uint32_t c = 0; c < system.chips(); ++c) {
    const auto& ctx = system.simulated(c).context();
    out << "chip " << c << " cycles " << result.chips[c].cycles << " instructions " << ctx.log.total() << "\n";
    for (const auto& e : ctx.log.kept()) out << "  " << e.describe() << "\n";
    for (unsigned l = 0; l < ctx.links.links(); ++l) {
      const auto& st = ctx.links.stats()[l];
      if (st.vectors_sent || st.vectors_received)
        out << "  link " << l << " " << st.vectors_sent << " " << st.vectors_received << " " << st.busy_cycles << "\n";
    }
    for (uint8_t b : symbol(system, c, "B")) out << int(b) << ",";
    out << "\n";
  }
  return out.str();
}

// Runs `run` in a child process (its own SystemC elaboration) and returns what it printed.
template <typename Run> std::string in_child(Run run) {
  char path[] = "/tmp/tspsim_system_XXXXXX"; // mkstemp template: the child writes its result here
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::ofstream(path) << run();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path);
  return text;
}

} // namespace

TEST_CASE("system: a vector sent on a cabled link arrives at the far chip c2c_link later") {
  // Chip 0 link 3 <-> chip 1 link 5. Chip 0 sends rows 0 and 1 at 10 and 12 (a tiny link is busy
  // 2 cycles per vector); chip 1 receives them at 226 and 228.
  const auto system = tiny_system(2, {{{0, 3}, {1, 5}}});
  const auto config = system.config_of(0);
  Schedule s0(config), s1(config);
  send(s0, 3, 10, 0);
  send(s0, 3, 12, 1);
  receive(s1, 5, 226, 0);
  receive(s1, 5, 228, 1);
  const auto program = programs(system, {s0.text(), s1.text()});
  tsp::SystemOptions options;
  tsp::System sys("system", system, program, options);
  const auto result = sys.run();
  CHECK(sys.simulated(0).context().log.total() == 0);
  CHECK(sys.simulated(1).context().log.total() == 0);
  CHECK(symbol(sys, 1, "B") == initial_a(program, 0));
  // Chip 1's last Write: Receive at 228, W0 at SXM_E at 229, MEM_E3 (one hop) at 230; + 1 + stagger 1.
  CHECK(result.chips[1].cycles == 232);
  CHECK(result.cycles == 232);
  CHECK(result.window == 216);
  CHECK(result.windows == 2);
  CHECK(result.vectors_delivered == 2);
  CHECK(result.chips_simulated == 2);
  const auto& sent = sys.simulated(0).context().links.stats()[3];
  CHECK(sent.vectors_sent == 2);
  CHECK(sent.busy_cycles == 4);
  CHECK(sys.simulated(1).context().links.stats()[5].vectors_received == 2);
  REQUIRE(sys.peer(1, 5) != nullptr);
  CHECK(sys.peer(1, 5)->chip == 0);
  CHECK(sys.peer(1, 5)->link == 3);
  CHECK(sys.peer(1, 4) == nullptr);
}

TEST_CASE("system: a two-hop route forwards through the middle chip") {
  // Chip 0 link 1 <-> chip 1 link 0; chip 1 link 1 <-> chip 2 link 0. Chip 0 sends at 10; chip 1
  // receives at 226 and sends on at 227; chip 2 receives at 443.
  const auto system = tiny_system(3, {{{0, 1}, {1, 0}}, {{1, 1}, {2, 0}}});
  const auto config = system.config_of(0);
  Schedule s0(config), s1(config), s2(config);
  send(s0, 1, 10);
  forward(s1, 0, 1, 226);
  receive(s2, 0, 443);
  const auto program = programs(system, {s0.text(), s1.text(), s2.text()});
  tsp::System sys("system", system, program, {});
  const auto result = sys.run();
  for (uint32_t c = 0; c < 3; ++c) CHECK(sys.simulated(c).context().log.total() == 0);
  const auto b = symbol(sys, 2, "B");
  const auto a = initial_a(program, 0);
  CHECK(std::equal(b.begin(), b.begin() + kVector, a.begin()));
  CHECK(std::all_of(b.begin() + kVector, b.end(), [](uint8_t x) { return x == 0; }));
  CHECK(result.chips[2].cycles == 447);
}

TEST_CASE("system: a forward that leaves before its vector arrived is caught on the middle chip") {
  const auto system = tiny_system(3, {{{0, 1}, {1, 0}}, {{1, 1}, {2, 0}}});
  const auto config = system.config_of(0);
  Schedule s0(config), s1(config), s2(config);
  send(s0, 1, 10);
  forward(s1, 0, 1, 225); // one cycle before the vector is receivable at 226
  receive(s2, 0, 442);
  const std::string middle = s1.text();
  const auto program = programs(system, {s0.text(), middle, s2.text()});
  tsp::System sys("system", system, program, {});
  sys.run();
  const auto& log = sys.simulated(1).context().log;
  CHECK(log.total() == 1);
  REQUIRE(log.count(tsp::ErrorKind::link_empty) == 1);
  CHECK(log.kept().front().describe() ==
        fmt::format("cycle 225: link-empty: SXM_E.1 instruction 1 (Receive) line {}: no vector has arrived on link 0",
                    tsp::test::line_of(std::string(kTensors) + middle, "Receive")));
  CHECK(sys.simulated(0).context().log.total() == 0);
  CHECK(sys.simulated(2).context().log.total() == 0); // chip 2 received the zeros that were forwarded
  CHECK(symbol(sys, 2, "B") == std::vector<uint8_t>(2 * kVector, 0));
}

TEST_CASE("system: Sends on a link faster than its rate overrun, named with the chip's own log") {
  const auto system = tiny_system(2, {{{0, 3}, {1, 5}}});
  const auto config = system.config_of(0);
  Schedule s0(config), s1(config);
  send(s0, 3, 10, 0);
  send(s0, 3, 11, 1);
  receive(s1, 5, 226, 0);
  receive(s1, 5, 228, 1);
  const auto program = programs(system, {s0.text(), s1.text()});
  tsp::System sys("system", system, program, {});
  sys.run();
  const auto& log = sys.simulated(0).context().log;
  REQUIRE(log.count(tsp::ErrorKind::link_overrun) == 1);
  CHECK(log.kept().front().cycle == 11);
  CHECK(sys.simulated(1).context().log.total() == 0);
}

namespace {
// Eight chips fully connected, wired the same way from every chip's point of view: link k of chip
// a goes to chip (a + k) mod 8, arriving on its link 8 - k. Every chip sends row 0 of A on links
// 1..7, two cycles apart, and receives one vector on each link, writing it to row k % 2 of B.
// With `offset`, chip a does everything `a` cycles later (so no two chips see the same arrivals).
std::pair<tsp::SystemConfig, tsp::SystemProgram> all_to_all(bool offset) {
  std::vector<tsp::Cable> cables;
  for (uint32_t a = 0; a < 8; ++a)
    for (uint32_t k = 1; k < 8; ++k) {
      const uint32_t b = (a + k) % 8;
      if (std::make_pair(a, k) < std::make_pair(b, 8 - k)) cables.push_back({{a, k}, {b, 8 - k}});
    }
  auto system = tiny_system(8, cables);
  std::vector<std::string> texts;
  for (uint32_t a = 0; a < 8; ++a) {
    Schedule s(system.config_of(0));
    const uint64_t late = offset ? a : 0;
    for (uint32_t k = 1; k < 8; ++k) {
      send(s, k, 10 + late + 2 * k, 0);
      receive(s, k, 260 + late + 2 * k, k % 2);
    }
    texts.push_back(s.text());
  }
  auto program = programs(system, texts);
  return {std::move(system), std::move(program)};
}

// Counts the sends it hears. Observing the links makes the System exchange serially, between windows.
struct CountingLinks : tsp::LinkObserver {
  uint64_t sends = 0;
  void sent(const tsp::LinkSend&) override { ++sends; }
};

std::string run_all_to_all(unsigned threads, bool timing_only, bool replicate, bool offset,
                           tsp::SystemResult* out = nullptr, CountingLinks* observer = nullptr) {
  static const auto setup = all_to_all(offset);
  tsp::SystemOptions options;
  options.threads = threads;
  options.engine.timing_only = timing_only;
  options.replicate = replicate;
  tsp::System sys("system", setup.first, setup.second, options);
  if (observer) sys.observe_links(observer);
  const auto result = sys.run();
  if (out) *out = result;
  return digest(sys, result);
}
} // namespace

TEST_CASE("system: eight chips all-to-all give bit-identical results on one and two threads") {
  const std::string one = in_child([] { return run_all_to_all(1, false, false, true); });
  tsp::SystemResult result;
  const std::string two = run_all_to_all(2, false, false, true, &result);
  CHECK(result.threads == 2);
  CHECK(one == two);
  CHECK(two.find("error") == std::string::npos);
  CHECK(result.vectors_delivered == 56);
}

// Without replication or a link observer the chips exchange their sends in their own jobs (no
// serial phase); the serial exchange between windows is the reference.
TEST_CASE("system: the parallel exchange gives the serial exchange's results, functional and timing-only") {
  for (const bool timing_only : {false, true}) {
    const std::string serial = in_child([&] {
      CountingLinks observer;
      tsp::SystemResult result;
      const std::string digest = run_all_to_all(1, timing_only, false, true, &result, &observer);
      return "sends " + std::to_string(observer.sends) + "\n" + digest + "delivered " +
             std::to_string(result.vectors_delivered);
    });
    const std::string parallel = in_child([&] {
      tsp::SystemResult result;
      const std::string digest = run_all_to_all(2, timing_only, false, true, &result);
      return digest + "delivered " + std::to_string(result.vectors_delivered);
    });
    INFO("timing-only " << timing_only);
    CHECK(parallel.find("delivered 56") != std::string::npos);
    CHECK(serial == "sends 56\n" + parallel);
  }
}

TEST_CASE("system: identical chips with identical arrivals are simulated once, with the same results") {
  const std::string full = in_child([] { return run_all_to_all(1, true, false, false); });
  tsp::SystemResult result;
  const std::string replicated = run_all_to_all(2, true, true, false, &result);
  CHECK(result.chips_simulated == 1);
  CHECK(result.chips_reused == 7);
  CHECK(full == replicated);
}

namespace {
// A chain of eight chips running one program: send on link 0, receive on link 1. Chip 0 receives
// nothing (link-empty), so its arrivals differ from the others' and the class splits.
std::string run_chain(bool replicate, tsp::SystemResult* out = nullptr) {
  std::vector<tsp::Cable> cables;
  for (uint32_t i = 0; i + 1 < 8; ++i) cables.push_back({{i, 0}, {i + 1, 1}});
  static const auto system = tiny_system(8, cables);
  Schedule s(system.config_of(0));
  send(s, 0, 10);
  receive(s, 1, 226);
  static const auto program = programs(system, std::vector<std::string>(8, s.text()));
  tsp::SystemOptions options;
  options.engine.timing_only = true;
  options.replicate = replicate;
  tsp::System sys("system", system, program, options);
  const auto result = sys.run();
  if (out) *out = result;
  return digest(sys, result);
}
} // namespace

TEST_CASE("system: a chip whose arrivals differ is split off and simulated in full") {
  const std::string full = in_child([] { return run_chain(false); });
  tsp::SystemResult result;
  const std::string replicated = run_chain(true, &result);
  CHECK(result.chips_simulated == 2);
  CHECK(result.chips_reused == 6);
  CHECK(full == replicated);
  CHECK(replicated.find("link-empty") != std::string::npos);
}

namespace {
// Chip 1's clock runs 100 ppm fast. Chip 0 sends row 0 on link 3 to chip 1's link 5 at its cycle
// 40195; chip 1 receives 216 cycles later by its own count and writes the row to B. With `deskew`
// every queue first waits for the HAC epoch at reference cycle 40192 and counts from there.
std::string drift_text(uint32_t chip, bool deskew) {
  auto queue = [&](const char* name, uint64_t nominal, const char* body) {
    std::string wait = deskew ? "  NOP 40000\n  Deskew\n" : "";
    const uint64_t rest = deskew ? nominal - 40192 : nominal;
    if (rest != 0) wait += fmt::format("  NOP {}\n", rest);
    return fmt::format(".queue {}\n{}  {}\n", name, wait, body);
  };
  if (chip == 0) return queue("MEM_W3", 40192 + 0, "Read 0, W0") + queue("SXM_W.0", 40195, "Send 3, W0");
  return queue("SXM_E.0", 40411, "Receive 5, W0") + queue("MEM_E3", 40413, "Write 0, W0");
}

struct DriftRun {
  tsp::SystemConfig system;
  tsp::SystemProgram program;
  std::unique_ptr<tsp::System> sys;
  tsp::SystemResult result;

  DriftRun(double ppm, bool deskew) {
    system = tiny_system(2, {{{0, 3}, {1, 5}}});
    system.configs.push_back(tsp::test::bundled_config("tiny.json", {fmt::format("c2c.drift_ppm={}", ppm)}));
    system.chip_config[1] = 1;
    program = programs(system, {drift_text(0, deskew), drift_text(1, deskew)});
    sys = std::make_unique<tsp::System>("system", system, program, tsp::SystemOptions{});
    result = sys->run();
  }
  const tsp::ConformanceLog& log(uint32_t chip) const { return sys->simulated(chip).context().log; }
};
} // namespace

TEST_CASE("system drift: without drift the nominal schedule delivers on time") {
  DriftRun run(0, false);
  CHECK(run.log(0).total() == 0);
  CHECK(run.log(1).total() == 0);
  const auto b = symbol(*run.sys, 1, "B");
  const auto a = initial_a(run.program, 0);
  CHECK(std::equal(b.begin(), b.begin() + kVector, a.begin()));
  CHECK(run.result.window == 216);
}

TEST_CASE("system drift: a chip 100 ppm fast receives 4 cycles early by its own clock") {
  // The vector arrives at reference cycle 40411, which is chip 1's cycle 40411 + 4.
  DriftRun run(100, false);
  CHECK(run.result.window == 214);
  REQUIRE(run.log(1).count(tsp::ErrorKind::link_empty) == 1);
  CHECK(run.log(1).kept().front().cycle == 40411);
  CHECK(symbol(*run.sys, 1, "B") == std::vector<uint8_t>(2 * kVector, 0));
}

TEST_CASE("system drift: Deskew realigns the chips to the HAC epoch, so the same schedule holds") {
  // Chip 1's Deskew at its cycle 40000 (reference 39997) resumes at the epoch 40192, its cycle
  // 40196; it receives at 40196 + 219 = 40415, the arrival in its clock.
  DriftRun run(100, true);
  CHECK(run.log(0).total() == 0);
  CHECK(run.log(1).total() == 0);
  const auto b = symbol(*run.sys, 1, "B");
  const auto a = initial_a(run.program, 0);
  CHECK(std::equal(b.begin(), b.begin() + kVector, a.begin()));
  CHECK(run.result.chips[1].cycles == 40415 + 2 + 1 + 1);
}
