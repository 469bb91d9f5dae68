// Derived programs (docs/program-format.md, "Derived programs"): a program of a system container
// stored as the edits that turn an earlier program's bytes into its own, so that the chips of
// pipeline stages that differ in a few words (start cycles, links, seeds, scales) cost those
// words. Private to tsp_program.
#pragma once

#include "binary_io.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace tsp::delta {

// A program may derive from one of the kWindow programs stored before it, so that a reader keeps
// the bytes of that many programs only. 64 reaches back eight stages of eight chips: the 70B's
// half-layer stages repeat their mix of attention and MLP blocks a few stages apart (16: 76.1 MB,
// 64: 57.0 MB, 144: 52.0 MB for twice the encoding time; docs/performance.md).
constexpr uint32_t kWindow = 64;

// The most bytes a program derived from a base of `base_size` bytes may have besides its literal
// bytes, so that reading one reserves no more than twice what is in memory and in the file.
inline uint64_t max_derived_size(uint64_t base_size) { return 2 * base_size; }

// One in 8 of a program's aligned blocks, hashed once for scoring it against several bases.
class BlockSample {
public:
  explicit BlockSample(const std::vector<uint8_t>& target);
  const std::vector<uint64_t>& keys() const { return keys_; }

private:
  std::vector<uint64_t> keys_;
};

// The aligned blocks of a program's bytes by hash, for finding where another program repeats them.
class BlockIndex {
public:
  explicit BlockIndex(const std::vector<uint8_t>& bytes);
  // How many of the sampled blocks occur somewhere in the indexed bytes.
  size_t shared_blocks(const BlockSample& sample) const;
  // The offset nearest to `near` where `block` (kBlock bytes, hashed to `hash`) starts an indexed
  // block of `bytes`, if any.
  std::optional<size_t> find(const std::vector<uint8_t>& bytes, const uint8_t* block, uint64_t hash,
                             size_t near) const;

private:
  using Blocks = std::vector<std::pair<uint64_t, uint32_t>>;
  // The first block of `blocks_` not before (key, offset), searched in key's bucket only.
  Blocks::const_iterator lower_bound(uint64_t key, uint32_t offset) const;

  Blocks blocks_;                 // (spread hash, offset), sorted
  std::vector<uint32_t> buckets_; // bucket b (the key's top bits) is blocks_[buckets_[b], buckets_[b + 1])
  unsigned shift_ = 63;           // a key's bucket is key >> shift_
};

// How a derived section writes its edits: `fixed` (section id 4) in u32 and u64 fields, `compact`
// (id 5, what the writer writes) in LEB128 numbers with each copy's offset relative to the end of
// the copy before it.
enum class Encoding { fixed, compact };

// The edits that make `target` from `base` (indexed by `index`): copies of base ranges and
// literal bytes (the payload after the base index), compact. The encoding depends on the two byte
// strings only.
std::vector<uint8_t> encode(const std::vector<uint8_t>& base, const BlockIndex& index,
                            const std::vector<uint8_t>& target);

// Reads the edits after the base index from `in` (a derived program section) and applies them to
// `base`; every length and range is checked before it is used (InputError naming the offset).
std::vector<uint8_t> decode(binary::Reader& in, const std::vector<uint8_t>& base, Encoding encoding);

} // namespace tsp::delta
