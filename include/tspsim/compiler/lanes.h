// Reductions over the lanes of a vector. The VXM is lane-wise, so lanes meet through the SXM:
// Permute by a rotation map moves lane i + k to lane i. With S_1 = x, S_2k(i) = S_k(i) op
// S_k(i + k) and S_k+1(i) = S_k(i) op x(i + k), every lane ends with op over all n lanes after
// one step per bit of n (n = 320: 8 doublings and one single step). Both operands of a doubling
// come out of the SXM together (an identity Permute and a rotating one reading S_k in the same
// cycle), so they reach the VXM in the same cycle.
#pragma once

#include "tspsim/compiler/vector.h"

#include <functional>
#include <map>

namespace tsp::compiler {

// A Permute map lane that takes nothing (out of range: the SXM writes zero there).
inline constexpr int kNoLane = 0x7fff;

// Permute maps (int16) in MEM: the identity, and one row per rotation amount the reduction needs
// plus optional extra maps, in other slices (a doubling step reads the identity and a rotation
// in one cycle). Rotation by k: map[i] = (i + k) mod n.
class LaneMaps {
public:
  // Places the maps next to the SXM of `east`'s hemisphere, with the copies lane_map_copies gives
  // a kernel that reduces `rows` rows of `tiles` column tiles.
  LaneMaps(ProgramBuilder& builder, bool east, const std::vector<std::vector<int>>& extra = {},
           uint32_t rows = 1, unsigned tiles = 1);

  // The two operand tensors, in this order: identity, rotations (and extra maps).
  const TiledTensor& identity() const { return identity_; }
  const TiledTensor& rotations() const { return rotations_; }
  unsigned sxm() const { return sxm_; }
  // Row of the rotation by k lanes (0: identity), and of extra map e.
  unsigned rotation_row(unsigned k) const { return rotation_.at(k); }
  unsigned extra_row(unsigned e) const { return extra_row_.at(e); }

private:
  TiledTensor identity_;
  TiledTensor rotations_;
  unsigned sxm_ = 0;
  std::map<unsigned, unsigned> rotation_;
  std::vector<unsigned> extra_row_;
};

// Copies of the maps (besides the original) for a kernel that reduces `rows` rows of `tiles`
// column tiles: more when many short rows compete for the maps' slices, as many as fit in slices
// of their own.
unsigned lane_map_copies(const ChipConfig& config, uint32_t rows, unsigned tiles);

// Rotation amounts the reduction over n lanes uses.
std::vector<unsigned> rotation_amounts(unsigned lanes);

// Appends the all-lanes reduction of the value `leaf()` builds (called once per use: it is
// needed more than once) to `expr`, with the maps as operands `maps_input` (identity) and
// `maps_input` + 1 (rotations). Returns its node.
unsigned lane_allreduce(VExpr& expr, isa::Opcode op, isa::DType dtype, const std::function<unsigned()>& leaf,
                        const LaneMaps& maps, unsigned maps_input, unsigned lanes);

// The phases of Y = softmax(scale X) over each row of X (fp16/bf16/fp32; fp32 inside) into Y,
// with their intermediate tensors, in `builder`'s program. Returns the latency of one row through
// them (with the last superlane's stagger), a lower bound on the program's cycles.
double schedule_softmax(ProgramBuilder& builder, const TiledTensor& x, float scale, const TiledTensor& y);

} // namespace tsp::compiler
