#include "tspsim/program/tensor.h"

#include <cmath>
#include <cstring>

namespace tsp {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

unsigned significand_bits(isa::DType dtype) {
  switch (dtype) {
  case isa::DType::f16:
    return 11;
  case isa::DType::bf16:
    return 8;
  default:
    return 24;
  }
}

void append_le(std::vector<uint8_t>& out, uint64_t bits, unsigned bytes) {
  for (unsigned b = 0; b < bytes; ++b) out.push_back(static_cast<uint8_t>(bits >> (8 * b)));
}

std::optional<uint32_t> f32_bits(double value) {
  const auto f = static_cast<float>(value);
  if (!std::isnan(value) && static_cast<double>(f) != value) return std::nullopt;
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits.
std::optional<uint16_t> f16_bits(double value) {
  const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  const double magnitude = std::fabs(value);
  if (std::isnan(value)) return uint16_t(0x7e00);
  if (std::isinf(value)) return uint16_t(sign | 0x7c00);
  if (magnitude == 0) return sign;
  int exponent;
  std::frexp(magnitude, &exponent); // magnitude = m * 2^exponent, m in [0.5, 1)
  const int e = exponent - 1;       // magnitude = 1.f * 2^e
  if (e > 15) return std::nullopt;
  if (e < -14) { // subnormal: k * 2^-24
    const double k = std::ldexp(magnitude, 24);
    if (k != std::floor(k)) return std::nullopt;
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(k));
  }
  const double fraction = std::ldexp(magnitude, -e) - 1.0; // in [0, 1)
  const double f = std::ldexp(fraction, 10);
  if (f != std::floor(f)) return std::nullopt;
  return static_cast<uint16_t>(sign | ((e + 15) << 10) | static_cast<uint16_t>(f));
}

} // namespace

std::optional<std::vector<uint8_t>> element_bytes(isa::DType dtype, double value) {
  std::vector<uint8_t> out;
  const unsigned bytes = isa::dtype_bytes(dtype);
  if (!isa::dtype_is_float(dtype)) {
    const double limit = std::ldexp(1.0, 8 * bytes - 1);
    if (value != std::floor(value) || value < -limit || value >= limit) return std::nullopt;
    append_le(out, static_cast<uint64_t>(static_cast<int64_t>(value)), bytes);
    return out;
  }
  if (dtype == isa::DType::f16) {
    const auto bits = f16_bits(value);
    if (!bits) return std::nullopt;
    append_le(out, *bits, 2);
    return out;
  }
  const auto bits = f32_bits(value);
  if (!bits) return std::nullopt;
  if (dtype == isa::DType::bf16) {
    if ((*bits & 0xffff) != 0 && !std::isnan(value)) return std::nullopt;
    append_le(out, *bits >> 16, 2);
  } else {
    append_le(out, *bits, 4);
  }
  return out;
}

std::vector<uint8_t> random_tensor(isa::DType dtype, uint32_t rows, uint32_t cols, uint64_t seed) {
  const unsigned bytes = isa::dtype_bytes(dtype);
  const uint64_t count = uint64_t{rows} * cols;
  std::vector<uint8_t> out;
  out.reserve(count * bytes);
  uint64_t state = seed;
  for (uint64_t k = 0; k < count; ++k) {
    const uint64_t u = splitmix64(state);
    if (!isa::dtype_is_float(dtype)) {
      append_le(out, u, bytes);
      continue;
    }
    // i / 2^p has at most p significant bits: exact in every float type, so the bits always exist
    // (written here rather than through element_bytes, which allocates per element).
    const unsigned p = significand_bits(dtype);
    const int64_t i = static_cast<int64_t>(u >> (63 - p)) - (int64_t{1} << p);
    const double value = std::ldexp(static_cast<double>(i), -static_cast<int>(p));
    if (dtype == isa::DType::f16)
      append_le(out, *f16_bits(value), 2);
    else if (dtype == isa::DType::bf16)
      append_le(out, *f32_bits(value) >> 16, 2);
    else
      append_le(out, *f32_bits(value), 4);
  }
  return out;
}

SymbolWord symbol_word(const Symbol& symbol, uint32_t row, unsigned byte) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / bytes);
  return {symbol.slices[(row % groups) * bytes + byte], symbol.base + row / groups};
}

std::vector<MemImage> tensor_images(const Symbol& symbol, const std::vector<uint8_t>& elements,
                                    unsigned vector_bytes) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / bytes);
  std::vector<MemImage> images;
  for (uint32_t g = 0; g < groups && g < symbol.rows; ++g) {
    const uint32_t rows_here = (symbol.rows - g + groups - 1) / groups;
    for (unsigned b = 0; b < bytes; ++b) {
      MemImage image{symbol.slices[g * bytes + b], symbol.base,
                     std::vector<uint8_t>(size_t{rows_here} * vector_bytes)};
      for (uint32_t k = 0; k < rows_here; ++k) {
        const uint64_t row = g + uint64_t{k} * groups;
        for (uint32_t c = 0; c < symbol.cols; ++c)
          image.bytes[size_t{k} * vector_bytes + c] = elements[(row * symbol.cols + c) * bytes + b];
      }
      images.push_back(std::move(image));
    }
  }
  return images;
}

std::vector<MemImage> declared_images(const DeclaredTensor& declared, const Symbol& symbol) {
  return tensor_images(symbol, random_tensor(symbol.dtype, symbol.rows, symbol.cols, declared.seed),
                       declared.vector_bytes);
}

void add_random_tensor(Program& program, Symbol symbol, uint64_t seed, unsigned vector_bytes) {
  DeclaredTensor declared{static_cast<uint32_t>(program.symbols.size()), seed, vector_bytes,
                          static_cast<uint32_t>(program.images.size()), 0};
  auto images = declared_images(declared, symbol);
  declared.image_count = static_cast<uint32_t>(images.size());
  for (auto& image : images) program.images.push_back(std::move(image));
  program.symbols.push_back(std::move(symbol));
  program.declared.push_back(declared);
}

} // namespace tsp
