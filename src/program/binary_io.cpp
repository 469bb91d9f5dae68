#include "binary_io.h"

#include "tspsim/common/error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace tsp::binary {

FileSource::FileSource(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("cannot read '{}': is a directory", path.string()));
  in_.open(path, std::ios::binary);
  if (!in_) throw InputError(fmt::format("cannot read '{}': {}", path.string(), std::strerror(errno)));
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(fmt::format("cannot read '{}': {}", path.string(), ec.message()));
  size_ = static_cast<size_t>(size);
}

const uint8_t* FileSource::fetch(size_t offset, size_t n) {
  // A smaller range gives back the room of a large section: a system program's first section is
  // a whole program, which would otherwise stay allocated while every other one is read.
  if (n < buffer_.capacity() / 2) buffer_ = std::vector<uint8_t>();
  buffer_.resize(n);
  in_.seekg(static_cast<std::streamoff>(offset));
  in_.read(reinterpret_cast<char*>(buffer_.data()), static_cast<std::streamsize>(n));
  if (!in_)
    throw InputError(fmt::format("cannot read '{}': read error at offset {}", path_.string(), offset));
  return buffer_.data();
}

bool has_magic(ByteSource& source, const char (&magic)[8]) {
  if (source.size() < sizeof magic) return false;
  const uint8_t* head = source.fetch(0, sizeof magic);
  return std::equal(head, head + sizeof magic, magic);
}

void Reader::window(size_t n) {
  const size_t cut = std::min(n, source_.size() - pos_);
  data_ = source_.fetch(pos_, cut);
  window_begin_ = pos_;
  window_end_ = pos_ + cut;
}

const uint8_t* Reader::take(size_t n) {
  need(n);
  if (pos_ + n > window_end_)
    throw std::logic_error(
        fmt::format("{}: read of {} bytes at offset {} outside the window", origin_, n, pos_));
  const uint8_t* p = data_ + (pos_ - window_begin_);
  pos_ += n;
  return p;
}

uint64_t Reader::varint() {
  const size_t at = pos_;
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    const uint8_t byte = u8();
    if (shift == 63 && byte > 1) fail(fmt::format("number at offset {} has more than 64 bits", at));
    v |= uint64_t{byte & 0x7fu} << shift;
    if (byte < 0x80) return v;
  }
}

std::string Reader::string() {
  const size_t size = u32();
  const auto* p = take(size);
  return {reinterpret_cast<const char*>(p), size};
}

std::vector<uint8_t> Reader::bytes(size_t size) {
  const auto* p = take(size);
  return {p, p + size};
}

size_t Reader::count(size_t min_item_bytes) {
  const size_t at = pos_;
  const size_t n = u32();
  if (n > remaining() / min_item_bytes) truncated(at);
  return n;
}

void Reader::fail(const std::string& what) const {
  throw InputError(fmt::format("{}: {} ({})", origin_, what, context_));
}

void Reader::truncated(size_t at) const {
  if (end_ == source_.size())
    throw InputError(fmt::format("{}: truncated at offset {} ({})", origin_, at, context_));
  fail(fmt::format("item at offset {} runs past the section end at offset {}", at, end_));
}

void Reader::open_section(uint32_t id, const char* name) { open_section({id}, name); }

uint32_t Reader::open_section(std::initializer_list<uint32_t> ids, const char* name) {
  set_context(name, source_.size());
  window(12);
  const size_t header_at = pos_;
  const uint32_t found = u32();
  if (std::find(ids.begin(), ids.end(), found) == ids.end()) {
    std::string expected;
    for (const uint32_t id : ids) expected += fmt::format("{}{}", expected.empty() ? "" : " or ", id);
    fail(fmt::format("section id {} at offset {}, expected {}", found, header_at, expected));
  }
  const uint64_t length = u64();
  if (length > remaining()) truncated(pos_);
  window(length);
  set_context(name, pos_ + length);
  return found;
}

void Reader::close_section() {
  if (remaining() != 0)
    fail(fmt::format("{} unused bytes at offset {} before the section end", remaining(), pos_));
}

uint64_t Reader::little_endian(size_t n) {
  const auto* p = take(n);
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

} // namespace tsp::binary
