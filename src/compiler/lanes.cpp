#include "tspsim/compiler/lanes.h"

#include <algorithm>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

// Copies of the maps besides the original. A reduction reads two maps per doubling (17 reads
// for 320 lanes); with many short rows in flight the maps' slices, each dispatching one Read per
// cycle, limit the rows per cycle, so more copies pay. Rows of several vectors have more other
// reads to spread and want those slices for their own tensors: there, and for few rows, more
// copies cost more than they save (measured on softmax, layernorm and rmsnorm: docs/compiler.md,
// "Limits").
constexpr unsigned kCopies = 3;
constexpr unsigned kManyRowCopies = 7;
constexpr uint32_t kManyRows = 128;
constexpr unsigned kShortRowTiles = 2;

unsigned top_bit(unsigned n) {
  unsigned bit = 0;
  while ((n >> (bit + 1)) != 0) ++bit;
  return bit;
}

} // namespace

unsigned lane_map_copies(const ChipConfig& config, uint32_t rows, unsigned tiles) {
  if (rows < kManyRows || tiles > kShortRowTiles) return kCopies;
  // Copy k takes slices 2k + 4 and 2k + 5 from the SXM: more copies than fit would share slices.
  const unsigned slices = config.geometry.mem_slices_per_hemisphere;
  const unsigned fit = slices < 6 ? 0 : (slices - 6) / 2;
  return std::max(kCopies, std::min(kManyRowCopies, fit));
}

std::vector<unsigned> rotation_amounts(unsigned lanes) {
  std::vector<unsigned> amounts{0};
  unsigned k = 1;
  for (int bit = static_cast<int>(top_bit(lanes)) - 1; bit >= 0; --bit) {
    amounts.push_back(k);
    k *= 2;
    if ((lanes >> bit) & 1) {
      amounts.push_back(k);
      k += 1;
    }
  }
  std::sort(amounts.begin(), amounts.end());
  amounts.erase(std::unique(amounts.begin(), amounts.end()), amounts.end());
  return amounts;
}

LaneMaps::LaneMaps(ProgramBuilder& builder, bool east, const std::vector<std::vector<int>>& extra,
                   uint32_t rows, unsigned tiles) {
  const auto& floorplan = builder.schedule().floorplan();
  sxm_ = *floorplan.find_slice(east ? "SXM_E" : "SXM_W");
  const unsigned lanes = builder.config().geometry.vector_bytes();
  std::vector<int> identity(lanes);
  for (unsigned i = 0; i < lanes; ++i) identity[i] = static_cast<int>(i);
  std::vector<int> values;
  unsigned row = 0;
  for (unsigned k : rotation_amounts(lanes)) {
    rotation_[k] = row++;
    for (unsigned i = 0; i < lanes; ++i) values.push_back(static_cast<int>((i + k) % lanes));
  }
  for (const auto& map : extra) {
    extra_row_.push_back(row++);
    for (unsigned i = 0; i < lanes; ++i) values.push_back(i < map.size() ? map[i] : kNoLane);
  }
  // The slices nearest the SXM, so that maps reach it soon after they are read.
  auto mems = side_slices(builder.schedule(), east);
  std::reverse(mems.begin(), mems.end());
  // Every row's reduction reads them many times: copies in other slices spread the reads (a
  // vector takes the copy its row turns to).
  identity_ = place_tiled(builder, "", DType::i16, 1, lanes, mems, 1, int16_bytes(identity), false);
  std::rotate(mems.begin(), mems.begin() + std::min<size_t>(2, mems.size() - 1), mems.end());
  rotations_ = place_tiled(builder, "", DType::i16, row, lanes, mems, 1, int16_bytes(values), false);
  std::rotate(mems.begin(), mems.begin() + std::min<size_t>(2, mems.size() - 1), mems.end());
  const unsigned copies = lane_map_copies(builder.config(), rows, tiles);
  add_copies(builder, identity_, mems, copies, int16_bytes(identity));
  add_copies(builder, rotations_, mems, copies, int16_bytes(values));
}

unsigned lane_allreduce(VExpr& expr, Opcode op, DType dtype, const std::function<unsigned()>& leaf,
                        const LaneMaps& maps, unsigned maps_input, unsigned lanes) {
  auto rotate = [&](unsigned value, unsigned k) {
    const unsigned map =
        k == 0 ? expr.input(maps_input, DType::i16, 0, 0)
               : expr.input(maps_input + 1, DType::i16, static_cast<int>(maps.rotation_row(k)), 0);
    return expr.lane_move(Opcode::permute, dtype, value, map, maps.sxm());
  };
  unsigned current = leaf();
  unsigned k = 1;
  for (int bit = static_cast<int>(top_bit(lanes)) - 1; bit >= 0; --bit) {
    const unsigned same = rotate(current, 0);
    const unsigned moved = rotate(current, k);
    current = expr.binary(op, dtype, same, moved);
    k *= 2;
    if ((lanes >> bit) & 1) {
      current = expr.binary(op, dtype, current, rotate(leaf(), k));
      k += 1;
    }
  }
  // With one lane the leaf is its own reduction, but a result must come from an operation.
  return expr.nodes[current].kind == VNode::Kind::input ? expr.unary(Opcode::v_mov, dtype, current) : current;
}

} // namespace tsp::compiler
