// The timing rules of docs/timing-model.md, one per test case, on configs/tiny.json.
// Tiny positions: MXM_W0 0, SXM_W 1, MEM_W3 2, MEM_W2 3, MEM_W1 4, MEM_W0 5, VXM 6, MEM_E0 7,
// MEM_E1 8, MEM_E2 9, MEM_E3 10, SXM_E 11, MXM_E0 12. Two superlanes: a program's cycle count is
// its last active cycle + 1 + 1 (superlane stagger). Read func 2, Write skew 0, Notify 2, Ifetch 4.
#include "engine_harness.h"
#include "tspsim/common/error.h"
#include "tspsim/program/program.h"
#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

using tsp::ErrorKind;
using tsp::test::Simulation;

namespace {
// A: 4 rows in MEM_W3; the copy goes east on E0 to MEM_E3 (8 hops).
const std::string kTensors = R"(
.tensor A i8 4x32 slices=MEM_W3 base=0 init=random(7)
.tensor B i8 4x32 slices=MEM_E3 base=0 init=zeros
)";
} // namespace

TEST_CASE("a vector read in the west arrives 8 hops east and is written there") {
  // Read at 0 -> on E0 at MEM_W3 at 2 -> at MEM_E3 (8 hops) at 10: Write dispatched at 10.
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
.queue MEM_E3
  NOP 10
  Write 0, E0
)",
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 12);
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  CHECK(std::equal(a.begin(), a.begin() + 32, b.begin()));
  CHECK(std::all_of(b.begin() + 32, b.end(), [](uint8_t x) { return x == 0; }));
}

// Image words are read in place until their chunk of SRAM is first written (MemSlice::share_image):
// the write's chunk then holds the image's other words as they were.
TEST_CASE("a write beside a MEM image's words keeps the image's other words") {
  Simulation sim(R"(
.tensor A i8 1x4 slices=MEM_W3 base=0 init=values(21 22 23 24)
.tensor B i8 4x4 slices=MEM_E3 base=0 init=values(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
.queue MEM_W3
  Read 0, E0
.queue MEM_E3
  NOP 10
  Write 1, E0
)",
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.symbol("B") == std::vector<uint8_t>{1, 2, 3, 4, 21, 22, 23, 24, 9, 10, 11, 12, 13, 14, 15, 16});
}

TEST_CASE("Repeat streams one vector per cycle with an address stride") {
  // Reads at 0..3, writes at 10..13: last active 13.
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
  Repeat 3, 1, 1
.queue MEM_E3
  NOP 10
  Write 0, E0
  Repeat 3, 1, 1
)",
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 15);
  CHECK(sim.symbol("B") == sim.initial("A"));
}

TEST_CASE("Repeat with an interval issues every d cycles and the next instruction after the last") {
  // Reads at 0, 3, 6, 9 (stride 1); the consumer writes at 10, 13, 16, 19; a NOP 1 after the
  // Repeat proves the next instruction dispatches at 9 + 1.
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
  Repeat 3, 3, 1
  NOP 1
  Read 3, E1
.queue MEM_E3
  NOP 10
  Write 0, E0
  Repeat 3, 3, 1
)",
                 "tiny.json");
  // The trailing Read 3, E1 dispatches at 11 and puts its value on E1 at 13, read by nobody.
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 21);
  CHECK(sim.symbol("B") == sim.initial("A"));
}

TEST_CASE("a consumer one cycle early reads an empty stream position") {
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
.queue MEM_E3
  NOP 9
  Write 0, E0
)",
                 "tiny.json");
  CHECK(sim.log().total() == 1);
  CHECK(sim.log().count(ErrorKind::stream_empty) == 1);
  CHECK(sim.first_error() == "cycle 9: stream-empty: MEM_E3 instruction 1 (Write) line 9: no value on stream E0 at MEM_E3");
  CHECK(sim.result.cycles == 11);
}

TEST_CASE("a westward stream does not reach slices east of its writer") {
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, W0
.queue MEM_E3
  NOP 10
  Write 0, W0
)",
                 "tiny.json");
  CHECK(sim.log().count(ErrorKind::stream_empty) == 1);
}

TEST_CASE("two writes to one stream position in one cycle collide") {
  // Both VXM ALUs put a vector on E3 at the VXM at cycle 1.
  Simulation sim(R"(
.queue VXM.0
  splat.i8 E3, 5
.queue VXM.1
  splat.i8 E3, 6
)",
                 "tiny.json");
  CHECK(sim.log().count(ErrorKind::stream_collision) == 1);
  CHECK(sim.first_error() == "cycle 1: stream-collision: VXM.1 instruction 0 (splat) line 5: second write to stream E3 at VXM in one cycle");
}

TEST_CASE("a value written before a barrier release and read after it is stale") {
  // Read at 0 writes E0 at 2; Notify at 1 releases at 3; the Write reads at 10, in the new epoch.
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
.queue VXM.0
  NOP 1
  Notify
.queue MEM_E3
  NOP 10
  Write 0, E0
)",
                 "tiny.json");
  CHECK(sim.log().count(ErrorKind::stream_stale) == 1);
  CHECK(sim.first_error() == "cycle 10: stream-stale: MEM_E3 instruction 1 (Write) line 12: stream E0 at MEM_E3 holds a value from before the last barrier");
}

TEST_CASE("Sync parks queues until a Notify releases them icu_notify cycles later") {
  // Notify at 5 releases at 7: Read at 7 -> E0 at 9 -> MEM_E3 at 17 = 7 + NOP 10.
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Sync
  Read 0, E0
.queue MEM_E3
  Sync
  NOP 10
  Write 0, E0
.queue VXM.0
  NOP 5
  Notify
)",
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 19);
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  CHECK(std::equal(a.begin(), a.begin() + 32, b.begin()));
}

TEST_CASE("a queue left in Sync is reported when the program ends") {
  Simulation sim(R"(
.queue MEM_W0
  Sync
)",
                 "tiny.json");
  CHECK(sim.log().count(ErrorKind::sync_unreleased) == 1);
  CHECK(sim.first_error() == "cycle 0: sync-unreleased: MEM_W0: queue MEM_W0 is still parked in the Sync it reached at cycle 0");
}

TEST_CASE("two accesses to one bank in one cycle exceed its port") {
  // VXM.0's Ifetch reads MEM_W0 word 0 at cycle 0 while MEM_W0 reads word 1 (same bank).
  Simulation sim(R"(
.queue VXM.0
  Ifetch MEM_W0, 0, 1
.queue MEM_W0
  Read 1, E0
)",
                 "tiny.json");
  CHECK(sim.log().count(ErrorKind::mem_port) == 1);
  // The accesses beyond the bank's ports are blamed in queue order: MEM_W0's queue comes first.
  CHECK(sim.first_error() == "cycle 0: mem-port: VXM.0 instruction 0 (Ifetch) line 3: bank 0 of MEM_W0 accessed 2 times in one cycle; it has 1 port");
}

TEST_CASE("accesses to different banks in one cycle do not conflict") {
  // Words 0..127 are bank 0, 128..255 bank 1 on the tiny chip.
  Simulation sim(R"(
.queue VXM.0
  Ifetch MEM_W0, 0, 1
.queue MEM_W0
  Read 128, E0
)",
                 "tiny.json");
  CHECK(sim.log().total() == 0);
}

TEST_CASE("Ifetch brings instruction text from MEM into the queue") {
  // Ifetch at 0, text arrives at 4; NOP 3 (1..3) keeps the queue busy until then. The fetched
  // Read dispatches at 4 -> E0 at 6 -> MEM_E3 at 14.
  Simulation sim(kTensors + R"(
.text MEM_E0 100
more:
  Read 0, E0
.queue MEM_W3
  Ifetch MEM_E0, more, 1
  NOP 3
.queue MEM_E3
  NOP 14
  Write 0, E0
)",
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 16);
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  CHECK(std::equal(a.begin(), a.begin() + 32, b.begin()));
}

TEST_CASE("a queue that runs dry before its fetched text arrives is starved") {
  Simulation sim(kTensors + R"(
.text MEM_E0 100
more:
  Read 0, E0
.queue MEM_W3
  Ifetch MEM_E0, more, 1
.queue MEM_E3
  NOP 14
  Write 0, E0
)",
                 "tiny.json");
  CHECK(sim.log().count(ErrorKind::queue_starved) == 1);
  CHECK(sim.first_error() == "cycle 1: queue-starved: MEM_W3 instruction 0 (Ifetch) line 9: queue MEM_W3 ran dry; its fetched text arrives at cycle 4");
  // The Read still runs when the text arrives, so the copy is on time.
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  CHECK(std::equal(a.begin(), a.begin() + 32, b.begin()));
}

TEST_CASE("fetched text that overfills the instruction buffer is reported") {
  // Buffer of 4; NOP 10 holds the queue while two NOPs wait and 4 instructions arrive at 4.
  Simulation sim(R"(
.text MEM_E0 100
more:
  NOP 1
  NOP 1
  NOP 1
  NOP 1
.queue MEM_W3
  Ifetch MEM_E0, more, 1
  NOP 10
  NOP 1
  NOP 1
)",
                 "tiny.json", {"icu.instruction_buffer_entries=4"});
  CHECK(sim.log().count(ErrorKind::queue_overflow) == 1);
  CHECK(sim.first_error() == "cycle 4: queue-overflow: MEM_W3 instruction 0 (Ifetch) line 9: fetched text fills queue MEM_W3 to 6 instructions; its buffer holds 4");
}

TEST_CASE("a queue whose text does not fit its instruction buffer is rejected at load") {
  const auto config = tsp::test::bundled_config("tiny.json", {"icu.instruction_buffer_entries=2"});
  CHECK_THROWS_WITH(tsp::assemble(".queue MEM_W0\n  NOP 1\n  NOP 1\n  NOP 1\n", "long.tsp", config),
                    "long.tsp: queue MEM_W0 has 3 instructions; its buffer holds 2 (fetch the rest with Ifetch)");
}

TEST_CASE("Config vl limits a Read to the first vl superlanes") {
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Config 1
  Read 0, E0
.queue MEM_E3
  NOP 11
  Write 0, E0
)",
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  CHECK(std::equal(a.begin(), a.begin() + 16, b.begin()));
  CHECK(std::all_of(b.begin() + 16, b.begin() + 32, [](uint8_t x) { return x == 0; }));
}

TEST_CASE("Deskew waits for the next HAC epoch boundary") {
  // hac_period 256: Deskew at 3 -> Read at 256 -> E0 at 258 -> MEM_E3 at 266.
  Simulation sim(kTensors + R"(
.queue MEM_W3
  NOP 3
  Deskew
  Read 0, E0
.queue MEM_E3
  NOP 266
  Write 0, E0
)",
                 "tiny.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 268);
}

TEST_CASE("the debug clock mode gives the same cycles and data as the fused scheduler") {
  tsp::EngineOptions options;
  options.debug_clock = true;
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
  Repeat 3, 1, 1
.queue MEM_E3
  NOP 10
  Write 0, E0
  Repeat 3, 1, 1
)",
                 "tiny.json", {}, options);
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 15);
  CHECK(sim.symbol("B") == sim.initial("A"));
}

TEST_CASE("timing-only mode keeps the cycle count and the checks") {
  tsp::EngineOptions options;
  options.timing_only = true;
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
  Repeat 3, 1, 1
.queue MEM_E3
  NOP 9
  Write 0, E0
  Repeat 3, 1, 1
)",
                 "tiny.json", {}, options);
  CHECK(sim.result.cycles == 14);
  // Writes at 9..12 read positions one cycle early: the first finds nothing, the next three
  // find the previous row's value (a real, silent off-by-one in hardware).
  CHECK(sim.log().count(ErrorKind::stream_empty) == 1);
}

TEST_CASE("an operand skew moves the read after the dispatch") {
  // mem_write_skew 2: the Write dispatched at 8 reads E0 at MEM_E3 at 10.
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
.queue MEM_E3
  NOP 8
  Write 0, E0
)",
                 "tiny.json", {"timing.mem_write_skew=2"});
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 12);
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  CHECK(std::equal(a.begin(), a.begin() + 32, b.begin()));
}

TEST_CASE("hop_cycles sets the cycles per stream-register position") {
  // hop 2: E0 at MEM_W3 (position 2) at 2 reaches MEM_E3 (position 10) at 2 + 8 * 2 = 18.
  Simulation sim(kTensors + R"(
.queue MEM_W3
  Read 0, E0
.queue MEM_E3
  NOP 18
  Write 0, E0
)",
                 "tiny.json", {"streams.hop_cycles=2"});
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 20);
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  CHECK(std::equal(a.begin(), a.begin() + 32, b.begin()));
}

TEST_CASE("the superlane stagger adds superlanes - 1 steps after the last active cycle") {
  // 4 superlanes of 16 lanes, stagger 3: the same copy ends at 10 + 1 + 3 * 3.
  Simulation sim(R"(
.tensor A i8 1x64 slices=MEM_W3 base=0 init=random(7)
.tensor B i8 1x64 slices=MEM_E3 base=0 init=zeros
.queue MEM_W3
  Read 0, E0
.queue MEM_E3
  NOP 10
  Write 0, E0
)",
                 "tiny.json", {"geometry.superlanes=4", "streams.superlane_stagger_cycles=3"});
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 20);
  CHECK(sim.symbol("B") == sim.initial("A"));
}

namespace {
// A .tensor of one vector at `where` (slice and base) whose first text slots hold `words` (tiny:
// 32 bytes, four slots): text that the assembler's checks of .text never saw.
std::string raw_text(const std::vector<tsp::Instruction>& words,
                     const std::string& where = "T slices=MEM_E0 base=100") {
  std::vector<uint8_t> bytes(32, 0);
  for (size_t i = 0; i < words.size(); ++i)
    tsp::put_text_word(bytes.data(), unsigned(i), tsp::encode(words[i]));
  std::string values;
  for (uint8_t b : bytes) values += (values.empty() ? "" : " ") + std::to_string(int8_t(b));
  const auto space = where.find(' ');
  return ".tensor " + where.substr(0, space) + " i8 1x32" + where.substr(space) + " init=values(" + values +
         ")\n";
}

tsp::Instruction instruction(tsp::isa::Opcode opcode, std::vector<int64_t> operands) {
  tsp::Instruction i;
  i.opcode = opcode;
  std::copy(operands.begin(), operands.end(), i.operands.begin());
  return i;
}

// Text `words` at MEM_E0 word 100, fetched by MEM_W3 (Ifetch MEM_E0, 100, 1, then NOP 3, on
// line 7): the number of ifetch-invalid errors and the first error.
std::pair<size_t, std::string> fetched_text_errors(const std::vector<tsp::Instruction>& words) {
  Simulation sim(kTensors + raw_text(words) + R"(
.queue MEM_W3
  Ifetch MEM_E0, 100, 1
  NOP 3
)",
                 "tiny.json");
  return {sim.log().count(ErrorKind::ifetch_invalid), sim.first_error()};
}
} // namespace

TEST_CASE("fetched text whose operand is out of range for the chip is ifetch-invalid and not run") {
  using tsp::isa::Opcode;
  // Read 0, E40: the field holds stream ids up to 63, tiny has 16 per direction.
  const auto [count, first] =
      fetched_text_errors({instruction(Opcode::read, {0, tsp::stream_field(40, false)})});
  CHECK(count == 1);
  CHECK(first == "cycle 0: ifetch-invalid: MEM_W3 instruction 0 (Ifetch) line 7: word 100 instruction 0: "
                 "dst stream E40 out of range (E0..E15)");
}

TEST_CASE("a fetched Repeat that would take its Read past the slice is ifetch-invalid and not run") {
  using tsp::isa::Opcode;
  // Read 250, E0 then Repeat 10, 1, 1: the last Read would be at word 260 of tiny's 256.
  const auto [count, first] =
      fetched_text_errors({instruction(Opcode::read, {250, tsp::stream_field(0, false)}),
                           instruction(Opcode::repeat, {10, 1, 1})});
  CHECK(count == 1);
  CHECK(first == "cycle 0: ifetch-invalid: MEM_W3 instruction 0 (Ifetch) line 7: word 100 instruction 1: "
                 "repeating Read 10 times with stride 1 reaches address 260 (slice has 256 words)");
}

TEST_CASE("a fetched Repeat at the start of its text repeats the queue's last instruction, which must not be "
          "an ICU one") {
  using tsp::isa::Opcode;
  // The text before it ends with NOP 3: a Repeat of a NOP, which no assembler would accept.
  const auto [count, first] = fetched_text_errors({instruction(Opcode::repeat, {3, 1, 1})});
  CHECK(count == 1);
  CHECK(first == "cycle 0: ifetch-invalid: MEM_W3 instruction 0 (Ifetch) line 7: word 100 instruction 0: "
                 "Repeat must follow a non-ICU instruction, not NOP");
}

TEST_CASE("text written over a checked image at run time is checked when it is fetched") {
  using tsp::isa::Opcode;
  // MEM_E0 word 100 holds NOP 1 (checked while loading); MEM_W3 word 10 holds Read 0, E40, which
  // a Read at 0 and a Write at 7 copy over it before the Ifetch at 16 fetches it.
  Simulation sim(kTensors + raw_text({instruction(Opcode::nop, {1})}) +
                     raw_text({instruction(Opcode::read, {0, tsp::stream_field(40, false)})},
                              "BAD slices=MEM_W3 base=10") +
                     R"(
.queue MEM_W3
  Read 10, E0
  NOP 15
  Ifetch MEM_E0, 100, 1
  NOP 5
.queue MEM_E0
  NOP 7
  Write 100, E0
)",
                 "tiny.json");
  CHECK(sim.log().count(ErrorKind::ifetch_invalid) == 1);
  CHECK(sim.first_error() ==
        "cycle 16: ifetch-invalid: MEM_W3 instruction 2 (Ifetch) line 10: word 100 instruction 0: "
        "dst stream E40 out of range (E0..E15)");
}
