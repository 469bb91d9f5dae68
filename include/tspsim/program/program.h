// A statically scheduled program: what tspasm and tspc write and tspsim replays.
// The file format is specified in docs/program-format.md.
#pragma once

#include "isa.h"
#include "tspsim/program/regions.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tsp {

struct ChipConfig;

// One instruction as fields: opcode plus operand values in the order of the ISA table.
struct Instruction {
  isa::Opcode opcode = isa::Opcode::nop;
  std::array<int64_t, isa::kMaxFields> operands{};

  const isa::OpcodeSpec& spec() const { return isa::spec(opcode); }
  bool operator==(const Instruction& other) const {
    return opcode == other.opcode && operands == other.operands;
  }
};

// 64-bit encoding driven by the ISA table. decode() throws InputError for an unknown opcode or
// set bits outside every field.
uint64_t encode(const Instruction& instruction);
Instruction decode(uint64_t word);

struct QueueProgram {
  uint32_t queue = 0;              // Floorplan queue number
  std::vector<uint64_t> words;     // encoded instructions, in dispatch order
  std::vector<uint32_t> lines;     // source line of each word (0 = unknown); empty if none
};

// Initial contents of consecutive vector addresses of one MEM slice.
struct MemImage {
  uint32_t mem = 0;                // global MEM number (Floorplan::mem_global)
  uint32_t address = 0;
  std::vector<uint8_t> bytes;      // a whole number of vectors
};

// A named tensor in MEM. Row r lives in slice group g = r % G at address base + r / G. A group
// holds one slice per byte of the element type: byte b of every element of the row is in
// slices[g * bytes + b], lane = column. Columns run to at most the vector length. Each slice may
// have a base of its own (`bases`, one per slice): every slice is read and written by its own
// instructions, so a tensor's rows need not sit at one address in all its slices.
struct Symbol {
  std::string name;
  isa::DType dtype = isa::DType::i8;
  uint32_t rows = 0;
  uint32_t cols = 0;
  uint32_t base = 0;               // the base of every slice when `bases` is empty
  std::vector<uint32_t> slices;    // G * dtype_bytes global MEM numbers
  std::vector<uint32_t> bases;     // empty, or the base of each of `slices`

  // The base of slices[k].
  uint32_t base_of(size_t k) const { return bases.empty() ? base : bases[k]; }
};

// Symbol names are [A-Za-z_][A-Za-z0-9_.]*, so assembly text can name every symbol.
bool is_valid_symbol_name(const std::string& name);

// A tensor whose initial MEM contents are declared instead of stored: a container keeps the
// declaration (docs/program-format.md, version 3) and nothing holds its bytes until a functional
// run loads them into MEM (for_each_image, tensor.h), so a program of gigabytes of weights stays
// small on disk and in memory. The elements are a window of a seeded random stream: row r of the
// symbol is stream elements r * row_stride .. r * row_stride + cols - 1 of random_rows (tensor.h),
// so one declaration covers a column window of a larger matrix. Only rows
// [first_row, first_row + row_count) are initialised; the others are left as MEM is (zero).
// `values` says how an element follows from its stream element (jitter_value, tensor.h), or that
// the elements are a window of a checkpoint's matrix instead (version 5).
enum class DeclaredValues : uint8_t {
  raw = 0,        // the stream's element in the symbol's type (random_row)
  jitter = 1,     // (1 + u / 2) / divisor rounded to the symbol's float type, u the fp32 stream's element
  checkpoint = 2, // the checkpoint matrix's element: int8 symbols its quantised value, float ones its
                  // value rounded to their type (checkpoint_matrix.h)
  checkpoint_scale = 3, // the int8 quantisation's scale of the matrix's column, rounded to the float type
};

// The matrix a checkpoint declaration reads (docs/models.md, "Checkpoints"): tensor `tensor` of the
// safetensors file `file` (opened as named, from the working directory), transposed from Hugging
// Face's [out, in] when `transposed`, its output rows in rotate-half order per head of
// `rotary_head_dim` (0: none) taken as interleaved pairs. A 1-D tensor is one row.
struct CheckpointTensor {
  std::string file;
  std::string tensor;
  bool transposed = false;
  uint32_t rotary_head_dim = 0;
};

bool is_checkpoint(DeclaredValues values);

struct DeclaredTensor {
  uint32_t symbol = 0;             // index into Program::symbols
  uint64_t seed = 0;               // the stream's seed (its element 0 is row 0, column 0)
  uint32_t vector_bytes = 0;       // the layout's vector length (tensor_images)
  uint32_t row_stride = 0;         // stream elements from one row's start to the next's (>= cols)
  uint32_t first_row = 0;          // the declared rows: [first_row, first_row + row_count),
  uint32_t row_count = 0;          // at least one, inside the symbol's rows
  DeclaredValues values = DeclaredValues::raw;
  double divisor = 1.0; // jitter: finite and positive
  // Checkpoint kinds: the matrix element (row-major; checkpoint_scale: the column) of row 0,
  // column 0, in place of the stream's seed, and the matrix.
  uint64_t offset = 0;
  CheckpointTensor checkpoint{};
};

struct ProgramMetadata {
  std::string workload;            // free text: "gemm 320x320x320 int8"
  std::string generator;           // "tspasm 0.1.0", "tspc 0.1.0"
  std::string source;              // source file name, for messages
  uint64_t tokens_per_run = 0;     // tokens produced by one run (0: not a token workload)
  uint32_t chips = 1;
  uint64_t predicted_cycles = 0;   // the generator's cycle prediction (0: none)
};

struct Program {
  uint64_t fingerprint = 0;        // geometry_fingerprint of the config it was built for
  std::vector<QueueProgram> queues;
  std::vector<MemImage> images;    // stored images; declared tensors' images are generated
  std::vector<Symbol> symbols;
  ProgramMetadata metadata;
  std::vector<DeclaredTensor> declared; // tensors initialised from a declaration, not stored bytes
  ProgramRegions regions;               // the phases that placed the instructions (may be empty)

  const Symbol* find_symbol(const std::string& name) const;
};

// Binary container. read_program() throws InputError for a missing, truncated, garbage,
// wrong-magic or wrong-version file, naming the file and the offset.
std::vector<uint8_t> serialize_program(const Program& program);
Program deserialize_program(const std::vector<uint8_t>& bytes, const std::string& origin);
void write_program(const Program& program, const std::filesystem::path& path);
Program read_program(const std::filesystem::path& path);

// Checks a program against a config: fingerprint, queue numbers, every operand in range (stream
// ids and groups, addresses, slices, links, dtypes), images and symbols inside MEM. Throws
// InputError naming the queue, the instruction index, its source line and the operand. `origin`
// names the program in messages (default: metadata.source); source lines use metadata.source.
void validate_program(const Program& program, const ChipConfig& config, const std::string& origin = {});

// Loads PROGRAM as tspsim does: .tsp is assembled for `config`, anything else is read as a
// binary container; then validated.
Program load_program(const std::filesystem::path& path, const ChipConfig& config);

} // namespace tsp
