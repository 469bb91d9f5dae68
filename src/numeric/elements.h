// Per-dtype element access on plane groups, as templates so every lane loop is specialised.
// Lane loops work on blocks: the planes are gathered into a local array of values, computed on,
// and scattered back. Local arrays cannot alias the planes, so these loops vectorise, and a
// destination equal to a source is safe (a block is read completely before it is written).
#pragma once

#include "floats.h"
#include "tspsim/numeric/numeric.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace tsp::num::detail {

inline constexpr size_t kBlock = 320;

template <unsigned Bytes> inline uint32_t load_raw(const ConstPlaneGroup& g, size_t i) {
  uint32_t bits = g.planes[0][i];
  if constexpr (Bytes >= 2) bits |= uint32_t(g.planes[1][i]) << 8;
  if constexpr (Bytes == 4) bits |= uint32_t(g.planes[2][i]) << 16 | uint32_t(g.planes[3][i]) << 24;
  return bits;
}

template <unsigned Bytes> inline void store_raw(const PlaneGroup& g, size_t i, uint32_t bits) {
  g.planes[0][i] = uint8_t(bits);
  if constexpr (Bytes >= 2) g.planes[1][i] = uint8_t(bits >> 8);
  if constexpr (Bytes == 4) {
    g.planes[2][i] = uint8_t(bits >> 16);
    g.planes[3][i] = uint8_t(bits >> 24);
  }
}

// raw[i] = bits of element off + i, i < n (one pass over all planes).
template <unsigned Bytes> inline void gather(const ConstPlaneGroup& g, size_t off, size_t n, uint32_t* raw) {
  const uint8_t* p0 = g.planes[0] + off;
  if constexpr (Bytes == 1) {
    for (size_t i = 0; i < n; ++i) raw[i] = p0[i];
  } else if constexpr (Bytes == 2) {
    const uint8_t* p1 = g.planes[1] + off;
    for (size_t i = 0; i < n; ++i) raw[i] = p0[i] | uint32_t(p1[i]) << 8;
  } else {
    const uint8_t *p1 = g.planes[1] + off, *p2 = g.planes[2] + off, *p3 = g.planes[3] + off;
    for (size_t i = 0; i < n; ++i)
      raw[i] = p0[i] | uint32_t(p1[i]) << 8 | uint32_t(p2[i]) << 16 | uint32_t(p3[i]) << 24;
  }
}

// Writes the low Bytes bytes of every in[i] to element off + i.
template <unsigned Bytes, typename R>
inline void scatter(const PlaneGroup& g, size_t off, size_t n, const R* in) {
  auto plane = [&](unsigned b) {
    uint8_t* p = g.planes[b] + off;
    for (size_t i = 0; i < n; ++i) p[i] = uint8_t(uint32_t(in[i]) >> (8 * b));
  };
  plane(0);
  if constexpr (Bytes >= 2) plane(1);
  if constexpr (Bytes == 4) {
    plane(2);
    plane(3);
  }
}

template <unsigned Bytes, typename T> struct IntElem {
  static constexpr bool is_float = false;
  static constexpr unsigned bytes = Bytes;
  static constexpr int64_t lo = -(int64_t{1} << (8 * Bytes - 1));
  static constexpr int64_t hi = (int64_t{1} << (8 * Bytes - 1)) - 1;
  using Value = int32_t;

  static Value load(const ConstPlaneGroup& g, size_t i) { return T(load_raw<Bytes>(g, i)); }
  static void load_block(const ConstPlaneGroup& g, size_t off, size_t n, Value* out) {
    const uint8_t* p0 = g.planes[0] + off;
    if constexpr (Bytes == 1) {
      for (size_t i = 0; i < n; ++i) out[i] = int8_t(p0[i]);
    } else if constexpr (Bytes == 2) {
      const uint8_t* p1 = g.planes[1] + off;
      for (size_t i = 0; i < n; ++i) out[i] = int16_t(uint16_t(p0[i] | p1[i] << 8));
    } else {
      gather<4>(g, off, n, reinterpret_cast<uint32_t*>(out));
    }
  }
  // Stores the low Bytes bytes of v (two's-complement wrap).
  static void store(const PlaneGroup& g, size_t i, int64_t v) { store_raw<Bytes>(g, i, uint32_t(v)); }
  template <typename R> static void store_block(const PlaneGroup& g, size_t off, size_t n, const R* in) {
    scatter<Bytes>(g, off, n, in);
  }
  static int64_t saturate(int64_t v) { return v < lo ? lo : v > hi ? hi : v; }
  static int64_t from_float(double x) { return float_to_int(x, lo, hi); }
  static int32_t from_f32(float x) { return f32_to_int<8 * Bytes>(x); }
};

// Float dtypes: Value is the exact fp32 widening; stores round once (from float or double).
template <unsigned Bytes, float (*Widen)(uint16_t), uint16_t (*NarrowF)(float), uint16_t (*NarrowD)(double)>
struct Half {
  static constexpr bool is_float = true;
  static constexpr unsigned bytes = Bytes;
  using Value = float;
  static Value load(const ConstPlaneGroup& g, size_t i) { return Widen(uint16_t(load_raw<2>(g, i))); }
  static void load_block(const ConstPlaneGroup& g, size_t off, size_t n, Value* out) {
    uint32_t raw[kBlock];
    gather<2>(g, off, n, raw);
    for (size_t i = 0; i < n; ++i) out[i] = Widen(uint16_t(raw[i]));
  }
  static void store(const PlaneGroup& g, size_t i, float v) { store_raw<2>(g, i, NarrowF(v)); }
  static void store_double(const PlaneGroup& g, size_t i, double v) { store_raw<2>(g, i, NarrowD(v)); }
  template <typename R> static void store_block(const PlaneGroup& g, size_t off, size_t n, const R* in) {
    uint32_t raw[kBlock];
    for (size_t i = 0; i < n; ++i) raw[i] = NarrowF(in[i]);
    scatter<2>(g, off, n, raw);
  }
};

using F16Elem = Half<2, f16_to_f32, f32_to_f16, f64_to_f16>;
using BF16Elem = Half<2, bf16_to_f32, f32_to_bf16, f64_to_bf16>;

struct F32Elem {
  static constexpr bool is_float = true;
  static constexpr unsigned bytes = 4;
  using Value = float;
  static Value load(const ConstPlaneGroup& g, size_t i) { return f32_from_bits(load_raw<4>(g, i)); }
  static void load_block(const ConstPlaneGroup& g, size_t off, size_t n, Value* out) {
    uint32_t raw[kBlock];
    gather<4>(g, off, n, raw);
    std::memcpy(out, raw, n * sizeof(float));
  }
  static void store(const PlaneGroup& g, size_t i, float v) { store_raw<4>(g, i, f32_bits(v)); }
  static void store_double(const PlaneGroup& g, size_t i, double v) {
    store_raw<4>(g, i, f32_bits(f64_to_f32(v)));
  }
  static void store_block(const PlaneGroup& g, size_t off, size_t n, const float* in) {
    uint32_t raw[kBlock];
    std::memcpy(raw, in, n * sizeof(float));
    scatter<4>(g, off, n, raw);
  }
};

template <isa::DType D> struct ElemOf;
template <> struct ElemOf<isa::DType::i8> { using type = IntElem<1, int8_t>; };
template <> struct ElemOf<isa::DType::i16> { using type = IntElem<2, int16_t>; };
template <> struct ElemOf<isa::DType::i32> { using type = IntElem<4, int32_t>; };
template <> struct ElemOf<isa::DType::f16> { using type = F16Elem; };
template <> struct ElemOf<isa::DType::bf16> { using type = BF16Elem; };
template <> struct ElemOf<isa::DType::f32> { using type = F32Elem; };
template <isa::DType D> using Elem = typename ElemOf<D>::type;

// Calls f(Elem<D>{}) for the runtime dtype (which the caller has checked is valid).
template <typename F> decltype(auto) with_elem(isa::DType dtype, F&& f) {
  switch (dtype) {
  case isa::DType::i8:
    return f(Elem<isa::DType::i8>{});
  case isa::DType::i16:
    return f(Elem<isa::DType::i16>{});
  case isa::DType::i32:
    return f(Elem<isa::DType::i32>{});
  case isa::DType::f16:
    return f(Elem<isa::DType::f16>{});
  case isa::DType::bf16:
    return f(Elem<isa::DType::bf16>{});
  default:
    return f(Elem<isa::DType::f32>{});
  }
}

// For each block of at most kBlock lanes in [0, n): body(offset, count).
template <typename F> inline void for_blocks(size_t n, F&& body) {
  for (size_t off = 0; off < n; off += kBlock) body(off, std::min(kBlock, n - off));
}

} // namespace tsp::num::detail
