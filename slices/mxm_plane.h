// One MXM plane: a K x N weight array (K = N = vector length) with a shadow buffer that LW fills
// and IW installs, and accumulator rows that ABC adds products into and ACC reads out
// (docs/timing-model.md). The products are computed lazily: ABCs queue their activations, and the
// queued ones are multiplied as one matrix product when an ACC reads an accumulator that one of
// them writes, when IW replaces the weights, or when the queue grows long. The accumulators get
// the same bits as with one product per ABC at its own cycle. In timing-only runs the reads of an
// LW after its first can be taken as one interval (docs/timing-model.md, "Intervals in
// timing-only mode").
#pragma once

#include "tspsim/engine/functional_slice.h"
#include "tspsim/engine/pending_queue.h"
#include "tspsim/engine/zero_arena.h"
#include "tspsim/program/mxm_rules.h"

#include <deque>
#include <memory>
#include <optional>
#include <vector>

namespace tsp {

class MxmPlane : public FunctionalSlice {
public:
  MxmPlane(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock);

  void execute(const Dispatch& dispatch) override;
  void commit(Cycle t) override;
  void evaluate(Cycle t) override;
  void retire(Cycle t) override;
  Cycle next_event() const override;
  void stop_run(Cycle last) override;
  void split_reads(Cycle now, Cycle release) override;

private:
  enum class Step : uint8_t { lw_read, abc_read, acc_read };
  struct Pending {
    Step step;
    unsigned lw_cycle; // LW: which of its read cycles
    Dispatch dispatch;
  };
  struct Install {
    Cycle cycle;
    Origin origin;
  };
  // The two latest activation reads into one accumulator from different cycles, so that an ACC
  // can ignore reads of its own cycle whatever order they were evaluated in.
  struct AccTiming {
    Cycle read = kNever;
    Cycle ready = 0;
    Cycle earlier_read = kNever;
    Cycle earlier_ready = 0;
  };
  // An ABC whose product is not yet in its accumulator; row indexes its activation (-1: the ABC
  // had no usable weights and contributes zero).
  struct Product {
    uint32_t acc;
    bool add;
    Cycle read;
    int64_t row;
  };

  void schedule(Cycle cycle, Step step, const Dispatch& d, unsigned lw_cycle = 0);
  bool check_dtype(const Dispatch& d, Cycle t);
  void lw_read(const Dispatch& d, unsigned lw_cycle, Cycle t);
  // The shadow buffer rows of read cycle `lw_cycle` (functional runs), from the LW's streams.
  void read_shadow_rows(const Dispatch& d, unsigned lw_cycle, StreamRef src, unsigned bytes, Cycle t);
  // Takes the reads of an LW in cycles first .. first + count - 1 as one interval when every one
  // of them is sure to be ok (StreamFabric::run_reads_ok).
  bool take_lw_interval(const Dispatch& d, Cycle first, uint32_t count);
  // Counts the interval's reads through cycle `last` and ends it.
  void end_lw_interval(Cycle last);
  void start_load(const Dispatch& d, Cycle t);
  void install(const Install& iw);
  void abc_read(const Dispatch& d, Cycle t);
  // Where an ABC of this type reads its activation streams (functional runs).
  uint8_t* activation_buffer(isa::DType dtype);
  void acc_read(const Dispatch& d, Cycle t);
  // Schedules an ACC's four streams to land at t: the byte planes of `row`, zeros when it is null.
  void write_result(Cycle t, StreamRef dst, const uint32_t* row, const Origin& origin);
  void flush(Cycle read_before);
  uint32_t* accumulator(uint32_t acc);

  const unsigned k_;
  const unsigned n_;
  PendingQueue<Pending> pending_;
  std::deque<Install> installs_; // IWs by install cycle (one fixed latency)
  MxmWeightRules weights_;
  std::vector<AccTiming> acc_timing_;

  // The reads of an LW after its first, taken whole (timing-only): checked when taken, counted
  // when they end. `lw_reads_` holds them as a run of one-cycle iterations.
  std::optional<RepeatRun> lw_reads_;
  Dispatch lw_dispatch_;    // the LW, for the reads a split returns to the per-cycle path
  Cycle lw_read_first_ = 0; // the LW's first read cycle (its read cycle 0)
  RunCycles lw_read_cycles_;

  // A buffer whose every element is written before it is read (the packed weights, the products
  // of a flush), so it grows without the zero fill of a growing vector (6 % of the GEMM's process
  // for the products).
  template <typename T> class Unfilled {
  public:
    T* rows(size_t elements) {
      if (elements > size_) {
        data_.reset(new T[elements]);
        size_ = elements;
      }
      return data_.get();
    }
    const T* data() const { return data_.get(); }

  private:
    std::unique_ptr<T[]> data_;
    size_t size_ = 0;
  };

  // Data (functional runs only).
  std::vector<uint8_t> shadow_; // byte plane b of row r at [(b * K + r) * N]
  Unfilled<int16_t> packed_i8_;
  Unfilled<float> packed_f32_;
  ZeroArena acc_arena_;             // accumulator rows, taken on first write
  std::vector<uint32_t*> acc_rows_; // int32 or fp32 bits, null until first written
  std::vector<Product> products_;   // FIFO from head_, in activation-read order
  size_t head_ = 0;
  std::vector<uint32_t> queued_for_; // queued products per accumulator
  std::vector<int8_t> acts_i8_;      // activation rows of the queued ABCs with usable weights
  std::vector<float> acts_f32_;
  int64_t rows_ = 0;
  Unfilled<int32_t> out_i32_; // the products of one flush
  Unfilled<float> out_f32_;
  std::vector<uint8_t> scratch_;
};

} // namespace tsp
