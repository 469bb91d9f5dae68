#include "tspsim/config/floorplan.h"

#include <fmt/format.h>

namespace tsp {

Floorplan::Floorplan(const GeometryConfig& geometry, const IcuConfig& icu)
    : mem_per_hemisphere_(geometry.mem_slices_per_hemisphere) {
  const unsigned planes = geometry.mxm_planes_per_hemisphere;
  const unsigned mems = geometry.mem_slices_per_hemisphere;
  mem_slices_.assign(2 * mems, 0);

  auto add = [&](SliceKind kind, bool east, unsigned index, unsigned queue_count, std::string name) {
    SliceInfo info{kind, east, index, positions_++, static_cast<unsigned>(queues_.size()), queue_count,
                   std::move(name)};
    const auto slice = static_cast<unsigned>(slices_.size());
    for (unsigned q = 0; q < queue_count; ++q)
      queues_.push_back({slice, q, queue_count == 1 ? info.name : fmt::format("{}.{}", info.name, q)});
    if (kind == SliceKind::mem) mem_slices_[mem_global(east, index)] = slice;
    slices_.push_back(std::move(info));
  };

  for (unsigned p = planes; p-- > 0;)
    add(SliceKind::mxm, false, p, icu.mxm_queues_per_plane, fmt::format("MXM_W{}", p));
  add(SliceKind::sxm, false, 0, icu.sxm_queues_per_hemisphere, "SXM_W");
  for (unsigned m = mems; m-- > 0;) add(SliceKind::mem, false, m, 1, fmt::format("MEM_W{}", m));
  vxm_slice_ = static_cast<unsigned>(slices_.size());
  add(SliceKind::vxm, false, 0, icu.vxm_queues, "VXM");
  for (unsigned m = 0; m < mems; ++m) add(SliceKind::mem, true, m, 1, fmt::format("MEM_E{}", m));
  add(SliceKind::sxm, true, 0, icu.sxm_queues_per_hemisphere, "SXM_E");
  for (unsigned p = 0; p < planes; ++p)
    add(SliceKind::mxm, true, p, icu.mxm_queues_per_plane, fmt::format("MXM_E{}", p));
}

std::optional<unsigned> Floorplan::find_slice(std::string_view name) const {
  for (unsigned s = 0; s < slices_.size(); ++s)
    if (slices_[s].name == name) return s;
  return std::nullopt;
}

std::optional<unsigned> Floorplan::find_queue(std::string_view name) const {
  for (unsigned q = 0; q < queues_.size(); ++q)
    if (queues_[q].name == name) return q;
  // MEM_W3.0 is the same queue as MEM_W3.
  if (name.size() > 2 && name.substr(name.size() - 2) == ".0")
    if (auto s = find_slice(name.substr(0, name.size() - 2)); s && slices_[*s].queue_count == 1)
      return slices_[*s].first_queue;
  return std::nullopt;
}

unsigned Floorplan::slice_of_mem(unsigned mem_global) const { return mem_slices_.at(mem_global); }

std::optional<unsigned> Floorplan::mem_global_from_field(uint64_t field) const {
  const bool east = (field & 0x80u) != 0;
  const unsigned index = field & 0x7fu;
  if (field > 0xffu || index >= mem_per_hemisphere_) return std::nullopt;
  return mem_global(east, index);
}

} // namespace tsp
