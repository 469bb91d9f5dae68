#pragma once
// Words that fetched instruction text may borrow in a program that reuses MEM (the prompt pass,
// ProgramBuilder::reuse_scratch): a word whose first access is a Write holds the text from reset
// until that Write lands, so the text's Ifetch must read it earlier. docs/compiler.md, "Fetched
// text".

#include "tspsim/compiler/schedule.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"

#include <optional>
#include <vector>

namespace tsp::compiler {

class BorrowedTextWords {
public:
  // From every placed instruction of `schedule`: a word is borrowable when a Write reaches it
  // before any Read, it is in none of `images` and `declared`, and its slice has no Gather or
  // Scatter (whose addresses are data).
  BorrowedTextWords(const Schedule& schedule, const std::vector<MemImage>& images,
                    const std::vector<ImageExtent>& declared);

  // The lowest base of `words` consecutive borrowable words of `mem`, not taken, each first
  // written after `last_read` (the SRAM cycle of the text's last read); nothing if none.
  std::optional<uint32_t> find(unsigned mem, uint32_t words, Cycle last_read) const;
  void take(unsigned mem, uint32_t base, uint32_t words) { mark(mem, base, words, true); }
  void give_back(unsigned mem, uint32_t base, uint32_t words) { mark(mem, base, words, false); }

private:
  static constexpr Cycle kNever = -1;
  static constexpr uint32_t kBlockWords = 64;
  void mark(unsigned mem, uint32_t base, uint32_t words, bool taken);
  // The latest first Write of the untaken words of block b of `mem` (kNever: none borrowable).
  void update_block(unsigned mem, uint32_t block);
  std::vector<std::vector<Cycle>> first_write_; // per slice and word: the first Write's SRAM cycle
  std::vector<std::vector<bool>> taken_;        // per slice and word: holds text already
  // Per slice and block of kBlockWords words: update_block's value, so that a search skips the
  // blocks no word of which is written late enough.
  std::vector<std::vector<Cycle>> block_latest_;
};

} // namespace tsp::compiler
