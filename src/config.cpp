#include "tspsim/config.h"

#include <string_view>

namespace tsp {

ChipConfig::ChipConfig() {
  for (const auto& p : isa::timing_params()) timing.cycles[static_cast<size_t>(p.id)] = p.default_14nm;
}

namespace {

// FNV-1a 64 over a canonical byte stream: integers little-endian at a fixed width, strings
// length-prefixed, so no two different inputs serialise to the same bytes.
class Fnv1a {
public:
  void bytes(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) hash_ = (hash_ ^ p[i]) * 0x100000001b3ULL;
  }
  void u32(uint32_t v) {
    unsigned char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(b, sizeof b);
  }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  uint64_t value() const { return hash_; }

private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

} // namespace

uint64_t geometry_fingerprint(const ChipConfig& config) {
  Fnv1a h;
  const auto& g = config.geometry;
  for (unsigned v :
       {g.superlanes, g.lanes_per_superlane, g.mem_slices_per_hemisphere, g.mem_words_per_slice,
        g.mem_banks_per_slice, g.mem_ports_per_bank, g.mxm_planes_per_hemisphere, g.vxm_alus_per_lane})
    h.u32(v);
  const auto& s = config.streams;
  for (unsigned v : {s.per_direction, s.hop_cycles, s.superlane_stagger_cycles}) h.u32(v);
  const auto& q = config.icu;
  for (unsigned v :
       {q.sxm_queues_per_hemisphere, q.mxm_queues_per_plane, q.vxm_queues, q.instruction_buffer_entries})
    h.u32(v);
  const auto& m = config.mxm;
  for (unsigned v : {m.weight_streams, m.accumulators, m.float_activation_interval}) h.u32(v);
  h.u32(config.c2c.links);
  h.u32(config.c2c.hac_period_cycles);
  h.u32(config.c2c.loopback ? 1 : 0);
  for (const auto& p : isa::timing_params()) {
    h.str(p.key);
    h.u32(config.timing[p.id]);
  }
  for (const auto& op : isa::opcodes()) {
    h.u32(static_cast<uint32_t>(op.opcode));
    h.str(op.mnemonic);
    h.u32(static_cast<uint32_t>(op.unit));
    h.u32(static_cast<uint32_t>(op.skew));
    h.u32(static_cast<uint32_t>(op.func));
    h.u32(op.field_count);
    for (const auto& f : op.operand_fields()) {
      h.str(f.name);
      for (unsigned v : {unsigned(f.kind), unsigned(f.lsb), unsigned(f.width), unsigned(f.role),
                         unsigned(f.group_fixed), unsigned(f.group_dtype)})
        h.u32(v);
      for (auto name : f.mode_names) h.str(name);
    }
  }
  return h.value();
}

} // namespace tsp
