#include "slices/mxm_plane.h"

#include "tspsim/engine/operand_groups.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

namespace tsp {

using isa::DType;
using isa::Opcode;

namespace {
// Queued ABCs past which the products of earlier cycles are folded into the accumulators.
constexpr size_t kMaxQueued = 512;

std::string still_loading(const char* instruction, const std::string& plane,
                          const MxmWeightRules::Load& load) {
  return fmt::format(
      "{} on {}: the LW dispatched at cycle {} is still loading the shadow buffer until cycle {}",
      instruction, plane, load.dispatched, load.last_read);
}

// The loops over a row's elements are free functions: in a member function the compiler cannot
// tell that the stores leave n_ alone, and does not vectorise them.

// Byte b of each of the n elements of row.
void byte_plane(const uint32_t* row, unsigned n, unsigned b, uint8_t* out) {
  for (unsigned j = 0; j < n; ++j) out[j] = uint8_t(row[j] >> (8 * b));
}

// Folds one product row s into an accumulator row: row + s with add (integer sums wrap modulo
// 2^32), else s.
void fold_i32(uint32_t* row, const int32_t* s, unsigned n, bool add) {
  if (add)
    for (unsigned j = 0; j < n; ++j) row[j] += static_cast<uint32_t>(s[j]);
  else
    for (unsigned j = 0; j < n; ++j) row[j] = static_cast<uint32_t>(s[j]);
}

// The same with fp32 bits: out[j] + s_j once with add.
void fold_f32(uint32_t* row, const float* s, unsigned n, bool add) {
  for (unsigned j = 0; j < n; ++j) {
    float value = s[j];
    if (add) {
      float old;
      std::memcpy(&old, &row[j], sizeof old);
      value = old + s[j];
    }
    std::memcpy(&row[j], &value, sizeof value);
  }
}
} // namespace

MxmPlane::MxmPlane(sc_core::sc_module_name name, EngineContext& ctx, unsigned slice, DebugClock* debug_clock)
    : FunctionalSlice(name, ctx, slice, debug_clock), k_(ctx.vector_bytes), n_(ctx.vector_bytes),
      weights_(ctx.config), acc_timing_(ctx.config.mxm.accumulators),
      acc_arena_(size_t(4) * n_, ZeroArena::HugePages::always) {
  if (!functional()) return;
  shadow_.assign(size_t(2) * k_ * n_, 0);
  acc_rows_.assign(ctx.config.mxm.accumulators, nullptr);
  queued_for_.assign(ctx.config.mxm.accumulators, 0);
  acts_i8_.reserve(size_t(kMaxQueued + 1) * k_); // what a full queue holds, without regrowing
  scratch_.assign(size_t(ctx.config.mxm.weight_streams) * ctx.vector_bytes, 0);
}

void MxmPlane::schedule(Cycle cycle, Step step, const Dispatch& d, unsigned lw_cycle) {
  pending_.push(cycle) = {step, lw_cycle, d};
}

void MxmPlane::execute(const Dispatch& d) {
  const Cycle t = d.cycle;
  const Cycle read = t + skew_cycles(d.instruction, ctx_.config);
  switch (d.instruction.opcode) {
  case Opcode::lw:
    schedule(read, Step::lw_read, d);
    break;
  case Opcode::iw:
    installs_.push_back({t + func_cycles(d.instruction, ctx_.config), d.origin});
    break;
  case Opcode::abc:
    schedule(read, Step::abc_read, d);
    break;
  case Opcode::acc:
    schedule(read, Step::acc_read, d);
    break;
  default:
    break;
  }
  evaluate(t);
}

// IW is a commit-phase event: reads of the install cycle already see the new weights.
void MxmPlane::commit(Cycle t) {
  FunctionalSlice::commit(t);
  while (!installs_.empty() && installs_.front().cycle <= t) {
    install(installs_.front());
    installs_.pop_front();
  }
}

void MxmPlane::evaluate(Cycle t) {
  while (pending_.due(t)) {
    const Pending& p = pending_.pop().second;
    switch (p.step) {
    case Step::lw_read:
      lw_read(p.dispatch, p.lw_cycle, t);
      break;
    case Step::abc_read:
      abc_read(p.dispatch, t);
      break;
    case Step::acc_read:
      acc_read(p.dispatch, t);
      break;
    }
  }
}

Cycle MxmPlane::next_event() const {
  Cycle next = FunctionalSlice::next_event();
  next = std::min(next, pending_.earliest());
  if (!installs_.empty()) next = std::min(next, installs_.front().cycle);
  if (lw_reads_) next = std::min(next, lw_reads_->last_dispatch());
  return next;
}

void MxmPlane::retire(Cycle t) {
  if (lw_reads_ && t >= lw_reads_->last_dispatch()) end_lw_interval(lw_reads_->last_dispatch());
}

void MxmPlane::stop_run(Cycle last) {
  if (lw_reads_) end_lw_interval(last);
}

// Reads of the LW's stream group at this plane's position in every cycle of the interval, each
// found on one write run upstream with no barrier release between (a release scheduled later
// splits the interval: split_reads). Needs a release to come at least a cycle after the Notify
// that schedules it, so that the reads of the Notify's own cycle keep their epoch.
bool MxmPlane::take_lw_interval(const Dispatch& d, Cycle first, uint32_t count) {
  if (!ctx_.runs_allowed() || lw_reads_ || notify_release_cycles(ctx_.config) == 0) return false;
  const StreamRef src = StreamRef::from_field(d.instruction.operands[1]);
  for (unsigned s = 0; s < ctx_.config.mxm.weight_streams; ++s)
    if (!ctx_.fabric.run_reads_ok({src.id + s, src.west}, info().position, first, 1, count)) return false;
  lw_dispatch_ = d;
  Dispatch reads = d;
  reads.cycle = first;
  lw_reads_ = RepeatRun{reads, count, 1, -1, 0};
  lw_read_first_ = first - 1;
  lw_read_cycles_ = RunCycles(*lw_reads_, {0, 0, 0});
  ctx_.stats.cover_run(slice_id(), &lw_read_cycles_);
  ++ctx_.runs_taken;
  return true;
}

void MxmPlane::end_lw_interval(Cycle last) {
  const uint64_t reads = lw_reads_->iterations_through(last, 0);
  ctx_.stats.slice(slice_id()).stream_bytes_read +=
      reads * ctx_.config.mxm.weight_streams * ctx_.vector_bytes;
  ctx_.stats.release_run(slice_id(), last, kNever);
  const Cycle latest = lw_read_cycles_.latest_through(last);
  if (latest != kNever) ctx_.mark_active(latest);
  lw_reads_.reset();
}

// The interval keeps its reads through `now` (the release comes later) and the LW reads the
// rest cycle by cycle, so that stale values are found by the per-cycle code in cycle order.
void MxmPlane::split_reads(Cycle now, Cycle release) {
  if (!lw_reads_ || release > lw_reads_->last_dispatch() || lw_reads_->last_dispatch() <= now) return;
  end_lw_interval(now);
  schedule(now + 1, Step::lw_read, lw_dispatch_, static_cast<unsigned>(now + 1 - lw_read_first_));
  ctx_.touched.push_back(slice_id());
}

// LW and ABC types the array cannot hold reach the plane only through unchecked fetched text.
bool MxmPlane::check_dtype(const Dispatch& d, Cycle t) {
  const DType dtype = dtype_operand(d.instruction, 0);
  if (valid_dtype(dtype) && num::mxm_supports(dtype)) return true;
  ctx_.log.report(ErrorKind::mxm_weights, t, d.origin,
                  fmt::format("{} on {}: the MXM takes i8, f16 or bf16, not dtype {}",
                              d.instruction.spec().mnemonic, info().name, static_cast<unsigned>(dtype)));
  return false;
}

void MxmPlane::start_load(const Dispatch& d, Cycle t) {
  const auto& load = weights_.load();
  switch (weights_.lw_problem(int64_t(t))) {
  case MxmWeightRules::LwProblem::still_loading:
    ctx_.log.report(ErrorKind::mxm_weights, t, d.origin, still_loading("LW", info().name, *load));
    break;
  case MxmWeightRules::LwProblem::never_installed:
    ctx_.log.report(
        ErrorKind::mxm_weights, t, d.origin,
        fmt::format("LW on {}: overwrites the weights loaded by the LW dispatched at cycle {}, which "
                    "were never installed",
                    info().name, load->dispatched));
    break;
  case MxmWeightRules::LwProblem::none:
    break;
  }
  weights_.lw(int64_t(d.cycle), int64_t(t), dtype_operand(d.instruction, 0));
}

// Read cycle c of an LW: rows c * R .. c * R + R - 1 (R = weight streams / dtype bytes), byte b
// of row c * R + j from stream base + j * bytes + b.
void MxmPlane::lw_read(const Dispatch& d, unsigned lw_cycle, Cycle t) {
  if (lw_cycle == 0) {
    if (!check_dtype(d, t)) return;
    start_load(d, t);
  }
  const DType dtype = dtype_operand(d.instruction, 0);
  const StreamRef src = StreamRef::from_field(d.instruction.operands[1]);
  if (functional())
    read_shadow_rows(d, lw_cycle, src, isa::dtype_bytes(dtype), t);
  else
    read_streams(t, src, ctx_.config.mxm.weight_streams, nullptr, d.origin);
  const uint32_t cycles = lw_cycles(dtype, ctx_.config);
  if (lw_cycle + 1 >= cycles) return;
  // The first read, a point write of its producer's Read as often as not, goes the per-cycle way.
  if (lw_cycle == 0 && take_lw_interval(d, t + 1, cycles - 1)) return;
  schedule(t + 1, Step::lw_read, d, lw_cycle + 1);
}

// Byte b of row lw_cycle * R + j comes from stream j * bytes + b (R = weight streams / bytes). The
// streams of an i8 LW are consecutive rows of byte plane 0, read in place when all of them fit.
void MxmPlane::read_shadow_rows(const Dispatch& d, unsigned lw_cycle, StreamRef src, unsigned bytes,
                                Cycle t) {
  const unsigned streams = ctx_.config.mxm.weight_streams;
  const unsigned rows = streams / bytes;
  const size_t first_row = size_t(lw_cycle) * rows;
  if (bytes == 1 && first_row + rows <= k_) {
    read_streams(t, src, streams, &shadow_[first_row * n_], d.origin);
    return;
  }
  read_streams(t, src, streams, scratch_.data(), d.origin);
  for (unsigned j = 0; j < rows && first_row + j < k_; ++j)
    for (unsigned b = 0; b < bytes; ++b)
      std::memcpy(&shadow_[(size_t(b) * k_ + first_row + j) * n_],
                  &scratch_[size_t(j * bytes + b) * ctx_.vector_bytes], n_);
}

void MxmPlane::install(const Install& iw) {
  const Cycle t = iw.cycle;
  const auto& load = weights_.load();
  switch (weights_.iw_problem(int64_t(t))) {
  case MxmWeightRules::IwProblem::never_loaded:
    ctx_.log.report(ErrorKind::mxm_weights, t, iw.origin,
                    fmt::format("IW on {}: the shadow buffer was never loaded", info().name));
    return;
  case MxmWeightRules::IwProblem::no_new_load:
    ctx_.log.report(ErrorKind::mxm_weights, t, iw.origin,
                    fmt::format("IW on {}: no LW has loaded the shadow buffer since the IW at cycle {}",
                                info().name, load->installed_at));
    return;
  case MxmWeightRules::IwProblem::still_loading:
    ctx_.log.report(ErrorKind::mxm_weights, t, iw.origin, still_loading("IW", info().name, *load));
    break;
  case MxmWeightRules::IwProblem::none:
    break;
  }
  flush(kNever);
  weights_.iw(int64_t(t));
  if (!functional()) return;
  if (weights_.weights_dtype() == DType::i8) {
    std::vector<const uint8_t*> rows(k_);
    for (unsigned r = 0; r < k_; ++r) rows[r] = &shadow_[size_t(r) * n_];
    num::pack_weights_i8(rows.data(), k_, n_, packed_i8_.rows(size_t(k_) * n_));
  } else {
    std::vector<num::ConstPlaneGroup> rows(k_);
    for (unsigned r = 0; r < k_; ++r)
      rows[r].planes = {&shadow_[size_t(r) * n_], &shadow_[(size_t(k_) + r) * n_], nullptr, nullptr};
    num::pack_weights_float(weights_.weights_dtype(), rows.data(), k_, n_, packed_f32_.rows(size_t(k_) * n_));
  }
}

void MxmPlane::abc_read(const Dispatch& d, Cycle t) {
  if (!check_dtype(d, t)) return;
  const auto& ops = d.instruction.operands;
  const DType dtype = dtype_operand(d.instruction, 0);
  const StreamRef src = StreamRef::from_field(ops[1]);
  const auto acc = static_cast<uint32_t>(ops[2]);
  read_streams(t, src, isa::dtype_bytes(dtype), functional() ? activation_buffer(dtype) : nullptr, d.origin);

  if (weights_.float_activation_too_soon(dtype, int64_t(t)))
    ctx_.log.report(
        ErrorKind::mxm_weights, t, d.origin,
        fmt::format("ABC.{} on {}: a 16-bit float activation {} cycles after the previous one; the "
                    "plane takes one every {} cycles",
                    isa::dtype_name(dtype), info().name, int64_t(t) - weights_.last_float_activation(),
                    weights_.float_interval()));
  weights_.activation(dtype, int64_t(t));
  bool usable = true;
  if (!weights_.has_weights()) {
    usable = false;
    ctx_.log.report(ErrorKind::mxm_weights, t, d.origin,
                    fmt::format("ABC on {}: no weights are installed", info().name));
  } else if (dtype != weights_.weights_dtype()) {
    usable = false;
    ctx_.log.report(ErrorKind::mxm_weights, t, d.origin,
                    fmt::format("ABC.{} on {}: the installed weights are {}", isa::dtype_name(dtype),
                                info().name, isa::dtype_name(weights_.weights_dtype())));
  }
  if (acc >= acc_timing_.size()) {
    ctx_.log.report(ErrorKind::mxm_accumulator, t, d.origin,
                    fmt::format("ABC on {}: accumulator {} does not exist (the plane has {})", info().name,
                                acc, acc_timing_.size()));
    return;
  }

  const Cycle ready = d.cycle + func_cycles(d.instruction, ctx_.config);
  AccTiming& timing = acc_timing_[acc];
  if (timing.read != t) {
    timing.earlier_read = timing.read;
    timing.earlier_ready = timing.ready;
  }
  timing.read = t;
  timing.ready = ready;
  if (usable) ctx_.stats.slice(slice_id()).macs += uint64_t(k_) * n_;
  if (!functional()) return;

  products_.push_back({acc, ops[3] != 0, t, usable ? rows_ : -1});
  ++queued_for_[acc];
  if (usable) {
    if (dtype != DType::i8) {
      acts_f32_.resize(size_t(rows_ + 1) * k_);
      num::ConstPlaneGroup planes;
      planes.planes = {scratch_.data(), scratch_.data() + ctx_.vector_bytes, nullptr, nullptr};
      num::widen_to_f32(dtype, planes, k_, &acts_f32_[size_t(rows_) * k_]);
    }
    ++rows_;
  }
  if (products_.size() - head_ > kMaxQueued) flush(t);
}

// An i8 activation is read straight into the row after the queued ones, which becomes queued only
// if the ABC's weights are usable (so acts_i8_ may hold one row more than rows_); a float one is
// read into the scratch and widened.
uint8_t* MxmPlane::activation_buffer(DType dtype) {
  if (dtype != DType::i8) return scratch_.data();
  acts_i8_.resize(size_t(rows_ + 1) * k_);
  return reinterpret_cast<uint8_t*>(&acts_i8_[size_t(rows_) * k_]);
}

// ACC at t sees the ABCs whose activations were read before t; one read at t itself cannot have
// reached the accumulator, whether or not it was evaluated already. Every queued product of a
// read before t is folded in together: one that is not due yet can only reach an accumulator an
// ACC reads too early, which is an error whose value is not specified.
void MxmPlane::acc_read(const Dispatch& d, Cycle t) {
  const StreamRef dst = StreamRef::from_field(d.instruction.operands[0]);
  const auto acc = static_cast<uint32_t>(d.instruction.operands[1]);
  const Cycle out_cycle = d.cycle + func_cycles(d.instruction, ctx_.config);
  if (acc >= acc_timing_.size()) {
    ctx_.log.report(ErrorKind::mxm_accumulator, t, d.origin,
                    fmt::format("ACC on {}: accumulator {} does not exist (the plane has {})", info().name,
                                acc, acc_timing_.size()));
    return write_result(out_cycle, dst, nullptr, d.origin);
  }
  const AccTiming& timing = acc_timing_[acc];
  const bool latest_before = timing.read != kNever && timing.read < t;
  const Cycle read = latest_before ? timing.read : timing.earlier_read;
  const Cycle ready = latest_before ? timing.ready : timing.earlier_ready;
  if (read == kNever)
    ctx_.log.report(ErrorKind::mxm_accumulator, t, d.origin,
                    fmt::format("ACC on {}: accumulator {} holds no result", info().name, acc));
  else if (ready > t)
    ctx_.log.report(ErrorKind::mxm_accumulator, t, d.origin,
                    fmt::format("ACC on {}: the latest result in accumulator {} is ready at cycle {}",
                                info().name, acc, ready));
  if (functional() && queued_for_[acc] > 0) flush(t);
  write_result(out_cycle, dst, functional() ? acc_rows_[acc] : nullptr, d.origin);
}

// Byte b of element j goes to stream b, straight into the pooled stream values.
void MxmPlane::write_result(Cycle t, StreamRef dst, const uint32_t* row, const Origin& origin) {
  if (!functional()) return write_streams(t, dst, 4, nullptr, origin);
  write_streams_filled(t, dst, 4, origin, [&](unsigned b, uint8_t* bytes) {
    if (row)
      byte_plane(row, n_, b, bytes);
    else
      std::memset(bytes, 0, n_);
  });
}

uint32_t* MxmPlane::accumulator(uint32_t acc) {
  uint32_t*& row = acc_rows_[acc];
  if (!row) row = reinterpret_cast<uint32_t*>(acc_arena_.allocate());
  return row;
}

// Folds the queued products of activations read before `read_before` into their accumulators, in
// read order. The products come from one matrix product without accumulation; adding each row
// afterwards is what matvec with accumulate does (integer sums wrap modulo 2^32; fp32 adds
// out[j] + s_j once).
void MxmPlane::flush(Cycle read_before) {
  size_t end = head_;
  while (end < products_.size() && products_[end].read < read_before) ++end;
  if (end == head_) return;
  int64_t first_row = -1;
  size_t m = 0;
  for (size_t i = head_; i < end; ++i) {
    if (products_[i].row < 0) continue;
    if (first_row < 0) first_row = products_[i].row;
    ++m;
  }
  const bool integer = weights_.weights_dtype() == DType::i8;
  int32_t* out_i32 = integer ? out_i32_.rows(m * n_) : nullptr;
  float* out_f32 = integer ? nullptr : out_f32_.rows(m * n_);
  if (m > 0 && integer)
    num::matmul_i8(packed_i8_.data(), &acts_i8_[size_t(first_row) * k_], out_i32, m, k_, n_, false);
  else if (m > 0)
    num::matmul_f32(packed_f32_.data(), &acts_f32_[size_t(first_row) * k_], out_f32, m, k_, n_, false);
  size_t r = 0;
  for (size_t i = head_; i < end; ++i) {
    const Product& p = products_[i];
    --queued_for_[p.acc];
    uint32_t* row = accumulator(p.acc);
    if (p.row < 0) {
      if (!p.add) std::fill(row, row + n_, 0u);
      continue;
    }
    if (integer)
      fold_i32(row, &out_i32[r * n_], n_, p.add);
    else
      fold_f32(row, &out_f32[r * n_], n_, p.add);
    ++r;
  }
  head_ = end;
  if (head_ == products_.size()) {
    products_.clear();
    acts_i8_.clear();
    acts_f32_.clear();
    head_ = 0;
    rows_ = 0;
  } else if (head_ > kMaxQueued) {
    // Drop the folded prefix so that a queue that never drains stays bounded.
    int64_t keep_from = rows_;
    for (size_t i = head_; i < products_.size(); ++i)
      if (products_[i].row >= 0) {
        keep_from = products_[i].row;
        break;
      }
    products_.erase(products_.begin(), products_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
    for (auto& p : products_)
      if (p.row >= 0) p.row -= keep_from;
    const auto dropped = static_cast<std::ptrdiff_t>(keep_from * k_);
    if (!acts_i8_.empty()) acts_i8_.erase(acts_i8_.begin(), acts_i8_.begin() + dropped);
    if (!acts_f32_.empty()) acts_f32_.erase(acts_f32_.begin(), acts_f32_.begin() + dropped);
    rows_ -= keep_from;
  }
}

} // namespace tsp
