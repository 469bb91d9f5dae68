// What every slice of one chip shares: the resolved config, the floorplan, the stream fabric,
// the conformance log, the statistics, the C2C links, the current cycle and barrier epoch.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/engine/c2c_links.h"
#include "tspsim/engine/chip_clock.h"
#include "tspsim/engine/conformance.h"
#include "tspsim/engine/declared_words.h"
#include "tspsim/engine/engine_types.h"
#include "tspsim/engine/stats.h"
#include "tspsim/engine/stream_fabric.h"
#include "tspsim/engine/zero_arena.h"

#include <algorithm>
#include <vector>

namespace tsp {

struct EngineOptions {
  bool timing_only = false; // keep every timing rule and check, skip the data and arithmetic
  bool strict = false;      // stop at the first conformance error
  bool debug_clock = false; // one SC_METHOD per slice on an sc_clock instead of the fused scheduler
  // Timing-only, fused scheduler: MEM Read and Write, VXM and SXM Repeat runs are taken whole
  // (docs/timing-model.md, "Intervals in timing-only mode"); off gives the vector-by-vector
  // path, with the same results.
  bool intervals = true;
  // Functional: declared tensors of at most this many bytes in all are generated into SRAM at load
  // (on two cores); larger ones word by word as MEM slices read them, stored only where read again
  // or written (DeclaredWords). Storing costs the kernel a fresh page per 2 MiB; generating when
  // read costs a second generation of a word read again (a GEMM's activations, read once per
  // column tile) inside the run. An int8 GEMM 1280^3 (3.2 MiB declared) ran 5-18% slower on read,
  // a GEMV 8192^2 (64 MiB) 15-25% faster as a whole process (docs/performance.md).
  uint64_t generate_at_load_bytes = uint64_t{16} << 20;
};

struct EngineContext {
  EngineContext(const ChipConfig& config, const EngineOptions& options);
  EngineContext(const EngineContext&) = delete; // the fabric points at `releases`
  EngineContext& operator=(const EngineContext&) = delete;

  const ChipConfig& config;
  const EngineOptions options;
  const Floorplan floorplan;
  const TimingConfig& timing;
  const unsigned vector_bytes;
  StreamFabric fabric;
  ConformanceLog log;
  ChipStats stats;
  C2cLinks links; // Send/Receive FIFOs (loopback on a single chip)
  // MEM slices' SRAM in chunks of consecutive vectors, each taken on its first write.
  static constexpr uint32_t kSramChunkWords = 64;
  ZeroArena sram;
  // A functional run's declared tensors, generated when read (DeclaredWords::take).
  DeclaredWords declared;
  ChipClock clock;               // this chip's drift against the system's reference time (Deskew, links)
  std::vector<Cycle> releases;   // barrier release cycles, ascending (scheduled by Notify)
  std::vector<unsigned> touched; // slices given an instruction this cycle (fast scheduler)
  Cycle last_active = 0;         // last cycle with a dispatch, stream access or SRAM access
  uint64_t runs_taken = 0;       // Repeat runs taken whole

  // Whether a Repeat run may be taken whole: timing-only on the fused scheduler, and nothing
  // that must see each cycle (--strict stops inside a cycle; windows and observers count each).
  bool runs_allowed() const;
  bool any_activity = false;
  // First dispatch of a slice instruction (not the ICU's NOP, Repeat or Ifetch), kNever before
  // one: where the chip's work starts, for its occupancy (docs/llama.md).
  Cycle first_issue = kNever;

  // Barrier epoch at cycle t: releases at or before t. Releases are known icu_notify >= 1 cycles
  // ahead, so this does not depend on the order slices are evaluated in.
  uint32_t epoch_of(Cycle t) const {
    if (releases.empty() || t < releases.front()) return 0; // most programs release no barrier
    return static_cast<uint32_t>(std::upper_bound(releases.begin(), releases.end(), t) - releases.begin());
  }

  void mark_active(Cycle cycle) {
    if (!any_activity || cycle > last_active) last_active = cycle;
    any_activity = true;
  }
};

} // namespace tsp
