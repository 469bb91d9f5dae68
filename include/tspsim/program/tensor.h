// Tensor contents and where they live in MEM (the Symbol layout of program.h). The assembler's
// .tensor directive, result dumps and host-side reference computations share these functions.
#pragma once

#include "tspsim/program/program.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace tsp {

// The element bytes of `.tensor ... init=random(SEED)`: row-major, each element little-endian.
// Element k (row-major) takes the k-th output u of splitmix64 seeded with `seed`. Integer types
// take the low bits of u (uniform over the whole type). Float types with p significand bits
// (f16 11, bf16 8, f32 24) take i = (u >> (63 - p)) - 2^p and the value i / 2^p, uniform in
// [-1, 1) and exactly representable.
std::vector<uint8_t> random_tensor(isa::DType dtype, uint32_t rows, uint32_t cols, uint64_t seed);

// The little-endian bytes of `value` as an element of `dtype`, if the value is exactly
// representable (integers: in the signed range of the type; floats: no rounding needed).
std::optional<std::vector<uint8_t>> element_bytes(isa::DType dtype, double value);

struct SymbolWord {
  uint32_t mem;     // global MEM number
  uint32_t address; // vector address in that slice
};

// Where byte `byte` (0 = least significant) of every element of row `row` lives.
SymbolWord symbol_word(const Symbol& symbol, uint32_t row, unsigned byte);

// Images that initialise `symbol` with `elements` (row-major element bytes): one image per slice
// that holds at least one row, in the order of symbol.slices; unused lanes are zero.
std::vector<MemImage> tensor_images(const Symbol& symbol, const std::vector<uint8_t>& elements,
                                    unsigned vector_bytes);

// Appends `symbol` initialised with random_tensor(seed) and its images, and declares them, so a
// container stores the seed instead of the bytes (DeclaredTensor).
void add_random_tensor(Program& program, Symbol symbol, uint64_t seed, unsigned vector_bytes);

// The images of a declared tensor, generated (the reader of a container calls this).
std::vector<MemImage> declared_images(const DeclaredTensor& declared, const Symbol& symbol);

} // namespace tsp
