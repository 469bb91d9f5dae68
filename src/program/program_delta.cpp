// Derived programs: block matching and the edit list (src/program/program_delta.h).
#include "program_delta.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <fmt/format.h>

namespace tsp::delta {
namespace {

constexpr size_t kBlock = 16;                      // bytes of a matched block
constexpr size_t kSampleStride = 8 * kBlock;       // target blocks scored when choosing a base
constexpr uint64_t kMultiplier = 0x100000001b3ull; // of the polynomial (rolling) block hash
constexpr uint8_t kCopy = 0;
constexpr uint8_t kLiteral = 1;

uint64_t block_hash(const uint8_t* p) {
  uint64_t h = 0;
  for (size_t k = 0; k < kBlock; ++k) h = h * kMultiplier + p[k];
  return h;
}

// A bijection of the block hash whose top bits are spread even when the blocks are mostly zeros
// (whose polynomial hashes are small numbers): the index sorts and buckets blocks by it.
uint64_t spread(uint64_t hash) {
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdull;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ull;
  return hash ^ (hash >> 33);
}

uint64_t leading_power() {
  uint64_t power = 1;
  for (size_t k = 1; k < kBlock; ++k) power *= kMultiplier;
  return power;
}

// The edit list as it is written (compact): a head of length * 2 + kind, then a copy's offset as
// the zigzag of its distance from the end of the previous copy, or a literal's bytes.
class Edits {
public:
  explicit Edits(const std::vector<uint8_t>& target) : target_(target) {}
  void literal(size_t begin, size_t end) {
    if (begin == end) return;
    ops_.varint(uint64_t{end - begin} << 1 | kLiteral);
    ops_.raw(target_.data() + begin, end - begin);
    ++count_;
  }
  void copy(size_t offset, size_t length) {
    ops_.varint(uint64_t{length} << 1 | kCopy);
    ops_.varint(offset >= base_end_ ? uint64_t{offset - base_end_} << 1
                                    : (uint64_t{base_end_ - offset} << 1) - 1);
    base_end_ = offset + length;
    ++count_;
  }
  std::vector<uint8_t> payload() {
    binary::Writer out;
    out.varint(target_.size());
    out.varint(count_);
    out.raw(ops_.bytes().data(), ops_.bytes().size());
    return std::move(out.bytes());
  }

private:
  const std::vector<uint8_t>& target_;
  binary::Writer ops_;
  uint64_t count_ = 0;
  size_t base_end_ = 0;
};

// One edit as read: kind, length and (a copy's) first base byte, which may lie outside the base.
struct Edit {
  uint8_t kind = kCopy;
  uint64_t length = 0;
  int64_t offset = 0;
};

Edit read_fixed(binary::Reader& in) {
  Edit e;
  const size_t at = in.offset();
  e.kind = in.u8();
  if (e.kind != kCopy && e.kind != kLiteral)
    in.fail(fmt::format("edit {} at offset {} is not 0 (copy) or 1 (literal)", e.kind, at));
  if (e.kind == kCopy) e.offset = in.u32();
  e.length = in.u32();
  return e;
}

// `base_end` is where the previous copy ended; offsets that overflow land outside any base.
Edit read_compact(binary::Reader& in, uint64_t base_end) {
  Edit e;
  const uint64_t head = in.varint();
  e.kind = static_cast<uint8_t>(head & 1);
  e.length = head >> 1;
  if (e.kind == kCopy) {
    const uint64_t zigzag = in.varint();
    const uint64_t distance = (zigzag >> 1) + (zigzag & 1);
    e.offset = distance > uint64_t{INT64_MAX} / 2 ? INT64_MIN
               : zigzag & 1                       ? int64_t(base_end) - int64_t(distance)
                                                  : int64_t(base_end) + int64_t(distance);
  }
  return e;
}

} // namespace

BlockIndex::BlockIndex(const std::vector<uint8_t>& bytes) {
  const size_t count = bytes.size() / kBlock;
  // About one block per bucket: a lookup searches its bucket, not the whole index.
  unsigned bits = 1;
  while (bits < 32 && (size_t{1} << bits) < count) ++bits;
  shift_ = 64 - bits;
  // Sorted by a counting sort on the buckets, then within each bucket (equal keys keep their
  // offsets in order).
  std::vector<uint64_t> keys(count);
  buckets_.assign((size_t{1} << bits) + 1, 0);
  for (size_t k = 0; k < count; ++k) {
    keys[k] = spread(block_hash(bytes.data() + k * kBlock));
    ++buckets_[(keys[k] >> shift_) + 1];
  }
  for (size_t b = 1; b < buckets_.size(); ++b) buckets_[b] += buckets_[b - 1];
  std::vector<uint32_t> next(buckets_.begin(), buckets_.end() - 1);
  blocks_.resize(count);
  for (size_t k = 0; k < count; ++k)
    blocks_[next[keys[k] >> shift_]++] = {keys[k], static_cast<uint32_t>(k * kBlock)};
  for (size_t b = 0; b + 1 < buckets_.size(); ++b)
    if (buckets_[b + 1] - buckets_[b] > 1)
      std::sort(blocks_.begin() + buckets_[b], blocks_.begin() + buckets_[b + 1]);
}

BlockIndex::Blocks::const_iterator BlockIndex::lower_bound(uint64_t key, uint32_t offset) const {
  const size_t bucket = key >> shift_;
  return std::lower_bound(blocks_.begin() + buckets_[bucket], blocks_.begin() + buckets_[bucket + 1],
                          std::make_pair(key, offset));
}

BlockSample::BlockSample(const std::vector<uint8_t>& target) {
  for (size_t p = 0; p + kBlock <= target.size(); p += kSampleStride)
    keys_.push_back(spread(block_hash(target.data() + p)));
}

size_t BlockIndex::shared_blocks(const BlockSample& sample) const {
  size_t shared = 0;
  for (const uint64_t key : sample.keys()) {
    const auto it = lower_bound(key, 0);
    shared += it != blocks_.end() && it->first == key;
  }
  return shared;
}

std::optional<size_t> BlockIndex::find(const std::vector<uint8_t>& bytes, const uint8_t* block, uint64_t hash,
                                       size_t near) const {
  const auto matches = [&](auto it) { return std::memcmp(bytes.data() + it->second, block, kBlock) == 0; };
  const uint64_t key = spread(hash);
  const auto at = lower_bound(key, static_cast<uint32_t>(near));
  std::optional<size_t> after, before;
  for (auto it = at; it != blocks_.end() && it->first == key && !after; ++it)
    if (matches(it)) after = it->second;
  for (auto it = at; it != blocks_.begin() && !before;) {
    --it;
    if (it->first != key) break;
    if (matches(it)) before = it->second;
  }
  if (!before) return after;
  if (!after) return before;
  return *after - near < near - *before ? after : before;
}

// Greedy: at each target offset, the base block that continues the last copy at the same distance
// (a changed word between two copies), else the indexed block nearest to that place (a repeated
// block, such as zeros, is taken where the layouts agree); a match grows backwards into the pending literal
// and forwards as far as the bytes agree.
std::vector<uint8_t> encode(const std::vector<uint8_t>& base, const BlockIndex& index,
                            const std::vector<uint8_t>& target) {
  Edits edits(target);
  const uint64_t power = leading_power();
  const size_t n = target.size();
  size_t literal_from = 0, base_end = 0, target_end = 0;
  size_t i = 0;
  uint64_t hash = 0;
  size_t hashed = SIZE_MAX; // the offset `hash` belongs to
  while (i + kBlock <= n) {
    const uint8_t* block = target.data() + i;
    std::optional<size_t> match;
    const size_t continued = base_end + (i - target_end);
    if (continued + kBlock <= base.size() && std::memcmp(base.data() + continued, block, kBlock) == 0) {
      match = continued;
    } else {
      // Rolled from the previous offset's hash; at offset 0 nothing was hashed (SIZE_MAX + 1 wraps
      // to 0, and rolling would read the byte before the target).
      if (hashed != SIZE_MAX && hashed + 1 == i)
        hash = (hash - uint64_t{target[i - 1]} * power) * kMultiplier + block[kBlock - 1];
      else if (hashed != i)
        hash = block_hash(block);
      hashed = i;
      match = index.find(base, block, hash, continued);
    }
    if (!match) {
      ++i;
      continue;
    }
    size_t at = *match;
    while (i > literal_from && at > 0 && base[at - 1] == target[i - 1]) {
      --i;
      --at;
    }
    size_t length = 0;
    while (i + length < n && at + length < base.size() && base[at + length] == target[i + length]) ++length;
    edits.literal(literal_from, i);
    edits.copy(at, length);
    i += length;
    literal_from = target_end = i;
    base_end = at + length;
  }
  edits.literal(literal_from, n);
  return edits.payload();
}

std::vector<uint8_t> decode(binary::Reader& in, const std::vector<uint8_t>& base, Encoding encoding) {
  const bool compact = encoding == Encoding::compact;
  const size_t size_at = in.offset();
  const uint64_t size = compact ? in.varint() : in.u64();
  if (size > max_derived_size(base.size()) + in.remaining())
    in.fail(fmt::format("{} bytes at offset {} are more than twice its base's {} bytes and its {} bytes of "
                        "edits",
                        size, size_at, base.size(), in.remaining()));
  // Every edit takes at least 2 bytes compact, 5 fixed.
  const size_t count_at = in.offset();
  const uint64_t ops = compact ? in.varint() : in.u32();
  if (ops > in.remaining() / (compact ? 2 : 5)) in.truncated(count_at);
  std::vector<uint8_t> out;
  out.reserve(size);
  uint64_t base_end = 0;
  for (uint64_t op = 0; op < ops; ++op) {
    const size_t at = in.offset();
    const Edit e = compact ? read_compact(in, base_end) : read_fixed(in);
    const char* kind = e.kind == kCopy ? "copy" : "literal";
    if (e.length == 0) in.fail(fmt::format("empty {} at offset {}", kind, at));
    if (e.length > size - out.size())
      in.fail(fmt::format("edit at offset {} goes past the {} bytes the program has", at, size));
    if (e.kind == kLiteral) {
      const uint8_t* bytes = in.take(e.length);
      out.insert(out.end(), bytes, bytes + e.length);
      continue;
    }
    if (e.offset < 0 || uint64_t(e.offset) > base.size() || e.length > base.size() - uint64_t(e.offset))
      in.fail(fmt::format("copy at offset {} of base bytes {} to {} is outside the base's {} bytes", at,
                          e.offset, e.offset == INT64_MIN ? e.offset : e.offset + int64_t(e.length) - 1,
                          base.size()));
    out.insert(out.end(), base.begin() + e.offset,
               base.begin() + e.offset + static_cast<std::ptrdiff_t>(e.length));
    base_end = uint64_t(e.offset) + e.length;
  }
  if (out.size() != size)
    in.fail(fmt::format("the edits make {} bytes, not the {} at offset {}", out.size(), size, size_at));
  return out;
}

} // namespace tsp::delta
