#include "tspsim/compiler/placement.h"

#include "tspsim/common/error.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp::compiler {

using isa::DType;

std::vector<uint8_t> int16_bytes(const std::vector<int>& values) {
  return element_bytes_of(DType::i16, std::vector<double>(values.begin(), values.end()));
}

std::vector<unsigned> side_slices(const Schedule& schedule, bool east) {
  std::vector<unsigned> mems;
  for (unsigned i = 0; i < schedule.config().geometry.mem_slices_per_hemisphere; ++i)
    mems.push_back(schedule.floorplan().mem_global(east, i));
  return mems;
}

std::vector<unsigned> least_used(ProgramBuilder& builder, bool east) {
  auto mems = side_slices(builder.schedule(), east);
  std::stable_sort(mems.begin(), mems.end(), [&](unsigned a, unsigned b) {
    return builder.memory().used(a) < builder.memory().used(b);
  });
  return mems;
}

TiledTensor place_tiled(ProgramBuilder& builder, const std::string& name, DType dtype, uint32_t rows,
                        uint32_t cols, const std::vector<unsigned>& candidates, unsigned groups,
                        const std::vector<uint8_t>& elements, bool named, bool declared) {
  const unsigned vector = builder.config().geometry.vector_bytes();
  const unsigned bytes = isa::dtype_bytes(dtype);
  TiledTensor tensor;
  tensor.name = name;
  tensor.dtype = dtype;
  tensor.rows = rows;
  tensor.cols = cols;
  const unsigned tiles = cols / vector + (cols % vector != 0);
  // A vector's byte planes are read in one cycle, each by its own slice.
  if (candidates.size() < bytes)
    throw InputError(
        fmt::format("{} needs {} MEM slices of one hemisphere, one for each byte plane of its {} "
                    "vectors; config '{}' has {} MEM slices per hemisphere",
                    name.empty() ? std::string("an unnamed tensor") : fmt::format("tensor '{}'", name), bytes,
                    isa::dtype_name(dtype), builder.config().source,
                    builder.config().geometry.mem_slices_per_hemisphere));
  const auto per_group = static_cast<unsigned>(candidates.size() / bytes);
  groups = std::max(1u, std::min({groups, per_group, rows}));
  for (unsigned t = 0; t < tiles; ++t) {
    const uint32_t tile_cols = std::min(vector, cols - t * vector);
    const std::string tile_name = !named || name.empty() ? ""
                                  : tiles == 1           ? name
                                                         : fmt::format("{}.c{}", name, t);
    const auto data =
        elements.empty() ? elements : sub_block(elements, bytes, cols, 0, rows, t * vector, tile_cols);
    // Tiles start at different groups so that the reads of one row spread over the slices.
    std::vector<unsigned> mems;
    for (unsigned g = 0; g < groups; ++g)
      for (unsigned b = 0; b < bytes; ++b)
        mems.push_back(candidates[(((t * groups + g) % per_group) * bytes + b) % candidates.size()]);
    if (builder.fits(mems, rows / groups + (rows % groups != 0), data, declared))
      tensor.tiles.push_back(
          builder.add_tensor(tile_name, dtype, rows, tile_cols, mems, rows, data, declared));
    else
      tensor.tiles.push_back(
          builder.add_tensor_spread(tile_name, dtype, rows, tile_cols, candidates, data, declared));
  }
  return tensor;
}

Symbol row_view(const Symbol& symbol, uint32_t first, uint32_t rows) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / bytes);
  Symbol view = symbol;
  view.name.clear();
  view.rows = rows;
  const uint32_t offset = first % groups;
  if (offset == 0) {
    view.base = symbol.base + first / groups;
    for (uint32_t& base : view.bases) base += first / groups;
    return view;
  }
  // The view's group m is the symbol's group (offset + m) % groups, one word further on where
  // that wraps: view row k is then symbol row first + k.
  view.slices.clear();
  view.bases.clear();
  for (uint32_t m = 0; m < groups; ++m) {
    const uint32_t g = (offset + m) % groups;
    for (unsigned b = 0; b < bytes; ++b) {
      view.slices.push_back(symbol.slices[g * bytes + b]);
      view.bases.push_back(symbol.base_of(g * bytes + b) + first / groups + (offset + m >= groups ? 1 : 0));
    }
  }
  view.base = view.bases.front();
  return view;
}

TiledTensor tiled_rows(const TiledTensor& x, uint32_t first, uint32_t rows) {
  TiledTensor view = x;
  view.name.clear();
  view.rows = rows;
  view.copies.clear();
  for (auto& tile : view.tiles) tile = row_view(tile, first, rows);
  return view;
}

TiledTensor single_tile(const Symbol& symbol) {
  TiledTensor t;
  t.dtype = symbol.dtype;
  t.rows = symbol.rows;
  t.cols = symbol.cols;
  t.tiles = {symbol};
  return t;
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

namespace {

// Names the tiles `name` (one tile) or name.c<t> and declares tile t as the window of `stream`
// that starts at column t * vector of a `cols`-column matrix.
void declare_tiles(ProgramBuilder& builder, std::vector<Symbol>& tiles, const std::string& name,
                   uint32_t cols, const DeclaredTensor& stream) {
  const unsigned vector = builder.config().geometry.vector_bytes();
  for (size_t t = 0; t < tiles.size(); ++t) {
    Symbol& tile = tiles[t];
    tile.name = tiles.size() == 1 ? name : fmt::format("{}.c{}", name, t);
    DeclaredTensor declared = stream;
    advance_declaration(declared, uint64_t{t} * vector);
    declared.vector_bytes = vector;
    declared.row_stride = cols;
    declared.first_row = 0;
    declared.row_count = tile.rows;
    builder.add_random(tile, declared);
  }
}

} // namespace

TiledTensor place_declared(ProgramBuilder& builder, const std::string& name, DType dtype, uint32_t rows,
                           uint32_t cols, const std::vector<unsigned>& candidates, unsigned groups,
                           const DeclaredTensor& stream) {
  TiledTensor tensor = place_tiled(builder, name, dtype, rows, cols, candidates, groups, {}, false, true);
  declare_tiles(builder, tensor.tiles, name, cols, stream);
  return tensor;
}

TiledTensor place_random(ProgramBuilder& builder, const std::string& name, DType dtype, uint32_t rows,
                         uint32_t cols, const std::vector<unsigned>& candidates, unsigned groups,
                         uint64_t seed) {
  return place_declared(builder, name, dtype, rows, cols, candidates, groups,
                        DeclaredTensor{0, seed, 0, 0, 0, 0});
}

void add_random_copies(ProgramBuilder& builder, TiledTensor& tensor, const std::vector<unsigned>& candidates,
                       unsigned count, uint64_t seed) {
  const size_t first = tensor.copies.size();
  add_copies(builder, tensor, candidates, count, {});
  for (size_t k = first; k < tensor.copies.size(); ++k)
    declare_tiles(builder, tensor.copies[k], fmt::format("{}.copy{}", tensor.name, k + 1), tensor.cols,
                  DeclaredTensor{0, seed, 0, 0, 0, 0});
}

} // namespace tsp::compiler
