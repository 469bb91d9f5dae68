// Collectives over C2C links (include/tspsim/compiler/collectives.h). Each chip has a program
// builder of its own; what ties them together is the link timing: a Send on chip a at cycle t
// holds its link for c2c_vector_cycles and the vector is receivable at the far end at
// t + func(Send). Sends on one link are placed in increasing time and the far end receives them in
// the same order, which is the order its FIFO hands them out.
#include "tspsim/compiler/collectives.h"
#include "tspsim/common/error.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/system_schedule.h"
#include "tspsim/compiler/vector.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <deque>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

CollectiveKind parse_collective_kind(const std::string& name) {
  if (name == "transfer") return CollectiveKind::transfer;
  if (name == "all-gather") return CollectiveKind::all_gather;
  if (name == "reduce-scatter") return CollectiveKind::reduce_scatter;
  if (name == "all-reduce") return CollectiveKind::all_reduce;
  throw InputError(fmt::format(
      "unknown collective '{}': expected transfer, all-gather, reduce-scatter or all-reduce", name));
}

double CompiledSystem::bound_cycles(const std::string& resource) const {
  for (const Bound& bound : bounds)
    if (bound.resource == resource) return bound.cycles;
  throw InputError(fmt::format("collective: no bound named '{}'", resource));
}

const char* collective_kind_name(CollectiveKind kind) {
  switch (kind) {
  case CollectiveKind::transfer:
    return "transfer";
  case CollectiveKind::all_gather:
    return "all-gather";
  case CollectiveKind::reduce_scatter:
    return "reduce-scatter";
  case CollectiveKind::all_reduce:
    return "all-reduce";
  }
  return "?";
}

namespace {

// Reference values, shared by every participant that holds a copy of them (an all-reduce on 72
// chips would otherwise keep 72 copies of every sum).
using Values = std::shared_ptr<const std::vector<double>>;
Values shared(std::vector<double> values) {
  return std::make_shared<const std::vector<double>>(std::move(values));
}

// A tensor one participant holds for one piece of a collective, with its reference values.
struct Held {
  TiledTensor tensor;
  Values values;
};
// Keyed by (participant, piece); a map, so that tensors stay put while others are added.
using Holdings = std::map<std::pair<uint32_t, uint32_t>, Held>;
// Where a piece goes on a participant: (participant, piece) -> the tensor to write.
using Destination = std::function<TiledTensor(uint32_t, uint32_t)>;

// Participants split into fully connected groups of equal size (the nodes of a rack or of a
// Dragonfly): members[m][g] is the participant at position g of group m.
struct Groups {
  std::vector<std::vector<uint32_t>> members;
  std::vector<uint32_t> group_of, position_of; // per participant

  uint32_t size() const { return static_cast<uint32_t>(members.front().size()); }
  // The participants at position g of every group, in group order.
  std::vector<uint32_t> column(uint32_t g) const {
    std::vector<uint32_t> out;
    for (const auto& group : members) out.push_back(group[g]);
    return out;
  }
};

// Groups (of Groups) split into racks: sets of groups of which every pair has a cable, as the nodes
// of a rack in a Dragonfly, where every pair of racks has cables.
struct Racks {
  std::vector<std::vector<uint32_t>> groups; // per rack, its groups in group order
  std::vector<uint32_t> rack_of_group;
  // cables[r][s]: each cable from a participant of rack r to one of rack s (r != s), as the two
  // participants, in participant order; gateways[r][s]: their participants of rack r.
  std::vector<std::vector<std::vector<std::pair<uint32_t, uint32_t>>>> cables;
  std::vector<std::vector<std::vector<uint32_t>>> gateways;
};

// Algorithm names as CompiledSystem::algorithm reports them.
constexpr const char* kDirect = "direct";
constexpr const char* kDisjointRoutes = "disjoint-routes"; // a transfer's (the only one it has)
constexpr const char* kRing = "ring";
constexpr const char* kHierarchicalDirect = "hierarchical-direct";
constexpr const char* kHierarchicalRing = "hierarchical-ring";
constexpr const char* kHierarchicalGateway = "hierarchical-gateway";
// The smallest group worth a hierarchy: two ring neighbours are no node.
constexpr uint32_t kMinGroup = 3;

class CollectiveCompiler {
public:
  CollectiveCompiler(const SystemConfig& system, const CollectiveShape& shape)
      : system_(system), shape_(shape), topology_(system), schedule_(system, topology_),
        column_ring_(shape.algorithm == CollectiveAlgorithm::hierarchical_ring) {
    chips_ = shape.chips;
    if (chips_.empty())
      for (uint32_t c = 0; c < system.chips(); ++c) chips_.push_back(c);
    check_shape();
    outputs_.resize(system.chips());
  }

  // Whether compile() went through racks of groups (racks_).
  bool through_racks() const { return racks_.has_value(); }

  CompiledSystem compile() {
    const std::string algorithm = choose_algorithm();
    for (uint32_t c = 0; c < system_.chips(); ++c)
      schedule_.builder(c).begin_region(collective_kind_name(shape_.kind), RegionCategory::collectives);
    switch (shape_.kind) {
    case CollectiveKind::transfer:
      transfer();
      break;
    case CollectiveKind::all_gather:
      all_gather();
      break;
    case CollectiveKind::reduce_scatter:
    case CollectiveKind::all_reduce:
      reduce();
      break;
    }
    return finish(algorithm);
  }

private:
  uint32_t n() const { return static_cast<uint32_t>(chips_.size()); }
  const ChipConfig& config_of(uint32_t chip) const { return system_.config_of(chip); }
  unsigned vector_bytes() const { return config_of(chips_[0]).geometry.vector_bytes(); }

  void check_shape() {
    const std::string what = collective_kind_name(shape_.kind);
    if (shape_.rows < 1 || shape_.cols < 1)
      throw InputError(fmt::format("{}: rows and cols must be at least 1", what));
    std::vector<uint32_t> sorted = chips_;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      throw InputError(fmt::format("{}: a chip is named twice", what));
    for (uint32_t c : chips_)
      if (c >= system_.chips())
        throw InputError(
            fmt::format("{}: chip {} out of range (the system has {} chips)", what, c, system_.chips()));
    if (shape_.kind == CollectiveKind::transfer && chips_.size() != 2)
      throw InputError(fmt::format("transfer: expected two chips (from, to), got {}", chips_.size()));
    if (shape_.kind == CollectiveKind::transfer && shape_.algorithm != CollectiveAlgorithm::automatic)
      throw InputError(
          "transfer: no algorithm to choose (a transfer takes every route that shares no cable)");
    if (chips_.size() < 2) throw InputError(fmt::format("{}: needs at least two chips", what));
    for (uint32_t c : chips_)
      if (config_of(c).geometry.vector_bytes() != vector_bytes())
        throw InputError(
            fmt::format("{}: chips {} and {} have different vector lengths", what, chips_[0], c));
    if (shape_.kind == CollectiveKind::reduce_scatter && shape_.rows < n())
      throw InputError(
          fmt::format("{}: {} rows cannot be split over {} chips (one shard of at least one row each)", what,
                      shape_.rows, n()));
    // What each participant holds at the end besides its input: a transfer's receiver holds only
    // its Y, an all-gather every chip's block, a reduce-scatter its shard of the sums.
    std::vector<TensorSize> held{{"X", shape_.dtype, shape_.rows, shape_.cols}};
    if (shape_.kind == CollectiveKind::all_gather)
      held.push_back({"Y", shape_.dtype, uint64_t{shape_.rows} * n(), shape_.cols});
    if (shape_.kind == CollectiveKind::reduce_scatter)
      held.push_back({"R", shape_.dtype, (uint64_t{shape_.rows} + n() - 1) / n(), shape_.cols});
    if (shape_.kind == CollectiveKind::all_reduce)
      held.push_back({"Y", shape_.dtype, shape_.rows, shape_.cols});
    for (uint32_t c : chips_) require_mem(config_of(c), fmt::format("{} on chip {}", what, c), held);
  }

  // Per system chip, its participant number, or -1 for a chip that does not take part.
  std::vector<int64_t> participant_index() const {
    std::vector<int64_t> index(system_.chips(), -1);
    for (uint32_t i = 0; i < n(); ++i) index[chips_[i]] = i;
    return index;
  }

  bool fully_connected() const {
    for (uint32_t a : chips_)
      for (uint32_t b : chips_)
        if (a != b && !topology_.direct(a, b)) return false;
    return true;
  }

  // Greedy: each participant not yet grouped starts a group and takes, in participant order,
  // every neighbour connected to all the group so far. A hierarchy needs at least two groups of
  // the same size, at least kMinGroup each.
  std::optional<Groups> find_groups() const {
    const std::vector<int64_t> index = participant_index();
    Groups groups;
    groups.group_of.assign(n(), 0);
    groups.position_of.assign(n(), 0);
    std::vector<bool> grouped(n());
    for (uint32_t i = 0; i < n(); ++i) {
      if (grouped[i]) continue;
      std::vector<uint32_t> group{i};
      std::vector<uint32_t> candidates;
      for (const Hop& hop : topology_.hops(chips_[i]))
        if (index[hop.to] >= 0 && !grouped[size_t(index[hop.to])])
          candidates.push_back(uint32_t(index[hop.to]));
      std::sort(candidates.begin(), candidates.end());
      candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
      for (uint32_t c : candidates)
        if (std::all_of(group.begin(), group.end(),
                        [&](uint32_t g) { return topology_.direct(chips_[g], chips_[c]); }))
          group.push_back(c);
      for (uint32_t g = 0; g < group.size(); ++g) {
        grouped[group[g]] = true;
        groups.group_of[group[g]] = static_cast<uint32_t>(groups.members.size());
        groups.position_of[group[g]] = g;
      }
      groups.members.push_back(std::move(group));
    }
    const size_t size = groups.members.front().size();
    if (groups.members.size() < 2 || size < kMinGroup) return std::nullopt;
    for (const auto& group : groups.members)
      if (group.size() != size) return std::nullopt;
    return groups;
  }

  std::string choose_algorithm() {
    if (shape_.kind == CollectiveKind::transfer) return kDisjointRoutes;
    const bool full = fully_connected();
    const bool gateway = shape_.algorithm == CollectiveAlgorithm::hierarchical_gateway;
    const bool hierarchical = shape_.algorithm == CollectiveAlgorithm::hierarchical_direct ||
                              shape_.algorithm == CollectiveAlgorithm::hierarchical_ring || gateway;
    if (hierarchical || (shape_.algorithm == CollectiveAlgorithm::automatic && !full)) {
      groups_ = find_groups();
      if (groups_ && (gateway || shape_.algorithm == CollectiveAlgorithm::automatic)) {
        auto cabled = group_gateways();
        if (every_pair_cabled(cabled)) {
          gateways_ = std::move(cabled);
        } else {
          racks_ = find_racks(cabled);
          if (racks_) gateways_ = std::move(cabled);
        }
      }
      if (gateway && groups_ && !gateways_)
        throw InputError(
            fmt::format("{}: hierarchical-gateway needs a cable between every pair of groups, or "
                        "racks of such groups with a cable between every pair",
                        collective_kind_name(shape_.kind)));
      if (gateways_) return kHierarchicalGateway;
      if (groups_) return column_ring_ ? kHierarchicalRing : kHierarchicalDirect;
      if (hierarchical)
        throw InputError(
            fmt::format("{}: the chips do not split into fully connected groups of equal size (at least "
                        "{} chips each, at least two groups)",
                        collective_kind_name(shape_.kind), kMinGroup));
    }
    if (shape_.algorithm == CollectiveAlgorithm::direct) return kDirect;
    if (shape_.algorithm == CollectiveAlgorithm::ring || !full) {
      if (shape_.kind == CollectiveKind::all_gather && !full && shape_.algorithm != CollectiveAlgorithm::ring)
        return kDirect;
      ring_ = topology_.ring(chips_);
      if (!ring_) {
        if (shape_.algorithm == CollectiveAlgorithm::ring)
          throw InputError(
              fmt::format("{}: the chips have no ring of direct links", collective_kind_name(shape_.kind)));
        return kDirect;
      }
      return kRing;
    }
    return kDirect;
  }

  // Input data of `chip`: seeded per chip so that every chip's tensor differs.
  uint64_t seed_of(uint32_t chip) const { return shape_.seed + chip; }
  std::vector<uint8_t> input_of(uint32_t chip) const {
    return random_tensor(shape_.dtype, shape_.rows, shape_.cols, seed_of(chip));
  }
  bool reference() const { return shape_.with_reference; }
  // The reference values of rows [first, first + count) of `chip`'s input (none without the
  // reference).
  Values input_values(const std::vector<uint8_t>& data, uint32_t first, uint32_t count) const {
    if (!reference()) return nullptr;
    const unsigned bytes = isa::dtype_bytes(shape_.dtype);
    return shared(
        element_values(shape_.dtype, sub_block(data, bytes, shape_.cols, first, count, 0, shape_.cols)));
  }

  // The slices of one side, starting after those the previous tensors of that side took, so
  // that operands read together sit in different slices (their bank ports are separate).
  std::vector<unsigned> candidates(uint32_t chip, bool east, unsigned take) {
    auto mems = side_slices(schedule_.builder(chip).schedule(), east);
    unsigned& used = side_used_[{chip, east}];
    std::rotate(mems.begin(), mems.begin() + (used % mems.size()), mems.end());
    used += take;
    return mems;
  }

  // A tensor of `rows` that starts at zero (the program stores no image of it).
  TiledTensor place(uint32_t chip, const std::string& name, uint32_t rows, bool east, bool named = true) {
    const unsigned bytes = isa::dtype_bytes(shape_.dtype);
    const unsigned per_side = config_of(chip).geometry.mem_slices_per_hemisphere;
    const unsigned groups = std::max(1u, std::min({2u, rows, per_side / bytes}));
    return place_tiled(schedule_.builder(chip), name, shape_.dtype, rows, shape_.cols,
                       candidates(chip, east, groups * bytes), groups, {}, named);
  }

  // Rows [first, first + rows) of `chip`'s input. The program declares each tile as a window of
  // the chip's seeded stream (the rows of random_tensor(dtype, rows, cols, seed_of(chip))): it
  // holds a seed per tile, not the bytes, however large the tensor.
  TiledTensor place_input(uint32_t chip, const std::string& name, uint32_t first, uint32_t rows, bool east) {
    TiledTensor tensor = place(chip, name, rows, east, false);
    const unsigned vector = vector_bytes();
    for (unsigned t = 0; t < tensor.tile_count(); ++t) {
      Symbol& tile = tensor.tiles[t];
      tile.name = tensor.tile_count() == 1 ? name : fmt::format("{}.c{}", name, t);
      DeclaredTensor declared = random_declaration(
          tile, random_skip(seed_of(chip), uint64_t{first} * shape_.cols + uint64_t{t} * vector), vector);
      declared.row_stride = shape_.cols;
      schedule_.builder(chip).add_random(tile, declared);
    }
    return tensor;
  }

  void expect(uint32_t chip, const TiledTensor& tensor, const Values& values) {
    if (!values) return;
    const unsigned vector = vector_bytes();
    for (unsigned t = 0; t < tensor.tile_count(); ++t) {
      const Symbol& symbol = tensor.tiles[t];
      std::vector<double> v;
      for (uint32_t r = 0; r < tensor.rows; ++r)
        for (uint32_t c = 0; c < symbol.cols; ++c)
          v.push_back((*values)[size_t(r) * tensor.cols + t * vector + c]);
      outputs_[chip].push_back(make_expected(symbol.name, shape_.dtype, std::move(v), {}));
    }
  }

  using Flow = SystemSchedule::Flow;
  Flow flow(uint32_t from, const TiledTensor& src, uint32_t to, const TiledTensor& dst) const {
    return schedule_.flow(from, src, to, dst);
  }
  void move_tensor(const Flow& f) { schedule_.interleave({f}); }
  void interleave(const std::vector<Flow>& flows) { schedule_.interleave(flows); }

  // X travels over every route that shares no cable direction with another (the links in
  // parallel, as the bandwidth bound assumes), a block of rows on each, all at once.
  void transfer() {
    const uint32_t from = chips_[0], to = chips_[1];
    const TiledTensor x = place_input(from, "X", 0, shape_.rows, true);
    const TiledTensor y = place(to, "Y", shape_.rows, true);
    hops_ = topology_.route(from, to).size(); // the shortest; it throws when there is none
    const auto routes = topology_.disjoint_routes(from, to);
    const auto rows = rows_per_route(routes, x);
    std::vector<TiledTensor> blocks; // the flows point into it: no reallocation
    blocks.reserve(2 * routes.size());
    std::vector<Flow> flows;
    uint32_t first = 0;
    for (size_t i = 0; i < routes.size(); ++i) {
      if (rows[i] == 0) continue;
      blocks.push_back(tiled_rows(x, first, rows[i]));
      blocks.push_back(tiled_rows(y, first, rows[i]));
      flows.push_back({routes[i], &blocks[blocks.size() - 2], &blocks.back()});
      first += rows[i];
    }
    interleave(flows);
    if (reference()) expect(to, y, input_values(input_of(from), 0, shape_.rows));
  }

  // The rows of x each route carries: every row in turn to the route that would deliver it
  // first, a route of h hops starting h link latencies late and then taking a row's vectors'
  // link time per row, so that the routes finish together and a long route only carries rows
  // when the message is large enough to pay for its latency.
  std::vector<uint32_t> rows_per_route(const std::vector<std::vector<Hop>>& routes,
                                       const TiledTensor& x) const {
    const ChipConfig& config = config_of(chips_[0]);
    const uint64_t latency = config.timing[isa::TimingParam::c2c_link];
    const uint64_t row_cycles =
        uint64_t{x.tile_count()} * isa::dtype_bytes(x.dtype) * c2c_vector_cycles(config);
    std::vector<uint32_t> rows(routes.size());
    for (uint32_t r = 0; r < x.rows; ++r) {
      size_t best = 0;
      for (size_t i = 1; i < routes.size(); ++i)
        if (routes[i].size() * latency + (rows[i] + 1) * row_cycles <
            routes[best].size() * latency + (rows[best] + 1) * row_cycles)
          best = i;
      ++rows[best];
    }
    return rows;
  }

  // The participants in the order the flat schedule visits them: around the ring, or as given.
  std::vector<uint32_t> flat_members() const {
    std::vector<uint32_t> members;
    if (ring_) {
      const std::vector<int64_t> index = participant_index();
      for (uint32_t chip : *ring_) members.push_back(static_cast<uint32_t>(index[chip]));
    } else {
      for (uint32_t i = 0; i < n(); ++i) members.push_back(i);
    }
    return members;
  }

  // The member of `members` (one group) at the position of participant `i` in its own group.
  uint32_t in_group(const std::vector<uint32_t>& members, uint32_t i) const {
    return members[groups_->position_of[i]];
  }

  // Every chip gets every chip's X: Y.b<j> is chip j's. Flat: X goes to every peer directly or
  // around the ring. Hierarchical: first to the chips at the same position of the other groups,
  // then inside each group. A chip's own block is a copy through the VXM.
  void all_gather() {
    Holdings held;
    std::vector<TiledTensor> y(size_t(n()) * n());
    for (uint32_t i = 0; i < n(); ++i)
      held[{i, i}] = {place_input(chips_[i], "X", 0, shape_.rows, true), nullptr};
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t j = 0; j < n(); ++j)
        y[size_t(i) * n() + j] = place(chips_[i], fmt::format("Y.b{}", j), shape_.rows, j % 2 == 0);
    // The reference's inputs once every tensor is placed: a size that does not fit fails first.
    for (uint32_t i = 0; reference() && i < n(); ++i)
      held[{i, i}].values = input_values(input_of(chips_[i]), 0, shape_.rows);
    const Destination into_y = [&](uint32_t i, uint32_t j) { return y[size_t(i) * n() + j]; };
    std::vector<uint32_t> all(n());
    std::iota(all.begin(), all.end(), 0u);
    const auto owner = [](uint32_t j) { return j; };
    if (racks_) {
      gather_through_racks(held, into_y);
    } else if (gateways_) {
      gather_through_gateways(held, into_y);
    } else if (groups_) {
      for (uint32_t g = 0; g < groups_->size(); ++g) {
        const auto column = groups_->column(g);
        spread(column, column, owner, held, into_y, column_ring_);
      }
      for (const auto& group : groups_->members)
        spread(
            group, all, [&](uint32_t j) { return in_group(group, j); }, held, into_y, false);
    } else {
      spread(flat_members(), all, owner, held, into_y, ring_.has_value());
    }
    const VExpr copy = combine_expression(Opcode::v_add, shape_.dtype, 1);
    for (uint32_t i = 0; i < n(); ++i)
      schedule_vectors(schedule_.builder(chips_[i]).schedule(), copy, {&held.at({i, i}).tensor},
                       y[size_t(i) * n() + i]);
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t j = 0; j < n(); ++j) expect(chips_[i], y[size_t(i) * n() + j], held.at({j, j}).values);
    measure_hops();
  }

  // Reduce-scatter (and all-reduce: then every reduced shard goes to every chip). The rows split
  // into pieces as evenly as possible, one per participant (an all-reduce of fewer rows than
  // participants: one per row, owned by groups spread evenly over the groups). Flat: every
  // piece is summed onto its owner directly or around the ring. Hierarchical: inside each group
  // every piece is summed onto the member at its owner's position (the group's links in
  // parallel), then across the groups onto the owner, among the chips at that position; an
  // all-reduce then sends the sums back the same way in reverse.
  void reduce() {
    const bool all = shape_.kind == CollectiveKind::all_reduce;
    const uint32_t pieces = all ? std::min(shape_.rows, n()) : n();
    std::vector<uint32_t> owner_of(pieces);
    std::iota(owner_of.begin(), owner_of.end(), 0u);
    if (pieces < n() && groups_) {
      // The owning groups spread evenly over all groups, so that the column exchanges cross every
      // rack's cables, not the first racks' only.
      const uint64_t per_group = groups_->size(), groups = groups_->members.size();
      const uint64_t owning = (pieces + per_group - 1) / per_group;
      for (uint32_t p = 0; p < pieces; ++p)
        owner_of[p] = groups_->members[p / per_group * groups / owning][p % per_group];
    }
    const auto owner = [&](uint32_t p) { return owner_of[p]; };
    Holdings x;
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t p = 0; p < pieces; ++p) {
        const RowShard s = row_shard(shape_.rows, pieces, p);
        x[{i, p}] = {place_input(chips_[i], fmt::format("X.s{}", p), s.first, s.count, p % 2 == 0), nullptr};
      }
    std::map<std::pair<uint32_t, uint32_t>, TiledTensor> out;
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t p = 0; p < pieces; ++p)
        if (all || owner(p) == i)
          out[{i, p}] = place(chips_[i], all ? fmt::format("Y.s{}", p) : "R",
                              row_shard(shape_.rows, pieces, p).count, p % 2 == 1);
    // The reference's inputs once the inputs and outputs are placed: a size that does not fit
    // fails first.
    for (uint32_t i = 0; reference() && i < n(); ++i) {
      const auto data = input_of(chips_[i]);
      for (uint32_t p = 0; p < pieces; ++p) {
        const RowShard s = row_shard(shape_.rows, pieces, p);
        x[{i, p}].values = input_values(data, s.first, s.count);
      }
    }
    const Destination into_out = [&](uint32_t i, uint32_t p) { return out.at({i, p}); };
    std::vector<uint32_t> every(pieces);
    std::iota(every.begin(), every.end(), 0u);
    Holdings sums;
    const Destination scratch = [&](uint32_t i, uint32_t p) {
      return place(chips_[i], "", row_shard(shape_.rows, pieces, p).count, p % 2 == 1, false);
    };
    if (racks_) {
      reduce_through_racks(every, owner, x, scratch, into_out, sums, all);
    } else if (gateways_) {
      reduce_through_gateways(every, owner, x, scratch, into_out, sums, all);
    } else if (groups_) {
      Holdings group_sums;
      for (const auto& group : groups_->members)
        reduce_to(
            group, every, [&](uint32_t p) { return in_group(group, owner(p)); }, x, scratch, group_sums,
            false);
      x.clear(); // each phase's reference values are dropped once the next phase has its sums
      for (uint32_t g = 0; g < groups_->size(); ++g)
        reduce_to(groups_->column(g), pieces_at(every, owner, g), owner, group_sums, into_out, sums,
                  column_ring_);
      group_sums.clear();
      if (all) {
        for (uint32_t g = 0; g < groups_->size(); ++g)
          spread(groups_->column(g), pieces_at(every, owner, g), owner, sums, into_out, column_ring_);
        for (const auto& group : groups_->members)
          spread(
              group, every, [&](uint32_t p) { return in_group(group, owner(p)); }, sums, into_out, false);
      }
    } else {
      const auto members = flat_members();
      reduce_to(members, every, owner, x, into_out, sums, ring_.has_value());
      x.clear();
      if (all) spread(members, every, owner, sums, into_out, ring_.has_value());
    }
    for (const auto& [key, tensor] : out) expect(chips_[key.first], tensor, sums.at(key).values);
    measure_hops();
  }

  // The hierarchical reduce when every pair of groups has a cable (gateways_). Inside each group
  // every piece is summed onto the member cabled to its owner's group (its own group's pieces:
  // onto the owner), as the column schedule sums onto the member at the owner's position; then
  // each owner sums its group's sum with those of the other groups' gateways to it, one cable and
  // at most one link inside its group away. The column schedule's routes between chips at one
  // position cross links inside both groups (on rack72 448 of its 576 routes are local, cable,
  // local), which the group phase keeps busy, so its phases could not overlap. An all-reduce then
  // sends every sum back the same way.
  void reduce_through_gateways(const std::vector<uint32_t>& pieces,
                               const std::function<uint32_t(uint32_t)>& owner, Holdings& x,
                               const Destination& scratch, const Destination& into_out, Holdings& sums,
                               bool all) {
    std::vector<uint32_t> every(groups_->members.size());
    std::iota(every.begin(), every.end(), 0u);
    reduce_across_groups(every, pieces, owner, x, scratch, into_out, sums);
    x.clear();
    if (all) spread_across_groups(every, pieces, owner, sums, into_out);
  }

  // The same one level up, when the groups split into racks (racks_): inside each rack every
  // piece is summed as above onto its owner, or (the pieces of another rack) onto one of the
  // rack's gateways to the owner's rack, taken in turn; then each owner sums its rack's sum with
  // those of the other racks' gateways. A Dragonfly's column schedule sums between the chips at
  // one position of every node, up to six hops apart over links that the node phase keeps busy.
  void reduce_through_racks(const std::vector<uint32_t>& pieces,
                            const std::function<uint32_t(uint32_t)>& owner, Holdings& x,
                            const Destination& scratch, const Destination& into_out, Holdings& sums,
                            bool all) {
    const Racks& racks = *racks_;
    const auto rack_of = [&](uint32_t i) { return racks.rack_of_group[groups_->group_of[i]]; };
    const size_t count = racks.groups.size();
    // target[r][p]: where rack r sums piece p (pieces are numbered 0, 1, ...).
    std::vector<std::vector<uint32_t>> target(count, std::vector<uint32_t>(pieces.size()));
    for (uint32_t r = 0; r < count; ++r) {
      std::vector<size_t> taken(count);
      for (uint32_t p : pieces) {
        const uint32_t s = rack_of(owner(p));
        const auto& gateways = racks.gateways[r][s];
        target[r][p] = s == r ? owner(p) : gateways[taken[s]++ % gateways.size()];
      }
    }
    const auto summed_in = [&](uint32_t r) { return [&, r](uint32_t p) { return target[r][p]; }; };
    Holdings rack_sums;
    for (uint32_t r = 0; r < count; ++r)
      reduce_across_groups(racks.groups[r], pieces, summed_in(r), x, scratch, scratch, rack_sums);
    x.clear();
    // A piece's owner and every other rack's gateway that summed it.
    const auto across_racks = [&](uint32_t p) {
      std::vector<uint32_t> members{owner(p)};
      for (uint32_t r = 0; r < count; ++r)
        if (r != rack_of(owner(p))) members.push_back(target[r][p]);
      return members;
    };
    for (uint32_t p : pieces) reduce_to(across_racks(p), {p}, owner, rack_sums, into_out, sums, false);
    rack_sums.clear();
    if (!all) return;
    for (uint32_t p : pieces) spread(across_racks(p), {p}, owner, sums, into_out, false);
    for (uint32_t r = 0; r < count; ++r)
      spread_across_groups(racks.groups[r], pieces, summed_in(r), sums, into_out);
  }

  // Where group m sums piece p on its way to target(p): the target, or m's gateway to its group.
  std::function<uint32_t(uint32_t)> summed_at(uint32_t m,
                                              const std::function<uint32_t(uint32_t)>& target) const {
    return [this, m, &target](uint32_t p) {
      const uint32_t to = groups_->group_of[target(p)];
      return to == m ? target(p) : (*gateways_)[m][to];
    };
  }

  // target and the gateway to its group of every other group of `groups`.
  std::vector<uint32_t> with_gateways(const std::vector<uint32_t>& groups, uint32_t target) const {
    std::vector<uint32_t> members{target};
    const uint32_t to = groups_->group_of[target];
    for (uint32_t m : groups)
      if (m != to) members.push_back((*gateways_)[m][to]);
    return members;
  }

  // Sums every piece over the members of `groups` (each pair of them cabled) onto target(p), one of
  // them, into dst: inside each group onto summed_at, then onto the target with_gateways.
  void reduce_across_groups(const std::vector<uint32_t>& groups, const std::vector<uint32_t>& pieces,
                            const std::function<uint32_t(uint32_t)>& target, const Holdings& in,
                            const Destination& scratch, const Destination& dst, Holdings& out) {
    Holdings group_sums;
    for (uint32_t m : groups)
      reduce_to(groups_->members[m], pieces, summed_at(m, target), in, scratch, group_sums, false);
    for (const auto& [t, own] : by_target(pieces, target))
      reduce_to(with_gateways(groups, t), own, target, group_sums, dst, out, false);
  }

  // The reverse: each target's pieces to the gateways to its group, then inside every group.
  void spread_across_groups(const std::vector<uint32_t>& groups, const std::vector<uint32_t>& pieces,
                            const std::function<uint32_t(uint32_t)>& target, Holdings& held,
                            const Destination& dst) {
    for (const auto& [t, own] : by_target(pieces, target))
      spread(with_gateways(groups, t), own, target, held, dst, false);
    for (uint32_t m : groups) spread(groups_->members[m], pieces, summed_at(m, target), held, dst, false);
  }

  // The pieces per target, in participant order.
  static std::map<uint32_t, std::vector<uint32_t>>
  by_target(const std::vector<uint32_t>& pieces, const std::function<uint32_t(uint32_t)>& target) {
    std::map<uint32_t, std::vector<uint32_t>> out;
    for (uint32_t p : pieces) out[target(p)].push_back(p);
    return out;
  }

  // The hierarchical all-gather through gateways (gateways_): every block to every member of its
  // group, then over the cable from the group's gateway to each other group's gateway to it, which
  // passes it on inside its own group.
  void gather_through_gateways(Holdings& held, const Destination& into_y) {
    std::vector<uint32_t> every(groups_->members.size());
    std::iota(every.begin(), every.end(), 0u);
    gather_across_groups(every, held, into_y);
  }

  // The same one level up (racks_): inside each rack as above; then every block of a rack goes to
  // each other rack over one of the cables between them (the blocks take the cables in turn), and
  // inside that rack from the chip it reached through the gateways of its groups.
  void gather_through_racks(Holdings& held, const Destination& into_y) {
    const Racks& racks = *racks_;
    const auto count = static_cast<uint32_t>(racks.groups.size());
    const auto rack_of = [&](uint32_t i) { return racks.rack_of_group[groups_->group_of[i]]; };
    for (const auto& groups : racks.groups) gather_across_groups(groups, held, into_y);
    // arrived[s][j]: the participant of rack s that block j reached.
    std::vector<std::vector<uint32_t>> arrived(count, std::vector<uint32_t>(n(), UINT32_MAX));
    for (uint32_t r = 0; r < count; ++r)
      for (uint32_t s = 0; s < count; ++s) {
        if (s == r) continue;
        const auto& cables = racks.cables[r][s];
        size_t next = 0;
        for (uint32_t j = 0; j < n(); ++j) {
          if (rack_of(j) != r) continue;
          const auto [a, b] = cables[next++ % cables.size()];
          spread(
              {a, b}, {j}, [a = a](uint32_t) { return a; }, held, into_y, false);
          arrived[s][j] = b;
        }
      }
    for (uint32_t s = 0; s < count; ++s) {
      std::vector<uint32_t> others;
      for (uint32_t j = 0; j < n(); ++j)
        if (rack_of(j) != s) others.push_back(j);
      spread_across_groups(
          racks.groups[s], others, [&](uint32_t j) { return arrived[s][j]; }, held, into_y);
    }
  }

  // gather_through_gateways over `groups` (each pair of them cabled): their members get the blocks
  // of all their members.
  void gather_across_groups(const std::vector<uint32_t>& groups, Holdings& held, const Destination& into_y) {
    const auto& gateway = *gateways_;
    const auto& members = groups_->members;
    const auto owner = [](uint32_t j) { return j; };
    for (uint32_t m : groups) spread(members[m], members[m], owner, held, into_y, false);
    for (uint32_t m : groups)
      for (uint32_t k : groups)
        if (k != m)
          spread(
              {gateway[m][k], gateway[k][m]}, members[m], [&](uint32_t) { return gateway[m][k]; }, held,
              into_y, false);
    std::vector<bool> among(members.size());
    for (uint32_t m : groups) among[m] = true;
    for (uint32_t k : groups) {
      std::vector<uint32_t> others;
      for (uint32_t j = 0; j < n(); ++j)
        if (among[groups_->group_of[j]] && groups_->group_of[j] != k) others.push_back(j);
      spread(
          members[k], others, [&](uint32_t j) { return gateway[k][groups_->group_of[j]]; }, held, into_y,
          false);
    }
  }

  // group_gateways()[m][k]: the participant of group m with a cable to a participant of group k
  // (m != k; the lowest numbered), or UINT32_MAX when they have none.
  std::vector<std::vector<uint32_t>> group_gateways() const {
    const size_t groups = groups_->members.size();
    const std::vector<int64_t> index = participant_index();
    std::vector<std::vector<uint32_t>> out(groups, std::vector<uint32_t>(groups, UINT32_MAX));
    for (uint32_t m = 0; m < groups; ++m)
      for (uint32_t a : groups_->members[m])
        for (const Hop& hop : topology_.hops(chips_[a])) {
          if (index[hop.to] < 0) continue;
          const uint32_t k = groups_->group_of[size_t(index[hop.to])];
          if (k != m && out[m][k] == UINT32_MAX) out[m][k] = a;
        }
    return out;
  }

  static bool every_pair_cabled(const std::vector<std::vector<uint32_t>>& gateway) {
    for (size_t m = 0; m < gateway.size(); ++m)
      for (size_t k = 0; k < gateway.size(); ++k)
        if (m != k && gateway[m][k] == UINT32_MAX) return false;
    return true;
  }

  // Greedy, as find_groups one level up: each group not yet in a rack starts one and takes, in
  // order, every group cabled to all of the rack so far. Racks need at least two racks of the same
  // size, at least kMinGroup groups each, and a cable between every pair of racks.
  std::optional<Racks> find_racks(const std::vector<std::vector<uint32_t>>& gateway) const {
    const auto groups = static_cast<uint32_t>(gateway.size());
    Racks racks;
    racks.rack_of_group.assign(groups, UINT32_MAX);
    for (uint32_t m = 0; m < groups; ++m) {
      if (racks.rack_of_group[m] != UINT32_MAX) continue;
      std::vector<uint32_t> rack{m};
      for (uint32_t k = m + 1; k < groups; ++k)
        if (racks.rack_of_group[k] == UINT32_MAX &&
            std::all_of(rack.begin(), rack.end(), [&](uint32_t g) { return gateway[g][k] != UINT32_MAX; }))
          rack.push_back(k);
      for (uint32_t g : rack) racks.rack_of_group[g] = static_cast<uint32_t>(racks.groups.size());
      racks.groups.push_back(std::move(rack));
    }
    const size_t size = racks.groups.front().size(), count = racks.groups.size();
    if (count < 2 || size < kMinGroup) return std::nullopt;
    for (const auto& rack : racks.groups)
      if (rack.size() != size) return std::nullopt;
    const std::vector<int64_t> index = participant_index();
    racks.cables.assign(count, std::vector<std::vector<std::pair<uint32_t, uint32_t>>>(count));
    racks.gateways.assign(count, std::vector<std::vector<uint32_t>>(count));
    for (uint32_t a = 0; a < n(); ++a) {
      const uint32_t r = racks.rack_of_group[groups_->group_of[a]];
      for (const Hop& hop : topology_.hops(chips_[a])) {
        if (index[hop.to] < 0) continue;
        const auto b = static_cast<uint32_t>(index[hop.to]);
        const uint32_t s = racks.rack_of_group[groups_->group_of[b]];
        if (s == r) continue;
        racks.cables[r][s].emplace_back(a, b);
        auto& gateways = racks.gateways[r][s];
        if (gateways.empty() || gateways.back() != a) gateways.push_back(a);
      }
    }
    for (uint32_t r = 0; r < count; ++r)
      for (uint32_t s = 0; s < count; ++s)
        if (r != s && racks.gateways[r][s].empty()) return std::nullopt;
    return racks;
  }

  // The pieces whose owner sits at position g of its group.
  std::vector<uint32_t> pieces_at(const std::vector<uint32_t>& pieces,
                                  const std::function<uint32_t(uint32_t)>& owner, uint32_t g) const {
    std::vector<uint32_t> out;
    for (uint32_t p : pieces)
      if (groups_->position_of[owner(p)] == g) out.push_back(p);
    return out;
  }

  // The hops of the longest route from the first participant: the latency bound's distance.
  void measure_hops() {
    for (uint32_t j = 1; j < n(); ++j) hops_ = std::max(hops_, topology_.route(chips_[0], chips_[j]).size());
  }

  // out = sum(inputs) on `chip`, in groups of at most `width` inputs: partial sums of each group,
  // then their sum. A group's inputs are read in one cycle, each from slices of its own, so the
  // width is bounded by the MEM slices (half of them, the rest hold the sums) and by 8 (a wider
  // tree needs more VXM queues in one cycle). Returns the reference, in the same order (none
  // without the reference: `values` is then empty).
  Values sum_into(uint32_t chip, std::vector<const TiledTensor*> inputs,
                  std::vector<std::vector<double>> values, const TiledTensor& out) {
    const size_t width = std::clamp<size_t>(
        config_of(chip).geometry.mem_slices() / (2 * isa::dtype_bytes(shape_.dtype)), 2, 8);
    Schedule& schedule = schedule_.builder(chip).schedule();
    const uint32_t rows = out.rows;
    std::deque<TiledTensor> partials; // addresses stay put while later ones are added
    while (inputs.size() > width) {
      std::vector<const TiledTensor*> next_inputs;
      std::vector<std::vector<double>> next_values;
      for (size_t first = 0; first < inputs.size(); first += width) {
        const size_t count = std::min(width, inputs.size() - first);
        const std::vector<const TiledTensor*> group(inputs.begin() + first, inputs.begin() + first + count);
        const std::vector<std::vector<double>> group_values =
            reference()
                ? std::vector<std::vector<double>>(values.begin() + first, values.begin() + first + count)
                : std::vector<std::vector<double>>{};
        const VExpr sum = combine_expression(Opcode::v_add, shape_.dtype, static_cast<unsigned>(count));
        partials.push_back(place(chip, "", rows, partials.size() % 2 == 0, false));
        schedule_vectors(schedule, sum, group, partials.back());
        schedule.commit();
        next_inputs.push_back(&partials.back());
        if (reference())
          next_values.push_back(
              evaluate(sum, group_values, std::vector<uint32_t>(count, rows), rows, shape_.cols));
      }
      inputs = std::move(next_inputs);
      values = std::move(next_values);
    }
    const VExpr sum = combine_expression(Opcode::v_add, shape_.dtype, static_cast<unsigned>(inputs.size()));
    schedule_vectors(schedule, sum, inputs, out);
    schedule.commit();
    if (!reference()) return nullptr;
    return shared(evaluate(sum, values, std::vector<uint32_t>(inputs.size(), rows), rows, shape_.cols));
  }

  // Sums each piece over `members` (member a's share is `in` at (a, piece)) onto owner(piece),
  // into dst(owner, piece), recorded in `sums`. Direct: every member sends its share straight to
  // the owner, one vector per peer in turn so that all links run at once, and the owner adds its
  // own share and the others' (a balanced tree, own first, then in member order). Ring: at step
  // s the member at position p sends its running sum of the pieces of the member at p - 1 - s to
  // position p + 1, which adds its own share; after |members| - 1 steps each owner holds its sums.
  void reduce_to(const std::vector<uint32_t>& members, const std::vector<uint32_t>& pieces,
                 const std::function<uint32_t(uint32_t)>& owner, const Holdings& in, const Destination& dst,
                 Holdings& sums, bool ring) {
    if (ring) return ring_reduce_to(members, pieces, owner, in, dst, sums);
    std::map<std::pair<uint32_t, uint32_t>, TiledTensor> staged; // (piece, sender), on the owner
    for (uint32_t p : pieces)
      for (size_t a = 0; a < members.size(); ++a)
        if (members[a] != owner(p))
          staged[{p, members[a]}] =
              place(chips_[owner(p)], "", in.at({members[a], p}).tensor.rows, a % 2 == 0, false);
    for (uint32_t a : members) {
      // One sequence per owner: its pieces one after another, so the first arrive early and their
      // sums (and what waits for them) start while the rest travel.
      std::map<uint32_t, std::vector<Flow>> to_owner;
      for (uint32_t p : pieces)
        if (owner(p) != a)
          to_owner[owner(p)].push_back(
              flow(chips_[a], in.at({a, p}).tensor, chips_[owner(p)], staged.at({p, a})));
      std::vector<std::vector<Flow>> sequences;
      for (auto& [o, flows] : to_owner) sequences.push_back(std::move(flows));
      schedule_.interleave_sequences(sequences);
    }
    for (uint32_t p : pieces) {
      const uint32_t o = owner(p);
      std::vector<const TiledTensor*> inputs{&in.at({o, p}).tensor};
      std::vector<std::vector<double>> values;
      if (reference()) values.push_back(*in.at({o, p}).values);
      for (uint32_t a : members)
        if (a != o) {
          inputs.push_back(&staged.at({p, a}));
          if (reference()) values.push_back(*in.at({a, p}).values);
        }
      TiledTensor sum = dst(o, p);
      Values result = sum_into(chips_[o], inputs, values, sum);
      sums[{o, p}] = {std::move(sum), std::move(result)};
    }
  }

  // Position of each member in `members`, and the pieces each member owns (holds).
  std::vector<std::vector<uint32_t>> by_position(const std::vector<uint32_t>& members,
                                                 const std::vector<uint32_t>& pieces,
                                                 const std::function<uint32_t(uint32_t)>& owner) const {
    std::map<uint32_t, size_t> position;
    for (size_t q = 0; q < members.size(); ++q) position[members[q]] = q;
    std::vector<std::vector<uint32_t>> out(members.size());
    for (uint32_t p : pieces) out[position.at(owner(p))].push_back(p);
    return out;
  }

  void ring_reduce_to(const std::vector<uint32_t>& members, const std::vector<uint32_t>& pieces,
                      const std::function<uint32_t(uint32_t)>& owner, const Holdings& in,
                      const Destination& dst, Holdings& sums) {
    const auto k = static_cast<uint32_t>(members.size());
    const auto owned = by_position(members, pieces, owner);
    const VExpr add = combine_expression(Opcode::v_add, shape_.dtype, 2);
    Holdings partial; // (ring position, piece): the running sum there
    for (uint32_t step = 0; step + 1 < k; ++step)
      for (uint32_t p = 0; p < k; ++p) {
        const uint32_t sender = members[p], next = (p + 1) % k, receiver = members[next];
        const bool last = step + 2 == k;
        for (uint32_t piece : owned[(p + 2 * k - 1 - step) % k]) {
          const Held& src = step == 0 ? in.at({sender, piece}) : partial.at({p, piece});
          const uint32_t rows = src.tensor.rows;
          const TiledTensor inbox = place(chips_[receiver], "", rows, step % 2 == 0, false);
          move_tensor(flow(chips_[sender], src.tensor, chips_[receiver], inbox));
          const Held& own = in.at({receiver, piece});
          TiledTensor sum =
              last ? dst(receiver, piece) : place(chips_[receiver], "", rows, step % 2 == 1, false);
          schedule_vectors(schedule_.builder(chips_[receiver]).schedule(), add, {&inbox, &own.tensor}, sum);
          Held result{std::move(sum), reference() ? shared(evaluate(add, {*src.values, *own.values},
                                                                    {rows, rows}, rows, shape_.cols))
                                                  : nullptr};
          if (last)
            sums[{receiver, piece}] = std::move(result);
          else
            partial[{next, piece}] = std::move(result);
        }
      }
  }

  // Copies each piece from holder(piece) (its tensor in `held`) to every other member, into
  // dst(member, piece), recorded in `held`. Direct: the holder sends to all peers, one vector per
  // peer in turn. Ring: the pieces of position q travel q -> q + 1 -> ... -> q - 1.
  void spread(const std::vector<uint32_t>& members, const std::vector<uint32_t>& pieces,
              const std::function<uint32_t(uint32_t)>& holder, Holdings& held, const Destination& dst,
              bool ring) {
    const auto copy_to = [&](uint32_t from, uint32_t to, uint32_t piece) {
      const Held& src = held.at({from, piece});
      Held& copy = held[{to, piece}];
      copy = {dst(to, piece), src.values};
      return flow(chips_[from], src.tensor, chips_[to], copy.tensor);
    };
    if (!ring) {
      for (uint32_t piece : pieces) {
        std::vector<Flow> flows;
        for (uint32_t m : members)
          if (m != holder(piece)) flows.push_back(copy_to(holder(piece), m, piece));
        interleave(flows);
      }
      return;
    }
    const auto k = static_cast<uint32_t>(members.size());
    const auto owned = by_position(members, pieces, holder);
    for (uint32_t step = 0; step + 1 < k; ++step)
      for (uint32_t p = 0; p < k; ++p)
        for (uint32_t piece : owned[(p + k - step) % k])
          move_tensor(copy_to(members[p], members[(p + 1) % k], piece));
  }

  CompiledSystem finish(const std::string& algorithm) {
    const std::string workload =
        fmt::format("{} {}x{} {} over {} chips ({})", collective_kind_name(shape_.kind), shape_.rows,
                    shape_.cols, isa::dtype_name(shape_.dtype), n(), algorithm);
    CompiledSystem result = finish_system(schedule_, workload);
    result.algorithm = algorithm;
    result.outputs = std::move(outputs_);
    result.bounds = bounds(algorithm);
    return result;
  }

  // Lower bounds: every input must reach the farthest output (hops x link latency), and the
  // bytes each chip must receive, spread over its links to the other participants.
  std::vector<Bound> bounds(const std::string&) const {
    const ChipConfig& config = config_of(chips_[0]);
    const double latency = config.timing[isa::TimingParam::c2c_link];
    const double per_vector = c2c_vector_cycles(config);
    const unsigned bytes = isa::dtype_bytes(shape_.dtype);
    const double tiles = (shape_.cols + vector_bytes() - 1) / vector_bytes();
    const double vectors = double(shape_.rows) * tiles * bytes;
    std::vector<bool> member(system_.chips());
    for (uint32_t c : chips_) member[c] = true;
    double links = 0; // the first participant's cables to other participants
    for (const Hop& hop : topology_.hops(chips_[0]))
      if (member[hop.to]) ++links;
    links = std::max(1.0, links);
    double received = 0; // vectors the busiest chip must receive
    switch (shape_.kind) {
    case CollectiveKind::transfer:
      // Every vector leaves the source and enters the destination on one of their cables, whatever
      // the route (parallel cables between two chips share a transfer).
      received = vectors;
      links = double(std::min(topology_.hops(chips_[0]).size(), topology_.hops(chips_[1]).size()));
      break;
    case CollectiveKind::all_gather:
      received = vectors * (n() - 1);
      break;
    case CollectiveKind::reduce_scatter:
      received = vectors * (n() - 1) / n();
      break;
    case CollectiveKind::all_reduce:
      received = 2 * vectors * (n() - 1) / n();
      break;
    }
    return {{"link latency", double(hops_) * latency}, {"link bandwidth", received / links * per_vector}};
  }

  const SystemConfig& system_;
  CollectiveShape shape_;
  Topology topology_;
  SystemSchedule schedule_;
  std::vector<uint32_t> chips_;
  bool column_ring_ = false;
  std::optional<std::vector<uint32_t>> ring_;               // flat ring: chip numbers in ring order
  std::optional<Groups> groups_;                            // set: the schedule is hierarchical
  // Set: through gateways (group_gateways; UINT32_MAX for groups of different racks when racks_ is).
  std::optional<std::vector<std::vector<uint32_t>>> gateways_;
  std::optional<Racks> racks_; // set: through the groups' gateways inside each rack, then the racks' own
  std::map<std::pair<uint32_t, bool>, unsigned> side_used_; // slices taken per chip and side
  std::vector<std::vector<ExpectedOutput>> outputs_;
  size_t hops_ = 1;
};

} // namespace

CompiledSystem compile_collective(const SystemConfig& system, const CollectiveShape& shape) {
  std::optional<CollectiveCompiler> compiler;
  CompiledSystem chosen = compile_keeping_fetch_cycles([&] {
    compiler.emplace(system, shape);
    return compiler->compile();
  });
  // Each alternative is scheduled and the one with fewer cycles kept. An alternative that does
  // not fit (MEM for the staged shards, or the reduction) leaves the first standing.
  const auto try_other = [&](CollectiveAlgorithm algorithm) {
    CollectiveShape other_shape = shape;
    other_shape.algorithm = algorithm;
    try {
      CompiledSystem other =
          compile_keeping_fetch_cycles([&] { return CollectiveCompiler(system, other_shape).compile(); });
      if (other.predicted_cycles < chosen.predicted_cycles) chosen = std::move(other);
    } catch (const InputError&) {
    }
  };
  // Hierarchical: the chips at one position of every group exchange directly or around a ring.
  if (shape.algorithm == CollectiveAlgorithm::automatic && chosen.algorithm == kHierarchicalDirect)
    try_other(CollectiveAlgorithm::hierarchical_ring);
  // A set without direct links between every pair and without groups, up to a rack: the ring
  // against direct routes (beyond a rack, n^2 flows over several hops cost too much to schedule).
  const size_t chips = shape.chips.empty() ? system.chips() : shape.chips.size();
  if (shape.algorithm == CollectiveAlgorithm::automatic && chosen.algorithm == kRing && chips <= kRackChips)
    try_other(CollectiveAlgorithm::direct);
  // Through racks of at most two racks' chips: the columns, whose routes are short there, win some
  // small collectives (each rack level adds a phase each way), and both schedules compile fast.
  if (shape.algorithm == CollectiveAlgorithm::automatic && compiler->through_racks() &&
      chips <= 2 * kRackChips)
    try_other(CollectiveAlgorithm::hierarchical_direct);
  return chosen;
}

} // namespace tsp::compiler
