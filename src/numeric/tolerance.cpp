#include "tspsim/numeric/tolerance.h"

#include "tspsim/common/error.h"
#include "tspsim/numeric/numeric.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

namespace tsp::num {
namespace {

double parse_bound(std::string_view text, const std::string& what, std::string_view term) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v) || v < 0)
    throw InputError(fmt::format("{}: '{}': expected a finite non-negative number", what, term));
  return v;
}

uint32_t element_bits(const std::vector<uint8_t>& bytes, size_t e, unsigned width) {
  uint32_t v = 0;
  for (unsigned b = 0; b < width; ++b) v |= uint32_t(bytes[e * width + b]) << (8 * b);
  return v;
}

struct Verdict {
  bool ok;
  double difference = 0;
  double allowed = 0;
};

Verdict check_float(double a, double x, uint32_t a_bits, uint32_t x_bits, const Tolerance& t, size_t e) {
  if (std::isnan(a) || std::isnan(x)) return {std::isnan(a) && std::isnan(x)};
  if (std::isinf(a) || std::isinf(x) || t.exact()) return {a_bits == x_bits, std::fabs(a - x), 0};
  const double allowed = t.rel * std::fabs(x) + t.abs + (t.bounds.empty() ? 0.0 : t.bounds[e]);
  const double difference = std::fabs(a - x);
  return {difference <= allowed, difference, allowed};
}

} // namespace

Tolerance parse_tolerance(std::string_view spec, const std::string& what) {
  Tolerance t;
  if (spec == "exact") return t;
  bool any = false;
  while (!spec.empty()) {
    if (spec.substr(0, 5) == "file:") {
      t.bounds_file = std::string(spec.substr(5));
      if (t.bounds_file.empty()) throw InputError(fmt::format("{}: 'file:' needs a path", what));
      any = true;
      break;
    }
    const auto comma = spec.find(',');
    const std::string_view term = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (term.substr(0, 4) == "rel:") {
      t.rel = parse_bound(term.substr(4), what, term);
      // A relative bound of 1 would accept an all-zero result.
      if (t.rel >= 1) throw InputError(fmt::format("{}: '{}': a relative bound must be below 1", what, term));
    } else if (term.substr(0, 4) == "abs:") {
      t.abs = parse_bound(term.substr(4), what, term);
    } else {
      throw InputError(fmt::format(
          "{}: '{}': expected exact, or rel:R, abs:A and file:PATH separated by commas", what, term));
    }
    any = true;
  }
  if (!any) throw InputError(fmt::format("{}: empty tolerance", what));
  return t;
}

std::vector<double> decode_bounds(const std::vector<uint8_t>& bytes, size_t elements,
                                  const std::string& origin) {
  if (bytes.size() != elements * sizeof(double))
    throw InputError(fmt::format("{}: has {} bytes; {} bounds of 8 bytes need {}", origin, bytes.size(),
                                 elements, elements * sizeof(double)));
  std::vector<double> bounds(elements);
  for (size_t e = 0; e < elements; ++e) {
    uint64_t bits = 0;
    for (unsigned b = 0; b < 8; ++b) bits |= uint64_t(bytes[e * 8 + b]) << (8 * b);
    std::memcpy(&bounds[e], &bits, sizeof(double));
    if (!std::isfinite(bounds[e]) || bounds[e] < 0)
      throw InputError(
          fmt::format("{}: bound {} is {}: expected a finite non-negative number", origin, e, bounds[e]));
  }
  return bounds;
}

std::string encode_bounds(const std::vector<double>& bounds) {
  std::string out;
  out.reserve(bounds.size() * 8);
  for (double v : bounds) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof(double));
    for (unsigned b = 0; b < 8; ++b) out += static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

std::optional<std::string> find_mismatch(isa::DType dtype, uint32_t cols, const std::vector<uint8_t>& actual,
                                         const std::vector<uint8_t>& expected, const Tolerance& tolerance) {
  const unsigned width = isa::dtype_bytes(dtype);
  const bool is_float = isa::dtype_is_float(dtype);
  const size_t elements = actual.size() / width;
  std::optional<std::string> first;
  size_t wrong = 0;
  for (size_t e = 0; e < elements; ++e) {
    const uint32_t a_bits = element_bits(actual, e, width);
    const uint32_t x_bits = element_bits(expected, e, width);
    if (!is_float) {
      if (a_bits == x_bits) continue;
      if (!first)
        first = fmt::format("element [{}, {}] is 0x{:0{}x}, expected 0x{:0{}x}", e / cols, e % cols, a_bits,
                            2 * width, x_bits, 2 * width);
      ++wrong;
      continue;
    }
    const double a = float_from_bits(a_bits, dtype);
    const double x = float_from_bits(x_bits, dtype);
    const Verdict v = check_float(a, x, a_bits, x_bits, tolerance, e);
    if (v.ok) continue;
    if (!first)
      first = fmt::format("element [{}, {}] is {:.9g} (0x{:0{}x}), expected {:.9g} (0x{:0{}x}): {}", e / cols,
                          e % cols, a, a_bits, 2 * width, x, x_bits, 2 * width,
                          tolerance.exact() ? std::string("not bit-exact")
                          : !std::isfinite(a) || !std::isfinite(x)
                              ? std::string("NaN and infinity match only themselves")
                              : fmt::format("difference {:.3g} > allowed {:.3g}", v.difference, v.allowed));
    ++wrong;
  }
  if (!first) return std::nullopt;
  return fmt::format("{}; {} of {} elements differ", *first, wrong, elements);
}

} // namespace tsp::num
