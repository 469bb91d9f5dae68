// The per-chip program builders of a system and the timing of its C2C links, shared by the
// collectives (collectives.cpp) and by programs that mix collectives with other work (the
// tensor-parallel Llama step, llama.cpp): a collective is a phase scheduled onto builders that may
// already hold other instructions, each Send placed after the vector it sends is written.
#pragma once

#include "tspsim/common/error.h"
#include "tspsim/compiler/collectives.h"
#include "tspsim/compiler/link_timeline.h"
#include "tspsim/compiler/placement.h"
#include "tspsim/compiler/program_spill.h"
#include "tspsim/compiler/vector.h"
#include "tspsim/program/latency.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <stdexcept>
#include <vector>

namespace tsp::compiler {

// One vector of a tensor in MEM.
struct VectorPlace {
  uint32_t mem = 0;
  uint32_t address = 0;
};

// The vectors of a tiled tensor in transfer order: tile, row, byte plane.
std::vector<VectorPlace> vectors_of(const TiledTensor& tensor);

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
    for (auto& hops : adjacency_) std::sort(hops.begin(), hops.end(), by_neighbour_and_link);
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
    auto hops = shortest(from, to, [](const Hop&) { return true; });
    if (!hops)
      throw InputError(
          fmt::format("collective: chip {} cannot reach chip {} over the system's links", from, to));
    return *hops;
  }

  // The same through `allowed` chips only (allowed[c]; `from` and `to` must be allowed), or
  // nothing when they do not connect the two.
  std::optional<std::vector<Hop>> route_within(uint32_t from, uint32_t to,
                                               const std::vector<bool>& allowed) const {
    return shortest(from, to, [&](const Hop& hop) { return allowed[hop.to]; });
  }

  // Routes from `from` to `to` (distinct) that share no cable direction, shortest first: each
  // is the shortest over the cable directions the earlier ones left free. Greedy, so not always
  // as many as a maximum flow would find; in a fully connected group it finds every cable
  // between the two and a two-hop route through each other member.
  std::vector<std::vector<Hop>> disjoint_routes(uint32_t from, uint32_t to) const {
    std::vector<std::vector<bool>> used(adjacency_.size());
    for (size_t c = 0; c < adjacency_.size(); ++c) used[c].assign(adjacency_[c].size(), false);
    const auto free = [&](const Hop& hop) { return !used[hop.from][index_of(hop)]; };
    std::vector<std::vector<Hop>> routes;
    while (auto route = shortest(from, to, free)) {
      for (const Hop& hop : *route) used[hop.from][index_of(hop)] = true;
      routes.push_back(std::move(*route));
    }
    return routes;
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
  // A shortest route over the hops that `usable` accepts (breadth first, lowest chip numbers
  // first), or nothing.
  template <class Usable>
  std::optional<std::vector<Hop>> shortest(uint32_t from, uint32_t to, const Usable& usable) const {
    if (from == to) return std::vector<Hop>{};
    std::vector<std::optional<Hop>> via(adjacency_.size());
    std::deque<uint32_t> frontier{from};
    std::vector<bool> seen(adjacency_.size());
    seen[from] = true;
    while (!frontier.empty() && !seen[to]) {
      const uint32_t chip = frontier.front();
      frontier.pop_front();
      for (const Hop& hop : adjacency_[chip])
        if (!seen[hop.to] && usable(hop)) {
          seen[hop.to] = true;
          via[hop.to] = hop;
          frontier.push_back(hop.to);
        }
    }
    if (!seen[to]) return std::nullopt;
    std::vector<Hop> hops;
    for (uint32_t chip = to; chip != from; chip = via[chip]->from) hops.push_back(*via[chip]);
    std::reverse(hops.begin(), hops.end());
    return hops;
  }

  // The position of a cable among its chip's hops (adjacency_ is sorted by neighbour and link).
  size_t index_of(const Hop& hop) const {
    const auto& hops = adjacency_[hop.from];
    return size_t(std::lower_bound(hops.begin(), hops.end(), hop, by_neighbour_and_link) - hops.begin());
  }
  static bool by_neighbour_and_link(const Hop& x, const Hop& y) {
    return x.to != y.to ? x.to < y.to : x.out_link < y.out_link;
  }

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
      links_.emplace_back(config.c2c.links, LinkTimeline(Cycle(c2c_vector_cycles(config))));
      forward_next_.push_back(0);
      link_queue_next_.push_back(0);
      forward_pools_.emplace_back(config.geometry.mem_slices());
    }
    chip_program_.resize(system.chips());
  }

  // The chip's builder, while its program is not finished (nothing is placed on a finished chip).
  ProgramBuilder& builder(uint32_t chip) {
    if (chip_program_[chip])
      throw std::logic_error(fmt::format("system schedule: chip {}'s program is already finished", chip));
    return *builders_[chip];
  }
  bool finished(uint32_t chip) const { return chip_program_[chip].has_value(); }
  // Instructions the chip's schedule holds (0 once finished: its schedule is freed).
  size_t held_instructions(uint32_t chip) const { return builders_[chip]->schedule().placed(); }

  // Finishes the chip's program now and frees its builder (schedule, memory map, images), so that
  // a system compiled in parts (the pipeline stages of a Llama step) holds the schedules of one
  // part at a time. Identical programs are stored once; finishing the chips in increasing order
  // gives the same system program as finish_system alone.
  void finish_chip(uint32_t chip, const std::string& workload, uint64_t tokens_per_run);
  // From now on, finished programs go to `spill` (serialized) instead of staying in memory.
  void spill_to(std::shared_ptr<ProgramSpill> spill) { spill_ = std::move(spill); }
  // The system program of the finished chips (every chip must be finished), moved out.
  CompiledSystem take_finished(const std::string& workload, uint64_t tokens_per_run);
  const SystemConfig& system() const { return system_; }
  const Topology& topology() const { return topology_; }

  // One tensor's vectors from `src` on one chip to `dst` on another, along `route`, in order.
  struct Flow {
    std::vector<Hop> route;
    const TiledTensor* src;
    const TiledTensor* dst;
  };
  Flow flow(uint32_t from, const TiledTensor& src, uint32_t to, const TiledTensor& dst) const {
    return {topology_.route(from, to), &src, &dst};
  }
  // Sends several flows at once, one vector of each in turn, so that their links run together.
  void interleave(const std::vector<Flow>& flows);
  // The same for sequences of flows: each sequence's flows one after another, one vector of every
  // sequence in turn. A sequence's first flows then finish early, so work that waits for them
  // can start while the rest travel.
  void interleave_sequences(const std::vector<std::vector<Flow>>& sequences);

  // Moves one vector from `src` on chip `from` to `dst` on chip `to` along `route`, each hop as
  // early as the links, queues, streams and banks allow (a Send may fill an idle gap of its link);
  // intermediate chips store the vector in a forwarding word (forward_word) and send it on.
  // Returns the SRAM write cycle at `dst`.
  Cycle move(const std::vector<Hop>& route, VectorPlace src, VectorPlace dst) {
    VectorPlace at = src;
    Cycle written = -1;
    for (size_t h = 0; h < route.size(); ++h) {
      const bool last = h + 1 == route.size();
      const Landing landing =
          hop(route[h], at, last ? Target{dst, false} : Target{{forward_slice(route[h].to), 0}, true});
      // The Send of this hop has read the forwarding word: a later vector may take it.
      if (h > 0) release_forward_word(route[h].from, at);
      written = landing.written;
      at = landing.place;
    }
    return written;
  }

private:
  // Where a hop writes its vector: `place`, or (forward) a forwarding word of place.mem.
  struct Target {
    VectorPlace place;
    bool forward;
  };
  struct Landing {
    VectorPlace place; // the word written
    Cycle written;     // its SRAM write cycle
  };

  // One hop of a vector from `at` to `target`: a Send at the first cycle where its link is idle
  // and the far end can receive it in send order, and that Receive.
  Landing hop(const Hop& route_hop, VectorPlace at, Target target) {
    Schedule& from = builder(route_hop.from).schedule();
    Cycle earliest = from.written(at.mem, at.address) + 1;
    const Hop& cable = least_busy(route_hop, earliest);
    LinkTimeline& link = links_[cable.from][cable.out_link];
    for (;;) {
      const size_t mark = from.mark();
      const Sent sent = send(cable.from, cable.out_link, at, earliest);
      const VectorPlace into = target.forward ? forward_word(cable.to, target.place.mem) : target.place;
      if (const auto received = receive(cable.to, cable.in_link, sent.arrival, sent.window, into)) {
        from.commit();
        link.add(sent.cycle, received->first);
        if (target.forward) forward_pools_[cable.to][into.mem].free.pop();
        return {into, received->second};
      }
      from.rollback(mark);
      earliest = sent.window.next_send; // the rest of this gap is received too late as well
    }
  }

  // Of the cables between the hop's two chips, the one a vector ready at `ready` can leave on
  // first, then the one that frees first (the first such): parallel cables, such as the two
  // between nodes of a rack, share the traffic.
  const Hop& least_busy(const Hop& hop, Cycle ready) const {
    const Hop* best = nullptr;
    std::pair<Cycle, Cycle> best_key{};
    for (const Hop& cable : topology_.hops(hop.from))
      if (cable.to == hop.to) {
        const LinkTimeline& link = links_[hop.from][cable.out_link];
        const std::pair<Cycle, Cycle> key{link.free_from(ready), link.end()};
        if (!best || key < best_key) {
          best = &cable;
          best_key = key;
        }
      }
    return *best;
  }

  static constexpr Cycle kSearch = 1 << 20; // cycles tried before giving up on one placement

  unsigned sxm_near(uint32_t chip, uint32_t mem) {
    const Floorplan& floorplan = builder(chip).schedule().floorplan();
    const bool east = floorplan.slices()[floorplan.slice_of_mem(mem)].east;
    return *floorplan.find_slice(east ? "SXM_E" : "SXM_W");
  }

  // The SXM queue preferred for the chip's next Send or Receive. They take the SXM's queues in
  // turn, half an instruction buffer each, so that no queue holds so much link traffic that it
  // never idles long enough to fetch its text (a 32 MiB rack72 all-reduce put 334,271
  // instructions on SXM_W.0). A queue refills its buffer during the others' turns, and a turn
  // keeps its instructions as close together as one queue would (taking queues in turn one
  // instruction at a time put a NOP word after almost every one). The cycles placed are the same
  // as with any other choice: a slice takes an instruction when any of its queues is free.
  std::vector<unsigned> link_queue(uint32_t chip, unsigned sxm) {
    const Schedule& schedule = builder(chip).schedule();
    const unsigned queues = schedule.floorplan().slices()[sxm].queue_count;
    const uint32_t turn = std::max(1u, schedule.config().icu.instruction_buffer_entries / 2);
    return {link_queue_next_[chip] / turn % queues};
  }

  // A Send placed on `chip` (not committed: the caller commits it once its Receive is placed).
  struct Sent {
    Cycle cycle;                 // the Send's cycle
    Cycle arrival;               // receivable at the far end from here
    LinkTimeline::Window window; // the Receive cycles that keep the send order
  };

  // A Send of the vector at `at` on `link`, at the first cycle from `earliest` on where the vector
  // is written, the link is idle and the vector arrives before the next placed vector's Receive.
  Sent send(uint32_t chip, uint32_t link, VectorPlace at, Cycle earliest) {
    Schedule& schedule = builder(chip).schedule();
    const ChipConfig& config = schedule.config();
    const LinkTimeline& timeline = links_[chip][link];
    const unsigned sxm = sxm_near(chip, at.mem);
    const unsigned position = schedule.slice_position(sxm);
    const Dir dir = Schedule::direction(schedule.mem_position(at.mem), position);
    const Instruction read = make_read(at.address, {});
    const Cycle send_skew = Cycle(skew_cycles(make_send(link, {}), config));
    const Cycle flight = Cycle(func_cycles(make_send(link, {}), config));
    const std::vector<unsigned> preferred = link_queue(chip, sxm);
    Cycle t = timeline.free_from(std::max(earliest, schedule.written(at.mem, at.address) + 1));
    for (Cycle tried = 0; tried < kSearch; ++tried, t = timeline.free_from(t + 1)) {
      const LinkTimeline::Window window = timeline.window(t);
      if (std::max(t + flight, window.after + 1) >= window.before) {
        t = window.next_send; // every later cycle of this idle gap arrives too late as well
        continue;
      }
      // What no stream can change: a queue of the SXM, the Read's queue slot and bank port.
      const Cycle read_at = schedule.read_dispatch(at.mem, position, t + send_skew);
      if (!schedule.slice_free(sxm, t) || !schedule.slot_free(schedule.mem_queue(at.mem), read_at) ||
          !schedule.bank_free(at.mem, at.address, read_at + Cycle(skew_cycles(read, config))))
        continue;
      for (unsigned id = 0; id < config.streams.per_direction; ++id) {
        const Stream stream{id, dir};
        const Instruction instruction = make_send(link, stream);
        const size_t mark = schedule.mark();
        if (schedule.place_on_slice(sxm, t, instruction, preferred) >= 0 &&
            schedule.read_to(at.mem, at.address, stream, position,
                             t + Cycle(skew_cycles(instruction, config)))) {
          ++link_queue_next_[chip];
          return {t, t + Cycle(func_cycles(instruction, config)), window};
        }
        schedule.rollback(mark);
      }
    }
    throw InputError(fmt::format("collective: no cycle for a Send on chip {} link {}", chip, link));
  }

  // A Receive on `link` of the vector receivable from `arrival`, inside `window`, written to
  // `into`: its cycle and the SRAM write cycle, or nothing if the window has no room for it.
  std::optional<std::pair<Cycle, Cycle>> receive(uint32_t chip, uint32_t link, Cycle arrival,
                                                 const LinkTimeline::Window& window, VectorPlace into) {
    Schedule& schedule = builder(chip).schedule();
    const ChipConfig& config = schedule.config();
    const unsigned sxm = sxm_near(chip, into.mem);
    const unsigned position = schedule.slice_position(sxm);
    const Dir dir = Schedule::direction(position, schedule.mem_position(into.mem));
    const Cycle start = std::max({arrival, window.after + 1, receivable_into(chip, link, into)});
    const Instruction write = make_write(into.address, {});
    const Cycle to_write = Cycle(func_cycles(make_receive(link, {}), config)) +
                           schedule.travel(position, schedule.mem_position(into.mem)) -
                           Cycle(skew_cycles(write, config));
    const Cycle end = window.before == LinkTimeline::kNever ? start + kSearch : window.before;
    const std::vector<unsigned> preferred = link_queue(chip, sxm);
    for (Cycle t = start; t < end; ++t) {
      // What no stream can change: a queue of the SXM, the Write's queue slot and bank port.
      const Cycle write_at = t + to_write;
      if (!schedule.slice_free(sxm, t) || !schedule.slot_free(schedule.mem_queue(into.mem), write_at) ||
          !schedule.bank_free(into.mem, into.address, write_at + Cycle(skew_cycles(write, config))))
        continue;
      for (unsigned id = 0; id < config.streams.per_direction; ++id) {
        const Stream stream{id, dir};
        const Instruction instruction = make_receive(link, stream);
        const Cycle on_stream = t + Cycle(func_cycles(instruction, config));
        const size_t mark = schedule.mark();
        if (schedule.place_on_slice(sxm, t, instruction, preferred) >= 0 &&
            schedule.claim_write(stream, position, on_stream) &&
            schedule.write_from(into.mem, into.address, stream, position, on_stream)) {
          schedule.commit();
          ++link_queue_next_[chip];
          return std::pair{t, schedule.written(into.mem, into.address)};
        }
        schedule.rollback(mark);
      }
    }
    if (window.before != LinkTimeline::kNever) return std::nullopt;
    throw InputError(fmt::format("collective: no cycle for a Receive on chip {} link {}", chip, link));
  }

  // The first cycle at which a Receive on `link` may write `into`: a reused word is written after
  // its last Read.
  Cycle receivable_into(uint32_t chip, uint32_t link, VectorPlace into) {
    Schedule& schedule = builder(chip).schedule();
    return schedule.writable_at(into.mem, into.address, schedule.slice_position(sxm_near(chip, into.mem))) -
           Cycle(func_cycles(make_receive(link, {}), schedule.config()));
  }

  // The slice of the next vector passing through `chip`: the slices nearest its SXMs in turn.
  unsigned forward_slice(uint32_t chip) {
    const Schedule& schedule = builder(chip).schedule();
    const unsigned per_side = schedule.config().geometry.mem_slices_per_hemisphere;
    const uint32_t k = forward_next_[chip]++;
    const bool east = k % 2 == 1;
    const unsigned index = per_side - 1 - (k / 2) % std::min(per_side, 4u);
    return schedule.floorplan().mem_global(east, index);
  }

  // A slice's forwarding words that hold no vector, by last Read (-1: never read) then address,
  // and how many words the slice has.
  struct ForwardPool {
    std::priority_queue<std::pair<Cycle, uint32_t>, std::vector<std::pair<Cycle, uint32_t>>, std::greater<>>
        free;
    uint32_t words = 0;
  };

  // The word of slice `mem` on `chip` for a vector passing through: a word never used while the
  // slice has room and its forwarding words are at most a quarter of it, as every vector had its
  // own word before words were reused, so the schedules of everything that fitted then stay the
  // same (reusing first changed the Receives' banks and cycles, and a 16 MiB rack72 all-reduce
  // then failed its instruction fetch: collectives.md, "Routes"); the rest of the slice stays for
  // tensors and fetched text. Beyond that, the word whose last Read came first, and the Receive
  // waits for that Read. A word stays free until the hop that writes it pops it.
  VectorPlace forward_word(uint32_t chip, unsigned mem) {
    ProgramBuilder& b = builder(chip);
    ForwardPool& pool = forward_pools_[chip][mem];
    if (pool.free.empty() || (pool.free.top().first >= 0 && pool.words < b.memory().words_per_slice() / 4 &&
                              b.memory().fits({mem}, 1, false))) {
      const uint32_t address =
          b.memory().allocate({mem}, 1, fmt::format("forwarding buffer of chip {}", chip));
      b.schedule().track_reads_of(mem, address);
      pool.free.push({-1, address});
      ++pool.words;
    }
    return {mem, pool.free.top().second};
  }

  // The vector in forwarding word `at` of `chip` has been sent on: the word is free after that Read.
  void release_forward_word(uint32_t chip, VectorPlace at) {
    forward_pools_[chip][at.mem].free.push(
        {builder(chip).schedule().last_read(at.mem, at.address), at.address});
  }

  const SystemConfig& system_;
  const Topology& topology_;
  std::vector<std::unique_ptr<ProgramBuilder>> builders_;
  std::vector<std::vector<LinkTimeline>> links_; // per chip and link: the vectors it sends
  std::vector<uint32_t> forward_next_;
  std::vector<uint32_t> link_queue_next_; // per chip: Sends (rolled back ones too) and Receives placed
  std::vector<std::vector<ForwardPool>> forward_pools_; // per chip and MEM slice
  // Finished programs: the distinct ones, each chip's index among them, and the distinct ones by
  // a hash of their bytes (a match is confirmed on the bytes).
  std::vector<Program> programs_;
  std::shared_ptr<ProgramSpill> spill_;
  std::vector<std::optional<uint32_t>> chip_program_;
  std::multimap<uint64_t, uint32_t> distinct_;
  uint64_t predicted_cycles_ = 0;
  std::string generator_;
};

// op(inputs) as a balanced tree of `op` in `dtype`, inputs in order (one input: a copy). Every
// chip that evaluates it over the same values gets the same bits.
VExpr combine_expression(isa::Opcode op, isa::DType dtype, unsigned inputs);

// Rows [first, first + count) of shard k when `rows` split into n shards as evenly as possible
// (the first rows % n shards one row longer).
struct RowShard {
  uint32_t first = 0;
  uint32_t count = 0;
};
RowShard row_shard(uint32_t rows, uint32_t n, uint32_t k);

// All-reduce over a fully connected set of chips: outputs[i] (on chips[i]) is the n inputs
// combined with `op` in chip order (the same tree on every chip, so every chip holds the same
// bits). Each Send waits for its vector's write, so the collective starts as soon as each chip's
// input is written. One chip: a copy. Of two schedules, the one whose busiest link is busy for
// fewer cycles, counting the second phase's link crossing as its latency:
// - one phase: every chip sends its whole input straight to every other and combines all n;
// - two phases, when the rows split over the chips: chip k combines row shard k of every input
//   and sends its sum back to every chip, so each link carries two shards instead of a whole input.
void schedule_all_reduce(SystemSchedule& schedule, const std::vector<uint32_t>& chips,
                         const std::vector<const TiledTensor*>& inputs,
                         const std::vector<const TiledTensor*>& outputs, isa::Opcode op);

// Finishes every chip's program not finished yet (finish_chip) into one system program
// (identical programs stored once).
CompiledSystem finish_system(SystemSchedule& schedule, const std::string& workload,
                             uint64_t tokens_per_run = 0);

} // namespace tsp::compiler
