// Host references for the kernels: plain loops over element values in double precision, written
// independently of the chip's arithmetic library (which they are checked against). Only the
// fp16/bf16 bit conversions come from tspsim/numeric.h.
#pragma once

#include "tspsim/compiler/builder.h"

#include <cstdint>
#include <vector>

namespace tsp::compiler {

// Row-major element bytes <-> element values.
std::vector<double> element_values(isa::DType dtype, const std::vector<uint8_t>& bytes);
// Integers wrap to the type (two's complement); floats round to nearest even.
std::vector<uint8_t> element_bytes_of(isa::DType dtype, const std::vector<double>& values);

// The rows x cols block at (row0, col0) of a row-major matrix with `cols_total` columns.
std::vector<uint8_t> sub_block(const std::vector<uint8_t>& elements, unsigned bytes, uint32_t cols_total,
                               uint32_t row0, uint32_t rows, uint32_t col0, uint32_t cols);

// C = A B for A (m x k) and B (k x n): exact integer sums, or double sums for floats.
// `abs_sums` (optional) receives sum_k |A[i][k] B[k][j]| per element.
std::vector<double> matmul_reference(const std::vector<double>& a, const std::vector<double>& b, uint32_t m,
                                     uint32_t k, uint32_t n, std::vector<double>* abs_sums);

// C = A B for int8 A (m x k) and B (k x n) given as element bytes, with int32 sums that wrap like
// the MXM's accumulators (integer arithmetic: the int8 GEMM reference costs little beside the
// schedule).
std::vector<double> matmul_int8_reference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, uint32_t m,
                                          uint32_t k, uint32_t n);

// An output check: `values` (rows x cols, row-major) as the chip stores them in `dtype`, with a
// tolerance per element (empty: bit-exact).
ExpectedOutput make_expected(const std::string& symbol, isa::DType dtype, std::vector<double> values,
                             std::vector<double> tolerance);

} // namespace tsp::compiler
