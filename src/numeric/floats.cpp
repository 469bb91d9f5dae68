// Scalar conversions and element access (the public face of numeric_float.h / numeric_elements.h).
#include "floats.h"
#include "elements.h"
#include "tspsim/numeric/numeric.h"

#include <fmt/format.h>

#include <stdexcept>

namespace tsp::num {

using isa::DType;

uint16_t f32_to_f16(float x) { return detail::f32_to_f16(x); }
float f16_to_f32(uint16_t bits) { return detail::f16_to_f32(bits); }
uint16_t f32_to_bf16(float x) { return detail::f32_to_bf16(x); }
float bf16_to_f32(uint16_t bits) { return detail::bf16_to_f32(bits); }
uint16_t f64_to_f16(double x) { return detail::f64_to_f16(x); }
uint16_t f64_to_bf16(double x) { return detail::f64_to_bf16(x); }
float f64_to_f32(double x) { return detail::f64_to_f32(x); }

namespace {

[[noreturn]] void bad_dtype(const char* what, DType dtype) {
  throw std::invalid_argument(fmt::format("{}: dtype {} not accepted", what, isa::dtype_name(dtype)));
}

} // namespace

int64_t saturate(int64_t value, DType to) {
  switch (to) {
  case DType::i8:
    return detail::Elem<DType::i8>::saturate(value);
  case DType::i16:
    return detail::Elem<DType::i16>::saturate(value);
  case DType::i32:
    return detail::Elem<DType::i32>::saturate(value);
  default:
    bad_dtype("saturate", to);
  }
}

int64_t float_to_int(double x, DType to) {
  switch (to) {
  case DType::i8:
    return detail::Elem<DType::i8>::from_float(x);
  case DType::i16:
    return detail::Elem<DType::i16>::from_float(x);
  case DType::i32:
    return detail::Elem<DType::i32>::from_float(x);
  default:
    bad_dtype("float_to_int", to);
  }
}

uint32_t float_to_bits(double value, DType to) {
  switch (to) {
  case DType::f16:
    return detail::f64_to_f16(value);
  case DType::bf16:
    return detail::f64_to_bf16(value);
  case DType::f32:
    return detail::f32_bits(detail::f64_to_f32(value));
  default:
    bad_dtype("float_to_bits", to);
  }
}

// |value| < 2^53 converts to double exactly, so the only rounding is float_to_bits'.
uint32_t int_to_float_bits(int64_t value, DType to) { return float_to_bits(double(value), to); }

float float_from_bits(uint32_t bits, DType from) {
  switch (from) {
  case DType::f16:
    return detail::f16_to_f32(uint16_t(bits));
  case DType::bf16:
    return detail::bf16_to_f32(uint16_t(bits));
  case DType::f32:
    return detail::f32_from_bits(bits);
  default:
    bad_dtype("float_from_bits", from);
  }
}

uint32_t load_bits(ConstPlaneGroup g, DType dtype, size_t lane) {
  uint32_t bits = 0;
  for (unsigned b = 0; b < isa::dtype_bytes(dtype); ++b) bits |= uint32_t(g.planes[b][lane]) << (8 * b);
  return bits;
}

void store_bits(PlaneGroup g, DType dtype, size_t lane, uint32_t bits) {
  for (unsigned b = 0; b < isa::dtype_bytes(dtype); ++b) g.planes[b][lane] = uint8_t(bits >> (8 * b));
}

int64_t load_int(ConstPlaneGroup g, DType dtype, size_t lane) {
  switch (dtype) {
  case DType::i8:
    return detail::Elem<DType::i8>::load(g, lane);
  case DType::i16:
    return detail::Elem<DType::i16>::load(g, lane);
  case DType::i32:
    return detail::Elem<DType::i32>::load(g, lane);
  default:
    bad_dtype("load_int", dtype);
  }
}

void store_int(PlaneGroup g, DType dtype, size_t lane, int64_t value) {
  store_bits(g, dtype, lane, uint32_t(saturate(value, dtype)));
}

float load_float(ConstPlaneGroup g, DType dtype, size_t lane) {
  if (!isa::dtype_is_float(dtype)) bad_dtype("load_float", dtype);
  return float_from_bits(load_bits(g, dtype, lane), dtype);
}

void store_float(PlaneGroup g, DType dtype, size_t lane, double value) {
  store_bits(g, dtype, lane, float_to_bits(value, dtype));
}

} // namespace tsp::num
