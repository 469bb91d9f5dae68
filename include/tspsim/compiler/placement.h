// Where tensors go in MEM: the slices of each side of the VXM, tensors as column tiles spread over
// slice groups, and private copies of rows that many vectors read. The kernels place their
// tensors through these functions (GEMM's planes and LW layout are in kernels/gemm.cpp).
#pragma once

#include "tspsim/compiler/builder.h"

#include <string>
#include <vector>

namespace tsp::compiler {

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
// `elements` holds the row-major element bytes of the whole tensor (empty: zeros, or `declared`
// contents that the caller declares).
TiledTensor place_tiled(ProgramBuilder& builder, const std::string& name, isa::DType dtype, uint32_t rows,
                        uint32_t cols, const std::vector<unsigned>& candidates, unsigned groups,
                        const std::vector<uint8_t>& elements, bool named = true, bool declared = false);
// Adds `count` private copies of a one-row tensor, each in slices of its own.
void add_copies(ProgramBuilder& builder, TiledTensor& tensor, const std::vector<unsigned>& candidates,
                unsigned count, const std::vector<uint8_t>& elements);

// place_tiled for a tensor whose elements are random_tensor(dtype, rows, cols, seed): each tile
// (name, or name.c<t>) is declared as its column window of that stream (builder.add_random), so
// the program holds a seed per tile, not the bytes, and nothing is generated here.
TiledTensor place_random(ProgramBuilder& builder, const std::string& name, isa::DType dtype, uint32_t rows,
                         uint32_t cols, const std::vector<unsigned>& candidates, unsigned groups,
                         uint64_t seed);
// The same for any declaration of the whole tensor (`stream`: its seed or checkpoint, values and divisor; the
// window fields are set per tile), e.g. jitter_declaration's.
TiledTensor place_declared(ProgramBuilder& builder, const std::string& name, isa::DType dtype, uint32_t rows,
                           uint32_t cols, const std::vector<unsigned>& candidates, unsigned groups,
                           const DeclaredTensor& stream);
// add_copies for a tensor placed by place_random: copy k's tiles are declared the same way, as
// name.copy<k> (or name.copy<k>.c<t>).
void add_random_copies(ProgramBuilder& builder, TiledTensor& tensor, const std::vector<unsigned>& candidates,
                       unsigned count, uint64_t seed);

// Rows [first, first + rows) of a symbol stored one row per word of each slice group, as a symbol
// of their own (unnamed); from any row (its groups are then rotated to start at that row's).
Symbol row_view(const Symbol& symbol, uint32_t first, uint32_t rows);
// Rows [first, first + rows) of every column tile of x (row_view of each), unnamed, no copies.
TiledTensor tiled_rows(const TiledTensor& x, uint32_t first, uint32_t rows);
// One symbol as a tensor of one column tile.
TiledTensor single_tile(const Symbol& symbol);

// Element bytes of int16 values (Permute and Distribute maps).
std::vector<uint8_t> int16_bytes(const std::vector<int>& values);

// MEM slices of one side of the VXM, nearest the VXM first.
std::vector<unsigned> side_slices(const Schedule& schedule, bool east);
// The same, least used first (ties: nearest the VXM first).
std::vector<unsigned> least_used(ProgramBuilder& builder, bool east);

} // namespace tsp::compiler
