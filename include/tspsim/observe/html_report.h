// `--report DIR`: one self-contained HTML page (DIR/index.html, inline SVG, no script or style from
// the network) with a utilisation heatmap (slices x time windows), utilisation per unit over time,
// the instruction mix, stream occupancy and the statistics table. docs/workflow.md shows it.
#pragma once

#include "tspsim/engine/activity_observer.h"
#include "tspsim/system/report.h"

#include <array>
#include <string>
#include <vector>

namespace tsp {

// Busy cycles per slice and stream writes per direction in time buckets. The bucket doubles (and
// neighbours merge) whenever the run outgrows kMaxBuckets, so memory stays small for any run length.
class ReportCollector : public ActivityObserver {
public:
  static constexpr size_t kMaxBuckets = 128;

  explicit ReportCollector(const Floorplan& floorplan);

  void dispatched(unsigned, const Dispatch&) override {}
  void busy(unsigned slice, Cycle cycle) override;
  void streamed(unsigned slice, Cycle cycle, StreamRef stream, unsigned group, const Origin& origin) override;

  Cycle bucket_cycles() const { return bucket_; }
  size_t buckets() const { return used_; }
  // Busy cycles of `slice` in bucket `b`.
  uint64_t busy_in(unsigned slice, size_t b) const { return busy_[slice][b]; }
  // Byte-stream writes per bucket: [0] eastward, [1] westward.
  const std::array<std::vector<uint64_t>, 2>& stream_writes() const { return writes_; }

private:
  size_t bucket_of(Cycle cycle);

  Cycle bucket_ = 1;
  size_t used_ = 0;
  std::vector<std::vector<uint64_t>> busy_; // [slice][bucket]
  std::array<std::vector<uint64_t>, 2> writes_;
};

// The page's HTML. `title` names the run (program and config).
std::string html_report(const RunReport& report, const ReportCollector& collector);

} // namespace tsp
