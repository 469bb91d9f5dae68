// The program container (docs/program-format.md) and validate_program: round trips, every kind of
// damaged file, and each operand, image and symbol rule with its exact message.
#include "tspsim/config/config.h"
#include "tspsim/common/error.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/program.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <random>

using namespace tsp;
using isa::Opcode;

namespace {

ChipConfig tiny(const std::vector<std::string>& overrides = {}) {
  return load_config(TSPSIM_SOURCE_DIR "/configs/tiny.json", overrides);
}

uint32_t queue(const ChipConfig& config, const char* name) {
  return *Floorplan(config.geometry, config.icu).find_queue(name);
}

uint64_t word(Opcode opcode, std::array<int64_t, isa::kMaxFields> operands = {}) {
  return encode({opcode, operands});
}

// A small valid program for the tiny chip (32-byte vectors, 256 words per slice).
Program sample(const ChipConfig& config) {
  Program p;
  p.fingerprint = geometry_fingerprint(config);
  p.metadata = {"sample workload", "test", "sample.tsp", 7, 1, 1234};
  p.queues.push_back(
      {queue(config, "MEM_W3"), {word(Opcode::nop, {2}), word(Opcode::read, {5, 0x41})}, {3, 4}});
  p.queues.push_back({queue(config, "VXM.1"), {word(Opcode::v_add, {1, 0x42, 0, 2})}, {}});
  p.images.push_back({4, 10, std::vector<uint8_t>(64, 0xab)});
  p.symbols.push_back({"A", isa::DType::i16, 3, 5, 10, {4, 5}, {}});
  return p;
}

// A program with one queue holding `words`, validated against `config`.
void validate_one(const ChipConfig& config, const char* queue_name, std::vector<uint64_t> words,
                  std::vector<uint32_t> lines = {}) {
  Program p;
  p.fingerprint = geometry_fingerprint(config);
  p.queues.push_back({queue(config, queue_name), std::move(words), std::move(lines)});
  validate_program(p, config, "p.bin");
}

void check_same(const Program& a, const Program& b) {
  CHECK(a.fingerprint == b.fingerprint);
  CHECK(a.metadata.workload == b.metadata.workload);
  CHECK(a.metadata.generator == b.metadata.generator);
  CHECK(a.metadata.source == b.metadata.source);
  CHECK(a.metadata.tokens_per_run == b.metadata.tokens_per_run);
  CHECK(a.metadata.chips == b.metadata.chips);
  CHECK(a.metadata.predicted_cycles == b.metadata.predicted_cycles);
  REQUIRE(a.queues.size() == b.queues.size());
  for (size_t i = 0; i < a.queues.size(); ++i) {
    CHECK(a.queues[i].queue == b.queues[i].queue);
    CHECK(a.queues[i].words == b.queues[i].words);
    CHECK(a.queues[i].lines == b.queues[i].lines);
  }
  REQUIRE(a.images.size() == b.images.size());
  for (size_t i = 0; i < a.images.size(); ++i) {
    CHECK(a.images[i].mem == b.images[i].mem);
    CHECK(a.images[i].address == b.images[i].address);
    CHECK(a.images[i].bytes == b.images[i].bytes);
  }
  REQUIRE(a.symbols.size() == b.symbols.size());
  for (size_t i = 0; i < a.symbols.size(); ++i) {
    CHECK(a.symbols[i].name == b.symbols[i].name);
    CHECK(a.symbols[i].dtype == b.symbols[i].dtype);
    CHECK(a.symbols[i].rows == b.symbols[i].rows);
    CHECK(a.symbols[i].cols == b.symbols[i].cols);
    CHECK(a.symbols[i].base == b.symbols[i].base);
    CHECK(a.symbols[i].slices == b.symbols[i].slices);
    CHECK(a.symbols[i].bases == b.symbols[i].bases);
  }
}

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | uint32_t(b[at + 3]) << 24;
}

} // namespace

TEST_CASE("serialize/deserialize round trip keeps every field") {
  const auto config = tiny();
  const Program p = sample(config);
  validate_program(p, config);
  const auto bytes = serialize_program(p);
  // Written into one buffer of its final size: the images are copied once.
  CHECK(bytes.capacity() == bytes.size());
  check_same(p, deserialize_program(bytes, "x.bin"));
  CHECK(serialize_program(deserialize_program(bytes, "x.bin")) == bytes);
  CHECK(deserialize_program(bytes, "x.bin").find_symbol("A")->rows == 3);
  CHECK(deserialize_program(bytes, "x.bin").find_symbol("B") == nullptr);
}

// A symbol whose slices have bases of their own (a staggered tensor) is stored in the optional
// slice base section, after the others; a program without one has no such section.
TEST_CASE("slice bases round trip in their own section, which only programs with them have") {
  const auto config = tiny();
  const Program plain = sample(config);
  Program p = plain;
  p.symbols.push_back({"S", isa::DType::i8, 4, 5, 20, {6, 7}, {20, 31}});
  validate_program(p, config);
  const auto bytes = serialize_program(p);
  const Program back = deserialize_program(bytes, "x.bin");
  check_same(p, back);
  CHECK(back.symbols[0].bases.empty());
  // Section header (id, length: 12 bytes), one entry (4), symbol index 1 (4), two bases (8).
  Program without = plain;
  without.symbols.push_back({"S", isa::DType::i8, 4, 5, 20, {6, 7}, {}});
  const auto plain_bytes = serialize_program(without);
  // The same bytes as without the bases, then the section.
  CHECK(bytes.size() == plain_bytes.size() + 12 + 4 + 4 + 8);
  CHECK(bytes.capacity() == bytes.size());
  CHECK(std::equal(plain_bytes.begin(), plain_bytes.end(), bytes.begin()));
  CHECK(u32_at(bytes, plain_bytes.size()) == 7);
  CHECK(u32_at(bytes, bytes.size() - 12) == 1);
  CHECK(u32_at(bytes, bytes.size() - 4) == 31);
  auto bad = bytes;
  bad[bytes.size() - 12] = 9;
  CHECK_THROWS_WITH(deserialize_program(bad, "s.bin"),
                    fmt::format("s.bin: slice bases at offset {} name symbol 9, but there are 2 symbols "
                                "(slice base section)",
                                bytes.size() - 12));
}

TEST_CASE("the file layout matches docs/program-format.md") {
  Program p;
  p.fingerprint = 0x0102030405060708;
  p.metadata.source = "s";
  const auto b = serialize_program(p);
  CHECK(std::string(b.begin(), b.begin() + 8) == "TSPPROG1");
  CHECK(u32_at(b, 8) == 1);
  CHECK(u32_at(b, 12) == 0x05060708);
  CHECK(u32_at(b, 16) == 0x01020304);
  // Metadata: id 1, u64 length, three strings (0, 0, 1 byte), u64 tokens, u32 chips, u64 cycles.
  CHECK(u32_at(b, 20) == 1);
  CHECK(u32_at(b, 24) == 4 + 4 + 5 + 8 + 4 + 8);
  CHECK(u32_at(b, 32 + 8) == 1);
  CHECK(b[32 + 12] == 's');
  CHECK(u32_at(b, 32 + 21) == 1); // chips
  // Then the queue, image and symbol sections, each holding a zero count.
  size_t at = 32 + 33;
  for (uint32_t id = 2; id <= 4; ++id) {
    CHECK(u32_at(b, at) == id);
    CHECK(u32_at(b, at + 4) == 4);
    CHECK(u32_at(b, at + 12) == 0);
    at += 16;
  }
  CHECK(b.size() == at);
}

TEST_CASE("source lines are stored only when one is known") {
  const auto config = tiny();
  Program p = sample(config);
  p.queues[0].lines = {0, 0};
  const Program back = deserialize_program(serialize_program(p), "x.bin");
  CHECK(back.queues[0].lines.empty());
  p.queues[0].lines = {0, 9};
  CHECK(deserialize_program(serialize_program(p), "x.bin").queues[0].lines == std::vector<uint32_t>{0, 9});
}

TEST_CASE("every truncated prefix of a valid file is a clean input error") {
  const auto bytes = serialize_program(sample(tiny()));
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + n);
    CHECK_THROWS_AS(deserialize_program(prefix, "x.bin"), InputError);
  }
  CHECK_THROWS_WITH(deserialize_program({}, "x.bin"), "x.bin: truncated at offset 0 (header)");
  CHECK_THROWS_WITH(deserialize_program({'T', 'S', 'P'}, "x.bin"), "x.bin: truncated at offset 0 (header)");
  // Cut inside the metadata payload: its section header says more bytes follow than remain.
  CHECK_THROWS_WITH(deserialize_program({bytes.begin(), bytes.begin() + 40}, "x.bin"),
                    "x.bin: truncated at offset 32 (metadata section)");
}

TEST_CASE("bad magic, unsupported version and trailing bytes") {
  auto bytes = serialize_program(sample(tiny()));
  auto bad = bytes;
  bad[0] = 'X';
  CHECK_THROWS_WITH(deserialize_program(bad, "prog.bin"), "prog.bin: not a tspsim program (bad magic)");
  CHECK_THROWS_WITH(deserialize_program({'E', 'L', 'F'}, "prog.bin"),
                    "prog.bin: not a tspsim program (bad magic)");
  bad = bytes;
  bad[8] = 7;
  CHECK_THROWS_WITH(deserialize_program(bad, "prog.bin"),
                    "prog.bin: format version 7 is not supported (this tspsim reads versions 1 to 5)");
  bad = bytes;
  bad.insert(bad.end(), {1, 2, 3});
  CHECK_THROWS_WITH(
      deserialize_program(bad, "prog.bin"),
      fmt::format("prog.bin: 3 trailing bytes after the last section at offset {}", bytes.size()));
}

TEST_CASE("hostile counts and lengths are rejected before allocating") {
  const auto bytes = serialize_program(sample(tiny()));
  // The queue section starts after the 20-byte header and the metadata section.
  const size_t queues = 20 + 12 + u32_at(bytes, 24);
  REQUIRE(u32_at(bytes, queues) == 2);
  auto bad = bytes;
  for (int i = 0; i < 4; ++i) bad[queues + 12 + i] = 0xff; // queue count 2^32 - 1
  CHECK_THROWS_WITH(
      deserialize_program(bad, "x.bin"),
      fmt::format("x.bin: item at offset {} runs past the section end at offset {} (queue section)",
                  queues + 12, queues + 12 + u32_at(bytes, queues + 4)));
  bad = bytes;
  for (int i = 4; i < 12; ++i) bad[queues + i] = 0xff; // section length 2^64 - 1
  CHECK_THROWS_WITH(deserialize_program(bad, "x.bin"),
                    fmt::format("x.bin: truncated at offset {} (queue section)", queues + 12));
  bad = bytes;
  for (int i = 0; i < 4; ++i) bad[queues + 20 + i] = 0xff; // first queue's word count
  CHECK_THROWS_AS(deserialize_program(bad, "x.bin"), InputError);
  bad = bytes;
  bad[queues] = 3; // the image section where the queue section belongs
  CHECK_THROWS_WITH(deserialize_program(bad, "x.bin"),
                    fmt::format("x.bin: section id 3 at offset {}, expected 2 (queue section)", queues));
}

TEST_CASE("random corruption never crashes: every damaged file is accepted or an input error") {
  const auto bytes = serialize_program(sample(tiny()));
  std::mt19937 rng(7);
  for (int k = 0; k < 20000; ++k) {
    auto bad = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[8 + rng() % (bad.size() - 8)] = static_cast<uint8_t>(rng());
    try {
      deserialize_program(bad, "x.bin");
    } catch (const InputError&) {
    }
  }
  for (int k = 0; k < 2000; ++k) {
    std::vector<uint8_t> garbage(rng() % 200);
    for (auto& b : garbage) b = static_cast<uint8_t>(rng());
    if (k % 2)
      std::copy(bytes.begin(), bytes.begin() + std::min<size_t>(12, garbage.size()), garbage.begin());
    CHECK_THROWS_AS(deserialize_program(garbage, "x.bin"), InputError);
  }
}

TEST_CASE("read_program names a missing file; write_program leaves no temporary file") {
  CHECK_THROWS_WITH(read_program("/nonexistent/p.bin"),
                    "cannot read '/nonexistent/p.bin': No such file or directory");
  const std::string path = TSPSIM_BINARY_DIR "/test_program_write.bin";
  const Program p = sample(tiny());
  write_program(p, path);
  check_same(p, read_program(path));
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  CHECK_THROWS_WITH(write_program(p, "/nonexistent/p.bin"),
                    "cannot write '/nonexistent/p.bin': No such file or directory");
}

TEST_CASE("validate_program: fingerprint and metadata") {
  const auto config = tiny();
  Program p = sample(config);
  const uint64_t good = p.fingerprint;
  p.fingerprint = 0x1234;
  CHECK_THROWS_WITH(
      validate_program(p, config, "prog.bin"),
      fmt::format("prog.bin: built for another chip geometry (program fingerprint 0x0000000000001234, "
                  "config fingerprint 0x{:016x})",
                  good));
  p = sample(config);
  CHECK_THROWS_WITH(validate_program(p, tiny({"geometry.mem_words_per_slice=128"}), "prog.bin"),
                    Catch::StartsWith("prog.bin: built for another chip geometry"));
  p.metadata.chips = 0;
  CHECK_THROWS_WITH(validate_program(p, config, "prog.bin"),
                    "prog.bin: metadata: chips = 0, must be at least 1");
  // Without an origin the messages name the program's source.
  p = sample(config);
  p.fingerprint = 0;
  CHECK_THROWS_WITH(validate_program(p, config), Catch::StartsWith("sample.tsp: built for another"));
}

TEST_CASE("validate_program: queues") {
  const auto config = tiny();
  Program p = sample(config);
  p.queues[1].queue = 18; // the tiny chip has 18 queues
  CHECK_THROWS_WITH(validate_program(p, config, "p.bin"),
                    "p.bin: queue 18 does not exist (the chip has 18 queues)");
  p.queues[1].queue = p.queues[0].queue;
  CHECK_THROWS_WITH(validate_program(p, config, "p.bin"), "p.bin: queue MEM_W3 appears twice");
  p = sample(config);
  p.queues[0].lines = {1};
  CHECK_THROWS_WITH(validate_program(p, config, "p.bin"),
                    "p.bin: queue MEM_W3 has 1 source lines for 2 instructions");
  CHECK_THROWS_WITH(
      validate_one(config, "MEM_W0", std::vector<uint64_t>(257, word(Opcode::nop, {1}))),
      "p.bin: queue MEM_W0 has 257 instructions; its buffer holds 256 (fetch the rest with Ifetch)");
  CHECK_NOTHROW(validate_one(config, "MEM_W0", std::vector<uint64_t>(256, word(Opcode::nop, {1}))));
}

TEST_CASE("validate_program: decoding and issuing units, with source lines") {
  const auto config = tiny();
  CHECK_THROWS_WITH(validate_one(config, "MEM_W3", {word(Opcode::nop, {1}), 0x7f}),
                    "p.bin: MEM_W3 instruction 1: unknown opcode 0x7f");
  CHECK_THROWS_WITH(validate_one(config, "MEM_W3", {word(Opcode::v_add, {0, 0, 0, 0})}),
                    "p.bin: MEM_W3 instruction 0 (add): a VXM instruction cannot be issued by a MEM queue");
  CHECK_THROWS_WITH(validate_one(config, "VXM.0", {word(Opcode::read, {0, 0})}),
                    "p.bin: VXM.0 instruction 0 (Read): a MEM instruction cannot be issued by a VXM queue");
  CHECK_THROWS_WITH(
      validate_one(config, "MXM_E0.1", {word(Opcode::shift, {0, 0, 0, 1})}),
      "p.bin: MXM_E0.1 instruction 0 (Shift): a SXM instruction cannot be issued by a MXM queue");
  CHECK_THROWS_WITH(validate_one(config, "MEM_E0", {word(Opcode::send, {0, 0})}),
                    "p.bin: MEM_E0 instruction 0 (Send): a C2C instruction cannot be issued by a MEM queue");
  CHECK_NOTHROW(
      validate_one(config, "SXM_E.1", {word(Opcode::send, {3, 0x45}), word(Opcode::receive, {3, 1})}));
  CHECK_NOTHROW(
      validate_one(config, "MXM_W0.0", {word(Opcode::sync), word(Opcode::notify), word(Opcode::nop, {4})}));

  Program p;
  p.fingerprint = geometry_fingerprint(config);
  p.metadata.source = "prog.tsp";
  p.queues.push_back(
      {queue(config, "MEM_W3"), {word(Opcode::nop, {1}), word(Opcode::read, {300, 0})}, {11, 12}});
  CHECK_THROWS_WITH(
      validate_program(p, config, "prog.bin"),
      "prog.tsp:12: MEM_W3 instruction 1 (Read): address 300 out of range (slice has 256 words)");
  p.queues[0].lines = {11, 0};
  CHECK_THROWS_WITH(validate_program(p, config, "prog.bin"),
                    "prog.bin: MEM_W3 instruction 1 (Read): address 300 out of range (slice has 256 words)");
}

TEST_CASE("validate_program: streams, dtypes, addresses, slices and links") {
  const auto config = tiny(); // 16 streams per direction
  const auto fail = [&](const char* q, uint64_t w) {
    try {
      validate_one(config, q, {w});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(fail("MEM_W0", word(Opcode::read, {0, 16})) ==
        "p.bin: MEM_W0 instruction 0 (Read): dst stream E16 out of range (E0..E15)");
  CHECK(fail("MEM_W0", word(Opcode::read, {0, 0x50})) ==
        "p.bin: MEM_W0 instruction 0 (Read): dst stream W16 out of range (W0..W15)");
  CHECK(fail("VXM.0", word(Opcode::v_add, {1, 0x41, 0, 0})) ==
        "p.bin: VXM.0 instruction 0 (add): dst stream W1 is not aligned to its group of 2 streams");
  CHECK(fail("VXM.0", word(Opcode::v_cvt, {5, 1, 4, 2})) == "accepted"); // cvt.f32.i16 E4, E2
  CHECK(fail("VXM.0", word(Opcode::v_cvt, {5, 1, 4, 3})) ==
        "p.bin: VXM.0 instruction 0 (cvt): src stream E3 is not aligned to its group of 2 streams");
  CHECK(fail("VXM.0", word(Opcode::v_cvt, {5, 1, 2, 2})) ==
        "p.bin: VXM.0 instruction 0 (cvt): dst stream E2 is not aligned to its group of 4 streams");
  CHECK(fail("MXM_W0.0", word(Opcode::acc, {0x46, 0})) ==
        "p.bin: MXM_W0.0 instruction 0 (ACC): dst stream W6 is not aligned to its group of 4 streams");
  CHECK(fail("MXM_W0.0", word(Opcode::lw, {0, 8})) ==
        "p.bin: MXM_W0.0 instruction 0 (LW): src stream E8 is not aligned to its group of 16 streams");
  CHECK(fail("VXM.0", word(Opcode::v_add, {9, 0, 0, 0})) ==
        "p.bin: VXM.0 instruction 0 (add): dtype field value 9 is not a type");
  CHECK(fail("MEM_W0", word(Opcode::write, {256, 0})) ==
        "p.bin: MEM_W0 instruction 0 (Write): address 256 out of range (slice has 256 words)");
  CHECK(fail("MEM_W0", word(Opcode::gather, {0, 0, 999})) ==
        "p.bin: MEM_W0 instruction 0 (Gather): base address 999 out of range (slice has 256 words)");
  CHECK(fail("MEM_W0", word(Opcode::ifetch, {0x04, 0, 1})) ==
        "p.bin: MEM_W0 instruction 0 (Ifetch): slice field 0x04 is not a MEM slice (MEM_W0..MEM_W3 or "
        "MEM_E0..MEM_E3)");
  CHECK(fail("MEM_W0", word(Opcode::ifetch, {0x83, 250, 10})) ==
        "p.bin: MEM_W0 instruction 0 (Ifetch): address 250 + count 10 runs past the slice end (slice has 256 "
        "words)");
  CHECK(fail("MEM_W0", word(Opcode::ifetch, {0x83, 250, 0})) ==
        "p.bin: MEM_W0 instruction 0 (Ifetch): count = 0, must be at least 1");
  CHECK(fail("MEM_W0", word(Opcode::ifetch, {0x83, 246, 10})) == "accepted");
  CHECK(fail("SXM_W.0", word(Opcode::send, {16, 0})) ==
        "p.bin: SXM_W.0 instruction 0 (Send): link 16 out of range (the chip has 16 links)");
}

TEST_CASE("validate_program: per-opcode limits") {
  const auto config = tiny(); // 2 superlanes, 64 accumulators
  const auto fail = [&](const char* q, std::vector<uint64_t> w) {
    try {
      validate_one(config, q, std::move(w));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const uint64_t read250 = word(Opcode::read, {250, 0});
  CHECK(fail("MEM_W0", {word(Opcode::nop, {0})}) ==
        "p.bin: MEM_W0 instruction 0 (NOP): n = 0, must be at least 1");
  CHECK(fail("MEM_W0", {word(Opcode::repeat, {1, 1, 0})}) ==
        "p.bin: MEM_W0 instruction 0 (Repeat): Repeat has no previous instruction to repeat");
  CHECK(fail("MEM_W0", {word(Opcode::nop, {1}), word(Opcode::repeat, {1, 1, 0})}) ==
        "p.bin: MEM_W0 instruction 1 (Repeat): Repeat must follow a non-ICU instruction, not NOP");
  CHECK(fail("MEM_W0", {read250, word(Opcode::repeat, {1, 0, 0})}) ==
        "p.bin: MEM_W0 instruction 1 (Repeat): d = 0, must be at least 1");
  CHECK(fail("MEM_W0", {read250, word(Opcode::repeat, {0, 1, 0})}) ==
        "p.bin: MEM_W0 instruction 1 (Repeat): n = 0, must be at least 1");
  CHECK(fail("MEM_W0", {read250, word(Opcode::repeat, {5, 1, 1})}) == "accepted");
  CHECK(fail("MEM_W0", {read250, word(Opcode::repeat, {6, 1, 1})}) ==
        "p.bin: MEM_W0 instruction 1 (Repeat): repeating Read 6 times with stride 1 reaches address 256 "
        "(slice has 256 words)");
  CHECK(fail("MEM_W0", {word(Opcode::read, {3, 0}), word(Opcode::repeat, {2, 1, -2})}) ==
        "p.bin: MEM_W0 instruction 1 (Repeat): repeating Read 2 times with stride -2 reaches address -1 "
        "(slice has 256 words)");
  CHECK(fail("MXM_W0.1", {word(Opcode::abc, {0, 0, 60, 1}), word(Opcode::repeat, {4, 1, 1})}) ==
        "p.bin: MXM_W0.1 instruction 1 (Repeat): repeating ABC 4 times with stride 1 reaches acc 64 (the "
        "plane has 64 accumulators)");
  CHECK(fail("VXM.1", {word(Opcode::config, {0})}) ==
        "p.bin: VXM.1 instruction 0 (Config): vl 0 out of range (1..2 superlanes)");
  CHECK(fail("VXM.1", {word(Opcode::config, {3})}) ==
        "p.bin: VXM.1 instruction 0 (Config): vl 3 out of range (1..2 superlanes)");
  CHECK(fail("VXM.1", {word(Opcode::config, {2})}) == "accepted");
  CHECK(fail("SXM_E.0", {word(Opcode::select, {0, 0, 0, 0, 4})}) ==
        "p.bin: SXM_E.0 instruction 0 (Select): mask 0x4 has bits above the 2 superlanes");
  CHECK(fail("SXM_E.0", {word(Opcode::select, {0, 0, 0, 0, 3})}) == "accepted");
  CHECK(fail("MXM_E0.0", {word(Opcode::abc, {0, 0, 64, 0})}) ==
        "p.bin: MXM_E0.0 instruction 0 (ABC): acc 64 out of range (the plane has 64 accumulators)");
  CHECK(fail("MXM_E0.0", {word(Opcode::acc, {0, 64})}) ==
        "p.bin: MXM_E0.0 instruction 0 (ACC): acc 64 out of range (the plane has 64 accumulators)");
  CHECK(fail("MXM_E0.0", {word(Opcode::lw, {2, 0})}) ==
        "p.bin: MXM_E0.0 instruction 0 (LW): LW takes i8, f16 or bf16, not i32");
  CHECK(fail("MXM_E0.0", {word(Opcode::abc, {5, 0, 0, 0})}) ==
        "p.bin: MXM_E0.0 instruction 0 (ABC): ABC takes i8, f16 or bf16, not f32");
  CHECK(fail("MXM_E0.0", {word(Opcode::lw, {4, 0}), word(Opcode::abc, {3, 0, 63, 1})}) == "accepted");
  CHECK(fail("VXM.0", {word(Opcode::v_tanh, {0, 0, 0})}) ==
        "p.bin: VXM.0 instruction 0 (tanh): tanh takes a float type, not i8");
  CHECK(fail("VXM.0", {word(Opcode::v_rsqrt, {1, 0, 0})}) ==
        "p.bin: VXM.0 instruction 0 (rsqrt): rsqrt takes a float type, not i16");
  CHECK(fail("VXM.0", {word(Opcode::v_exp, {4, 0, 0})}) == "accepted");
}

TEST_CASE("validate_program: images") {
  const auto config = tiny(); // 8 MEM slices, 32-byte vectors, 256 words
  const auto fail = [&](std::vector<MemImage> images) {
    Program p;
    p.fingerprint = geometry_fingerprint(config);
    p.images = std::move(images);
    try {
      validate_program(p, config, "p.bin");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::vector<uint8_t> two(64, 1);
  CHECK(fail({{8, 0, two}}) ==
        "p.bin: image 0 (MEM slice 8 address 0): MEM slice 8 does not exist (the chip has 8)");
  CHECK(fail({{0, 0, std::vector<uint8_t>(33)}}) ==
        "p.bin: image 0 (MEM_W0 address 0): 33 bytes is not a whole number of 32-byte vectors");
  CHECK(fail({{0, 0, {}}}) ==
        "p.bin: image 0 (MEM_W0 address 0): 0 bytes is not a whole number of 32-byte vectors");
  CHECK(fail({{5, 255, two}}) == "p.bin: image 0 (MEM_E1 address 255): 2 vectors from address 255 run past "
                                 "the slice end (slice has 256 words)");
  CHECK(fail({{5, 254, two}, {5, 0, two}, {4, 255, two}}) ==
        "p.bin: image 2 (MEM_E0 address 255): 2 vectors from address 255 "
        "run past the slice end (slice has 256 words)");
  CHECK(fail({{5, 10, two}, {4, 11, two}, {5, 11, two}}) ==
        "p.bin: images 0 and 2 both initialise MEM_E1 address 11");
  CHECK(fail({{5, 10, two}, {5, 12, two}, {5, 8, two}}) == "accepted");
}

TEST_CASE("validate_program: symbols") {
  const auto config = tiny();
  const auto fail = [&](Symbol s, bool twice = false) {
    Program p;
    p.fingerprint = geometry_fingerprint(config);
    p.symbols.push_back(s);
    if (twice) p.symbols.push_back(s);
    try {
      validate_program(p, config, "p.bin");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  using D = isa::DType;
  CHECK(fail({"A", D::i16, 4, 32, 0, {0, 1, 2, 3}, {}}) == "accepted");
  CHECK(fail({"A", D::i16, 4, 32, 0, {0, 1, 2}, {}}) ==
        "p.bin: symbol 'A': 3 slices is not a whole number of 2-slice groups for i16");
  CHECK(fail({"A", D::i8, 4, 32, 0, {}, {}}) ==
        "p.bin: symbol 'A': 0 slices is not a whole number of 1-slice groups for i8");
  CHECK(fail({"A", D::i8, 4, 32, 0, {8}, {}}) ==
        "p.bin: symbol 'A': MEM slice 8 does not exist (the chip has 8)");
  CHECK(fail({"A", D::i8, 0, 32, 0, {0}, {}}) == "p.bin: symbol 'A': rows = 0, must be at least 1");
  CHECK(fail({"A", D::i8, 4, 33, 0, {0}, {}}) == "p.bin: symbol 'A': cols = 33 out of range (1..32 lanes)");
  // 2 groups: 4 words each.
  CHECK(fail({"A", D::f32, 8, 32, 252, {0, 1, 2, 3, 4, 5, 6, 7}, {}}) == "accepted");
  CHECK(fail({"A", D::f32, 9, 32, 252, {0, 1, 2, 3, 4, 5, 6, 7}, {}}) ==
        "p.bin: symbol 'A': rows at addresses 252..256 run past the slice end (slice has 256 words)");
  CHECK(fail({"A", D::i8, 5, 8, 252, {0}, {}}) ==
        "p.bin: symbol 'A': rows at addresses 252..256 run past the slice end (slice has 256 words)");
  CHECK(fail({"A", D::i8, 5, 8, 251, {0}, {}}) == "accepted");
  CHECK(fail({"7up", D::i8, 1, 8, 0, {0}, {}}) ==
        "p.bin: symbol '7up': not a valid name ([A-Za-z_][A-Za-z0-9_.]*)");
  CHECK(fail({"layer0.w", D::i8, 1, 8, 0, {0}, {}}) == "accepted");
  CHECK(fail({"A", D::i8, 1, 8, 0, {0}, {}}, true) == "p.bin: symbol 'A': defined twice");
  // Each slice's rows from its own base: 2 groups of 2 words.
  CHECK(fail({"A", D::i8, 4, 8, 0, {0, 1}, {250, 254}}) == "accepted");
  CHECK(fail({"A", D::i8, 4, 8, 0, {0, 1}, {250, 255}}) ==
        "p.bin: symbol 'A': rows at addresses 255..256 run past the slice end (slice has 256 words)");
  CHECK(fail({"A", D::i8, 4, 8, 0, {0, 1}, {250}}) == "p.bin: symbol 'A': 1 slice bases for 2 slices");
}
