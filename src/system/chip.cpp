#include "tspsim/system/chip.h"
#include "tspsim/program/declared_rows.h"

#include "slices/mem_slice.h"
#include "slices/mxm_plane.h"
#include "slices/sxm_slice.h"
#include "slices/vxm_slice.h"
#include "tspsim/common/error.h"
#include "tspsim/common/second_core.h"
#include "tspsim/program/tensor.h"
#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <tuple>

namespace tsp {

std::atomic<bool> g_interrupt_requested{false};

namespace {
using SliceFactory = std::unique_ptr<FunctionalSlice> (*)(const char*, EngineContext&, unsigned, DebugClock*);

template <typename Model>
std::unique_ptr<FunctionalSlice> make(const char* name, EngineContext& ctx, unsigned slice,
                                      DebugClock* clock) {
  return std::make_unique<Model>(name, ctx, slice, clock);
}

// The model of each slice kind, in SliceKind order (kSliceKindTable).
constexpr std::array<SliceFactory, kSliceKinds> kSliceModels = {make<MemSlice>, make<VxmSlice>,
                                                                make<MxmPlane>, make<SxmSlice>};

std::unique_ptr<FunctionalSlice> make_slice(EngineContext& ctx, unsigned slice, DebugClock* clock) {
  const SliceInfo& info = ctx.floorplan.slices()[slice];
  return kSliceModels[static_cast<size_t>(info.kind)](info.name.c_str(), ctx, slice, clock);
}
} // namespace

Chip::Chip(sc_core::sc_module_name name, const ChipConfig& config, const EngineOptions& options,
           ChipDriver driver)
    : sc_core::sc_module(name), ctx_(config, options),
      period_(std::max(1.0, std::round(1e6 / config.clock_mhz)), sc_core::SC_PS), driver_(driver),
      due_(static_cast<unsigned>(ctx_.floorplan.slices().size())) {
  if (options.debug_clock) debug_clock_ = std::make_unique<DebugClock>(config.clock_mhz);
  const auto& slices = ctx_.floorplan.slices();
  std::vector<FunctionalSlice*> slice_ptrs;
  mems_.assign(ctx_.floorplan.mem_count(), nullptr);
  for (unsigned s = 0; s < slices.size(); ++s) {
    slices_.push_back(make_slice(ctx_, s, debug_clock_.get()));
    slice_ptrs.push_back(slices_.back().get());
    if (slices[s].kind == SliceKind::mem)
      mems_[ctx_.floorplan.mem_global(slices[s].east, slices[s].index)] =
          static_cast<MemSlice*>(slices_.back().get());
  }
  std::vector<InstructionMemory*> memories(mems_.begin(), mems_.end());
  icu_ = std::make_unique<Icu>("icu", ctx_, slice_ptrs, memories, debug_clock_.get());
  scheduled_at_.assign(slices_.size(), kNever);
  stamp_.assign(slices_.size(), kNever);

  if (debug_clock_) {
    SC_METHOD(debug_negedge);
    sensitive << debug_clock_->clock.negedge_event();
    dont_initialize();
    SC_METHOD(debug_monitor);
    sensitive << settle_;
    dont_initialize();
  } else if (driver_ == ChipDriver::own_process) {
    SC_METHOD(own_process_step);
  }
}

Chip::~Chip() = default;

namespace {

// Whether two of the extents share a MEM word (then the tensors must be generated in order).
bool any_overlap(std::vector<ImageExtent> extents) {
  std::sort(extents.begin(), extents.end(), [](const ImageExtent& x, const ImageExtent& y) {
    return std::tie(x.mem, x.address) < std::tie(y.mem, y.address);
  });
  for (size_t i = 1; i < extents.size(); ++i)
    if (extents[i].mem == extents[i - 1].mem &&
        extents[i].address < uint64_t{extents[i - 1].address} + extents[i - 1].words)
      return true;
  return false;
}

// The bytes of a program's declared rows.
uint64_t declared_bytes(const Program& program) {
  uint64_t bytes = 0;
  for (const auto& declared : program.declared) {
    const Symbol& symbol = program.symbols.at(declared.symbol);
    bytes += uint64_t{declared.row_count} * symbol.cols * isa::dtype_bytes(symbol.dtype);
  }
  return bytes;
}

} // namespace

// A timing-only run never reads MEM data, so declared tensors (the weights) are not generated;
// stored images are still loaded (an Ifetch'd queue text lives in one). A functional run
// generates declared tensors of at most EngineOptions::generate_at_load_bytes straight into MEM
// now; larger ones (weights streamed once a step) word by word as slices read them
// (DeclaredWords), unless they share words. The stored images then go over them (the order of
// for_each_image).
void Chip::load(const Program& program) {
  if (!ctx_.options.timing_only && (declared_bytes(program) <= ctx_.options.generate_at_load_bytes ||
                                    !ctx_.declared.take(program, static_cast<unsigned>(mems_.size()))))
    generate_declared_tensors(program);
  for (const auto& image : program.images) mems_.at(image.mem)->share_image(image.address, image.bytes);
  icu_->load(program);
}

// Generating is most of a weight-streaming program's load (64 MiB in 780 tensors for an
// 8192 x 8192 int8 GEMV), so when the tensors share no MEM word (a later one would overwrite an
// earlier one's) they are split over two cores: pieces of whole tensors, a tensor of 1 MiB or
// more cut into two row halves, and the pieces dealt out in order until each core has half the
// bytes. Every word is allocated first, so each core only writes its own rows; a row's values
// depend on its index alone, so the bytes are those of one core.
void Chip::generate_declared_tensors(const Program& program) {
  constexpr uint64_t kSplitBytes = uint64_t{1} << 20; // below it a hand-over costs more than it saves
  std::vector<DeclaredTensor> pieces;
  std::vector<uint64_t> piece_bytes;
  std::vector<ImageExtent> extents;
  uint64_t bytes = 0;
  for (const auto& declared : program.declared) {
    const Symbol& symbol = program.symbols.at(declared.symbol);
    const uint64_t row_bytes = uint64_t{symbol.cols} * isa::dtype_bytes(symbol.dtype);
    const uint32_t first_half = declared.row_count * row_bytes >= kSplitBytes ? declared.row_count / 2 : 0;
    for (const auto& [first, count] :
         {std::pair{declared.first_row, first_half},
          std::pair{declared.first_row + first_half, declared.row_count - first_half}})
      if (count > 0) {
        DeclaredTensor piece = declared;
        piece.first_row = first;
        piece.row_count = count;
        pieces.push_back(piece);
        piece_bytes.push_back(count * row_bytes);
      }
    bytes += declared.row_count * row_bytes;
    for (const ImageExtent& extent : declared_extents(declared, symbol)) {
      mems_.at(extent.mem)->reserve(extent.address, extent.words);
      extents.push_back(extent);
    }
  }
  const auto word = [&](uint32_t mem, uint32_t address) { return mems_[mem]->load_word(address); };
  const auto generate = [&](size_t first, size_t end) {
    for (size_t i = first; i < end; ++i)
      generate_declared(pieces[i], program.symbols[pieces[i].symbol], word);
  };
  size_t split = 0; // the first piece of the second core: the first core gets at most half the bytes
  for (uint64_t done = 0; split < pieces.size() && 2 * (done + piece_bytes[split]) <= bytes; ++split)
    done += piece_bytes[split];
  if (bytes >= kSplitBytes && !any_overlap(extents) && try_run_on_two_cores([&](unsigned part) {
        part == 0 ? generate(0, split) : generate(split, pieces.size());
      }))
    return;
  generate(0, pieces.size());
}

bool Chip::idle() const {
  if (icu_->next_event() != kNever) return false;
  for (const auto& slice : slices_)
    if (slice->next_event() != kNever) return false;
  return true;
}

// The end-of-run checks name the last active cycle, which both schedulers agree on (the debug
// clock notices the end a cycle later, once the last SRAM write has retired).
void Chip::finish(Cycle) {
  finished_ = true;
  icu_->finish(ctx_.last_active);
}

// The chip's SystemC process: the cycles that have work, one activation each, or all in one when
// no other process watches them (a return to the kernel per cycle costs more than many a cycle).
void Chip::own_process_step() {
  const Cycle t = now_;
  while (fast_step())
    if (!sole_process_) {
      next_trigger(period_ * double(now_ - t));
      return;
    }
}

// The fused scheduler: one step per cycle that has work, for the slices that have it.
bool Chip::fast_step() {
  const Cycle t = now_;
  if (g_interrupt_requested || t >= max_cycles_) {
    interrupted_ = true;
    limit_reached_ = !g_interrupt_requested;
    // Runs taken whole count what they did in the cycles a vector-by-vector run would have
    // processed: those before t and before the limit.
    const Cycle stop = std::min(t, max_cycles_);
    if (stop > 0)
      for (const auto& slice : slices_) slice->stop_run(stop - 1);
    return false;
  }
  active_.clear();
  auto add = [&](unsigned s) {
    if (stamp_[s] != t) {
      stamp_[s] = t;
      active_.push_back(s);
    }
  };
  due_.take_due_each(t, [&](Cycle cycle, unsigned s) {
    if (scheduled_at_[s] == cycle) add(s);
  });
  for (unsigned s : active_) slices_[s]->commit(t);
  ctx_.touched.clear();
  icu_->evaluate(t);
  for (unsigned s : ctx_.touched) add(s);
  for (unsigned s : active_) slices_[s]->evaluate(t);
  for (unsigned s : active_) slices_[s]->retire(t);
  for (unsigned s : active_) {
    const Cycle next = slices_[s]->next_event();
    const Cycle when = next == kNever ? kNever : std::max(next, t + 1);
    scheduled_at_[s] = when;
    if (when != kNever) due_.push(when, s, t);
  }
  if (ctx_.log.stop_requested()) return false;
  due_.drop_stale([&](Cycle cycle, unsigned s) { return scheduled_at_[s] == cycle; });
  const Cycle next = std::min(icu_->next_event(), due_.earliest());
  if (next == kNever) {
    finish(t);
    return false;
  }
  now_ = std::max(next, t + 1);
  return true;
}

void Chip::debug_negedge() { settle_.notify(sc_core::SC_ZERO_TIME); }

// Runs after every falling-edge method of the cycle has evaluated.
void Chip::debug_monitor() {
  const Cycle t = debug_clock_->cycle();
  if (g_interrupt_requested) {
    interrupted_ = true;
    sc_core::sc_stop();
    return;
  }
  if (ctx_.log.stop_requested()) {
    sc_core::sc_stop();
    return;
  }
  // A cycle limit ends the run after cycle max_cycles - 1, as in fast_step: that cycle's SRAM
  // writes retire now (there is no next rising edge), and nothing of the next cycle happens.
  if (t + 1 >= max_cycles_) {
    for (const auto& slice : slices_) slice->retire(t);
    if (idle()) {
      finish(t);
    } else {
      interrupted_ = true;
      limit_reached_ = true;
    }
    sc_core::sc_stop();
    return;
  }
  // Pending SRAM writes of this cycle retire at the next rising edge; they count as work.
  if (!idle()) return;
  finish(t);
  sc_core::sc_stop();
}

void Chip::advance(Cycle end) {
  while (!done() && now_ < end) fast_step();
}

RunResult Chip::run(Cycle max_cycles) {
  max_cycles_ = max_cycles;
  const auto start = std::chrono::steady_clock::now();
  sc_core::sc_start();
  RunResult outcome = result();
  outcome.host_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outcome;
}

RunResult Chip::result() const {
  RunResult result;
  if (ctx_.log.stop_requested()) {
    result.stopped_strict = true;
    result.strict_message = ctx_.log.kept().front().describe();
  }
  result.interrupted = interrupted_;
  result.first_issue = ctx_.first_issue;
  result.last_active = ctx_.last_active;
  if (ctx_.any_activity) result.cycles = run_cycles(ctx_.last_active, ctx_.config);
  // The limit bounds the cycles the run reports, which end when the last superlane's work does
  // (run_cycles): a run whose engine finished before the limit but whose last superlane did not is
  // cut as well, and a cut run lasted exactly the limit.
  if (limit_reached_ || (max_cycles_ != kNever && result.cycles > max_cycles_)) {
    result.interrupted = true;
    result.cycles = max_cycles_;
  }
  return result;
}

std::vector<uint8_t> Chip::read_symbol(const Symbol& symbol) const {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  const size_t groups = symbol.slices.size() / bytes;
  std::vector<uint8_t> out(size_t(symbol.rows) * symbol.cols * bytes);
  for (uint32_t r = 0; r < symbol.rows; ++r) {
    const size_t g = r % groups;
    for (unsigned b = 0; b < bytes; ++b) {
      const uint32_t address = symbol.base_of(g * bytes + b) + static_cast<uint32_t>(r / groups);
      const uint8_t* word = mems_.at(symbol.slices[g * bytes + b])->word(address);
      for (uint32_t c = 0; c < symbol.cols; ++c) out[(size_t(r) * symbol.cols + c) * bytes + b] = word[c];
    }
  }
  return out;
}

} // namespace tsp
