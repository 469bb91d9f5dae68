#include "tspsim/compiler/borrowed_text.h"

#include <algorithm>
#include <limits>

namespace tsp::compiler {

BorrowedTextWords::BorrowedTextWords(const Schedule& schedule, const std::vector<MemImage>& images,
                                     const std::vector<ImageExtent>& declared) {
  const auto& geometry = schedule.config().geometry;
  const unsigned slices = geometry.mem_slices();
  const uint32_t words = geometry.mem_words_per_slice;
  constexpr Cycle kUnread = std::numeric_limits<Cycle>::max();
  first_write_.assign(slices, std::vector<Cycle>(words, kNever));
  taken_.assign(slices, std::vector<bool>(words, false));
  std::vector<Cycle> first_read(words);
  for (unsigned mem = 0; mem < slices; ++mem) {
    auto& first_write = first_write_[mem];
    std::fill(first_read.begin(), first_read.end(), kUnread);
    bool data_addressed = false;
    for (const PlacedSlot& slot : schedule.queue_slots(schedule.mem_queue(mem)))
      for (unsigned c = 0; c < slot.count; ++c) {
        const Instruction instruction = decode(slot.copy_word(c));
        const auto address = static_cast<uint32_t>(instruction.operands[0]);
        const Cycle t = slot.t + Cycle(c);
        switch (instruction.opcode) {
        case isa::Opcode::read:
          if (address >= words) break; // checked by the simulator; not a word to borrow either way
          first_read[address] = std::min(first_read[address], t + schedule.read_skew());
          break;
        case isa::Opcode::write: {
          if (address >= words) break;
          const Cycle at = t + schedule.write_skew();
          if (first_write[address] == kNever || at < first_write[address]) first_write[address] = at;
          break;
        }
        case isa::Opcode::gather:
        case isa::Opcode::scatter:
          data_addressed = true;
          break;
        default:
          break;
        }
      }
    for (uint32_t w = 0; w < words; ++w)
      if (data_addressed || first_read[w] <= first_write[w]) first_write[w] = kNever;
  }
  for (const MemImage& image : images)
    for (uint32_t k = 0; k < image.bytes.size() / geometry.vector_bytes(); ++k)
      first_write_[image.mem][image.address + k] = kNever;
  for (const ImageExtent& extent : declared)
    for (uint32_t k = 0; k < extent.words; ++k) first_write_[extent.mem][extent.address + k] = kNever;
  block_latest_.assign(slices, std::vector<Cycle>((words + kBlockWords - 1) / kBlockWords, kNever));
  for (unsigned mem = 0; mem < slices; ++mem)
    for (uint32_t b = 0; b < block_latest_[mem].size(); ++b) update_block(mem, b);
}

void BorrowedTextWords::update_block(unsigned mem, uint32_t block) {
  const auto& first_write = first_write_[mem];
  const uint32_t end = std::min<uint32_t>((block + 1) * kBlockWords, uint32_t(first_write.size()));
  Cycle latest = kNever;
  for (uint32_t w = block * kBlockWords; w < end; ++w)
    if (!taken_[mem][w]) latest = std::max(latest, first_write[w]);
  block_latest_[mem][block] = latest;
}

std::optional<uint32_t> BorrowedTextWords::find(unsigned mem, uint32_t words, Cycle last_read) const {
  const auto& first_write = first_write_[mem];
  const auto& taken = taken_[mem];
  const auto& block_latest = block_latest_[mem];
  uint32_t run = 0; // consecutive usable words ending at w
  for (uint32_t block = 0; block < block_latest.size(); ++block) {
    if (block_latest[block] <= last_read) { // no word of it is usable
      run = 0;
      continue;
    }
    const uint32_t end = std::min<uint32_t>((block + 1) * kBlockWords, uint32_t(first_write.size()));
    for (uint32_t w = block * kBlockWords; w < end; ++w) {
      run = first_write[w] > last_read && !taken[w] ? run + 1 : 0;
      if (run == words) return w + 1 - words;
    }
  }
  return std::nullopt;
}

void BorrowedTextWords::mark(unsigned mem, uint32_t base, uint32_t words, bool taken) {
  for (uint32_t k = 0; k < words; ++k) taken_[mem][base + k] = taken;
  for (uint32_t b = base / kBlockWords; b <= (base + words - 1) / kBlockWords; ++b) update_block(mem, b);
}

} // namespace tsp::compiler
