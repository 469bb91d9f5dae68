// The system program container (docs/program-format.md, "System programs"): a header, the
// metadata and system sections, then each distinct per-chip program as a complete one-chip
// container in its own section, read one at a time.
#include "tspsim/program/system_program.h"

#include "binary_io.h"
#include "program_delta.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/program/assembler.h"

#include <algorithm>
#include <fmt/format.h>
#include <set>

namespace tsp {
namespace {

using binary::Reader;
using binary::Writer;

using binary::has_magic;
using binary::kProgramMagic;
constexpr const char (&kMagic)[8] = binary::kSystemMagic;
constexpr uint32_t kFormatVersion = 1;

// Derived programs are written compact (id 5); id 4, their first encoding, is still read.
enum class Section : uint32_t { metadata = 1, system = 2, program = 3, derived = 4, derived_compact = 5 };

// The smallest program section: a compact derived one (section header, base, size, edit count).
constexpr size_t kMinProgramSectionBytes = 12 + 4 + 1 + 1;

std::vector<uint8_t> system_payload(const SystemProgram& program, uint32_t program_count) {
  Writer w;
  w.string(program.system_name);
  w.u32(program.chips());
  w.u32(program_count);
  for (uint32_t index : program.chip_program) w.u32(index);
  return std::move(w.bytes());
}

constexpr uint32_t kNoUse = UINT32_MAX;

// Per program, the last program derived from it (kNoUse: none), from the section headers that
// start at `offset`. A reader then keeps only the bytes a later section needs: holding every
// recent program's bytes was a large part of a long system program's peak memory. Where the
// headers stop making sense, every program from there on counts as used to the end (the reading
// that follows reports the fault).
std::vector<uint32_t> last_base_uses(binary::ByteSource& source, size_t offset, uint32_t programs) {
  std::vector<uint32_t> last_use(programs, kNoUse);
  const auto u32_at = [&](size_t at) {
    const uint8_t* p = source.fetch(at, 4);
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  };
  uint32_t i = 0;
  for (; i < programs && source.size() - offset >= 16; ++i) {
    const uint32_t id = u32_at(offset);
    const uint64_t length = u32_at(offset + 4) | uint64_t{u32_at(offset + 8)} << 32;
    if (length > source.size() - offset - 12) break;
    if (id == static_cast<uint32_t>(Section::derived) ||
        id == static_cast<uint32_t>(Section::derived_compact)) {
      if (length < 4) break;
      const uint32_t base = u32_at(offset + 12);
      if (base < i) last_use[base] = i;
    }
    offset += 12 + length;
  }
  for (uint32_t k = i < programs ? 0 : programs; k < programs; ++k) last_use[k] = programs - 1;
  return last_use;
}

SystemProgram read_system(binary::ByteSource& source, const std::string& origin) {
  if (has_magic(source, kProgramMagic))
    throw InputError(fmt::format("{}: a one-chip program, not a system program", origin));
  const size_t magic_bytes = std::min(source.size(), sizeof kMagic);
  const uint8_t* magic = source.fetch(0, magic_bytes);
  if (!std::equal(magic, magic + magic_bytes, kMagic))
    throw InputError(fmt::format("{}: not a tspsim system program (bad magic)", origin));
  Reader in(source, origin);
  in.window(sizeof kMagic + 12);
  in.take(sizeof kMagic);
  const uint32_t version = in.u32();
  if (version != kFormatVersion)
    throw InputError(
        fmt::format("{}: system format version {} is not supported (this tspsim reads version {})", origin,
                    version, kFormatVersion));
  SystemProgram program;
  program.system_fingerprint = in.u64();

  in.open_section(static_cast<uint32_t>(Section::metadata), "metadata section");
  binary::read_metadata(in, program.metadata);
  in.close_section();

  in.open_section(static_cast<uint32_t>(Section::system), "system section");
  program.system_name = in.string();
  const size_t chips_at = in.offset();
  const uint32_t chips = in.u32();
  const size_t programs_at = in.offset();
  const uint32_t programs = in.u32();
  if (chips == 0) in.fail(fmt::format("0 chips at offset {}", chips_at));
  if (programs == 0) in.fail(fmt::format("0 programs at offset {}", programs_at));
  if (programs > (source.size() - in.offset()) / kMinProgramSectionBytes)
    in.fail(fmt::format("{} programs at offset {} do not fit in the {} bytes that follow", programs,
                        programs_at, source.size() - in.offset()));
  if (program.metadata.chips != chips)
    in.fail(fmt::format("metadata says {} chips, but {} chips are mapped", program.metadata.chips, chips));
  in.need(uint64_t{chips} * 4);
  program.chip_program.reserve(chips);
  std::vector<bool> used(programs);
  for (uint32_t chip = 0; chip < chips; ++chip) {
    const size_t at = in.offset();
    const uint32_t index = in.u32();
    if (index >= programs)
      in.fail(fmt::format("chip {} runs program {} at offset {}, but there are {} programs", chip, index, at,
                          programs));
    used[index] = true;
    program.chip_program.push_back(index);
  }
  if (const auto unused = std::find(used.begin(), used.end(), false); unused != used.end())
    in.fail(fmt::format("program {} is mapped to no chip", unused - used.begin()));
  in.close_section();

  // The bytes of the programs later ones derive from, kept until their last such use.
  const std::vector<uint32_t> last_use = last_base_uses(source, in.offset(), programs);
  std::vector<std::vector<uint8_t>> kept(programs);
  for (uint32_t i = 0; i < programs; ++i) {
    const uint32_t id =
        in.open_section({static_cast<uint32_t>(Section::program), static_cast<uint32_t>(Section::derived),
                         static_cast<uint32_t>(Section::derived_compact)},
                        "program section");
    const size_t start = in.offset();
    std::vector<uint8_t> bytes;
    const uint8_t* data = nullptr;
    size_t size = in.remaining();
    if (id == static_cast<uint32_t>(Section::program)) {
      if (last_use[i] != kNoUse) {
        bytes = in.bytes(size);
        data = bytes.data();
      } else {
        data = in.take(size);
      }
    } else {
      in.set_context("derived program section", start + in.remaining());
      const uint32_t base = in.u32();
      const uint32_t first = i > delta::kWindow ? i - delta::kWindow : 0;
      if (base < first || base >= i)
        in.fail(i == 0
                    ? fmt::format("program 0 at offset {} derives from program {}, but the first program "
                                  "is stored whole",
                                  start, base)
                    : fmt::format("program {} at offset {} derives from program {}, but only programs {} to "
                                  "{} can be its base",
                                  i, start, base, first, i - 1));
      bytes = delta::decode(in, kept[base],
                            id == static_cast<uint32_t>(Section::derived) ? delta::Encoding::fixed
                                                                          : delta::Encoding::compact);
      if (last_use[base] == i) kept[base] = {};
      data = bytes.data();
      size = bytes.size();
    }
    binary::MemorySource embedded(data, size);
    program.programs.push_back(
        binary::read_program(embedded, fmt::format("{}: program {} at offset {}", origin, i, start)));
    in.close_section();
    if (last_use[i] != kNoUse) kept[i] = std::move(bytes);
  }
  if (in.offset() != source.size())
    throw InputError(fmt::format("{}: {} trailing bytes after the last section at offset {}", origin,
                                 source.size() - in.offset(), in.offset()));
  return program;
}

std::string fingerprint_text(uint64_t fingerprint) { return fmt::format("0x{:016x}", fingerprint); }

} // namespace

std::vector<uint8_t> system_program_head(const SystemProgram& program, uint32_t program_count) {
  Writer out;
  out.raw(kMagic, sizeof kMagic);
  out.u32(kFormatVersion);
  out.u64(program.system_fingerprint);
  out.section(static_cast<uint32_t>(Section::metadata), binary::metadata_payload(program.metadata));
  out.section(static_cast<uint32_t>(Section::system), system_payload(program, program_count));
  return std::move(out.bytes());
}

struct SystemProgramSections::Recent {
  std::vector<uint8_t> bytes;
  delta::BlockIndex index;
};

SystemProgramSections::SystemProgramSections() = default;
SystemProgramSections::~SystemProgramSections() = default;

// The base is the recent program sharing the most aligned blocks (the latest of equals); the
// program is derived from it when its edits take at most half the program's bytes (programs that
// merely share a layout stay whole).
std::vector<uint8_t> SystemProgramSections::next(std::vector<uint8_t> program_bytes) {
  const Recent* base = nullptr;
  uint32_t base_number = 0;
  size_t best = 0;
  const delta::BlockSample sample(program_bytes);
  for (size_t r = 0; r < recent_.size(); ++r) {
    if (program_bytes.size() > delta::max_derived_size(recent_[r].bytes.size())) continue;
    const size_t shared = recent_[r].index.shared_blocks(sample);
    if (shared > 0 && shared >= best) {
      best = shared;
      base = &recent_[r];
      base_number = count_ - static_cast<uint32_t>(recent_.size() - r);
    }
  }
  Writer out;
  std::vector<uint8_t> edits;
  if (base) {
    Writer derived;
    derived.u32(base_number);
    const auto payload = delta::encode(base->bytes, base->index, program_bytes);
    derived.raw(payload.data(), payload.size());
    edits = std::move(derived.bytes());
  }
  if (base && 2 * edits.size() <= program_bytes.size())
    out.section(static_cast<uint32_t>(Section::derived_compact), edits);
  else
    out.section(static_cast<uint32_t>(Section::program), program_bytes);
  delta::BlockIndex index(program_bytes);
  recent_.push_back({std::move(program_bytes), std::move(index)});
  if (recent_.size() > delta::kWindow) recent_.erase(recent_.begin());
  ++count_;
  return std::move(out.bytes());
}

std::vector<uint8_t> serialize_system_program(const SystemProgram& program) {
  auto bytes = system_program_head(program, static_cast<uint32_t>(program.programs.size()));
  SystemProgramSections sections;
  for (const auto& p : program.programs) {
    const auto section = sections.next(serialize_program(p));
    bytes.insert(bytes.end(), section.begin(), section.end());
  }
  return bytes;
}

SystemProgram deserialize_system_program(const std::vector<uint8_t>& bytes, const std::string& origin) {
  binary::MemorySource source(bytes.data(), bytes.size());
  return read_system(source, origin);
}

void write_system_program(const SystemProgram& program, const std::filesystem::path& path) {
  const auto bytes = serialize_system_program(program);
  write_file_atomic(path, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

SystemProgram read_system_program(const std::filesystem::path& path) {
  binary::FileSource source(path);
  return read_system(source, path.string());
}

void validate_system_program(const SystemProgram& program, const SystemConfig& system,
                             const std::string& origin) {
  const uint64_t expected = system_fingerprint(system);
  // Same system but slower links: name the link rates rather than two system fingerprints.
  if (program.system_fingerprint != expected && program.chips() == system.chips())
    for (uint32_t chip = 0; chip < program.chips(); ++chip)
      if (const auto cycles =
              c2c_cycles_of_fingerprint(system.config_of(chip), program.program_of(chip).fingerprint))
        if (*cycles != c2c_vector_cycles(system.config_of(chip)))
          throw InputError(
              fmt::format("{} (chip {}): scheduled for C2C links of {} cycles per vector, but system "
                          "'{}' has links of {}",
                          origin, chip, *cycles, system.name, c2c_rate_text(system.config_of(chip))));
  if (program.system_fingerprint != expected)
    throw InputError(
        fmt::format("{}: built for system '{}' (fingerprint {}), not for system '{}' ({}, fingerprint {})",
                    origin, program.system_name, fingerprint_text(program.system_fingerprint), system.name,
                    system.source, fingerprint_text(expected)));
  if (program.chips() != system.chips())
    throw InputError(fmt::format("{}: has programs for {} chips, but system '{}' has {}", origin,
                                 program.chips(), system.name, system.chips()));
  std::set<std::pair<uint32_t, uint32_t>> checked;
  for (uint32_t chip = 0; chip < program.chips(); ++chip)
    if (checked.emplace(program.chip_program[chip], system.chip_config[chip]).second)
      validate_program(program.program_of(chip), system.config_of(chip),
                       fmt::format("{} (chip {})", origin, chip));
}

void require_one_chip_system(const SystemConfig& system, const std::string& origin) {
  if (system.chips() != 1)
    throw InputError(
        fmt::format("{}: a one-chip program cannot run on system '{}' ({} chips): give each chip its "
                    "program in .chip sections (docs/assembly.md) or use a system program container",
                    origin, system.name, system.chips()));
}

SystemProgram single_chip_system_program(Program program, const SystemConfig& system,
                                         const std::string& origin) {
  require_one_chip_system(system, origin);
  SystemProgram result;
  result.system_fingerprint = system_fingerprint(system);
  result.system_name = system.name;
  result.metadata = program.metadata;
  result.programs.push_back(std::move(program));
  result.chip_program = {0};
  return result;
}

SystemProgram load_system_program(const std::filesystem::path& path, const SystemConfig& system) {
  const std::string origin = path.string();
  SystemProgram program;
  if (path.extension() == ".tsp") {
    program = assemble_system_file(path, system);
  } else {
    binary::FileSource source(path);
    if (has_magic(source, kProgramMagic)) {
      require_one_chip_system(system, origin);
      program = single_chip_system_program(binary::read_program(source, origin), system, origin);
    } else {
      program = read_system(source, origin);
    }
  }
  validate_system_program(program, system, origin);
  return program;
}

} // namespace tsp
