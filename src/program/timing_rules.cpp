#include "tspsim/program/timing_rules.h"

#include "isa.h"

namespace tsp {

using isa::TimingParam;

std::string stream_field_name(int64_t field) {
  return stream_direction_letter(stream_field_west(field)) + std::to_string(stream_field_id(field));
}

std::optional<int64_t> parse_stream_field(std::string_view text, unsigned per_direction) {
  if (text.size() < 2 || text.size() > 4 || (text[0] != 'E' && text[0] != 'W')) return std::nullopt;
  const std::string_view digits = text.substr(1);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  unsigned id = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + unsigned(c - '0');
  }
  if (id >= per_direction) return std::nullopt;
  return stream_field(id, text[0] == 'W');
}

uint64_t notify_release_cycles(const ChipConfig& config) { return config.timing[TimingParam::icu_notify]; }

uint64_t ifetch_read_cycles(const ChipConfig& config) { return config.timing[TimingParam::mem_read_skew]; }

uint64_t ifetch_arrival_cycles(const ChipConfig& config) { return config.timing[TimingParam::icu_ifetch]; }

unsigned text_words_per_vector(unsigned vector_bytes) { return vector_bytes / isa::kInstructionBytes; }

void put_text_word(uint8_t* vector, unsigned slot, uint64_t word) {
  for (unsigned b = 0; b < isa::kInstructionBytes; ++b)
    vector[slot * isa::kInstructionBytes + b] = static_cast<uint8_t>(word >> (8 * b));
}

uint64_t last_superlane_stagger(const ChipConfig& config) {
  return uint64_t(config.geometry.superlanes - 1) * config.streams.superlane_stagger_cycles;
}

uint64_t run_cycles(uint64_t last_active, const ChipConfig& config) {
  return last_active + 1 + last_superlane_stagger(config);
}

namespace {
const isa::FieldSpec& field(isa::Opcode opcode, size_t index) {
  return isa::spec(opcode).operand_fields()[index];
}
uint64_t unsigned_max(const isa::FieldSpec& f) { return (uint64_t{1} << f.width) - 1; }
} // namespace

const RepeatLimits& repeat_limits() {
  static const RepeatLimits limits{
      unsigned_max(field(isa::Opcode::repeat, 0)), int64_t(unsigned_max(field(isa::Opcode::repeat, 1))),
      int64_t(unsigned_max(field(isa::Opcode::repeat, 2)) >> 1), unsigned_max(field(isa::Opcode::nop, 0))};
  return limits;
}

isa::Unit queue_unit(SliceKind kind) { return slice_kind_info(kind).unit; }

bool queue_may_issue(const isa::OpcodeSpec& spec, SliceKind kind) {
  return queue_may_issue(isa::issuing_unit(spec.unit), queue_unit(kind));
}

} // namespace tsp
