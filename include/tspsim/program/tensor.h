// Tensor contents and where they live in MEM (the Symbol layout of program.h). The assembler's
// .tensor directive, result dumps and host-side reference computations share these functions.
#pragma once

#include "tspsim/program/program.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace tsp {

// The element bytes of `.tensor ... init=random(SEED)`: row-major, each element little-endian.
// Element k (row-major) takes the k-th output u of splitmix64 seeded with `seed`. Integer types
// take the low bits of u (uniform over the whole type). Float types with p significand bits
// (f16 11, bf16 8, f32 24) take i = (u >> (63 - p)) - 2^p and the value i / 2^p, uniform in
// [-1, 1) and exactly representable.
std::vector<uint8_t> random_tensor(isa::DType dtype, uint32_t rows, uint32_t cols, uint64_t seed);

// splitmix64's state advances by a constant per output, so the stream of `seed` from its element
// `first` on is itself the stream of random_skip(seed, first).
uint64_t random_skip(uint64_t seed, uint64_t first);

// A window of the stream of `seed`: row r is its elements r * row_stride .. r * row_stride +
// cols - 1 (row_stride >= cols). random_rows(d, R, C, C, s) == random_tensor(d, R, C, s).
std::vector<uint8_t> random_rows(isa::DType dtype, uint32_t rows, uint32_t cols, uint64_t row_stride,
                                 uint64_t seed);

// Elements 0, stride, 2 * stride, ... (`count` of them) of the stream of `seed` into `out`, element
// bytes in a row: a column of a row-major random tensor (attention's cached keys, stored
// transposed), made without the tensor.
void random_column(isa::DType dtype, uint32_t count, uint64_t stride, uint64_t seed, uint8_t* out);

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

// The declaration of `symbol` (whole, its rows one run of the stream of `seed`), for
// add_random_tensor; row_stride, first_row and row_count may then be narrowed to a window.
DeclaredTensor random_declaration(const Symbol& symbol, uint64_t seed, unsigned vector_bytes);

// The declaration of `symbol` whose elements are jitter_value of the fp32 stream of `seed`: the
// per-column scales of seeded int8 weights and the gains of seeded norms (docs/models.md), so a
// program declares them instead of storing them.
DeclaredTensor jitter_declaration(const Symbol& symbol, uint64_t seed, double divisor, unsigned vector_bytes);

// (1 + u / 2) / divisor in double, for an fp32 stream element u (in [-1, 1)): 1 + u / 2 is exact,
// so rounding the result to fp32 equals computing it in fp32. The value of a jitter declaration
// before rounding to its tensor's type; the host model's scales and gains are defined by it.
double jitter_value(float u, double divisor);

// Whether a declared tensor of a token program holds weights (the weight-streaming bound counts
// them): a seeded stream's raw elements or a checkpoint's int8 matrix. Not the per-column scales
// and norm gains, declared as jitter, checkpoint scales or float checkpoint rows.
bool is_declared_weight(const DeclaredTensor& declared, const Symbol& symbol);

// Moves a declaration's element (0, 0) `elements` on along its stream (random_skip) or its
// checkpoint matrix, so a window further right or down is declared from the same source.
void advance_declaration(DeclaredTensor& declared, uint64_t elements);

// The bits of `value` rounded to nearest even in the float type `dtype` (f16, bf16, else f32).
uint32_t rounded_element_bits(isa::DType dtype, double value);

// Appends `symbol` and its declaration (declared.symbol is set here): the program stores the
// declaration, never the bytes.
void add_random_tensor(Program& program, Symbol symbol, DeclaredTensor declared);

// The elements of the declared rows (row-major, rows first_row .. first_row + row_count - 1).
std::vector<uint8_t> declared_elements(const DeclaredTensor& declared, const Symbol& symbol);

// Where a declared tensor's images go, without their bytes: one per slice that holds a declared
// row, in the order declared_images generates them.
struct ImageExtent {
  uint32_t mem = 0;
  uint32_t address = 0;
  uint32_t words = 0;
};
std::vector<ImageExtent> declared_extents(const DeclaredTensor& declared, const Symbol& symbol);

// The images of a declared tensor, generated (unused lanes zero).
std::vector<MemImage> declared_images(const DeclaredTensor& declared, const Symbol& symbol);

// Every image of `program`: each declared tensor's images, generated one tensor at a time and
// dropped after `visit`, then the stored images (so images appended to `images`, as tspsim
// --load does, land over both). Programs checked by validate_program have no overlaps otherwise.
void for_each_image(const Program& program, const std::function<void(const MemImage&)>& visit);

} // namespace tsp
