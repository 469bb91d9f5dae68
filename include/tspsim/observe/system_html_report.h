// `tspsim --system --report DIR`: one self-contained HTML page for a system run: the system's
// figures, a per-chip breakdown (busy slice-cycles per unit per chip), link utilisation per link
// direction, link occupancy over time, and then the one-chip report's table and charts for one
// chip (--report-chip, default 0). Replicated chips are named as such. docs/workflow.md shows it.
#pragma once

#include "tspsim/observe/html_report.h"
#include "tspsim/observe/link_recorder.h"
#include "tspsim/system/system_report.h"

#include <vector>

namespace tsp {

// Busy link-cycles of every cabled link direction in time buckets (the sender's cycles), doubling
// the bucket as ReportCollector does, so memory stays small for any run length.
class LinkCollector : public LinkObserver {
public:
  static constexpr size_t kMaxBuckets = 128;

  void sent(const LinkSend& send) override;

  Cycle bucket_cycles() const { return bucket_; }
  size_t buckets() const { return busy_.size(); }
  uint64_t busy_in(size_t b) const { return busy_[b]; }

private:
  Cycle bucket_ = 1;
  std::vector<uint64_t> busy_;
};

// `chip`'s sections come from `collector`, which observed the simulation that stands for it.
std::string system_html_report(const SystemReport& report, uint32_t chip, const ReportCollector& collector,
                               const LinkCollector& links);

} // namespace tsp
