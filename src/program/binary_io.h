// Little-endian writing and bounds-checked reading of the binary containers (private to
// tsp_program). A container is read one section at a time from a ByteSource, so a file is never
// read further than its header says, and never whole before its magic is checked.
#pragma once

#include "tspsim/program/program.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace tsp::binary {

// The first 8 bytes of each container.
constexpr char kProgramMagic[8] = {'T', 'S', 'P', 'P', 'R', 'O', 'G', '1'};
constexpr char kSystemMagic[8] = {'T', 'S', 'P', 'S', 'Y', 'S', '0', '1'};

class Writer {
public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u32(uint32_t v) { little_endian(v, 4); }
  void u64(uint64_t v) { little_endian(v, 8); }
  // Unsigned LEB128: 7 bits a byte, low bits first, the high bit set on every byte but the last.
  void varint(uint64_t v) {
    for (; v >= 0x80; v >>= 7) bytes_.push_back(static_cast<uint8_t>(v | 0x80));
    bytes_.push_back(static_cast<uint8_t>(v));
  }
  void raw(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  void string(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  // Room for `size` more bytes: a writer that knows its length spares the copies of growing.
  void reserve(size_t size) { bytes_.reserve(bytes_.size() + size); }
  // A section: u32 id, u64 payload length (the header's 12 bytes), payload.
  static constexpr size_t kSectionHeader = 12;
  void section(uint32_t id, const std::vector<uint8_t>& payload) {
    u32(id);
    u64(payload.size());
    raw(payload.data(), payload.size());
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

private:
  void little_endian(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> bytes_;
};

// The bytes of a container, fetched by range.
class ByteSource {
public:
  virtual ~ByteSource() = default;
  virtual size_t size() const = 0;
  // Bytes [offset, offset + n), which lie inside size(); valid until the next fetch.
  virtual const uint8_t* fetch(size_t offset, size_t n) = 0;
};

class MemorySource : public ByteSource {
public:
  MemorySource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t size() const override { return size_; }
  const uint8_t* fetch(size_t offset, size_t) override { return data_ + offset; }

private:
  const uint8_t* data_;
  size_t size_;
};

// Reads each requested range with one seek and read: memory is bounded by the largest section.
class FileSource : public ByteSource {
public:
  explicit FileSource(const std::filesystem::path& path);
  size_t size() const override { return size_; }
  const uint8_t* fetch(size_t offset, size_t n) override;

private:
  std::filesystem::path path_;
  std::ifstream in_;
  size_t size_ = 0;
  std::vector<uint8_t> buffer_;
};

// Reads fields at an absolute offset. `window(n)` makes the next n bytes (cut at the end of the
// source) readable; every read is checked against the current context's end (a section, or the
// whole source), so no count or length is trusted before the bytes behind it exist.
class Reader {
public:
  Reader(ByteSource& source, const std::string& origin)
      : source_(source), origin_(origin), end_(source.size()) {}

  void window(size_t n);
  void set_context(const char* context, size_t end) {
    context_ = context;
    end_ = end;
  }
  size_t offset() const { return pos_; }
  size_t size() const { return source_.size(); }
  size_t remaining() const { return end_ - pos_; }
  // Pointer to the next `n` bytes (checked), which are then skipped.
  const uint8_t* take(size_t n);

  uint8_t u8() { return static_cast<uint8_t>(little_endian(1)); }
  uint32_t u32() { return static_cast<uint32_t>(little_endian(4)); }
  uint64_t u64() { return little_endian(8); }
  // An unsigned LEB128 value (Writer::varint); one of more than 64 bits is an error.
  uint64_t varint();
  std::string string();
  std::vector<uint8_t> bytes(size_t size);
  // A count of items of at least `min_item_bytes` each; rejects counts the bytes cannot hold.
  size_t count(size_t min_item_bytes);
  void need(size_t n) {
    if (n > remaining()) truncated(pos_);
  }
  [[noreturn]] void fail(const std::string& what) const;
  // `at` is the offset of the first item that does not fit: the source ends, or (for a section
  // whose length disagrees with its contents) the section does.
  [[noreturn]] void truncated(size_t at) const;
  const std::string& origin() const { return origin_; }

  // Reads a section header expecting `id`, then makes its payload the window and the context.
  void open_section(uint32_t id, const char* name);
  // The same for a section that may have any of `ids`; returns the one it has.
  uint32_t open_section(std::initializer_list<uint32_t> ids, const char* name);
  // After a section's payload: every byte must have been consumed.
  void close_section();

private:
  uint64_t little_endian(size_t n);

  ByteSource& source_;
  const std::string& origin_;
  const char* context_ = "header";
  const uint8_t* data_ = nullptr; // byte at window_begin_
  size_t window_begin_ = 0;
  size_t window_end_ = 0;
  size_t pos_ = 0;
  size_t end_;
};

// Whether `source` starts with `magic` (reads 8 bytes at most).
bool has_magic(ByteSource& source, const char (&magic)[8]);

// The one-chip container read from `source` (docs/program-format.md).
Program read_program(ByteSource& source, const std::string& origin);

// The metadata payload, shared by both containers.
std::vector<uint8_t> metadata_payload(const ProgramMetadata& m);
void read_metadata(Reader& in, ProgramMetadata& m);

} // namespace tsp::binary
