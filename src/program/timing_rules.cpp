#include "tspsim/program/timing_rules.h"

#include "isa.h"

namespace tsp {

using isa::TimingParam;

uint64_t notify_release_cycles(const ChipConfig& config) { return config.timing[TimingParam::icu_notify]; }

uint64_t ifetch_read_cycles(const ChipConfig& config) { return config.timing[TimingParam::mem_read_skew]; }

uint64_t ifetch_arrival_cycles(const ChipConfig& config) { return config.timing[TimingParam::icu_ifetch]; }

uint64_t run_cycles(uint64_t last_active, const ChipConfig& config) {
  return last_active + 1 + uint64_t(config.geometry.superlanes - 1) * config.streams.superlane_stagger_cycles;
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
  const isa::Unit unit = isa::issuing_unit(spec.unit);
  return unit == isa::Unit::icu || unit == queue_unit(kind);
}

} // namespace tsp
