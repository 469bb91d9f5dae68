#include "tspsim/program/instruction_check.h"

#include "tspsim/program/timing_rules.h"

#include <array>
#include <fmt/format.h>
#include <stdexcept>

namespace tsp {
namespace {

using isa::FieldKind;
using isa::Opcode;

int64_t operand(const Instruction& instruction, std::string_view name) {
  const auto fields = instruction.spec().operand_fields();
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == name) return instruction.operands[i];
  return 0;
}

std::string address_label(const isa::FieldSpec& field) {
  return field.name == "addr" ? "address" : fmt::format("{} address", field.name);
}

// The dtype values of an instruction, in field order; an invalid one is reported.
// An instruction's dtype fields in order, held in place: the ICU checks every fetched word it has
// not decoded before, and a heap vector per check cost more than the checks.
struct FieldDTypes {
  std::array<isa::DType, isa::kMaxFields> values{};
  size_t count = 0;
  void push_back(isa::DType dtype) { values[count++] = dtype; }
  isa::DType operator[](size_t i) const { return values[i]; }
  isa::DType at(size_t i) const {
    if (i >= count) throw std::logic_error("instruction check: a stream's group names a missing dtype field");
    return values[i];
  }
};

std::optional<std::string> dtypes_of(const Instruction& instruction, FieldDTypes& dtypes) {
  const auto fields = instruction.spec().operand_fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    const int64_t value = instruction.operands[i];
    if (fields[i].kind != FieldKind::dtype) continue;
    if (value < 0 || value >= static_cast<int64_t>(isa::DType::count))
      return fmt::format("{} field value {} is not a type", fields[i].name, value);
    dtypes.push_back(static_cast<isa::DType>(value));
  }
  return std::nullopt;
}

std::optional<std::string> check_stream(const isa::FieldSpec& field, int64_t value, unsigned group,
                                        unsigned per_direction) {
  const unsigned id = stream_field_id(value);
  const char dir = stream_direction_letter(stream_field_west(value));
  if (id >= per_direction)
    return fmt::format("{} stream {} out of range ({}0..{}{})", field.name, stream_field_name(value), dir,
                       dir, per_direction - 1);
  if (id % group != 0)
    return fmt::format("{} stream {} is not aligned to its group of {} streams", field.name,
                       stream_field_name(value), group);
  // An aligned group ends inside the streams: the config keeps per_direction a multiple of 16,
  // the largest group.
  return std::nullopt;
}

std::optional<std::string> check_repeat_counts(const Instruction& repeat) {
  const int64_t n = operand(repeat, "n");
  if (n < 1) return fmt::format("n = {}, must be at least 1", n);
  if (operand(repeat, "d") < 1) return fmt::format("d = {}, must be at least 1", operand(repeat, "d"));
  return std::nullopt;
}

std::optional<std::string> check_repeat_reach(const Instruction& repeat, const Instruction* previous,
                                              const ChipConfig& config) {
  const int64_t n = operand(repeat, "n");
  const int64_t stride = operand(repeat, "stride");
  if (!previous) return std::string("Repeat has no previous instruction to repeat");
  const auto& prev = previous->spec();
  if (prev.unit == isa::Unit::icu)
    return fmt::format("Repeat must follow a non-ICU instruction, not {}", prev.mnemonic);
  // The stride advances every address field and the MXM accumulator index (docs/timing-model.md).
  const auto fields = prev.operand_fields();
  const int64_t words = config.geometry.mem_words_per_slice;
  for (size_t i = 0; i < fields.size(); ++i) {
    const int64_t last = previous->operands[i] + n * stride;
    if (fields[i].kind == FieldKind::address && (last < 0 || last >= words))
      return fmt::format("repeating {} {} times with stride {} reaches {} {} (slice has {} words)",
                         prev.mnemonic, n, stride, address_label(fields[i]), last, words);
    if (fields[i].name == "acc" && (last < 0 || last >= config.mxm.accumulators))
      return fmt::format(
          "repeating {} {} times with stride {} reaches acc {} (the plane has {} accumulators)",
          prev.mnemonic, n, stride, last, config.mxm.accumulators);
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> check_repeat(const Instruction& repeat, const Instruction* previous,
                                        const ChipConfig& config) {
  if (auto problem = check_repeat_counts(repeat)) return problem;
  return check_repeat_reach(repeat, previous, config);
}

namespace {

std::optional<std::string> check_opcode(const Instruction& instruction, const Instruction* previous,
                                        const FieldDTypes& dtypes, const ChipConfig& config) {
  const auto& spec = instruction.spec();
  switch (instruction.opcode) {
  case Opcode::nop:
    if (operand(instruction, "n") < 1) return std::string("n = 0, must be at least 1");
    break;
  case Opcode::repeat:
    return check_repeat(instruction, previous, config);
  case Opcode::ifetch: {
    const int64_t addr = operand(instruction, "addr");
    const int64_t count = operand(instruction, "count");
    if (count < 1) return std::string("count = 0, must be at least 1");
    if (addr + count > config.geometry.mem_words_per_slice)
      return fmt::format("address {} + count {} runs past the slice end (slice has {} words)", addr, count,
                         config.geometry.mem_words_per_slice);
    break;
  }
  case Opcode::config: {
    const int64_t vl = operand(instruction, "vl");
    if (vl < 1 || vl > config.geometry.superlanes)
      return fmt::format("vl {} out of range (1..{} superlanes)", vl, config.geometry.superlanes);
    break;
  }
  case Opcode::select: {
    const int64_t mask = operand(instruction, "mask");
    if (mask >= (int64_t{1} << config.geometry.superlanes))
      return fmt::format("mask 0x{:x} has bits above the {} superlanes", mask, config.geometry.superlanes);
    break;
  }
  case Opcode::lw:
  case Opcode::abc:
  case Opcode::acc:
    if (instruction.opcode != Opcode::acc && dtypes[0] != isa::DType::i8 && dtypes[0] != isa::DType::f16 &&
        dtypes[0] != isa::DType::bf16)
      return fmt::format("{} takes i8, f16 or bf16, not {}", spec.mnemonic, isa::dtype_name(dtypes[0]));
    if (instruction.opcode != Opcode::lw && operand(instruction, "acc") >= config.mxm.accumulators)
      return fmt::format("acc {} out of range (the plane has {} accumulators)", operand(instruction, "acc"),
                         config.mxm.accumulators);
    break;
  default:
    break;
  }
  if (spec.func == isa::TimingParam::vxm_transcendental && !isa::dtype_is_float(dtypes[0]))
    return fmt::format("{} takes a float type, not {}", spec.mnemonic, isa::dtype_name(dtypes[0]));
  return std::nullopt;
}

} // namespace

std::optional<std::string> check_operands(const Instruction& instruction, const Instruction* previous,
                                          const ChipConfig& config, const Floorplan& floorplan) {
  FieldDTypes dtypes;
  if (auto problem = dtypes_of(instruction, dtypes)) return problem;
  const auto fields = instruction.spec().operand_fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& field = fields[i];
    const int64_t value = instruction.operands[i];
    switch (field.kind) {
    case FieldKind::stream: {
      const unsigned group =
          field.group_fixed ? field.group_fixed : isa::dtype_bytes(dtypes.at(field.group_dtype));
      if (auto problem = check_stream(field, value, group, config.streams.per_direction)) return problem;
      break;
    }
    case FieldKind::address:
      if (value >= config.geometry.mem_words_per_slice)
        return fmt::format("{} {} out of range (slice has {} words)", address_label(field), value,
                           config.geometry.mem_words_per_slice);
      break;
    case FieldKind::mem_slice:
      if (!floorplan.mem_global_from_field(static_cast<uint64_t>(value)))
        return fmt::format("{} field 0x{:02x} is not a MEM slice (MEM_W0..MEM_W{} or MEM_E0..MEM_E{})",
                           field.name, value, floorplan.mem_count() / 2 - 1, floorplan.mem_count() / 2 - 1);
      break;
    case FieldKind::link:
      if (value >= config.c2c.links)
        return fmt::format("link {} out of range (the chip has {} links)", value, config.c2c.links);
      break;
    default:
      break;
    }
  }
  return check_opcode(instruction, previous, dtypes, config);
}

std::optional<std::string> check_fetched_operands(const Instruction& instruction, const ChipConfig& config,
                                                  const Floorplan& floorplan) {
  // A Repeat's fields are its counts; the rest of check_operands needs no previous instruction.
  if (instruction.opcode == isa::Opcode::repeat) return check_repeat_counts(instruction);
  return check_operands(instruction, nullptr, config, floorplan);
}

std::optional<std::string> check_issue(const isa::OpcodeSpec& spec, SliceKind kind) {
  if (queue_may_issue(spec, kind)) return std::nullopt;
  return fmt::format("a {} instruction cannot be issued by a {} queue", isa::unit_name(spec.unit),
                     isa::unit_name(queue_unit(kind)));
}

} // namespace tsp
