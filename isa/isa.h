// The TSP instruction set as data. Every tool (encoder, decoder, assembler, disassembler, the
// docs generator, the simulator's dispatch and the compiler) reads this one table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tsp::isa {

// A read-only view of consecutive table entries (std::span is C++20; the project is C++17).
template <typename T> class Span {
public:
  constexpr Span(const T* data, std::size_t size) : data_(data), size_(size) {}
  template <std::size_t N> constexpr Span(const T (&array)[N]) : data_(array), size_(N) {}

  constexpr const T* begin() const { return data_; }
  constexpr const T* end() const { return data_ + size_; }
  constexpr const T* data() const { return data_; }
  constexpr std::size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }
  constexpr const T& operator[](std::size_t i) const { return data_[i]; }

private:
  const T* data_;
  std::size_t size_;
};

enum class TimingParam : uint8_t {
#define TIMING_PARAM(id, key, def, meaning, source) id,
#include "timing_params.def"
#undef TIMING_PARAM
  count,
  none = 0xff,
};

struct TimingParamSpec {
  TimingParam id;
  std::string_view key;
  uint32_t default_14nm;
  std::string_view meaning;
  std::string_view source;
};

Span<const TimingParamSpec> timing_params();
std::optional<TimingParam> timing_param_by_key(std::string_view key);

enum class Unit : uint8_t { icu, mem, vxm, mxm, sxm, c2c, count };
std::string_view unit_name(Unit unit);

// Element types. The stream group of a type is its width in bytes: one byte-stream per byte.
enum class DType : uint8_t { i8, i16, i32, f16, bf16, f32, count };
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_by_name(std::string_view name);
unsigned dtype_bytes(DType dtype);
bool dtype_is_float(DType dtype);

enum class FieldKind : uint8_t {
  uimm,      // unsigned integer
  simm,      // two's-complement integer
  address,   // MEM vector address, checked against mem_words_per_slice
  stream,    // bit 6: direction (0 east, 1 west); bits 5..0: stream id (group base)
  dtype,     // written as a mnemonic suffix: add.f32
  mem_slice, // bit 7: hemisphere (0 west, 1 east); bits 6..0: slice index from the VXM
  f32,       // IEEE binary32 bit pattern, written as a decimal number
  mode,      // one of `mode_names`, written by name
  link,      // C2C link index
};

enum class StreamRole : uint8_t { none, read, write };

struct FieldSpec {
  std::string_view name;
  FieldKind kind = FieldKind::uimm;
  uint8_t lsb = 0;
  uint8_t width = 0;
  StreamRole role = StreamRole::none;
  // Streams: the group size is fixed (group_fixed > 0) or the byte width of dtype field
  // number group_dtype.
  uint8_t group_fixed = 0;
  uint8_t group_dtype = 0;
  std::array<std::string_view, 2> mode_names{};
};

enum class Opcode : uint8_t {
#define TSP_OPCODE(id, code) id = code,
#include "opcodes.def"
#undef TSP_OPCODE
};

inline constexpr std::size_t kMaxFields = 6;
inline constexpr unsigned kOpcodeBits = 8;
inline constexpr unsigned kInstructionBytes = 8;

struct OpcodeSpec {
  Opcode opcode;
  std::string_view mnemonic;
  Unit unit;
  TimingParam skew;
  TimingParam func;
  std::array<FieldSpec, kMaxFields> fields;
  uint8_t field_count;
  std::string_view description;

  Span<const FieldSpec> operand_fields() const { return {fields.data(), field_count}; }
};

Span<const OpcodeSpec> opcodes();
const OpcodeSpec* find_mnemonic(std::string_view mnemonic);

namespace detail {
// The table row of each opcode byte (null: none), defined with the table. Inline lookups: spec()
// is called several times for every dispatched instruction (skew, func, operand roles).
extern const std::array<const OpcodeSpec*, 256> kSpecByCode;
} // namespace detail

inline const OpcodeSpec* find_opcode(uint8_t code) { return detail::kSpecByCode[code]; }
inline const OpcodeSpec& spec(Opcode opcode) { return *detail::kSpecByCode[static_cast<uint8_t>(opcode)]; }

// Which unit's queues may issue an instruction of `unit` (ICU instructions run on every queue;
// C2C instructions are issued by the SXM queues, next to the links).
Unit issuing_unit(Unit unit);

} // namespace tsp::isa
