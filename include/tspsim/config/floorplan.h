// Where every slice sits on the east-west axis of a superlane, and which instruction queues it
// owns. Positions count stream-register positions from the west edge:
//   MXM_W(P-1) .. MXM_W0 | SXM_W | MEM_W(N-1) .. MEM_W0 | VXM | MEM_E0 .. MEM_E(N-1) | SXM_E | MXM_E0 .. MXM_E(P-1)
#pragma once

#include "tspsim/config/config.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsp {

enum class SliceKind : uint8_t { mem, vxm, mxm, sxm };

// One row per kind of slice, in SliceKind order: what reports, statistics, the issue rule and the
// floorplan need to know about it. Per-kind arrays are sized by kSliceKinds and indexed by SliceKind.
// The floorplan is mirrored about the centre: ring 0 is the one slice at the centre, each ring
// after it lies outside the one before on both sides, its slices numbered from the centre out.
struct SliceKindInfo {
  SliceKind kind;
  std::string_view name; // as in reports and --util-csv columns
  isa::Unit unit;        // the unit whose instructions its queues issue
  unsigned ring;
  unsigned GeometryConfig::*per_hemisphere; // slices per hemisphere, named NAME_W0..; nullptr: one, NAME_W
  unsigned IcuConfig::*queues;              // queues per slice; nullptr: one
};
inline constexpr std::array<SliceKindInfo, 4> kSliceKindTable = {{
    {SliceKind::mem, "MEM", isa::Unit::mem, 1, &GeometryConfig::mem_slices_per_hemisphere, nullptr},
    {SliceKind::vxm, "VXM", isa::Unit::vxm, 0, nullptr, &IcuConfig::vxm_queues},
    {SliceKind::mxm, "MXM", isa::Unit::mxm, 3, &GeometryConfig::mxm_planes_per_hemisphere,
     &IcuConfig::mxm_queues_per_plane},
    {SliceKind::sxm, "SXM", isa::Unit::sxm, 2, nullptr, &IcuConfig::sxm_queues_per_hemisphere},
}};
inline constexpr size_t kSliceKinds = kSliceKindTable.size();
inline const SliceKindInfo& slice_kind_info(SliceKind kind) { return kSliceKindTable[static_cast<size_t>(kind)]; }

struct SliceInfo {
  SliceKind kind;
  bool east;           // hemisphere (the VXM counts as west)
  unsigned index;      // MEM: distance from the VXM; MXM: plane number from the SXM; else 0
  unsigned position;   // stream-register position, 0 = west edge
  unsigned first_queue;
  unsigned queue_count;
  std::string name;    // MEM_W3, VXM, MXM_E1, SXM_W
};

struct QueueInfo {
  unsigned slice;
  unsigned local;      // queue number within its slice
  std::string name;    // MEM_W3, VXM.5, MXM_E1.2, SXM_W.13
};

class Floorplan {
public:
  Floorplan(const GeometryConfig& geometry, const IcuConfig& icu);

  unsigned positions() const { return positions_; }
  const std::vector<SliceInfo>& slices() const { return slices_; }
  const std::vector<QueueInfo>& queues() const { return queues_; }
  const SliceInfo& slice_of_queue(unsigned queue) const { return slices_[queues_[queue].slice]; }

  // Names as written in assembly; a MEM queue may also be written as its slice name.
  std::optional<unsigned> find_slice(std::string_view name) const;
  std::optional<unsigned> find_queue(std::string_view name) const;

  // MEM slices are also numbered globally: west 0..N-1 (MEM_W0..), east N..2N-1 (MEM_E0..).
  unsigned mem_count() const { return 2 * mem_per_hemisphere_; }
  unsigned mem_global(bool east, unsigned index) const { return (east ? mem_per_hemisphere_ : 0) + index; }
  unsigned slice_of_mem(unsigned mem_global) const;
  const std::string& mem_name(unsigned mem_global) const { return slices_[slice_of_mem(mem_global)].name; }
  // Encoding of an ISA mem_slice field: bit 7 east, bits 6..0 index.
  std::optional<unsigned> mem_global_from_field(uint64_t field) const;
  static uint64_t mem_field(bool east, unsigned index) { return (east ? 0x80u : 0u) | index; }

  unsigned vxm_slice() const { return vxm_slice_; }

private:
  unsigned positions_ = 0;
  unsigned mem_per_hemisphere_ = 0;
  unsigned vxm_slice_ = 0;
  std::vector<SliceInfo> slices_;
  std::vector<QueueInfo> queues_;
  std::vector<unsigned> mem_slices_; // global MEM number -> slice
};

} // namespace tsp
