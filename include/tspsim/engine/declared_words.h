// A functional run's declared tensors (seeded weights) generated word by word when a MEM slice
// reads them, instead of into SRAM at load, when they pass EngineOptions::generate_at_load_bytes:
// a weight-streaming program reads most of its weights once, and storing them first cost a fresh
// page per 2 MiB (cleared by the kernel) besides the generation (docs/performance.md, "Declared
// weights generated when read").
#pragma once

#include "tspsim/program/declared_rows.h"
#include "tspsim/program/program.h"

#include <cstdint>
#include <vector>

namespace tsp {

class DeclaredWords {
public:
  // Takes the declared tensors of `program` (which must outlive the run); a checkpoint's rows are
  // read from its file now. Takes none and returns false when two share a MEM word (validation
  // refuses such programs; the loader then generates them into SRAM in order, the later winning).
  bool take(const Program& program, unsigned mem_count);
  // Whether a declared tensor has a word in MEM slice `mem` (global number).
  bool holds(unsigned mem) const { return mem < by_mem_.size() && !by_mem_[mem].empty(); }
  // Writes the vector_bytes bytes of word (mem, address) into `out`, lanes past the tensor's
  // columns zero; false (nothing written) if no declared tensor holds the word.
  bool generate(unsigned mem, uint32_t address, uint8_t* out, unsigned vector_bytes);

private:
  struct Extent {
    DeclaredExtent words;
    uint32_t tensor; // index into Program::declared
  };
  // Per tensor: a checkpoint's rows (read once), or the last row generated of a seeded tensor
  // with several bytes per element (its byte planes are in different slices, which read them one
  // after another).
  struct Row {
    uint32_t index = UINT32_MAX;
    std::vector<uint8_t> bytes;
    std::vector<uint8_t> checkpoint_rows;
  };
  const Program* program_ = nullptr;
  std::vector<std::vector<Extent>> by_mem_; // per MEM, by address
  std::vector<Row> rows_;                   // per declared tensor
};

} // namespace tsp
