// Records the vectors the chips of a system run put on their links, per sending chip, for the
// system trace and golden activity log. Keeps the sends that start inside a window of
// cycles (the same --trace-window as the chips' activity).
#pragma once

#include "tspsim/observe/activity_recorder.h"
#include "tspsim/system/link_observer.h"

#include <vector>

namespace tsp {

class LinkRecorder : public LinkObserver {
public:
  LinkRecorder(uint32_t chips, CycleWindow window = {}) : window_(window), sends_(chips) {}

  void sent(const LinkSend& send) override {
    if (window_.contains(send.start)) sends_[send.chip].push_back(send);
  }

  const CycleWindow& window() const { return window_; }
  // Chip `chip`'s sends in the order it made them (start cycles ascending per link).
  const std::vector<LinkSend>& sends(uint32_t chip) const { return sends_[chip]; }

private:
  CycleWindow window_;
  std::vector<std::vector<LinkSend>> sends_;
};

// Passes every send on to several observers (a trace and a report of the same run).
class LinkFanout : public LinkObserver {
public:
  void add(LinkObserver* observer) { observers_.push_back(observer); }
  bool empty() const { return observers_.empty(); }
  void sent(const LinkSend& send) override {
    for (auto* o : observers_) o->sent(send);
  }

private:
  std::vector<LinkObserver*> observers_;
};

} // namespace tsp
