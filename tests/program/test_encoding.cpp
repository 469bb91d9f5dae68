// The 64-bit instruction encoding: table sanity, every opcode round trip, exact bit positions
// against hand-computed words, and the decoder's error messages.
#include "tspsim/common/error.h"
#include "tspsim/program/encoding.h"
#include "tspsim/program/program.h"

#include <catch2/catch.hpp>
#include <random>
#include <set>

using namespace tsp;
using isa::FieldKind;

namespace {

uint64_t mask_of(const isa::FieldSpec& f) { return ((uint64_t{1} << f.width) - 1) << f.lsb; }

// Interesting values for a field: its extremes and a bit pattern that differs in every nibble.
std::vector<int64_t> sample_values(const isa::FieldSpec& f) {
  const uint64_t all = (uint64_t{1} << f.width) - 1;
  if (f.kind == FieldKind::simm) {
    const int64_t half = int64_t{1} << (f.width - 1);
    return {-half, half - 1, -1, -(half / 3), 5};
  }
  return {0, static_cast<int64_t>(all), static_cast<int64_t>(0xa5c3'96e1'b4d2'7f08ull & all), 1};
}

} // namespace

TEST_CASE("ISA table: unique opcodes and mnemonics, fields inside the word and disjoint") {
  std::set<uint8_t> codes;
  std::set<std::string_view> mnemonics;
  for (const auto& spec : isa::opcodes()) {
    INFO(spec.mnemonic);
    CHECK(codes.insert(static_cast<uint8_t>(spec.opcode)).second);
    CHECK(mnemonics.insert(spec.mnemonic).second);
    CHECK(isa::find_opcode(static_cast<uint8_t>(spec.opcode)) == &spec);
    CHECK(isa::find_mnemonic(spec.mnemonic) == &spec);
    uint64_t used = 0xff;
    for (const auto& f : spec.operand_fields()) {
      INFO(f.name);
      REQUIRE(f.width >= 1);
      REQUIRE(f.lsb + f.width <= 64);
      CHECK((used & mask_of(f)) == 0);
      used |= mask_of(f);
    }
  }
  CHECK(codes.size() == 46);
}

TEST_CASE("every opcode: encode -> decode -> encode is the identity for extreme and patterned operands") {
  for (const auto& spec : isa::opcodes()) {
    INFO(spec.mnemonic);
    const auto fields = spec.operand_fields();
    for (size_t pick = 0; pick < 5; ++pick) {
      Instruction in;
      in.opcode = spec.opcode;
      for (size_t i = 0; i < fields.size(); ++i) {
        const auto values = sample_values(fields[i]);
        in.operands[i] = values[(pick + i) % values.size()];
      }
      const uint64_t word = encode(in);
      CHECK((word & 0xff) == static_cast<uint8_t>(spec.opcode));
      const Instruction out = decode(word);
      CHECK(out == in);
      CHECK(encode(out) == word);
    }
  }
}

TEST_CASE("every field lands at its own bits and nowhere else") {
  for (const auto& spec : isa::opcodes()) {
    const auto fields = spec.operand_fields();
    for (size_t i = 0; i < fields.size(); ++i) {
      INFO(spec.mnemonic << " " << fields[i].name);
      Instruction in;
      in.opcode = spec.opcode;
      in.operands[i] = fields[i].kind == FieldKind::simm ? -1 : 1;
      const uint64_t word = encode(in);
      const uint64_t expected_field =
          fields[i].kind == FieldKind::simm ? mask_of(fields[i]) : uint64_t{1} << fields[i].lsb;
      CHECK(word == (expected_field | static_cast<uint8_t>(spec.opcode)));
    }
  }
}

TEST_CASE("hand-computed words") {
  Instruction read{isa::Opcode::read, {9000, 0x45}}; // Read 9000, W5
  CHECK(encode(read) == 0x0000'0045'0023'2810ull);
  Instruction repeat{isa::Opcode::repeat, {3, 1, -1}}; // Repeat 3, 1, -1
  CHECK(encode(repeat) == 0xffff'0001'0000'0301ull);
  // add.f32 W4, E0, E8: dtype 5 at 8, dst 0x44 at 16, a 0 at 23, b 8 at 30.
  Instruction add{isa::Opcode::v_add, {5, 0x44, 0, 8}};
  CHECK(encode(add) == (0x30ull | 5ull << 8 | 0x44ull << 16 | 8ull << 30));
  // splat.f32 E0, 1.0: the value field holds the binary32 pattern.
  Instruction splat{isa::Opcode::v_splat, {5, 0, 0x3f80'0000}};
  CHECK(encode(splat) == (0x3cull | 5ull << 8 | 0x3f80'0000ull << 32));
  CHECK(decode(0x3cull | 5ull << 8 | 0x3f80'0000ull << 32).operands[2] == 0x3f80'0000);
}

TEST_CASE("decode rejects unknown opcodes and stray bits with exact messages") {
  REQUIRE_THROWS_AS(decode(0x7f), InputError);
  CHECK_THROWS_WITH(decode(0x7f), "unknown opcode 0x7f");
  CHECK_THROWS_WITH(decode(0xffff'ffff'ffff'ff0full), "unknown opcode 0x0f");
  // Read: dst is bits 38..32, so bit 39 is outside every field.
  CHECK_THROWS_WITH(
      decode(0x10ull | 1ull << 39),
      "instruction word 0x0000008000000010 (Read): bits 0x8000000000 are set outside its fields");
  CHECK_THROWS_WITH(decode(0x02ull | 0x100ull), // Sync has no operands
                    "instruction word 0x0000000000000102 (Sync): bits 0x100 are set outside its fields");
}

TEST_CASE("encode rejects values that do not fit their field") {
  CHECK_THROWS_WITH(encode({isa::Opcode::nop, {int64_t{1} << 32}}),
                    "NOP: n = 4294967296 does not fit its 32-bit field (range 0..4294967295)");
  CHECK_THROWS_WITH(encode({isa::Opcode::repeat, {1, 1, -32769}}),
                    "Repeat: stride = -32769 does not fit its 16-bit field (range -32768..32767)");
  CHECK_THROWS_WITH(encode({isa::Opcode::read, {-1, 0}}),
                    "Read: addr = -1 does not fit its 24-bit field (range 0..16777215)");
  CHECK_THROWS_WITH(encode({isa::Opcode::sync, {0, 0, 7}}),
                    "Sync: operand 2 is 7 but the instruction has only 0 operands");
}

TEST_CASE("random words either decode and re-encode to themselves or are rejected as input errors") {
  std::mt19937_64 rng(12345);
  size_t decoded = 0;
  for (int k = 0; k < 200000; ++k) {
    uint64_t word = rng();
    // Sparse words reach the valid encodings far more often than uniform ones.
    if (k % 2) word &= rng() & rng() & rng();
    try {
      const Instruction instruction = decode(word);
      ++decoded;
      REQUIRE(encode(instruction) == word);
    } catch (const InputError&) {
    }
  }
  CHECK(decoded > 1000);
}

TEST_CASE("one field of a word reads as decode reads it, sign included") {
  Instruction repeat;
  repeat.opcode = isa::Opcode::repeat;
  repeat.operands = {3, 2, -5};
  const uint64_t word = encode(repeat);
  const auto fields = repeat.spec().operand_fields();
  CHECK(field_mask(fields[0]) == 0x0000'0000'ffff'ff00ull); // n: bits 8..31
  CHECK(field_mask(fields[2]) == 0xffff'0000'0000'0000ull); // stride: bits 48..63
  CHECK(field_value(word, fields[0]) == 3);
  CHECK(field_value(word, fields[1]) == 2);
  CHECK(field_value(word, fields[2]) == -5);
  CHECK((word & field_mask(fields[2])) == 0xfffb'0000'0000'0000ull);
}
