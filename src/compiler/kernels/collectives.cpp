// Collectives over C2C links (include/tspsim/compiler/collectives.h). Each chip has a program
// builder of its own; what ties them together is the link timing: a Send on chip a at cycle t
// holds its link for c2c_vector_cycles and the vector is receivable at the far end at
// t + func(Send). Sends on one link are placed in increasing time and the far end receives them in
// the same order, which is the order its FIFO hands them out.
#include "tspsim/compiler/collectives.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/compiler/vector.h"
#include "tspsim/common/error.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <deque>
#include <fmt/format.h>
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
  throw InputError(
      fmt::format("unknown collective '{}': expected transfer, all-gather, reduce-scatter or all-reduce", name));
}

const char* collective_kind_name(CollectiveKind kind) {
  switch (kind) {
  case CollectiveKind::transfer: return "transfer";
  case CollectiveKind::all_gather: return "all-gather";
  case CollectiveKind::reduce_scatter: return "reduce-scatter";
  case CollectiveKind::all_reduce: return "all-reduce";
  }
  return "?";
}

const Bound& CompiledSystem::binding_bound() const {
  return *std::max_element(bounds.begin(), bounds.end(),
                           [](const Bound& a, const Bound& b) { return a.cycles < b.cycles; });
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
    if (!seen[to]) throw InputError(fmt::format("collective: chip {} cannot reach chip {} over the system's links", from, to));
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
  explicit SystemSchedule(const SystemConfig& system) : system_(system) {
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
      const Hop& hop = route[h];
      const Cycle arrival = send(hop.from, hop.out_link, at);
      const VectorPlace into = h + 1 == route.size() ? dst : forward_buffer(hop.to);
      written = receive(hop.to, hop.in_link, arrival, into);
      at = into;
    }
    return written;
  }

private:
  static constexpr Cycle kSearch = 1 << 20; // cycles tried before giving up on one placement

  unsigned sxm_near(uint32_t chip, uint32_t mem) {
    const Schedule& schedule = builder(chip).schedule();
    const bool east = mem >= schedule.config().geometry.mem_slices_per_hemisphere;
    return *schedule.floorplan().find_slice(east ? "SXM_E" : "SXM_W");
  }

  // A Send of the vector at `at` on `link`; returns the cycle it is receivable at the far end.
  Cycle send(uint32_t chip, uint32_t link, VectorPlace at) {
    Schedule& schedule = builder(chip).schedule();
    const ChipConfig& config = schedule.config();
    const unsigned sxm = sxm_near(chip, at.mem);
    const unsigned position = schedule.slice_position(sxm);
    const Dir dir = Schedule::direction(schedule.mem_position(at.mem), position);
    const Cycle start = std::max(send_free_[chip][link], schedule.written(at.mem, at.address) + 1);
    for (Cycle t = start; t < start + kSearch; ++t) {
      for (unsigned id = 0; id < config.streams.per_direction; ++id) {
        const Stream stream{id, dir};
        const Instruction instruction = make_send(link, stream);
        const size_t mark = schedule.mark();
        if (schedule.place_on_slice(sxm, t, instruction) >= 0 &&
            schedule.read_to(at.mem, at.address, stream, position, t + Cycle(skew_cycles(instruction, config)))) {
          send_free_[chip][link] = t + Cycle(c2c_vector_cycles(config));
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
    for (Cycle t = start; t < start + kSearch; ++t) {
      for (unsigned id = 0; id < config.streams.per_direction; ++id) {
        const Stream stream{id, dir};
        const Instruction instruction = make_receive(link, stream);
        const Cycle on_stream = t + Cycle(func_cycles(instruction, config));
        const size_t mark = schedule.mark();
        if (schedule.place_on_slice(sxm, t, instruction) >= 0 && schedule.claim_write(stream, position, on_stream) &&
            schedule.write_from(into.mem, into.address, stream, position, on_stream)) {
          receive_after_[chip][link] = t;
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
    for (size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(expr.binary(Opcode::v_add, dtype, level[i], level[i + 1]));
    if (level.size() % 2) next.push_back(level.back());
    level = std::move(next);
  }
  expr.root = level[0];
  return expr;
}

class CollectiveCompiler {
public:
  CollectiveCompiler(const SystemConfig& system, const CollectiveShape& shape)
      : system_(system), shape_(shape), topology_(system), schedule_(system) {
    chips_ = shape.chips;
    if (chips_.empty())
      for (uint32_t c = 0; c < system.chips(); ++c) chips_.push_back(c);
    check_shape();
    outputs_.resize(system.chips());
  }

  CompiledSystem compile() {
    const std::string algorithm = choose_algorithm();
    switch (shape_.kind) {
    case CollectiveKind::transfer: transfer(); break;
    case CollectiveKind::all_gather: all_gather(); break;
    case CollectiveKind::reduce_scatter:
    case CollectiveKind::all_reduce: reduce(algorithm == "ring"); break;
    }
    return finish(algorithm);
  }

private:
  uint32_t n() const { return static_cast<uint32_t>(chips_.size()); }
  const ChipConfig& config_of(uint32_t chip) const { return system_.config_of(chip); }
  unsigned vector_bytes() const { return config_of(chips_[0]).geometry.vector_bytes(); }

  void check_shape() {
    const std::string what = collective_kind_name(shape_.kind);
    if (shape_.rows < 1 || shape_.cols < 1) throw InputError(fmt::format("{}: rows and cols must be at least 1", what));
    std::vector<uint32_t> sorted = chips_;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      throw InputError(fmt::format("{}: a chip is named twice", what));
    for (uint32_t c : chips_)
      if (c >= system_.chips())
        throw InputError(fmt::format("{}: chip {} out of range (the system has {} chips)", what, c, system_.chips()));
    if (shape_.kind == CollectiveKind::transfer && chips_.size() != 2)
      throw InputError(fmt::format("transfer: expected two chips (from, to), got {}", chips_.size()));
    if (chips_.size() < 2) throw InputError(fmt::format("{}: needs at least two chips", what));
    for (uint32_t c : chips_)
      if (config_of(c).geometry.vector_bytes() != vector_bytes())
        throw InputError(fmt::format("{}: chips {} and {} have different vector lengths", what, chips_[0], c));
    if ((shape_.kind == CollectiveKind::reduce_scatter || shape_.kind == CollectiveKind::all_reduce) &&
        shape_.rows < n())
      throw InputError(fmt::format("{}: {} rows cannot be split over {} chips (one shard of at least one row each)",
                                   what, shape_.rows, n()));
  }

  bool fully_connected() const {
    for (uint32_t a : chips_)
      for (uint32_t b : chips_)
        if (a != b && !topology_.direct(a, b)) return false;
    return true;
  }

  std::string choose_algorithm() {
    if (shape_.kind == CollectiveKind::transfer) return "direct";
    const bool full = fully_connected();
    if (shape_.algorithm == CollectiveAlgorithm::direct) return "direct";
    if (shape_.algorithm == CollectiveAlgorithm::ring || !full) {
      if (shape_.kind == CollectiveKind::all_gather && !full && shape_.algorithm != CollectiveAlgorithm::ring)
        return "direct";
      ring_ = topology_.ring(chips_);
      if (!ring_) {
        if (shape_.algorithm == CollectiveAlgorithm::ring)
          throw InputError(fmt::format("{}: the chips have no ring of direct links", collective_kind_name(shape_.kind)));
        return "direct";
      }
      return "ring";
    }
    return "direct";
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
        for (uint32_t c = 0; c < symbol.cols; ++c) v.push_back(values[size_t(r) * tensor.cols + t * vector + c]);
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
  // A step around the ring: the one cable from `sender` to its successor.
  Flow ring_flow(uint32_t sender, const TiledTensor& src, uint32_t receiver, const TiledTensor& dst) const {
    return {{*topology_.direct(sender, receiver)}, &src, &dst};
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
        if (v < vectors[i].first.size()) schedule_.move(flows[i].route, vectors[i].first[v], vectors[i].second[v]);
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

  // Every chip sends its X to every other chip, vector by vector, peers interleaved so that all
  // links run at once; its own block is a copy through the VXM.
  void all_gather() {
    std::vector<TiledTensor> x;
    std::vector<std::vector<TiledTensor>> y(n());
    for (uint32_t i = 0; i < n(); ++i) x.push_back(place(chips_[i], "X", shape_.rows, input_of(chips_[i]), true));
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t j = 0; j < n(); ++j)
        y[i].push_back(place(chips_[i], fmt::format("Y.b{}", j), shape_.rows, {}, j % 2 == 0));
    if (ring_) {
      ring_all_gather(x, y);
    } else {
      for (uint32_t i = 0; i < n(); ++i) {
        std::vector<Flow> flows;
        for (uint32_t j = 0; j < n(); ++j)
          if (j != i) flows.push_back(flow(chips_[i], x[i], chips_[j], y[j][i]));
        interleave(flows);
      }
    }
    const VExpr copy = sum_expression(shape_.dtype, 1);
    for (uint32_t i = 0; i < n(); ++i) schedule_vectors(schedule_.builder(chips_[i]).schedule(), copy, {&x[i]}, y[i][i]);
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t j = 0; j < n(); ++j) expect(chips_[i], y[i][j], element_values(shape_.dtype, input_of(chips_[j])));
    for (uint32_t j = 1; j < n(); ++j) hops_ = std::max(hops_, topology_.route(chips_[0], chips_[j]).size());
  }

  // A ring all-gather: block b starts on its owner and travels n - 1 steps around the ring.
  void ring_all_gather(const std::vector<TiledTensor>& x, const std::vector<std::vector<TiledTensor>>& y) {
    const auto& ring = *ring_;
    std::vector<uint32_t> index(system_.chips());
    for (uint32_t i = 0; i < n(); ++i) index[chips_[i]] = i;
    for (uint32_t step = 0; step + 1 < n(); ++step)
      for (uint32_t p = 0; p < n(); ++p) {
        const uint32_t sender = ring[p], receiver = ring[(p + 1) % n()];
        const uint32_t block = index[ring[(p + n() - step) % n()]];
        const TiledTensor& src = step == 0 ? x[index[sender]] : y[index[sender]][block];
        move_tensor(ring_flow(sender, src, receiver, y[index[receiver]][block]));
      }
  }


  // Reduce-scatter (and all-reduce: then every reduced shard goes to every chip).
  void reduce(bool ring) {
    const bool all = shape_.kind == CollectiveKind::all_reduce;
    std::vector<std::vector<uint8_t>> data;
    for (uint32_t c : chips_) data.push_back(input_of(c));
    const unsigned bytes = isa::dtype_bytes(shape_.dtype);
    // x[i][k]: chip i's shard k; out[i][k]: the reduced shard k on chip i (all-reduce: every k;
    // reduce-scatter: only k = i).
    std::vector<std::vector<TiledTensor>> x(n()), out(n());
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t k = 0; k < n(); ++k) {
        const Shard s = shard(shape_.rows, n(), k);
        x[i].push_back(place(chips_[i], fmt::format("X.s{}", k), s.count,
                             sub_block(data[i], bytes, shape_.cols, s.first, s.count, 0, shape_.cols), k % 2 == 0));
      }
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t k = 0; k < n(); ++k)
        if (all || k == i)
          out[i].push_back(place(chips_[i], all ? fmt::format("Y.s{}", k) : "R", shard(shape_.rows, n(), k).count,
                                 {}, k % 2 == 1));
        else
          out[i].push_back({});
    std::vector<std::vector<double>> reference(n()); // per shard
    if (ring)
      ring_reduce(x, out, data, reference);
    else
      direct_reduce(x, out, data, reference);
    for (uint32_t i = 0; i < n(); ++i)
      for (uint32_t k = 0; k < n(); ++k)
        if (all || k == i) expect(chips_[i], out[i][k], reference[k]);
    for (uint32_t j = 1; j < n(); ++j) hops_ = std::max(hops_, topology_.route(chips_[0], chips_[j]).size());
  }

  // out = sum(inputs) on `chip`, in groups of at most `width` inputs: partial sums of each group,
  // then their sum. A group's inputs are read in one cycle, each from slices of its own, so the
  // width is bounded by the MEM slices (half of them, the rest hold the sums) and by 8 (a wider
  // tree needs more VXM queues in one cycle). Returns the reference, in the same order.
  std::vector<double> sum_into(uint32_t chip, std::vector<const TiledTensor*> inputs,
                               std::vector<std::vector<double>> values, const TiledTensor& out) {
    const size_t width =
        std::clamp<size_t>(config_of(chip).geometry.mem_slices() / (2 * isa::dtype_bytes(shape_.dtype)), 2, 8);
    Schedule& schedule = schedule_.builder(chip).schedule();
    const uint32_t rows = out.rows;
    std::deque<TiledTensor> partials; // addresses stay put while later ones are added
    while (inputs.size() > width) {
      std::vector<const TiledTensor*> next_inputs;
      std::vector<std::vector<double>> next_values;
      for (size_t first = 0; first < inputs.size(); first += width) {
        const size_t count = std::min(width, inputs.size() - first);
        const std::vector<const TiledTensor*> group(inputs.begin() + first, inputs.begin() + first + count);
        const std::vector<std::vector<double>> group_values(values.begin() + first, values.begin() + first + count);
        const VExpr sum = sum_expression(shape_.dtype, static_cast<unsigned>(count));
        partials.push_back(place(chip, "", rows, {}, partials.size() % 2 == 0, false));
        schedule_vectors(schedule, sum, group, partials.back());
        next_inputs.push_back(&partials.back());
        next_values.push_back(evaluate(sum, group_values, std::vector<uint32_t>(count, rows), rows, shape_.cols));
      }
      inputs = std::move(next_inputs);
      values = std::move(next_values);
    }
    const VExpr sum = sum_expression(shape_.dtype, static_cast<unsigned>(inputs.size()));
    schedule_vectors(schedule, sum, inputs, out);
    return evaluate(sum, values, std::vector<uint32_t>(inputs.size(), rows), rows, shape_.cols);
  }

  // The values of shard k of chip i's input.
  std::vector<double> shard_values(const std::vector<uint8_t>& data, uint32_t k) const {
    const Shard s = shard(shape_.rows, n(), k);
    return element_values(shape_.dtype,
                          sub_block(data, isa::dtype_bytes(shape_.dtype), shape_.cols, s.first, s.count, 0, shape_.cols));
  }

  // Straight: chip i sends shard k to chip k (all links at once), chip k sums its own shard and
  // the n - 1 it received (a balanced tree of adds, inputs in chip order starting with its own),
  // then sends the sum to every chip.
  void direct_reduce(const std::vector<std::vector<TiledTensor>>& x, std::vector<std::vector<TiledTensor>>& out,
                     const std::vector<std::vector<uint8_t>>& data, std::vector<std::vector<double>>& reference) {
    const bool all = shape_.kind == CollectiveKind::all_reduce;
    std::vector<std::vector<TiledTensor>> staged(n()); // staged[k]: on chip k, from each other chip
    for (uint32_t k = 0; k < n(); ++k)
      for (uint32_t i = 0; i < n(); ++i)
        staged[k].push_back(i == k ? TiledTensor{}
                                   : place(chips_[k], "", shard(shape_.rows, n(), k).count, {}, i % 2 == 0, false));
    for (uint32_t i = 0; i < n(); ++i) {
      std::vector<Flow> flows;
      for (uint32_t k = 0; k < n(); ++k)
        if (k != i) flows.push_back(flow(chips_[i], x[i][k], chips_[k], staged[k][i]));
      interleave(flows);
    }
    for (uint32_t k = 0; k < n(); ++k) {
      std::vector<const TiledTensor*> inputs{&x[k][k]};
      std::vector<std::vector<double>> values{shard_values(data[k], k)};
      for (uint32_t i = 0; i < n(); ++i)
        if (i != k) {
          inputs.push_back(&staged[k][i]);
          values.push_back(shard_values(data[i], k));
        }
      reference[k] = sum_into(chips_[k], inputs, values, out[k][k]);
    }
    if (!all) return;
    for (uint32_t k = 0; k < n(); ++k) {
      std::vector<Flow> flows;
      for (uint32_t i = 0; i < n(); ++i)
        if (i != k) flows.push_back(flow(chips_[k], out[k][k], chips_[i], out[i][k]));
      interleave(flows);
    }
  }

  // Around the ring: at step s the chip at ring position p sends its running sum of shard
  // (p - s) to position p + 1, which adds its own shard. After n - 1 steps position p holds the
  // full sum of shard p + 1; all-reduce then passes the sums around once more.
  void ring_reduce(const std::vector<std::vector<TiledTensor>>& x, std::vector<std::vector<TiledTensor>>& out,
                   const std::vector<std::vector<uint8_t>>& data, std::vector<std::vector<double>>& reference) {
    const bool all = shape_.kind == CollectiveKind::all_reduce;
    const auto& ring = *ring_;
    std::vector<uint32_t> index(system_.chips());
    for (uint32_t i = 0; i < n(); ++i) index[chips_[i]] = i;
    const VExpr add = sum_expression(shape_.dtype, 2);
    // partial[p]: the running sums chip ring[p] holds, by shard. Ring shard k (the one position p
    // sends at step p - k) belongs to the chip at position k - 1, which ends up holding its sum.
    std::vector<std::map<uint32_t, TiledTensor>> partial(n());
    std::vector<std::vector<double>> running(n());
    for (uint32_t step = 0; step + 1 < n(); ++step)
      for (uint32_t p = 0; p < n(); ++p) {
        const uint32_t sender = ring[p], receiver = ring[(p + 1) % n()];
        const uint32_t s = index[sender], r = index[receiver];
        const uint32_t k = (p + n() - step) % n();
        const uint32_t shard_id = index[ring[(k + n() - 1) % n()]];
        const TiledTensor& src = step == 0 ? x[s][shard_id] : partial[p].at(shard_id);
        const uint32_t rows = src.rows;
        const TiledTensor inbox = place(receiver, "", rows, {}, step % 2 == 0, false);
        move_tensor(ring_flow(sender, src, receiver, inbox));
        const bool last = step + 2 == n();
        TiledTensor sum = last && (all || shard_id == r) ? out[r][shard_id]
                                                          : place(receiver, "", rows, {}, step % 2 == 1, false);
        schedule_vectors(schedule_.builder(receiver).schedule(), add, {&inbox, &x[r][shard_id]}, sum);
        if (step == 0) running[shard_id] = shard_values(data[s], shard_id);
        running[shard_id] =
            evaluate(add, {running[shard_id], shard_values(data[r], shard_id)}, {rows, rows}, rows, shape_.cols);
        partial[(p + 1) % n()][shard_id] = sum;
      }
    reference = std::move(running);
    if (!all) return;
    // Position p holds the sum of its own chip's shard: pass every sum n - 1 steps around.
    for (uint32_t step = 0; step + 1 < n(); ++step)
      for (uint32_t p = 0; p < n(); ++p) {
        const uint32_t sender = ring[p], receiver = ring[(p + 1) % n()];
        const uint32_t shard_id = index[ring[(p + n() - step) % n()]];
        move_tensor(ring_flow(sender, out[index[sender]][shard_id], receiver, out[index[receiver]][shard_id]));
      }
  }

  CompiledSystem finish(const std::string& algorithm) {
    CompiledSystem result;
    result.algorithm = algorithm;
    const std::string workload =
        fmt::format("{} {}x{} {} over {} chips ({})", collective_kind_name(shape_.kind), shape_.rows, shape_.cols,
                    isa::dtype_name(shape_.dtype), n(), algorithm);
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
    double links = 0;
    for (uint32_t c : chips_)
      if (c != chips_[0] && topology_.direct(chips_[0], c)) ++links;
    links = std::max(1.0, links);
    double received = 0; // vectors the busiest chip must receive
    switch (shape_.kind) {
    case CollectiveKind::transfer: received = vectors; links = 1; break;
    case CollectiveKind::all_gather: received = vectors * (n() - 1); break;
    case CollectiveKind::reduce_scatter: received = vectors * (n() - 1) / n(); break;
    case CollectiveKind::all_reduce: received = 2 * vectors * (n() - 1) / n(); break;
    }
    return {{"link latency", double(hops_) * latency}, {"link bandwidth", received / links * per_vector}};
  }

  const SystemConfig& system_;
  CollectiveShape shape_;
  Topology topology_;
  SystemSchedule schedule_;
  std::vector<uint32_t> chips_;
  std::optional<std::vector<uint32_t>> ring_;
  std::map<std::pair<uint32_t, bool>, unsigned> side_used_; // slices taken per chip and side
  std::vector<std::vector<ExpectedOutput>> outputs_;
  size_t hops_ = 1;
};

} // namespace

CompiledSystem compile_collective(const SystemConfig& system, const CollectiveShape& shape) {
  CompiledSystem chosen = CollectiveCompiler(system, shape).compile();
  // Without direct links between every pair, both algorithms are scheduled and the faster kept;
  // beyond a rack, direct routes (n^2 flows over several hops) cost too much to schedule.
  const size_t chips = shape.chips.empty() ? system.chips() : shape.chips.size();
  if (shape.algorithm == CollectiveAlgorithm::automatic && chosen.algorithm == "ring" && chips <= kRackChips) {
    CollectiveShape direct = shape;
    direct.algorithm = CollectiveAlgorithm::direct;
    try {
      CompiledSystem other = CollectiveCompiler(system, direct).compile();
      if (other.predicted_cycles < chosen.predicted_cycles) chosen = std::move(other);
    } catch (const InputError&) {
      // Direct routes do not fit (MEM for the staged shards, or the reduction): the ring stands.
    }
  }
  return chosen;
}

} // namespace tsp::compiler
