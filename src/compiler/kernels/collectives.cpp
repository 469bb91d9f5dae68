// Collectives over C2C links (include/tspsim/compiler/collectives.h). Each chip has a program
// builder of its own; what ties them together is the link timing: a Send on chip a at cycle t
// holds its link for c2c_vector_cycles and the vector is receivable at the far end at
// t + func(Send). Sends on one link are placed in increasing time and the far end receives them in
// the same order, which is the order its FIFO hands them out.
#include "tspsim/compiler/collectives.h"
#include "tspsim/common/error.h"
#include "tspsim/compiler/reference.h"
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

// One vector of a tensor in MEM.
struct VectorPlace {
  uint32_t mem = 0;
  uint32_t address = 0;
};

// The vectors of a tiled tensor in transfer order: tile, row, byte plane.
std::vector<VectorPlace> vectors_of(const TiledTensor& tensor) {
  std::vector<VectorPlace> out;
  const unsigned bytes = isa::dtype_bytes(tensor.dtype);
  for (const Symbol& tile : tensor.tiles) {
    const unsigned groups = static_cast<unsigned>(tile.slices.size()) / bytes;
    for (uint32_t r = 0; r < tile.rows; ++r)
      for (unsigned b = 0; b < bytes; ++b)
        out.push_back({tile.slices[(r % groups) * bytes + b], tile.base + r / groups});
  }
  return out;
}

// A hop of a route: from chip `from` on its link `out_link` to chip `to` on its link `in_link`.
struct Hop {
  uint32_t from = 0;
  uint32_t out_link = 0;
  uint32_t to = 0;
  uint32_t in_link = 0;
};

// The cables of a system as adjacency lists, and shortest routes over them.
class Topology {
public:
  explicit Topology(const SystemConfig& system) : adjacency_(system.chips()) {
    for (const Cable& cable : system.cables) {
      adjacency_[cable.a.chip].push_back({cable.a.chip, cable.a.link, cable.b.chip, cable.b.link});
      adjacency_[cable.b.chip].push_back({cable.b.chip, cable.b.link, cable.a.chip, cable.a.link});
    }
    for (auto& hops : adjacency_)
      std::sort(hops.begin(), hops.end(), [](const Hop& x, const Hop& y) {
        return x.to != y.to ? x.to < y.to : x.out_link < y.out_link;
      });
  }

  // The cables of a chip, by neighbour and link.
  const std::vector<Hop>& hops(uint32_t chip) const { return adjacency_[chip]; }

  // The first cable between two chips, if they are neighbours.
  std::optional<Hop> direct(uint32_t from, uint32_t to) const {
    for (const Hop& hop : adjacency_[from])
      if (hop.to == to) return hop;
    return std::nullopt;
  }

  // A shortest route (breadth first, lowest chip numbers first, so it is deterministic).
  std::vector<Hop> route(uint32_t from, uint32_t to) const {
    if (from == to) return {};
    std::vector<std::optional<Hop>> via(adjacency_.size());
    std::deque<uint32_t> frontier{from};
    std::vector<bool> seen(adjacency_.size());
    seen[from] = true;
    while (!frontier.empty() && !seen[to]) {
      const uint32_t chip = frontier.front();
      frontier.pop_front();
      for (const Hop& hop : adjacency_[chip])
        if (!seen[hop.to]) {
          seen[hop.to] = true;
          via[hop.to] = hop;
          frontier.push_back(hop.to);
        }
    }
    if (!seen[to])
      throw InputError(
          fmt::format("collective: chip {} cannot reach chip {} over the system's links", from, to));
    std::vector<Hop> hops;
    for (uint32_t chip = to; chip != from; chip = via[chip]->from) hops.push_back(*via[chip]);
    std::reverse(hops.begin(), hops.end());
    return hops;
  }

  // A cycle through every chip of `chips` over direct cables (depth first, fewest onward
  // neighbours first), or nothing.
  std::optional<std::vector<uint32_t>> ring(const std::vector<uint32_t>& chips) const {
    if (chips.size() < 2) return std::nullopt;
    std::vector<bool> member(adjacency_.size()), used(adjacency_.size());
    for (uint32_t c : chips) member[c] = true;
    std::vector<uint32_t> path{chips.front()};
    used[chips.front()] = true;
    size_t budget = 200000; // steps of the search before giving up
    if (extend(path, used, member, chips.size(), budget)) return path;
    return std::nullopt;
  }

private:
  std::vector<uint32_t> open_neighbours(uint32_t chip, const std::vector<bool>& used,
                                        const std::vector<bool>& member) const {
    std::vector<uint32_t> out;
    for (const Hop& hop : adjacency_[chip])
      if (member[hop.to] && !used[hop.to] && std::find(out.begin(), out.end(), hop.to) == out.end())
        out.push_back(hop.to);
    return out;
  }

  bool extend(std::vector<uint32_t>& path, std::vector<bool>& used, const std::vector<bool>& member, size_t n,
              size_t& budget) const {
    if (budget-- == 0) return false;
    const uint32_t last = path.back();
    if (path.size() == n) return n == 2 || direct(last, path.front()).has_value();
    auto next = open_neighbours(last, used, member);
    std::stable_sort(next.begin(), next.end(), [&](uint32_t a, uint32_t b) {
      return open_neighbours(a, used, member).size() < open_neighbours(b, used, member).size();
    });
    for (uint32_t chip : next) {
      used[chip] = true;
      path.push_back(chip);
      if (extend(path, used, member, n, budget)) return true;
      path.pop_back();
      used[chip] = false;
    }
    return false;
  }

  std::vector<std::vector<Hop>> adjacency_;
};

// The per-chip builders and the state of every link channel.
class SystemSchedule {
public:
  SystemSchedule(const SystemConfig& system, const Topology& topology)
      : system_(system), topology_(topology) {
    for (uint32_t c = 0; c < system.chips(); ++c) {
      const ChipConfig& config = system.config_of(c);
      builders_.push_back(std::make_unique<ProgramBuilder>(config));
      send_free_.emplace_back(config.c2c.links, 0);
      receive_after_.emplace_back(config.c2c.links, -1);
      forward_next_.push_back(0);
    }
  }

  ProgramBuilder& builder(uint32_t chip) { return *builders_[chip]; }
  const SystemConfig& system() const { return system_; }

  // Moves one vector from `src` on chip `from` to `dst` on chip `to` along `route`, each hop as
  // early as the links, queues, streams and banks allow; intermediate chips store the vector in
  // MEM and send it on. Returns the SRAM write cycle at `dst`.
  Cycle move(const std::vector<Hop>& route, VectorPlace src, VectorPlace dst) {
    VectorPlace at = src;
    Cycle written = -1;
    for (size_t h = 0; h < route.size(); ++h) {
      const Hop& hop = least_busy(route[h]);
      const Cycle arrival = send(hop.from, hop.out_link, at);
      const VectorPlace into = h + 1 == route.size() ? dst : forward_buffer(hop.to);
      written = receive(hop.to, hop.in_link, arrival, into);
      at = into;
    }
    return written;
  }

private:
  // Of the cables between the hop's two chips, the one whose sending side frees first (the first
  // such): parallel cables, such as the two between nodes of a rack, share the traffic.
  const Hop& least_busy(const Hop& hop) const {
    const Hop* best = nullptr;
    for (const Hop& cable : topology_.hops(hop.from))
      if (cable.to == hop.to &&
          (!best || send_free_[hop.from][cable.out_link] < send_free_[hop.from][best->out_link]))
        best = &cable;
    return *best;
  }

  static constexpr Cycle kSearch = 1 << 20; // cycles tried before giving up on one placement

  unsigned sxm_near(uint32_t chip, uint32_t mem) {
    const Floorplan& floorplan = builder(chip).schedule().floorplan();
    const bool east = floorplan.slices()[floorplan.slice_of_mem(mem)].east;
    return *floorplan.find_slice(east ? "SXM_E" : "SXM_W");
  }

  // Whether some queue of `slice` can dispatch at t.
  static bool slice_free(const Schedule& schedule, unsigned slice, Cycle t) {
    const SliceInfo& info = schedule.floorplan().slices()[slice];
    for (unsigned q = 0; q < info.queue_count; ++q)
      if (schedule.slot_free(info.first_queue + q, t)) return true;
    return false;
  }

  // A Send of the vector at `at` on `link`; returns the cycle it is receivable at the far end.
  Cycle send(uint32_t chip, uint32_t link, VectorPlace at) {
    Schedule& schedule = builder(chip).schedule();
    const ChipConfig& config = schedule.config();
    const unsigned sxm = sxm_near(chip, at.mem);
    const unsigned position = schedule.slice_position(sxm);
    const Dir dir = Schedule::direction(schedule.mem_position(at.mem), position);
    const Cycle start = std::max(send_free_[chip][link], schedule.written(at.mem, at.address) + 1);
    const Instruction read = make_read(at.address, {});
    const Cycle send_skew = Cycle(skew_cycles(make_send(link, {}), config));
    for (Cycle t = start; t < start + kSearch; ++t) {
      // What no stream can change: a queue of the SXM, the Read's queue slot and bank port.
      const Cycle read_at = schedule.read_dispatch(at.mem, position, t + send_skew);
      if (!slice_free(schedule, sxm, t) || !schedule.slot_free(schedule.mem_queue(at.mem), read_at) ||
          !schedule.bank_free(at.mem, at.address, read_at + Cycle(skew_cycles(read, config))))
        continue;
      for (unsigned id = 0; id < config.streams.per_direction; ++id) {
        const Stream stream{id, dir};
        const Instruction instruction = make_send(link, stream);
        const size_t mark = schedule.mark();
        if (schedule.place_on_slice(sxm, t, instruction) >= 0 &&
            schedule.read_to(at.mem, at.address, stream, position,
                             t + Cycle(skew_cycles(instruction, config)))) {
          send_free_[chip][link] = t + Cycle(c2c_vector_cycles(config));
          schedule.commit();
          return t + Cycle(func_cycles(instruction, config));
        }
        schedule.rollback(mark);
      }
    }
    throw InputError(fmt::format("collective: no cycle for a Send on chip {} link {}", chip, link));
  }

  // A Receive of the next vector on `link` (receivable from `arrival`) written to `into`.
  Cycle receive(uint32_t chip, uint32_t link, Cycle arrival, VectorPlace into) {
    Schedule& schedule = builder(chip).schedule();
    const ChipConfig& config = schedule.config();
    const unsigned sxm = sxm_near(chip, into.mem);
    const unsigned position = schedule.slice_position(sxm);
    const Dir dir = Schedule::direction(position, schedule.mem_position(into.mem));
    const Cycle start = std::max(arrival, receive_after_[chip][link] + 1);
    const Instruction write = make_write(into.address, {});
    const Cycle to_write = Cycle(func_cycles(make_receive(link, {}), config)) +
                           schedule.travel(position, schedule.mem_position(into.mem)) -
                           Cycle(skew_cycles(write, config));
    for (Cycle t = start; t < start + kSearch; ++t) {
      // What no stream can change: a queue of the SXM, the Write's queue slot and bank port.
      const Cycle write_at = t + to_write;
      if (!slice_free(schedule, sxm, t) || !schedule.slot_free(schedule.mem_queue(into.mem), write_at) ||
          !schedule.bank_free(into.mem, into.address, write_at + Cycle(skew_cycles(write, config))))
        continue;
      for (unsigned id = 0; id < config.streams.per_direction; ++id) {
        const Stream stream{id, dir};
        const Instruction instruction = make_receive(link, stream);
        const Cycle on_stream = t + Cycle(func_cycles(instruction, config));
        const size_t mark = schedule.mark();
        if (schedule.place_on_slice(sxm, t, instruction) >= 0 &&
            schedule.claim_write(stream, position, on_stream) &&
            schedule.write_from(into.mem, into.address, stream, position, on_stream)) {
          receive_after_[chip][link] = t;
          schedule.commit();
          return schedule.written(into.mem, into.address);
        }
        schedule.rollback(mark);
      }
    }
    throw InputError(fmt::format("collective: no cycle for a Receive on chip {} link {}", chip, link));
  }

  // One word for a vector passing through `chip`, in the slices nearest its SXMs in turn.
  VectorPlace forward_buffer(uint32_t chip) {
    ProgramBuilder& b = builder(chip);
    const unsigned per_side = b.config().geometry.mem_slices_per_hemisphere;
    const uint32_t k = forward_next_[chip]++;
    const bool east = k % 2 == 1;
    const unsigned index = per_side - 1 - (k / 2) % std::min(per_side, 4u);
    const unsigned mem = b.schedule().floorplan().mem_global(east, index);
    return {mem, b.memory().allocate({mem}, 1, fmt::format("forwarding buffer of chip {}", chip))};
  }

  const SystemConfig& system_;
  const Topology& topology_;
  std::vector<std::unique_ptr<ProgramBuilder>> builders_;
  std::vector<std::vector<Cycle>> send_free_;     // per chip and link: first cycle the link is free
  std::vector<std::vector<Cycle>> receive_after_; // per chip and link: the last Receive's cycle
  std::vector<uint32_t> forward_next_;
};

// Rows [first, first + count) of shard k of n.
struct Shard {
  uint32_t first = 0;
  uint32_t count = 0;
};
Shard shard(uint32_t rows, uint32_t n, uint32_t k) {
  const uint32_t base = rows / n, extra = rows % n;
  return {k * base + std::min(k, extra), base + (k < extra ? 1 : 0)};
}

// sum(inputs) as a balanced tree of adds in `dtype`.
VExpr sum_expression(DType dtype, unsigned inputs) {
  VExpr expr;
  std::vector<unsigned> level;
  for (unsigned i = 0; i < inputs; ++i) level.push_back(expr.input(i, dtype));
  if (inputs == 1) {
    expr.root = expr.unary(Opcode::v_mov, dtype, level[0]);
    return expr;
  }
  while (level.size() > 1) {
    std::vector<unsigned> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2)
      next.push_back(expr.binary(Opcode::v_add, dtype, level[i], level[i + 1]));
    if (level.size() % 2) next.push_back(level.back());
    level = std::move(next);
  }
  expr.root = level[0];
  return expr;
}

// A tensor one participant holds for one piece of a collective, with its reference values.
struct Held {
  TiledTensor tensor;
  std::vector<double> values;
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

// Algorithm names as CompiledSystem::algorithm reports them.
constexpr const char* kDirect = "direct";
constexpr const char* kRing = "ring";
constexpr const char* kHierarchicalDirect = "hierarchical-direct";
constexpr const char* kHierarchicalRing = "hierarchical-ring";
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

  CompiledSystem compile() {
    const std::string algorithm = choose_algorithm();
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
    if (chips_.size() < 2) throw InputError(fmt::format("{}: needs at least two chips", what));
    for (uint32_t c : chips_)
      if (config_of(c).geometry.vector_bytes() != vector_bytes())
        throw InputError(
            fmt::format("{}: chips {} and {} have different vector lengths", what, chips_[0], c));
    if (shape_.kind == CollectiveKind::reduce_scatter && shape_.rows < n())
      throw InputError(
          fmt::format("{}: {} rows cannot be split over {} chips (one shard of at least one row each)", what,
                      shape_.rows, n()));
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
    std::vector<int64_t> index(system_.chips(), -1);
    for (uint32_t i = 0; i < n(); ++i) index[chips_[i]] = i;
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
    if (shape_.kind == CollectiveKind::transfer) return kDirect;
    const bool full = fully_connected();
    const bool hierarchical = shape_.algorithm == CollectiveAlgorithm::hierarchical_direct ||
                              shape_.algorithm == CollectiveAlgorithm::hierarchical_ring;
    if (hierarchical || (shape_.algorithm == CollectiveAlgorithm::automatic && !full)) {
      groups_ = find_groups();
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
  std::vector<uint8_t> input_of(uint32_t chip) const {
    return random_tensor(shape_.dtype, shape_.rows, shape_.cols, shape_.seed + chip);
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

  TiledTensor place(uint32_t chip, const std::string& name, uint32_t rows, const std::vector<uint8_t>& data,
                    bool east, bool named = true) {
    const unsigned bytes = isa::dtype_bytes(shape_.dtype);
    const unsigned per_side = config_of(chip).geometry.mem_slices_per_hemisphere;
    const unsigned groups = std::max(1u, std::min({2u, rows, per_side / bytes}));
    return place_tiled(schedule_.builder(chip), name, shape_.dtype, rows, shape_.cols,
                       candidates(chip, east, groups * bytes), groups, data, named);
  }

  void expect(uint32_t chip, const TiledTensor& tensor, const std::vector<double>& values) {
    const unsigned vector = vector_bytes();
    for (unsigned t = 0; t < tensor.tile_count(); ++t) {
      const Symbol& symbol = tensor.tiles[t];
      std::vector<double> v;
      for (uint32_t r = 0; r < tensor.rows; ++r)
        for (uint32_t c = 0; c < symbol.cols; ++c)
          v.push_back(values[size_t(r) * tensor.cols + t * vector + c]);
      outputs_[chip].push_back(make_expected(symbol.name, shape_.dtype, std::move(v), {}));
    }
  }

  // One tensor's vectors from `src` to `dst` along `route`, in order.
  struct Flow {
    std::vector<Hop> route;
    const TiledTensor* src;
    const TiledTensor* dst;
  };
  Flow flow(uint32_t from, const TiledTensor& src, uint32_t to, const TiledTensor& dst) const {
    return {topology_.route(from, to), &src, &dst};
  }
  void move_tensor(const Flow& f) { interleave({f}); }

  // Sends several flows at once, one vector of each in turn, so that their links run together.
  void interleave(const std::vector<Flow>& flows) {
    std::vector<std::pair<std::vector<VectorPlace>, std::vector<VectorPlace>>> vectors;
    size_t longest = 0;
    for (const Flow& f : flows) {
      vectors.emplace_back(vectors_of(*f.src), vectors_of(*f.dst));
      longest = std::max(longest, vectors.back().first.size());
    }
    for (size_t v = 0; v < longest; ++v)
      for (size_t i = 0; i < flows.size(); ++i)
        if (v < vectors[i].first.size())
          schedule_.move(flows[i].route, vectors[i].first[v], vectors[i].second[v]);
  }

  void transfer() {
    const uint32_t from = chips_[0], to = chips_[1];
    const auto data = input_of(from);
    const TiledTensor x = place(from, "X", shape_.rows, data, true);
    const TiledTensor y = place(to, "Y", shape_.rows, {}, true);
    move_tensor(flow(from, x, to, y));
    expect(to, y, element_values(shape_.dtype, data));
    hops_ = topology_.route(from, to).size();
  }

  // The participants in the order the flat schedule visits them: around the ring, or as given.
  std::vector<uint32_t> flat_members() const {
    std::vector<uint32_t> members;
    if (ring_) {
      std::vector<uint32_t> index(system_.chips());
      for (uint32_t i = 0; i < n(); ++i) index[chips_[i]] = i;
      for (uint32_t chip : *ring_) members.push_back(index[chip]);
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
    for (uint32_t i = 0; i < n(); ++i) {
      const auto data = input_of(chips_[i]);
      held[{i, i}] = {place(chips_[i], "X", shape_.rows, data, true), element_values(shape_.dtype, data)};
    }
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t j = 0; j < n(); ++j)
        y[size_t(i) * n() + j] = place(chips_[i], fmt::format("Y.b{}", j), shape_.rows, {}, j % 2 == 0);
    const Destination into_y = [&](uint32_t i, uint32_t j) { return y[size_t(i) * n() + j]; };
    std::vector<uint32_t> all(n());
    std::iota(all.begin(), all.end(), 0u);
    const auto owner = [](uint32_t j) { return j; };
    if (groups_) {
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
    const VExpr copy = sum_expression(shape_.dtype, 1);
    for (uint32_t i = 0; i < n(); ++i)
      schedule_vectors(schedule_.builder(chips_[i]).schedule(), copy, {&held.at({i, i}).tensor},
                       y[size_t(i) * n() + i]);
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t j = 0; j < n(); ++j) expect(chips_[i], y[size_t(i) * n() + j], held.at({j, j}).values);
    measure_hops();
  }

  // Reduce-scatter (and all-reduce: then every reduced shard goes to every chip). The rows split
  // into pieces as evenly as possible, one per participant (an all-reduce of fewer rows than
  // participants: one per row, owned by the first participants in group order). Flat: every
  // piece is summed onto its owner directly or around the ring. Hierarchical: inside each group
  // every piece is summed onto the member at its owner's position (the group's links in
  // parallel), then across the groups onto the owner, among the chips at that position; an
  // all-reduce then sends the sums back the same way in reverse.
  void reduce() {
    const bool all = shape_.kind == CollectiveKind::all_reduce;
    const uint32_t pieces = all ? std::min(shape_.rows, n()) : n();
    std::vector<uint32_t> owner_of(pieces);
    std::iota(owner_of.begin(), owner_of.end(), 0u);
    if (pieces < n() && groups_)
      for (uint32_t p = 0; p < pieces; ++p)
        owner_of[p] = groups_->members[p / groups_->size()][p % groups_->size()];
    const auto owner = [&](uint32_t p) { return owner_of[p]; };
    const unsigned bytes = isa::dtype_bytes(shape_.dtype);
    Holdings x;
    for (uint32_t i = 0; i < n(); ++i) {
      const auto data = input_of(chips_[i]);
      for (uint32_t p = 0; p < pieces; ++p) {
        const Shard s = shard(shape_.rows, pieces, p);
        const auto block = sub_block(data, bytes, shape_.cols, s.first, s.count, 0, shape_.cols);
        x[{i, p}] = {place(chips_[i], fmt::format("X.s{}", p), s.count, block, p % 2 == 0),
                     element_values(shape_.dtype, block)};
      }
    }
    std::map<std::pair<uint32_t, uint32_t>, TiledTensor> out;
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t p = 0; p < pieces; ++p)
        if (all || owner(p) == i)
          out[{i, p}] = place(chips_[i], all ? fmt::format("Y.s{}", p) : "R",
                              shard(shape_.rows, pieces, p).count, {}, p % 2 == 1);
    const Destination into_out = [&](uint32_t i, uint32_t p) { return out.at({i, p}); };
    std::vector<uint32_t> every(pieces);
    std::iota(every.begin(), every.end(), 0u);
    Holdings sums;
    if (groups_) {
      const Destination scratch = [&](uint32_t i, uint32_t p) {
        return place(chips_[i], "", shard(shape_.rows, pieces, p).count, {}, p % 2 == 1, false);
      };
      Holdings group_sums;
      for (const auto& group : groups_->members)
        reduce_to(
            group, every, [&](uint32_t p) { return in_group(group, owner(p)); }, x, scratch, group_sums,
            false);
      for (uint32_t g = 0; g < groups_->size(); ++g)
        reduce_to(groups_->column(g), pieces_at(every, owner, g), owner, group_sums, into_out, sums,
                  column_ring_);
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
      if (all) spread(members, every, owner, sums, into_out, ring_.has_value());
    }
    for (const auto& [key, tensor] : out) expect(chips_[key.first], tensor, sums.at(key).values);
    measure_hops();
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
  // tree needs more VXM queues in one cycle). Returns the reference, in the same order.
  std::vector<double> sum_into(uint32_t chip, std::vector<const TiledTensor*> inputs,
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
        const std::vector<std::vector<double>> group_values(values.begin() + first,
                                                            values.begin() + first + count);
        const VExpr sum = sum_expression(shape_.dtype, static_cast<unsigned>(count));
        partials.push_back(place(chip, "", rows, {}, partials.size() % 2 == 0, false));
        schedule_vectors(schedule, sum, group, partials.back());
        schedule.commit();
        next_inputs.push_back(&partials.back());
        next_values.push_back(
            evaluate(sum, group_values, std::vector<uint32_t>(count, rows), rows, shape_.cols));
      }
      inputs = std::move(next_inputs);
      values = std::move(next_values);
    }
    const VExpr sum = sum_expression(shape_.dtype, static_cast<unsigned>(inputs.size()));
    schedule_vectors(schedule, sum, inputs, out);
    schedule.commit();
    return evaluate(sum, values, std::vector<uint32_t>(inputs.size(), rows), rows, shape_.cols);
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
              place(chips_[owner(p)], "", in.at({members[a], p}).tensor.rows, {}, a % 2 == 0, false);
    for (uint32_t a : members) {
      std::vector<Flow> flows;
      for (uint32_t p : pieces)
        if (owner(p) != a)
          flows.push_back(flow(chips_[a], in.at({a, p}).tensor, chips_[owner(p)], staged.at({p, a})));
      interleave(flows);
    }
    for (uint32_t p : pieces) {
      const uint32_t o = owner(p);
      std::vector<const TiledTensor*> inputs{&in.at({o, p}).tensor};
      std::vector<std::vector<double>> values{in.at({o, p}).values};
      for (uint32_t a : members)
        if (a != o) {
          inputs.push_back(&staged.at({p, a}));
          values.push_back(in.at({a, p}).values);
        }
      TiledTensor sum = dst(o, p);
      std::vector<double> reference = sum_into(chips_[o], inputs, values, sum);
      sums[{o, p}] = {std::move(sum), std::move(reference)};
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
    const VExpr add = sum_expression(shape_.dtype, 2);
    Holdings partial; // (ring position, piece): the running sum there
    for (uint32_t step = 0; step + 1 < k; ++step)
      for (uint32_t p = 0; p < k; ++p) {
        const uint32_t sender = members[p], next = (p + 1) % k, receiver = members[next];
        const bool last = step + 2 == k;
        for (uint32_t piece : owned[(p + 2 * k - 1 - step) % k]) {
          const Held& src = step == 0 ? in.at({sender, piece}) : partial.at({p, piece});
          const uint32_t rows = src.tensor.rows;
          const TiledTensor inbox = place(chips_[receiver], "", rows, {}, step % 2 == 0, false);
          move_tensor(flow(chips_[sender], src.tensor, chips_[receiver], inbox));
          const Held& own = in.at({receiver, piece});
          TiledTensor sum =
              last ? dst(receiver, piece) : place(chips_[receiver], "", rows, {}, step % 2 == 1, false);
          schedule_vectors(schedule_.builder(chips_[receiver]).schedule(), add, {&inbox, &own.tensor}, sum);
          Held result{std::move(sum),
                      evaluate(add, {src.values, own.values}, {rows, rows}, rows, shape_.cols)};
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
    CompiledSystem result;
    result.algorithm = algorithm;
    const std::string workload =
        fmt::format("{} {}x{} {} over {} chips ({})", collective_kind_name(shape_.kind), shape_.rows,
                    shape_.cols, isa::dtype_name(shape_.dtype), n(), algorithm);
    std::map<std::vector<uint8_t>, uint32_t> distinct;
    for (uint32_t c = 0; c < system_.chips(); ++c) {
      Program program = schedule_.builder(c).finish(workload);
      program.metadata.chips = system_.chips();
      result.predicted_cycles = std::max(result.predicted_cycles, program.metadata.predicted_cycles);
      const auto bytes = serialize_program(program);
      auto [it, added] = distinct.emplace(bytes, static_cast<uint32_t>(result.program.programs.size()));
      if (added) result.program.programs.push_back(std::move(program));
      result.program.chip_program.push_back(it->second);
    }
    result.program.system_fingerprint = system_fingerprint(system_);
    result.program.system_name = system_.name;
    result.program.metadata.workload = workload;
    result.program.metadata.generator = result.program.programs.front().metadata.generator;
    result.program.metadata.chips = system_.chips();
    result.program.metadata.predicted_cycles = result.predicted_cycles;
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
      received = vectors;
      links = 1;
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
  std::map<std::pair<uint32_t, bool>, unsigned> side_used_; // slices taken per chip and side
  std::vector<std::vector<ExpectedOutput>> outputs_;
  size_t hops_ = 1;
};

} // namespace

CompiledSystem compile_collective(const SystemConfig& system, const CollectiveShape& shape) {
  CompiledSystem chosen = CollectiveCompiler(system, shape).compile();
  // Each alternative is scheduled and the one with fewer cycles kept. An alternative that does
  // not fit (MEM for the staged shards, or the reduction) leaves the first standing.
  const auto try_other = [&](CollectiveAlgorithm algorithm) {
    CollectiveShape other_shape = shape;
    other_shape.algorithm = algorithm;
    try {
      CompiledSystem other = CollectiveCompiler(system, other_shape).compile();
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
  return chosen;
}

} // namespace tsp::compiler
