#include "tspsim/compiler/reference.h"

#include "tspsim/numeric/numeric.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tsp::compiler {

using isa::DType;

std::vector<double> element_values(DType dtype, const std::vector<uint8_t>& bytes) {
  const unsigned width = isa::dtype_bytes(dtype);
  std::vector<double> out(bytes.size() / width);
  for (size_t e = 0; e < out.size(); ++e) {
    uint32_t bits = 0;
    for (unsigned b = 0; b < width; ++b) bits |= uint32_t(bytes[e * width + b]) << (8 * b);
    switch (dtype) {
    case DType::i8:
      out[e] = static_cast<int8_t>(bits);
      break;
    case DType::i16:
      out[e] = static_cast<int16_t>(bits);
      break;
    case DType::i32:
      out[e] = static_cast<int32_t>(bits);
      break;
    case DType::f16:
      out[e] = num::f16_to_f32(static_cast<uint16_t>(bits));
      break;
    case DType::bf16:
      out[e] = num::bf16_to_f32(static_cast<uint16_t>(bits));
      break;
    default: {
      float f;
      std::memcpy(&f, &bits, sizeof f);
      out[e] = f;
    }
    }
  }
  return out;
}

std::vector<uint8_t> element_bytes_of(DType dtype, const std::vector<double>& values) {
  const unsigned width = isa::dtype_bytes(dtype);
  std::vector<uint8_t> out(values.size() * width);
  for (size_t e = 0; e < values.size(); ++e) {
    uint32_t bits;
    switch (dtype) {
    case DType::i8:
    case DType::i16:
    case DType::i32:
      bits = static_cast<uint32_t>(static_cast<int64_t>(values[e]));
      break;
    case DType::f16:
      bits = num::f64_to_f16(values[e]);
      break;
    case DType::bf16:
      bits = num::f64_to_bf16(values[e]);
      break;
    default: {
      const auto f = static_cast<float>(values[e]);
      std::memcpy(&bits, &f, sizeof bits);
    }
    }
    for (unsigned b = 0; b < width; ++b) out[e * width + b] = static_cast<uint8_t>(bits >> (8 * b));
  }
  return out;
}

std::vector<uint8_t> sub_block(const std::vector<uint8_t>& elements, unsigned bytes, uint32_t cols_total,
                               uint32_t row0, uint32_t rows, uint32_t col0, uint32_t cols) {
  std::vector<uint8_t> out(size_t(rows) * cols * bytes);
  for (uint32_t r = 0; r < rows; ++r)
    std::memcpy(&out[size_t(r) * cols * bytes], &elements[(size_t(row0 + r) * cols_total + col0) * bytes],
                size_t(cols) * bytes);
  return out;
}

std::vector<double> matmul_reference(const std::vector<double>& a, const std::vector<double>& b, uint32_t m,
                                     uint32_t k, uint32_t n, std::vector<double>* abs_sums) {
  std::vector<double> c(size_t(m) * n, 0.0);
  if (abs_sums) abs_sums->assign(size_t(m) * n, 0.0);
  for (uint32_t i = 0; i < m; ++i)
    for (uint32_t kk = 0; kk < k; ++kk) {
      const double x = a[size_t(i) * k + kk];
      const double* row = &b[size_t(kk) * n];
      double* out = &c[size_t(i) * n];
      for (uint32_t j = 0; j < n; ++j) out[j] += x * row[j];
      if (abs_sums)
        for (uint32_t j = 0; j < n; ++j) (*abs_sums)[size_t(i) * n + j] += std::fabs(x * row[j]);
    }
  return c;
}

std::vector<double> matmul_int8_reference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                                          uint32_t m, uint32_t k, uint32_t n) {
  // Rows of A taken together, so that each row of B is fetched once per block from cache instead
  // of once per row from memory (B is k x n bytes, megabytes for a layer). Unsigned sums wrap
  // modulo 2^32, as the two's-complement accumulators do, so any order gives the same bits.
  constexpr uint32_t kRowBlock = 8;
  std::vector<uint32_t> sums(size_t(kRowBlock) * n);
  std::vector<double> c(size_t(m) * n);
  for (uint32_t i0 = 0; i0 < m; i0 += kRowBlock) {
    const uint32_t rows = std::min(kRowBlock, m - i0);
    std::fill(sums.begin(), sums.end(), 0u);
    for (uint32_t kk = 0; kk < k; ++kk) {
      const uint8_t* row = &b[size_t(kk) * n];
      for (uint32_t r = 0; r < rows; ++r) {
        // An int8 product fits 16 bits: the loop vectorises with 16-bit multiplies.
        const auto x = static_cast<int16_t>(static_cast<int8_t>(a[size_t(i0 + r) * k + kk]));
        uint32_t* out = &sums[size_t(r) * n];
        for (uint32_t j = 0; j < n; ++j) {
          const auto product = static_cast<int16_t>(x * static_cast<int16_t>(static_cast<int8_t>(row[j])));
          out[j] += static_cast<uint32_t>(static_cast<int32_t>(product));
        }
      }
    }
    for (uint32_t r = 0; r < rows; ++r)
      for (uint32_t j = 0; j < n; ++j)
        c[size_t(i0 + r) * n + j] = static_cast<int32_t>(sums[size_t(r) * n + j]);
  }
  return c;
}

ExpectedOutput make_expected(const std::string& symbol, DType dtype, std::vector<double> values,
                             std::vector<double> tolerance) {
  ExpectedOutput out;
  out.symbol = symbol;
  if (!isa::dtype_is_float(dtype)) {
    // Integer results wrap like the hardware's two's-complement accumulators.
    const unsigned bits = 8 * isa::dtype_bytes(dtype);
    for (double& v : values) {
      const auto wide = static_cast<int64_t>(v);
      const uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
      uint64_t u = static_cast<uint64_t>(wide) & mask;
      if (u >> (bits - 1)) u |= ~mask;
      v = static_cast<double>(static_cast<int64_t>(u));
    }
  }
  out.bytes = element_bytes_of(dtype, values);
  out.values = std::move(values);
  out.tolerance = tolerance.empty() ? std::vector<double>(out.values.size(), 0.0) : std::move(tolerance);
  // An infinity or NaN as written is checked exactly (tspsim matches it only with the same
  // infinity, or with any NaN): a distance to it means nothing, and the kernels' bounds, computed
  // from the reference's magnitude, would be infinite or NaN there.
  const std::vector<double> written = element_values(dtype, out.bytes);
  for (size_t e = 0; e < written.size(); ++e)
    if (!std::isfinite(written[e])) out.tolerance[e] = 0;
  return out;
}

} // namespace tsp::compiler
