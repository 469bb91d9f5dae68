// How `tspsim --expect` decides that a simulated tensor matches its reference: bit-exact by default;
// for float outputs, within a bound per element that follows from the arithmetic (docs/numerics.md,
// "Checking float results"): |actual - expected| <= rel * |expected| + abs + bound[e].
#pragma once

#include "isa.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsp::num {

struct Tolerance {
  double rel = 0;
  double abs = 0;
  std::vector<double> bounds; // per element, row-major; empty: none
  std::string bounds_file;    // where `bounds` come from (empty: none)

  bool exact() const { return rel == 0 && abs == 0 && bounds_file.empty(); }
};

// "exact", or comma-separated terms "rel:R", "abs:A" and a last term "file:PATH" (a file of one
// little-endian float64 bound per element, as tspc --reference writes). Throws InputError naming
// `what` and the term. The bounds file is named, not read: see decode_bounds.
Tolerance parse_tolerance(std::string_view spec, const std::string& what);

// The per-element bounds of a bounds file: `elements` finite non-negative float64 values.
std::vector<double> decode_bounds(const std::vector<uint8_t>& bytes, size_t elements,
                                  const std::string& origin);
std::string encode_bounds(const std::vector<double>& bounds);

// The first element of `actual` (row-major, `cols` per row) that does not match `expected` under
// `tolerance`, described with its value, the reference, the difference and the allowed bound, and
// how many elements differ in all; nullopt when all match. Integer types compare exactly; floats
// match when both are NaN, or equal infinities, or finite within the bound (exact: same bits).
std::optional<std::string> find_mismatch(isa::DType dtype, uint32_t cols, const std::vector<uint8_t>& actual,
                                         const std::vector<uint8_t>& expected, const Tolerance& tolerance);

} // namespace tsp::num
