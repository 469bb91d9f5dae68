// Scheduling of lane-wise expressions in the VXM (include/tspsim/compiler/vector.h).
//
// Every node has a fixed offset from the root's result cycle: an operation dispatched at D reads
// at D + skew and produces at D + func, and its producer must put its value at the VXM exactly
// when it reads (a value moves on the next cycle). Inputs are Reads timed to arrive then. A
// vector is placed at the first root cycle for which every Read, ALU slot, stream span and the
// result's Writes are free.
#include "tspsim/compiler/vector.h"

#include "tspsim/common/error.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

// Root cycles a vector tries past its first, and past everything placed, before it gives up.
constexpr Cycle kSearchLimit = 1 << 16;
// Root cycles a vector tries before its expression's inputs are staggered.
constexpr Cycle kStaggerAfter = 1 << 11;
// How far before the previous vector a vector may still go: later vectors fill earlier gaps.
constexpr Cycle kBackfill = 32;
// Slices with at least this many queues rest one queue per cycle.
constexpr unsigned kRestingQueues = 8;
// Leaves delayed one by one before an expression that does not fit alone is given up.
constexpr unsigned kLeafDelays = 32;
// Operations moved by a mov before an expression that needs too many queues in one cycle is
// given up.
constexpr unsigned kRetimes = 32;
// Rows probed on an empty chip: rows of different slice groups read different slices.
constexpr uint32_t kProbedRows = 8;
// Bytes of the widest element type.
constexpr unsigned kMaxBytes = 4;

uint32_t f32_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// The streams of an operation's operands, in the order of its args (a fixed array: an attempt
// builds one per operation it places).
using ArgStreams = std::array<Stream, isa::kMaxFields>;

// A few entries looked up by key, cleared for every attempt: a linear scan of a vector that keeps
// its capacity, where a std::map would allocate a node per entry.
template <class Key, class Value> class SmallMap {
public:
  const Value* find(const Key& key) const {
    for (const auto& [k, v] : entries_)
      if (k == key) return &v;
    return nullptr;
  }
  void set(const Key& key, const Value& value) {
    for (auto& [k, v] : entries_)
      if (k == key) {
        v = value;
        return;
      }
    entries_.emplace_back(key, value);
  }
  void clear() { entries_.clear(); }

private:
  std::vector<std::pair<Key, Value>> entries_;
};

// The instruction of an operation node with its streams.
Instruction node_instruction(const VNode& n, Stream dst, const ArgStreams& args) {
  Instruction ins;
  ins.opcode = n.opcode;
  auto& o = ins.operands;
  switch (n.opcode) {
  case Opcode::v_splat:
    o[0] = static_cast<int64_t>(n.dtype);
    o[1] = dst.field();
    o[2] = n.imm;
    break;
  case Opcode::v_cvt:
  case Opcode::v_requant:
    o[0] = static_cast<int64_t>(n.dtype);
    o[1] = static_cast<int64_t>(n.from);
    o[2] = dst.field();
    o[3] = args[0].field();
    o[4] = n.imm;
    break;
  default:
    o[0] = static_cast<int64_t>(n.dtype);
    o[1] = dst.field();
    for (size_t i = 0; i < n.args.size(); ++i) o[2 + i] = args[i].field();
  }
  return ins;
}

class VectorScheduler {
public:
  VectorScheduler(Schedule& schedule, const VExpr& expr, const std::vector<const TiledTensor*>& inputs,
                  const TiledTensor& out, ReadMisses misses = ReadMisses::remembered)
      : s_(schedule), expr_(expr), inputs_(inputs), out_(out), config_(schedule.config()),
        vxm_(schedule.floorplan().vxm_slice()), misses_(misses) {
    prepare();
  }

  // Offsets, consumers, structural ids and the queue check of the current expression.
  // Operations that would need more queues of a slice in one cycle than it has get their
  // results delayed by a mov (the operation moves a cycle or so earlier) until none do.
  void prepare() {
    for (unsigned tries = 0;; ++tries) {
      std::optional<Crowded> crowded;
      try {
        crowded = layout();
      } catch (const SharedValueTwice&) {
        throw std::logic_error("tspc vector: a shared value is read in two cycles");
      }
      if (!crowded) return;
      if (tries == kRetimes)
        throw InputError(fmt::format("a lane-wise expression dispatches {} operations on {} in one cycle; "
                                     "it has {} queues free",
                                     crowded->distinct, s_.floorplan().slices()[crowded->slice].name,
                                     crowded->queues));
      // The delay that leaves the fewest operations over the queues.
      const VExpr before = expr_;
      std::optional<std::pair<size_t, unsigned>> best;
      for (unsigned node : crowded->nodes) {
        if (node == expr_.root) continue;
        delay_value(node);
        try {
          const auto after = layout();
          const size_t overflow = after ? after->overflow : 0;
          if (!best || overflow < best->first) best = {overflow, node};
        } catch (const SharedValueTwice&) {
          // An operation sharing its operand with another (a lane reduction's two Permutes of one
          // value) would read it a cycle earlier than the other once delayed: not a candidate.
        }
        expr_ = before;
      }
      if (!best)
        tries = kRetimes - 1;
      else
        delay_value(best->second);
    }
  }

  struct Crowded {
    unsigned slice;
    std::vector<unsigned> nodes;
    size_t distinct;
    unsigned queues;
    size_t overflow = 0; // operations over the queues, summed over every slice and cycle
  };

  // Offsets, consumers and structural ids; the first slice and cycle that needs more queues than
  // the slice has, if any.
  std::optional<Crowded> layout() {
    offset_.assign(expr_.nodes.size(), kUnset);
    consumers_.assign(expr_.nodes.size(), {});
    canonical_.clear();
    last_base_.assign(expr_.nodes.size(), -1);
    leaf_words_.assign(expr_.nodes.size(), {});
    placed_.assign(expr_.nodes.size(), {});
    placed_in_.assign(expr_.nodes.size(), 0);
    first_leaf_ = expr_.root;
    while (!expr_.nodes[first_leaf_].args.empty()) first_leaf_ = expr_.nodes[first_leaf_].args[0];
    for (size_t i = 0; i < expr_.nodes.size(); ++i)
      for (unsigned a : expr_.nodes[i].args) consumers_[a].push_back(position(static_cast<unsigned>(i)));
    for (size_t i = 0; i < expr_.nodes.size(); ++i) {
      auto& c = consumers_[i];
      std::sort(c.begin(), c.end());
      c.erase(std::unique(c.begin(), c.end()), c.end());
      if (c.size() > 1) throw std::logic_error("tspc vector: a shared value must be read at one slice");
    }
    set_offset(expr_.root, 0);
    // Structurally equal nodes get one id: computed in the same cycle, they are one value.
    // Arguments first: a node added by stagger_leaves sits after the node that reads it.
    std::map<std::tuple<int, int, int, int, int, unsigned, int, int, std::vector<unsigned>>, unsigned> ids;
    canonical_.assign(expr_.nodes.size(), UINT_MAX);
    // The walk keeps its own stack, as place does; a node is keyed once its arguments are.
    std::vector<unsigned> pending;
    for (size_t start = 0; start < expr_.nodes.size(); ++start) {
      pending.push_back(static_cast<unsigned>(start));
      while (!pending.empty()) {
        const unsigned i = pending.back();
        const VNode& n = expr_.nodes[i];
        if (canonical_[i] != UINT_MAX) {
          pending.pop_back();
          continue;
        }
        // Unkeyed arguments are pushed last first, so that they are keyed (and numbered) in order.
        std::vector<unsigned> args;
        for (auto a = n.args.rbegin(); a != n.args.rend(); ++a)
          if (canonical_[*a] == UINT_MAX)
            pending.push_back(*a);
          else
            args.insert(args.begin(), canonical_[*a]);
        if (args.size() < n.args.size()) continue;
        pending.pop_back();
        const auto key = std::make_tuple(int(n.kind), int(n.opcode), int(n.dtype), int(n.from), n.slice,
                                         n.imm, n.kind == VNode::Kind::input ? int(n.input) : -1,
                                         n.kind == VNode::Kind::input ? n.row * 65536 + n.tile : 0, args);
        canonical_[i] = ids.emplace(key, static_cast<unsigned>(ids.size())).first->second;
      }
    }
    // Every vector dispatches its operations in the same relative cycles: no slice may need more
    // than its queues in one of them.
    std::map<std::pair<unsigned, Cycle>, std::set<unsigned>> busy;
    for (unsigned i = 0; i < expr_.nodes.size(); ++i)
      if (expr_.nodes[i].kind != VNode::Kind::input)
        busy[{slice_of(i), offset_[i] - Cycle(func_cycles(probe(i), config_))}].insert(i);
    std::optional<Crowded> first;
    size_t overflow = 0;
    for (const auto& [where, nodes] : busy) {
      std::set<std::pair<unsigned, Cycle>> distinct;
      for (unsigned i : nodes) distinct.insert({canonical_[i], offset_[i]});
      const unsigned queues = s_.floorplan().slices()[where.first].queue_count - (rests(where.first) ? 1 : 0);
      if (distinct.size() <= queues) continue;
      overflow += distinct.size() - queues;
      if (first) continue;
      first = Crowded{where.first, {}, distinct.size(), queues};
      for (unsigned node : nodes) first->nodes.push_back(node);
    }
    if (first) first->overflow = overflow;
    return first;
  }

  std::string describe(unsigned node) const {
    const VNode& n = expr_.nodes[node];
    if (n.kind == VNode::Kind::input)
      return fmt::format("input {} '{}' row {} tile {} at offset {}", n.input, inputs_[n.input]->name, n.row,
                         n.tile, offset_[node]);
    return fmt::format("{} on {} at offset {}", isa::spec(n.opcode).mnemonic,
                       s_.floorplan().slices()[slice_of(node)].name, offset_[node]);
  }

  // The cycles from the first dispatch of one vector to its result's SRAM write, with its
  // operands in MEM from the start and nothing else in the way: one step of a dependency chain.
  Cycle latency() const {
    Cycle first = 0; // the earliest dispatch relative to the root's result
    for (unsigned i = 0; i < expr_.nodes.size(); ++i) {
      const VNode& n = expr_.nodes[i];
      if (n.kind != VNode::Kind::input) {
        first = std::min(first, offset_[i] - Cycle(func_cycles(probe(i), config_)));
        continue;
      }
      const SymbolWord w = symbol_word(input_symbol(n, 0), input_row(n), 0);
      first = std::min(first, offset_[i] - s_.travel(s_.mem_position(w.mem), consumers_[i][0]) -
                                  Cycle(func_cycles(make_read(0, {}), config_)));
    }
    const SymbolWord out = symbol_word(out_.tiles[0], 0, 0);
    return s_.travel(position(expr_.root), s_.mem_position(out.mem)) - first + 1;
  }

  Cycle run(Cycle earliest) {
    reserve_tables();
    Cycle previous = 0;
    Cycle last_write = -1;
    bool staggered = false;
    unsigned leaf_delays = 0;
    // An expression that does not fit on an empty chip never will: delay the leaf that finds no
    // room by a mov (its read moves a cycle earlier) until the vector fits, then try the blanket
    // remedy, then name the node that finds no room.
    if (misfit_alone()) {
      for (unsigned tries = 0; tries < kLeafDelays && misfit_alone(); ++tries)
        if (expr_.nodes[probe_failed_].kind != VNode::Kind::input ||
            !rewrite([&, leaf = probe_failed_] { delay_value(leaf); }, false))
          break;
      if (misfit_alone()) staggered = rewrite([&] { stagger_leaves(); }, false);
      if (const auto misfit = misfit_alone()) throw InputError(*misfit);
    }
    for (uint32_t r = 0; r < out_.rows; ++r)
      for (unsigned t = 0; t < out_.tile_count(); ++t) {
        row_ = r;
        tile_ = t;
        Cycle start = std::max({previous - kBackfill, lower_bound(), earliest});
        Cycle done = -1;
        // A long transfer (a prompt's hand-off between stages) can hold a slice's ports or streams
        // for more than kSearchLimit cycles; past everything placed the tables are empty, so a
        // vector that finds no cycle there never will.
        Cycle placed_until = -1; // -1: not looked up yet
        const auto give_up_after = [&] { return std::max(start, placed_until) + kSearchLimit; };
        for (Cycle p = start; done < 0; ++p) {
          // Operands of one operation read in one cycle from one slice never fit: read them in
          // different cycles, once, and go on.
          if (!staggered && p > start + kStaggerAfter) {
            staggered = true;
            if (rewrite([&] { stagger_leaves(); }, true))
              p = start = std::max({previous - kBackfill, lower_bound(), earliest});
          }
          if (p > give_up_after() && placed_until < 0) placed_until = s_.last_active();
          // A leaf can collide with another in every cycle from some row on (rows past the ones
          // misfit_alone probes): read it a cycle earlier through a mov and search again.
          if (p > give_up_after() && expr_.nodes[failed_].kind == VNode::Kind::input &&
              leaf_delays < kLeafDelays && rewrite([&, leaf = failed_] { delay_value(leaf); }, true)) {
            ++leaf_delays;
            placed_until = -1;
            p = start = std::max({previous - kBackfill, lower_bound(), earliest});
          }
          if (p > give_up_after())
            throw std::logic_error(
                fmt::format("tspc vector: no cycle for row {} tile {} from cycle {}: node {} ({}) "
                            "never fits",
                            r, t, start, failed_, describe(failed_)));
          skip_ = 0;
          if (attempt(p, last_write))
            done = p;
          else
            p += skip_;
        }
        // A placed vector stays: its undo entries (about three per instruction) would otherwise
        // outgrow the schedule itself.
        s_.commit();
        previous = done;
      }
    return last_write;
  }

private:
  // Room in the span and bank tables for every vector's values and MEM accesses: the searches
  // probe them hundreds of times per placed vector, and a table that grows meanwhile is rebuilt
  // at each doubling and runs up to its highest load, where probes are longest.
  void reserve_tables() {
    size_t values = 0;
    size_t accesses = isa::dtype_bytes(expr_.nodes[expr_.root].dtype);
    for (const VNode& n : expr_.nodes) {
      const unsigned bytes =
          isa::dtype_bytes(n.kind == VNode::Kind::input ? inputs_[n.input]->dtype : n.dtype);
      values += bytes;
      if (n.kind == VNode::Kind::input) accesses += bytes;
    }
    const size_t vectors = size_t(out_.rows) * out_.tile_count();
    s_.reserve_accesses(vectors * accesses);
    s_.reserve_values(vectors * values);
  }

  // Places the current vector with its root result at cycle p, or nothing.
  bool attempt(Cycle p, Cycle& last_write) {
    const size_t mark = s_.mark();
    attempt_mark_ = mark;
    ++attempt_;
    shared_reads_.clear();
    equal_ops_.clear();
    Cycle candidate = last_write;
    root_ = p;
    // The walk from the root places the first leaf before anything else, and about half of the
    // failed attempts fail there (SwiGLU): placing it first spares them the walk down to it.
    if (place(first_leaf_, candidate) && place(expr_.root, candidate)) {
      last_write = candidate;
      return true;
    }
    s_.rollback(mark);
    return false;
  }

  // Applies `change` to the expression and keeps it if the expression still has enough queues
  // per cycle and (when `must_fit`) a vector still fits on an empty chip; else restores it.
  bool rewrite(const std::function<void()>& change, bool must_fit) {
    const VExpr before = expr_;
    try {
      change();
      prepare();
      if (!must_fit || !misfit_alone()) return true;
    } catch (const InputError&) {
    }
    expr_ = before;
    prepare();
    return false;
  }

  // Passes `leaf`'s value through a mov in the VXM: it is read or computed a little earlier, out
  // of the way of what it collides with.
  void delay_value(unsigned leaf) {
    VNode mov;
    mov.opcode = Opcode::v_mov;
    mov.dtype = expr_.nodes[leaf].dtype;
    mov.args.push_back(leaf);
    expr_.nodes.push_back(mov);
    const auto moved = static_cast<unsigned>(expr_.nodes.size() - 1);
    for (unsigned i = 0; i < moved; ++i)
      for (unsigned& a : expr_.nodes[i].args)
        if (a == leaf) a = moved;
  }

  // Whether every column tile of the first rows can be placed on a chip with nothing else
  // scheduled (within a few turns of the resting queues); if not, why (and probe_failed_ is the
  // node that found no room).
  std::optional<std::string> misfit_alone() {
    constexpr Cycle kTurns = 2 * kRestingQueues * 4;
    Schedule empty = s_.empty_like();
    VectorScheduler probe(empty, expr_, inputs_, out_);
    for (uint32_t r = 0; r < std::min<uint32_t>(out_.rows, kProbedRows); ++r)
      for (unsigned t = 0; t < out_.tile_count(); ++t) {
        probe.row_ = r;
        probe.tile_ = t;
        const Cycle start = probe.lower_bound();
        bool fits = false;
        for (Cycle p = start; !fits && p < start + kTurns; ++p) {
          Cycle last_write = -1;
          fits = probe.attempt(p, last_write);
          if (fits) empty.rollback(0);
        }
        probe_failed_ = probe.failed_;
        if (!fits)
          return fmt::format("a lane-wise expression of {} operations does not fit this chip ({} streams per "
                             "direction, {} MEM slices per hemisphere): {} finds no free MEM queue, bank "
                             "port, stream or queue slot",
                             expr_.op_count(), config_.streams.per_direction,
                             config_.geometry.mem_slices_per_hemisphere, probe.describe(probe.failed_));
      }
    return std::nullopt;
  }

private:
  static constexpr Cycle kUnset = INT64_MIN;
  // Thrown by set_offset when two consumers of one value read it in different cycles: a delay
  // tried by prepare that would need it is no candidate.
  struct SharedValueTwice {};

  // Every operation that reads several inputs straight from MEM reads its k-th one (k = 1, 2, ...)
  // through k movs, k cycles earlier: no two of its operands are read in one cycle.
  void stagger_leaves() {
    const size_t count = expr_.nodes.size();
    for (size_t i = 0; i < count; ++i) {
      unsigned k = 0;
      for (size_t j = 0; j < expr_.nodes[i].args.size(); ++j) {
        const unsigned a = expr_.nodes[i].args[j];
        if (expr_.nodes[a].kind != VNode::Kind::input) continue;
        unsigned value = a;
        for (unsigned m = 0; m < k; ++m) {
          VNode mov;
          mov.opcode = Opcode::v_mov;
          mov.dtype = expr_.nodes[a].dtype;
          mov.args.push_back(value);
          expr_.nodes.push_back(mov);
          value = static_cast<unsigned>(expr_.nodes.size() - 1);
        }
        expr_.nodes[i].args[j] = value;
        ++k;
      }
    }
  }

  unsigned slice_of(unsigned node) const {
    const int slice = expr_.nodes[node].slice;
    return slice < 0 ? vxm_ : static_cast<unsigned>(slice);
  }
  unsigned position(unsigned node) const { return s_.slice_position(slice_of(node)); }

  Instruction probe(unsigned node) const {
    const VNode& n = expr_.nodes[node];
    return node_instruction(n, {}, ArgStreams{});
  }

  // Offsets from the root's result cycle: of an operation, the cycle its result is at its slice;
  // of an input, the cycle it arrives at its consumer.
  // The walk keeps its own stack, as place does.
  void set_offset(unsigned root, Cycle root_value) {
    std::vector<std::pair<unsigned, Cycle>> pending{{root, root_value}};
    while (!pending.empty()) {
      const auto [node, value] = pending.back();
      pending.pop_back();
      if (offset_[node] != kUnset) {
        if (offset_[node] != value) throw SharedValueTwice{};
        continue;
      }
      offset_[node] = value;
      const VNode& n = expr_.nodes[node];
      if (n.kind == VNode::Kind::input) continue;
      const Instruction ins = probe(node);
      const Cycle read = value - Cycle(func_cycles(ins, config_)) + Cycle(skew_cycles(ins, config_));
      for (unsigned a : n.args)
        pending.emplace_back(a, expr_.nodes[a].kind == VNode::Kind::input
                                    ? read
                                    : read - s_.travel(position(a), position(node)));
    }
  }

  const Symbol& input_symbol(const VNode& n, unsigned copy) const {
    const TiledTensor& tensor = *inputs_[n.input];
    const unsigned tile = n.tile >= 0 ? static_cast<unsigned>(n.tile) : tile_;
    return copy == 0 ? tensor.tiles[tile] : tensor.copies[copy - 1][tile];
  }
  uint32_t input_row(const VNode& n) const {
    return n.row >= 0 ? static_cast<uint32_t>(n.row) : inputs_[n.input]->rows == 1 ? 0 : row_;
  }

  // No root cycle before every operand can be read and every dispatch is at cycle 0 or later.
  Cycle lower_bound() const {
    Cycle bound = 0;
    for (unsigned i = 0; i < expr_.nodes.size(); ++i) {
      const VNode& n = expr_.nodes[i];
      if (n.kind != VNode::Kind::input) {
        bound = std::max(bound, Cycle(func_cycles(probe(i), config_)) - offset_[i]);
        continue;
      }
      const TiledTensor& tensor = *inputs_[n.input];
      for (unsigned b = 0; b < isa::dtype_bytes(tensor.dtype); ++b) {
        const SymbolWord w = symbol_word(input_symbol(n, 0), input_row(n), b);
        bound = std::max(bound, s_.readable_at(w.mem, w.address, consumers_[i][0]) - offset_[i]);
      }
    }
    // A reused word of the result is written after its last Read.
    const unsigned root = expr_.root;
    for (unsigned b = 0; b < isa::dtype_bytes(expr_.nodes[root].dtype); ++b) {
      const SymbolWord w = symbol_word(out_.tiles[tile_], row_, b);
      if (s_.last_read(w.mem, w.address) >= 0)
        bound = std::max(bound, s_.writable_at(w.mem, w.address, position(root)) - offset_[root]);
    }
    return bound;
  }

  // A slice with many queues lets one rest in each cycle: queue q in the cycles t = q (mod
  // queues), so that each idles now and then (a queue busy every cycle could not fetch more text).
  bool rests(unsigned slice) const { return s_.floorplan().slices()[slice].queue_count >= kRestingQueues; }

  // Calls visit(q) for the local queues of a node's slice for a dispatch at t, starting at one
  // that turns with the row, until one returns true; whether one did.
  template <class Visit> bool any_queue(unsigned node, Cycle t, Visit visit) const {
    const unsigned queues = s_.floorplan().slices()[slice_of(node)].queue_count;
    const bool resting = rests(slice_of(node));
    for (unsigned q = 0; q < queues; ++q) {
      const unsigned queue = (node + row_ + q) % queues;
      if ((!resting || Cycle(queue) != t % Cycle(queues)) && visit(queue)) return true;
    }
    return false;
  }

  // Calls try_base(base) for the group bases of a node's streams until one returns true; whether
  // one did. The base this node used last time comes first (the same stream for the same node of
  // consecutive vectors lets their instructions fold into Repeats), then the others from 0 up.
  template <class Try> bool any_base(unsigned node, unsigned bytes, Try try_base) const {
    const unsigned end = config_.streams.per_direction / bytes * bytes;
    const int last = last_base_[node];
    if (last >= 0 && try_base(unsigned(last))) return true;
    for (unsigned base = 0; base < end; base += bytes)
      if (int(base) != last && try_base(base)) return true;
    return false;
  }

  // The words of one row of a tensor, byte by byte: a search tests them for every copy and base.
  static std::array<SymbolWord, kMaxBytes> row_words(const Symbol& symbol, uint32_t row, unsigned bytes) {
    std::array<SymbolWord, kMaxBytes> words{};
    for (unsigned b = 0; b < bytes; ++b) words[b] = symbol_word(symbol, row, b);
    return words;
  }

  // The words of each copy of an input leaf's current row, found once per row and tile: every
  // root cycle a vector tries tests them.
  struct LeafWords {
    uint32_t row = UINT32_MAX;
    unsigned tile = UINT_MAX;
    std::vector<std::array<SymbolWord, kMaxBytes>> copies;
  };
  const std::vector<std::array<SymbolWord, kMaxBytes>>& leaf_words(unsigned node) {
    const VNode& n = expr_.nodes[node];
    const TiledTensor& tensor = *inputs_[n.input];
    const uint32_t row = input_row(n);
    const unsigned tile = n.tile >= 0 ? unsigned(n.tile) : tile_;
    LeafWords& words = leaf_words_[node];
    if (words.row != row || words.tile != tile) {
      words.row = row;
      words.tile = tile;
      words.copies.clear();
      for (unsigned k = 0; k <= tensor.copies.size(); ++k)
        words.copies.push_back(row_words(input_symbol(n, k), row, isa::dtype_bytes(tensor.dtype)));
    }
    return words.copies;
  }

  std::optional<Stream> place_input(unsigned node) {
    const VNode& n = expr_.nodes[node];
    const TiledTensor& tensor = *inputs_[n.input];
    const unsigned bytes = isa::dtype_bytes(tensor.dtype);
    const uint32_t row = input_row(n);
    const unsigned reader = consumers_[node][0];
    const unsigned copies = static_cast<unsigned>(tensor.copies.size()) + 1;
    failed_ = node;
    // The same word read for another leaf in the same cycle: one Read serves both.
    const auto key = std::make_tuple(n.input, row, n.tile >= 0 ? unsigned(n.tile) : tile_, offset_[node]);
    if (const auto* shared = shared_reads_.find(key)) {
      const auto& [stream, copy] = *shared;
      for (unsigned b = 0; b < bytes; ++b) {
        const unsigned writer = s_.mem_position(symbol_word(input_symbol(n, copy), row, b).mem);
        if (!s_.extend_read(stream.plus(b), writer, root_ + offset_[node] - s_.travel(writer, reader),
                            reader))
          return std::nullopt;
      }
      return stream;
    }
    // When every copy finds a MEM queue busy at its dispatch, no root cycle before one of them
    // frees up can place this read: the search skips ahead.
    const auto& copy_words = leaf_words(node);
    Cycle skip = kUnset;
    for (unsigned k = 0; k < copies && skip != 0; ++k) {
      Cycle wait = 0;
      for (unsigned b = 0; b < bytes; ++b) {
        const unsigned mem = copy_words[k][b].mem;
        const Cycle dispatch = s_.read_dispatch(mem, reader, root_ + offset_[node]);
        if (dispatch >= 0) wait = std::max(wait, s_.next_free_slot(s_.mem_queue(mem), dispatch) - dispatch);
      }
      skip = skip == kUnset ? wait : std::min(skip, wait);
    }
    if (skip > 0) {
      skip_ = std::max(skip_, skip - 1);
      return std::nullopt;
    }
    const Cycle at = root_ + offset_[node];
    const ReadMiss miss{n.input, row, n.tile >= 0 ? unsigned(n.tile) : tile_, reader, at};
    if (misses_ == ReadMisses::remembered && read_misses_[size_t(at) % read_misses_.size()] == miss)
      return std::nullopt;
    // Reserve-free tests first: a copy whose slots, bank ports or SRAM order fail, or a base whose
    // stream spans are taken, would fail after reserving and rolling back.
    for (unsigned k = 0; k < copies; ++k) {
      const unsigned copy = (row_ + k) % copies;
      const std::array<SymbolWord, kMaxBytes>& words = copy_words[copy];
      bool possible = true;
      for (unsigned b = 0; possible && b < bytes; ++b)
        possible = s_.read_possible(words[b].mem, words[b].address, reader, at);
      if (!possible) continue;
      const Dir dir = Schedule::direction(s_.mem_position(words[0].mem), reader);
      std::array<Schedule::Reach, kMaxBytes> reaches{};
      for (unsigned b = 0; b < bytes; ++b) reaches[b] = s_.read_reach(words[b].mem, dir, reader, at);
      std::optional<Stream> placed;
      any_base(node, bytes, [&](unsigned base) {
        for (unsigned b = 0; b < bytes; ++b)
          if (!s_.stream_free(reaches[b], base + b)) return false;
        const size_t mark = s_.mark();
        bool ok = true;
        for (unsigned b = 0; ok && b < bytes; ++b)
          ok = s_.read_to(words[b].mem, words[b].address, {base + b, dir}, reader, at);
        if (ok)
          placed = Stream{base, dir};
        else
          s_.rollback(mark);
        return ok;
      });
      if (placed) {
        shared_reads_.set(key, {*placed, copy});
        last_base_[node] = int(placed->id);
        return placed;
      }
    }
    if (s_.mark() == attempt_mark_) read_misses_[size_t(at) % read_misses_.size()] = miss;
    return std::nullopt;
  }

  // An operation whose operands are placed: its instruction, and its result's stream to its
  // consumers (or, for the root, to the MEM slices of the result).
  std::optional<Stream> place_op(unsigned node, Cycle& last_write) {
    const VNode& n = expr_.nodes[node];
    ArgStreams args{};
    for (size_t i = 0; i < n.args.size(); ++i) args[i] = placed_[n.args[i]];
    const bool root = node == expr_.root;
    const unsigned bytes = isa::dtype_bytes(n.dtype);
    const unsigned x = position(node);
    const Cycle produced = root_ + offset_[node];
    const Cycle dispatch = produced - Cycle(func_cycles(node_instruction(n, {}, args), config_));
    failed_ = node;
    // Reserve-free tests first: no queue free at the dispatch, or (for the root) a Write's slot,
    // bank port or SRAM order taken, fails every stream; a stream whose spans are taken fails.
    const unsigned first_queue = s_.floorplan().slices()[slice_of(node)].first_queue;
    if (!any_queue(node, dispatch, [&](unsigned q) { return s_.slot_free(first_queue + q, dispatch); }))
      return std::nullopt;
    // Where each byte of the result goes: its consumer, or (the root) its word's MEM slice.
    std::array<SymbolWord, kMaxBytes> out_words{};
    std::array<unsigned, kMaxBytes> targets{};
    if (root) out_words = row_words(out_.tiles[tile_], row_, bytes);
    for (unsigned b = 0; b < bytes; ++b)
      targets[b] = root ? s_.mem_position(out_words[b].mem) : consumers_[node][0];
    for (unsigned b = 0; root && b < bytes; ++b)
      if (!s_.write_possible(out_words[b].mem, out_words[b].address, x, produced)) return std::nullopt;
    std::array<Dir, 2> dirs{Dir::east, Dir::west};
    size_t dir_count = 2;
    if (root || targets[0] != x) {
      dirs[0] = Schedule::direction(x, targets[0]);
      dir_count = 1;
    }
    for (size_t d = 0; d < dir_count; ++d) {
      const Dir dir = dirs[d];
      std::array<Schedule::Reach, kMaxBytes> reaches{};
      // The bytes of a value for one consumer share its reach.
      for (unsigned b = 0; b < bytes; ++b)
        reaches[b] =
            b > 0 && targets[b] == targets[b - 1] ? reaches[b - 1] : s_.reach(dir, x, produced, targets[b]);
      std::optional<Stream> placed;
      any_base(node, bytes, [&](unsigned base) {
        for (unsigned b = 0; b < bytes; ++b)
          if (!s_.stream_free(reaches[b], base + b)) return false;
        const size_t mark = s_.mark();
        const Stream dst{base, dir};
        const Instruction instruction = node_instruction(n, dst, args);
        // Busy queues are passed over before place encodes the instruction for them.
        bool ok = any_queue(node, dispatch, [&](unsigned q) {
          return s_.slot_free(first_queue + q, dispatch) && s_.place(first_queue + q, dispatch, instruction);
        });
        for (unsigned b = 0; ok && b < bytes; ++b) {
          ok = root ? s_.claim_write(dst.plus(b), x, produced)
                    : s_.claim_value(dst.plus(b), x, produced, consumers_[node][0]);
          if (ok && root) {
            ok = s_.write_from(out_words[b].mem, out_words[b].address, dst.plus(b), x, produced);
            if (ok) last_write = std::max(last_write, s_.written(out_words[b].mem, out_words[b].address));
          }
        }
        if (ok)
          placed = dst;
        else
          s_.rollback(mark);
        return ok;
      });
      if (placed) {
        last_base_[node] = int(placed->id);
        return placed;
      }
    }
    return std::nullopt;
  }

  // Places `top` and, operands first, what it reads. The walk keeps its own stack: a reduction's
  // chain over tens of thousands of rows is deeper than the call stack allows.
  bool place(unsigned top, Cycle& last_write) {
    std::vector<std::pair<unsigned, size_t>> pending; // an operation and its next operand to place
    auto visit = [&](unsigned node) {
      const Visit v = enter(node);
      if (v == Visit::operands) pending.emplace_back(node, 0);
      return v != Visit::failed;
    };
    if (!visit(top)) return false;
    while (!pending.empty()) {
      const unsigned node = pending.back().first;
      const auto& args = expr_.nodes[node].args;
      if (pending.back().second < args.size()) {
        if (!visit(args[pending.back().second++])) return false;
        continue;
      }
      pending.pop_back();
      const std::optional<Stream> stream = place_op(node, last_write);
      if (!stream) return false;
      set_placed(node, *stream);
      if (expr_.nodes[node].kind == VNode::Kind::op)
        equal_ops_.set({canonical_[node], offset_[node]}, *stream);
    }
    return true;
  }

  enum class Visit : uint8_t { placed, failed, operands };
  // A node already placed in this attempt, an input, or an operation equal to one placed: done
  // here; any other operation needs its operands first.
  Visit enter(unsigned node) {
    if (placed_in_[node] == attempt_) return Visit::placed;
    const VNode& n = expr_.nodes[node];
    if (n.kind == VNode::Kind::input) {
      const std::optional<Stream> stream = place_input(node);
      if (!stream) return Visit::failed;
      set_placed(node, *stream);
      return Visit::placed;
    }
    // An equal operation producing in the same cycle at the same slice is already there.
    if (n.kind != VNode::Kind::op || node == expr_.root) return Visit::operands;
    const Stream* equal = equal_ops_.find({canonical_[node], offset_[node]});
    if (!equal) return Visit::operands;
    const Stream stream = *equal;
    const Cycle produced = root_ + offset_[node];
    for (unsigned b = 0; b < isa::dtype_bytes(n.dtype); ++b)
      if (!s_.extend_read(stream.plus(b), position(node), produced, consumers_[node][0]))
        return Visit::failed;
    set_placed(node, stream);
    return Visit::placed;
  }

  void set_placed(unsigned node, Stream stream) {
    placed_[node] = stream;
    placed_in_[node] = attempt_;
  }

  Schedule& s_;
  VExpr expr_;
  const std::vector<const TiledTensor*>& inputs_;
  const TiledTensor& out_;
  const ChipConfig& config_;
  unsigned vxm_;
  ReadMisses misses_;
  std::vector<Cycle> offset_;
  std::vector<std::vector<unsigned>> consumers_; // positions that read each node
  // Per node, its value's stream, valid if it was placed in the current attempt (placed_in_): a
  // counter of attempts spares clearing them for every root cycle tried.
  std::vector<Stream> placed_;
  std::vector<uint64_t> placed_in_;
  uint64_t attempt_ = 0;
  SmallMap<std::tuple<unsigned, uint32_t, unsigned, Cycle>, std::pair<Stream, unsigned>> shared_reads_;
  std::vector<unsigned> canonical_;
  std::vector<int> last_base_; // per node, the stream base it used last (-1: none yet)
  std::vector<LeafWords> leaf_words_; // per input node
  unsigned first_leaf_ = 0;    // the node that place(root) places first: args[0] down from it
  SmallMap<std::pair<unsigned, Cycle>, Stream> equal_ops_;
  uint32_t row_ = 0;
  unsigned tile_ = 0;
  Cycle root_ = 0;
  unsigned failed_ = 0;       // the node placed last in a failed attempt, for the message
  unsigned probe_failed_ = 0; // the node that found no room on an empty chip
  Cycle skip_ = 0;            // root cycles after a failed attempt that cannot succeed either
  // A Read that no copy, stream base or reservation could place while its attempt had placed
  // nothing: the committed schedule only grows, so the same Read (the same word to the same
  // reader in the same cycle) fails again, whichever leaf asks (SwiGLU reads A for two leaves 11
  // cycles apart: the later leaf repeats the first one's test of 11 root cycles before).
  struct ReadMiss {
    unsigned input = UINT_MAX;
    uint32_t row = 0;
    unsigned tile = 0;
    unsigned reader = 0;
    Cycle at = 0;
    bool operator==(const ReadMiss& o) const {
      return at == o.at && input == o.input && row == o.row && tile == o.tile && reader == o.reader;
    }
  };
  std::array<ReadMiss, 64> read_misses_{}; // direct-mapped by the cycle
  size_t attempt_mark_ = 0;                // the schedule's mark when the current attempt began
};

} // namespace

namespace {
VNode operation(Opcode opcode, DType dtype, std::vector<unsigned> args) {
  VNode n;
  n.opcode = opcode;
  n.dtype = dtype;
  n.args = std::move(args);
  return n;
}

// Adds `n` to `e` as its new root.
unsigned append(VExpr& e, const VNode& n) {
  e.nodes.push_back(n);
  return e.root = static_cast<unsigned>(e.nodes.size() - 1);
}
} // namespace

unsigned VExpr::input(unsigned index, DType dtype, int row, int tile) {
  VNode n;
  n.kind = VNode::Kind::input;
  n.input = index;
  n.dtype = dtype;
  n.row = row;
  n.tile = tile;
  return append(*this, n);
}

unsigned VExpr::splat(DType dtype, double value) {
  VNode n = operation(Opcode::v_splat, dtype, {});
  n.kind = VNode::Kind::splat;
  if (isa::dtype_is_float(dtype)) {
    n.imm = f32_bits(static_cast<float>(value));
  } else {
    const auto bytes = element_bytes_of(dtype, {value});
    for (size_t b = 0; b < bytes.size(); ++b) n.imm |= uint32_t(bytes[b]) << (8 * b);
  }
  return append(*this, n);
}

unsigned VExpr::unary(Opcode opcode, DType dtype, unsigned a) {
  return append(*this, operation(opcode, dtype, {a}));
}

unsigned VExpr::binary(Opcode opcode, DType dtype, unsigned a, unsigned b) {
  return append(*this, operation(opcode, dtype, {a, b}));
}

unsigned VExpr::cvt(DType to, DType from, unsigned a) {
  VNode n = operation(Opcode::v_cvt, to, {a});
  n.from = from;
  return append(*this, n);
}

unsigned VExpr::requant(DType to, DType from, float scale, unsigned a) {
  const unsigned node = cvt(to, from, a);
  nodes[node].opcode = Opcode::v_requant;
  nodes[node].imm = f32_bits(scale);
  return node;
}

unsigned VExpr::select(DType dtype, unsigned mask, unsigned a, unsigned b) {
  return append(*this, operation(Opcode::v_sel, dtype, {mask, a, b}));
}

unsigned VExpr::lane_move(Opcode opcode, DType dtype, unsigned a, unsigned map, unsigned slice) {
  const unsigned node = binary(opcode, dtype, a, map);
  nodes[node].slice = static_cast<int>(slice);
  return node;
}

unsigned VExpr::depth() const {
  std::vector<unsigned> d(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (unsigned a : nodes[i].args) d[i] = std::max(d[i], d[a] + 1);
  return nodes.empty() ? 0 : d[root] + (nodes[root].kind == VNode::Kind::op ? 1 : 0);
}

size_t VExpr::op_count() const {
  return static_cast<size_t>(
      std::count_if(nodes.begin(), nodes.end(), [](const VNode& n) { return n.kind != VNode::Kind::input; }));
}

Cycle schedule_vectors(Schedule& schedule, const VExpr& expr, const std::vector<const TiledTensor*>& inputs,
                       const TiledTensor& out, Cycle earliest, ReadMisses misses) {
  if (expr.nodes.empty() || expr.nodes[expr.root].kind == VNode::Kind::input)
    throw std::logic_error("tspc vector: the expression's root must be an operation");
  return VectorScheduler(schedule, expr, inputs, out, misses).run(earliest);
}

Cycle vector_latency(Schedule& schedule, const VExpr& expr, const std::vector<const TiledTensor*>& inputs,
                     const TiledTensor& out) {
  return VectorScheduler(schedule, expr, inputs, out).latency();
}

} // namespace tsp::compiler
