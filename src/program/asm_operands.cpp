#include "asm_operands.h"

#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <fmt/format.h>

namespace tsp::assembly {

using isa::FieldKind;

bool is_identifier(const std::string& s) {
  return !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_') &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::optional<uint64_t> parse_unsigned_literal(std::string_view text) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<int64_t> parse_integer_literal(std::string_view text) {
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  const auto magnitude = parse_unsigned_literal(text);
  if (!magnitude || *magnitude > (negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1))
    return std::nullopt;
  return negative ? static_cast<int64_t>(0 - *magnitude) : static_cast<int64_t>(*magnitude);
}

std::pair<int64_t, int64_t> field_range(const isa::FieldSpec& field) {
  if (field.kind == FieldKind::simm)
    return {-(int64_t{1} << (field.width - 1)), (int64_t{1} << (field.width - 1)) - 1};
  return {0, static_cast<int64_t>((uint64_t{1} << field.width) - 1)};
}

std::optional<int64_t> OperandReader::read(const isa::FieldSpec& field, const Token& token) const {
  switch (field.kind) {
  case FieldKind::stream:
    return stream(token);
  case FieldKind::mem_slice: {
    const auto& info = floorplan_.slices()[floorplan_.slice_of_mem(mem_slice(token))];
    return static_cast<int64_t>(Floorplan::mem_field(info.east, info.index));
  }
  case FieldKind::f32:
    return f32(token);
  case FieldKind::mode: {
    const auto it = std::find(field.mode_names.begin(), field.mode_names.end(), token.text);
    if (it == field.mode_names.end())
      fail(token,
           fmt::format("expected {} or {}, got '{}'", field.mode_names[0], field.mode_names[1], token.text));
    return it - field.mode_names.begin();
  }
  default:
    break;
  }
  if (token.kind == Tok::word && is_identifier(token.text)) {
    const auto it = names_.find(token.text);
    if (it == names_.end()) return std::nullopt;
    check_range(field, it->second.value, token);
    return it->second.value;
  }
  const auto literal = token.kind == Tok::number ? parse_integer_literal(token.text) : std::nullopt;
  if (!literal)
    fail(token, fmt::format("expected an integer or a name for {}, got '{}'", field.name, token.text));
  check_range(field, *literal, token);
  return *literal;
}

void OperandReader::check_range(const isa::FieldSpec& field, int64_t value, const Token& token) const {
  const auto [lo, hi] = field_range(field);
  if (value < lo || value > hi)
    fail(token, fmt::format("{} = {} does not fit its {}-bit field ({}..{})", field.name, value, field.width,
                            lo, hi));
}

uint32_t OperandReader::mem_slice(const Token& token) const {
  const auto slice = floorplan_.find_slice(token.text);
  if (token.kind != Tok::word || !slice || floorplan_.slices()[*slice].kind != SliceKind::mem) {
    const unsigned last = floorplan_.mem_count() / 2 - 1;
    fail(token, fmt::format("expected a MEM slice (MEM_W0..MEM_W{} or MEM_E0..MEM_E{}), got {}", last, last,
                            describe(token)));
  }
  const auto& info = floorplan_.slices()[*slice];
  return floorplan_.mem_global(info.east, info.index);
}

int64_t OperandReader::defined_integer(const Token& token, int64_t lo, int64_t hi) const {
  std::optional<int64_t> value;
  if (token.kind == Tok::number) {
    value = parse_integer_literal(token.text);
    if (!value) fail(token, fmt::format("expected an integer, got '{}'", token.text));
  } else if (token.kind == Tok::word && names_.count(token.text)) {
    value = names_.at(token.text).value;
  } else if (token.kind == Tok::word && is_identifier(token.text)) {
    fail(token, fmt::format("unknown name '{}' (names used here must be defined above)", token.text));
  } else {
    fail(token, fmt::format("expected an integer, got {}", describe(token)));
  }
  if (*value < lo || *value > hi) fail(token, fmt::format("{} is out of range ({}..{})", *value, lo, hi));
  return *value;
}

int64_t OperandReader::stream(const Token& token) const {
  const unsigned n = config_.streams.per_direction;
  const auto field = token.kind == Tok::word ? parse_stream_field(token.text, n) : std::nullopt;
  if (!field)
    fail(token, fmt::format("expected a stream (E0..E{} or W0..W{}), got '{}'", n - 1, n - 1, token.text));
  return *field;
}

int64_t OperandReader::f32(const Token& token) const {
  const auto& t = token.text;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    const auto bits = parse_integer_literal(t);
    if (!bits || *bits > UINT32_MAX) fail(token, fmt::format("expected 32-bit hex float bits, got '{}'", t));
    return *bits;
  }
  std::string_view text = t;
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  float value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    fail(token, fmt::format("expected a float (1.5, -2e-3, inf, nan or 0x3fc00000 bits), got '{}'", t));
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

} // namespace tsp::assembly
