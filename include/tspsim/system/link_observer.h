// An optional listener for the chip-to-chip links of a system run, for traces, reports and golden
// activity logs (src/observe/). The System tells it of every vector a chip sent, once per chip
// (a replicated chip's sends are its representative's, on its own cables), on the System's thread
// between windows. Null by default: a run without it pays one pointer check per window.
#pragma once

#include "tspsim/config/system.h"
#include "tspsim/engine/engine_types.h"

namespace tsp {

struct LinkSend {
  uint32_t chip = 0; // the sender
  uint32_t link = 0;
  Cycle start = 0; // the link serialises the vector in the sender's cycles [start, end)
  Cycle end = 0;
  bool cabled = false;
  LinkEnd peer;           // the far end when cabled (otherwise the vector is lost)
  Cycle arrival = kNever; // receivable at the peer, in the peer's cycles
  Origin origin;          // the Send
};

class LinkObserver {
public:
  virtual ~LinkObserver() = default;
  virtual void sent(const LinkSend& send) = 0;
};

} // namespace tsp
