#include "tspsim/program/tensor.h"

#include "tspsim/numeric/numeric.h"
#include "tspsim/program/checkpoint_matrix.h"
#include "tspsim/program/declared_rows.h"

#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <stdexcept>

#if defined(__x86_64__) && defined(__GNUC__)
#define TSP_X86 1
#include <immintrin.h>
#endif

namespace tsp {
namespace {

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull; // splitmix64's state increment

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += kGamma);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
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

// The bits of the f16 value i / 2^11 (-2048 <= i < 2048): |i| = 1.f * 2^e with e = 0 .. 11, so
// the value is normal with biased exponent e - 11 + 15 and fraction f in 10 bits.
uint16_t f16_of_eleventh(int64_t i) {
  if (i == 0) return 0;
  const uint16_t sign = i < 0 ? 0x8000 : 0;
  const auto m = static_cast<uint32_t>(i < 0 ? -i : i);
  const int e = 31 - __builtin_clz(m);
  const uint32_t fraction = (e <= 10 ? m << (10 - e) : m >> (e - 10)) & 0x3ff;
  return static_cast<uint16_t>(sign | ((e + 4) << 10) | fraction);
}

uint32_t bits_of(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

#ifdef TSP_X86
typedef uint64_t U64x8 __attribute__((vector_size(64)));
typedef uint8_t U8x8 __attribute__((vector_size(8)));
typedef uint16_t U16x8 __attribute__((vector_size(16)));
typedef uint32_t U32x8 __attribute__((vector_size(32)));
typedef int32_t I32x8 __attribute__((vector_size(32)));
typedef float F32x8 __attribute__((vector_size(32)));

// The value i / 2^p of random_row's float types for eight outputs: i = (u >> (63 - p)) - 2^p has
// at most p + 1 bits, so it, the product and the rounding to the type below are all exact.
__attribute__((target("avx512f,avx512dq"))) inline F32x8 exact_fraction(U64x8 u, int p) {
  const I32x8 i = __builtin_convertvector(u >> (63 - p), I32x8) - (1 << p);
  return __builtin_convertvector(i, F32x8) * std::ldexp(1.0f, -p);
}

// Elements of `count` outputs of splitmix64 from `state`, `stride` outputs apart, eight per
// step, as random_row writes them (integers: the low bytes; floats: the exact i / 2^p): the state
// after k outputs is state + k * kGamma, so the lanes are independent. Returns how many outputs
// it wrote (a multiple of 8); the caller generates the rest.
__attribute__((target("avx512f,avx512dq,f16c"))) uint32_t
row_avx512(isa::DType dtype, uint64_t state, uint32_t count, uint64_t stride, uint8_t* out) {
  const unsigned bytes = isa::dtype_bytes(dtype);
  const uint64_t step = stride * kGamma;
  U64x8 s = state + kGamma + U64x8{0, 1, 2, 3, 4, 5, 6, 7} * step;
  uint32_t c = 0;
  for (; c + 8 <= count; c += 8, s += 8 * step) {
    U64x8 z = (s ^ (s >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    uint8_t* to = out + size_t{c} * bytes;
    if (dtype == isa::DType::f16) {
      const __m128i halves =
          _mm256_cvtps_ph(reinterpret_cast<__m256>(exact_fraction(z, 11)), _MM_FROUND_TO_NEAREST_INT);
      std::memcpy(to, &halves, sizeof halves);
    } else if (dtype == isa::DType::bf16) {
      const auto high = __builtin_convertvector(reinterpret_cast<U32x8>(exact_fraction(z, 8)) >> 16, U16x8);
      std::memcpy(to, &high, sizeof high);
    } else if (dtype == isa::DType::f32) {
      const F32x8 values = exact_fraction(z, 24);
      std::memcpy(to, &values, sizeof values);
    } else if (bytes == 1) {
      const auto lanes = __builtin_convertvector(z, U8x8);
      std::memcpy(to, &lanes, sizeof lanes);
    } else if (bytes == 2) {
      const auto lanes = __builtin_convertvector(z, U16x8);
      std::memcpy(to, &lanes, sizeof lanes);
    } else {
      const auto lanes = __builtin_convertvector(z, U32x8);
      std::memcpy(to, &lanes, sizeof lanes);
    }
  }
  return c;
}

bool has_avx512dq() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("f16c");
  return has;
}
#endif

// `cols` elements of random_tensor, `stride` stream elements apart (1: a row), from the stream
// state `state` into `out` (little-endian element bytes). Float types with p significand bits
// take i = (u >> (63 - p)) - 2^p and the value i / 2^p: at most p significant bits, exact, so its
// bits are built directly (a functional run generates every declared weight through here, and
// tspc every stored input, so rows take eight elements per step where the host can).
void random_row(isa::DType dtype, uint32_t cols, uint64_t state, uint8_t* out, uint64_t stride = 1) {
  const unsigned bytes = isa::dtype_bytes(dtype);
#ifdef TSP_X86
  if (has_avx512dq()) {
    const uint32_t done = row_avx512(dtype, state, cols, stride, out);
    state += done * stride * kGamma;
    cols -= done;
    out += size_t{done} * bytes;
  }
#endif
  for (uint32_t c = 0; c < cols; ++c, out += bytes, state += (stride - 1) * kGamma) {
    const uint64_t u = splitmix64(state);
    uint64_t bits = u;
    if (dtype == isa::DType::f16)
      bits = f16_of_eleventh(static_cast<int64_t>(u >> 52) - 2048);
    else if (dtype == isa::DType::bf16)
      bits = bits_of(static_cast<float>(static_cast<int64_t>(u >> 55) - 256) * 0x1p-8f) >> 16;
    else if (dtype == isa::DType::f32)
      bits = bits_of(static_cast<float>(static_cast<int64_t>(u >> 39) - (int64_t{1} << 24)) * 0x1p-24f);
    for (unsigned b = 0; b < bytes; ++b) out[b] = static_cast<uint8_t>(bits >> (8 * b));
  }
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
  const size_t row_bytes = size_t{cols} * isa::dtype_bytes(dtype);
  std::vector<uint8_t> out(rows * row_bytes);
  for (uint32_t r = 0; r < rows; ++r)
    random_row(dtype, cols, random_skip(seed, r * row_stride), &out[r * row_bytes]);
  return out;
}

void random_column(isa::DType dtype, uint32_t count, uint64_t stride, uint64_t seed, uint8_t* out) {
  random_row(dtype, count, seed, out, stride);
}

std::vector<uint8_t> random_tensor(isa::DType dtype, uint32_t rows, uint32_t cols, uint64_t seed) {
  return random_rows(dtype, rows, cols, cols, seed);
}

SymbolWord symbol_word(const Symbol& symbol, uint32_t row, unsigned byte) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  // A byte past the element's is a caller's bug (a value of a wider type written to the symbol
  // unconverted); unchecked it names another row group's slice, or reads past `slices`.
  if (byte >= bytes)
    throw std::logic_error(fmt::format("{}: byte {} of a {}-byte {} element",
                                       symbol.name.empty() ? "a symbol" : "symbol " + symbol.name, byte,
                                       bytes, isa::dtype_name(symbol.dtype)));
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

// Byte `b` of each of `cols` elements of `Bytes` bytes from `row` into `out`: with the element
// size a constant the compiler gathers many bytes per step (tspc images megabytes of keys).
template <unsigned Bytes> void gather_byte(const uint8_t* row, unsigned b, uint32_t cols, uint8_t* out) {
  for (uint32_t c = 0; c < cols; ++c) out[c] = row[size_t{c} * Bytes + b];
}

} // namespace

void byte_plane(const uint8_t* elements, unsigned bytes, unsigned plane, uint32_t cols, uint8_t* out) {
  if (bytes == 1)
    gather_byte<1>(elements, plane, cols, out);
  else if (bytes == 2)
    gather_byte<2>(elements, plane, cols, out);
  else
    gather_byte<4>(elements, plane, cols, out);
}

namespace {

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
        byte_plane(&elements[row * symbol.cols * bytes], bytes, b, symbol.cols,
                   &image.bytes[size_t{k} * vector_bytes]);
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

DeclaredTensor jitter_declaration(const Symbol& symbol, uint64_t seed, double divisor,
                                  unsigned vector_bytes) {
  DeclaredTensor declared = random_declaration(symbol, seed, vector_bytes);
  declared.values = DeclaredValues::jitter;
  declared.divisor = divisor;
  return declared;
}

double jitter_value(float u, double divisor) { return (1.0 + double(u) / 2.0) / divisor; }

uint32_t rounded_element_bits(isa::DType dtype, double value) {
  switch (dtype) {
  case isa::DType::f16:
    return num::f64_to_f16(value);
  case isa::DType::bf16:
    return num::f64_to_bf16(value);
  default:
    return bits_of(num::f64_to_f32(value));
  }
}

namespace {

// Row `cols` elements of a declaration's values from the stream state `state` into `out`
// (little-endian element bytes of `dtype`).
void declared_row(const DeclaredTensor& declared, isa::DType dtype, uint32_t cols, uint64_t state,
                  uint8_t* out) {
  if (declared.values == DeclaredValues::raw) {
    random_row(dtype, cols, state, out);
    return;
  }
  std::vector<uint8_t> stream(size_t{cols} * 4);
  random_row(isa::DType::f32, cols, state, stream.data());
  const unsigned bytes = isa::dtype_bytes(dtype);
  for (uint32_t c = 0; c < cols; ++c) {
    float u;
    std::memcpy(&u, &stream[size_t{c} * 4], 4);
    const uint32_t bits = rounded_element_bits(dtype, jitter_value(u, declared.divisor));
    for (unsigned b = 0; b < bytes; ++b) out[size_t{c} * bytes + b] = static_cast<uint8_t>(bits >> (8 * b));
  }
}

} // namespace

bool is_declared_weight(const DeclaredTensor& declared, const Symbol& symbol) {
  return declared.values == DeclaredValues::raw ||
         (declared.values == DeclaredValues::checkpoint && symbol.dtype == isa::DType::i8);
}

void advance_declaration(DeclaredTensor& declared, uint64_t elements) {
  if (is_checkpoint(declared.values))
    declared.offset += elements;
  else
    declared.seed = random_skip(declared.seed, elements);
}

void add_random_tensor(Program& program, Symbol symbol, DeclaredTensor declared) {
  declared.symbol = static_cast<uint32_t>(program.symbols.size());
  program.symbols.push_back(std::move(symbol));
  program.declared.push_back(declared);
}

std::vector<uint8_t> declared_elements(const DeclaredTensor& declared, const Symbol& symbol) {
  if (is_checkpoint(declared.values)) return checkpoint_elements(declared, symbol);
  const size_t row_bytes = size_t{symbol.cols} * isa::dtype_bytes(symbol.dtype);
  std::vector<uint8_t> out(declared.row_count * row_bytes);
  for (uint32_t r = 0; r < declared.row_count; ++r)
    declared_row(declared, symbol.dtype, symbol.cols,
                 random_skip(declared.seed, (uint64_t{declared.first_row} + r) * declared.row_stride),
                 &out[r * row_bytes]);
  return out;
}

std::vector<DeclaredExtent> declared_word_extents(const DeclaredTensor& declared, const Symbol& symbol) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / bytes);
  std::vector<DeclaredExtent> extents;
  for (const GroupRun& run : group_runs(symbol, declared.first_row, declared.row_count))
    for (unsigned b = 0; b < bytes; ++b)
      extents.push_back({symbol.slices[run.group * bytes + b],
                         symbol.base_of(run.group * bytes + b) + run.first_row / groups, run.rows,
                         run.first_row, groups, b});
  return extents;
}

std::vector<ImageExtent> declared_extents(const DeclaredTensor& declared, const Symbol& symbol) {
  std::vector<ImageExtent> extents;
  for (const DeclaredExtent& e : declared_word_extents(declared, symbol))
    extents.push_back({e.mem, e.address, e.words});
  return extents;
}

void declared_row_bytes(const DeclaredTensor& declared, const Symbol& symbol, uint32_t row, uint8_t* out) {
  declared_row(declared, symbol.dtype, symbol.cols,
               random_skip(declared.seed, uint64_t{row} * declared.row_stride), out);
}

void generate_declared(const DeclaredTensor& declared, const Symbol& symbol,
                       const std::function<uint8_t*(uint32_t mem, uint32_t address)>& word) {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const auto groups = static_cast<uint32_t>(symbol.slices.size() / bytes);
  const size_t row_bytes = size_t{symbol.cols} * bytes;
  // A checkpoint's rows come from its matrix, read once for the whole declaration.
  const std::vector<uint8_t> read =
      is_checkpoint(declared.values) ? checkpoint_elements(declared, symbol) : std::vector<uint8_t>{};
  const auto fill = [&](uint32_t index, uint8_t* out) {
    if (read.empty())
      declared_row_bytes(declared, symbol, index, out);
    else
      std::memcpy(out, &read[(index - declared.first_row) * row_bytes], row_bytes);
  };
  std::vector<uint8_t> row(row_bytes);
  for (const GroupRun& run : group_runs(symbol, declared.first_row, declared.row_count))
    for (uint32_t k = 0; k < run.rows; ++k) {
      const uint32_t index = run.first_row + k * groups;
      const auto out = [&](unsigned b) {
        const size_t slice = run.group * bytes + b;
        return word(symbol.slices[slice], symbol.base_of(slice) + run.first_row / groups + k);
      };
      if (bytes == 1) {
        fill(index, out(0));
        continue;
      }
      fill(index, row.data());
      for (unsigned b = 0; b < bytes; ++b) byte_plane(row.data(), bytes, b, symbol.cols, out(b));
    }
}

// A symbol's slices are distinct, so each image is the only one in its MEM slice.
std::vector<MemImage> declared_images(const DeclaredTensor& declared, const Symbol& symbol) {
  std::vector<MemImage> images;
  for (const ImageExtent& e : declared_extents(declared, symbol))
    images.push_back({e.mem, e.address, std::vector<uint8_t>(size_t{e.words} * declared.vector_bytes)});
  std::map<uint32_t, MemImage*> by_mem;
  for (MemImage& image : images) by_mem[image.mem] = &image;
  generate_declared(declared, symbol, [&](uint32_t mem, uint32_t address) {
    MemImage& image = *by_mem.at(mem);
    return &image.bytes[size_t{address - image.address} * declared.vector_bytes];
  });
  return images;
}

void for_each_image(const Program& program, const std::function<void(const MemImage&)>& visit) {
  for (const auto& declared : program.declared)
    for (const auto& image : declared_images(declared, program.symbols.at(declared.symbol))) visit(image);
  for (const auto& image : program.images) visit(image);
}

} // namespace tsp
