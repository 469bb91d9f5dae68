// Collectives compiled by tspc and simulated on a whole system: every chip's outputs equal the
// host reference (bit-exact: sums round after each add in a fixed order), zero conformance
// errors, and the system's cycle count equal to the prediction.
#include "engine_harness.h"
#include "tspsim/common/error.h"
#include "tspsim/compiler/collectives.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/program/tensor.h"
#include "tspsim/system/system.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

namespace {

using tsp::compiler::CollectiveAlgorithm;
using tsp::compiler::CollectiveKind;
using tsp::compiler::CollectiveShape;

tsp::SystemConfig bundled_system(const std::string& name, const std::vector<std::string>& overrides = {}) {
  return tsp::load_system(std::string(TSPSIM_SOURCE_DIR) + "/configs/systems/" + name, overrides);
}

// `chips` tiny chips; cables as given.
tsp::SystemConfig tiny_system(uint32_t chips, std::vector<tsp::Cable> cables) {
  tsp::SystemConfig system;
  system.name = fmt::format("tiny{}", chips);
  system.configs.push_back(tsp::test::bundled_config("tiny.json"));
  system.chip_config.assign(chips, 0);
  system.cables = std::move(cables);
  return system;
}

struct Outcome {
  uint64_t predicted = 0;
  uint64_t simulated = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::string mismatch;
  std::string algorithm;
  size_t outputs = 0;
  uint64_t vectors = 0; // delivered by the links, once per hop
};

Outcome simulate(const tsp::SystemConfig& system, const CollectiveShape& shape) {
  const auto compiled = tsp::compiler::compile_collective(system, shape);
  REQUIRE(compiled.program.system_name == system.name); // named in "built for another system" errors
  Outcome out;
  out.predicted = compiled.predicted_cycles;
  out.algorithm = compiled.algorithm;
  tsp::System sim("system", system, compiled.program, {});
  const auto result = sim.run();
  out.simulated = result.cycles;
  out.vectors = result.vectors_delivered;
  for (uint32_t c = 0; c < system.chips(); ++c) {
    const auto& log = sim.simulated(c).context().log;
    out.errors += log.total();
    if (out.first_error.empty() && !log.kept().empty())
      out.first_error = fmt::format("chip {}: {}", c, log.kept().front().describe());
    for (const auto& expected : compiled.outputs[c]) {
      ++out.outputs;
      const tsp::Symbol* symbol = compiled.program.program_of(c).find_symbol(expected.symbol);
      if (!symbol) {
        out.mismatch = fmt::format("chip {}: no symbol {}", c, expected.symbol);
        continue;
      }
      const auto actual = sim.simulated(c).read_symbol(*symbol);
      if (actual != expected.bytes && out.mismatch.empty()) {
        const auto got = tsp::compiler::element_values(symbol->dtype, actual);
        for (size_t e = 0; e < got.size(); ++e)
          if (got[e] != expected.values[e]) {
            out.mismatch = fmt::format("chip {} {}[{}] = {}, reference {}", c, expected.symbol, e, got[e],
                                       expected.values[e]);
            break;
          }
        if (out.mismatch.empty()) out.mismatch = fmt::format("chip {} {}: bytes differ", c, expected.symbol);
      }
    }
  }
  return out;
}

void check(const Outcome& out) {
  INFO(out.first_error);
  CHECK(out.errors == 0);
  CHECK(out.mismatch == "");
  CHECK(out.simulated == out.predicted);
  CHECK(out.outputs > 0);
}

CollectiveShape shape(CollectiveKind kind, uint32_t rows, uint32_t cols, tsp::isa::DType dtype,
                      std::vector<uint32_t> chips = {}) {
  CollectiveShape s;
  s.kind = kind;
  s.rows = rows;
  s.cols = cols;
  s.dtype = dtype;
  s.chips = std::move(chips);
  return s;
}

// Four groups of three tiny chips, each group fully connected (links 0 and 1); chip k of group m
// joins chip k of group m + 1 (its link 2 to that chip's link 3), so the chips at one position
// form a ring of four, opposite members two hops apart.
tsp::SystemConfig groups4x3() {
  std::vector<tsp::Cable> cables;
  for (uint32_t m = 0; m < 4; ++m) {
    for (uint32_t a = 0; a < 3; ++a)
      for (uint32_t b = a + 1; b < 3; ++b) cables.push_back({{3 * m + a, b - 1}, {3 * m + b, a}});
    for (uint32_t k = 0; k < 3; ++k) cables.push_back({{3 * m + k, 2}, {3 * ((m + 1) % 4) + k, 3}});
  }
  return tiny_system(12, cables);
}

// Three groups of three tiny chips, each group fully connected (links 0 and 1), every pair of
// groups joined by one cable: chip 0 of group m (link 2) to chip 1 of group m + 1 (link 3).
tsp::SystemConfig groups3x3() {
  std::vector<tsp::Cable> cables;
  for (uint32_t m = 0; m < 3; ++m) {
    for (uint32_t a = 0; a < 3; ++a)
      for (uint32_t b = a + 1; b < 3; ++b) cables.push_back({{3 * m + a, b - 1}, {3 * m + b, a}});
    cables.push_back({{3 * m, 2}, {3 * ((m + 1) % 3) + 1, 3}});
  }
  return tiny_system(9, cables);
}

// Six tiny chips in a ring: link 0 of chip i to link 1 of chip i + 1.
tsp::SystemConfig ring6() {
  std::vector<tsp::Cable> cables;
  for (uint32_t i = 0; i < 6; ++i) cables.push_back({{i, 0}, {(i + 1) % 6, 1}});
  return tiny_system(6, cables);
}

} // namespace

TEST_CASE("collectives: fp32 all-reduce on the 8-chip node (14 nm), every link at once") {
  const auto out = simulate(bundled_system("node8.json"),
                            shape(CollectiveKind::all_reduce, 24, 320, tsp::isa::DType::f32));
  CHECK(out.algorithm == "direct");
  CHECK(out.outputs == 8 * 8);
  check(out);
}

TEST_CASE("collectives: bf16 all-gather on the 8-chip node with two superlanes") {
  const auto out = simulate(bundled_system("node8.json", {"geometry.superlanes=2"}),
                            shape(CollectiveKind::all_gather, 5, 40, tsp::isa::DType::bf16));
  CHECK(out.outputs == 8 * 8 * 2); // 40 columns are two tiles of 32 lanes
  check(out);
}

TEST_CASE("collectives: int8 reduce-scatter over four chips of the node, uneven shards, two tiles") {
  const auto out = simulate(bundled_system("node8.json", {"geometry.superlanes=2"}),
                            shape(CollectiveKind::reduce_scatter, 11, 40, tsp::isa::DType::i8, {1, 3, 4, 6}));
  CHECK(out.outputs == 4 * 2);
  check(out);
}

TEST_CASE("collectives: fp16 all-reduce forced around a ring of six chips") {
  // Direct routes are the faster choice here since a Send may fill a link's idle gaps.
  auto s = shape(CollectiveKind::all_reduce, 12, 64, tsp::isa::DType::f16);
  s.algorithm = CollectiveAlgorithm::ring;
  const auto out = simulate(ring6(), s);
  CHECK(out.algorithm == "ring");
  CHECK(out.outputs == 6 * 6 * 2);
  check(out);
}

TEST_CASE("collectives: fp32 reduce-scatter forced around a ring") {
  auto s = shape(CollectiveKind::reduce_scatter, 6, 64, tsp::isa::DType::f32);
  s.algorithm = CollectiveAlgorithm::ring;
  const auto out = simulate(ring6(), s);
  CHECK(out.algorithm == "ring");
  CHECK(out.outputs == 6 * 2);
  check(out);
}

TEST_CASE("collectives: an all-gather forced around the ring") {
  auto s = shape(CollectiveKind::all_gather, 3, 64, tsp::isa::DType::i8);
  s.algorithm = CollectiveAlgorithm::ring;
  const auto out = simulate(ring6(), s);
  CHECK(out.algorithm == "ring");
  CHECK(out.outputs == 6 * 6 * 2);
  check(out);
}

TEST_CASE("collectives: a direct all-reduce over ten chips of a ring sums in groups of eight") {
  std::vector<tsp::Cable> cables;
  for (uint32_t i = 0; i < 10; ++i) cables.push_back({{i, 0}, {(i + 1) % 10, 1}});
  auto s = shape(CollectiveKind::all_reduce, 10, 32, tsp::isa::DType::bf16);
  s.algorithm = CollectiveAlgorithm::direct;
  const auto out = simulate(tiny_system(10, cables), s);
  CHECK(out.algorithm == "direct");
  CHECK(out.outputs == 10 * 10);
  check(out);
}

TEST_CASE("collectives: hierarchical all-reduce, fp32, groups' chips exchanging directly") {
  auto s = shape(CollectiveKind::all_reduce, 24, 40, tsp::isa::DType::f32);
  s.algorithm = CollectiveAlgorithm::hierarchical_direct;
  const auto out = simulate(groups4x3(), s);
  CHECK(out.algorithm == "hierarchical-direct");
  CHECK(out.outputs == 12 * 12 * 2); // 40 columns are two tiles of 32 lanes
  check(out);
}

TEST_CASE("collectives: inputs are declared seeds, not stored bytes; without the reference the programs are "
          "the same") {
  auto s = shape(CollectiveKind::all_reduce, 24, 40, tsp::isa::DType::f32);
  s.algorithm = CollectiveAlgorithm::hierarchical_direct;
  const auto system = groups4x3();
  const auto full = tsp::compiler::compile_collective(system, s);
  s.with_reference = false;
  const auto timing = tsp::compiler::compile_collective(system, s);
  CHECK(tsp::serialize_system_program(timing.program) == tsp::serialize_system_program(full.program));
  CHECK(timing.predicted_cycles == full.predicted_cycles);
  for (uint32_t c = 0; c < 12; ++c) {
    CHECK(full.outputs[c].size() == 12 * 2);
    CHECK(timing.outputs[c].empty());
    const tsp::Program& program = full.program.program_of(c);
    CHECK(program.images.empty()); // the outputs start at zero
    CHECK(program.declared.size() == 12 * 2);
  }
  // Chip 5's shard 3 (rows 6 and 7), second tile (columns 32 to 39): the rows of its seeded input.
  const tsp::Program& program = full.program.program_of(5);
  const tsp::Symbol* tile = program.find_symbol("X.s3.c1");
  REQUIRE(tile != nullptr);
  const auto declared = std::find_if(program.declared.begin(), program.declared.end(),
                                     [&](const auto& d) { return &program.symbols.at(d.symbol) == tile; });
  REQUIRE(declared != program.declared.end());
  const auto input = tsp::random_tensor(tsp::isa::DType::f32, 24, 40, s.seed + 5);
  CHECK(tsp::declared_elements(*declared, *tile) == tsp::compiler::sub_block(input, 4, 40, 6, 2, 32, 8));
}

TEST_CASE("collectives: hierarchical all-reduce, bf16, around rings of the groups' chips") {
  auto s = shape(CollectiveKind::all_reduce, 12, 32, tsp::isa::DType::bf16);
  s.algorithm = CollectiveAlgorithm::hierarchical_ring;
  const auto out = simulate(groups4x3(), s);
  CHECK(out.algorithm == "hierarchical-ring");
  CHECK(out.outputs == 12 * 12);
  check(out);
}

TEST_CASE("collectives: an all-reduce of fewer rows than chips: one piece per row, hierarchical by choice") {
  const auto out = simulate(groups4x3(), shape(CollectiveKind::all_reduce, 5, 32, tsp::isa::DType::f16));
  CHECK(out.algorithm.rfind("hierarchical-", 0) == 0);
  CHECK(out.outputs == 12 * 5);
  check(out);
}

TEST_CASE(
    "collectives: hierarchical reduce-scatter, int8, uneven shards, around rings of the groups' chips") {
  auto s = shape(CollectiveKind::reduce_scatter, 15, 32, tsp::isa::DType::i8);
  s.algorithm = CollectiveAlgorithm::hierarchical_ring;
  const auto out = simulate(groups4x3(), s);
  CHECK(out.outputs == 12);
  check(out);
}

TEST_CASE("collectives: hierarchical all-gather, fp16, groups' chips exchanging directly") {
  auto s = shape(CollectiveKind::all_gather, 2, 32, tsp::isa::DType::f16);
  s.algorithm = CollectiveAlgorithm::hierarchical_direct;
  const auto out = simulate(groups4x3(), s);
  CHECK(out.outputs == 12 * 12);
  check(out);
}

TEST_CASE("collectives: hierarchical all-gather, int32, around rings of the groups' chips") {
  auto s = shape(CollectiveKind::all_gather, 3, 32, tsp::isa::DType::i32);
  s.algorithm = CollectiveAlgorithm::hierarchical_ring;
  const auto out = simulate(groups4x3(), s);
  CHECK(out.outputs == 12 * 12);
  check(out);
}

TEST_CASE("collectives: the 72-chip rack all-reduces hierarchically (nodes, then across nodes, then nodes)") {
  const auto out = simulate(bundled_system("rack72.json"),
                            shape(CollectiveKind::all_reduce, 72, 320, tsp::isa::DType::f32));
  // Every pair of nodes has a cable: each node sums a piece on its chip cabled to the owner's node.
  CHECK(out.algorithm == "hierarchical-gateway");
  CHECK(out.outputs == 72 * 72);
  check(out);
  // 3,811 cycles between the chips at one position of every node (the next test).
  CHECK(out.predicted == 2773);
}

TEST_CASE("collectives: the rack all-reduces between the chips at one position of every node when told to") {
  auto s = shape(CollectiveKind::all_reduce, 72, 320, tsp::isa::DType::f32);
  s.algorithm = CollectiveAlgorithm::hierarchical_direct;
  const auto out = simulate(bundled_system("rack72.json"), s);
  CHECK(out.algorithm == "hierarchical-direct");
  CHECK(out.outputs == 72 * 72);
  check(out);
  // 5,056 cycles while a link's Sends could only follow its latest one; 3,909 once its idle gaps
  // filled; now a chip's pieces for one peer go one after another, so the first are summed early.
  CHECK(out.predicted == 3811);
}

TEST_CASE("collectives: int16 reduce-scatter through the gateways of three groups, uneven shards") {
  const auto out = simulate(groups3x3(), shape(CollectiveKind::reduce_scatter, 20, 70, tsp::isa::DType::i16));
  CHECK(out.algorithm == "hierarchical-gateway");
  CHECK(out.outputs == 9 * 3); // R on every chip; 70 columns are three tiles of 32 lanes
  check(out);
}

TEST_CASE("collectives: fp16 all-gather through the gateways of three groups") {
  const auto out = simulate(groups3x3(), shape(CollectiveKind::all_gather, 3, 40, tsp::isa::DType::f16));
  CHECK(out.algorithm == "hierarchical-gateway");
  CHECK(out.outputs == 9 * 9 * 2); // 40 columns are two tiles of 32 lanes
  check(out);
}

TEST_CASE("collectives: bf16 all-reduce through the gateways of three groups, fewer rows than chips") {
  const auto out = simulate(groups3x3(), shape(CollectiveKind::all_reduce, 5, 32, tsp::isa::DType::bf16));
  CHECK(out.algorithm == "hierarchical-gateway");
  CHECK(out.outputs == 9 * 5);
  check(out);
}

TEST_CASE("collectives: a two-rack Dragonfly all-reduces 16 rows with owners in both racks") {
  const auto out = simulate(bundled_system("dragonfly2.json"),
                            shape(CollectiveKind::all_reduce, 16, 320, tsp::isa::DType::f32));
  // Inside each rack through its nodes' gateways, then between the racks' gateways.
  CHECK(out.algorithm == "hierarchical-gateway");
  CHECK(out.outputs == 144 * 16);
  check(out);
  // 4,161 between the chips at one position of every node (the next test).
  CHECK(out.predicted == 3811);
}

TEST_CASE("collectives: the two-rack Dragonfly all-reduces between the chips at one position of every node "
          "when told to") {
  auto s = shape(CollectiveKind::all_reduce, 16, 320, tsp::isa::DType::f32);
  s.algorithm = CollectiveAlgorithm::hierarchical_direct;
  const auto out = simulate(bundled_system("dragonfly2.json"), s);
  CHECK(out.algorithm == "hierarchical-direct");
  CHECK(out.outputs == 144 * 16);
  check(out);
  // 4,788 cycles with both shards' owners in the first rack and links that only grew forward;
  // 4,221 before a chip's pieces for one peer went one after another.
  CHECK(out.predicted == 4161);
}

TEST_CASE("collectives: bf16 reduce-scatter through the racks of a two-rack Dragonfly, uneven shards") {
  // 150 rows over 144 chips: six shards of two rows, the rest of one.
  const auto out = simulate(bundled_system("dragonfly2.json"),
                            shape(CollectiveKind::reduce_scatter, 150, 40, tsp::isa::DType::bf16));
  CHECK(out.algorithm == "hierarchical-gateway");
  CHECK(out.outputs == 144);
  check(out);
  CHECK(out.predicted == 2188); // 2,775 between the chips at one position of every node
}

TEST_CASE("collectives: int8 all-gather through the racks of a two-rack Dragonfly") {
  auto s = shape(CollectiveKind::all_gather, 2, 100, tsp::isa::DType::i8);
  s.algorithm = CollectiveAlgorithm::hierarchical_gateway;
  const auto out = simulate(bundled_system("dragonfly2.json"), s);
  // Inside each rack through its nodes' gateways, then each block over one of the cables between
  // the racks and on through the other rack's gateways.
  CHECK(out.algorithm == "hierarchical-gateway");
  CHECK(out.outputs == 144 * 144);
  check(out);
  CHECK(out.predicted == 2510);
}

TEST_CASE("collectives: on two racks tspc keeps the columns where they are faster than the racks' gateways") {
  // Two vectors a block: the columns' short routes (each chip of one rack is cabled to the chip at
  // its place in the other) beat the racks' extra phase each way.
  const auto system = bundled_system("dragonfly2.json");
  const auto small = tsp::compiler::compile_collective(
      system, shape(CollectiveKind::all_gather, 2, 100, tsp::isa::DType::i8));
  CHECK(small.algorithm == "hierarchical-direct");
  CHECK(small.predicted_cycles == 2213);
  const auto large = tsp::compiler::compile_collective(
      system, shape(CollectiveKind::all_gather, 8, 320, tsp::isa::DType::f32));
  CHECK(large.algorithm == "hierarchical-gateway");
  CHECK(large.predicted_cycles == 18877); // 25,513 between the columns
}

TEST_CASE("collectives: a transfer to a chip three hops away is forwarded by the chips between") {
  std::vector<tsp::Cable> line{{{0, 0}, {1, 1}}, {{1, 0}, {2, 1}}, {{2, 0}, {3, 1}}};
  const auto out =
      simulate(tiny_system(4, line), shape(CollectiveKind::transfer, 7, 64, tsp::isa::DType::f32, {0, 3}));
  CHECK(out.outputs == 2);
  check(out);
  // Three hops of the link latency at least.
  CHECK(out.simulated > 3 * 216);
}

TEST_CASE("collectives: a transfer inside the node takes its cable and a two-hop route through every other "
          "chip at once") {
  const auto out = simulate(bundled_system("node8.json"),
                            shape(CollectiveKind::transfer, 300, 1000, tsp::isa::DType::bf16, {2, 5}));
  CHECK(out.outputs == 4); // four column tiles
  CHECK(out.algorithm == "disjoint-routes");
  check(out);
  // 2,400 vectors: 44 rows of 8 on the cable, 42 or 43 on each two-hop route (delivered twice).
  CHECK(out.vectors == 44 * 8 + 2 * 2048);
  // One cable alone takes 2,400 x 20 = 48,000 cycles; the bound is 216 + 2,400 x 20 / 7 = 7,073.
  CHECK(out.predicted == 7404);
}

TEST_CASE("collectives: a forwarding chip reuses its forwarding words once their Sends have read them") {
  // Chip 1 forwards 640 vectors (80 rows of 64 fp32: 2 tiles of 4 byte planes) through 8 MEM
  // slices of 64 words: each forwarded vector cannot keep a word of its own. Its instruction
  // buffers hold its whole text, so no fetched text competes for the words.
  std::vector<tsp::Cable> line{{{0, 0}, {1, 1}}, {{1, 0}, {2, 1}}};
  auto system = tiny_system(3, line);
  system.configs.push_back(
      tsp::test::bundled_config("tiny.json", {"geometry.mem_words_per_slice=64", "geometry.sram_bytes=16384",
                                              "icu.instruction_buffer_entries=4096"}));
  system.chip_config[1] = 1;
  const auto out = simulate(system, shape(CollectiveKind::transfer, 80, 64, tsp::isa::DType::f32, {0, 2}));
  CHECK(out.outputs == 2);
  check(out);
  // As many cycles as a full-size chip 1 with a word per forwarded vector takes (main at 77902dd).
  CHECK(out.predicted == 1730);
}

TEST_CASE(
    "collectives: a chip's Sends and Receives take its SXM queues in turn, so each can fetch its text") {
  // Two cables take a vector every other cycle each, one Send (or Receive) per cycle for the
  // east SXM, which holds the tensor: on one queue they left it no idle cycle to fetch a text
  // longer than its 16-entry buffer (main at 25414ec: "queue SXM_E.0 has 770 instructions and too
  // few idle cycles to fetch them in time into its 16-entry buffer").
  const std::vector<tsp::Cable> cables{{{0, 0}, {1, 0}}, {{0, 1}, {1, 1}}};
  auto system = tiny_system(2, cables);
  system.configs[0] = tsp::test::bundled_config("tiny.json", {"icu.instruction_buffer_entries=16"});
  const auto out = simulate(system, shape(CollectiveKind::transfer, 96, 64, tsp::isa::DType::f32, {0, 1}));
  CHECK(out.outputs == 2);
  check(out);
  // 991 when one flow took whichever cable freed first; now each cable is a route of its own.
  CHECK(out.predicted == 990);
}

TEST_CASE("collectives: bad shapes get one-line errors") {
  const auto system = ring6();
  auto s = shape(CollectiveKind::reduce_scatter, 4, 64, tsp::isa::DType::f32);
  CHECK_THROWS_WITH(
      tsp::compiler::compile_collective(system, s),
      "reduce-scatter: 4 rows cannot be split over 6 chips (one shard of at least one row each)");
  s.kind = CollectiveKind::all_reduce;
  s.algorithm = CollectiveAlgorithm::hierarchical_direct;
  CHECK_THROWS_WITH(
      tsp::compiler::compile_collective(system, s),
      "all-reduce: the chips do not split into fully connected groups of equal size (at least 3 chips "
      "each, at least two groups)");
  s.algorithm = CollectiveAlgorithm::automatic;
  s.chips = {0, 9};
  CHECK_THROWS_WITH(tsp::compiler::compile_collective(system, s),
                    "all-reduce: chip 9 out of range (the system has 6 chips)");
  s.chips = {2, 2};
  CHECK_THROWS_WITH(tsp::compiler::compile_collective(system, s), "all-reduce: a chip is named twice");
  s = shape(CollectiveKind::transfer, 4, 64, tsp::isa::DType::f32, {0, 1, 2});
  CHECK_THROWS_WITH(tsp::compiler::compile_collective(system, s),
                    "transfer: expected two chips (from, to), got 3");
  s = shape(CollectiveKind::all_reduce, 24, 40, tsp::isa::DType::f32);
  s.algorithm = CollectiveAlgorithm::hierarchical_gateway;
  CHECK_THROWS_WITH(
      tsp::compiler::compile_collective(groups4x3(), s),
      "all-reduce: hierarchical-gateway needs a cable between every pair of groups, or racks of "
      "such groups with a cable between every pair");
  s.kind = CollectiveKind::all_gather;
  // Every chip's block of 24 rows, 288 rows of fp32, is more than a tiny chip's SRAM.
  CHECK_THROWS_WITH(tsp::compiler::compile_collective(groups4x3(), s),
                    "all-gather on chip 0: tensor 'Y' (288 x 40 f32) takes 73728 bytes of MEM; config '" +
                        groups4x3().config_of(0).source +
                        "' has 65536 (8 MEM slices of 256 words of 32 bytes): the tensors do not fit in MEM");
  s.rows = 8;
  CHECK_THROWS_WITH(
      tsp::compiler::compile_collective(groups4x3(), s),
      "all-gather: hierarchical-gateway needs a cable between every pair of groups, or racks of "
      "such groups with a cable between every pair");
  s = shape(CollectiveKind::transfer, 4, 64, tsp::isa::DType::f32, {0, 1});
  s.algorithm = CollectiveAlgorithm::ring;
  CHECK_THROWS_WITH(tsp::compiler::compile_collective(system, s),
                    "transfer: no algorithm to choose (a transfer takes every route that shares no cable)");
  CHECK_THROWS_WITH(
      tsp::compiler::parse_collective_kind("allreduce"),
      "unknown collective 'allreduce': expected transfer, all-gather, reduce-scatter or all-reduce");
  const auto apart = tiny_system(3, {{{0, 0}, {1, 1}}});
  s = shape(CollectiveKind::transfer, 1, 64, tsp::isa::DType::f32, {0, 2});
  CHECK_THROWS_WITH(tsp::compiler::compile_collective(apart, s),
                    "collective: chip 0 cannot reach chip 2 over the system's links");
}

TEST_CASE("collectives: a program scheduled for faster links is refused at load, naming both link rates") {
  const auto fast = bundled_system("node8.json", {"c2c.gbps_per_lane=60"});
  const auto compiled = tsp::compiler::compile_collective(
      fast, shape(CollectiveKind::all_reduce, 8, 320, tsp::isa::DType::f32));
  const auto node = bundled_system("node8.json");
  CHECK_THROWS_WITH(
      tsp::validate_system_program(compiled.program, node, "ar.bin"),
      "ar.bin (chip 0): scheduled for C2C links of 10 cycles per vector, but system 'node8' has links "
      "of 20 cycles per vector (4 lanes x 30 Gb/s at 900 MHz)");
  CHECK_THROWS_WITH(
      tsp::validate_program(compiled.program.program_of(3), node.config_of(3), "chip3.bin"),
      "chip3.bin: scheduled for C2C links of 10 cycles per vector, but this config's links take 20 "
      "cycles per vector (4 lanes x 30 Gb/s at 900 MHz)");
}

TEST_CASE(
    "collectives: two chips of one MEM slice per hemisphere: int8 all-reduce runs, fp32 names the limit") {
  auto system = tiny_system(2, {{{0, 0}, {1, 0}}});
  system.configs[0] = tsp::test::bundled_config("tiny.json", {"geometry.mem_slices_per_hemisphere=1"});
  check(simulate(system, shape(CollectiveKind::all_reduce, 6, 40, tsp::isa::DType::i8)));
  CHECK_THROWS_WITH(tsp::compiler::compile_collective(
                        system, shape(CollectiveKind::all_reduce, 6, 40, tsp::isa::DType::f32)),
                    "tensor 'X.s0' needs 4 MEM slices of one hemisphere, one for each byte plane of its f32 "
                    "vectors; config '" +
                        system.configs[0].source + "' has 1 MEM slices per hemisphere");
}

TEST_CASE("collectives: on links slower than their latency a vector arrives once serialised, within "
          "the bandwidth bound") {
  // One lane at 1.5 Gb/s: a 320-byte vector takes 1,536 cycles, more than the 216-cycle latency.
  // Arrival at the latency had a transfer of four vectors over two cables finish in 1,860 cycles,
  // under its own bound of two vectors per cable (3,072).
  tsp::SystemConfig system;
  system.name = "two_slow";
  system.configs.push_back(
      tsp::test::bundled_config("14nm.json", {"c2c.gbps_per_lane=1.5", "c2c.lanes_per_link=1"}));
  system.chip_config.assign(2, 0);
  system.cables = {{{0, 0}, {1, 0}}, {{0, 1}, {1, 1}}};
  auto transfer = shape(CollectiveKind::transfer, 1, 1, tsp::isa::DType::f32, {0, 1});
  const auto compiled = tsp::compiler::compile_collective(system, transfer);
  CHECK(compiled.binding_bound().resource == "link bandwidth");
  CHECK(compiled.binding_bound().cycles == 3072);
  CHECK(compiled.predicted_cycles == 3180);
  check(simulate(system, transfer));
}
