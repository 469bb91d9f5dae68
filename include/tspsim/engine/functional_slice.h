// Base of every functional slice (MEM, VXM, MXM, SXM). A slice is an sc_module with no process of
// its own in the fast mode: the chip's scheduler calls commit/evaluate/retire for the cycles in
// which it has work. In the debug mode each slice gets clocked SC_METHODs that call the same three
// functions every cycle, which must give identical results.
#pragma once

#include "tspsim/engine/engine_context.h"
#include "tspsim/engine/pending_queue.h"
#include "tspsim/engine/repeat_run.h"

#include <systemc>
#include <vector>

namespace tsp {

struct DebugClock;

class FunctionalSlice : public sc_core::sc_module {
public:
  SC_HAS_PROCESS(FunctionalSlice);
  FunctionalSlice(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock);

  unsigned slice_id() const { return slice_; }
  const SliceInfo& info() const { return ctx_.floorplan.slices()[slice_]; }

  // An instruction dispatched by one of this slice's queues in the current cycle.
  virtual void execute(const Dispatch& dispatch) = 0;
  // Start of cycle t: land the stream writes due at t. Overrides must call the base.
  virtual void commit(Cycle t);
  // Cycle t: work due at t (operand reads, SRAM accesses) after every commit of the cycle.
  virtual void evaluate(Cycle /*t*/) {}
  // End of cycle t: state that must not be seen by reads of cycle t (SRAM writes).
  virtual void retire(Cycle /*t*/) {}
  // Earliest cycle with pending work, kNever when idle. Overrides must include the base.
  virtual Cycle next_event() const;
  // A Repeat run handed over whole by the ICU (only when ctx.runs_allowed()); false: the ICU
  // dispatches it iteration by iteration.
  virtual bool take_run(const RepeatRun& /*run*/) { return false; }
  // The run is stopped after cycle `last` (--max-cycles, an interrupt): count what it did so far.
  virtual void stop_run(Cycle /*last*/) {}
  // A barrier release at `release` was just scheduled in cycle `now`. A taken run whose checks it
  // would change ends after its iterations dispatched by `now`; returns how many those are (the
  // ICU dispatches the rest one by one), or 0 if the run is not affected.
  virtual uint64_t split_run(Cycle /*now*/, Cycle /*release*/) { return 0; }
  // The same for reads a slice took as an interval of its own, not handed over by a queue (an
  // MXM plane's LW reads): those after `now` go back to the per-cycle path.
  virtual void split_reads(Cycle /*now*/, Cycle /*release*/) {}

protected:
  // Reads `group` byte-streams starting at `stream` at this slice's position in cycle t into
  // `out` (group * vector_bytes bytes; null in timing-only runs). Missing values read as zeros and
  // are reported. Returns false if any stream was empty or stale. Inline: on every operand's path.
  bool read_streams(Cycle t, StreamRef stream, unsigned group, uint8_t* out, const Origin& origin) {
    ctx_.stats.slice(slice_).stream_bytes_read += uint64_t(group) * ctx_.vector_bytes;
    mark_busy(t);
    const uint32_t epoch = ctx_.epoch_of(t);
    // A read that takes no bytes and finds every value ok has nothing to visit.
    if (!out && ctx_.fabric.group_ok(stream, group, position_, t, epoch)) return true;
    return read_each_stream(t, stream, group, out, origin, epoch);
  }
  // Schedules `group` byte-streams to land at this slice's position in cycle t (t > now). `data`
  // holds group * vector_bytes bytes, or is null in timing-only runs. Inline: on every result's
  // path.
  void write_streams(Cycle t, StreamRef stream, unsigned group, const uint8_t* data, const Origin& origin) {
    PendingWrite& write = push_write(t, stream, group, origin);
    if (data) hold_values(write, data);
  }
  // The same in functional runs with the values written in place: fill(s, bytes) writes all
  // vector_bytes bytes of stream s, so no caller's buffer is copied.
  template <typename Fill>
  void write_streams_filled(Cycle t, StreamRef stream, unsigned group, const Origin& origin, Fill fill) {
    PendingWrite& write = push_write(t, stream, group, origin);
    for (unsigned s = 0; s < group; ++s) {
      const StreamFabric::Held held = ctx_.fabric.hold_to_fill();
      fill(s, held.bytes);
      write.values.push_back(held.id);
    }
  }

  // The stream operands of an instruction, by the ISA table.
  struct StreamOperands {
    unsigned sources = 0; // source groups read
    StreamRef dst;        // the written group, if the instruction has one
    unsigned dst_group = 1;
  };
  // Reads every source group of `d` in table order at cycle t, source i into buffers + i * stride
  // (buffers null in timing-only runs), and names the destination group.
  StreamOperands read_operands(const Dispatch& d, Cycle t, uint8_t* buffers, size_t stride);

  bool functional() const { return !ctx_.options.timing_only; }
  // Latest landing cycle of this slice's stream writes still to land, kNever when none.
  Cycle latest_pending_write() const { return pending_.latest(); }
  void mark_busy(Cycle t) {
    ctx_.stats.busy(slice_, t);
    ctx_.mark_active(t);
  }
  std::string stream_name(StreamRef stream, unsigned group) const;
  // Tells the activity observer, if any, of the run's first `count` dispatches (runs are taken
  // with an observer only when it needs nothing else).
  void report_run_dispatches(const RepeatRun& run, uint64_t count) const;

  EngineContext& ctx_;

private:
  struct PendingWrite {
    StreamRef stream;
    unsigned group;
    Origin origin;
    std::vector<uint32_t> values; // held by the fabric, one per stream; empty in timing-only runs
  };

  // A pending write landing at t with no values yet (inline: on every stream write's path).
  PendingWrite& push_write(Cycle t, StreamRef stream, unsigned group, const Origin& origin) {
    PendingWrite& write = pending_.push(t);
    write.stream = stream;
    write.group = group;
    write.origin = origin;
    write.values.clear();
    return write;
  }
  // Copies the group's bytes at `data` into pooled values the write holds.
  void hold_values(PendingWrite& write, const uint8_t* data);
  // The rare paths of commit and read_streams, out of line so that the common ones stay small:
  // a collision on stream s of the group from `first`, and a read visiting each stream.
  void report_collision(StreamRef first, unsigned s, Cycle cycle, const Origin& blamed);
  bool read_each_stream(Cycle t, StreamRef stream, unsigned group, uint8_t* out, const Origin& origin,
                        uint32_t epoch);
  void debug_posedge();
  void debug_negedge();

  unsigned slice_;
  unsigned position_;
  DebugClock* debug_clock_;
  PendingQueue<PendingWrite> pending_; // stream writes by landing cycle; their buffers are reused
};

} // namespace tsp
