// Collectives over the C2C links of a system of chips: point-to-point transfer, all-gather,
// reduce-scatter and all-reduce. Every vector's hop is placed in time at compile time (no routers
// decide at run time): a transfer between chips that are not neighbours is received and sent on
// by the chips in between, and a link carries one vector per c2c_vector_cycles.
#pragma once

#include "tspsim/compiler/builder.h"
#include "tspsim/config/system.h"
#include "tspsim/program/system_program.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tsp::compiler {

enum class CollectiveKind : uint8_t { transfer, all_gather, reduce_scatter, all_reduce };

// Parses "transfer", "all-gather", "reduce-scatter", "all-reduce"; throws InputError otherwise.
CollectiveKind parse_collective_kind(const std::string& name);
const char* collective_kind_name(CollectiveKind kind);

// How the vectors travel: straight to every peer over a route (direct links in a fully connected
// set), around a ring of neighbours, or hierarchically when the chips split into fully connected
// groups (the nodes of a rack or a Dragonfly): inside each group over its links in parallel, and
// between the chips at the same position of every group directly or around a ring of them, or
// (gateway, where every pair of groups has a cable, as in a rack) through each group's chip
// cabled to the other group, or (where the groups split into racks of which every pair has a
// cable, as in a Dragonfly) through such chips inside each rack and then between the racks.
// Automatic picks from the topology and keeps the faster schedule of the candidates.
enum class CollectiveAlgorithm : uint8_t {
  automatic,
  direct,
  ring,
  hierarchical_direct,
  hierarchical_ring,
  hierarchical_gateway
};

// Tensors per chip (rows x cols of `dtype`, column tiles of one vector each):
//   transfer        X on chips[0] arrives as Y on chips[1];
//   all-gather      X (rows x cols) on every chip; Y.b<j> on every chip is chip j's X;
//   reduce-scatter  X on every chip, its rows split into one shard per chip (X.s<j>); chip j
//                   gets R = sum over chips of their X.s<j>;
//   all-reduce      as reduce-scatter, then every chip gets every reduced shard: Y.s<j> (fewer
//                   rows than chips: one shard per row).
// Sums are in `dtype` (floats round after each add, in a fixed order, so every chip holds the
// same bits).
struct CollectiveShape {
  CollectiveKind kind = CollectiveKind::all_reduce;
  std::vector<uint32_t> chips; // participants (system chip numbers); empty: every chip
  uint32_t rows = 1;
  uint32_t cols = 1;
  isa::DType dtype = isa::DType::f32;
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::automatic;
  uint64_t seed = 1;
  // False: no host reference (CompiledSystem::outputs stays empty) for a tspsim --timing-only run
  // of a size whose reference would not fit; the programs are the same either way.
  bool with_reference = true;
};

class ProgramSpill;

struct CompiledSystem {
  SystemProgram program;
  // Set when the distinct programs were spilled to a file as they were finished (ProgramSpill):
  // program.programs is then empty and they are here, in order.
  std::shared_ptr<const ProgramSpill> spilled;
  std::vector<std::vector<ExpectedOutput>> outputs; // per chip
  std::vector<Bound> bounds;
  uint64_t predicted_cycles = 0; // the slowest chip's
  std::string algorithm;         // "direct", "ring", "hierarchical-direct", "hierarchical-ring",
                                 // "hierarchical-gateway" or (a transfer) "disjoint-routes"

  const Bound& binding_bound() const { return compiler::binding_bound(bounds); }
  // The cycles of the bound on `resource` ("link latency", "link bandwidth"); throws if none.
  double bound_cycles(const std::string& resource) const;
  // The lower bound that collectives_runner's table and tspc collective compare the prediction
  // with: the link latency term plus the link bandwidth term.
  double latency_plus_bandwidth() const {
    return bound_cycles("link latency") + bound_cycles("link bandwidth");
  }
};

CompiledSystem compile_collective(const SystemConfig& system, const CollectiveShape& shape);

} // namespace tsp::compiler
