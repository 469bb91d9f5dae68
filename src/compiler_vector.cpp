// Scheduling of lane-wise expressions in the VXM (include/tspsim/compiler/vector.h).
//
// Every node has a fixed offset from the root's result cycle: an operation dispatched at D reads
// at D + skew and produces at D + func, and its producer must put its value at the VXM exactly
// when it reads (a value moves on the next cycle). Inputs are Reads timed to arrive then. A
// vector is placed at the first root cycle for which every Read, ALU slot, stream span and the
// result's Writes are free.
#include "tspsim/compiler/vector.h"

#include "tspsim/compiler/reference.h"
#include "tspsim/error.h"
#include "tspsim/latency.h"
#include "tspsim/tensor.h"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <optional>
#include <stdexcept>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

constexpr Cycle kSearchLimit = 1 << 22;

uint32_t f32_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// The instruction of an operation node with its streams.
Instruction node_instruction(const VNode& n, Stream dst, const std::vector<Stream>& args) {
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
    o[3] = args.at(0).field();
    o[4] = n.imm;
    break;
  default:
    o[0] = static_cast<int64_t>(n.dtype);
    o[1] = dst.field();
    for (size_t i = 0; i < args.size(); ++i) o[2 + i] = args[i].field();
  }
  return ins;
}

class VectorScheduler {
public:
  VectorScheduler(Schedule& schedule, const VExpr& expr, const std::vector<const TiledTensor*>& inputs,
                  const TiledTensor& out)
      : s_(schedule), expr_(expr), inputs_(inputs), out_(out), config_(schedule.config()),
        vxm_(schedule.floorplan().vxm_slice()), xv_(schedule.slice_position(vxm_)),
        queues_(schedule.floorplan().slices()[vxm_].queue_count), offset_(expr.nodes.size(), 0) {
    // Production cycle of every node relative to the root's.
    compute_offsets(expr_.root, 0);
  }

  Cycle run(Cycle earliest) {
    Cycle previous = 0;
    Cycle last_write = -1;
    for (uint32_t r = 0; r < out_.rows; ++r)
      for (unsigned t = 0; t < out_.tile_count(); ++t) {
        row_ = r;
        tile_ = t;
        const Cycle start = std::max({previous, lower_bound(), earliest});
        Cycle done = -1;
        for (Cycle p = start; done < 0; ++p) {
          if (p > start + kSearchLimit) throw std::logic_error("tspc vector: no cycle for a vector");
          const size_t mark = s_.mark();
          if (place_root(p, last_write)) {
            done = p;
            break;
          }
          s_.rollback(mark);
        }
        previous = done;
      }
    return last_write;
  }

private:
  void compute_offsets(unsigned node, Cycle produced) {
    offset_[node] = produced;
    const VNode& n = expr_.nodes[node];
    if (n.kind != VNode::Kind::op) return;
    const Instruction probe = node_instruction(n, {}, std::vector<Stream>(n.args.size()));
    const Cycle read = produced - Cycle(func_cycles(probe, config_)) + Cycle(skew_cycles(probe, config_));
    for (unsigned a : n.args) compute_offsets(a, read);
  }

  const Symbol& input_symbol(const TiledTensor& tensor, unsigned copy) const {
    return copy == 0 ? tensor.tiles[tile_] : tensor.copies[copy - 1][tile_];
  }

  // No root cycle before every operand can be read and every dispatch is at cycle 0 or later.
  Cycle lower_bound() const {
    Cycle bound = 0;
    for (size_t i = 0; i < expr_.nodes.size(); ++i) {
      const VNode& n = expr_.nodes[i];
      if (n.kind == VNode::Kind::op) {
        const Instruction probe = node_instruction(n, {}, std::vector<Stream>(n.args.size()));
        bound = std::max(bound, Cycle(func_cycles(probe, config_)) - offset_[i]);
      } else if (n.kind == VNode::Kind::input) {
        const TiledTensor& tensor = *inputs_[n.input];
        const uint32_t row = tensor.rows == 1 ? 0 : row_;
        for (unsigned b = 0; b < isa::dtype_bytes(tensor.dtype); ++b) {
          const SymbolWord w = symbol_word(tensor.tiles[tile_], row, b);
          bound = std::max(bound, s_.readable_at(w.mem, w.address, xv_) - offset_[i]);
        }
      }
    }
    return bound;
  }

  std::vector<unsigned> queue_order(unsigned node) const {
    std::vector<unsigned> order;
    for (unsigned q = 0; q < queues_; ++q) order.push_back((node + q) % queues_);
    return order;
  }

  std::optional<Stream> place_input(unsigned node, Cycle at) {
    const TiledTensor& tensor = *inputs_[expr_.nodes[node].input];
    const unsigned bytes = isa::dtype_bytes(tensor.dtype);
    const uint32_t row = tensor.rows == 1 ? 0 : row_;
    const unsigned copies = static_cast<unsigned>(tensor.copies.size()) + 1;
    for (unsigned k = 0; k < copies; ++k) {
      const Symbol& symbol = input_symbol(tensor, (row_ + k) % copies);
      const SymbolWord first = symbol_word(symbol, row, 0);
      const Dir dir = Schedule::direction(s_.mem_position(first.mem), xv_);
      for (unsigned base = 0; base + bytes <= config_.streams.per_direction; base += bytes) {
        const size_t mark = s_.mark();
        bool ok = true;
        for (unsigned b = 0; ok && b < bytes; ++b) {
          const SymbolWord w = symbol_word(symbol, row, b);
          ok = s_.read_to(w.mem, w.address, {base + b, dir}, xv_, at);
        }
        if (ok) return Stream{base, dir};
        s_.rollback(mark);
      }
    }
    return std::nullopt;
  }

  // An operation (or splat) node producing at `produced`, read at the VXM in the same cycle.
  std::optional<Stream> place_op(unsigned node, Cycle produced, bool root, Cycle& last_write) {
    const VNode& n = expr_.nodes[node];
    std::vector<Stream> args;
    for (unsigned a : n.args) {
      const auto stream = place_node(a, offset_[a] - offset_[node] + produced, last_write);
      if (!stream) return std::nullopt;
      args.push_back(*stream);
    }
    const unsigned bytes = isa::dtype_bytes(n.dtype);
    const Cycle dispatch = produced - Cycle(func_cycles(node_instruction(n, {}, args), config_));
    std::vector<Dir> dirs{Dir::east, Dir::west};
    if (root) {
      const SymbolWord w = symbol_word(out_.tiles[tile_], row_, 0);
      dirs = {Schedule::direction(xv_, s_.mem_position(w.mem))};
    }
    for (Dir dir : dirs)
      for (unsigned base = 0; base + bytes <= config_.streams.per_direction; base += bytes) {
        const size_t mark = s_.mark();
        const Stream dst{base, dir};
        bool ok = s_.place_on_slice(vxm_, dispatch, node_instruction(n, dst, args), queue_order(node)) >= 0;
        for (unsigned b = 0; ok && b < bytes; ++b) {
          ok = s_.claim_write(dst.plus(b), xv_, produced);
          if (ok && !root) ok = s_.extend_read(dst.plus(b), xv_, produced, xv_);
          if (ok && root) {
            const SymbolWord w = symbol_word(out_.tiles[tile_], row_, b);
            ok = s_.write_from(w.mem, w.address, dst.plus(b), xv_, produced);
            if (ok) last_write = std::max(last_write, s_.written(w.mem, w.address));
          }
        }
        if (ok) return dst;
        s_.rollback(mark);
      }
    return std::nullopt;
  }

  std::optional<Stream> place_node(unsigned node, Cycle produced, Cycle& last_write) {
    if (expr_.nodes[node].kind == VNode::Kind::input) return place_input(node, produced);
    return place_op(node, produced, false, last_write);
  }

  bool place_root(Cycle produced, Cycle& last_write) {
    Cycle candidate = last_write;
    if (!place_op(expr_.root, produced, true, candidate)) return false;
    last_write = candidate;
    return true;
  }

  Schedule& s_;
  const VExpr& expr_;
  const std::vector<const TiledTensor*>& inputs_;
  const TiledTensor& out_;
  const ChipConfig& config_;
  unsigned vxm_;
  unsigned xv_;
  unsigned queues_;
  std::vector<Cycle> offset_;
  uint32_t row_ = 0;
  unsigned tile_ = 0;
};

} // namespace

unsigned VExpr::input(unsigned index, DType dtype) {
  VNode n;
  n.kind = VNode::Kind::input;
  n.input = index;
  n.dtype = dtype;
  nodes.push_back(n);
  return root = static_cast<unsigned>(nodes.size() - 1);
}

unsigned VExpr::splat(DType dtype, double value) {
  VNode n;
  n.kind = VNode::Kind::splat;
  n.opcode = Opcode::v_splat;
  n.dtype = dtype;
  if (isa::dtype_is_float(dtype)) {
    n.imm = f32_bits(static_cast<float>(value));
  } else {
    const auto bytes = element_bytes_of(dtype, {value});
    for (size_t b = 0; b < bytes.size(); ++b) n.imm |= uint32_t(bytes[b]) << (8 * b);
  }
  nodes.push_back(n);
  return root = static_cast<unsigned>(nodes.size() - 1);
}

unsigned VExpr::unary(Opcode opcode, DType dtype, unsigned a) {
  VNode n;
  n.opcode = opcode;
  n.dtype = dtype;
  n.args = {a};
  nodes.push_back(n);
  return root = static_cast<unsigned>(nodes.size() - 1);
}

unsigned VExpr::binary(Opcode opcode, DType dtype, unsigned a, unsigned b) {
  VNode n;
  n.opcode = opcode;
  n.dtype = dtype;
  n.args = {a, b};
  nodes.push_back(n);
  return root = static_cast<unsigned>(nodes.size() - 1);
}

unsigned VExpr::cvt(DType to, DType from, unsigned a) {
  VNode n;
  n.opcode = Opcode::v_cvt;
  n.dtype = to;
  n.from = from;
  n.args = {a};
  nodes.push_back(n);
  return root = static_cast<unsigned>(nodes.size() - 1);
}

unsigned VExpr::requant(DType to, DType from, float scale, unsigned a) {
  const unsigned node = cvt(to, from, a);
  nodes[node].opcode = Opcode::v_requant;
  nodes[node].imm = f32_bits(scale);
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

std::vector<unsigned> side_slices(const Schedule& schedule, bool east) {
  std::vector<unsigned> mems;
  for (unsigned i = 0; i < schedule.config().geometry.mem_slices_per_hemisphere; ++i)
    mems.push_back(schedule.floorplan().mem_global(east, i));
  return mems;
}

TiledTensor place_tiled(ProgramBuilder& builder, const std::string& name, DType dtype, uint32_t rows,
                        uint32_t cols, const std::vector<unsigned>& candidates, unsigned groups,
                        const std::vector<uint8_t>& elements, bool named) {
  const unsigned vector = builder.config().geometry.vector_bytes();
  const unsigned bytes = isa::dtype_bytes(dtype);
  TiledTensor tensor;
  tensor.name = name;
  tensor.dtype = dtype;
  tensor.rows = rows;
  tensor.cols = cols;
  const unsigned tiles = (cols + vector - 1) / vector;
  const auto per_group = static_cast<unsigned>(candidates.size() / bytes);
  groups = std::max(1u, std::min({groups, per_group, rows}));
  for (unsigned t = 0; t < tiles; ++t) {
    const uint32_t tile_cols = std::min(vector, cols - t * vector);
    const std::string tile_name = !named ? "" : tiles == 1 ? name : fmt::format("{}.c{}", name, t);
    const auto data =
        elements.empty() ? elements : sub_block(elements, bytes, cols, 0, rows, t * vector, tile_cols);
    // Tiles start at different groups so that the reads of one row spread over the slices.
    std::vector<unsigned> mems;
    for (unsigned g = 0; g < groups; ++g)
      for (unsigned b = 0; b < bytes; ++b)
        mems.push_back(candidates[(((t * groups + g) % per_group) * bytes + b) % candidates.size()]);
    const uint32_t words = (rows + groups - 1) / groups;
    uint32_t base = 0;
    for (unsigned m : mems) base = std::max(base, builder.memory().used(m));
    if (uint64_t{base} + words <= builder.memory().words_per_slice())
      tensor.tiles.push_back(builder.add_tensor(tile_name, dtype, rows, tile_cols, mems, rows, data));
    else
      tensor.tiles.push_back(builder.add_tensor_spread(tile_name, dtype, rows, tile_cols, candidates, data));
  }
  return tensor;
}

void add_copies(ProgramBuilder& builder, TiledTensor& tensor, const std::vector<unsigned>& candidates,
                unsigned count, const std::vector<uint8_t>& elements) {
  const unsigned bytes = isa::dtype_bytes(tensor.dtype);
  for (unsigned k = 1; k <= count; ++k) {
    // Copy k starts k groups further along the candidates.
    std::vector<unsigned> rotated;
    for (size_t i = 0; i < candidates.size(); ++i)
      rotated.push_back(candidates[(i + k * bytes) % candidates.size()]);
    tensor.copies.push_back(
        place_tiled(builder, tensor.name, tensor.dtype, tensor.rows, tensor.cols, rotated, 1, elements, false)
            .tiles);
  }
}

Cycle schedule_vectors(Schedule& schedule, const VExpr& expr, const std::vector<const TiledTensor*>& inputs,
                       const TiledTensor& out, Cycle earliest) {
  if (expr.nodes.empty() || expr.nodes[expr.root].kind == VNode::Kind::input)
    throw std::logic_error("tspc vector: the expression's root must be an operation");
  for (const auto* input : inputs)
    if (input->tile_count() != out.tile_count())
      throw std::logic_error("tspc vector: operand and result column tiles differ");
  return VectorScheduler(schedule, expr, inputs, out).run(earliest);
}

} // namespace tsp::compiler
