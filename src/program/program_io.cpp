// The binary program container (docs/program-format.md). Reading never trusts a length: every
// count is checked against the bytes that remain before anything is allocated.
#include "binary_io.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tsp {
namespace {

using binary::Reader;
using binary::Writer;

constexpr const char (&kMagic)[8] = binary::kProgramMagic;
// Version 1: the four sections. Version 3 (written only for programs with declared tensors) adds
// the declared-tensor section, whose images the image section leaves out; version 4 (written only
// when a declaration's values are not the raw stream) adds each declaration's values kind and
// divisor; version 5 (written only when a declaration reads a checkpoint) adds, to those
// declarations alone, the matrix offset, file, tensor, transposition and rotary head size; version 2
// declared whole tensors only (no row stride or row range) and is still read.
constexpr uint32_t kFormatVersion = 5;
constexpr uint32_t kValuesVersion = 4;
constexpr uint32_t kWindowVersion = 3;
constexpr uint32_t kWholeDeclaredVersion = 2;
constexpr uint32_t kPlainVersion = 1;

// The region section is optional in both versions: it follows the last section when the
// program has regions, so a program without them has the same bytes as before regions existed.
// It is written compact (id 8: LEB128 numbers, each run's queue and cycle relative to the run
// before, so that programs whose phases start at other cycles share the bytes); id 6, its
// first encoding (fixed fields, absolute cycles), is still read.
// The slice base section (id 7, symbols whose slices have bases of their own) is optional the same
// way and comes last.
enum class Section : uint32_t {
  metadata = 1,
  queues = 2,
  images = 3,
  symbols = 4,
  declared = 5,
  regions = 6,
  slice_bases = 7,
  regions_compact = 8
};
constexpr Section kSectionOrder[] = {Section::metadata, Section::queues, Section::images, Section::symbols,
                                     Section::declared};

// A sanity bound on what one container may declare: 16 times the 14 nm chip's 230 MB of SRAM.
constexpr uint64_t kMaxDeclaredBytes = uint64_t{1} << 32;

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
  case Section::declared:
    return "declared tensor section";
  case Section::regions:
  case Section::regions_compact:
    return "region section";
  case Section::slice_bases:
    return "slice base section";
  }
  return "section";
}

// Source lines are stored only when at least one is known, so a program has one encoding.
bool has_lines(const QueueProgram& queue) {
  return std::any_of(queue.lines.begin(), queue.lines.end(), [](uint32_t line) { return line != 0; });
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

// The images section's payload length: the images are written straight into the file's buffer
// (write_images_section: id, length, then each image), not through a payload of their own.
size_t images_size(const std::vector<MemImage>& images) {
  size_t size = 4;
  for (const auto& image : images) size += 12 + image.bytes.size();
  return size;
}

void write_images_section(Writer& out, const std::vector<MemImage>& images) {
  out.u32(static_cast<uint32_t>(Section::images));
  out.u64(images_size(images));
  out.u32(static_cast<uint32_t>(images.size()));
  for (const auto& image : images) {
    out.u32(image.mem);
    out.u32(image.address);
    out.u32(static_cast<uint32_t>(image.bytes.size()));
    out.raw(image.bytes.data(), image.bytes.size());
  }
}

uint32_t format_version(const Program& program) {
  const auto& declared = program.declared;
  if (declared.empty()) return kPlainVersion;
  if (std::any_of(declared.begin(), declared.end(),
                  [](const DeclaredTensor& d) { return is_checkpoint(d.values); }))
    return kFormatVersion;
  if (std::any_of(declared.begin(), declared.end(),
                  [](const DeclaredTensor& d) { return d.values != DeclaredValues::raw; }))
    return kValuesVersion;
  return kWindowVersion;
}

std::vector<uint8_t> declared_payload(const std::vector<DeclaredTensor>& declared, uint32_t version) {
  const bool values = version >= kValuesVersion;
  Writer w;
  w.u32(static_cast<uint32_t>(declared.size()));
  for (const auto& d : declared) {
    w.u32(d.symbol);
    w.u64(d.seed);
    w.u32(d.vector_bytes);
    w.u32(d.row_stride);
    w.u32(d.first_row);
    w.u32(d.row_count);
    if (!values) continue;
    w.u8(static_cast<uint8_t>(d.values));
    uint64_t divisor;
    std::memcpy(&divisor, &d.divisor, sizeof divisor);
    w.u64(divisor);
    if (!is_checkpoint(d.values)) continue;
    w.u64(d.offset);
    w.string(d.checkpoint.file);
    w.string(d.checkpoint.tensor);
    w.u8(d.checkpoint.transposed ? 1 : 0);
    w.u32(d.checkpoint.rotary_head_dim);
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
  images.reserve(images.size() + n);
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

bool has_slice_bases(const std::vector<Symbol>& symbols) {
  return std::any_of(symbols.begin(), symbols.end(), [](const Symbol& s) { return !s.bases.empty(); });
}

std::vector<uint8_t> slice_bases_payload(const std::vector<Symbol>& symbols) {
  Writer w;
  uint32_t count = 0;
  for (const auto& s : symbols) count += s.bases.empty() ? 0 : 1;
  w.u32(count);
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (symbols[i].bases.empty()) continue;
    w.u32(static_cast<uint32_t>(i));
    for (uint32_t base : symbols[i].bases) w.u32(base);
  }
  return std::move(w.bytes());
}

// Per entry a symbol index, in increasing order, then one base per slice of that symbol.
void read_slice_bases(Reader& in, std::vector<Symbol>& symbols) {
  const size_t n = in.count(8);
  if (n == 0) in.fail("no symbols in a slice base section (which must have some)");
  for (size_t i = 0, next = 0; i < n; ++i) {
    const size_t at = in.offset();
    const uint32_t index = in.u32();
    if (index >= symbols.size())
      in.fail(fmt::format("slice bases at offset {} name symbol {}, but there are {} symbols", at, index,
                          symbols.size()));
    if (index < next)
      in.fail(
          fmt::format("slice bases at offset {} name symbol {}, not after the previous entry's", at, index));
    next = size_t{index} + 1;
    Symbol& s = symbols[index];
    in.need(s.slices.size() * 4);
    for (size_t k = 0; k < s.slices.size(); ++k) s.bases.push_back(in.u32());
    if (!s.bases.empty()) s.base = s.bases.front();
  }
}

std::vector<uint8_t> regions_payload(const ProgramRegions& regions) {
  Writer w;
  w.u32(static_cast<uint32_t>(regions.regions.size()));
  for (const auto& r : regions.regions) w.string(r.name());
  w.varint(regions.runs.size());
  const RegionRun* last = nullptr;
  for (const auto& run : regions.runs) {
    const bool same_queue = last && last->queue == run.queue;
    w.varint(run.queue - (last ? last->queue : 0));
    w.varint(run.first_cycle - (same_queue ? last->first_cycle : 0));
    w.varint(run.region == RegionRun::kNoRegion ? 0 : uint64_t{run.region} + 1);
    last = &run;
  }
  return std::move(w.bytes());
}

RegionRun read_fixed_run(Reader& in) {
  RegionRun run;
  run.queue = in.u32();
  run.first_cycle = in.u64();
  run.region = in.u32();
  return run;
}

// Compact: the queue after the last run's (a run of the same queue then starts the given cycles
// after the last), the region plus one (0: none).
RegionRun read_compact_run(Reader& in, const RegionRun* last) {
  const size_t at = in.offset();
  const uint64_t queue = in.varint() + (last ? last->queue : 0);
  const uint64_t cycle = in.varint();
  const uint64_t region = in.varint();
  if (queue > UINT32_MAX || region > UINT32_MAX)
    in.fail(fmt::format("region run at offset {} names queue {} and region {}, more than 32 bits", at, queue,
                        region == 0 ? 0 : region - 1));
  RegionRun run;
  run.queue = static_cast<uint32_t>(queue);
  const uint64_t from = last && last->queue == run.queue ? last->first_cycle : 0;
  if (cycle > UINT64_MAX - from)
    in.fail(fmt::format("region run at offset {} starts past cycle {}", at, UINT64_MAX));
  run.first_cycle = from + cycle;
  run.region = region == 0 ? RegionRun::kNoRegion : static_cast<uint32_t>(region - 1);
  return run;
}

void read_regions(Reader& in, ProgramRegions& regions, bool compact) {
  const size_t n = in.count(4);
  for (size_t i = 0; i < n; ++i) {
    const size_t at = in.offset();
    const std::string name = in.string();
    const auto region = parse_region(name);
    if (!region)
      in.fail(fmt::format("region '{}' at offset {} is not '<group> / <category>' with a category of {}",
                          name, at, fmt::join(kRegionCategoryNames, ", ")));
    regions.regions.push_back(*region);
  }
  if (regions.regions.empty()) in.fail("no regions in a region section (which must have some)");
  // A run takes at least 3 bytes compact, 16 fixed.
  const size_t runs_at = in.offset();
  const uint64_t runs = compact ? in.varint() : in.u32();
  if (runs > in.remaining() / (compact ? 3 : 16)) in.truncated(runs_at);
  regions.runs.reserve(runs);
  for (uint64_t i = 0; i < runs; ++i) {
    const size_t at = in.offset();
    const RegionRun run = compact
                              ? read_compact_run(in, regions.runs.empty() ? nullptr : &regions.runs.back())
                              : read_fixed_run(in);
    if (run.region != RegionRun::kNoRegion && run.region >= regions.regions.size())
      in.fail(fmt::format("region run at offset {} names region {}, but there are {} regions", at, run.region,
                          regions.regions.size()));
    if (!regions.runs.empty()) {
      const RegionRun& last = regions.runs.back();
      if (run.queue < last.queue || (run.queue == last.queue && run.first_cycle <= last.first_cycle))
        in.fail(fmt::format(
            "region run at offset {} (queue {}, cycle {}) is not after the previous one (queue {}, "
            "cycle {})",
            at, run.queue, run.first_cycle, last.queue, last.first_cycle));
    }
    regions.runs.push_back(run);
  }
}

bool next_section_is(binary::ByteSource& source, size_t offset, Section section) {
  if (source.size() - offset < 12) return false;
  const uint8_t* id = source.fetch(offset, 4);
  uint32_t value = 0;
  for (int b = 3; b >= 0; --b) value = value << 8 | id[b];
  return value == static_cast<uint32_t>(section);
}

// What a checkpoint declaration's reader can check without the file: the file and tensor are
// named, the symbol's type is one a checkpoint converts to, the rotary head size is even.
void check_checkpoint(Reader& in, const DeclaredTensor& d, const Symbol& s, size_t at) {
  const auto fail = [&](const std::string& what) {
    in.fail(fmt::format("declared tensor '{}' at offset {} {}", s.name, at, what));
  };
  if (d.checkpoint.file.empty() || d.checkpoint.tensor.empty())
    fail("reads a checkpoint without a file or tensor");
  const bool scale = d.values == DeclaredValues::checkpoint_scale;
  if (scale ? !isa::dtype_is_float(s.dtype) : s.dtype == isa::DType::i16 || s.dtype == isa::DType::i32)
    fail(fmt::format("is a checkpoint {} of {} elements (it takes {})", scale ? "scale" : "matrix",
                     isa::dtype_name(s.dtype), scale ? "fp16, bf16 or fp32" : "int8, fp16, bf16 or fp32"));
  if (d.checkpoint.rotary_head_dim % 2 != 0)
    fail(fmt::format("has an odd rotary head size {}", d.checkpoint.rotary_head_dim));
}

// Declarations are checked far enough that generating their images is safe and bounded;
// validate_program checks them against the chip like any other symbol and image.
void read_declared(Reader& in, Program& program, uint32_t version) {
  const bool windows = version >= kWindowVersion;
  const bool values = version >= kValuesVersion;
  const bool checkpoints = version >= kFormatVersion;
  const size_t n = in.count(values ? 37 : windows ? 28 : 16);
  uint64_t total = 0;
  std::vector<bool> seen(program.symbols.size());
  for (size_t i = 0; i < n; ++i) {
    const size_t at = in.offset();
    DeclaredTensor d;
    d.symbol = in.u32();
    d.seed = in.u64();
    d.vector_bytes = in.u32();
    if (windows) {
      d.row_stride = in.u32();
      d.first_row = in.u32();
      d.row_count = in.u32();
    }
    uint8_t kind = 0;
    if (values) {
      kind = in.u8();
      const uint64_t divisor = in.u64();
      std::memcpy(&d.divisor, &divisor, sizeof divisor);
    }
    const uint8_t last_kind =
        static_cast<uint8_t>(checkpoints ? DeclaredValues::checkpoint_scale : DeclaredValues::jitter);
    if (kind <= last_kind && is_checkpoint(static_cast<DeclaredValues>(kind))) {
      d.offset = in.u64();
      d.checkpoint.file = in.string();
      d.checkpoint.tensor = in.string();
      const uint8_t transposed = in.u8();
      if (transposed > 1)
        in.fail(fmt::format("declared tensor at offset {} has transposed flag {} (0 or 1)", at, transposed));
      d.checkpoint.transposed = transposed == 1;
      d.checkpoint.rotary_head_dim = in.u32();
    }
    if (d.symbol >= program.symbols.size())
      in.fail(fmt::format("declared tensor at offset {} names symbol {}, but there are {} symbols", at,
                          d.symbol, program.symbols.size()));
    const Symbol& s = program.symbols[d.symbol];
    if (seen[d.symbol]) in.fail(fmt::format("symbol '{}' is declared twice", s.name));
    seen[d.symbol] = true;
    if (!windows) {
      const uint32_t symbol = d.symbol;
      d = random_declaration(s, d.seed, d.vector_bytes);
      d.symbol = symbol;
    }
    const unsigned bytes = isa::dtype_bytes(s.dtype);
    if (d.vector_bytes < 1 || d.vector_bytes > 512 || s.cols < 1 || s.cols > d.vector_bytes || s.rows < 1 ||
        s.slices.empty() || s.slices.size() % bytes != 0)
      in.fail(
          fmt::format("declared tensor '{}' at offset {} has no valid layout ({}x{} {} in {} slices, {}-byte "
                      "vectors)",
                      s.name, at, s.rows, s.cols, isa::dtype_name(s.dtype), s.slices.size(), d.vector_bytes));
    if (d.row_stride < s.cols)
      in.fail(fmt::format("declared tensor '{}' at offset {} has row stride {}, less than its {} columns",
                          s.name, at, d.row_stride, s.cols));
    if (d.row_count < 1 || uint64_t{d.first_row} + d.row_count > s.rows)
      in.fail(
          fmt::format("declared tensor '{}' at offset {} declares {} rows from row {}, outside its {} rows "
                      "(at least 1 row must be declared)",
                      s.name, at, d.row_count, d.first_row, s.rows));
    if (kind > last_kind)
      in.fail(fmt::format("declared tensor '{}' at offset {} has values kind {} ({})", s.name, at, kind,
                          checkpoints ? "0: raw, 1: jitter, 2: checkpoint, 3: checkpoint scale"
                                      : "0: raw, 1: jitter"));
    d.values = static_cast<DeclaredValues>(kind);
    if (is_checkpoint(d.values)) check_checkpoint(in, d, s, at);
    if (d.values == DeclaredValues::jitter && !isa::dtype_is_float(s.dtype))
      in.fail(
          fmt::format("declared tensor '{}' at offset {} is a jitter of {} elements (it takes fp16, bf16 or "
                      "fp32)",
                      s.name, at, isa::dtype_name(s.dtype)));
    if (d.values == DeclaredValues::jitter && !(std::isfinite(d.divisor) && d.divisor > 0))
      in.fail(fmt::format("declared tensor '{}' at offset {} has jitter divisor {} (it must be finite and "
                          "positive)",
                          s.name, at, d.divisor));
    total += uint64_t{d.row_count} * (s.cols + d.vector_bytes) * bytes;
    if (total > kMaxDeclaredBytes)
      in.fail(fmt::format("declared tensor '{}' at offset {} takes the declared bytes past {}", s.name, at,
                          kMaxDeclaredBytes));
    program.declared.push_back(d);
  }
}

} // namespace

const Symbol* Program::find_symbol(const std::string& name) const {
  for (const auto& s : symbols)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<uint8_t> serialize_program(const Program& program) {
  const uint32_t version = format_version(program);
  // The other sections' payloads first, so that the file is written into one buffer of its final
  // size and the images (megabytes for a KV cache) are copied once, into it.
  const auto metadata = binary::metadata_payload(program.metadata);
  const auto queues = queues_payload(program.queues);
  std::vector<std::pair<Section, std::vector<uint8_t>>> after;
  after.emplace_back(Section::symbols, symbols_payload(program.symbols));
  if (!program.declared.empty())
    after.emplace_back(Section::declared, declared_payload(program.declared, version));
  if (!program.regions.empty())
    after.emplace_back(Section::regions_compact, regions_payload(program.regions));
  if (has_slice_bases(program.symbols))
    after.emplace_back(Section::slice_bases, slice_bases_payload(program.symbols));
  size_t size = sizeof kMagic + 4 + 8 + 3 * Writer::kSectionHeader + metadata.size() + queues.size() +
                images_size(program.images);
  for (const auto& [id, payload] : after) size += Writer::kSectionHeader + payload.size();
  Writer out;
  out.reserve(size);
  out.raw(kMagic, sizeof kMagic);
  out.u32(version);
  out.u64(program.fingerprint);
  out.section(static_cast<uint32_t>(Section::metadata), metadata);
  out.section(static_cast<uint32_t>(Section::queues), queues);
  write_images_section(out, program.images);
  for (const auto& [id, payload] : after) out.section(static_cast<uint32_t>(id), payload);
  return std::move(out.bytes());
}

namespace binary {

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

void read_metadata(Reader& in, ProgramMetadata& m) {
  m.workload = in.string();
  m.generator = in.string();
  m.source = in.string();
  m.tokens_per_run = in.u64();
  m.chips = in.u32();
  m.predicted_cycles = in.u64();
}

// The magic is checked before anything else is read, then each section is fetched by its declared
// length once that length is known to fit the source.
Program read_program(ByteSource& source, const std::string& origin) {
  if (has_magic(source, kSystemMagic))
    throw InputError(
        fmt::format("{}: a system program, not a one-chip program (pass --system SYSTEM.json)", origin));
  const size_t magic_bytes = std::min(source.size(), sizeof kMagic);
  const uint8_t* magic = source.fetch(0, magic_bytes);
  if (!std::equal(magic, magic + magic_bytes, kMagic))
    throw InputError(fmt::format("{}: not a tspsim program (bad magic)", origin));
  Reader in(source, origin);
  in.window(sizeof kMagic + 12);
  in.take(sizeof kMagic);
  const uint32_t version = in.u32();
  if (version < kPlainVersion || version > kFormatVersion)
    throw InputError(
        fmt::format("{}: format version {} is not supported (this tspsim reads versions {} to {})", origin,
                    version, kPlainVersion, kFormatVersion));
  Program program;
  program.fingerprint = in.u64();

  for (Section section : kSectionOrder) {
    if (section == Section::declared && version == kPlainVersion) break;
    in.open_section(static_cast<uint32_t>(section), section_name(section));
    switch (section) {
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
    case Section::declared:
      read_declared(in, program, version);
      if (program.declared.empty())
        in.fail(fmt::format("no declared tensors in a version {} file (which must have some)", version));
      break;
    case Section::regions:
    case Section::slice_bases:
    case Section::regions_compact:
      break;
    }
    in.close_section();
  }
  for (const Section regions : {Section::regions, Section::regions_compact})
    if (program.regions.empty() && next_section_is(source, in.offset(), regions)) {
      in.open_section(static_cast<uint32_t>(regions), section_name(regions));
      read_regions(in, program.regions, regions == Section::regions_compact);
      in.close_section();
    }
  if (next_section_is(source, in.offset(), Section::slice_bases)) {
    in.open_section(static_cast<uint32_t>(Section::slice_bases), section_name(Section::slice_bases));
    read_slice_bases(in, program.symbols);
    in.close_section();
  }
  if (in.offset() != source.size())
    throw InputError(fmt::format("{}: {} trailing bytes after the last section at offset {}", origin,
                                 source.size() - in.offset(), in.offset()));
  return program;
}

} // namespace binary

Program deserialize_program(const std::vector<uint8_t>& bytes, const std::string& origin) {
  binary::MemorySource source(bytes.data(), bytes.size());
  return binary::read_program(source, origin);
}

void write_program(const Program& program, const std::filesystem::path& path) {
  const auto bytes = serialize_program(program);
  write_file_atomic(path, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

Program read_program(const std::filesystem::path& path) {
  binary::FileSource source(path);
  return binary::read_program(source, path.string());
}

} // namespace tsp
