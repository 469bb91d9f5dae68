// Lane-wise work in the VXM (and lane moves in the SXM): a small expression evaluated for every
// vector of a tensor, its operands read from MEM to meet where they are used, intermediate
// values handed from unit to unit in the cycle they arrive, the result written back to MEM.
#pragma once

#include "tspsim/compiler/builder.h"
#include "tspsim/compiler/placement.h"

#include <functional>
#include <string>
#include <vector>

namespace tsp::compiler {

// One node of a lane-wise expression.
struct VNode {
  enum class Kind : uint8_t { input, splat, op };
  Kind kind = Kind::op;
  unsigned input = 0; // input: which operand tensor
  int row = -1;       // input: a fixed row, or -1 for the row being computed
  int tile = -1;      // input: a fixed column tile, or -1 for the tile being computed
  int slice = -1;     // op: the slice that executes it (-1: the VXM)
  isa::Opcode opcode = isa::Opcode::v_mov;
  isa::DType dtype = isa::DType::i8; // result type (cvt and requant: the destination type)
  isa::DType from = isa::DType::i8;  // cvt and requant: the source type
  uint32_t imm = 0;                  // splat: the value's bits; requant: the fp32 scale's bits
  std::vector<unsigned> args;        // op: operand nodes
};

// An expression: a node may feed several consumers only if they all read it at one slice in one
// cycle (two SXM instructions reading one value); an input read twice is two leaves.
struct VExpr {
  std::vector<VNode> nodes;
  unsigned root = 0;

  unsigned input(unsigned index, isa::DType dtype, int row = -1, int tile = -1);
  unsigned splat(isa::DType dtype, double value);
  unsigned unary(isa::Opcode opcode, isa::DType dtype, unsigned a);
  unsigned binary(isa::Opcode opcode, isa::DType dtype, unsigned a, unsigned b);
  unsigned cvt(isa::DType to, isa::DType from, unsigned a);
  unsigned requant(isa::DType to, isa::DType from, float scale, unsigned a);
  unsigned select(isa::DType dtype, unsigned mask, unsigned a, unsigned b);
  // An SXM lane move (Permute or Distribute) of `a` by the map vector `map` on slice `slice`.
  unsigned lane_move(isa::Opcode opcode, isa::DType dtype, unsigned a, unsigned map, unsigned slice);
  // Operations on the longest path from an input to the root.
  unsigned depth() const;
  size_t op_count() const;
};

// What a vector search does with a Read that found no room while its attempt had placed
// nothing: remember it, so that a later attempt asking for the same Read (the same word to the
// same reader in the same cycle) fails at once, or test it again. The schedule only grows, so
// both place the same vectors; the second is the exhaustive search tests compare with.
enum class ReadMisses : uint8_t { remembered, retested };

// Schedules out = expr(inputs) for every vector of `out` (inputs with one row are broadcast over
// the rows), no vector before `earliest`, in row order. Returns the last SRAM write cycle.
// Every operand must have out's column tiles unless its leaves name a fixed tile. Each placed
// vector is committed (Schedule::commit): no mark taken before the call can roll it back.
Cycle schedule_vectors(Schedule& schedule, const VExpr& expr, const std::vector<const TiledTensor*>& inputs,
                       const TiledTensor& out, Cycle earliest = 0,
                       ReadMisses misses = ReadMisses::remembered);

// An operand of a one-phase expression kernel; `elements` empty: random data from the seed (a
// declared tensor).
struct ExpressionOperand {
  std::string name;
  isa::DType dtype = isa::DType::i8;
  uint32_t rows = 1;
  std::vector<uint8_t> elements;
};
// The reference of a kernel from its operands' element values (row-major, one vector each).
using ReferenceFn = std::function<std::vector<double>(const std::vector<std::vector<double>>& operands)>;

// A one-phase kernel: C (rows x cols) = expr(operands), operand i random with seed + i unless
// given. The reference is evaluate(expr) unless `reference` is given; without it
// (with_reference false) the kernel has no outputs and no operand values are generated.
CompiledKernel compile_expression(const ChipConfig& config, const std::string& workload, const VExpr& expr,
                                  const std::vector<ExpressionOperand>& operands, uint32_t rows,
                                  uint32_t cols, uint64_t seed, bool with_reference,
                                  const ReferenceFn& reference = {});

// Cycles from one vector's first dispatch to its result's SRAM write when nothing is in the way
// (a lower bound on every row's path through a phase).
Cycle vector_latency(Schedule& schedule, const VExpr& expr, const std::vector<const TiledTensor*>& inputs,
                     const TiledTensor& out);

// Host reference of a lane-wise expression (no lane moves) for every element of a rows x cols
// result: each node's value computed in double and rounded to its type as the chip stores it.
std::vector<double> evaluate(const VExpr& expr, const std::vector<std::vector<double>>& inputs,
                             const std::vector<uint32_t>& input_rows, uint32_t rows, uint32_t cols);
// Allowed |chip - reference| of each element of a result with reference `values` (0 for
// integers); the expression's depth and narrowest type are found once for all of them.
std::vector<double> expression_tolerances(const VExpr& expr, const std::vector<double>& values);

} // namespace tsp::compiler
