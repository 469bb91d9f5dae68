// Bit-level IEEE conversions shared by the numeric sources (inline so the lane loops can inline
// them). The public wrappers are in numeric_float.cpp; the rules are in docs/numerics.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace tsp::num::detail {

template <typename To, typename From> inline To bit_cast(const From& from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

// Rounds a binary floating-point value with SE exponent and SM fraction bits (bit pattern `x`) to
// the narrower format with DE exponent and DM fraction bits: round to nearest even, overflow to
// infinity, gradual underflow to subnormals and zero, NaN to a quiet NaN keeping the sign and the
// top DM - 1 payload bits.
template <unsigned SE, unsigned SM, unsigned DE, unsigned DM> inline uint64_t narrow(uint64_t x) {
  static_assert(SM > DM && SE >= DE && SE + SM < 64);
  constexpr uint64_t src_exp_max = (uint64_t{1} << SE) - 1;
  constexpr int64_t src_bias = (int64_t{1} << (SE - 1)) - 1;
  constexpr uint64_t dst_exp_max = (uint64_t{1} << DE) - 1;
  constexpr int64_t dst_bias = (int64_t{1} << (DE - 1)) - 1;
  constexpr uint64_t dst_inf = dst_exp_max << DM;

  const uint64_t sign = ((x >> (SE + SM)) & 1) << (DE + DM);
  const uint64_t exp = (x >> SM) & src_exp_max;
  uint64_t sig = x & ((uint64_t{1} << SM) - 1);
  if (exp == src_exp_max) {
    if (sig == 0) return sign | dst_inf;
    return sign | dst_inf | (uint64_t{1} << (DM - 1)) | (sig >> (SM - DM));
  }
  int64_t e; // unbiased exponent of the leading significand bit, with sig normalised to SM+1 bits
  if (exp == 0) {
    if (sig == 0) return sign;
    const int lead = 63 - __builtin_clzll(sig);
    sig <<= SM - lead;
    e = 1 - src_bias - (int64_t(SM) - lead);
  } else {
    sig |= uint64_t{1} << SM;
    e = int64_t(exp) - src_bias;
  }
  const int64_t biased = e + dst_bias; // < 1: the result is subnormal (or rounds up to the minimum)
  if (biased >= int64_t(dst_exp_max)) return sign | dst_inf;
  const int64_t shift = int64_t(SM - DM) + (biased < 1 ? 1 - biased : 0);
  if (shift > int64_t(SM) + 1) return sign; // below half the smallest subnormal
  const uint64_t half = uint64_t{1} << (shift - 1);
  const uint64_t rem = sig & ((half << 1) - 1);
  uint64_t rounded = sig >> shift;
  if (rem > half || (rem == half && (rounded & 1))) ++rounded;
  // For normal results `rounded` carries the implicit bit, which the addition folds into the
  // exponent (a carry out of the fraction correctly bumps the exponent, up to infinity).
  const uint64_t bits = biased < 1 ? rounded : (uint64_t(biased - 1) << DM) + rounded;
  return sign | (bits >= dst_inf ? dst_inf : bits);
}

inline uint32_t f32_bits(float x) { return bit_cast<uint32_t>(x); }
inline float f32_from_bits(uint32_t b) { return bit_cast<float>(b); }

inline uint16_t f32_to_f16(float x) { return uint16_t(narrow<8, 23, 5, 10>(f32_bits(x))); }
inline uint16_t f32_to_bf16(float x) { return uint16_t(narrow<8, 23, 8, 7>(f32_bits(x))); }
inline uint16_t f64_to_f16(double x) { return uint16_t(narrow<11, 52, 5, 10>(bit_cast<uint64_t>(x))); }
inline uint16_t f64_to_bf16(double x) { return uint16_t(narrow<11, 52, 8, 7>(bit_cast<uint64_t>(x))); }
inline float f64_to_f32(double x) {
  return f32_from_bits(uint32_t(narrow<11, 52, 8, 23>(bit_cast<uint64_t>(x))));
}

// fp16 -> fp32 is exact: subnormal fp16 values become normal fp32 values; NaNs are quieted.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t frac = h & 0x3ff;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000 | (frac ? 0x400000 | (frac << 13) : 0));
  if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (frac << 13));
  if (frac == 0) return f32_from_bits(sign);
  const int lead = 31 - __builtin_clz(frac); // value = frac * 2^-24
  frac = (frac << (10 - lead)) & 0x3ff;
  return f32_from_bits(sign | (uint32_t(lead + 103) << 23) | (frac << 13));
}

// bf16 is the top half of an fp32 pattern; NaNs are quieted.
inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  if ((bits & 0x7f800000) == 0x7f800000 && (bits & 0x007fffff)) bits |= 0x400000;
  return f32_from_bits(bits);
}

// Round to nearest even, then saturate to [lo, hi]; NaN gives 0. Exact for every fp32 value.
inline int64_t float_to_int(double x, int64_t lo, int64_t hi) {
  if (std::isnan(x)) return 0;
  if (x <= double(lo)) return lo;
  if (x >= double(hi)) return hi;
  const double floor = std::floor(x);
  const double frac = x - floor; // exact: |x| < 2^31
  auto r = int64_t(floor);
  if (frac > 0.5 || (frac == 0.5 && (r & 1))) ++r;
  return r;
}

} // namespace tsp::num::detail
