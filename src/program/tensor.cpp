#include "tspsim/program/tensor.h"

#include <cmath>
#include <cstring>

namespace tsp {
namespace {

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull; // splitmix64's state increment

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += kGamma);
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

// One element of random_tensor from the stream output u. i / 2^p has at most p significant bits:
// exact in every float type, so the bits always exist (written here rather than through
// element_bytes, which allocates per element).
void append_random(std::vector<uint8_t>& out, isa::DType dtype, uint64_t u) {
  if (!isa::dtype_is_float(dtype)) {
    append_le(out, u, isa::dtype_bytes(dtype));
    return;
  }
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

uint64_t random_skip(uint64_t seed, uint64_t first) { return seed + first * kGamma; }

std::vector<uint8_t> random_rows(isa::DType dtype, uint32_t rows, uint32_t cols, uint64_t row_stride,
                                 uint64_t seed) {
  const unsigned bytes = isa::dtype_bytes(dtype);
  std::vector<uint8_t> out;
  out.reserve(uint64_t{rows} * cols * bytes);
  for (uint32_t r = 0; r < rows; ++r) {
    uint64_t state = random_skip(seed, r * row_stride);
    for (uint32_t c = 0; c < cols; ++c) append_random(out, dtype, splitmix64(state));
  }
  return out;
}

std::vector<uint8_t> random_tensor(isa::DType dtype, uint32_t rows, uint32_t cols, uint64_t seed) {
  return random_rows(dtype, rows, cols, cols, seed);
}

SymbolWord symbol_word(const Symbol& symbol, uint32_t row, unsigned byte) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / bytes);
  const size_t k = (row % groups) * bytes + byte;
  return {symbol.slices[k], symbol.base_of(k) + row / groups};
}

namespace {

// Rows [first, first + count) of a symbol held by slice group `group`: rows first_row,
// first_row + G, ... at consecutive addresses from the group's base + first_row / G.
struct GroupRun {
  uint32_t group;
  uint32_t first_row;
  uint32_t rows;
};

std::vector<GroupRun> group_runs(const Symbol& symbol, uint32_t first, uint32_t count) {
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / isa::dtype_bytes(symbol.dtype));
  const uint64_t end = uint64_t{first} + count;
  std::vector<GroupRun> runs;
  for (uint32_t g = 0; g < groups; ++g) {
    const uint64_t row = first + (g + groups - first % groups) % groups;
    if (row >= end) continue;
    runs.push_back({g, static_cast<uint32_t>(row), static_cast<uint32_t>((end - row + groups - 1) / groups)});
  }
  return runs;
}

// The images of rows [first, first + count) of `symbol`, `elements` holding just those rows.
std::vector<MemImage> row_images(const Symbol& symbol, const std::vector<uint8_t>& elements,
                                 unsigned vector_bytes, uint32_t first, uint32_t count) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / bytes);
  std::vector<MemImage> images;
  for (const GroupRun& run : group_runs(symbol, first, count))
    for (unsigned b = 0; b < bytes; ++b) {
      const size_t k = run.group * bytes + b;
      MemImage image{symbol.slices[k], symbol.base_of(k) + run.first_row / groups,
                     std::vector<uint8_t>(size_t{run.rows} * vector_bytes)};
      for (uint32_t k = 0; k < run.rows; ++k) {
        const uint64_t row = run.first_row + uint64_t{k} * groups - first;
        for (uint32_t c = 0; c < symbol.cols; ++c)
          image.bytes[size_t{k} * vector_bytes + c] = elements[(row * symbol.cols + c) * bytes + b];
      }
      images.push_back(std::move(image));
    }
  return images;
}

} // namespace

std::vector<MemImage> tensor_images(const Symbol& symbol, const std::vector<uint8_t>& elements,
                                    unsigned vector_bytes) {
  return row_images(symbol, elements, vector_bytes, 0, symbol.rows);
}

DeclaredTensor random_declaration(const Symbol& symbol, uint64_t seed, unsigned vector_bytes) {
  return {0, seed, vector_bytes, symbol.cols, 0, symbol.rows};
}

void add_random_tensor(Program& program, Symbol symbol, DeclaredTensor declared) {
  declared.symbol = static_cast<uint32_t>(program.symbols.size());
  program.symbols.push_back(std::move(symbol));
  program.declared.push_back(declared);
}

std::vector<uint8_t> declared_elements(const DeclaredTensor& declared, const Symbol& symbol) {
  return random_rows(symbol.dtype, declared.row_count, symbol.cols, declared.row_stride,
                     random_skip(declared.seed, uint64_t{declared.first_row} * declared.row_stride));
}

std::vector<ImageExtent> declared_extents(const DeclaredTensor& declared, const Symbol& symbol) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / bytes);
  std::vector<ImageExtent> extents;
  for (const GroupRun& run : group_runs(symbol, declared.first_row, declared.row_count))
    for (unsigned b = 0; b < bytes; ++b)
      extents.push_back({symbol.slices[run.group * bytes + b],
                         symbol.base_of(run.group * bytes + b) + run.first_row / groups, run.rows});
  return extents;
}

std::vector<MemImage> declared_images(const DeclaredTensor& declared, const Symbol& symbol) {
  return row_images(symbol, declared_elements(declared, symbol), declared.vector_bytes, declared.first_row,
                    declared.row_count);
}

void for_each_image(const Program& program, const std::function<void(const MemImage&)>& visit) {
  for (const auto& declared : program.declared)
    for (const auto& image : declared_images(declared, program.symbols.at(declared.symbol))) visit(image);
  for (const auto& image : program.images) visit(image);
}

} // namespace tsp
