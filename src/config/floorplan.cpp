#include "tspsim/config/floorplan.h"

#include <algorithm>
#include <fmt/format.h>

namespace tsp {

namespace {
// The kinds from the centre out.
std::vector<const SliceKindInfo*> kinds_by_ring() {
  std::vector<const SliceKindInfo*> kinds;
  for (const auto& info : kSliceKindTable) kinds.push_back(&info);
  std::sort(kinds.begin(), kinds.end(), [](auto* a, auto* b) { return a->ring < b->ring; });
  return kinds;
}
} // namespace

Floorplan::Floorplan(const GeometryConfig& geometry, const IcuConfig& icu)
    : mem_per_hemisphere_(geometry.mem_slices_per_hemisphere) {
  mem_slices_.assign(2 * mem_per_hemisphere_, 0);

  auto add = [&](const SliceKindInfo& kind, bool east, unsigned index) {
    const unsigned queue_count = kind.queues ? icu.*kind.queues : 1;
    std::string name(kind.name);
    if (kind.ring > 0) name += east ? "_E" : "_W";
    if (kind.per_hemisphere) name += std::to_string(index);
    SliceInfo info{kind.kind,   east,           index, positions_++, static_cast<unsigned>(queues_.size()),
                   queue_count, std::move(name)};
    const auto slice = static_cast<unsigned>(slices_.size());
    for (unsigned q = 0; q < queue_count; ++q)
      queues_.push_back({slice, q, queue_count == 1 ? info.name : fmt::format("{}.{}", info.name, q)});
    if (kind.kind == SliceKind::mem) mem_slices_[mem_global(east, index)] = slice;
    if (kind.kind == SliceKind::vxm) vxm_slice_ = slice;
    slices_.push_back(std::move(info));
  };
  auto count = [&](const SliceKindInfo& kind) {
    return kind.per_hemisphere ? geometry.*kind.per_hemisphere : 1;
  };

  const auto kinds = kinds_by_ring();
  for (auto it = kinds.rbegin(); it != kinds.rend(); ++it) // west: outermost first
    if ((*it)->ring > 0)
      for (unsigned i = count(**it); i-- > 0;) add(**it, false, i);
  for (const auto* kind : kinds)
    if (kind->ring == 0) add(*kind, false, 0);
  for (const auto* kind : kinds) // east: centre first
    if (kind->ring > 0)
      for (unsigned i = 0; i < count(*kind); ++i) add(*kind, true, i);
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
