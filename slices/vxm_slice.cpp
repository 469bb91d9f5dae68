#include "slices/vxm_slice.h"

#include "tspsim/engine/operand_groups.h"
#include "tspsim/program/latency.h"
#include "tspsim/numeric/numeric.h"

#include <algorithm>

namespace tsp {

using isa::DType;
using isa::Opcode;

namespace {
constexpr unsigned kSources = 3;
constexpr unsigned kMaxPlanes = 4;

num::PlaneGroup planes_of(uint8_t* base, unsigned vector_bytes) {
  num::PlaneGroup group;
  for (unsigned p = 0; p < kMaxPlanes; ++p) group.planes[p] = base + size_t(p) * vector_bytes;
  return group;
}

num::ConstPlaneGroup const_planes_of(const uint8_t* base, unsigned vector_bytes) {
  num::ConstPlaneGroup group;
  for (unsigned p = 0; p < kMaxPlanes; ++p) group.planes[p] = base + size_t(p) * vector_bytes;
  return group;
}
} // namespace

VxmSlice::VxmSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock)
    : OperandReadingSlice(name, ctx, slice, debug_clock, kSources, kMaxPlanes) {}

// Reads every source group in table order, computes, and schedules the destination group.
void VxmSlice::perform(const Dispatch& d, Cycle t) {
  const ScratchOperands operands = read_to_scratch(d, t);
  if (operands.out) {
    std::fill(operands.out, operands.out + size_t(operands.dst_group) * ctx_.vector_bytes, uint8_t{0});
    compute(d, operands.out, operands.source_data.data(), operands.sources);
  }
  write_streams(d.cycle + func_cycles(d.instruction, ctx_.config), operands.dst, operands.dst_group,
                operands.out, d.origin);
}

// Lanes at and above the queue's vector length stay zero. An opcode or dtype the numeric library
// does not accept (possible only in unchecked fetched text) leaves the whole result zero.
void VxmSlice::compute(const Dispatch& d, uint8_t* dst, const uint8_t* const* sources,
                       unsigned source_count) {
  const unsigned vb = ctx_.vector_bytes;
  const auto& ops = d.instruction.operands;
  const Opcode op = d.instruction.opcode;
  const DType dtype = static_cast<DType>(ops[0]);
  const size_t lanes = std::min<size_t>(d.active_lanes, vb);
  const num::PlaneGroup out = planes_of(dst, vb);
  auto source = [&](unsigned k) { return const_planes_of(sources[k], vb); };
  if (!num::vxm_op_supports(op, dtype)) return;
  switch (op) {
  case Opcode::v_sel:
    return num::vxm_select(dtype, out, source(0), source(1), source(2), lanes);
  case Opcode::v_splat:
    return num::vxm_splat(dtype, out, static_cast<uint32_t>(ops[2]), lanes);
  case Opcode::v_cvt:
  case Opcode::v_requant: {
    const auto from = static_cast<DType>(ops[1]);
    if (!num::vxm_op_supports(op, from)) return;
    if (op == Opcode::v_cvt) return num::vxm_convert(dtype, from, out, source(0), lanes);
    return num::vxm_requant(dtype, from, out, source(0), static_cast<uint32_t>(ops[4]), lanes);
  }
  default:
    break;
  }
  if (source_count == 1) return num::vxm_unary(op, dtype, out, source(0), lanes);
  num::vxm_binary(op, dtype, out, source(0), source(1), lanes);
}

} // namespace tsp
