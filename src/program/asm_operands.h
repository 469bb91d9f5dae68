// What an operand written in assembly means (private to the assembler): a stream (E5, W12), a MEM
// slice (MEM_W3), a float (1.5, or 0x3fc00000 bits), a mode name, or an integer or a name, each
// checked against its field. A name not yet defined is left for the assembler to resolve at the end.
#pragma once

#include "asm_lexer.h"
#include "isa.h"
#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tsp::assembly {

bool is_identifier(const std::string& s);
// Decimal or 0x hexadecimal, with an optional '-'.
std::optional<int64_t> parse_integer_literal(std::string_view text);
// Decimal or 0x hexadecimal, the whole uint64_t range (seeds), no sign.
std::optional<uint64_t> parse_unsigned_literal(std::string_view text);
// The values a field can hold: two's complement for simm, unsigned otherwise.
std::pair<int64_t, int64_t> field_range(const isa::FieldSpec& field);

// A name defined by a label or .equ, and where.
struct NameValue {
  int64_t value;
  uint32_t line;
};

class OperandReader {
public:
  OperandReader(const std::string& origin, const ChipConfig& config, const Floorplan& floorplan,
                const std::map<std::string, NameValue>& names)
      : origin_(origin), config_(config), floorplan_(floorplan), names_(names) {}

  // The value of `field` written as `token`, or nothing when it is a name not defined yet.
  std::optional<int64_t> read(const isa::FieldSpec& field, const Token& token) const;
  void check_range(const isa::FieldSpec& field, int64_t value, const Token& token) const;
  // A MEM slice name as its global MEM number.
  uint32_t mem_slice(const Token& token) const;
  // An integer literal or an already defined name, within [lo, hi].
  int64_t defined_integer(const Token& token, int64_t lo, int64_t hi) const;

private:
  int64_t stream(const Token& token) const;
  int64_t f32(const Token& token) const;
  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    fail_at(origin_, at.line, at.col, message);
  }

  const std::string& origin_;
  const ChipConfig& config_;
  const Floorplan& floorplan_;
  const std::map<std::string, NameValue>& names_;
};

} // namespace tsp::assembly
