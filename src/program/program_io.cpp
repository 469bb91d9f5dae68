// The binary program container (docs/program-format.md). Reading never trusts a length: every
// count is checked against the bytes that remain before anything is allocated.
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/program/program.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp {
namespace {

constexpr char kMagic[8] = {'T', 'S', 'P', 'P', 'R', 'O', 'G', '1'};
constexpr uint32_t kFormatVersion = 1;

enum class Section : uint32_t { metadata = 1, queues = 2, images = 3, symbols = 4 };
constexpr Section kSectionOrder[] = {Section::metadata, Section::queues, Section::images, Section::symbols};

const char* section_name(Section section) {
  switch (section) {
  case Section::metadata:
    return "metadata section";
  case Section::queues:
    return "queue section";
  case Section::images:
    return "image section";
  case Section::symbols:
    return "symbol section";
  }
  return "section";
}

class Writer {
public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u32(uint32_t v) { little_endian(v, 4); }
  void u64(uint64_t v) { little_endian(v, 8); }
  void raw(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  void string(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

private:
  void little_endian(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> bytes_;
};

class Reader {
public:
  Reader(const std::vector<uint8_t>& bytes, const std::string& origin) : bytes_(bytes), origin_(origin) {}

  void set_context(const char* context, size_t end) {
    context_ = context;
    end_ = end;
  }
  size_t offset() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }

  uint8_t u8() { return static_cast<uint8_t>(little_endian(1)); }
  uint32_t u32() { return static_cast<uint32_t>(little_endian(4)); }
  uint64_t u64() { return little_endian(8); }
  std::string string() {
    const size_t size = u32();
    need(size);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), size);
    pos_ += size;
    return s;
  }
  std::vector<uint8_t> bytes(size_t size) {
    need(size);
    std::vector<uint8_t> v(bytes_.begin() + pos_, bytes_.begin() + pos_ + size);
    pos_ += size;
    return v;
  }
  // A count of items of at least `min_item_bytes` each; rejects counts the bytes cannot hold.
  size_t count(size_t min_item_bytes) {
    const size_t at = pos_;
    const size_t n = u32();
    if (n > remaining() / min_item_bytes) truncated(at);
    return n;
  }
  void need(size_t n) {
    if (n > remaining()) truncated(pos_);
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("{}: {} ({})", origin_, what, context_));
  }
  // `at` is the offset of the first item that does not fit: the file ends, or (for a section
  // whose length disagrees with its contents) the section does.
  [[noreturn]] void truncated(size_t at) const {
    if (end_ == bytes_.size())
      throw InputError(fmt::format("{}: truncated at offset {} ({})", origin_, at, context_));
    fail(fmt::format("item at offset {} runs past the section end at offset {}", at, end_));
  }
  const std::string& origin() const { return origin_; }

private:
  uint64_t little_endian(size_t n) {
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{bytes_[pos_ + i]} << (8 * i);
    pos_ += n;
    return v;
  }

  const std::vector<uint8_t>& bytes_;
  const std::string& origin_;
  const char* context_ = "header";
  size_t pos_ = 0;
  size_t end_ = bytes_.size();
};

// Source lines are stored only when at least one is known, so a program has one encoding.
bool has_lines(const QueueProgram& queue) {
  return std::any_of(queue.lines.begin(), queue.lines.end(), [](uint32_t line) { return line != 0; });
}

void write_section(Writer& out, Section section, const std::vector<uint8_t>& payload) {
  out.u32(static_cast<uint32_t>(section));
  out.u64(payload.size());
  out.raw(payload.data(), payload.size());
}

std::vector<uint8_t> metadata_payload(const ProgramMetadata& m) {
  Writer w;
  w.string(m.workload);
  w.string(m.generator);
  w.string(m.source);
  w.u64(m.tokens_per_run);
  w.u32(m.chips);
  w.u64(m.predicted_cycles);
  return std::move(w.bytes());
}

std::vector<uint8_t> queues_payload(const std::vector<QueueProgram>& queues) {
  Writer w;
  w.u32(static_cast<uint32_t>(queues.size()));
  for (const auto& q : queues) {
    if (!q.lines.empty() && q.lines.size() != q.words.size())
      throw InputError(fmt::format("queue {}: {} source lines for {} instructions", q.queue, q.lines.size(),
                                   q.words.size()));
    w.u32(q.queue);
    w.u32(static_cast<uint32_t>(q.words.size()));
    for (uint64_t word : q.words) w.u64(word);
    const bool lines = has_lines(q);
    w.u8(lines ? 1 : 0);
    if (lines)
      for (uint32_t line : q.lines) w.u32(line);
  }
  return std::move(w.bytes());
}

std::vector<uint8_t> images_payload(const std::vector<MemImage>& images) {
  Writer w;
  w.u32(static_cast<uint32_t>(images.size()));
  for (const auto& image : images) {
    w.u32(image.mem);
    w.u32(image.address);
    w.u32(static_cast<uint32_t>(image.bytes.size()));
    w.raw(image.bytes.data(), image.bytes.size());
  }
  return std::move(w.bytes());
}

std::vector<uint8_t> symbols_payload(const std::vector<Symbol>& symbols) {
  Writer w;
  w.u32(static_cast<uint32_t>(symbols.size()));
  for (const auto& s : symbols) {
    w.string(s.name);
    w.u8(static_cast<uint8_t>(s.dtype));
    w.u32(s.rows);
    w.u32(s.cols);
    w.u32(s.base);
    w.u32(static_cast<uint32_t>(s.slices.size()));
    for (uint32_t slice : s.slices) w.u32(slice);
  }
  return std::move(w.bytes());
}

void read_metadata(Reader& in, ProgramMetadata& m) {
  m.workload = in.string();
  m.generator = in.string();
  m.source = in.string();
  m.tokens_per_run = in.u64();
  m.chips = in.u32();
  m.predicted_cycles = in.u64();
}

void read_queues(Reader& in, std::vector<QueueProgram>& queues) {
  const size_t n = in.count(9);
  for (size_t i = 0; i < n; ++i) {
    QueueProgram q;
    q.queue = in.u32();
    const size_t words = in.count(8);
    q.words.reserve(words);
    for (size_t k = 0; k < words; ++k) q.words.push_back(in.u64());
    const size_t flag_at = in.offset();
    const uint8_t lines = in.u8();
    if (lines > 1) in.fail(fmt::format("line flag {} at offset {} is not 0 or 1", lines, flag_at));
    if (lines) {
      in.need(words * 4);
      q.lines.reserve(words);
      for (size_t k = 0; k < words; ++k) q.lines.push_back(in.u32());
    }
    queues.push_back(std::move(q));
  }
}

void read_images(Reader& in, std::vector<MemImage>& images) {
  const size_t n = in.count(12);
  for (size_t i = 0; i < n; ++i) {
    MemImage image;
    image.mem = in.u32();
    image.address = in.u32();
    image.bytes = in.bytes(in.count(1));
    images.push_back(std::move(image));
  }
}

void read_symbols(Reader& in, std::vector<Symbol>& symbols) {
  const size_t n = in.count(21);
  for (size_t i = 0; i < n; ++i) {
    Symbol s;
    s.name = in.string();
    const size_t dtype_at = in.offset();
    const uint8_t dtype = in.u8();
    if (dtype >= static_cast<uint8_t>(isa::DType::count))
      in.fail(
          fmt::format("symbol '{}' has dtype {} at offset {}, which is not a type", s.name, dtype, dtype_at));
    s.dtype = static_cast<isa::DType>(dtype);
    s.rows = in.u32();
    s.cols = in.u32();
    s.base = in.u32();
    const size_t slices = in.count(4);
    s.slices.reserve(slices);
    for (size_t k = 0; k < slices; ++k) s.slices.push_back(in.u32());
    symbols.push_back(std::move(s));
  }
}

} // namespace

const Symbol* Program::find_symbol(const std::string& name) const {
  for (const auto& s : symbols)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<uint8_t> serialize_program(const Program& program) {
  Writer out;
  out.raw(kMagic, sizeof kMagic);
  out.u32(kFormatVersion);
  out.u64(program.fingerprint);
  write_section(out, Section::metadata, metadata_payload(program.metadata));
  write_section(out, Section::queues, queues_payload(program.queues));
  write_section(out, Section::images, images_payload(program.images));
  write_section(out, Section::symbols, symbols_payload(program.symbols));
  return std::move(out.bytes());
}

Program deserialize_program(const std::vector<uint8_t>& bytes, const std::string& origin) {
  const size_t magic_bytes = std::min(bytes.size(), sizeof kMagic);
  if (!std::equal(bytes.begin(), bytes.begin() + magic_bytes, kMagic))
    throw InputError(fmt::format("{}: not a tspsim program (bad magic)", origin));
  Reader in(bytes, origin);
  in.bytes(sizeof kMagic);
  const uint32_t version = in.u32();
  if (version != kFormatVersion)
    throw InputError(fmt::format("{}: format version {} is not supported (this tspsim reads version {})",
                                 origin, version, kFormatVersion));
  Program program;
  program.fingerprint = in.u64();

  for (Section expected : kSectionOrder) {
    in.set_context(section_name(expected), bytes.size());
    const size_t header_at = in.offset();
    const auto id = in.u32();
    if (id != static_cast<uint32_t>(expected))
      in.fail(fmt::format("section id {} at offset {}, expected {}", id, header_at,
                          static_cast<uint32_t>(expected)));
    const uint64_t length = in.u64();
    if (length > in.remaining()) in.truncated(in.offset());
    const size_t end = in.offset() + length;
    in.set_context(section_name(expected), end);
    switch (expected) {
    case Section::metadata:
      read_metadata(in, program.metadata);
      break;
    case Section::queues:
      read_queues(in, program.queues);
      break;
    case Section::images:
      read_images(in, program.images);
      break;
    case Section::symbols:
      read_symbols(in, program.symbols);
      break;
    }
    if (in.remaining() != 0)
      in.fail(
          fmt::format("{} unused bytes at offset {} before the section end", in.remaining(), in.offset()));
  }
  if (in.offset() != bytes.size())
    throw InputError(fmt::format("{}: {} trailing bytes after the last section at offset {}", origin,
                                 bytes.size() - in.offset(), in.offset()));
  return program;
}

void write_program(const Program& program, const std::filesystem::path& path) {
  const auto bytes = serialize_program(program);
  write_file_atomic(path, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

Program read_program(const std::filesystem::path& path) {
  return deserialize_program(read_binary_file(path), path.string());
}

} // namespace tsp
