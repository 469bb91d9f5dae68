// The safetensors container (docs/models.md, "Checkpoints"): an 8-byte little-endian header
// length, a JSON header naming every tensor's dtype, shape and data_offsets, then the data. The
// index reads the header alone, so a program that declares windows of a large checkpoint reads
// only the tensors it uses.
#pragma once

#include "isa.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tsp {

struct SafetensorsEntry {
  std::string name;
  isa::DType dtype = isa::DType::f32; // f32, f16 or bf16
  std::vector<uint64_t> shape;
  uint64_t begin = 0; // data offsets, from the first byte after the header
  uint64_t size = 0;  // bytes
};

struct SafetensorsIndex {
  std::string file;
  uint64_t data_begin = 0;               // file offset of the data
  std::vector<SafetensorsEntry> entries; // in data order, covering the data without holes

  const SafetensorsEntry* find(const std::string& name) const;
};

// Reads and checks the header: dtypes F32, F16 or BF16, sizes that match the shapes, the data
// indexed entirely without holes or overlaps. Throws InputError "FILE: ..." for anything malformed.
SafetensorsIndex read_safetensors_index(const std::filesystem::path& path);

// The bytes of one entry of the index (row-major, little-endian elements).
std::vector<uint8_t> read_safetensors_data(const SafetensorsIndex& index, const SafetensorsEntry& entry);

// A shape as the messages print it: [4096, 11008].
std::string shape_text(const std::vector<uint64_t>& shape);

// The F32 / F16 / BF16 names of the header.
const char* safetensors_dtype_name(isa::DType dtype);

} // namespace tsp
