// System programs (docs/program-format.md, "System programs"; docs/assembly.md, ".chip"): the
// container's layout and round trip, .chip sections, every damaged-container and wrong-system
// message, and reading files by their declared sizes (a multi-GB file fails without being read).
#include "tspsim/common/error.h"
#include "tspsim/common/temporary_directory.h"
#include "tspsim/config/system.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/disassembler.h"
#include "tspsim/program/system_program.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fstream>

using namespace tsp;

namespace {

const std::string kSystems = TSPSIM_SOURCE_DIR "/configs/systems";

SystemConfig system_of(const std::string& json) { return parse_system(json, "sys.json", kSystems); }

// Three tiny chips in a line: 0 -- 1 -- 2.
SystemConfig line3() {
  return system_of(R"({"name": "line3", "chips": [{"config": "../tiny.json", "count": 3}],
                       "cables": [[[0, 0], [1, 0]], [[1, 1], [2, 0]]]})");
}

SystemConfig one_tiny() { return system_of(R"({"name": "solo", "chips": [{"config": "../tiny.json"}]})"); }

const char* kLine3Program = R"(.workload "relay"
.tokens 3

.chip 0, 2
.tensor A i8 2x32 slices=MEM_E0 base=0 init=random(5)
.queue MEM_E0
    Read 0, E0
.queue SXM_E.0
    NOP 3
    Send 0, E0

.chip 1
.queue SXM_E.1
    NOP 300
    Receive 0, W0
)";

// In a directory of this test process, removed when it exits.
std::filesystem::path temp_path(const std::string& name) {
  static const TemporaryDirectory dir("tspsim-sysprog");
  return dir.path() / name;
}

void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | uint32_t(b[at + 3]) << 24;
}

void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Offset of the system section's payload in a serialized container.
size_t system_payload_at(const std::vector<uint8_t>& b) {
  const size_t metadata_length = u32_at(b, 24);
  return 20 + 12 + metadata_length + 12;
}

void require_error(const std::vector<uint8_t>& bytes, const std::string& message) {
  REQUIRE_THROWS_MATCHES(deserialize_system_program(bytes, "s.bin"), InputError, Catch::Message(message));
}

} // namespace

TEST_CASE(".chip sections: one program per distinct section, chips mapped as listed") {
  const auto system = line3();
  const auto program = assemble_system(kLine3Program, "relay.tsp", system);
  REQUIRE(program.system_fingerprint == system_fingerprint(system));
  REQUIRE(program.system_name == "line3");
  REQUIRE(program.programs.size() == 2);
  REQUIRE(program.chip_program == std::vector<uint32_t>{0, 1, 0});
  REQUIRE(program.metadata.workload == "relay");
  REQUIRE(program.metadata.tokens_per_run == 3);
  REQUIRE(program.metadata.chips == 3);
  // Each section is a one-chip program whose source lines are those of the whole file.
  const auto& sender = program.program_of(0);
  REQUIRE(sender.queues.size() == 2);
  REQUIRE(sender.queues[0].lines == std::vector<uint32_t>{7});
  REQUIRE(sender.queues[1].lines == std::vector<uint32_t>{9, 10});
  REQUIRE(sender.symbols.at(0).name == "A");
  REQUIRE(program.program_of(1).queues[0].lines == std::vector<uint32_t>{14, 15});
  validate_system_program(program, system, "relay.tsp");
}

TEST_CASE("identical sections are stored once; chips with different configs get their own program") {
  const auto same =
      assemble_system(".chip 0\n.queue MEM_W0\n NOP 1\n.chip 1-2\n.queue MEM_W0\n NOP 1\n", "s.tsp", line3());
  // Source lines differ (line 3 and line 6), so these two are distinct programs.
  REQUIRE(same.programs.size() == 2);
  const auto annotated = assemble_system(".chip 0\n.source \"x\"\n.queue MEM_W0\n NOP 1\n"
                                         ".chip 1-2\n.source \"x\"\n.queue MEM_W0\n NOP 1\n",
                                         "s.tsp", line3());
  REQUIRE(annotated.programs.size() == 1);
  REQUIRE(annotated.chip_program == std::vector<uint32_t>{0, 0, 0});

  const auto mixed = system_of(R"({"chips": [{"config": "../tiny.json"}, {"config": "../14nm.json"}]})");
  const auto program = assemble_system(".chip 0-1\n.queue MEM_W0\n NOP 1\n", "m.tsp", mixed);
  REQUIRE(program.programs.size() == 2);
  REQUIRE(program.chip_program == std::vector<uint32_t>{0, 1});
  REQUIRE(program.programs[0].fingerprint == geometry_fingerprint(mixed.config_of(0)));
  REQUIRE(program.programs[1].fingerprint == geometry_fingerprint(mixed.config_of(1)));
  validate_system_program(program, mixed, "m.tsp");
}

TEST_CASE("an empty section: the chip runs nothing") {
  const auto program = assemble_system(".workload \"idle\"\n.chip 0-2\n", "idle.tsp", line3());
  REQUIRE(program.programs.size() == 1);
  REQUIRE(program.programs[0].queues.empty());
  REQUIRE(program.programs[0].images.empty());
  validate_system_program(program, line3(), "idle.tsp");
}

TEST_CASE("tspdis text of a system program assembles back to the identical container") {
  const auto system = line3();
  const auto program = assemble_system(kLine3Program, "relay.tsp", system);
  const auto bytes = serialize_system_program(program);
  const std::string text = disassemble_system(program, system);
  REQUIRE(text.find("\n.chip 0, 2\n") != std::string::npos);
  REQUIRE(text.find("\n.chip 1\n") != std::string::npos);
  REQUIRE(serialize_system_program(assemble_system(text, "relay.dis.tsp", system)) == bytes);
  REQUIRE(serialize_system_program(deserialize_system_program(bytes, "s.bin")) == bytes);
}

TEST_CASE("the system container layout matches docs/program-format.md") {
  const auto program = assemble_system(kLine3Program, "relay.tsp", line3());
  const auto b = serialize_system_program(program);
  REQUIRE(std::string(b.begin(), b.begin() + 8) == "TSPSYS01");
  REQUIRE(u32_at(b, 8) == 1);
  REQUIRE((uint64_t{u32_at(b, 16)} << 32 | u32_at(b, 12)) == program.system_fingerprint);
  REQUIRE(u32_at(b, 20) == 1); // metadata section
  size_t at = system_payload_at(b);
  REQUIRE(u32_at(b, at - 12) == 2); // system section
  REQUIRE(u32_at(b, at) == 5);
  REQUIRE(std::string(b.begin() + at + 4, b.begin() + at + 9) == "line3");
  at += 9;
  REQUIRE(u32_at(b, at) == 3);     // chips
  REQUIRE(u32_at(b, at + 4) == 2); // programs
  REQUIRE(u32_at(b, at + 8) == 0);
  REQUIRE(u32_at(b, at + 12) == 1);
  REQUIRE(u32_at(b, at + 16) == 0);
  at += 20;
  for (const auto& p : program.programs) {
    const auto embedded = serialize_program(p);
    REQUIRE(u32_at(b, at) == 3);
    REQUIRE(u32_at(b, at + 4) == embedded.size());
    REQUIRE(std::vector<uint8_t>(b.begin() + at + 12, b.begin() + at + 12 + embedded.size()) == embedded);
    at += 12 + embedded.size();
  }
  REQUIRE(at == b.size());
}

TEST_CASE(".chip errors name the file, line and column") {
  const auto system = line3();
  const auto fails = [&](const std::string& text, const std::string& message) {
    REQUIRE_THROWS_MATCHES(assemble_system(text, "s.tsp", system), InputError, Catch::Message(message));
  };
  fails(".chip 0-3\n", "s.tsp:1:8: chip 3 is out of range (system 'line3' has 3 chips: 0..2)");
  fails(".chip 2-1\n", "s.tsp:1:8: empty chip range 2-1");
  fails(".chip\n", "s.tsp:1:6: expected a chip number or range (e.g. .chip 0-7, 9), got end of line");
  fails(".chip x\n", "s.tsp:1:7: expected a chip number or range (e.g. .chip 0-7, 9), got 'x'");
  fails(".chip 0 1\n", "s.tsp:1:9: expected ',' or end of line in a chip list, got '1'");
  fails(".chip 0-1\n.chip 1-2\n", "s.tsp:2:1: chip 1 is already in the .chip section on line 1");
  fails(".chip 0\n.chip 2\n", "s.tsp: system 'line3' chip 1 has no .chip section");
  fails(".chip 0\n", "s.tsp: system 'line3' chips 1-2 have no .chip section");
  fails(".queue MEM_W0\n NOP 1\n.chip 0-2\n", "s.tsp: the system header (before the first .chip) may hold "
                                              "only metadata directives (.workload, .source, "
                                              ".tokens, .chips, .predicted_cycles)");
  fails(".chips 2\n.chip 0-2\n", "s.tsp: .chips 2 in the system header, but system 'line3' has 3 chips");
  // Errors inside a section carry the line of the whole file.
  fails(".chip 0-2\n.queue MEM_W0\n NOP 0\n",
        "s.tsp:3: MEM_W0 instruction 0 (NOP): n = 0, must be at least 1");
  fails(".chip 0-2\n.queue MEM_W9\n", "s.tsp:2:8: unknown queue 'MEM_W9'");
  // A one-chip assembly does not take sections.
  REQUIRE_THROWS_MATCHES(
      assemble(".chip 0\n", "one.tsp", system.config_of(0)), InputError,
      Catch::Message("one.tsp:1:1: .chip starts a section of a system program (use --system SYSTEM.json)"));
}

TEST_CASE("damaged system containers: one line naming the file and the offset") {
  const auto program = assemble_system(kLine3Program, "relay.tsp", line3());
  const auto good = serialize_system_program(program);
  const size_t map = system_payload_at(good) + 9;

  require_error({'G', 'A', 'R', 'B', 'A', 'G', 'E', '!', 0, 0},
                "s.bin: not a tspsim system program (bad magic)");
  require_error(serialize_program(program.programs[0]), "s.bin: a one-chip program, not a system program");
  REQUIRE_THROWS_MATCHES(
      deserialize_program(good, "s.bin"), InputError,
      Catch::Message("s.bin: a system program, not a one-chip program (pass --system SYSTEM.json)"));
  auto bad = good;
  put_u32(bad, 8, 2);
  require_error(bad, "s.bin: system format version 2 is not supported (this tspsim reads version 1)");
  // Every truncated prefix is a clean error.
  for (size_t size = 0; size < good.size(); ++size)
    REQUIRE_THROWS_AS(deserialize_system_program({good.begin(), good.begin() + size}, "s.bin"), InputError);
  // A section longer than what is left of the file is truncated where its payload starts.
  require_error({good.begin(), good.begin() + map + 4},
                fmt::format("s.bin: truncated at offset {} (system section)", map - 9));
  bad = good;
  put_u32(bad, map + 8, 2);
  require_error(
      bad, fmt::format("s.bin: chip 0 runs program 2 at offset {}, but there are 2 programs (system section)",
                       map + 8));
  bad = good;
  put_u32(bad, map + 12, 0);
  require_error(bad, "s.bin: program 1 is mapped to no chip (system section)");
  bad = good;
  put_u32(bad, map, 0);
  require_error(bad, fmt::format("s.bin: 0 chips at offset {} (system section)", map));
  bad = good;
  put_u32(bad, map + 4, 4000000000u);
  require_error(bad,
                fmt::format("s.bin: 4000000000 programs at offset {} do not fit in the {} bytes that follow "
                            "(system section)",
                            map + 4, good.size() - map - 8));
  // The embedded programs are checked as one-chip containers, with offsets inside them.
  bad = good;
  bad[map + 20 + 12] = 'X';
  require_error(bad,
                fmt::format("s.bin: program 0 at offset {}: not a tspsim program (bad magic)", map + 32));
  bad = good;
  bad.push_back(0);
  require_error(bad, fmt::format("s.bin: 1 trailing bytes after the last section at offset {}", good.size()));
  // metadata.chips must agree with the chip map.
  auto other = program;
  other.metadata.chips = 2;
  require_error(serialize_system_program(other),
                "s.bin: metadata says 2 chips, but 3 chips are mapped (system section)");
}

TEST_CASE("a system program on another system names both; each chip's program is validated") {
  const auto system = line3();
  const auto program = assemble_system(kLine3Program, "relay.tsp", system);
  const auto ring = system_of(R"({"name": "ring3", "chips": [{"config": "../tiny.json", "count": 3}],
                                  "cables": [[[0, 0], [1, 0]], [[1, 1], [2, 0]], [[2, 1], [0, 1]]]})");
  REQUIRE_THROWS_MATCHES(
      validate_system_program(program, ring, "r.bin"), InputError,
      Catch::Message(
          fmt::format("r.bin: built for system 'line3' (fingerprint 0x{:016x}), not for system 'ring3' "
                      "(sys.json, fingerprint 0x{:016x})",
                      system_fingerprint(system), system_fingerprint(ring))));
  // A stored program that does not fit its chip: a Send on link 20 of a 16-link chip.
  auto broken = program;
  broken.programs[1].queues[0].words[1] = encode({isa::Opcode::send, {20, 0}});
  REQUIRE_THROWS_MATCHES(
      validate_system_program(broken, system, "b.bin"), InputError,
      Catch::Message("relay.tsp:15: SXM_E.1 instruction 1 (Send): link 20 out of range (the chip "
                     "has 16 links)"));
}

TEST_CASE("load_system_program: containers, sections, and one-chip programs on one-chip systems only") {
  const auto system = line3();
  const auto source = temp_path("relay.tsp");
  { std::ofstream(source) << kLine3Program; }
  const auto loaded = load_system_program(source, system);
  REQUIRE(loaded.chip_program == std::vector<uint32_t>{0, 1, 0});
  const auto container = temp_path("relay.bin");
  write_system_program(loaded, container);
  REQUIRE(serialize_system_program(load_system_program(container, system)) ==
          serialize_system_program(loaded));
  REQUIRE(serialize_system_program(read_system_program(container)) == serialize_system_program(loaded));

  const auto plain = temp_path("plain.tsp");
  { std::ofstream(plain) << ".queue MEM_W0\n NOP 1\n"; }
  REQUIRE_THROWS_MATCHES(
      load_system_program(plain, system), InputError,
      Catch::Message(plain.string() +
                     ": a one-chip program cannot run on system 'line3' (3 chips): give each chip "
                     "its program in .chip sections (docs/assembly.md) or use a system program "
                     "container"));
  const auto solo = one_tiny();
  const auto one = load_system_program(plain, solo);
  REQUIRE(one.chips() == 1);
  REQUIRE(one.system_name == "solo");
  REQUIRE(one.program_of(0).queues.size() == 1);
  const auto plain_bin = temp_path("plain.bin");
  write_program(one.program_of(0), plain_bin);
  REQUIRE(load_system_program(plain_bin, solo).program_of(0).queues[0].words ==
          one.program_of(0).queues[0].words);
  REQUIRE_THROWS_MATCHES(
      load_system_program(plain_bin, system), InputError,
      Catch::Message(plain_bin.string() +
                     ": a one-chip program cannot run on system 'line3' (3 chips): give each chip "
                     "its program in .chip sections (docs/assembly.md) or use a system program "
                     "container"));
}

TEST_CASE("a huge file fails on its header without being read (sparse 64 GiB files)") {
  constexpr uintmax_t kHuge = uintmax_t{64} << 30;
  const auto path = temp_path("huge.bin");
  SECTION("garbage: bad magic") {
    write_bytes(path, {'G', 'A', 'R', 'B', 'A', 'G', 'E', '!'});
    std::filesystem::resize_file(path, kHuge);
    REQUIRE_THROWS_MATCHES(read_program(path), InputError,
                           Catch::Message(path.string() + ": not a tspsim program (bad magic)"));
    REQUIRE_THROWS_MATCHES(read_system_program(path), InputError,
                           Catch::Message(path.string() + ": not a tspsim system program (bad magic)"));
  }
  SECTION("a valid header, then a section longer than the file") {
    auto head = serialize_program(Program{});
    head.resize(32);
    for (int i = 0; i < 8; ++i) head[24 + i] = 0xff; // metadata length 2^64 - 1
    write_bytes(path, head);
    std::filesystem::resize_file(path, kHuge);
    REQUIRE_THROWS_MATCHES(read_program(path), InputError,
                           Catch::Message(path.string() + ": truncated at offset 32 (metadata section)"));
  }
  SECTION("a valid header, then a section id that is wrong") {
    auto head = serialize_program(Program{});
    head.resize(32);
    head[20] = 9;
    write_bytes(path, head);
    std::filesystem::resize_file(path, kHuge);
    REQUIRE_THROWS_MATCHES(
        read_program(path), InputError,
        Catch::Message(path.string() + ": section id 9 at offset 20, expected 1 (metadata section)"));
  }
}

namespace {

// Chips 1 and 2 run chip 0's program with other start cycles and seeds, as the chips of
// consecutive pipeline stages do: stored whole once, then derived.
std::string stage_like_program() {
  std::string text = ".workload \"stages\"\n";
  for (unsigned chip = 0; chip < 3; ++chip) {
    text += fmt::format(".chip {}\n.tensor W i8 2x32 slices=MEM_E0 base=0 init=random({})\n", chip, 7 + chip);
    text += fmt::format(".queue MEM_E0\n    NOP {}\n", 10 + 1000 * chip);
    for (unsigned k = 0; k < 60; ++k) text += fmt::format("    Read {}, E0\n    NOP {}\n", k % 2, 3 + k % 5);
  }
  return text;
}

// The offsets of the program sections' headers of a serialized container.
std::vector<size_t> program_sections(const std::vector<uint8_t>& b) {
  size_t at = system_payload_at(b);
  at += u32_at(b, at - 8);
  std::vector<size_t> out;
  while (at < b.size()) {
    out.push_back(at);
    at += 12 + u32_at(b, at + 4);
  }
  return out;
}

} // namespace

TEST_CASE("derived programs: stored as edits of an earlier program, read back byte for byte") {
  const auto system = line3();
  const auto program = assemble_system(stage_like_program(), "stages.tsp", system);
  REQUIRE(program.programs.size() == 3);
  const auto bytes = serialize_system_program(program);
  const auto sections = program_sections(bytes);
  REQUIRE(sections.size() == 3);
  CHECK(u32_at(bytes, sections[0]) == 3);
  CHECK(u32_at(bytes, sections[1]) == 5);
  CHECK(u32_at(bytes, sections[2]) == 5);
  CHECK(u32_at(bytes, sections[1] + 12) == 0); // base program
  CHECK(u32_at(bytes, sections[2] + 12) == 1);
  size_t whole = 0;
  for (const auto& p : program.programs) whole += 12 + serialize_program(p).size();
  const size_t derived = bytes.size() - sections[0];
  INFO("whole " << whole << " bytes, with derived programs " << derived);
  CHECK(3 * derived < 2 * whole);
  const auto read = deserialize_system_program(bytes, "s.bin");
  REQUIRE(read.programs.size() == 3);
  for (size_t p = 0; p < 3; ++p)
    CHECK(serialize_program(read.programs[p]) == serialize_program(program.programs[p]));
  CHECK(serialize_system_program(read) == bytes);
  // tspdis text assembles back to the identical container.
  const std::string text = disassemble_system(program, system);
  CHECK(serialize_system_program(assemble_system(text, "stages.dis.tsp", system)) == bytes);
}

namespace {

// A derived section's payload as fields (docs/program-format.md, "Derived programs").
struct Edit {
  bool copy = true;
  uint64_t length = 0;
  int64_t offset = 0;         // a copy's first base byte
  std::vector<uint8_t> bytes; // a literal's
};
struct Derived {
  uint32_t base = 0;
  uint64_t size = 0;
  std::vector<Edit> edits;
};

uint64_t get_varint(const std::vector<uint8_t>& b, size_t& at) {
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    const uint8_t byte = b.at(at++);
    v |= uint64_t{byte & 0x7fu} << shift;
    if (byte < 0x80) return v;
  }
}

void put_varint(std::vector<uint8_t>& b, uint64_t v) {
  for (; v >= 0x80; v >>= 7) b.push_back(static_cast<uint8_t>(v | 0x80));
  b.push_back(static_cast<uint8_t>(v));
}

// The compact (id 5) payload of the section at `section`.
Derived parse_compact(const std::vector<uint8_t>& b, size_t section) {
  Derived d;
  size_t at = section + 12;
  d.base = u32_at(b, at);
  at += 4;
  d.size = get_varint(b, at);
  const uint64_t count = get_varint(b, at);
  int64_t base_end = 0;
  for (uint64_t e = 0; e < count; ++e) {
    Edit edit;
    const uint64_t head = get_varint(b, at);
    edit.copy = (head & 1) == 0;
    edit.length = head >> 1;
    if (edit.copy) {
      const uint64_t z = get_varint(b, at);
      edit.offset = base_end + ((z & 1) ? -int64_t((z >> 1) + 1) : int64_t(z >> 1));
      base_end = edit.offset + int64_t(edit.length);
    } else {
      edit.bytes.assign(b.begin() + at, b.begin() + at + edit.length);
      at += edit.length;
    }
    d.edits.push_back(edit);
  }
  return d;
}

std::vector<uint8_t> compact_payload(const Derived& d) {
  std::vector<uint8_t> p(4);
  put_u32(p, 0, d.base);
  put_varint(p, d.size);
  put_varint(p, d.edits.size());
  int64_t base_end = 0;
  for (const auto& e : d.edits) {
    put_varint(p, e.length << 1 | (e.copy ? 0 : 1));
    if (e.copy) {
      const int64_t distance = e.offset - base_end;
      put_varint(p, distance >= 0 ? uint64_t(distance) << 1 : (uint64_t(-distance) << 1) - 1);
      base_end = e.offset + int64_t(e.length);
    } else {
      p.insert(p.end(), e.bytes.begin(), e.bytes.end());
    }
  }
  return p;
}

// The first encoding (id 4): u64 size, u32 count, edits of u8 kind, u32 offset (copies), u32 length.
std::vector<uint8_t> fixed_payload(const Derived& d) {
  std::vector<uint8_t> p(16);
  put_u32(p, 0, d.base);
  put_u32(p, 4, static_cast<uint32_t>(d.size));
  put_u32(p, 12, static_cast<uint32_t>(d.edits.size()));
  for (const auto& e : d.edits) {
    p.push_back(e.copy ? 0 : 1);
    const size_t at = p.size();
    p.resize(at + (e.copy ? 8 : 4));
    if (e.copy) put_u32(p, at, static_cast<uint32_t>(e.offset));
    put_u32(p, e.copy ? at + 4 : at, static_cast<uint32_t>(e.length));
    p.insert(p.end(), e.bytes.begin(), e.bytes.end());
  }
  return p;
}

// `b` with the section at `section` replaced by one of `id` holding `payload`.
std::vector<uint8_t> with_section(const std::vector<uint8_t>& b, const std::vector<size_t>& sections,
                                  size_t index, uint32_t id, const std::vector<uint8_t>& payload) {
  const size_t at = sections[index];
  const size_t end = index + 1 < sections.size() ? sections[index + 1] : b.size();
  std::vector<uint8_t> out(b.begin(), b.begin() + at);
  out.resize(at + 12);
  put_u32(out, at, id);
  put_u32(out, at + 4, static_cast<uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), b.begin() + end, b.end());
  return out;
}

} // namespace

TEST_CASE("derived programs in the first encoding (section id 4) are still read") {
  const auto program = assemble_system(stage_like_program(), "stages.tsp", line3());
  const auto good = serialize_system_program(program);
  const auto sections = program_sections(good);
  const Derived d = parse_compact(good, sections[1]);
  REQUIRE(d.edits.size() > 2);
  auto bytes = with_section(good, sections, 1, 4, fixed_payload(d));
  const auto read = deserialize_system_program(bytes, "s.bin");
  REQUIRE(read.programs.size() == 3);
  for (size_t p = 0; p < 3; ++p)
    CHECK(serialize_program(read.programs[p]) == serialize_program(program.programs[p]));
  // Its errors are those of the compact encoding, and an edit kind of its own.
  const size_t first_edit = sections[1] + 12 + 16;
  REQUIRE(bytes[first_edit] == 0);
  bytes[first_edit] = 7;
  require_error(bytes,
                fmt::format("s.bin: edit 7 at offset {} is not 0 (copy) or 1 (literal) (derived program "
                            "section)",
                            first_edit));
  bytes = with_section(good, sections, 1, 4, fixed_payload(d));
  put_u32(bytes, first_edit + 1, 1u << 30);
  require_error(bytes,
                fmt::format("s.bin: copy at offset {} of base bytes {} to {} is outside the base's {} bytes "
                            "(derived program section)",
                            first_edit, 1u << 30, (1u << 30) + d.edits[0].length - 1,
                            serialize_program(program.programs[0]).size()));
}

TEST_CASE("damaged derived programs: one line naming the file and the offset") {
  const auto program = assemble_system(stage_like_program(), "stages.tsp", line3());
  const auto good = serialize_system_program(program);
  const auto sections = program_sections(good);
  const size_t second = sections[1] + 12, third = sections[2] + 12; // derived payloads
  const size_t base_bytes = serialize_program(program.programs[0]).size();
  const Derived d = parse_compact(good, sections[1]);
  REQUIRE(d.edits.size() > 2);
  REQUIRE(d.edits[0].copy); // the programs start alike
  CHECK(with_section(good, sections, 1, 5, compact_payload(d)) == good);
  auto bad = good;
  put_u32(bad, sections[1], 9);
  require_error(bad, fmt::format("s.bin: section id 9 at offset {}, expected 3 or 4 or 5 (program section)",
                                 sections[1]));
  bad = good;
  put_u32(bad, third, 2);
  require_error(bad,
                fmt::format("s.bin: program 2 at offset {} derives from program 2, but only programs 0 to 1 "
                            "can be its base (derived program section)",
                            third));
  bad = good;
  put_u32(bad, sections[0], 5);
  require_error(bad,
                fmt::format("s.bin: program 0 at offset {} derives from program {}, but the first program "
                            "is stored whole (derived program section)",
                            sections[0] + 12, u32_at(good, sections[0] + 12)));
  const auto damaged = [&](const Derived& edits) {
    return with_section(good, sections, 1, 5, compact_payload(edits));
  };
  // The offset of edit `e` in a section whose size field is `size`.
  const auto edit_at = [&](const Derived& edits, size_t e) {
    Derived head = edits;
    head.edits.resize(e);
    return second + compact_payload(head).size();
  };
  // The expanded size: at most twice the base's bytes plus the edits', and exactly what the edits make.
  Derived e = d;
  e.size = 4000000000u;
  bad = damaged(e);
  require_error(bad,
                fmt::format("s.bin: 4000000000 bytes at offset {} are more than twice its base's {} bytes "
                            "and its {} bytes of edits (derived program section)",
                            second + 4, base_bytes, compact_payload(e).size() - 4 - 5));
  e = d;
  e.size = d.size - 1;
  require_error(damaged(e), fmt::format("s.bin: edit at offset {} goes past the {} bytes the program has "
                                        "(derived program section)",
                                        edit_at(e, e.edits.size() - 1), d.size - 1));
  e = d;
  e.size = d.size + 1;
  require_error(damaged(e), fmt::format("s.bin: the edits make {} bytes, not the {} at offset {} (derived "
                                        "program section)",
                                        d.size, d.size + 1, second + 4));
  e = d;
  e.edits[0].length = 0;
  require_error(damaged(e),
                fmt::format("s.bin: empty copy at offset {} (derived program section)", edit_at(e, 0)));
  e = d;
  e.edits[1].length = 0;
  require_error(damaged(e), fmt::format("s.bin: empty {} at offset {} (derived program section)",
                                        e.edits[1].copy ? "copy" : "literal", edit_at(e, 1)));
  // Copies outside the base, after its end and before its start.
  e = d;
  e.edits[0].offset = 1 << 30;
  require_error(damaged(e),
                fmt::format("s.bin: copy at offset {} of base bytes {} to {} is outside the base's {} bytes "
                            "(derived program section)",
                            edit_at(e, 0), 1 << 30, (1 << 30) + d.edits[0].length - 1, base_bytes));
  e = d;
  e.edits[0].offset = -3;
  require_error(damaged(e),
                fmt::format("s.bin: copy at offset {} of base bytes -3 to {} is outside the base's {} bytes "
                            "(derived program section)",
                            edit_at(e, 0), d.edits[0].length - 4, base_bytes));
  // A number of more than 64 bits.
  bad = good;
  bad.insert(bad.begin() + second + 4, 10, 0xff);
  put_u32(bad, sections[1] + 4, u32_at(good, sections[1] + 4) + 10);
  require_error(bad, fmt::format("s.bin: number at offset {} has more than 64 bits (derived program section)",
                                 second + 4));
  // What the edits make is read as a one-chip container, with offsets inside it.
  e = d;
  e.edits[0].offset = 1;
  require_error(damaged(e),
                fmt::format("s.bin: program 1 at offset {}: not a tspsim program (bad magic)", second));
  // Every truncated prefix is a clean error.
  for (size_t cut = sections[1]; cut < good.size(); ++cut)
    REQUIRE_THROWS_AS(deserialize_system_program({good.begin(), good.begin() + cut}, "s.bin"), InputError);
}
