#include "tspsim/compiler/builder.h"

#include "tspsim/error.h"
#include "tspsim/tensor.h"
#include "tspsim/version.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp::compiler {

MemoryMap::MemoryMap(const ChipConfig& config)
    : words_per_slice_(config.geometry.mem_words_per_slice), next_(config.geometry.mem_slices(), 0) {}

uint32_t MemoryMap::allocate(const std::vector<unsigned>& mems, uint32_t words, const std::string& what) {
  uint32_t base = 0;
  for (unsigned mem : mems) base = std::max(base, next_.at(mem));
  if (uint64_t{base} + words > words_per_slice_)
    throw InputError(fmt::format("{} needs {} words from address {} in its MEM slices; a slice has {} words "
                                 "(the tensors do not fit in MEM)",
                                 what, words, base, words_per_slice_));
  for (unsigned mem : mems) next_[mem] = base + words;
  return base;
}

const Bound& CompiledKernel::binding_bound() const {
  return *std::max_element(bounds.begin(), bounds.end(),
                           [](const Bound& a, const Bound& b) { return a.cycles < b.cycles; });
}

ProgramBuilder::ProgramBuilder(const ChipConfig& config) : schedule_(config), memory_(config) {}

Symbol ProgramBuilder::add_tensor(const std::string& name, isa::DType dtype, uint32_t rows, uint32_t cols,
                                  const std::vector<unsigned>& mems, uint32_t reserved_rows,
                                  const std::vector<uint8_t>& elements) {
  const unsigned bytes = isa::dtype_bytes(dtype);
  const auto groups = static_cast<uint32_t>(mems.size() / bytes);
  Symbol symbol;
  symbol.name = name;
  symbol.dtype = dtype;
  symbol.rows = rows;
  symbol.cols = cols;
  symbol.slices = mems;
  symbol.base = memory_.allocate(mems, (std::max(rows, reserved_rows) + groups - 1) / groups,
                                 name.empty() ? "a tensor copy" : fmt::format("tensor '{}'", name));
  if (!elements.empty()) {
    auto images = tensor_images(symbol, elements, config().geometry.vector_bytes());
    images_.insert(images_.end(), std::make_move_iterator(images.begin()),
                   std::make_move_iterator(images.end()));
  }
  if (!name.empty()) symbols_.push_back(symbol);
  return symbol;
}

Program ProgramBuilder::finish(const std::string& workload, uint64_t tokens_per_run) {
  Program program;
  program.fingerprint = geometry_fingerprint(config());
  program.queues = schedule_.emit();
  program.images = images_;
  program.symbols = symbols_;
  program.metadata.workload = workload;
  program.metadata.generator = fmt::format("tspc {}", kVersion);
  program.metadata.tokens_per_run = tokens_per_run;
  program.metadata.predicted_cycles = schedule_.predicted_cycles();
  return program;
}

} // namespace tsp::compiler
