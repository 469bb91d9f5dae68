#include "slices/sxm_slice.h"

#include "tspsim/engine/operand_groups.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/latency.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp {

using isa::Opcode;

namespace {
constexpr unsigned kSources = 2;
constexpr unsigned kMaxPlanes = 16; // Transpose
} // namespace

SxmSlice::SxmSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock)
    : OperandReadingSlice(name, ctx, slice, debug_clock, kSources, kMaxPlanes) {}

// Reads the source groups in table order; Send ends there, every other instruction writes dst.
void SxmSlice::perform(const Dispatch& d, Cycle t) {
  if (d.instruction.opcode == Opcode::receive) return receive(d, t);
  const ScratchOperands operands = read_to_scratch(d, t);
  if (d.instruction.opcode == Opcode::send)
    return send(d, t, operands.out ? operands.source_data[0] : nullptr);
  if (operands.out) compute(d, operands.dst_group, operands.source_data.data(), operands.out);
  write_streams(d.cycle + func_cycles(d.instruction, ctx_.config), operands.dst, operands.dst_group,
                operands.out, d.origin);
}

bool SxmSlice::streams_only(const Instruction& instruction) const {
  return instruction.opcode != Opcode::send && instruction.opcode != Opcode::receive;
}

void SxmSlice::compute(const Dispatch& d, unsigned group, const uint8_t* const* sources, uint8_t* out) const {
  const size_t vb = ctx_.vector_bytes;
  const size_t lps = ctx_.config.geometry.lanes_per_superlane;
  const auto& ops = d.instruction.operands;
  if (d.instruction.opcode == Opcode::transpose) {
    const uint8_t* in_planes[kMaxPlanes];
    uint8_t* out_planes[kMaxPlanes];
    for (unsigned p = 0; p < kMaxPlanes; ++p) {
      in_planes[p] = sources[0] + p * vb;
      out_planes[p] = out + p * vb;
    }
    return num::sxm_transpose(out_planes, in_planes, vb);
  }
  for (unsigned p = 0; p < group; ++p) {
    uint8_t* dst = out + p * vb;
    const uint8_t* src = sources[0] + p * vb;
    switch (d.instruction.opcode) {
    case Opcode::shift:
      num::sxm_shift(dst, src, vb, lps, static_cast<int>(ops[3]));
      break;
    case Opcode::select:
      num::sxm_select(dst, src, sources[1] + p * vb, vb, lps, static_cast<uint64_t>(ops[4]));
      break;
    case Opcode::permute:
      num::sxm_permute(dst, src, sources[1], sources[1] + vb, vb);
      break;
    case Opcode::distribute:
      num::sxm_distribute(dst, src, sources[1], vb, lps);
      break;
    case Opcode::rotate:
      num::sxm_rotate(dst, src, vb, lps, static_cast<unsigned>(ops[3]));
      break;
    default:
      std::fill(dst, dst + vb, uint8_t{0});
      break;
    }
  }
}

// The link starts serialising at the operand read (t); the vector is receivable c2c_link after
// dispatch (that latency includes serialisation), or once serialised on a slower link
// (func_cycles). A link still busy with the previous vector overruns: the hardware has no
// back-pressure.
void SxmSlice::send(const Dispatch& d, Cycle t, const uint8_t* data) {
  const auto link = static_cast<unsigned>(d.instruction.operands[0]);
  std::vector<uint8_t> bytes;
  if (data) bytes.assign(data, data + ctx_.vector_bytes);
  const auto busy_until =
      ctx_.links.send(link, t, d.cycle + func_cycles(d.instruction, ctx_.config), std::move(bytes), d.origin);
  if (busy_until)
    ctx_.log.report(
        ErrorKind::link_overrun, t, d.origin,
        fmt::format("link {} is still sending the previous vector until cycle {} (a vector takes {} "
                    "cycles on {} lanes at {} Gb/s)",
                    link, *busy_until, ctx_.links.vector_cycles(), ctx_.config.c2c.lanes_per_link,
                    ctx_.config.c2c.gbps_per_lane));
  ctx_.stats.slice(slice_id()).link_bytes += ctx_.vector_bytes;
}

// Pops the oldest vector that has arrived by the dispatch cycle; none puts zeros on dst.
void SxmSlice::receive(const Dispatch& d, Cycle t) {
  const auto link = static_cast<unsigned>(d.instruction.operands[0]);
  const StreamRef dst = StreamRef::from_field(d.instruction.operands[1]);
  auto vector = ctx_.links.receive(link, t);
  if (!vector)
    ctx_.log.report(ErrorKind::link_empty, t, d.origin,
                    fmt::format("no vector has arrived on link {}", link));
  const uint8_t* data = nullptr;
  if (functional()) {
    uint8_t* out = scratch();
    if (vector && !vector->bytes.empty())
      std::copy(vector->bytes.begin(), vector->bytes.end(), out);
    else
      std::fill(out, out + ctx_.vector_bytes, uint8_t{0});
    data = out;
  }
  write_streams(d.cycle + func_cycles(d.instruction, ctx_.config), dst, 1, data, d.origin);
}

} // namespace tsp
