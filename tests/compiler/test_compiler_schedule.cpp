// The Schedule library on its own: resources, rollback, text encoding and the cycle prediction;
// and the MXM plane state whose runs of ABCs and ACCs a GEMM reserves at once.
// configs/tiny.json positions: MXM_W0 0, SXM_W 1, MEM_W3 2 .. MEM_W0 5, VXM 6, MEM_E0 7 .. MEM_E3 10,
// SXM_E 11, MXM_E0 12. Read func 2, Write skew 0; one port per bank, 128 words per bank.
#include "compiler_harness.h"
#include "tspsim/compiler/builder.h"
#include "tspsim/compiler/mxm_state.h"
#include "tspsim/compiler/placement.h"
#include "tspsim/compiler/schedule.h"
#include "tspsim/compiler/vector.h"

#include <catch2/catch.hpp>
#include <random>

using tsp::compiler::Dir;
using tsp::compiler::ProgramBuilder;
using tsp::compiler::Schedule;
using tsp::compiler::Stream;

namespace {

Schedule tiny_schedule() { return Schedule(tsp::test::bundled_config("tiny.json")); }

unsigned mem(const Schedule& s, const char* name) {
  const auto slice = *s.floorplan().find_slice(name);
  const auto& info = s.floorplan().slices()[slice];
  return s.floorplan().mem_global(info.east, info.index);
}

// "Mnemonic field field ..." of an encoded instruction.
std::string instruction_text(uint64_t word) {
  const auto instruction = tsp::decode(word);
  std::string line(instruction.spec().mnemonic);
  for (size_t i = 0; i < instruction.spec().field_count; ++i)
    line += " " + std::to_string(instruction.operands[i]);
  return line;
}

std::vector<std::string> disassemble(const std::vector<tsp::compiler::TextWord>& text) {
  std::vector<std::string> out;
  for (const auto& w : text) out.push_back(instruction_text(w.word) + " @" + std::to_string(w.pop));
  return out;
}

// A copy's source A (`rows` x 32 int8, every byte `fill`) in MEM_W3 and its empty target B in
// MEM_E3, on tiny.json.
std::pair<tsp::Symbol, tsp::Symbol> copy_tensors(ProgramBuilder& builder, uint32_t rows, uint8_t fill) {
  const auto& s = builder.schedule();
  const auto a = builder.add_tensor("A", tsp::isa::DType::i8, rows, 32, {mem(s, "MEM_W3")}, rows,
                                    std::vector<uint8_t>(rows * 32, fill));
  const auto b = builder.add_tensor("B", tsp::isa::DType::i8, rows, 32, {mem(s, "MEM_E3")}, rows, {});
  return {a, b};
}

} // namespace

TEST_CASE("a value holds the positions from its writer to its farthest reader on its diagonal") {
  auto s = tiny_schedule();
  const Stream e0{0, Dir::east};
  // Written at MEM_W3 (2) in cycle 4, read at MEM_E3 (10) in cycle 12: diagonal 4 - 2 = 2.
  REQUIRE(s.claim_write(e0, 2, 4));
  REQUIRE(s.extend_read(e0, 2, 4, 10));
  CHECK_FALSE(s.stream_free(e0, 5, 7, 5));       // on the way, same diagonal
  CHECK_FALSE(s.claim_write(e0, 10, 12));        // a second writer where it is read
  CHECK(s.stream_free(e0, 11, 13, 12));          // past its last reader
  CHECK(s.stream_free(e0, 5, 8, 6));             // next diagonal
  CHECK(s.stream_free({1, Dir::east}, 5, 7, 6)); // another stream
  CHECK(s.stream_free({0, Dir::west}, 5, 7, 4)); // the other direction
  CHECK_FALSE(s.extend_read(e0, 2, 4, 1));       // a reader upstream of an eastward writer
  // A second reader of the same value on its diagonal.
  CHECK(s.extend_read(e0, 2, 4, 11));
  CHECK_FALSE(s.stream_free(e0, 11, 13, 12));
}

TEST_CASE("a bank takes one access per port per cycle and rollback frees everything") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const size_t start = s.mark();
  REQUIRE(s.read_to(w3, 5, {2, Dir::east}, 10, 12)); // Read dispatched at 12 - 8 - 2 = 2
  CHECK(s.read_dispatch(w3, 10, 12) == 2);
  CHECK_FALSE(s.bank_free(w3, 100, 2)); // same bank (0..127), same cycle
  CHECK(s.bank_free(w3, 200, 2));       // other bank
  CHECK_FALSE(s.slot_free(s.mem_queue(w3), 2));
  CHECK_FALSE(s.read_to(w3, 6, {3, Dir::east}, 10, 12));               // the queue slot is taken
  CHECK_FALSE(s.read_to(mem(s, "MEM_W2"), 6, {2, Dir::east}, 10, 12)); // on the span of the first value
  s.rollback(start);
  CHECK(s.placed() == 0);
  CHECK(s.bank_free(w3, 100, 2));
  CHECK(s.stream_free({2, Dir::east}, 2, 4, 10));
  CHECK(s.read_to(mem(s, "MEM_W2"), 6, {2, Dir::east}, 10, 12));
}

TEST_CASE("commit keeps what is placed: a later rollback undoes only what came after it") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  REQUIRE(s.read_to(w3, 5, {2, Dir::east}, 10, 12)); // dispatched at 2
  s.commit();
  const size_t after = s.mark();
  CHECK(after == 0);
  REQUIRE(s.read_to(w3, 6, {3, Dir::east}, 10, 13)); // dispatched at 3
  s.rollback(after);
  CHECK(s.placed() == 1);
  CHECK_FALSE(s.bank_free(w3, 100, 2));
  CHECK(s.bank_free(w3, 100, 3));
  CHECK_FALSE(s.stream_free({2, Dir::east}, 2, 4, 10));
  CHECK(s.stream_free({3, Dir::east}, 2, 5, 10));
}

TEST_CASE("a queue's text fills gaps with NOPs and folds strided runs into Repeats") {
  auto s = tiny_schedule();
  const unsigned w0 = mem(s, "MEM_W0");
  const unsigned q = s.mem_queue(w0);
  for (uint32_t i = 0; i < 4; ++i)
    REQUIRE(s.place(q, 3 + i, tsp::compiler::make_read(10 + i, {1, Dir::east})));
  REQUIRE(s.place(q, 20, tsp::compiler::make_read(40, {1, Dir::east})));
  REQUIRE(s.place(q, 23, tsp::compiler::make_read(40, {1, Dir::east})));
  REQUIRE(s.place(q, 24, tsp::compiler::make_write(7, {0, Dir::west})));
  // Read field order: addr, dst (E1 = 1).
  CHECK(disassemble(s.text(q)) == std::vector<std::string>{"NOP 3 @0", "Read 10 1 @3", "Repeat 3 1 1 @4",
                                                           "NOP 13 @7", "Read 40 1 @20", "Repeat 1 3 0 @21",
                                                           "Write 7 64 @24"});
}

TEST_CASE("the predicted cycle count of a placed copy equals the simulated one") {
  ProgramBuilder builder(tsp::test::bundled_config("tiny.json"));
  auto& s = builder.schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const unsigned e3 = mem(s, "MEM_E3");
  const auto [a, b] = copy_tensors(builder, 2, 0x5a);
  // Row r read at 4 + 3r, on E5 at MEM_W3 two cycles later, written at MEM_E3 eight hops on.
  for (uint32_t r = 0; r < 2; ++r) {
    const tsp::compiler::Cycle t = 4 + 3 * r + 2;
    REQUIRE(s.place(s.mem_queue(w3), t - 2, tsp::compiler::make_read(a.base + r, {5, Dir::east})));
    REQUIRE(s.claim_write({5, Dir::east}, s.mem_position(w3), t));
    REQUIRE(s.write_from(e3, b.base + r, {5, Dir::east}, s.mem_position(w3), t));
  }
  // Last Write at 7 + 2 + 8 = 17: 17 + 1 + 1 superlane stagger.
  CHECK(s.predicted_cycles() == 19);
  auto config = tsp::test::bundled_config("tiny.json");
  tsp::compiler::CompiledKernel kernel;
  kernel.program = builder.finish("copy");
  kernel.predicted_cycles = kernel.program.metadata.predicted_cycles;
  kernel.outputs.push_back(
      tsp::compiler::make_expected("B", tsp::isa::DType::i8, std::vector<double>(64, 0x5a), {}));
  tsp::test::KernelRun run(config, std::move(kernel));
  CHECK(run.errors() == 0);
  CHECK(run.result.cycles == 19);
  CHECK(run.mismatch() == "");
}

TEST_CASE("instructions placed out of cycle order come out in dispatch order and roll back by cycle") {
  auto s = tiny_schedule();
  const unsigned q = s.mem_queue(mem(s, "MEM_W0"));
  REQUIRE(s.place(q, 9, tsp::compiler::make_read(12, {1, Dir::east})));
  const size_t early = s.mark();
  REQUIRE(s.place(q, 5, tsp::compiler::make_read(11, {1, Dir::east})));
  REQUIRE(s.place(q, 7, tsp::compiler::make_write(3, {0, Dir::west})));
  CHECK(disassemble(s.text(q)) == std::vector<std::string>{"NOP 5 @0", "Read 11 1 @5", "NOP 1 @6",
                                                           "Write 3 64 @7", "NOP 1 @8", "Read 12 1 @9"});
  // The text sorted the queue; the rollback still removes exactly the two later placements.
  s.rollback(early);
  CHECK(s.placed() == 1);
  CHECK(s.slot_free(q, 5));
  CHECK(s.slot_free(q, 7));
  CHECK_FALSE(s.slot_free(q, 9));
  CHECK(disassemble(s.text(q)) == std::vector<std::string>{"NOP 9 @0", "Read 12 1 @9"});
}

TEST_CASE("values at disjoint positions of one diagonal are separate reservations") {
  auto s = tiny_schedule();
  const Stream e0{0, Dir::east};
  // Diagonal 2 (t - x): one value from MEM_W3 (2) to 4, another from VXM (6) to 8.
  REQUIRE(s.claim_write(e0, 2, 4));
  REQUIRE(s.extend_read(e0, 2, 4, 4));
  const size_t second = s.mark();
  REQUIRE(s.claim_write(e0, 6, 8));
  REQUIRE(s.extend_read(e0, 6, 8, 8));
  CHECK_FALSE(s.extend_read(e0, 2, 4, 6)); // the first would run into the second
  CHECK_FALSE(s.stream_free(e0, 7, 9, 7));
  CHECK(s.stream_free(e0, 5, 7, 5)); // between the two
  s.rollback(second);
  CHECK(s.stream_free(e0, 7, 9, 7));
  CHECK_FALSE(s.stream_free(e0, 3, 5, 3));
  CHECK(s.extend_read(e0, 2, 4, 9)); // now the first reaches past where the second was
}

TEST_CASE("a search's tests find the first cycle whose Reads and queue can be free, reserving nothing") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const unsigned q = s.mem_queue(w3);
  // Values at reader 10 (MEM_E3) in cycle t are read from MEM_W3 (2) at dispatch t - 8 - 2.
  CHECK(s.next_read_slots(w3, 10, 12, 3) == 12);
  CHECK(s.next_read_slots(w3, 10, 5, 1) == 10); // no dispatch before cycle 0
  REQUIRE(s.place(q, 4, tsp::compiler::make_read(0, {1, Dir::east})));
  CHECK(s.next_read_slots(w3, 10, 12, 2) == 12); // dispatches 2, 3
  CHECK(s.next_read_slots(w3, 10, 12, 3) == 15); // 2..4 holds the taken 4: from 5 on
  CHECK_FALSE(s.read_possible(w3, 7, 10, 14));   // its slot
  REQUIRE(s.reserve_bank(w3, 100, 6));
  CHECK_FALSE(s.read_possible(w3, 5, 10, 16)); // bank 0 at dispatch 6
  CHECK(s.read_possible(w3, 200, 10, 16));     // bank 1
  const size_t before = s.mark();
  CHECK(s.read_to(w3, 200, {2, Dir::east}, 10, 16)); // what read_possible promised
  s.rollback(before);
  s.hold_until(20);
  CHECK(s.next_read_slots(w3, 10, 12, 1) == 30);

  const unsigned vxm = s.floorplan().vxm_slice();
  const auto& info = s.floorplan().slices()[vxm];
  for (unsigned local = 0; local < info.queue_count; ++local)
    REQUIRE(s.place(info.first_queue + local, 25, tsp::compiler::make_iw()));
  CHECK(s.slice_free(vxm, 24));
  CHECK_FALSE(s.slice_free(vxm, 25));
  CHECK(s.next_free_on_slice(vxm, 25) == 26);
  CHECK(s.next_free_on_slice(vxm, 3) == 20); // the floor
}

TEST_CASE("a run of free Read slots is found across the queue's words of taken bits, ending right before a "
          "taken one") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const unsigned q = s.mem_queue(w3);
  // Reader 10 in cycle t: dispatch t - 10. Taken: dispatches 70 and 140 (words 1 and 2 of 64).
  REQUIRE(s.place(q, 70, tsp::compiler::make_read(0, {1, Dir::east})));
  REQUIRE(s.place(q, 140, tsp::compiler::make_read(1, {1, Dir::east})));
  CHECK(s.next_read_slots(w3, 10, 74, 6) == 74);     // 64..69, up to the taken 70
  CHECK(s.next_read_slots(w3, 10, 74, 7) == 81);     // 64..70 holds 70: from 71 on
  CHECK(s.next_read_slots(w3, 10, 81, 69) == 81);    // 71..139, across a word's end
  CHECK(s.next_read_slots(w3, 10, 81, 70) == 151);   // 71..140 holds 140: from 141 on
  CHECK(s.next_read_slots(w3, 10, 151, 500) == 151); // free past the last taken bit
}

TEST_CASE("next_readable jumps to the first cycle whose Read finds its slot, bank port and order free") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const unsigned q = s.mem_queue(w3);
  // Values at reader 10 (MEM_E3) in cycle t are read from MEM_W3 (2) at dispatch t - 10.
  REQUIRE(s.place(q, 4, tsp::compiler::make_read(0, {1, Dir::east})));
  REQUIRE(s.place(q, 5, tsp::compiler::make_read(0, {1, Dir::east})));
  REQUIRE(s.reserve_bank(w3, 0, 6));
  REQUIRE(s.reserve_bank(w3, 1, 7));
  CHECK(s.next_readable(w3, 3, 10, 14) == 18);   // slots 4, 5, then bank 0 in 6, 7
  CHECK(s.next_readable(w3, 200, 10, 14) == 16); // bank 1: the slots only
  CHECK(s.next_readable(w3, 3, 10, 2) == 10);    // no dispatch before cycle 0
  // Word 3 written from the VXM (6) at 25: its Write dispatches at 29, so a Read dispatches at 30.
  CHECK(s.write_possible(w3, 3, 6, 25));
  REQUIRE(s.claim_write({3, Dir::west}, 6, 25));
  REQUIRE(s.write_from(w3, 3, {3, Dir::west}, 6, 25));
  CHECK_FALSE(s.write_possible(w3, 9, 6, 25)); // its slot
  CHECK(s.write_possible(w3, 9, 6, 26));
  CHECK(s.next_readable(w3, 3, 10, 14) == 40);
  // The same as the first cycle read_possible accepts, from every start.
  for (const uint32_t address : {3u, 200u})
    for (tsp::compiler::Cycle t = 0; t < 50; ++t) {
      tsp::compiler::Cycle first = t;
      while (!s.read_possible(w3, address, 10, first)) ++first;
      REQUIRE(s.next_readable(w3, address, 10, t) == first);
    }
  REQUIRE(s.read_to(w3, 200, {2, Dir::east}, 10, 16));
  CHECK_FALSE(s.stream_free(s.read_reach(w3, Dir::east, 10, 16), 2));
  CHECK(s.stream_free(s.read_reach(w3, Dir::east, 10, 17), 2)); // a cycle later: another diagonal
  CHECK(s.stream_free(s.read_reach(w3, Dir::east, 10, 16), 3));
  CHECK_FALSE(s.stream_free(s.read_reach(w3, Dir::east, 10, 16), 64)); // no such stream
  CHECK_FALSE(s.stream_free(s.reach(Dir::east, 10, -1, 10), 3));       // before cycle 0
}

TEST_CASE(
    "a word whose reads are tracked on its own keeps its last Read through a rollback, and a Write waits "
    "for it") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  REQUIRE(s.read_to(w3, 7, {2, Dir::east}, 10, 12)); // dispatched at 2
  CHECK(s.last_read(w3, 7) == -1);                   // not tracked
  s.track_reads_of(w3, 5);
  CHECK(s.last_read(w3, 5) == -1);
  const size_t before = s.mark();
  REQUIRE(s.read_to(w3, 5, {3, Dir::east}, 10, 20)); // dispatched at 10
  CHECK(s.last_read(w3, 5) == 10);
  s.rollback(before);
  CHECK(s.last_read(w3, 5) == -1);
  REQUIRE(s.read_to(w3, 5, {3, Dir::east}, 10, 21)); // still tracked: dispatched at 11
  CHECK(s.last_read(w3, 5) == 11);
  // A value from the VXM (6) reaches MEM_W3 (2) 4 cycles later and is written on arrival.
  CHECK(s.writable_at(w3, 5, 6) == 8);
  CHECK_FALSE(s.write_possible(w3, 5, 6, 5)); // written at 9, before the Read at 11
  REQUIRE(s.claim_write({4, Dir::west}, 6, 5));
  CHECK_FALSE(s.write_from(w3, 5, {4, Dir::west}, 6, 5));
  REQUIRE(s.claim_write({5, Dir::west}, 6, 5));
  CHECK(s.write_from(w3, 9, {5, Dir::west}, 6, 5)); // an untracked word takes it
  CHECK(s.write_possible(w3, 5, 6, 8));
  REQUIRE(s.claim_write({4, Dir::west}, 6, 8));
  CHECK(s.write_from(w3, 5, {4, Dir::west}, 6, 8));
  CHECK(s.written(w3, 5) == 12);
}

TEST_CASE("a run of Reads holds one bank port in each of its cycles, in every bank its words fall in") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const size_t start = s.mark();
  // Words 125..129 at reader 10 (MEM_E3) in cycles 12..16: dispatches and SRAM cycles 2..6, words
  // 125..127 in bank 0 (cycles 2..4), 128 and 129 in bank 1 (cycles 5, 6).
  REQUIRE(s.read_run(w3, 125, 5, {2, Dir::east}, 10, 12));
  CHECK(s.placed() == 5);
  const unsigned q = s.mem_queue(w3);
  CHECK(s.next_free_slot(q, 0) == 0);
  CHECK(s.next_free_slot(q, 2) == 7);
  CHECK(disassemble(s.text(q)) == std::vector<std::string>{"NOP 2 @0", "Read 125 2 @2", "Repeat 4 1 1 @3"});
  CHECK_FALSE(s.read_run(w3, 0, 3, {3, Dir::east}, 10, 10)); // slots 0..2: 2 is taken
  for (tsp::compiler::Cycle t = 0; t < 9; ++t) {
    CHECK(s.bank_free(w3, 0, t) == (t < 2 || t > 4));
    CHECK(s.bank_free(w3, 200, t) == (t < 5 || t > 6));
  }
  CHECK_FALSE(s.reserve_bank(w3, 10, 3));
  CHECK_FALSE(s.read_run(w3, 0, 1, {3, Dir::east}, 10, 14)); // slot 4
  CHECK_FALSE(s.stream_free(s.read_reach(w3, Dir::east, 10, 14), 2));
  // The next run of 3 words of bank 0 whose slots are free too: dispatches 7..9.
  CHECK(s.next_run_readable(w3, 0, 3, 10, 12) == 17);
  CHECK(s.next_run_readable(w3, 0, 3, 10, 17) == 17);
  s.rollback(start);
  CHECK(s.placed() == 0);
  CHECK(s.next_free_slot(q, 2) == 2);
  for (tsp::compiler::Cycle t = 0; t < 9; ++t) CHECK(s.bank_free(w3, 200, t));
  CHECK(s.stream_free(s.read_reach(w3, Dir::east, 10, 14), 2));
}

TEST_CASE("a value written later has the reach of the first moved along by as many diagonals") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  for (const Dir dir : {Dir::east, Dir::west}) {
    const auto first = s.read_reach(w3, dir, dir == Dir::east ? 10 : 0, 12);
    for (tsp::compiler::Cycle c = 0; c < 70; ++c) {
      const auto read = s.read_reach(w3, dir, dir == Dir::east ? 10 : 0, 12 + c);
      const auto later = Schedule::later(first, c);
      REQUIRE(later.key == read.key);
      REQUIRE(later.lo == read.lo);
      REQUIRE(later.hi == read.hi);
    }
  }
}

TEST_CASE("a run longer than a bucket of cycles is found from each of its cycles and rolled back whole") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  // Words 0..99 read in SRAM cycles 60..159 (dispatch = reader cycle - 10): buckets 0, 1 and 2.
  REQUIRE(s.read_run(w3, 0, 100, {2, Dir::east}, 10, 70));
  REQUIRE(s.reserve_bank(w3, 0, 59));
  REQUIRE(s.reserve_bank(w3, 0, 160));
  for (const tsp::compiler::Cycle t : {60, 63, 64, 127, 128, 159}) CHECK_FALSE(s.bank_free(w3, 5, t));
  CHECK(s.bank_free(w3, 5, 161));
  CHECK(s.bank_free(w3, 200, 100));
  // Bank 0 is held from 59 to 160 and the queue's slots from 60 to 159: a Read of word 3 wanted
  // at dispatch 59 gets 161.
  CHECK(s.next_run_readable(w3, 3, 1, 10, 69) == 171);
  CHECK(s.next_run_readable(w3, 3, 1, 10, 50) == 50);
  s.rollback(0);
  for (tsp::compiler::Cycle t = 0; t < 200; ++t) REQUIRE(s.bank_free(w3, 5, t));
}

TEST_CASE("with two ports per bank, a run and single accesses share each cycle's ports") {
  Schedule s(tsp::test::bundled_config("tiny.json", {"geometry.mem_ports_per_bank=2"}));
  const unsigned w3 = mem(s, "MEM_W3");
  REQUIRE(s.read_run(w3, 0, 4, {2, Dir::east}, 10, 12)); // SRAM cycles 2..5
  CHECK(s.bank_free(w3, 9, 3));
  REQUIRE(s.reserve_bank(w3, 9, 3)); // the second port in cycle 3
  CHECK_FALSE(s.bank_free(w3, 9, 3));
  CHECK_FALSE(s.reserve_bank(w3, 9, 3));
  CHECK(s.bank_free(w3, 9, 4));
  // Single accesses hold its ports now: a later run's Reads share them as a run too.
  REQUIRE(s.read_run(w3, 10, 2, {3, Dir::east}, 10, 17)); // SRAM cycles 7, 8
  REQUIRE(s.reserve_bank(w3, 9, 7));
  CHECK_FALSE(s.bank_free(w3, 9, 7));
  CHECK(s.bank_free(w3, 9, 8));
}

TEST_CASE("each MEM's slice, position and queue are its floorplan slice's") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const unsigned e3 = mem(s, "MEM_E3");
  CHECK(s.mem_slice(w3) == *s.floorplan().find_slice("MEM_W3"));
  CHECK(s.mem_position(w3) == 2);
  CHECK(s.mem_position(e3) == 10);
  CHECK(s.mem_queue(e3) == s.floorplan().slices()[*s.floorplan().find_slice("MEM_E3")].first_queue);
  CHECK_THROWS(s.mem_position(s.floorplan().mem_count()));
}

TEST_CASE("a Read or Write placed by read_to or write_from ends where a decoded one would") {
  const auto config = tsp::test::bundled_config("tiny.json");
  auto s = tiny_schedule();
  auto by_place = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  REQUIRE(s.read_to(w3, 5, {2, Dir::east}, 10, 12)); // dispatched at 2
  const auto read = tsp::compiler::make_read(5, {2, Dir::east});
  REQUIRE(by_place.place(by_place.mem_queue(w3), 2, read));
  CHECK(s.last_active() == tsp::compiler::activity_end(read, 2, config));
  CHECK(s.last_active() == by_place.last_active());
  // A value from the VXM (6) reaches MEM_W3 (2) 4 cycles later and is written on arrival, at 9.
  REQUIRE(s.claim_write({4, Dir::west}, 6, 5));
  REQUIRE(s.write_from(w3, 9, {4, Dir::west}, 6, 5));
  const auto write = tsp::compiler::make_write(9, {4, Dir::west});
  REQUIRE(by_place.place(by_place.mem_queue(w3), 9, write));
  CHECK(s.last_active() == tsp::compiler::activity_end(write, 9, config));
  CHECK(s.last_active() == by_place.last_active());
  CHECK(s.last_active() == 9);
}

TEST_CASE("claim_value takes a value's whole span at once, or nothing") {
  auto s = tiny_schedule();
  const size_t start = s.mark();
  REQUIRE(s.claim_value({2, Dir::east}, 2, 4, 6)); // positions 2..6 of the diagonal 4 - 2 * hop
  CHECK_FALSE(s.stream_free({2, Dir::east}, 2, 4, 2));
  CHECK_FALSE(s.stream_free({2, Dir::east}, 6, 4 + 4, 6)); // position 6, four hops later
  CHECK(s.stream_free({2, Dir::east}, 7, 4 + 5, 8));       // past the reader
  CHECK_FALSE(s.claim_write({2, Dir::east}, 4, 6));        // inside the span
  CHECK_FALSE(s.claim_value({2, Dir::east}, 0, 2, 2));     // reaches position 2 on the same diagonal
  CHECK_FALSE(s.claim_value({3, Dir::east}, 6, 4, 2));     // a reader upstream of an eastward writer
  CHECK_FALSE(s.claim_value({3, Dir::east}, 2, -1, 6));    // before cycle 0
  CHECK(s.stream_free({3, Dir::east}, 2, 4, 6));           // the failures reserved nothing
  CHECK(s.claim_value({2, Dir::east}, 7, 4 + 5, 8));       // the next positions of the diagonal
  s.rollback(start);
  CHECK(s.stream_free({2, Dir::east}, 2, 4, 10));
}

namespace {

// MEM_W0's queue on tiny with a 16-entry buffer: six blocks of 8 Reads at consecutive cycles
// (alternating streams, so no Repeat folds them), each followed by 5 idle cycles. 53 words of
// text: the rest of the first 16 must be fetched, first in the idle cycles from 8 on.
ProgramBuilder fetching_builder() {
  auto config = tsp::test::bundled_config("tiny.json");
  config.icu.instruction_buffer_entries = 16;
  ProgramBuilder builder(config);
  auto& s = builder.schedule();
  const unsigned w0 = mem(s, "MEM_W0");
  for (uint32_t block = 0; block < 6; ++block)
    for (uint32_t i = 0; i < 8; ++i)
      REQUIRE(s.place(s.mem_queue(w0), 13 * block + i, tsp::compiler::make_read(i, {1 + i % 2, Dir::east})));
  return builder;
}

// Takes the port of the top bank (where fetched text goes) of every MEM slice in cycles [from, to).
void block_text_banks(ProgramBuilder& builder, tsp::compiler::Cycle from, tsp::compiler::Cycle to) {
  auto& s = builder.schedule();
  const unsigned top = s.config().geometry.mem_words_per_slice - 1;
  for (unsigned m = 0; m < s.config().geometry.mem_slices(); ++m)
    for (auto t = from; t < to; ++t) REQUIRE(s.reserve_bank(m, top, t));
}

std::vector<std::string> queue_words(const tsp::Program& program, size_t first, size_t count) {
  std::vector<std::string> out;
  for (size_t k = first; k < first + count; ++k)
    out.push_back(instruction_text(program.queues.front().words[k]));
  return out;
}

// The simulator runs `program` with no conformance error in the predicted cycles.
void check_simulated(const ProgramBuilder& builder, const tsp::Program& program) {
  tsp::compiler::CompiledKernel kernel;
  kernel.program = program;
  tsp::test::KernelRun run(builder.config(), std::move(kernel));
  CHECK(run.errors() == 0);
  CHECK(run.result.cycles == program.metadata.predicted_cycles);
}

} // namespace

TEST_CASE("fetched text goes to the top of a slice, its Ifetch in the queue's first idle cycle with room") {
  auto builder = fetching_builder();
  const auto program = builder.finish("fetch");
  // At cycle 8: the 8 instructions after the 8 still buffered, two words from MEM_W0 (field 0)
  // below the later chunks at its top; then the gap's other 4 cycles.
  CHECK(queue_words(program, 8, 2) == std::vector<std::string>{"Ifetch 0 244 2", "NOP 4"});
  check_simulated(builder, program);
}

TEST_CASE("an Ifetch whose text finds no bank port in any slice moves to a later idle cycle") {
  auto builder = fetching_builder();
  // Reads at 8-9 (from cycle 8) and 9-11 (from 9) meet a taken port; from 10 on they are free.
  block_text_banks(builder, 8, 10);
  const auto program = builder.finish("fetch");
  CHECK(queue_words(program, 8, 3) == std::vector<std::string>{"NOP 2", "Ifetch 0 243 3", "NOP 2"});
  check_simulated(builder, program);
}

TEST_CASE("fetched text with no bank port in any idle cycle is a one-line error") {
  auto builder = fetching_builder();
  block_text_banks(builder, 0, 100);
  // After the first gap's 5 cycles the next chunk would come too late for the text it carries.
  CHECK_THROWS_WITH(builder.finish("fetch"),
                    "queue MEM_W0: no MEM slice with 1 free words has a free bank port in the 1 cycles its "
                    "fetched text is read (Ifetch tried in 5 idle cycles)");
}

// (rows + groups - 1) / groups wrapped in 32 bits: 4294967295 rows over two slices took 0 words.
TEST_CASE("a tensor of 2^32 - 1 rows over slice groups needs its words, not none") {
  ProgramBuilder builder(tsp::test::bundled_config("tiny.json"));
  const auto& s = builder.schedule();
  const std::vector<unsigned> two{mem(s, "MEM_W0"), mem(s, "MEM_W1")};
  const auto i8 = tsp::isa::DType::i8;
  CHECK_THROWS_WITH(builder.add_tensor("T", i8, 4294967295u, 32, two, 4294967295u, {}),
                    "tensor 'T' needs 2147483648 words from address 0 in its MEM slices; a slice has 256 "
                    "words (the tensors do not fit in MEM)");
  CHECK_THROWS_WITH(
      tsp::compiler::place_tiled(builder, "P", i8, 4294967295u, 32, two, 2, {}),
      "tensor 'P' (4294967295 rows of i8) does not fit in the free MEM of its 2 candidate slices");
}

TEST_CASE("a scratch tensor spread over slices takes released words when none are left above them") {
  ProgramBuilder builder(tsp::test::bundled_config("tiny.json"));
  builder.reuse_scratch();
  const auto& s = builder.schedule();
  const unsigned w0 = mem(s, "MEM_W0");
  const unsigned w1 = mem(s, "MEM_W1");
  const auto i8 = tsp::isa::DType::i8;
  builder.add_tensor("", i8, 200, 32, {w0}, 200, {});
  const auto kept = builder.add_tensor("", i8, 200, 32, {w1}, 200, {});
  builder.release_scratch({&kept});
  // 120 rows: 56 words are left above the 200 used in each of the 256-word slices, so neither one
  // slice (120 words) nor both (60 each) fit there; W0's released words do.
  const auto spread = builder.add_tensor_spread("C", i8, 120, 32, {w0, w1}, {});
  CHECK(spread.slices == std::vector<unsigned>{w0});
  CHECK(spread.base == 0);
  // A tensor with an image never goes to released words: its image is loaded at reset.
  CHECK_THROWS_WITH(builder.add_tensor_spread("D", i8, 120, 32, {w0, w1}, std::vector<uint8_t>(120 * 32, 1)),
                    "tensor 'D' (120 rows of i8) does not fit in the free MEM of its 2 candidate slices");
}

TEST_CASE("a vector waits past a slice busy for longer than one search, not giving up") {
  ProgramBuilder builder(tsp::test::bundled_config("tiny.json"));
  auto& s = builder.schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const auto [a, b] = copy_tensors(builder, 1, 7);
  // MEM_W3's queue dispatches a Read in each of its first 70,000 cycles, more than the 65,536 a
  // vector's search tries from its first cycle (a prompt's hand-off holds a slice that long).
  constexpr tsp::compiler::Cycle kBusy = 70000;
  for (tsp::compiler::Cycle t = 0; t < kBusy; ++t)
    REQUIRE(s.place(s.mem_queue(w3), t, tsp::compiler::make_read(a.base, {5, Dir::east})));
  tsp::compiler::VExpr copy;
  copy.root = copy.unary(tsp::isa::Opcode::v_mov, tsp::isa::DType::i8, copy.input(0, tsp::isa::DType::i8));
  const auto in = tsp::compiler::single_tile(a);
  const auto out = tsp::compiler::single_tile(b);
  // A's Read at 70,000, the first free dispatch of its queue: its value 2 cycles later, 4 hops to
  // the VXM, 1 cycle of mov, 4 hops to MEM_E3, written there (skew 0).
  CHECK(tsp::compiler::schedule_vectors(s, copy, {&in}, out) == kBusy + 2 + 4 + 1 + 4);
}

TEST_CASE("a vector search that remembers the Reads that found no room places what the exhaustive one does") {
  // A + mov(mov(A)): A is read for two leaves two cycles apart, by the VXM, and east streams
  // between MEM_W3 and the VXM and MEM_W3's queue are taken at random, so that many root cycles
  // fail at the first leaf and the second leaf asks for Reads the first one found no room for.
  using tsp::isa::DType;
  using tsp::isa::Opcode;
  tsp::compiler::VExpr e;
  const unsigned first = e.input(0, DType::i8);
  const unsigned second =
      e.unary(Opcode::v_mov, DType::i8, e.unary(Opcode::v_mov, DType::i8, e.input(0, DType::i8)));
  e.root = e.binary(Opcode::v_add, DType::i8, first, second);
  for (const uint64_t seed : {1, 2, 3, 4}) {
    std::vector<std::vector<tsp::compiler::TextWord>> texts[2];
    tsp::compiler::Cycle last[2];
    const tsp::compiler::ReadMisses misses[2] = {tsp::compiler::ReadMisses::remembered,
                                                 tsp::compiler::ReadMisses::retested};
    for (int k = 0; k < 2; ++k) {
      ProgramBuilder builder(tsp::test::bundled_config("tiny.json"));
      auto& s = builder.schedule();
      const unsigned w3 = mem(s, "MEM_W3");
      const auto [a, b] = copy_tensors(builder, 24, 3);
      std::mt19937_64 rng(seed);
      for (int i = 0; i < 5000; ++i) {
        const Stream stream{unsigned(rng() % 16), Dir::east};
        s.claim_value(stream, 2 + unsigned(rng() % 4), tsp::compiler::Cycle(4 + rng() % 150), 6);
        if (i % 64 == 0)
          s.place(s.mem_queue(w3), tsp::compiler::Cycle(rng() % 200),
                  tsp::compiler::make_read(a.base, stream));
      }
      const auto in = tsp::compiler::single_tile(a);
      const auto out = tsp::compiler::single_tile(b);
      last[k] = tsp::compiler::schedule_vectors(s, e, {&in}, out, 0, misses[k]);
      for (unsigned q = 0; q < s.floorplan().queues().size(); ++q) texts[k].push_back(s.text(q));
    }
    CHECK(last[0] == last[1]);
    REQUIRE(texts[0].size() == texts[1].size());
    for (size_t q = 0; q < texts[0].size(); ++q) {
      REQUIRE(texts[0][q].size() == texts[1][q].size());
      for (size_t i = 0; i < texts[0][q].size(); ++i) {
        CHECK(texts[0][q][i].word == texts[1][q][i].word);
        CHECK(texts[0][q][i].pop == texts[1][q][i].pop);
      }
    }
  }
}

TEST_CASE("a run of copies takes consecutive slots with its strided field advancing, or nothing") {
  auto s = tiny_schedule();
  auto by_place = tiny_schedule();
  const unsigned q = s.mem_queue(mem(s, "MEM_W0"));
  REQUIRE(s.place_run(q, 3, 4, tsp::compiler::make_read(10, {1, Dir::east})));
  for (uint32_t i = 0; i < 4; ++i)
    REQUIRE(by_place.place(q, 3 + i, tsp::compiler::make_read(10 + i, {1, Dir::east})));
  CHECK(disassemble(s.text(q)) == disassemble(by_place.text(q)));
  CHECK(disassemble(s.text(q)) == std::vector<std::string>{"NOP 3 @0", "Read 10 1 @3", "Repeat 3 1 1 @4"});
  CHECK(s.last_active() == by_place.last_active());
  CHECK(s.free_run(q, 0, 10) == 3);
  CHECK(s.free_run(q, 4, 10) == 0);
  CHECK(s.free_run(q, 7, 5) == 5);
  CHECK_FALSE(s.place_run(q, 1, 3, tsp::compiler::make_read(0, {1, Dir::east}))); // slot 3 is taken
  CHECK(s.placed() == 4);
  // An accumulator index advances the same way (tiny: MXM planes have two queues).
  const auto mxm = *s.floorplan().find_slice("MXM_W0");
  const unsigned mq = s.floorplan().slices()[mxm].first_queue + 1;
  REQUIRE(s.place_run(mq, 5, 3, tsp::compiler::make_acc({2, Dir::east}, 7)));
  for (unsigned i = 0; i < 3; ++i)
    REQUIRE(by_place.place(mq, 5 + i, tsp::compiler::make_acc({2, Dir::east}, 7 + i)));
  CHECK(disassemble(s.text(mq)) == disassemble(by_place.text(mq)));
  s.rollback(0);
  CHECK(s.placed() == 0);
  CHECK(s.free_run(q, 0, 10) == 10);
}

TEST_CASE("a run of Writes holds what claim_write and write_from of each value would") {
  auto s = tiny_schedule();
  auto each = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  // Values from the VXM (6) in cycles 5..9 reach MEM_W3 (2) at 9..13, words 126..130: banks 0 and 1.
  for (unsigned c = 0; c < 5; ++c) {
    REQUIRE(each.claim_write({4, Dir::west}, 6, 5 + c));
    REQUIRE(each.write_from(w3, 126 + c, {4, Dir::west}, 6, 5 + c));
  }
  REQUIRE(s.write_run(w3, 126, 5, {4, Dir::west}, 6, 5));
  const unsigned q = s.mem_queue(w3);
  CHECK(disassemble(s.text(q)) == disassemble(each.text(q)));
  CHECK(s.last_active() == each.last_active());
  for (unsigned c = 0; c < 5; ++c) CHECK(s.written(w3, 126 + c) == each.written(w3, 126 + c));
  for (tsp::compiler::Cycle t = 0; t < 16; ++t) {
    CHECK(s.bank_free(w3, 0, t) == each.bank_free(w3, 0, t));
    CHECK(s.bank_free(w3, 200, t) == each.bank_free(w3, 200, t));
    CHECK(s.stream_free({4, Dir::west}, 6, t, 2) == each.stream_free({4, Dir::west}, 6, t, 2));
  }
  // The latest word written (130, at 13) is the last to be readable; a slice never written is
  // readable at once.
  CHECK(s.all_readable_at(w3, 120, 20, 10) == s.readable_at(w3, 130, 10));
  CHECK(s.all_readable_at(w3, 120, 20, 10) > s.readable_at(w3, 126, 10));
  const unsigned e3 = mem(s, "MEM_E3");
  CHECK(s.all_readable_at(e3, 0, 50, 2) == s.readable_at(e3, 0, 2));
  CHECK(s.bank_free_run(w3, 120, 6, 10) == 3); // bank 0 is taken from cycle 9
  CHECK(s.bank_free_run(w3, 120, 20, 10) == 10);
  CHECK_FALSE(s.write_run(w3, 0, 2, {5, Dir::west}, 6, 8)); // its slots 12 and 13 are taken
  CHECK(s.placed() == 5);
  s.rollback(0);
  CHECK(s.placed() == 0);
  CHECK(s.written(w3, 126) == -1);
  CHECK(s.stream_free({4, Dir::west}, 6, 5, 2));
}

TEST_CASE("slice_run counts the cycles in which place_on_slice would take a given queue") {
  auto s = tiny_schedule();
  const auto slice = *s.floorplan().find_slice("MXM_W0");
  const unsigned q0 = s.floorplan().slices()[slice].first_queue;
  for (tsp::compiler::Cycle t = 5; t < 8; ++t) REQUIRE(s.place(q0 + 1, t, tsp::compiler::make_iw()));
  const std::vector<unsigned> preference{1, 0};
  CHECK(s.slice_run(slice, 3, 10, q0 + 1, preference) == 2);
  CHECK(s.slice_run(slice, 3, 10, q0, preference) == 0);
  CHECK(s.slice_run(slice, 5, 10, q0, preference) == 3);
  CHECK(s.slice_run(slice, 5, 10, q0 + 1, preference) == 0);
  for (tsp::compiler::Cycle t = 5; t < 8; ++t)
    CHECK(s.place_on_slice(slice, t, tsp::compiler::make_iw(), preference) == int(q0));
}

TEST_CASE("a plane's run of ABCs or ACCs ends where abc_earliest or acc_earliest moves past its cycle") {
  const auto config = tsp::test::bundled_config("tiny.json");
  tsp::compiler::MxmPlaneState mxm(config);
  mxm.lw(0, tsp::isa::DType::i8);
  mxm.iw(30);
  for (unsigned acc = 0; acc < 4; ++acc) mxm.abc(30 + acc, 40 + acc, tsp::isa::DType::i8, acc, false);
  CHECK(mxm.abc_run(34, tsp::isa::DType::i8, 4, false, 10) == 10);
  CHECK(mxm.abc_run(35, tsp::isa::DType::i8, 4, false, 10) == 0); // not right after the last ABC
  CHECK(mxm.abc_run(34, tsp::isa::DType::f16, 4, false, 10) == 0);
  // Accumulators 0..3 are ready at 40..43: ACCs from 40 one a cycle fit, from 39 none.
  CHECK(mxm.acc_run(40, 0, 4) == 4);
  CHECK(mxm.acc_run(39, 0, 4) == 0);
  CHECK(mxm.acc_run(40, 2, 4) == 0);
  CHECK(mxm.acc_run(42, 2, 4) == 2); // accumulators 4 and 5 hold nothing
  mxm.acc(40, 0);
  mxm.acc(41, 1);
  // A new sum into accumulator 0 waits for its ACC at 40; one added to it does not.
  CHECK(mxm.abc_run(34, tsp::isa::DType::i8, 0, false, 4) == 0);
  CHECK(mxm.abc_run(34, tsp::isa::DType::i8, 0, true, 4) == 4);
  CHECK(mxm.abc_run(34, tsp::isa::DType::i8, 2, false, 4) == 4);
}

TEST_CASE("a plane's run of ABCs or ACCs recorded at once leaves the state that one by one would") {
  const auto config = tsp::test::bundled_config("tiny.json");
  tsp::compiler::MxmPlaneState one(config);
  tsp::compiler::MxmPlaneState at_once(config);
  // A run follows an ABC placed on its own.
  for (auto* mxm : {&one, &at_once}) {
    mxm->lw(0, tsp::isa::DType::i8);
    mxm->iw(30);
    mxm->abc(30, 40, tsp::isa::DType::i8, 2, false);
  }
  for (unsigned k = 1; k < 5; ++k) one.abc(30 + k, 40 + k, tsp::isa::DType::i8, 2 + k, false);
  at_once.abcs(31, 41, tsp::isa::DType::i8, 3, false, 4);
  CHECK(at_once.last_abc_read() == one.last_abc_read());
  for (unsigned k = 0; k < 5; ++k) CHECK(at_once.acc_earliest(2 + k) == one.acc_earliest(2 + k));
  for (unsigned k = 0; k < 5; ++k) one.acc(41 + k, 2 + k);
  at_once.accs(41, 2, 5);
  for (unsigned k = 0; k < 5; ++k)
    CHECK(at_once.abc_earliest(tsp::isa::DType::i8, 2 + k, false) ==
          one.abc_earliest(tsp::isa::DType::i8, 2 + k, false));
  // Out of order or too early is a compiler bug, as it is one by one.
  CHECK_THROWS_AS(at_once.abcs(40, 50, tsp::isa::DType::i8, 10, false, 2), std::logic_error);
  CHECK_THROWS_AS(at_once.accs(39, 2, 2), std::logic_error);
}

TEST_CASE("a run's spans refuse exactly the positions and diagonals its values hold, and roll back whole") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const Stream e2{2, Dir::east};
  // A single value claimed before any run: on the diagonal of the run's value 90, at position 6.
  REQUIRE(s.claim_write(e2, 6, 70 + 90 - s.travel(6, 10)));
  // Values 0..99 read to MEM_E3 (10) in cycles 70..169: positions 2..10, diagonals 68..167 (two
  // buckets and part of a third). The earlier single value is on value 90's diagonal.
  const auto first = s.read_reach(w3, Dir::east, 10, 70);
  CHECK(s.stream_run_free(first, 2, 90));
  CHECK_FALSE(s.stream_run_free(first, 2, 91));
  CHECK_FALSE(s.read_run(w3, 0, 100, e2, 10, 70));
  CHECK(s.placed() == 0);
  REQUIRE(s.read_run(w3, 0, 90, e2, 10, 70));
  const size_t start = s.mark();
  // The same Reads' values one cycle later overlap all but the last diagonal: refused, nothing held.
  CHECK_FALSE(s.stream_run_free(Schedule::later(first, 1), 2, 90));
  CHECK(s.stream_run_free(Schedule::later(first, 91), 2, 5));
  for (tsp::compiler::Cycle c = -1; c <= 90; ++c) {
    const tsp::compiler::Cycle t = 70 + c;
    const bool held = c >= 0 && c < 90;
    CHECK(s.stream_free(s.read_reach(w3, Dir::east, 10, t), 2) == (!held && c != 90));
    CHECK(s.stream_free(s.read_reach(w3, Dir::east, 10, t), 3));
    // On each value's diagonal: position 11 is past the run's reader, position 1 before its MEM.
    INFO("value " << c);
    const size_t m = s.mark();
    CHECK(s.claim_value(e2, 10, t, 11) == !held);
    s.rollback(m);
    CHECK(s.claim_write(e2, 11, t + s.travel(10, 11)));
    CHECK(s.claim_write(e2, 1, t - s.travel(1, 10)));
    CHECK(s.extend_read(e2, 1, t - s.travel(1, 10), 2) == !held);
    s.rollback(m);
  }
  // A single value claimed inside the run's positions on a diagonal past it, then a run through it.
  REQUIRE(s.claim_value(e2, 4, 70 + 95 - s.travel(4, 10), 5));
  CHECK_FALSE(s.stream_run_free(Schedule::later(first, 90), 2, 10));
  CHECK(s.stream_run_free(Schedule::later(first, 91), 2, 4));
  s.rollback(start);
  CHECK(s.stream_run_free(Schedule::later(first, 91), 2, 10));
  s.rollback(0);
  CHECK(s.placed() == 0);
  CHECK(s.stream_run_free(first, 2, 100));
  for (tsp::compiler::Cycle c = 0; c < 100; ++c)
    REQUIRE(s.stream_free(s.read_reach(w3, Dir::east, 10, 70 + c), 2));
}

TEST_CASE("a run of Writes' spans hold what each value's span would, on a westward stream") {
  auto s = tiny_schedule();
  auto each = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const Stream w4{4, Dir::west};
  // Values from the VXM (6) in cycles 40..139 to MEM_W3 (2): positions 2..6.
  for (unsigned c = 0; c < 100; ++c) REQUIRE(each.claim_value(w4, 6, 40 + c, 2));
  REQUIRE(s.write_run(w3, 0, 100, w4, 6, 40));
  for (tsp::compiler::Cycle t = 30; t < 150; ++t)
    for (const unsigned writer : {1u, 2u, 6u, 7u, 9u})
      for (const unsigned reader : {0u, 1u, 2u, 5u})
        if (reader <= writer)
          REQUIRE(s.stream_free(w4, writer, t, reader) == each.stream_free(w4, writer, t, reader));
}

TEST_CASE("a placed run is one slot record whose copies fold into the text like single placements") {
  auto s = tiny_schedule();
  auto each = tiny_schedule();
  const unsigned q = s.mem_queue(mem(s, "MEM_W0"));
  const auto read = [](uint32_t address) { return tsp::compiler::make_read(address, {1, Dir::east}); };
  // Read 4 at 9, a run of Reads 5..9 at 10..14, Read 10 at 15: one Read and one Repeat; then a
  // run of 20..23 at 20..23, a single two cycles on (24 at 26) and a run whose first copy (40 at
  // 27) the single's Repeat takes.
  REQUIRE(s.place(q, 9, read(4)));
  const size_t before_run = s.mark();
  REQUIRE(s.place_run(q, 10, 5, read(5)));
  REQUIRE(s.place(q, 15, read(10)));
  REQUIRE(s.place_run(q, 20, 4, read(20)));
  REQUIRE(s.place(q, 26, read(24)));
  REQUIRE(s.place_run(q, 27, 2, read(40)));
  for (const auto& [t, address] : std::vector<std::pair<tsp::compiler::Cycle, uint32_t>>{{9, 4},
                                                                                         {10, 5},
                                                                                         {11, 6},
                                                                                         {12, 7},
                                                                                         {13, 8},
                                                                                         {14, 9},
                                                                                         {15, 10},
                                                                                         {20, 20},
                                                                                         {21, 21},
                                                                                         {22, 22},
                                                                                         {23, 23},
                                                                                         {26, 24},
                                                                                         {27, 40},
                                                                                         {28, 41}})
    REQUIRE(each.place(q, t, read(address)));
  CHECK(s.queue_slots(q).size() == 6);
  CHECK(s.queue_slots(q)[1].count == 5);
  CHECK(s.queue_slots(q)[1].copy_word(4) == tsp::encode(read(9)));
  CHECK(s.placed() == 14);
  for (const bool spaced : {true, false})
    CHECK(disassemble(s.text(q, spaced)) == disassemble(each.text(q, spaced)));
  CHECK(disassemble(s.text(q)) == std::vector<std::string>{"NOP 9 @0", "Read 4 1 @9", "Repeat 6 1 1 @10",
                                                           "NOP 4 @16", "Read 20 1 @20", "Repeat 3 1 1 @21",
                                                           "NOP 2 @24", "Read 24 1 @26", "Repeat 1 1 16 @27",
                                                           "Read 41 1 @28"});
  CHECK(s.last_active() == each.last_active());
  // Rolling the first run back frees exactly its slots and keeps the single Read before it.
  s.rollback(before_run);
  CHECK(s.placed() == 1);
  CHECK(s.free_run(q, 9, 10) == 0);
  CHECK(s.free_run(q, 10, 30) == 30);
  CHECK(disassemble(s.text(q)) == std::vector<std::string>{"NOP 9 @0", "Read 4 1 @9"});
}

TEST_CASE("a queue's text has encode's NOP and Repeat words, a negative stride's too") {
  auto s = tiny_schedule();
  const unsigned q = s.mem_queue(mem(s, "MEM_W0"));
  for (uint32_t c = 0; c < 3; ++c)
    REQUIRE(s.place(q, 2 + c, tsp::compiler::make_read(30 - c, {1, Dir::east})));
  REQUIRE(s.place(q, 9, tsp::compiler::make_read(5, {1, Dir::east})));
  const auto word = [](tsp::isa::Opcode opcode, std::vector<int64_t> operands) {
    tsp::Instruction instruction;
    instruction.opcode = opcode;
    std::copy(operands.begin(), operands.end(), instruction.operands.begin());
    return tsp::encode(instruction);
  };
  const auto text = s.text(q);
  REQUIRE(text.size() == 5);
  CHECK(text[0].word == word(tsp::isa::Opcode::nop, {2}));
  CHECK(text[2].word == word(tsp::isa::Opcode::repeat, {2, 1, -1}));
  CHECK(text[3].word == word(tsp::isa::Opcode::nop, {4}));
  CHECK(disassemble(text) ==
        std::vector<std::string>{"NOP 2 @0", "Read 30 1 @2", "Repeat 2 1 -1 @3", "NOP 4 @5", "Read 5 1 @9"});
}

TEST_CASE("a run in a MEM that single accesses use refuses exactly its cycles' ports and rolls back") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  const Stream e2{2, Dir::east};
  // Words 0..99 (bank 0) read in SRAM cycles 60..159 before the MEM has a single access.
  REQUIRE(s.read_run(w3, 0, 100, e2, 10, 70));
  CHECK_FALSE(s.reserve_bank(w3, 5, 159));
  REQUIRE(s.reserve_bank(w3, 5, 160));
  // Single accesses use it now: the earlier run still holds its cycles, every bucket of them.
  for (tsp::compiler::Cycle t = 0; t < 400; ++t) REQUIRE(s.bank_free(w3, 5, t) == (t < 60 || t > 160));
  CHECK(s.bank_free(w3, 200, 100)); // bank 1
  // Words 128..132 (bank 1) around a single access of bank 1 in SRAM cycle 300: a run through 300
  // is refused whole, the one after it taken as a run.
  REQUIRE(s.reserve_bank(w3, 130, 300));
  const size_t before = s.mark();
  CHECK_FALSE(s.read_run(w3, 128, 5, {3, Dir::east}, 10, 308)); // SRAM 298..302
  CHECK(s.mark() == before);
  REQUIRE(s.read_run(w3, 128, 5, {3, Dir::east}, 10, 311)); // SRAM 301..305
  for (tsp::compiler::Cycle t = 296; t < 310; ++t) REQUIRE(s.bank_free(w3, 200, t) == (t < 300 || t > 305));
  CHECK_FALSE(s.reserve_bank(w3, 129, 303));
  s.rollback(before);
  for (tsp::compiler::Cycle t = 296; t < 310; ++t) REQUIRE(s.bank_free(w3, 200, t) == (t != 300));
  REQUIRE(s.reserve_bank(w3, 129, 303));
}

TEST_CASE("next_run_readable tests a run's slots and banks at once, single accesses included") {
  auto s = tiny_schedule();
  const unsigned w3 = mem(s, "MEM_W3");
  // Reader 10 (MEM_E3): a Read whose value is there in cycle t accesses the SRAM in t - 10. A
  // single access of bank 0 in SRAM cycle 65 refuses the runs of 5 words of bank 0 through it.
  REQUIRE(s.reserve_bank(w3, 2, 65));
  CHECK(s.next_run_readable(w3, 0, 5, 10, 70) == 70);
  for (tsp::compiler::Cycle t = 71; t <= 75; ++t) CHECK(s.next_run_readable(w3, 0, 5, 10, t) == 76);
  CHECK(s.next_run_readable(w3, 200, 5, 10, 73) == 73); // bank 1
  // A taken Read slot (dispatch 80) and a run of bank 0 (dispatches and SRAM cycles 90..99): a
  // run from 86 goes past the slot (dispatches 81..85), one from 96 past the run.
  REQUIRE(s.read_run(w3, 20, 10, {2, Dir::east}, 10, 100));
  REQUIRE(s.place(s.mem_queue(w3), 80, tsp::compiler::make_read(300, {3, Dir::east})));
  CHECK(s.next_run_readable(w3, 0, 5, 10, 76) == 76);
  CHECK(s.next_run_readable(w3, 0, 5, 10, 86) == 91);
  CHECK(s.next_run_readable(w3, 0, 5, 10, 96) == 110);
}

TEST_CASE("a queue keeping fetch cycles has the last cycle of every period taken, placed or not") {
  auto s = tiny_schedule();
  const unsigned q = s.mem_queue(mem(s, "MEM_W0"));
  const unsigned other = s.mem_queue(mem(s, "MEM_W1"));
  s.keep_fetch_cycles(q, 16);
  CHECK(s.fetch_cycle_period(q) == 16);
  CHECK(s.fetch_cycle_period(other) == 0);
  CHECK(s.slot_free(q, 14));
  CHECK_FALSE(s.slot_free(q, 15));
  CHECK_FALSE(s.slot_free(q, 1000 * 16 + 15)); // past every bit placed so far
  CHECK(s.slot_free(other, 15));
  CHECK(s.next_free_slot(q, 15) == 16);
  CHECK(s.next_free_slot(q, 64 * 16 + 15) == 64 * 16 + 16);
  CHECK(s.free_run(q, 0, 40) == 15);
  CHECK(s.free_run(q, 16, 10) == 10);
  CHECK(s.free_run(other, 0, 40) == 40);
  CHECK_FALSE(s.place(q, 31, tsp::compiler::make_read(0, {1, Dir::east})));
  CHECK_FALSE(s.place_run(q, 10, 8, tsp::compiler::make_read(0, {1, Dir::east})));
  REQUIRE(s.place_run(q, 16, 15, tsp::compiler::make_read(0, {1, Dir::east})));
  REQUIRE(s.place(q, 32, tsp::compiler::make_read(20, {1, Dir::east})));
  // The kept cycle 31 is idle in the text, where an Ifetch can go.
  CHECK(disassemble(s.text(q)) == std::vector<std::string>{"NOP 16 @0", "Read 0 1 @16", "Repeat 14 1 1 @17",
                                                           "NOP 1 @31", "Read 20 1 @32"});
  CHECK(s.next_free_slot(q, 16) == 33);
  // What fits alone is tried on an empty schedule with the same kept cycles.
  const Schedule empty = s.empty_like();
  CHECK(empty.placed() == 0);
  CHECK_FALSE(empty.slot_free(q, 47));
  CHECK(empty.slot_free(q, 46));
}
