// The chip arithmetic against independent host references: the compiler's _Float16 (libgcc
// soft-float conversions), a long double rounding written with frexp/nearbyint (for bf16 and for exact
// results), the hardware's double -> float conversion, int64 saturation, naive matrix loops and
// direct index formulas.
#include "tspsim/numeric/numeric.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <type_traits>
#include <vector>

using tsp::isa::DType;
using tsp::isa::Opcode;
namespace num = tsp::num;
using Catch::Matchers::Message;

namespace {

template <typename To, typename From> To bits_as(const From& from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

uint32_t fbits(float f) { return bits_as<uint32_t>(f); }
float ffrom(uint32_t b) { return bits_as<float>(b); }
// fp16 references: the host's _Float16 conversions (libgcc soft-float) where the compiler has the
// type (GCC, clang 15+); for clang 14 (the fuzz build) an arithmetic decoder and the frexp rounding
// below stand in. hfrom: value of an fp16 pattern; half_bits: x rounded to fp16.
#ifdef __FLT16_MAX__
float hfrom(uint16_t b) { return bits_as<_Float16>(b); }
template <typename T> uint16_t half_bits(T x) { return bits_as<uint16_t>(_Float16(x)); }
#else
float hfrom(uint16_t b);
template <typename T> uint16_t half_bits(T x);
#endif

// Reference rounding of v to a binary format with p significand bits and normal exponents
// [emin, emax], nearest even, overflow to infinity (unbounded-exponent rounding, then range check).
long double ref_round(long double v, int p, int emin, int emax) {
  if (std::isnan(v) || std::isinf(v) || v == 0) return v;
  int e;
  std::frexp(std::fabs(v), &e);
  const int quantum = std::max(e - 1, emin) - (p - 1);
  const long double out = std::ldexp(std::nearbyint(std::ldexp(v, -quantum)), quantum);
  const long double max = std::ldexp(2.0L - std::ldexp(1.0L, 1 - p), emax);
  return std::fabs(out) > max ? std::copysign(INFINITY, v) : out;
}

#ifndef __FLT16_MAX__
float hfrom(uint16_t b) {
  const int exp = (b >> 10) & 0x1f, frac = b & 0x3ff;
  float v;
  if (exp == 0x1f)
    v = frac ? ffrom(0x7fc00000 | uint32_t(frac) << 13) : INFINITY;
  else
    v = exp ? std::ldexp(float(1024 + frac), exp - 25) : std::ldexp(float(frac), -24);
  return b & 0x8000 ? -v : v;
}

template <typename T> uint16_t half_bits(T x) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x)) {
      if constexpr (sizeof(T) == 4) return uint16_t(sign | 0x7e00 | ((bits_as<uint32_t>(x) >> 13) & 0x3ff));
      if constexpr (sizeof(T) == 8) return uint16_t(sign | 0x7e00 | ((bits_as<uint64_t>(x) >> 42) & 0x3ff));
    }
  }
  const long double r = std::fabs(ref_round(x, 11, -14, 15));
  if (std::isinf(r)) return sign | 0x7c00;
  if (r < 0x1p-14L) return uint16_t(sign | uint16_t(std::ldexp(r, 24)));
  int e;
  std::frexp(r, &e);
  return uint16_t(sign | (e + 14) << 10 | (uint16_t(std::ldexp(r, 11 - e)) - 1024));
}
#endif

struct Format {
  DType dtype;
  int p, emin, emax;
};
constexpr Format kF16{DType::f16, 11, -14, 15};
constexpr Format kBF16{DType::bf16, 8, -126, 127};
constexpr Format kF32{DType::f32, 24, -126, 127};

// Value of a float-dtype bit pattern, decoded independently of the library.
long double value_of(uint32_t bits, DType dtype) {
  switch (dtype) {
  case DType::f16:
    return hfrom(uint16_t(bits));
  case DType::bf16:
    return ffrom(bits << 16);
  default:
    return ffrom(bits);
  }
}

uint32_t canonical_nan(DType dtype) {
  return dtype == DType::f16 ? 0x7e00 : dtype == DType::bf16 ? 0x7fc0 : 0x7fc00000;
}

// The expected bits for an exact value v rounded to `f`, or the canonical NaN.
uint32_t expect_bits(long double v, const Format& f) {
  if (std::isnan(v)) return canonical_nan(f.dtype);
  const long double r = ref_round(v, f.p, f.emin, f.emax);
  switch (f.dtype) {
  case DType::f16:
    return half_bits(r); // r is representable: this conversion is exact
  case DType::bf16:
    return fbits(float(r)) >> 16;
  default:
    return fbits(float(r));
  }
}

int64_t sign_extend(uint32_t bits, DType d) {
  const unsigned bytes = tsp::isa::dtype_bytes(d);
  return bytes == 1 ? int8_t(bits) : bytes == 2 ? int16_t(bits) : int32_t(bits);
}

// Reference fp32 -> bf16: NaNs keep the top payload and become quiet; other values round by ref_round.
uint16_t ref_bf16(float f) {
  if (std::isnan(f)) return uint16_t((fbits(f) >> 16) | 0x40);
  return uint16_t(expect_bits(f, kBF16));
}

// A vector of `lanes` elements as byte planes.
struct Vec {
  DType dtype;
  size_t lanes;
  std::array<std::vector<uint8_t>, 4> planes;

  Vec(DType d, size_t n, uint8_t fill = 0) : dtype(d), lanes(n) {
    for (auto& p : planes) p.assign(n, fill);
  }
  unsigned bytes() const { return tsp::isa::dtype_bytes(dtype); }
  uint32_t get(size_t i) const {
    uint32_t v = 0;
    for (unsigned b = 0; b < bytes(); ++b) v |= uint32_t(planes[b][i]) << (8 * b);
    return v;
  }
  void set(size_t i, uint32_t v) {
    for (unsigned b = 0; b < bytes(); ++b) planes[b][i] = uint8_t(v >> (8 * b));
  }
  int64_t get_int(size_t i) const { return sign_extend(get(i), dtype); }
  num::PlaneGroup g() { return {{planes[0].data(), planes[1].data(), planes[2].data(), planes[3].data()}}; }
  num::ConstPlaneGroup c() const {
    return {{planes[0].data(), planes[1].data(), planes[2].data(), planes[3].data()}};
  }
};

const DType kAllTypes[] = {DType::i8, DType::i16, DType::i32, DType::f16, DType::bf16, DType::f32};
const DType kIntTypes[] = {DType::i8, DType::i16, DType::i32};
const Format kFloatFormats[] = {kF16, kBF16, kF32};

int64_t type_min(DType d) { return -(int64_t{1} << (8 * tsp::isa::dtype_bytes(d) - 1)); }
int64_t type_max(DType d) { return (int64_t{1} << (8 * tsp::isa::dtype_bytes(d) - 1)) - 1; }
int64_t ref_clamp(int64_t v, DType d) { return std::clamp(v, type_min(d), type_max(d)); }
uint32_t to_bits(int64_t v, DType d) {
  return uint32_t(uint64_t(v) &
                  (tsp::isa::dtype_bytes(d) == 4 ? 0xffffffffu : (1u << (8 * tsp::isa::dtype_bytes(d))) - 1));
}

// Interesting bit patterns of a dtype followed by random ones.
std::vector<uint32_t> patterns(DType d, size_t count, uint64_t seed) {
  std::vector<uint32_t> out;
  switch (d) {
  case DType::i8:
    out = {0, 1, 0x7f, 0x80, 0x81, 0xff, 0x40, 0xc0};
    break;
  case DType::i16:
    out = {0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0x00ff, 0xff00, 0x4000, 0xc000};
    break;
  case DType::i32:
    out = {0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xffffffff, 0x10000, 0xffff0000, 0x40000000};
    break;
  case DType::f16:
    out = {0,      0x8000, 0x3c00, 0xbc00, 0x7c00, 0xfc00, 0x7e00, 0x7d01,
           0x0001, 0x8001, 0x7bff, 0xfbff, 0x3800, 0x4100, 0x03ff};
    break;
  case DType::bf16:
    out = {0,      0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0x7fc0, 0x7f81,
           0x0001, 0x8001, 0x7f7f, 0xff7f, 0x3f00, 0x4020, 0x007f};
    break;
  default:
    out = {0,          0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000,
           0x7fc00000, 0x7f800001, 1,          0x80000001, 0x7f7fffff, 0xff7fffff,
           0x3f000000, 0x40200000, 0x4f000000, 0xcf000000, 0x46fffe00, 0x477fe000};
    break;
  }
  std::mt19937_64 rng(seed);
  const uint32_t mask =
      tsp::isa::dtype_bytes(d) == 4 ? 0xffffffffu : (1u << (8 * tsp::isa::dtype_bytes(d))) - 1;
  while (out.size() < count) {
    uint32_t v = uint32_t(rng()) & mask;
    // Half of the float values are kept near 1 so that arithmetic results are not all inf or 0.
    if (d == DType::f32 && (rng() & 1)) v = (v & 0x807fffff) | uint32_t(110 + rng() % 36) << 23;
    if (d == DType::f16 && (rng() & 1)) v = (v & 0x83ff) | uint32_t(8 + rng() % 16) << 10;
    if (d == DType::bf16 && (rng() & 1)) v = (v & 0x807f) | uint32_t(110 + rng() % 36) << 7;
    out.push_back(v);
  }
  return out;
}

Vec make_vec(DType d, const std::vector<uint32_t>& values) {
  Vec v(d, values.size());
  for (size_t i = 0; i < values.size(); ++i) v.set(i, values[i]);
  return v;
}

// Lanes at or above `active` must keep the sentinel the destination was filled with.
void check_untouched(const Vec& dst, size_t active) {
  for (unsigned b = 0; b < dst.bytes(); ++b)
    for (size_t i = active; i < dst.lanes; ++i) REQUIRE(dst.planes[b][i] == 0xa5);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Scalar conversions

TEST_CASE("fp16 -> fp32 matches _Float16 for all 65536 patterns") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float mine = num::f16_to_f32(uint16_t(h));
    const float ref = hfrom(uint16_t(h));
    INFO("fp16 0x" << std::hex << h);
    REQUIRE(fbits(mine) == fbits(ref));
  }
}

TEST_CASE("fp32 -> fp16 matches _Float16: every fp16 value, every midpoint and 4 million random fp32") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = hfrom(uint16_t(h));
    INFO("fp16 0x" << std::hex << h);
    if (std::isnan(f)) { // GCC folds the round trip _Float16(float(h)) to h, so no reference here
      REQUIRE(num::f32_to_f16(f) == (h | 0x200));
      continue;
    }
    REQUIRE(num::f32_to_f16(f) == half_bits(f));
    if ((h & 0x7c00) == 0x7c00) continue;
    // The midpoint to the next value up in magnitude and its neighbours (exact in fp32).
    const float next = hfrom(uint16_t(h + 1));
    if (std::isinf(next) || std::isnan(next)) continue;
    const float mid = float((double(f) + double(next)) / 2);
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 2 * mid)})
      REQUIRE(num::f32_to_f16(x) == half_bits(x));
  }
  // The select-based fp32 path against the generic rounding from double, every 61st pattern.
  for (uint64_t b = 0; b <= 0xffffffffu; b += 61) {
    const float f = ffrom(uint32_t(b));
    if (num::f32_to_f16(f) != num::f64_to_f16(f)) {
      INFO("fp32 0x" << std::hex << b);
      REQUIRE(num::f32_to_f16(f) == num::f64_to_f16(f));
    }
  }
  std::mt19937 rng(1);
  for (int i = 0; i < 4000000; ++i) {
    uint32_t b = rng();
    if (i & 1) b = (b & 0x807fffff) | uint32_t(100 + rng() % 48) << 23; // near the fp16 range
    const float f = ffrom(b);
    INFO("fp32 0x" << std::hex << b);
    REQUIRE(num::f32_to_f16(f) == half_bits(f));
  }
}

TEST_CASE("fp16 rounding: ties to even, overflow, subnormals and NaN (exact values)") {
  CHECK(num::f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);     // tie, 1.0 is even
  CHECK(num::f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02); // tie, rounds up to even
  CHECK(num::f32_to_f16(65504.0f) == 0x7bff);            // max finite
  CHECK(num::f32_to_f16(65519.99f) == 0x7bff);           // below max + half ulp
  CHECK(num::f32_to_f16(65520.0f) == 0x7c00);            // tie at max + half ulp -> inf
  CHECK(num::f32_to_f16(-1e10f) == 0xfc00);
  CHECK(num::f32_to_f16(0x1p-24f) == 0x0001); // smallest subnormal
  CHECK(num::f32_to_f16(0x1p-25f) == 0x0000); // half of it: tie to even (zero)
  CHECK(num::f32_to_f16(std::nextafter(0x1p-25f, 1.0f)) == 0x0001);
  CHECK(num::f32_to_f16(-0x1p-26f) == 0x8000);           // signed zero
  CHECK(num::f32_to_f16(0x1p-14f - 0x1p-25f) == 0x0400); // rounds up into the normal range
  CHECK(num::f32_to_f16(ffrom(0x7f800001)) == 0x7e00);   // signalling NaN comes out quiet
  CHECK(num::f32_to_f16(ffrom(0xffffe000)) == 0xffff);   // sign and top payload kept
  CHECK(fbits(num::f16_to_f32(0x7d00)) == 0x7fe00000);   // widened sNaN is quiet
  CHECK(num::f16_to_f32(0x0001) == 0x1p-24f);
}

TEST_CASE("bf16 <-> fp32 against the frexp reference and the generic rounding, on strides") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint32_t expect = h << 16;
    if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) expect |= 0x400000;
    REQUIRE(fbits(num::bf16_to_f32(uint16_t(h))) == expect);
  }
  // Every 61st fp32 pattern (about 70 million) against the generic rounding from double, every
  // 997th against the frexp reference, then every bf16 midpoint and its neighbours.
  for (uint64_t b = 0; b <= 0xffffffffu; b += 61) {
    const float f = ffrom(uint32_t(b));
    if (num::f32_to_bf16(f) != num::f64_to_bf16(f)) {
      INFO("fp32 0x" << std::hex << b);
      REQUIRE(num::f32_to_bf16(f) == num::f64_to_bf16(f));
    }
  }
  for (uint64_t b = 0; b <= 0xffffffffu; b += 997) {
    const float f = ffrom(uint32_t(b));
    INFO("fp32 0x" << std::hex << b);
    REQUIRE(num::f32_to_bf16(f) == ref_bf16(f));
  }
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7f80) == 0x7f80) continue;
    for (uint32_t b : {(h << 16) | 0x8000, (h << 16) | 0x7fff, (h << 16) | 0x8001}) {
      INFO("fp32 0x" << std::hex << b);
      REQUIRE(num::f32_to_bf16(ffrom(b)) == ref_bf16(ffrom(b)));
    }
  }
  CHECK(num::f32_to_bf16(ffrom(0x3f808000)) == 0x3f80); // tie to even (down)
  CHECK(num::f32_to_bf16(ffrom(0x3f818000)) == 0x3f82); // tie to even (up)
  CHECK(num::f32_to_bf16(ffrom(0x7f7fffff)) == 0x7f80); // fp32 max rounds to inf
  CHECK(num::f32_to_bf16(ffrom(0x00008000)) == 0x0000); // subnormal tie to even
  CHECK(num::f32_to_bf16(ffrom(0x00018000)) == 0x0002);
  CHECK(num::f32_to_bf16(ffrom(0xff800001)) == 0xffc0); // sNaN -> quiet
}

TEST_CASE("double -> fp16/bf16/fp32 round once, directly") {
  std::mt19937_64 rng(2);
  for (int i = 0; i < 2000000; ++i) {
    uint64_t b = rng();
    if (i % 3 != 0) b = (b & 0x800fffffffffffffull) | uint64_t(1023 - 140 + rng() % 270) << 52;
    const double d = bits_as<double>(b);
    INFO("double 0x" << std::hex << b);
    REQUIRE(num::f64_to_f16(d) == half_bits(d));
    REQUIRE(fbits(num::f64_to_f32(d)) == fbits(float(d)));
    if (!std::isnan(d)) REQUIRE(num::f64_to_bf16(d) == expect_bits(d, kBF16));
  }
  // A value that double rounding through fp32 would get wrong: 1 + 2^-8 + 2^-30 must round up in
  // bf16, but via fp32 it becomes the tie 1 + 2^-8, which rounds down to even.
  CHECK(num::f64_to_bf16(1.0 + 0x1p-8 + 0x1p-30) == 0x3f81);
  CHECK(num::f32_to_bf16(float(1.0 + 0x1p-8 + 0x1p-30)) == 0x3f80);
}

TEST_CASE("float -> integer: nearest even, saturating, NaN -> 0") {
  const float specials[] = {0.5f,           1.5f,      2.5f,          -0.5f,         -1.5f,
                            -2.5f,          127.5f,    128.0f,        -128.5f,       -129.0f,
                            32767.5f,       -32768.5f, 2147483520.0f, 2147483648.0f, -2147483648.0f,
                            -2147483904.0f, 1e30f,     -1e30f,        INFINITY,      -INFINITY,
                            0.49999997f,    -0.0f,     ffrom(1),      8388609.0f,    16777215.0f};
  std::vector<float> values(std::begin(specials), std::end(specials));
  std::mt19937 rng(3);
  for (int i = 0; i < 200000; ++i) values.push_back(ffrom((rng() & 0x807fffff) | (120 + rng() % 40) << 23));
  for (DType d : kIntTypes)
    for (float f : values) {
      const int64_t ref = ref_clamp(int64_t(std::clamp(std::nearbyint(double(f)), -1e12, 1e12)), d);
      INFO(tsp::isa::dtype_name(d) << " " << f);
      REQUIRE(num::float_to_int(f, d) == ref);
    }
  CHECK(num::float_to_int(NAN, DType::i8) == 0);
  CHECK(num::float_to_int(-2.5f, DType::i8) == -2);
  CHECK(num::float_to_int(3.5f, DType::i16) == 4);
  CHECK(num::float_to_int(2147483648.0f, DType::i32) == 2147483647);
}

TEST_CASE("integer -> float rounds once to the target") {
  std::vector<int64_t> values = {0,          1,
                                 -1,         2049,
                                 2051,       65504,
                                 65519,      65520,
                                 70000,      -70000,
                                 16777217,   (1 << 24) + (1 << 16) + 1,
                                 2147483647, -2147483648LL,
                                 0x1000081};
  std::mt19937 rng(4);
  for (int i = 0; i < 300000; ++i) values.push_back(int32_t(rng()) >> (rng() % 31));
  for (int64_t v : values) {
    INFO(v);
    REQUIRE(num::int_to_float_bits(v, DType::f32) == fbits(float(int32_t(v))));
    REQUIRE(num::int_to_float_bits(v, DType::f16) == half_bits(int32_t(v)));
    REQUIRE(num::int_to_float_bits(v, DType::bf16) == expect_bits(v, kBF16));
  }
  // Direct rounding differs from rounding through fp32 here (see the double -> bf16 case).
  CHECK(num::int_to_float_bits((1 << 24) + (1 << 16) + 1, DType::bf16) == 0x4b81);
}

TEST_CASE("element access saturates integers and rounds floats") {
  Vec v(DType::i16, 4);
  num::store_int(v.g(), DType::i16, 0, 40000);
  num::store_int(v.g(), DType::i16, 1, -40000);
  num::store_int(v.g(), DType::i16, 2, -5);
  CHECK(v.get(0) == 0x7fff);
  CHECK(v.get(1) == 0x8000);
  CHECK(num::load_int(v.c(), DType::i16, 2) == -5);
  Vec f(DType::f16, 2);
  num::store_float(f.g(), DType::f16, 0, 1.0 + 0x1p-11 + 0x1p-40); // just above a tie
  CHECK(f.get(0) == 0x3c01);
  CHECK(num::load_float(f.c(), DType::f16, 0) == 1.0f + 0x1p-10f);
  Vec w(DType::i32, 1);
  num::store_bits(w.g(), DType::i32, 0, 0x12345678);
  CHECK(w.planes[0][0] == 0x78);
  CHECK(w.planes[3][0] == 0x12);
  CHECK(num::load_bits(w.c(), DType::i32, 0) == 0x12345678);
  CHECK_THROWS_MATCHES(num::load_float(w.c(), DType::i32, 0), std::invalid_argument,
                       Message("load_float: dtype i32 not accepted"));
  float out = 0;
  CHECK_THROWS_MATCHES(num::widen_to_f32(DType::i8, w.c(), 1, &out), std::invalid_argument,
                       Message("widen_to_f32: dtype i8 is not a float type"));
}

// ---------------------------------------------------------------------------------------------
// VXM

TEST_CASE("vxm_op_supports: transcendentals are float-only, non-VXM opcodes are rejected") {
  for (DType d : kAllTypes) {
    const bool f = tsp::isa::dtype_is_float(d);
    for (Opcode op : {Opcode::v_tanh, Opcode::v_exp, Opcode::v_rsqrt, Opcode::v_recip})
      CHECK(num::vxm_op_supports(op, d) == f);
    for (Opcode op : {Opcode::v_mov, Opcode::v_neg, Opcode::v_abs, Opcode::v_relu, Opcode::v_add,
                      Opcode::v_sub, Opcode::v_mul, Opcode::v_max, Opcode::v_min, Opcode::v_and, Opcode::v_or,
                      Opcode::v_xor, Opcode::v_cmpeq, Opcode::v_cmplt, Opcode::v_cmple, Opcode::v_sel,
                      Opcode::v_splat, Opcode::v_cvt, Opcode::v_requant})
      CHECK(num::vxm_op_supports(op, d));
    CHECK_FALSE(num::vxm_op_supports(Opcode::abc, d));
    CHECK_FALSE(num::vxm_op_supports(Opcode::shift, d));
  }
  CHECK_FALSE(num::vxm_op_supports(Opcode::v_add, DType::count));
  Vec a(DType::i8, 4);
  CHECK_THROWS_MATCHES(num::vxm_unary(Opcode::v_tanh, DType::i8, a.g(), a.c(), 4), std::invalid_argument,
                       Message("VXM tanh does not accept dtype i8"));
  CHECK_THROWS_MATCHES(num::vxm_unary(Opcode::v_add, DType::i8, a.g(), a.c(), 4), std::invalid_argument,
                       Message("add is not a VXM integer unary operation"));
  CHECK_THROWS_MATCHES(num::vxm_binary(Opcode::v_exp, DType::f32, a.g(), a.c(), a.c(), 4),
                       std::invalid_argument, Message("exp is not a VXM binary operation"));
}

namespace {

// Reference integer ops in int64.
int64_t ref_int(Opcode op, int64_t x, int64_t y, DType d) {
  switch (op) {
  case Opcode::v_neg:
    return -x;
  case Opcode::v_abs:
    return x < 0 ? -x : x;
  case Opcode::v_relu:
    return std::max<int64_t>(x, 0);
  case Opcode::v_add:
    return ref_clamp(x + y, d);
  case Opcode::v_sub:
    return ref_clamp(x - y, d);
  case Opcode::v_mul:
    return ref_clamp(x * y, d);
  case Opcode::v_max:
    return std::max(x, y);
  case Opcode::v_min:
    return std::min(x, y);
  case Opcode::v_cmpeq:
    return x == y ? -1 : 0;
  case Opcode::v_cmplt:
    return x < y ? -1 : 0;
  case Opcode::v_cmple:
    return x <= y ? -1 : 0;
  default:
    FAIL("no reference");
    return 0;
  }
}

const Opcode kIntUnary[] = {Opcode::v_neg, Opcode::v_abs, Opcode::v_relu};
const Opcode kArith[] = {Opcode::v_add, Opcode::v_sub,   Opcode::v_mul,   Opcode::v_max,
                         Opcode::v_min, Opcode::v_cmpeq, Opcode::v_cmplt, Opcode::v_cmple};

} // namespace

TEST_CASE("VXM integer ops: saturating add/sub/mul, wrapping neg/abs, compares, active lanes") {
  constexpr size_t kLanes = 4000, kActive = 3990;
  for (DType d : kIntTypes) {
    auto pa = patterns(d, kLanes, 10);
    auto pb = patterns(d, kLanes, 11);
    std::shuffle(pb.begin(), pb.end(), std::mt19937(5)); // pairs every special with others
    const Vec a = make_vec(d, pa), b = make_vec(d, pb);
    for (Opcode op : kIntUnary) {
      Vec dst(d, kLanes, 0xa5);
      num::vxm_unary(op, d, dst.g(), a.c(), kActive);
      for (size_t i = 0; i < kActive; ++i) {
        INFO(tsp::isa::spec(op).mnemonic << "." << tsp::isa::dtype_name(d) << " " << a.get_int(i));
        REQUIRE(dst.get(i) == to_bits(ref_int(op, a.get_int(i), 0, d), d));
      }
      check_untouched(dst, kActive);
    }
    for (Opcode op : kArith) {
      Vec dst(d, kLanes, 0xa5);
      num::vxm_binary(op, d, dst.g(), a.c(), b.c(), kActive);
      for (size_t i = 0; i < kActive; ++i) {
        INFO(tsp::isa::spec(op).mnemonic << "." << tsp::isa::dtype_name(d) << " " << a.get_int(i) << ", "
                                         << b.get_int(i));
        REQUIRE(dst.get(i) == to_bits(ref_int(op, a.get_int(i), b.get_int(i), d), d));
      }
      check_untouched(dst, kActive);
    }
  }
  // Spot values.
  Vec a = make_vec(DType::i8, {0x80, 0x7f, 0x64});
  Vec b = make_vec(DType::i8, {0x01, 0x01, 0x02});
  Vec dst(DType::i8, 3);
  num::vxm_unary(Opcode::v_abs, DType::i8, dst.g(), a.c(), 3);
  CHECK(dst.get(0) == 0x80); // |-128| wraps to -128
  num::vxm_binary(Opcode::v_add, DType::i8, dst.g(), a.c(), b.c(), 3);
  CHECK(dst.get(1) == 0x7f); // 127 + 1 saturates
  num::vxm_binary(Opcode::v_mul, DType::i8, dst.g(), a.c(), b.c(), 3);
  CHECK(dst.get(2) == 0x7f); // 100 * 2 saturates
  num::vxm_binary(Opcode::v_sub, DType::i8, dst.g(), a.c(), b.c(), 3);
  CHECK(dst.get(0) == 0x80); // -128 - 1 saturates
}

TEST_CASE("VXM bitwise ops, mov, sel and splat on every dtype") {
  constexpr size_t kLanes = 333, kActive = 300;
  for (DType d : kAllTypes) {
    const Vec a = make_vec(d, patterns(d, kLanes, 20));
    const Vec b = make_vec(d, patterns(d, kLanes, 21));
    auto mask_values = patterns(d, kLanes, 22);
    for (size_t i = 0; i < kLanes; i += 3) mask_values[i] = 0;
    // Non-zero in one byte only (for floats: -0.0 counts as non-zero: the mask is bits).
    for (size_t i = 1; i < kLanes; i += 7) mask_values[i] = 1u << (8 * (i % tsp::isa::dtype_bytes(d)));
    const Vec mask = make_vec(d, mask_values);
    INFO(tsp::isa::dtype_name(d));
    for (Opcode op : {Opcode::v_and, Opcode::v_or, Opcode::v_xor}) {
      Vec dst(d, kLanes, 0xa5);
      num::vxm_binary(op, d, dst.g(), a.c(), b.c(), kActive);
      for (size_t i = 0; i < kActive; ++i) {
        const uint32_t x = a.get(i), y = b.get(i);
        REQUIRE(dst.get(i) == (op == Opcode::v_and ? x & y : op == Opcode::v_or ? x | y : x ^ y));
      }
      check_untouched(dst, kActive);
    }
    Vec mov(d, kLanes, 0xa5);
    num::vxm_unary(Opcode::v_mov, d, mov.g(), a.c(), kActive);
    for (size_t i = 0; i < kActive; ++i) REQUIRE(mov.get(i) == a.get(i));
    check_untouched(mov, kActive);
    Vec sel(d, kLanes, 0xa5);
    num::vxm_select(d, sel.g(), mask.c(), a.c(), b.c(), kActive);
    for (size_t i = 0; i < kActive; ++i) REQUIRE(sel.get(i) == (mask.get(i) != 0 ? a.get(i) : b.get(i)));
    check_untouched(sel, kActive);
    Vec splat(d, kLanes, 0xa5);
    num::vxm_splat(d, splat.g(), 0x3fc00001, kActive); // fp32 1.5000001
    const uint32_t expect = d == DType::f16 ? 0x3e00 : d == DType::bf16 ? 0x3fc0 : to_bits(0x3fc00001, d);
    for (size_t i = 0; i < kActive; ++i) REQUIRE(splat.get(i) == expect);
    check_untouched(splat, kActive);
  }
  Vec s(DType::bf16, 1);
  num::vxm_splat(DType::bf16, s.g(), 0x3f818000, 1); // tie -> even
  CHECK(s.get(0) == 0x3f82);
}

TEST_CASE("VXM: every op and dtype writes exactly the active lanes") {
  constexpr size_t kLanes = 700, kActive = 333; // more than one block of lanes, partial last block
  std::vector<Opcode> ops;
  for (const auto& spec : tsp::isa::opcodes())
    if (spec.unit == tsp::isa::Unit::vxm) ops.push_back(spec.opcode);
  REQUIRE(ops.size() == 23);
  size_t runs = 0;
  for (Opcode op : ops)
    for (DType d : kAllTypes) {
      if (!num::vxm_op_supports(op, d)) continue;
      const DType from = d == DType::i8 ? DType::f32 : DType::i8; // source type of cvt/requant
      const DType a_type = op == Opcode::v_cvt || op == Opcode::v_requant ? from : d;
      const Vec a = make_vec(a_type, patterns(a_type, kLanes, 90));
      const Vec b = make_vec(d, patterns(d, kLanes, 91));
      auto run = [&](Vec& dst, size_t active) {
        switch (op) {
        case Opcode::v_mov:
        case Opcode::v_neg:
        case Opcode::v_abs:
        case Opcode::v_relu:
        case Opcode::v_tanh:
        case Opcode::v_exp:
        case Opcode::v_rsqrt:
        case Opcode::v_recip:
          return num::vxm_unary(op, d, dst.g(), a.c(), active);
        case Opcode::v_sel:
          return num::vxm_select(d, dst.g(), b.c(), a.c(), b.c(), active);
        case Opcode::v_splat:
          return num::vxm_splat(d, dst.g(), 0x40490fdb, active);
        case Opcode::v_cvt:
          return num::vxm_convert(d, from, dst.g(), a.c(), active);
        case Opcode::v_requant:
          return num::vxm_requant(d, from, dst.g(), a.c(), 0x3e000000, active);
        default:
          return num::vxm_binary(op, d, dst.g(), a.c(), b.c(), active);
        }
      };
      Vec full(d, kLanes), part(d, kLanes, 0xa5);
      run(full, kLanes);
      run(part, kActive);
      INFO(tsp::isa::spec(op).mnemonic << "." << tsp::isa::dtype_name(d));
      for (size_t i = 0; i < kActive; ++i) REQUIRE(part.get(i) == full.get(i));
      check_untouched(part, kActive);
      ++runs;
    }
  REQUIRE(runs == 23 * 6 - 4 * 3); // transcendentals are float-only
}

TEST_CASE("VXM mov, and and sel accept dst equal to a source") {
  Vec a = make_vec(DType::i32, {1, 2, 0xffff0000});
  const Vec b = make_vec(DType::i32, {3, 3, 0x00ffff00});
  num::vxm_binary(Opcode::v_and, DType::i32, a.g(), a.c(), b.c(), 3);
  CHECK(a.get(0) == 1);
  CHECK(a.get(1) == 2);
  CHECK(a.get(2) == 0x00ff0000);
  num::vxm_binary(Opcode::v_add, DType::i32, a.g(), a.c(), b.c(), 3);
  CHECK(a.get(0) == 4);
  CHECK(a.get(2) == 0x01feff00u);
}

namespace {

// Exact result of a float op on exact operands (long double holds every sum, difference and
// product of two fp32 values whose exponents differ by less than 40; the rest round as doubles
// would, which is innocuous for the final rounding to at most 24 bits).
long double ref_float(Opcode op, long double x, long double y) {
  switch (op) {
  case Opcode::v_add:
    return x + y;
  case Opcode::v_sub:
    return x - y;
  case Opcode::v_mul:
    return x * y;
  default:
    FAIL("no reference");
    return 0;
  }
}

uint32_t ref_max_min(Opcode op, uint32_t a, uint32_t b, const Format& f) {
  const long double x = value_of(a, f.dtype), y = value_of(b, f.dtype);
  if (std::isnan(x) || std::isnan(y)) return canonical_nan(f.dtype);
  if (x == y) { // only +0/-0 differ: max prefers +0, min prefers -0
    const bool a_neg = std::signbit(x);
    return op == Opcode::v_max ? (a_neg ? b : a) : (a_neg ? a : b);
  }
  return (op == Opcode::v_max) == (x > y) ? a : b;
}

} // namespace

TEST_CASE("VXM float arithmetic is correctly rounded in every float dtype") {
  constexpr size_t kLanes = 200000;
  for (const Format& f : kFloatFormats) {
    const DType d = f.dtype;
    auto pa = patterns(d, kLanes, 30);
    auto pb = patterns(d, kLanes, 31);
    std::shuffle(pb.begin(), pb.end(), std::mt19937(6));
    const Vec a = make_vec(d, pa), b = make_vec(d, pb);
    for (Opcode op : {Opcode::v_add, Opcode::v_sub, Opcode::v_mul}) {
      Vec dst(d, kLanes);
      num::vxm_binary(op, d, dst.g(), a.c(), b.c(), kLanes);
      for (size_t i = 0; i < kLanes; ++i) {
        const long double x = value_of(a.get(i), d), y = value_of(b.get(i), d);
        INFO(tsp::isa::spec(op).mnemonic << "." << tsp::isa::dtype_name(d) << std::hex << " 0x" << a.get(i)
                                         << " 0x" << b.get(i));
        uint32_t expect = expect_bits(ref_float(op, x, y), f);
        if (d == DType::f32) { // the fp32 reference: double then float (exact operands, one rounding)
          const double r = op == Opcode::v_add   ? double(x) + double(y)
                           : op == Opcode::v_sub ? double(x) - double(y)
                                                 : double(x) * double(y);
          expect = std::isnan(r) ? canonical_nan(d) : fbits(float(r));
        }
        REQUIRE(dst.get(i) == expect);
      }
    }
    for (Opcode op : {Opcode::v_max, Opcode::v_min, Opcode::v_cmpeq, Opcode::v_cmplt, Opcode::v_cmple}) {
      Vec dst(d, kLanes);
      num::vxm_binary(op, d, dst.g(), a.c(), b.c(), kLanes);
      for (size_t i = 0; i < kLanes; ++i) {
        const long double x = value_of(a.get(i), d), y = value_of(b.get(i), d);
        uint32_t expect;
        if (op == Opcode::v_max || op == Opcode::v_min)
          expect = ref_max_min(op, a.get(i), b.get(i), f);
        else {
          const bool r = op == Opcode::v_cmpeq ? x == y : op == Opcode::v_cmplt ? x < y : x <= y;
          expect = r ? to_bits(-1, d) : 0;
        }
        REQUIRE(dst.get(i) == expect);
      }
    }
    Vec dst(d, kLanes);
    num::vxm_unary(Opcode::v_relu, d, dst.g(), a.c(), kLanes);
    for (size_t i = 0; i < kLanes; ++i) {
      const long double x = value_of(a.get(i), d);
      REQUIRE(dst.get(i) == (std::isnan(x) ? canonical_nan(d) : x > 0 ? a.get(i) : 0));
    }
    const uint32_t sign = d == DType::f32 ? 0x80000000 : 0x8000;
    num::vxm_unary(Opcode::v_neg, d, dst.g(), a.c(), kLanes);
    for (size_t i = 0; i < kLanes; ++i) REQUIRE(dst.get(i) == (a.get(i) ^ sign));
    num::vxm_unary(Opcode::v_abs, d, dst.g(), a.c(), kLanes);
    for (size_t i = 0; i < kLanes; ++i) REQUIRE(dst.get(i) == (a.get(i) & ~sign));
  }
  // Spot values: -0 vs +0, NaN, overflow in a 16-bit type.
  Vec a = make_vec(DType::f16, {0x8000, 0x7e01, 0x7bff, 0x3c00});
  Vec b = make_vec(DType::f16, {0x0000, 0x3c00, 0x7bff, 0x1000});
  Vec dst(DType::f16, 4);
  num::vxm_binary(Opcode::v_max, DType::f16, dst.g(), a.c(), b.c(), 4);
  CHECK(dst.get(0) == 0x0000);
  CHECK(dst.get(1) == 0x7e00);
  num::vxm_binary(Opcode::v_min, DType::f16, dst.g(), a.c(), b.c(), 4);
  CHECK(dst.get(0) == 0x8000);
  num::vxm_binary(Opcode::v_add, DType::f16, dst.g(), a.c(), b.c(), 4);
  CHECK(dst.get(0) == 0x0000); // -0 + +0 = +0
  CHECK(dst.get(2) == 0x7c00); // 65504 + 65504 overflows to inf
  CHECK(dst.get(3) == 0x3c00); // 1 + 2^-11 is a tie: stays at 1.0 (even)
  num::vxm_binary(Opcode::v_cmpeq, DType::f16, dst.g(), a.c(), b.c(), 4);
  CHECK(dst.get(0) == 0xffff); // -0 == +0
  CHECK(dst.get(1) == 0x0000); // NaN == x is false
}

namespace {

long double ref_transcendental(Opcode op, long double x) {
  switch (op) {
  case Opcode::v_tanh:
    return std::tanh(x);
  case Opcode::v_exp:
    return std::exp(x);
  case Opcode::v_rsqrt:
    return 1.0L / std::sqrt(x);
  default:
    return 1.0L / x;
  }
}

const Opcode kTranscendentals[] = {Opcode::v_tanh, Opcode::v_exp, Opcode::v_rsqrt, Opcode::v_recip};

} // namespace

TEST_CASE("VXM transcendentals: fp16 and bf16 correctly rounded for all 65536 inputs") {
  std::vector<uint32_t> all(0x10000);
  for (uint32_t i = 0; i < 0x10000; ++i) all[i] = i;
  for (const Format& f : {kF16, kBF16}) {
    const Vec src = make_vec(f.dtype, all);
    for (Opcode op : kTranscendentals) {
      Vec dst(f.dtype, all.size());
      num::vxm_unary(op, f.dtype, dst.g(), src.c(), all.size());
      for (uint32_t i = 0; i < 0x10000; ++i) {
        const long double ref = ref_transcendental(op, value_of(i, f.dtype));
        INFO(tsp::isa::spec(op).mnemonic << "." << tsp::isa::dtype_name(f.dtype) << std::hex << " 0x" << i);
        REQUIRE(dst.get(i) == expect_bits(ref, f));
        if (f.dtype == DType::f16 && !std::isnan(ref)) REQUIRE(dst.get(i) == half_bits(ref));
      }
    }
  }
}

TEST_CASE("VXM transcendentals: fp32 within 0.5 ulp + 2^-20 of long double on 1 million inputs") {
  // Every 4099th fp32 pattern: all signs, binades, subnormals, infinities and NaNs.
  std::vector<uint32_t> inputs;
  for (uint64_t b = 0; b <= 0xffffffffu; b += 4099) inputs.push_back(uint32_t(b));
  const Vec src = make_vec(DType::f32, inputs);
  for (Opcode op : kTranscendentals) {
    Vec dst(DType::f32, inputs.size());
    num::vxm_unary(op, DType::f32, dst.g(), src.c(), inputs.size());
    double worst = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const long double ref = ref_transcendental(op, ffrom(inputs[i]));
      const float got = ffrom(dst.get(i));
      INFO(tsp::isa::spec(op).mnemonic << std::hex << " 0x" << inputs[i]);
      if (std::isnan(ref)) {
        REQUIRE(dst.get(i) == 0x7fc00000);
        continue;
      }
      const long double rounded = ref_round(ref, 24, -126, 127);
      if (std::isinf(rounded) || rounded == 0 || std::isinf(ref)) {
        REQUIRE(fbits(got) == fbits(float(rounded)));
        continue;
      }
      int e;
      std::frexp(std::fabs(ref), &e);
      const long double ulp = std::ldexp(1.0L, std::max(e - 1, -126) - 23);
      worst = std::max(worst, double(std::fabs(got - ref) / ulp));
    }
    INFO(tsp::isa::spec(op).mnemonic << " worst error " << worst << " ulp");
    REQUIRE(worst <= 0.5 + 0x1p-20);
  }
}

TEST_CASE("VXM transcendentals: special values") {
  const Vec src =
      make_vec(DType::f32, {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0xbf800000, 0x42b20000});
  Vec dst(DType::f32, 6);
  num::vxm_unary(Opcode::v_rsqrt, DType::f32, dst.g(), src.c(), 6);
  CHECK(dst.get(0) == 0x7f800000); // 1/sqrt(+0) = +inf
  CHECK(dst.get(1) == 0xff800000); // 1/sqrt(-0) = -inf
  CHECK(dst.get(2) == 0x00000000);
  CHECK(dst.get(4) == 0x7fc00000); // negative -> NaN
  num::vxm_unary(Opcode::v_exp, DType::f32, dst.g(), src.c(), 6);
  CHECK(dst.get(0) == 0x3f800000);
  CHECK(dst.get(3) == 0x00000000); // e^-inf
  CHECK(dst.get(5) == 0x7f800000); // e^89 overflows
  num::vxm_unary(Opcode::v_tanh, DType::f32, dst.g(), src.c(), 6);
  CHECK(dst.get(1) == 0x80000000);
  CHECK(dst.get(2) == 0x3f800000);
  num::vxm_unary(Opcode::v_recip, DType::f32, dst.g(), src.c(), 6);
  CHECK(dst.get(1) == 0xff800000);
  CHECK(dst.get(3) == 0x80000000);
}

namespace {

// Reference conversion of one element, from independent pieces.
uint32_t ref_convert(uint32_t bits, DType from, DType to) {
  const bool fi = tsp::isa::dtype_is_float(from), ti = tsp::isa::dtype_is_float(to);
  if (!fi) {
    const int64_t v = sign_extend(bits, from);
    if (!ti) return to_bits(ref_clamp(v, to), to);
    if (to == DType::f16) return half_bits(int32_t(v));
    return to == DType::f32 ? fbits(float(int32_t(v))) : expect_bits(v, kBF16);
  }
  const long double x = value_of(bits, from);
  if (!ti)
    return to_bits(std::isnan(x) ? 0 : ref_clamp(int64_t(std::clamp(std::nearbyint(x), -1e12L, 1e12L)), to),
                   to);
  if (std::isnan(x)) { // quiet, sign and top payload kept
    const uint32_t sign = (from == DType::f32 ? bits >> 31 : bits >> 15) & 1;
    const uint32_t payload = from == DType::f32   ? bits & 0x7fffff
                             : from == DType::f16 ? (bits & 0x3ff) << 13
                                                  : (bits & 0x7f) << 16;
    const uint32_t f32 = sign << 31 | 0x7fc00000 | payload;
    return to == DType::f32 ? f32 : to == DType::f16 ? uint32_t(half_bits(ffrom(f32))) : ref_bf16(ffrom(f32));
  }
  switch (to) {
  case DType::f16:
    return half_bits(float(x));
  case DType::bf16:
    return ref_bf16(float(x));
  default:
    return fbits(float(x));
  }
}

} // namespace

TEST_CASE("VXM cvt: every (to, from) pair against the reference conversions") {
  constexpr size_t kLanes = 20000, kActive = 19999;
  for (DType from : kAllTypes) {
    const Vec src = make_vec(from, patterns(from, kLanes, 40));
    for (DType to : kAllTypes) {
      Vec dst(to, kLanes, 0xa5);
      num::vxm_convert(to, from, dst.g(), src.c(), kActive);
      for (size_t i = 0; i < kActive; ++i) {
        INFO("cvt " << tsp::isa::dtype_name(to) << " <- " << tsp::isa::dtype_name(from) << std::hex << " 0x"
                    << src.get(i));
        REQUIRE(dst.get(i) == ref_convert(src.get(i), from, to));
      }
      check_untouched(dst, kActive);
    }
  }
}

TEST_CASE("VXM cvt fp32 -> integers on every 257th fp32 pattern") {
  std::vector<uint32_t> inputs;
  for (uint64_t b = 0; b <= 0xffffffffu; b += 257) inputs.push_back(uint32_t(b));
  const Vec src = make_vec(DType::f32, inputs);
  for (DType to : kIntTypes) {
    Vec dst(to, inputs.size());
    num::vxm_convert(to, DType::f32, dst.g(), src.c(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const double x = ffrom(inputs[i]);
      const int64_t expect =
          std::isnan(x) ? 0 : ref_clamp(int64_t(std::clamp(std::nearbyint(x), -1e12, 1e12)), to);
      if (dst.get_int(i) != expect) {
        INFO(tsp::isa::dtype_name(to) << std::hex << " 0x" << inputs[i]);
        REQUIRE(dst.get_int(i) == expect);
      }
    }
  }
}

TEST_CASE("VXM requant: fp32 product, then nearest even and saturation") {
  constexpr size_t kLanes = 20000;
  const float scales[] = {0.0123f, -3.75f, 1.0f / 4096, 65536.0f};
  for (DType from : kAllTypes) {
    const Vec src = make_vec(from, patterns(from, kLanes, 50));
    for (DType to : kAllTypes)
      for (float scale : scales) {
        Vec dst(to, kLanes, 0xa5);
        num::vxm_requant(to, from, dst.g(), src.c(), fbits(scale), kLanes - 3);
        for (size_t i = 0; i + 3 < kLanes; ++i) {
          const float x =
              tsp::isa::dtype_is_float(from) ? float(value_of(src.get(i), from)) : float(src.get_int(i));
          const float p = x * scale;
          uint32_t expect;
          if (std::isnan(p))
            expect = tsp::isa::dtype_is_float(to) ? canonical_nan(to) : 0;
          else
            expect = ref_convert(fbits(p), DType::f32, to);
          INFO("requant " << tsp::isa::dtype_name(to) << " <- " << tsp::isa::dtype_name(from) << " scale "
                          << scale << std::hex << " 0x" << src.get(i));
          REQUIRE(dst.get(i) == expect);
        }
        check_untouched(dst, kLanes - 3);
      }
  }
  // int32 -> fp32 rounds before the product: 16777217 becomes 16777216, times 1 stays there.
  const Vec src = make_vec(DType::i32, {16777217, 0x7fffffff});
  Vec dst(DType::i32, 2);
  num::vxm_requant(DType::i32, DType::i32, dst.g(), src.c(), fbits(1.0f), 2);
  CHECK(dst.get(0) == 16777216);
  CHECK(dst.get(1) == 0x7fffffff); // 2^31 saturates
  Vec d8(DType::i8, 2);
  num::vxm_requant(DType::i8, DType::i32, d8.g(), src.c(), fbits(0x1p-24f), 2);
  CHECK(d8.get(0) == 1);
  CHECK(d8.get(1) == 127);
}

// ---------------------------------------------------------------------------------------------
// MXM

namespace {

struct I8Problem {
  size_t k, n;
  std::vector<std::vector<uint8_t>> rows; // k rows of n bytes
  std::vector<const uint8_t*> row_ptrs;
  std::vector<int16_t> packed;

  // fill = 0: random weights, else every weight is the byte `fill`.
  I8Problem(size_t k_, size_t n_, std::mt19937& rng, uint8_t fill = 0) : k(k_), n(n_), rows(k_) {
    for (auto& r : rows) {
      r.resize(n);
      for (auto& b : r) b = fill ? fill : uint8_t(rng());
      row_ptrs.push_back(r.data());
    }
    packed.resize(k * n);
    num::pack_weights_i8(row_ptrs.data(), k, n, packed.data());
  }

  // Naive int64 reference, wrapped to int32 at the end.
  std::vector<int32_t> reference(const int8_t* act, const int32_t* initial) const {
    std::vector<int32_t> out(n);
    for (size_t j = 0; j < n; ++j) {
      int64_t s = initial ? initial[j] : 0;
      for (size_t kk = 0; kk < k; ++kk) s += int64_t(act[kk]) * int8_t(rows[kk][j]);
      out[j] = int32_t(uint32_t(uint64_t(s)));
    }
    return out;
  }
};

} // namespace

TEST_CASE("MXM int8 matvec equals the naive int64 loop, including wrap-around") {
  std::mt19937 rng(60);
  struct Shape {
    size_t k, n;
    uint8_t weight; // 0: random
    int8_t act;     // 0: random
  };
  // Extremes: every product +2^14 (the largest), or every product -16256 (the smallest).
  for (Shape s : {Shape{320, 320, 0, 0}, Shape{37, 45, 0, 0}, Shape{2500, 20, 0, 0},
                  Shape{320, 320, 0x80, -128}, Shape{321, 40, 0x7f, -128}, Shape{1, 3, 0, 0}}) {
    I8Problem p(s.k, s.n, rng, s.weight);
    std::vector<int8_t> act(s.k);
    for (auto& a : act) a = s.act ? s.act : int8_t(rng());
    std::vector<int32_t> initial(s.n);
    for (auto& v : initial) v = int32_t(rng());
    initial[0] = 0x7fffff00; // the add below must wrap
    std::vector<int32_t> out(s.n, 12345);
    num::matvec_i8(p.packed.data(), act.data(), out.data(), s.k, s.n, false);
    INFO("K=" << s.k << " N=" << s.n);
    REQUIRE(out == p.reference(act.data(), nullptr));
    out = initial;
    num::matvec_i8(p.packed.data(), act.data(), out.data(), s.k, s.n, true);
    REQUIRE(out == p.reference(act.data(), initial.data()));
    if (s.weight)
      REQUIRE(out[1] == int32_t(uint32_t(initial[1]) + uint32_t(int64_t(s.k) * int8_t(s.weight) * s.act)));
    std::vector<int32_t> direct(s.n, 12345);
    num::matmul_i8_rows(p.row_ptrs.data(), act.data(), direct.data(), 1, s.k, s.n, false);
    REQUIRE(direct == p.reference(act.data(), nullptr));
    direct = initial;
    num::matmul_i8_rows(p.row_ptrs.data(), act.data(), direct.data(), 1, s.k, s.n, true);
    REQUIRE(direct == out);
  }
}

TEST_CASE("MXM int8 matmul and matmul_i8_rows are bit-identical to per-vector matvec") {
  const auto level = GENERATE(num::KernelLevel::baseline, num::KernelLevel::avx2, num::KernelLevel::avx512);
  num::limit_kernel_level(level);
  INFO("kernel level: " << num::kernel_level_name(num::kernel_level()));
  std::mt19937 rng(61);
  I8Problem p(300, 70, rng);
  // 17 and 40: batches that matmul_i8 splits over two cores on a 2-core host.
  for (size_t m : {1, 3, 4, 5, 8, 9, 17, 40}) {
    std::vector<int8_t> acts(m * p.k);
    for (auto& a : acts) a = int8_t(rng());
    std::vector<int32_t> init(m * p.n);
    for (auto& v : init) v = int32_t(rng());
    for (bool add : {false, true}) {
      std::vector<int32_t> batched = init, single = init;
      num::matmul_i8(p.packed.data(), acts.data(), batched.data(), m, p.k, p.n, add);
      for (size_t r = 0; r < m; ++r)
        num::matvec_i8(p.packed.data(), acts.data() + r * p.k, single.data() + r * p.n, p.k, p.n, add);
      std::vector<int32_t> direct = init;
      num::matmul_i8_rows(p.row_ptrs.data(), acts.data(), direct.data(), m, p.k, p.n, add);
      INFO("m=" << m << " add=" << add);
      REQUIRE(batched == single);
      REQUIRE(direct == single);
      for (size_t r = 0; r < m; ++r) {
        const auto ref = p.reference(acts.data() + r * p.k, add ? init.data() + r * p.n : nullptr);
        REQUIRE(std::equal(ref.begin(), ref.end(), batched.begin() + long(r * p.n)));
      }
    }
  }
}

namespace {

// fp32 sum in ascending k with explicit roundings that no contraction can merge: the product of
// two 16-bit floats is exact in double, float() rounds it as an fp32 multiply would, and the sum of
// two floats computed in double and rounded to float equals the fp32 sum.
float ref_dot_f32(const std::vector<float>& w, const float* act, size_t k, size_t n, size_t j) {
  float s = float(double(act[0]) * double(w[j]));
  for (size_t kk = 1; kk < k; ++kk)
    s = float(double(s) + double(float(double(act[kk]) * double(w[kk * n + j]))));
  return s;
}

struct FloatProblem {
  DType dtype;
  size_t k, n;
  std::vector<Vec> rows;
  std::vector<float> w;

  FloatProblem(DType d, size_t k_, size_t n_, std::mt19937& rng, int exp_lo, int exp_span)
      : dtype(d), k(k_), n(n_) {
    std::vector<num::ConstPlaneGroup> groups;
    rows.reserve(k);
    for (size_t kk = 0; kk < k; ++kk) {
      rows.emplace_back(d, n);
      for (size_t j = 0; j < n; ++j) rows.back().set(j, random_value(rng, exp_lo, exp_span));
      groups.push_back(rows.back().c());
    }
    w.resize(k * n);
    num::pack_weights_float(d, groups.data(), k, n, w.data());
  }

  uint32_t random_value(std::mt19937& rng, int exp_lo, int exp_span) const {
    const uint32_t sign = rng() & 1;
    if (dtype == DType::f16)
      return sign << 15 | uint32_t(exp_lo + int(rng() % exp_span)) << 10 | (rng() & 0x3ff);
    return sign << 15 | uint32_t(exp_lo + int(rng() % exp_span)) << 7 | (rng() & 0x7f);
  }
};

} // namespace

TEST_CASE("MXM fp16 and bf16 products: exact order in fp32, batched identical, error bound vs double") {
  const auto level = GENERATE(num::KernelLevel::baseline, num::KernelLevel::avx2, num::KernelLevel::avx512);
  num::limit_kernel_level(level);
  INFO("kernel level: " << num::kernel_level_name(num::kernel_level()));
  std::mt19937 rng(70);
  struct Case {
    DType d;
    int exp_lo, exp_span;
  };
  // fp16 around 1; bf16 around 1; bf16 with tiny weights so that products underflow in fp32.
  for (Case c : {Case{DType::f16, 10, 10}, Case{DType::bf16, 120, 14}, Case{DType::bf16, 1, 20}}) {
    FloatProblem p(c.d, 320, 100, rng, c.exp_lo, c.exp_span); // 100: every kernel leaves a tail
    const size_t m = 37; // 4-row blocks and single rows; split over two cores on a 2-core host
    Vec act_planes(c.d, p.k * m);
    for (size_t i = 0; i < p.k * m; ++i)
      act_planes.set(i, c.exp_lo < 10 ? p.random_value(rng, 100, 28)
                                      : p.random_value(rng, c.exp_lo, c.exp_span));
    std::vector<float> acts(p.k * m);
    num::widen_to_f32(c.d, act_planes.c(), acts.size(), acts.data());
    for (size_t i = 0; i < acts.size(); ++i) REQUIRE(acts[i] == float(value_of(act_planes.get(i), c.d)));
    for (size_t kk = 0; kk < p.k; ++kk)
      for (size_t j = 0; j < p.n; ++j) REQUIRE(p.w[kk * p.n + j] == float(value_of(p.rows[kk].get(j), c.d)));

    std::vector<float> init(m * p.n);
    for (auto& v : init) v = float(int(rng() % 2001) - 1000) / 64;
    for (bool add : {false, true}) {
      std::vector<float> batched = init, single = init;
      num::matmul_f32(p.w.data(), acts.data(), batched.data(), m, p.k, p.n, add);
      for (size_t r = 0; r < m; ++r)
        num::matvec_f32(p.w.data(), acts.data() + r * p.k, single.data() + r * p.n, p.k, p.n, add);
      INFO(tsp::isa::dtype_name(c.d) << " exponents " << c.exp_lo << " add=" << add);
      for (size_t i = 0; i < batched.size(); ++i) REQUIRE(fbits(batched[i]) == fbits(single[i]));
      size_t underflows = 0;
      for (size_t r = 0; r < m; ++r)
        for (size_t j = 0; j < p.n; ++j) {
          const float* a = acts.data() + r * p.k;
          float s = ref_dot_f32(p.w, a, p.k, p.n, j);
          if (add) s = float(double(init[r * p.n + j]) + double(s));
          REQUIRE(fbits(batched[r * p.n + j]) == fbits(s));
          // Against an exact double sum: |error| <= K * 2^-24 * (sum |p| (+ |init|)), the standard
          // bound for K sequential fp32 additions, when no product underflowed.
          double exact = add ? init[r * p.n + j] : 0, magnitude = add ? std::fabs(init[r * p.n + j]) : 0;
          for (size_t kk = 0; kk < p.k; ++kk) {
            const double prod = double(a[kk]) * double(p.w[kk * p.n + j]);
            exact += prod;
            magnitude += std::fabs(prod);
            if (prod != 0 && std::fabs(prod) < 0x1p-126) ++underflows;
          }
          if (c.exp_lo >= 10) REQUIRE(std::fabs(double(s) - exact) <= double(p.k + 1) * 0x1p-24 * magnitude);
        }
      if (c.exp_lo < 10) REQUIRE(underflows > 1000); // the case exercises fp32 product rounding
    }
  }
}

TEST_CASE("MXM fp32 products round before they are added (no fused multiply-add)") {
  // Column sums -2^127 + 2^64 * 2^64: the product overflows to +inf, so the sum is +inf. A fused
  // multiply-add would give 2^127. Every kernel and tail: 5 rows (4 + 1), 100 columns.
  for (auto level : {num::KernelLevel::baseline, num::KernelLevel::avx2, num::KernelLevel::avx512}) {
    num::limit_kernel_level(level);
    const size_t m = 5, k = 2, n = 100;
    std::vector<float> w(k * n), acts(m * k), out(m * n, 0.0f);
    for (size_t j = 0; j < n; ++j) {
      w[j] = 1.0f;
      w[n + j] = 0x1p64f;
    }
    for (size_t r = 0; r < m; ++r) {
      acts[r * k] = -0x1p127f;
      acts[r * k + 1] = 0x1p64f;
    }
    num::matmul_f32(w.data(), acts.data(), out.data(), m, k, n, false);
    for (float v : out) REQUIRE(fbits(v) == 0x7f800000);
  }
  num::limit_kernel_level(num::best_kernel_level());
}

TEST_CASE("MXM K = 0 and a 2-row remainder") {
  std::vector<int32_t> out = {5, 6};
  num::matmul_i8_rows(nullptr, nullptr, out.data(), 1, 0, 2, true);
  CHECK(out == std::vector<int32_t>{5, 6});
  num::matvec_i8(nullptr, nullptr, out.data(), 0, 2, true);
  CHECK(out == std::vector<int32_t>{5, 6});
  num::matvec_i8(nullptr, nullptr, out.data(), 0, 2, false);
  CHECK(out == std::vector<int32_t>{0, 0});
  std::vector<float> w = {1, 2, 3, 4}, a = {0.5f, 0.25f, 1, -1}, o(4, 9);
  num::matmul_f32(w.data(), a.data(), o.data(), 2, 2, 2, false); // W = [[1,2],[3,4]]
  CHECK(o == std::vector<float>{0.5f + 0.75f, 1 + 1, 1 - 3, 2 - 4});
  CHECK(num::mxm_supports(DType::i8));
  CHECK(num::mxm_supports(DType::bf16));
  CHECK_FALSE(num::mxm_supports(DType::i32));
  CHECK_FALSE(num::mxm_supports(DType::f32));
}

// ---------------------------------------------------------------------------------------------
// SXM

namespace {

std::vector<uint8_t> random_plane(size_t lanes, std::mt19937& rng) {
  std::vector<uint8_t> p(lanes);
  for (auto& b : p) b = uint8_t(rng() | 1); // never 0, so zero fill is visible
  return p;
}

struct Geometry {
  size_t lanes, lps;
};
const Geometry kGeometries[] = {{320, 16}, {40, 8}, {48, 16}};

} // namespace

TEST_CASE("SXM shift and rotate move whole superlanes") {
  std::mt19937 rng(80);
  for (Geometry g : kGeometries) {
    const auto src = random_plane(g.lanes, rng);
    const long s_count = long(g.lanes / g.lps);
    for (int n = -int(s_count) - 2; n <= int(s_count) + 2; ++n) {
      std::vector<uint8_t> dst(g.lanes + 1, 0xa5);
      num::sxm_shift(dst.data(), src.data(), g.lanes, g.lps, n);
      for (size_t i = 0; i < g.lanes; ++i) {
        const long from = long(i) - long(n) * long(g.lps);
        INFO("lanes " << g.lanes << " shift " << n << " lane " << i);
        REQUIRE(dst[i] == (from >= 0 && from < long(g.lanes) ? src[size_t(from)] : 0));
      }
      REQUIRE(dst[g.lanes] == 0xa5);
    }
    for (unsigned n = 0; n < unsigned(2 * s_count + 3); ++n) {
      std::vector<uint8_t> dst(g.lanes);
      num::sxm_rotate(dst.data(), src.data(), g.lanes, g.lps, n);
      for (size_t i = 0; i < g.lanes; ++i) {
        const size_t s = i / g.lps, from_s = (s + size_t(s_count) - n % size_t(s_count)) % size_t(s_count);
        REQUIRE(dst[i] == src[from_s * g.lps + i % g.lps]);
      }
    }
  }
  std::vector<uint8_t> a(30), b(30);
  CHECK_THROWS_MATCHES(num::sxm_shift(a.data(), b.data(), 30, 16, 1), std::invalid_argument,
                       Message("SXM: 30 lanes is not a whole number of 16-lane superlanes"));
}

TEST_CASE("SXM select picks superlanes by mask bit") {
  std::mt19937 rng(81);
  for (Geometry g : kGeometries) {
    const auto a = random_plane(g.lanes, rng), b = random_plane(g.lanes, rng);
    for (uint64_t mask : {uint64_t{0}, ~uint64_t{0}, uint64_t{0x5}, uint64_t{0xabcde}, uint64_t{1} << 19}) {
      std::vector<uint8_t> dst(g.lanes);
      num::sxm_select(dst.data(), a.data(), b.data(), g.lanes, g.lps, mask);
      for (size_t i = 0; i < g.lanes; ++i) REQUIRE(dst[i] == ((mask >> (i / g.lps)) & 1 ? a[i] : b[i]));
    }
  }
}

TEST_CASE("SXM permute and distribute follow their maps, out of range gives 0") {
  std::mt19937 rng(82);
  for (Geometry g : kGeometries) {
    const auto src = random_plane(g.lanes, rng);
    std::vector<uint8_t> lo(g.lanes), hi(g.lanes), map(g.lanes);
    std::vector<int> targets(g.lanes);
    for (size_t i = 0; i < g.lanes; ++i) {
      const int t = i % 5 == 0 ? int(rng() % 70000) - 35000 : int(rng() % (g.lanes + 3));
      targets[i] = int16_t(t);
      lo[i] = uint8_t(t);
      hi[i] = uint8_t(uint32_t(t) >> 8);
      map[i] = uint8_t(i % 7 == 0 ? rng() : rng() % (g.lps + 2));
    }
    targets[0] = -1;
    lo[0] = hi[0] = 0xff;
    std::vector<uint8_t> dst(g.lanes);
    num::sxm_permute(dst.data(), src.data(), lo.data(), hi.data(), g.lanes);
    for (size_t i = 0; i < g.lanes; ++i)
      REQUIRE(dst[i] == (targets[i] >= 0 && targets[i] < int(g.lanes) ? src[size_t(targets[i])] : 0));
    REQUIRE(dst[0] == 0);
    num::sxm_distribute(dst.data(), src.data(), map.data(), g.lanes, g.lps);
    for (size_t i = 0; i < g.lanes; ++i)
      REQUIRE(dst[i] == (map[i] < g.lps ? src[(i / g.lps) * g.lps + map[i]] : 0));
  }
}

TEST_CASE("SXM transpose swaps lanes and planes in 16x16 blocks") {
  std::mt19937 rng(83);
  for (size_t lanes : {size_t{320}, size_t{40}}) {
    std::vector<std::vector<uint8_t>> src(16), dst(16, std::vector<uint8_t>(lanes + 1, 0xa5));
    std::vector<const uint8_t*> sp;
    std::vector<uint8_t*> dp;
    for (int p = 0; p < 16; ++p) {
      src[p] = random_plane(lanes, rng);
      sp.push_back(src[p].data());
      dp.push_back(dst[p].data());
    }
    num::sxm_transpose(dp.data(), sp.data(), lanes);
    for (size_t j = 0; j < 16; ++j) {
      for (size_t lane = 0; lane < lanes; ++lane) {
        const size_t block = lane / 16 * 16, i = lane % 16;
        INFO("lanes " << lanes << " plane " << j << " lane " << lane);
        REQUIRE(dst[j][lane] == (block + j < lanes ? src[i][block + j] : 0));
      }
      REQUIRE(dst[j][lanes] == 0xa5);
    }
  }
}

TEST_CASE("MXM batches split over two cores give the bits of one core") {
  std::mt19937 rng(77);
  I8Problem p(320, 320, rng);
  const size_t m = 64;
  std::vector<int8_t> acts(m * p.k);
  for (auto& a : acts) a = int8_t(rng());
  std::vector<float> w(p.k * p.n), facts(m * p.k);
  for (auto& x : w) x = float(int(rng() % 2001) - 1000) / 256;
  for (auto& x : facts) x = float(int(rng() % 2001) - 1000) / 256;
  std::vector<int32_t> i8_two(m * p.n), i8_one(m * p.n);
  std::vector<float> f_two(m * p.n), f_one(m * p.n);
  num::set_mxm_threads(2);
  num::matmul_i8(p.packed.data(), acts.data(), i8_two.data(), m, p.k, p.n, false);
  num::matmul_f32(w.data(), facts.data(), f_two.data(), m, p.k, p.n, false);
  num::set_mxm_threads(1);
  REQUIRE(num::mxm_threads() == 1);
  num::matmul_i8(p.packed.data(), acts.data(), i8_one.data(), m, p.k, p.n, false);
  num::matmul_f32(w.data(), facts.data(), f_one.data(), m, p.k, p.n, false);
  num::set_mxm_threads(2);
  REQUIRE(i8_two == i8_one);
  for (size_t i = 0; i < f_one.size(); ++i) REQUIRE(fbits(f_two[i]) == fbits(f_one[i]));
  for (size_t r = 0; r < m; r += 13)
    REQUIRE(std::equal(i8_one.begin() + long(r * p.n), i8_one.begin() + long((r + 1) * p.n),
                       p.reference(acts.data() + r * p.k, nullptr).begin()));
}

TEST_CASE("MXM batches multiplied on several threads at once give the bits of one core") {
  // A system's chips flush their MXMs on worker threads: two callers at once must not share the
  // second core (before, one of them waited for it forever).
  std::mt19937 rng(78);
  I8Problem p(320, 320, rng);
  const size_t m = 32;
  std::vector<int8_t> acts(m * p.k);
  for (auto& a : acts) a = int8_t(rng());
  std::vector<int32_t> one(m * p.n);
  num::matmul_i8_one_core(p.packed.data(), acts.data(), one.data(), m, p.k, p.n, false);
  num::set_mxm_threads(2);
  std::vector<std::vector<int32_t>> out(2, std::vector<int32_t>(m * p.n));
  std::vector<char> same(2, 1);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2000; ++round) {
        num::matmul_i8(p.packed.data(), acts.data(), out[t].data(), m, p.k, p.n, false);
        same[t] = same[t] && out[t] == one;
      }
    });
  for (auto& thread : threads) thread.join();
  CHECK(same[0]);
  CHECK(same[1]);
}
