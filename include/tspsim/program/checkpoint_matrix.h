// Matrices read from a safetensors checkpoint, converted once for everyone who needs them: the host
// model (tsp::model::load_checkpoint) and a functional run loading a program's checkpoint
// declarations into MEM (declared_elements) call the same functions, so the chip and the reference
// hold the same values (docs/models.md, "Checkpoints").
#pragma once

#include "tspsim/program/program.h"
#include "tspsim/program/safetensors.h"

#include <cstdint>
#include <vector>

namespace tsp {

// Hugging Face stores q_proj and k_proj with each head's rows in rotate-half order (row i pairs with
// row i + head_dim / 2); RoPE here turns interleaved pairs (2i, 2i + 1). Our output column
// (h, 2i + half) is Hugging Face row (h, half * head_dim / 2 + i). rotary_head_dim 0: the same row.
uint32_t checkpoint_row(uint32_t column, uint32_t rotary_head_dim);

// A K x N matrix of the stored elements' values (row-major fp32): a 2-D tensor as stored ([K, N])
// or, `transposed`, from [N, K] with output column n taken from row checkpoint_row(n); a 1-D tensor
// [N] is one row. Throws InputError "FILE: tensor NAME: ..." for another rank or a rotary head
// size that does not divide the rows evenly.
struct CheckpointMatrix {
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<float> values;
};
CheckpointMatrix checkpoint_matrix(const SafetensorsIndex& index, const SafetensorsEntry& entry,
                                   const std::vector<uint8_t>& bytes, bool transposed,
                                   uint32_t rotary_head_dim);

// int8 per output column: scale = fp32(max|w| / 127), q = round_even(fp32(w * fp32(127 / max|w|)))
// clamped to +-127 (a zero column: scale 0, q 0).
struct QuantisedMatrix {
  std::vector<int8_t> q; // row-major, as the matrix
  std::vector<float> scale;
};
QuantisedMatrix quantise_columns(const CheckpointMatrix& matrix);

// The elements of a checkpoint declaration's rows (row-major, rows first_row .. first_row +
// row_count - 1), read from its file: the last matrix read stays cached, so the tiles of one
// matrix read it once. Throws InputError naming the file, the tensor and the symbol when the file
// or tensor is missing or the window lies outside the matrix.
std::vector<uint8_t> checkpoint_elements(const DeclaredTensor& declared, const Symbol& symbol);

} // namespace tsp
