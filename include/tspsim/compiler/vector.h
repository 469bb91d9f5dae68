// Lane-wise work in the VXM: a small expression evaluated for every vector of a tensor, its
// operands read from MEM to meet at the VXM, its intermediate values handed from ALU to ALU at
// the VXM in the cycle they appear, its result written back to MEM.
#pragma once

#include "tspsim/compiler/builder.h"

#include <string>
#include <vector>

namespace tsp::compiler {

// One node of a lane-wise expression.
struct VNode {
  enum class Kind : uint8_t { input, splat, op };
  Kind kind = Kind::op;
  unsigned input = 0; // input: which operand tensor
  isa::Opcode opcode = isa::Opcode::v_mov;
  isa::DType dtype = isa::DType::i8; // result type (cvt and requant: the destination type)
  isa::DType from = isa::DType::i8;  // cvt and requant: the source type
  uint32_t imm = 0;                  // splat: the value's bits; requant: the fp32 scale's bits
  std::vector<unsigned> args;        // op: operand nodes
};

// An expression tree: every node feeds one consumer (an input may appear in several leaves).
struct VExpr {
  std::vector<VNode> nodes;
  unsigned root = 0;

  unsigned input(unsigned index, isa::DType dtype);
  unsigned splat(isa::DType dtype, double value);
  unsigned unary(isa::Opcode opcode, isa::DType dtype, unsigned a);
  unsigned binary(isa::Opcode opcode, isa::DType dtype, unsigned a, unsigned b);
  unsigned cvt(isa::DType to, isa::DType from, unsigned a);
  unsigned requant(isa::DType to, isa::DType from, float scale, unsigned a);
  // Operations on the longest path from an input to the root.
  unsigned depth() const;
  size_t op_count() const;
};

// A rows x cols tensor in MEM as column tiles of at most one vector, one symbol each: `name`
// when one tile suffices, else name.c0, name.c1, ... A row-broadcast operand (rows = 1, used for
// every row) may have copies in other slices so that several rows can read it in one cycle.
struct TiledTensor {
  std::string name;
  isa::DType dtype = isa::DType::i8;
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<Symbol> tiles;
  std::vector<std::vector<Symbol>> copies; // copies[k][tile]

  unsigned tile_count() const { return static_cast<unsigned>(tiles.size()); }
};

// Places a tensor's column tiles with up to `groups` slice groups each, from `candidates`.
// `elements` holds the row-major element bytes of the whole tensor (empty: zeros).
TiledTensor place_tiled(ProgramBuilder& builder, const std::string& name, isa::DType dtype, uint32_t rows,
                        uint32_t cols, const std::vector<unsigned>& candidates, unsigned groups,
                        const std::vector<uint8_t>& elements, bool named = true);
// Adds `count` private copies of a one-row tensor, each in slices of its own.
void add_copies(ProgramBuilder& builder, TiledTensor& tensor, const std::vector<unsigned>& candidates,
                unsigned count, const std::vector<uint8_t>& elements);

// MEM slices of one side of the VXM, nearest the VXM first.
std::vector<unsigned> side_slices(const Schedule& schedule, bool east);

// Schedules out = expr(inputs) for every vector of `out` (inputs with one row are broadcast over
// the rows), no vector before `earliest`, in row order. Returns the last SRAM write cycle.
Cycle schedule_vectors(Schedule& schedule, const VExpr& expr, const std::vector<const TiledTensor*>& inputs,
                       const TiledTensor& out, Cycle earliest = 0);

// Host reference of the expression for every element of a rows x cols result: each node's value
// computed in double and rounded to its type as the chip stores it.
std::vector<double> evaluate(const VExpr& expr, const std::vector<std::vector<double>>& inputs,
                             const std::vector<uint32_t>& input_rows, uint32_t rows, uint32_t cols);
// Allowed |chip - reference| per element for a float result (0 for integers).
double expression_tolerance(const VExpr& expr, double value);

} // namespace tsp::compiler
