// Declared tensors generated word by word (include/tspsim/engine/declared_words.h).
#include "tspsim/engine/declared_words.h"

#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cstring>

namespace tsp {

bool DeclaredWords::take(const Program& program, unsigned mem_count) {
  std::vector<std::vector<Extent>> by_mem(mem_count);
  for (uint32_t t = 0; t < program.declared.size(); ++t) {
    const DeclaredTensor& declared = program.declared[t];
    for (const DeclaredExtent& e : declared_word_extents(declared, program.symbols.at(declared.symbol)))
      by_mem.at(e.mem).push_back({e, t});
  }
  for (auto& extents : by_mem) {
    std::sort(extents.begin(), extents.end(),
              [](const Extent& x, const Extent& y) { return x.words.address < y.words.address; });
    for (size_t i = 1; i < extents.size(); ++i)
      if (extents[i].words.address < uint64_t{extents[i - 1].words.address} + extents[i - 1].words.words)
        return false;
  }
  program_ = &program;
  by_mem_ = std::move(by_mem);
  rows_.assign(program.declared.size(), Row{});
  for (uint32_t t = 0; t < program.declared.size(); ++t)
    if (is_checkpoint(program.declared[t].values))
      rows_[t].checkpoint_rows =
          declared_elements(program.declared[t], program.symbols[program.declared[t].symbol]);
  return true;
}

bool DeclaredWords::generate(unsigned mem, uint32_t address, uint8_t* out, unsigned vector_bytes) {
  if (!holds(mem)) return false;
  const std::vector<Extent>& extents = by_mem_[mem];
  // The last extent starting at or before the address.
  auto it = std::upper_bound(extents.begin(), extents.end(), address,
                             [](uint32_t a, const Extent& e) { return a < e.words.address; });
  if (it == extents.begin()) return false;
  const Extent& extent = *--it;
  const DeclaredExtent& e = extent.words;
  if (address >= uint64_t{e.address} + e.words) return false;
  const DeclaredTensor& declared = program_->declared[extent.tensor];
  const Symbol& symbol = program_->symbols[declared.symbol];
  const uint32_t row = e.first_row + (address - e.address) * e.row_step;
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  Row& cached = rows_[extent.tensor];
  const uint8_t* elements = nullptr;
  if (!cached.checkpoint_rows.empty()) {
    elements = &cached.checkpoint_rows[size_t{row - declared.first_row} * symbol.cols * bytes];
  } else if (bytes == 1) {
    declared_row_bytes(declared, symbol, row, out);
  } else {
    if (cached.index != row) {
      cached.bytes.resize(size_t{symbol.cols} * bytes);
      declared_row_bytes(declared, symbol, row, cached.bytes.data());
      cached.index = row;
    }
    elements = cached.bytes.data();
  }
  if (elements) byte_plane(elements, bytes, e.plane, symbol.cols, out);
  std::memset(out + symbol.cols, 0, vector_bytes - symbol.cols);
  return true;
}

} // namespace tsp
