// VXM lane-wise operations over plane groups. Each opcode/dtype pair is dispatched once, then a
// specialised loop runs over the active lanes.
#include "elements.h"
#include "tspsim/numeric/numeric.h"

#include <fmt/format.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace tsp::num {

using isa::DType;
using isa::Opcode;
using namespace detail;

namespace {

constexpr uint32_t kQuietNanF32 = 0x7fc00000;

// Arithmetic that yields NaN gives this one quiet NaN, so results do not depend on the host's NaN
// propagation rules.
inline float canonical(float x) { return std::isnan(x) ? f32_from_bits(kQuietNanF32) : x; }
inline double canonical(double x) { return std::isnan(x) ? double(f32_from_bits(kQuietNanF32)) : x; }
// Conversions keep the NaN's sign and payload but make it quiet.
inline float quieted(float x) { return std::isnan(x) ? f32_from_bits(f32_bits(x) | 0x400000) : x; }

// IEEE 754-2019 maximum/minimum: NaN if either operand is NaN, and -0 < +0.
inline float float_max(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return f32_from_bits(kQuietNanF32);
  if (a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
inline float float_min(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return f32_from_bits(kQuietNanF32);
  if (a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

[[noreturn]] void reject(Opcode op, DType dtype) {
  throw std::invalid_argument(
      fmt::format("VXM {} does not accept dtype {}", isa::spec(op).mnemonic, isa::dtype_name(dtype)));
}

[[noreturn]] void not_a(Opcode op, const char* kind) {
  throw std::invalid_argument(fmt::format("{} is not a VXM {} operation", isa::spec(op).mnemonic, kind));
}

template <typename E, typename F> void map1(PlaneGroup d, ConstPlaneGroup s, size_t n, F f) {
  for_blocks(n, [&](size_t off, size_t c) {
    typename E::Value x[kBlock];
    decltype(f(x[0])) r[kBlock];
    E::load_block(s, off, c, x);
    for (size_t i = 0; i < c; ++i) r[i] = f(x[i]);
    E::store_block(d, off, c, r);
  });
}

template <typename E, typename F>
void map2(PlaneGroup d, ConstPlaneGroup a, ConstPlaneGroup b, size_t n, F f) {
  for_blocks(n, [&](size_t off, size_t c) {
    typename E::Value x[kBlock], y[kBlock];
    decltype(f(x[0], y[0])) r[kBlock];
    E::load_block(a, off, c, x);
    E::load_block(b, off, c, y);
    for (size_t i = 0; i < c; ++i) r[i] = f(x[i], y[i]);
    E::store_block(d, off, c, r);
  });
}

// Compares write all ones or zero in the operand width.
template <typename E, typename F>
void compare(PlaneGroup d, ConstPlaneGroup a, ConstPlaneGroup b, size_t n, F f) {
  for_blocks(n, [&](size_t off, size_t c) {
    typename E::Value x[kBlock], y[kBlock];
    uint32_t r[kBlock];
    E::load_block(a, off, c, x);
    E::load_block(b, off, c, y);
    for (size_t i = 0; i < c; ++i) r[i] = f(x[i], y[i]) ? ~0u : 0u;
    scatter<E::bytes>(d, off, c, r);
  });
}

// Byte-wise operations on every plane of the group.
template <typename F>
void bytewise(unsigned bytes, PlaneGroup d, ConstPlaneGroup a, ConstPlaneGroup b, size_t n, F f) {
  for (unsigned p = 0; p < bytes; ++p) {
    uint8_t* dp = d.planes[p];
    const uint8_t* ap = a.planes[p];
    const uint8_t* bp = b.planes[p];
    for (size_t i = 0; i < n; ++i) dp[i] = f(ap[i], bp[i]);
  }
}

void copy_planes(unsigned bytes, PlaneGroup d, ConstPlaneGroup s, size_t n) {
  for (unsigned p = 0; p < bytes; ++p) std::memmove(d.planes[p], s.planes[p], n);
}

// neg/abs of a float only touch the sign bit, which is bit 7 of the top plane.
void sign_op(unsigned bytes, PlaneGroup d, ConstPlaneGroup s, size_t n, bool negate) {
  copy_planes(bytes - 1, d, s, n);
  const uint8_t* sp = s.planes[bytes - 1];
  uint8_t* dp = d.planes[bytes - 1];
  for (size_t i = 0; i < n; ++i) dp[i] = negate ? sp[i] ^ 0x80 : sp[i] & 0x7f;
}

// Saturating int32 add/sub in 32-bit arithmetic (vectorises without 64-bit lanes): the result
// overflowed iff it differs in sign from both addends (add) or from a while a and b differ (sub).
inline int32_t add_sat32(int32_t a, int32_t b) {
  const auto s = int32_t(uint32_t(a) + uint32_t(b));
  return ((a ^ s) & (b ^ s)) < 0 ? (a < 0 ? INT32_MIN : INT32_MAX) : s;
}
inline int32_t sub_sat32(int32_t a, int32_t b) {
  const auto s = int32_t(uint32_t(a) - uint32_t(b));
  return ((a ^ b) & (a ^ s)) < 0 ? (a < 0 ? INT32_MIN : INT32_MAX) : s;
}

template <typename E> void int_unary(Opcode op, PlaneGroup d, ConstPlaneGroup s, size_t n) {
  using V = typename E::Value;
  switch (op) {
  case Opcode::v_neg:
    return map1<E>(d, s, n, [](V x) { return -int64_t(x); });
  case Opcode::v_abs:
    return map1<E>(d, s, n, [](V x) { return x < 0 ? -int64_t(x) : int64_t(x); });
  case Opcode::v_relu:
    return map1<E>(d, s, n, [](V x) { return x < 0 ? 0 : x; });
  default:
    not_a(op, "integer unary");
  }
}

template <typename E> void float_unary(Opcode op, PlaneGroup d, ConstPlaneGroup s, size_t n) {
  // Transcendentals: computed in double, rounded once to the dtype.
  auto transcendental = [&](auto f) {
    for_blocks(n, [&](size_t off, size_t c) {
      float x[kBlock];
      E::load_block(s, off, c, x);
      for (size_t i = 0; i < c; ++i) E::store_double(d, off + i, canonical(f(double(x[i]))));
    });
  };
  switch (op) {
  case Opcode::v_neg:
    return sign_op(E::bytes, d, s, n, true);
  case Opcode::v_abs:
    return sign_op(E::bytes, d, s, n, false);
  case Opcode::v_relu:
    return map1<E>(d, s, n, [](float x) { return float_max(x, 0.0f); });
  case Opcode::v_tanh:
    return transcendental([](double x) { return std::tanh(x); });
  case Opcode::v_exp:
    return transcendental([](double x) { return std::exp(x); });
  case Opcode::v_rsqrt:
    return transcendental([](double x) { return 1.0 / std::sqrt(x); });
  case Opcode::v_recip:
    return transcendental([](double x) { return 1.0 / x; });
  default:
    not_a(op, "float unary");
  }
}

// Comparisons give all ones where they hold, alike for every type; false when `op` is not one.
template <typename E>
bool comparison(Opcode op, PlaneGroup d, ConstPlaneGroup a, ConstPlaneGroup b, size_t n) {
  using V = typename E::Value;
  switch (op) {
  case Opcode::v_cmpeq:
    compare<E>(d, a, b, n, [](V x, V y) { return x == y; });
    return true;
  case Opcode::v_cmplt:
    compare<E>(d, a, b, n, [](V x, V y) { return x < y; });
    return true;
  case Opcode::v_cmple:
    compare<E>(d, a, b, n, [](V x, V y) { return x <= y; });
    return true;
  default:
    return false;
  }
}

template <typename E>
void int_binary(Opcode op, PlaneGroup d, ConstPlaneGroup a, ConstPlaneGroup b, size_t n) {
  using V = typename E::Value;
  // Sums and products of i8/i16 fit in 32 bits; only i32 needs 64-bit intermediates.
  using W = std::conditional_t<E::bytes == 4, int64_t, int32_t>;
  auto sat = [](W v) -> W { return v < W(E::lo) ? W(E::lo) : v > W(E::hi) ? W(E::hi) : v; };
  switch (op) {
  case Opcode::v_add:
    if constexpr (E::bytes == 4)
      return map2<E>(d, a, b, n, [](V x, V y) { return add_sat32(x, y); });
    else
      return map2<E>(d, a, b, n, [&](V x, V y) { return sat(W(x) + W(y)); });
  case Opcode::v_sub:
    if constexpr (E::bytes == 4)
      return map2<E>(d, a, b, n, [](V x, V y) { return sub_sat32(x, y); });
    else
      return map2<E>(d, a, b, n, [&](V x, V y) { return sat(W(x) - W(y)); });
  case Opcode::v_mul:
    return map2<E>(d, a, b, n, [&](V x, V y) { return sat(W(x) * W(y)); });
  case Opcode::v_max:
    return map2<E>(d, a, b, n, [](V x, V y) { return x > y ? x : y; });
  case Opcode::v_min:
    return map2<E>(d, a, b, n, [](V x, V y) { return x < y ? x : y; });
  default:
    if (!comparison<E>(op, d, a, b, n)) not_a(op, "binary");
  }
}

template <typename E>
void float_binary(Opcode op, PlaneGroup d, ConstPlaneGroup a, ConstPlaneGroup b, size_t n) {
  switch (op) {
  case Opcode::v_add:
    return map2<E>(d, a, b, n, [](float x, float y) { return canonical(x + y); });
  case Opcode::v_sub:
    return map2<E>(d, a, b, n, [](float x, float y) { return canonical(x - y); });
  case Opcode::v_mul:
    return map2<E>(d, a, b, n, [](float x, float y) { return canonical(x * y); });
  case Opcode::v_max:
    return map2<E>(d, a, b, n, [](float x, float y) { return float_max(x, y); });
  case Opcode::v_min:
    return map2<E>(d, a, b, n, [](float x, float y) { return float_min(x, y); });
  default:
    if (!comparison<E>(op, d, a, b, n)) not_a(op, "binary");
  }
}

bool is_dtype(DType dtype) { return static_cast<unsigned>(dtype) < static_cast<unsigned>(DType::count); }

void check(Opcode op, DType dtype) {
  if (!vxm_op_supports(op, dtype)) reject(op, dtype);
}

} // namespace

bool vxm_op_supports(Opcode op, DType dtype) {
  if (!is_dtype(dtype)) return false;
  switch (op) {
  case Opcode::v_tanh:
  case Opcode::v_exp:
  case Opcode::v_rsqrt:
  case Opcode::v_recip:
    return isa::dtype_is_float(dtype);
  case Opcode::v_mov:
  case Opcode::v_neg:
  case Opcode::v_abs:
  case Opcode::v_relu:
  case Opcode::v_add:
  case Opcode::v_sub:
  case Opcode::v_mul:
  case Opcode::v_max:
  case Opcode::v_min:
  case Opcode::v_and:
  case Opcode::v_or:
  case Opcode::v_xor:
  case Opcode::v_cmpeq:
  case Opcode::v_cmplt:
  case Opcode::v_cmple:
  case Opcode::v_sel:
  case Opcode::v_splat:
  case Opcode::v_cvt:
  case Opcode::v_requant:
    return true;
  default:
    return false;
  }
}

void vxm_unary(Opcode op, DType dtype, PlaneGroup dst, ConstPlaneGroup src, size_t active_lanes) {
  check(op, dtype);
  if (op == Opcode::v_mov) return copy_planes(isa::dtype_bytes(dtype), dst, src, active_lanes);
  with_elem(dtype, [&](auto e) {
    using E = decltype(e);
    if constexpr (E::is_float)
      float_unary<E>(op, dst, src, active_lanes);
    else
      int_unary<E>(op, dst, src, active_lanes);
  });
}

void vxm_binary(Opcode op, DType dtype, PlaneGroup dst, ConstPlaneGroup a, ConstPlaneGroup b,
                size_t active_lanes) {
  check(op, dtype);
  const unsigned bytes = isa::dtype_bytes(dtype);
  switch (op) {
  case Opcode::v_and:
    return bytewise(bytes, dst, a, b, active_lanes, [](uint8_t x, uint8_t y) { return x & y; });
  case Opcode::v_or:
    return bytewise(bytes, dst, a, b, active_lanes, [](uint8_t x, uint8_t y) { return x | y; });
  case Opcode::v_xor:
    return bytewise(bytes, dst, a, b, active_lanes, [](uint8_t x, uint8_t y) { return x ^ y; });
  default:
    break;
  }
  with_elem(dtype, [&](auto e) {
    using E = decltype(e);
    if constexpr (E::is_float)
      float_binary<E>(op, dst, a, b, active_lanes);
    else
      int_binary<E>(op, dst, a, b, active_lanes);
  });
}

void vxm_select(DType dtype, PlaneGroup dst, ConstPlaneGroup mask, ConstPlaneGroup a, ConstPlaneGroup b,
                size_t active_lanes) {
  check(Opcode::v_sel, dtype);
  with_elem(dtype, [&](auto e) {
    constexpr unsigned bytes = decltype(e)::bytes;
    for_blocks(active_lanes, [&](size_t off, size_t c) {
      uint32_t m[kBlock], x[kBlock], y[kBlock];
      gather<bytes>(mask, off, c, m);
      gather<bytes>(a, off, c, x);
      gather<bytes>(b, off, c, y);
      for (size_t i = 0; i < c; ++i) x[i] = m[i] != 0 ? x[i] : y[i];
      scatter<bytes>(dst, off, c, x);
    });
  });
}

void vxm_splat(DType dtype, PlaneGroup dst, uint32_t value, size_t active_lanes) {
  check(Opcode::v_splat, dtype);
  uint32_t bits = value;
  if (dtype == DType::f16) bits = detail::f32_to_f16(f32_from_bits(value));
  if (dtype == DType::bf16) bits = detail::f32_to_bf16(f32_from_bits(value));
  for (unsigned p = 0; p < isa::dtype_bytes(dtype); ++p)
    std::memset(dst.planes[p], uint8_t(bits >> (8 * p)), active_lanes);
}

namespace {
// Calls body(to element, from element, values, offset, count) on each block of `from` values read
// from `src`, for the element types of `to` and `from`.
template <typename Body>
void convert_blocks(DType to, DType from, ConstPlaneGroup src, size_t active_lanes, Body body) {
  with_elem(to, [&](auto t) {
    with_elem(from, [&](auto f) {
      using From = decltype(f);
      for_blocks(active_lanes, [&](size_t off, size_t c) {
        typename From::Value v[kBlock];
        From::load_block(src, off, c, v);
        body(t, f, v, off, c);
      });
    });
  });
}
} // namespace

void vxm_convert(DType to, DType from, PlaneGroup dst, ConstPlaneGroup src, size_t active_lanes) {
  check(Opcode::v_cvt, to);
  check(Opcode::v_cvt, from);
  convert_blocks(to, from, src, active_lanes, [&](auto t, auto f, auto* v, size_t off, size_t c) {
    using To = decltype(t);
    using From = decltype(f);
    if constexpr (!To::is_float) {
      int32_t r[kBlock];
      for (size_t i = 0; i < c; ++i) {
        if constexpr (From::is_float)
          r[i] = To::from_f32(v[i]);
        else
          r[i] = int32_t(To::saturate(v[i]));
      }
      To::store_block(dst, off, c, r);
    } else if constexpr (!From::is_float) {
      // int -> float, one rounding: fp32 by the hardware conversion (nearest even); fp16 from
      // that exactly, since every int32 that fp32 rounds is beyond the fp16 range anyway;
      // bf16 from double, where fp32 would round a second time.
      if constexpr (std::is_same_v<To, BF16Elem>) {
        for (size_t i = 0; i < c; ++i) To::store_double(dst, off + i, double(v[i]));
      } else {
        float x[kBlock];
        for (size_t i = 0; i < c; ++i) x[i] = float(v[i]);
        To::store_block(dst, off, c, x);
      }
    } else {
      for (size_t i = 0; i < c; ++i) v[i] = quieted(v[i]);
      To::store_block(dst, off, c, v);
    }
  });
}

void vxm_requant(DType to, DType from, PlaneGroup dst, ConstPlaneGroup src, uint32_t scale_bits,
                 size_t active_lanes) {
  check(Opcode::v_requant, to);
  check(Opcode::v_requant, from);
  const float scale = f32_from_bits(scale_bits);
  convert_blocks(to, from, src, active_lanes, [&](auto t, auto, auto* v, size_t off, size_t c) {
    using To = decltype(t);
    float p[kBlock];
    for (size_t i = 0; i < c; ++i) {
      // int32 -> fp32 rounds once (hardware, nearest even; exact for i8/i16); the product
      // rounds once in fp32.
      const float x = float(v[i]);
      p[i] = canonical(x * scale);
    }
    if constexpr (To::is_float) {
      To::store_block(dst, off, c, p);
    } else {
      int32_t r[kBlock];
      for (size_t i = 0; i < c; ++i) r[i] = To::from_f32(p[i]);
      To::store_block(dst, off, c, r);
    }
  });
}

} // namespace tsp::num
