#include "tspsim/compiler/lanes.h"

#include <algorithm>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

constexpr unsigned kCopies = 3;

unsigned top_bit(unsigned n) {
  unsigned bit = 0;
  while ((n >> (bit + 1)) != 0) ++bit;
  return bit;
}

} // namespace

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

LaneMaps::LaneMaps(ProgramBuilder& builder, bool east, const std::vector<std::vector<int>>& extra) {
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
    for (unsigned i = 0; i < lanes; ++i) values.push_back(i < map.size() ? map[i] : 0x7fff);
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
  add_copies(builder, identity_, mems, kCopies, int16_bytes(identity));
  add_copies(builder, rotations_, mems, kCopies, int16_bytes(values));
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
  return current;
}

} // namespace tsp::compiler
