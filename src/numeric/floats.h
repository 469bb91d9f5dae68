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

// c ? a : b as a bit blend: GCC turns ?: on these paths into branches, which stops the lane loops
// from vectorising.
inline uint32_t pick(bool c, uint32_t a, uint32_t b) {
  const uint32_t m = 0u - uint32_t(c);
  return (a & m) | (b & ~m);
}

// fp32 -> fp16 with selects instead of branches, so the lane loops vectorise it; gives exactly
// what the generic f64_to_f16 gives for the same value (tested over a stride of all fp32 patterns).
inline uint16_t f32_to_f16(float f) {
  const uint32_t bits = f32_bits(f);
  const uint32_t x = bits & 0x7fffffff;
  // Normal results: re-bias the exponent (127 -> 15) and round the 13 dropped bits to nearest even
  // by adding 0xfff plus the lowest kept bit; a carry correctly moves into the exponent.
  const uint32_t normal = (x - 0x38000000 + 0xfff + ((x >> 13) & 1)) >> 13;
  // Below 2^-14: in 0.5 + |f| the fp32 adder rounds |f| to a multiple of 2^-24 (the ulp of 0.5),
  // nearest even, leaving the fp16 subnormal pattern (or the smallest normal) in the low bits.
  const uint32_t subnormal = f32_bits(f32_from_bits(x) + 0.5f) - 0x3f000000;
  const uint32_t nan = 0x7e00 | ((x >> 13) & 0x3ff);
  const uint32_t r =
      pick(x > 0x7f800000, nan, pick(x >= 0x477ff000, 0x7c00, pick(x >= 0x38800000, normal, subnormal)));
  return uint16_t(((bits >> 16) & 0x8000) | r);
}

// fp32 -> bf16: the 16 dropped bits round to nearest even by adding 0x7fff plus the lowest kept
// bit (the carry reaches the exponent, up to infinity); NaNs keep their top payload, made quiet.
inline uint16_t f32_to_bf16(float f) {
  const uint32_t bits = f32_bits(f);
  const uint32_t rounded = (bits + 0x7fff + ((bits >> 16) & 1)) >> 16;
  return uint16_t(pick((bits & 0x7fffffff) > 0x7f800000, (bits >> 16) | 0x40, rounded));
}
inline uint16_t f64_to_f16(double x) { return uint16_t(narrow<11, 52, 5, 10>(bit_cast<uint64_t>(x))); }
inline uint16_t f64_to_bf16(double x) { return uint16_t(narrow<11, 52, 8, 7>(bit_cast<uint64_t>(x))); }
inline float f64_to_f32(double x) {
  return f32_from_bits(uint32_t(narrow<11, 52, 8, 23>(bit_cast<uint64_t>(x))));
}

// fp16 -> fp32 is exact: subnormal fp16 values become normal fp32 values; NaNs are quieted.
inline float f16_to_f32(uint16_t h) {
  const uint32_t x = h & 0x7fffu;
  // Normal: re-bias the exponent (15 -> 127). Subnormal: x * 2^-24, exact in fp32 (x < 2^10).
  const uint32_t normal = (x << 13) + 0x38000000;
  const uint32_t subnormal = f32_bits(float(int32_t(x)) * 0x1p-24f);
  const uint32_t special = (x << 13) | 0x7f800000 | pick(x & 0x3ff, 0x400000, 0); // inf, quiet NaN
  const uint32_t r = pick(x >= 0x7c00, special, pick(x >= 0x0400, normal, subnormal));
  return f32_from_bits((uint32_t(h & 0x8000) << 16) | r);
}

// bf16 is the top half of an fp32 pattern; NaNs are quieted.
inline float bf16_to_f32(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  return f32_from_bits(bits | pick((bits & 0x7fffffff) > 0x7f800000, 0x400000, 0));
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

// fp32 -> integer of `Bits` bits (8, 16 or 32): round to nearest even, saturate, NaN -> 0. Gives
// what float_to_int gives, using selects only so that lane loops vectorise.
template <int Bits> inline int32_t f32_to_int(float x) {
  constexpr auto hi = int32_t((int64_t{1} << (Bits - 1)) - 1);
  constexpr int32_t lo = -hi - 1;
  constexpr auto top = float(int64_t{1} << (Bits - 1)); // 2^(Bits-1), exact
  const float a = std::fabs(x);
  // Below 2^23, a + 2^23 has no fraction bits left, so the fp32 adder rounds a to an integer
  // (nearest even); from 2^23 up every fp32 value is an integer already.
  const uint32_t rounded = pick(a < 0x1p23f, f32_bits((a + 0x1p23f) - 0x1p23f), f32_bits(a));
  const float r = std::copysign(f32_from_bits(rounded), x);
  const bool over = r >= top, under = r < -top;
  const float safe = f32_from_bits(pick(std::isnan(x) || over || under, 0, f32_bits(r)));
  return int32_t(pick(over, uint32_t(hi), pick(under, uint32_t(lo), uint32_t(int32_t(safe)))));
}

} // namespace tsp::num::detail
