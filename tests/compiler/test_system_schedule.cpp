// The all-reduce phase of the shared system schedule (include/tspsim/compiler/system_schedule.h)
// on builders that already hold other work: chips of node8, each output checked against the
// host's combination of the chips' inputs in chip order, zero conformance errors and the
// simulated cycles equal to the prediction; one row in one phase, many rows in two.
#include "engine_harness.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/system_schedule.h"
#include "tspsim/program/tensor.h"
#include "tspsim/system/system.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>

namespace {

using tsp::isa::DType;
using tsp::isa::Opcode;

// Each chip of `chips` first computes X = A + A (its own work, so the Sends must wait for it),
// then all-reduces X (`rows` x 400) with `op`; returns the simulated outputs per chip (row-major)
// and checks the run; `vectors` gets the vectors the links delivered.
std::vector<std::vector<double>> all_reduce_on_node8(const std::vector<uint32_t>& chips, DType dtype,
                                                     Opcode op, std::vector<std::vector<double>>& inputs,
                                                     uint32_t rows = 1, uint64_t* vectors = nullptr) {
  const auto system = tsp::load_system(std::string(TSPSIM_SOURCE_DIR) + "/configs/systems/node8.json");
  const tsp::compiler::Topology topology(system);
  tsp::compiler::SystemSchedule schedule(system, topology);
  std::vector<tsp::compiler::TiledTensor> a, x, y;
  const uint32_t cols = 400; // two column tiles, the second partial
  for (size_t k = 0; k < chips.size(); ++k) {
    auto& builder = schedule.builder(chips[k]);
    const auto data = tsp::random_tensor(dtype, rows, cols, 7 + chips[k]);
    a.push_back(tsp::compiler::place_tiled(builder, "A", dtype, rows, cols,
                                           tsp::compiler::least_used(builder, false), 1, data));
    std::vector<double> doubled;
    for (double v : tsp::compiler::element_values(dtype, data)) doubled.push_back(v + v);
    inputs.push_back(doubled);
  }
  for (size_t k = 0; k < chips.size(); ++k) {
    auto& builder = schedule.builder(chips[k]);
    x.push_back(tsp::compiler::place_tiled(builder, "X", dtype, rows, cols,
                                           tsp::compiler::least_used(builder, true), 1, {}));
    y.push_back(tsp::compiler::place_tiled(builder, "Y", dtype, rows, cols,
                                           tsp::compiler::least_used(builder, false), 1, {}));
    const auto twice = tsp::compiler::combine_expression(Opcode::v_add, dtype, 2);
    tsp::compiler::schedule_vectors(builder.schedule(), twice, {&a[k], &a[k]}, x[k]);
  }
  std::vector<const tsp::compiler::TiledTensor*> in, out;
  for (size_t k = 0; k < chips.size(); ++k) {
    in.push_back(&x[k]);
    out.push_back(&y[k]);
  }
  tsp::compiler::schedule_all_reduce(schedule, chips, in, out, op);
  const auto compiled = tsp::compiler::finish_system(schedule, "all-reduce phase");
  tsp::System sim("system", system, compiled.program, {});
  const auto result = sim.run();
  CHECK(result.cycles == compiled.predicted_cycles);
  if (vectors) *vectors = result.vectors_delivered;
  std::vector<std::vector<double>> results;
  for (size_t k = 0; k < chips.size(); ++k) {
    CHECK(sim.simulated(chips[k]).context().log.total() == 0);
    std::vector<double> values(size_t(rows) * cols);
    uint32_t first_col = 0;
    for (const auto& tile : y[k].tiles) {
      const auto tile_values =
          tsp::compiler::element_values(dtype, sim.simulated(chips[k]).read_symbol(tile));
      for (uint32_t r = 0; r < rows; ++r)
        for (uint32_t c = 0; c < tile.cols; ++c)
          values[size_t(r) * cols + first_col + c] = tile_values[size_t(r) * tile.cols + c];
      first_col += tile.cols;
    }
    results.push_back(values);
  }
  return results;
}

} // namespace

TEST_CASE("system schedule: an fp32 all-reduce phase adds in chip order, the same bits on every chip") {
  std::vector<std::vector<double>> inputs;
  const auto results = all_reduce_on_node8({1, 4, 6}, DType::f32, Opcode::v_add, inputs);
  for (size_t k = 0; k < results.size(); ++k) {
    REQUIRE(results[k].size() == 400);
    for (size_t e = 0; e < 400; ++e) {
      // The balanced tree of three inputs: (x1 + x4) + x6, each add rounded to fp32.
      const float sum = (float(inputs[0][e]) + float(inputs[1][e])) + float(inputs[2][e]);
      INFO("chip " << k << " element " << e);
      CHECK(results[k][e] == double(sum));
    }
  }
}

TEST_CASE("system schedule: an int32 max all-reduce phase over four chips") {
  std::vector<std::vector<double>> inputs;
  const auto maxima = all_reduce_on_node8({0, 3, 5, 7}, DType::i32, Opcode::v_max, inputs);
  for (size_t e = 0; e < 400; ++e) {
    // The int32 doubling saturates, as the VXM's integer adds do (docs/isa.md).
    double expected = -1e300;
    for (const auto& chip : inputs)
      expected = std::max(expected, std::clamp(chip[e], -2147483648.0, 2147483647.0));
    for (const auto& result : maxima) CHECK(result[e] == expected);
  }
}

TEST_CASE("system schedule: an fp32 min all-reduce phase over four chips") {
  std::vector<std::vector<double>> inputs;
  const auto minima = all_reduce_on_node8({2, 3, 6, 7}, DType::f32, Opcode::v_min, inputs);
  for (size_t e = 0; e < 400; ++e) {
    double expected = 1e300;
    for (const auto& chip : inputs) expected = std::min(expected, double(float(chip[e])));
    for (const auto& result : minima) CHECK(result[e] == expected);
  }
}

TEST_CASE("system schedule: an all-reduce of 11 rows over node8 is a reduce-scatter and an all-gather") {
  std::vector<std::vector<double>> inputs;
  uint64_t vectors = 0;
  const std::vector<uint32_t> chips{0, 1, 2, 3, 4, 5, 6, 7};
  const auto results = all_reduce_on_node8(chips, DType::f32, Opcode::v_add, inputs, 11, &vectors);
  // Each of the 11 rows crosses 7 links to its shard's chip and its sum 7 links back: 154 rows of
  // 2 tiles x 4 byte planes, against 8 chips x 7 peers x 11 rows x 8 in one phase (4,928).
  CHECK(vectors == 154 * 8);
  for (size_t e = 0; e < 11 * 400; ++e) {
    // The balanced tree of eight inputs in chip order, each add rounded to fp32.
    const auto in = [&](size_t k) { return float(inputs[k][e]); };
    const float sum = ((in(0) + in(1)) + (in(2) + in(3))) + ((in(4) + in(5)) + (in(6) + in(7)));
    for (size_t k = 0; k < results.size(); ++k) {
      INFO("chip " << k << " element " << e);
      CHECK(results[k][e] == double(sum));
    }
  }
}

TEST_CASE("system schedule: an all-reduce of 3 rows over node8 stays one phase") {
  std::vector<std::vector<double>> inputs;
  uint64_t vectors = 0;
  const auto results =
      all_reduce_on_node8({0, 1, 2, 3, 4, 5, 6, 7}, DType::i32, Opcode::v_max, inputs, 3, &vectors);
  CHECK(vectors == 8 * 7 * 3 * 8); // fewer rows than chips: every chip's whole input to every peer
  for (size_t e = 0; e < 3 * 400; ++e) {
    double expected = -1e300;
    for (const auto& chip : inputs)
      expected = std::max(expected, std::clamp(chip[e], -2147483648.0, 2147483647.0));
    for (const auto& result : results) CHECK(result[e] == expected);
  }
}

namespace {

// The chips a route passes, from its first chip to its last.
std::vector<uint32_t> chips_of(const std::vector<tsp::compiler::Hop>& route) {
  std::vector<uint32_t> chips{route.front().from};
  for (const auto& hop : route) chips.push_back(hop.to);
  return chips;
}

} // namespace

TEST_CASE("topology: routes that share no cable, shortest first") {
  const auto node8 = tsp::load_system(std::string(TSPSIM_SOURCE_DIR) + "/configs/systems/node8.json");
  const auto routes = tsp::compiler::Topology(node8).disjoint_routes(2, 5);
  // The cable, then one route through each other chip of the node, in chip order.
  REQUIRE(routes.size() == 7);
  CHECK(chips_of(routes[0]) == std::vector<uint32_t>{2, 5});
  const std::vector<uint32_t> via{0, 1, 3, 4, 6, 7};
  for (size_t i = 0; i < via.size(); ++i)
    CHECK(chips_of(routes[i + 1]) == std::vector<uint32_t>{2, via[i], 5});
  // A ring of six: one route each way round.
  tsp::SystemConfig ring;
  ring.name = "ring6";
  ring.configs.push_back(tsp::test::bundled_config("tiny.json"));
  ring.chip_config.assign(6, 0);
  for (uint32_t i = 0; i < 6; ++i) ring.cables.push_back({{i, 0}, {(i + 1) % 6, 1}});
  const auto around = tsp::compiler::Topology(ring).disjoint_routes(0, 3);
  REQUIRE(around.size() == 2);
  CHECK(chips_of(around[0]) == std::vector<uint32_t>{0, 1, 2, 3});
  CHECK(chips_of(around[1]) == std::vector<uint32_t>{0, 5, 4, 3});
  // Chips with no cable between them: none.
  tsp::SystemConfig apart = ring;
  apart.cables.resize(1);
  CHECK(tsp::compiler::Topology(apart).disjoint_routes(0, 2).empty());
}
