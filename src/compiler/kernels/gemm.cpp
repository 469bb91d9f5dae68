// GEMM and GEMV on the MXM planes (include/tspsim/compiler/kernels.h, docs/compiler.md).
//
// Work is cut into units: one n-tile of C, a range of k-tiles and a range of rows. A unit runs
// on one plane as one step per k-tile: LW the 320 x 320 weight tile while the previous step
// computes, IW it, then one ABC per row into the unit's accumulators (new for the first k-tile,
// add after). After its last step the rows leave by ACC and are written to C; when the k-tiles
// of an n-tile are split over planes (small m) the partial sums meet in the VXM and are added.
// Every plane keeps its own copy of the activations in MEM so that planes never wait for each
// other's reads; the weight tiles are placed in the slices of the plane that uses them.
#include "tspsim/common/error.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/mxm_state.h"
#include "tspsim/compiler/placement.h"
#include "tspsim/compiler/reference.h"
#include "tspsim/program/latency.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <stdexcept>

namespace tsp::compiler {
namespace {

using isa::DType;
using isa::Opcode;

// A search for a free cycle that gets this far has a bug, not a busy chip.
constexpr Cycle kSearchLimit = 1 << 24;
// ABC rows (m x tiles) and weight tiles up to which a GEMM without --planes tries fewer planes
// than all.
constexpr uint64_t kSmallGemmRows = 4096;
constexpr uint64_t kSmallGemmTiles = 64;

// The first of `bases` for which `attempt(base)` places everything it needs; a failed attempt is
// rolled back.
template <class Attempt>
std::optional<unsigned> try_bases(Schedule& schedule, const std::vector<unsigned>& bases, Attempt attempt) {
  for (unsigned base : bases) {
    const size_t mark = schedule.mark();
    if (attempt(base)) return base;
    schedule.rollback(mark);
  }
  return std::nullopt;
}

// The first cycle from `earliest` at which `attempt(t, base)` succeeds for one of `bases`.
// `next_possible(t)` is the first cycle from t that passes the tests every base's attempt needs,
// made without reserving anything: the cycles it passes over are never tried (in a busy schedule
// most cycles fail there, and an attempt that fails late costs its reservations and rollback).
template <class NextPossible, class Attempt>
Cycle first_fit(Schedule& schedule, Cycle earliest, const std::vector<unsigned>& bases, const char* what,
                NextPossible next_possible, Attempt attempt) {
  for (Cycle t = earliest;;) {
    if (t > earliest + kSearchLimit) throw std::logic_error(fmt::format("tspc gemm: no cycle for {}", what));
    const Cycle next = next_possible(t);
    if (next == t && try_bases(schedule, bases, [&](unsigned base) { return attempt(t, base); })) return t;
    t = std::max(next, t + 1);
  }
}

struct Plane {
  unsigned slice = 0;
  unsigned position = 0;
  bool east = false;
  unsigned index = 0;  // plane number within its hemisphere
  Dir in = Dir::west;  // direction of its operands
  Dir out = Dir::east; // direction of its results
  std::vector<unsigned> weight_mems;
  std::vector<unsigned> act_mems;
  std::vector<unsigned> out_mems;
  // Where activation copies and outputs go when their own slices are full: the own slices first.
  std::vector<unsigned> act_pool;
  std::vector<unsigned> out_pool;
};

struct Unit {
  unsigned j = 0;
  unsigned kt0 = 0;
  unsigned kt1 = 0;
  uint32_t r0 = 0;
  uint32_t r1 = 0;
  unsigned acc_base = 0;
};

using Plan = std::vector<std::vector<Unit>>;

class GemmCompiler {
public:
  GemmCompiler(ProgramBuilder& builder, const GemmShape& shape);
  // The standalone kernel: random A and B, C, the reference and the bounds.
  CompiledKernel compile();
  // A phase of a larger kernel on tensors placed by the caller.
  void schedule_on(const GemmOperands& operands);

private:
  struct Run {
    size_t plane;
    MxmPlaneState* mxm;
    size_t unit = 0;
    unsigned kt = 0;
    size_t steps = 0;
  };

  void check_shape() const;
  void plan();
  void assign_slices();
  Plan plan_rows() const;
  std::optional<Plan> plan_k() const;
  double estimate(const Plan& plan) const;
  void place_tensors();
  void schedule();
  // How a step uses the streams (step_streams).
  struct StepStreams {
    bool load_bound = false;
    unsigned own_group = 0;
    bool own_lw_group = false;
  };
  StepStreams step_streams(const Run& run, const Unit& unit) const;
  void schedule_step(Run& run, const Unit& unit);
  void load_weights(Run& run, const Unit& unit, const StepStreams& step);
  void install_weights(Run& run);
  void multiply_rows(Run& run, const Unit& unit, const StepStreams& step);
  Cycle activations_ready(const Symbol& act, uint32_t r0, uint32_t r1, unsigned x) const;
  // What the ABCs of one step share.
  struct AbcStep {
    const Symbol& act;
    bool add;
    Cycle skew;
    Cycle func;
    Cycle earliest; // the activations' first arrival, and the ABC's skew
    std::vector<unsigned> queues;
    std::vector<unsigned> bases;
  };
  // Where a row's instruction went: its cycle and stream base.
  struct RowPlacement {
    Cycle t;
    unsigned base;
    unsigned queue;
  };
  RowPlacement search_abc(Run& run, const Unit& unit, const AbcStep& abc, uint32_t r);
  uint32_t abc_run(Run& run, const Unit& unit, const AbcStep& abc, uint32_t r, RowPlacement from);
  unsigned readable_rows(const Plane& plane, const AbcStep& abc, uint32_t r, Cycle t, unsigned base,
                         unsigned count) const;
  unsigned rows_on_base(const std::vector<Schedule::Reach>& reaches, const std::vector<unsigned>& bases,
                        unsigned base, unsigned count) const;
  void read_out(Run& run, const Unit& unit);
  // What the ACCs of one unit share.
  struct AccStep {
    const Symbol& out;
    unsigned width; // bytes of a result
    Cycle func;
    std::vector<unsigned> queues;
    std::vector<unsigned> bases;
  };
  RowPlacement search_acc(Run& run, const Unit& unit, const AccStep& step, uint32_t r);
  uint32_t acc_run(Run& run, const Unit& unit, const AccStep& step, uint32_t r, RowPlacement from);
  unsigned writable_rows(const Plane& plane, const AccStep& step, uint32_t r, Cycle t, unsigned base,
                         unsigned count) const;
  // What the steps of combining one n-tile's partial sums share.
  struct CombineContext {
    const std::vector<std::pair<size_t, size_t>>& parts; // (run, unit) of each partial sum
    unsigned vxm;
    unsigned xv; // the VXM's position
    unsigned width;
    Cycle add_skew;
    Cycle add_func;
    Cycle acc_func;
    Dir to_out;
    const Symbol& out;
    // Part i is read by the VXM at first + offset(i): parts 0 and 1 by the first add, part i by add i.
    Cycle offset(size_t i) const { return i < 2 ? Cycle(0) : Cycle(i - 1) * (add_func - add_skew); }
  };
  void combine(unsigned j);
  Cycle combine_earliest(const CombineContext& c, uint32_t r, Cycle previous) const;
  Cycle part_acc_cycle(const CombineContext& c, size_t i, Cycle first) const;
  unsigned part_acc(const CombineContext& c, size_t i, uint32_t r) const;
  bool read_out_parts(const CombineContext& c, uint32_t r, Cycle first, std::vector<Stream>& streams);
  bool add_parts(const CombineContext& c, uint32_t r, Cycle first, const std::vector<Stream>& streams);
  std::vector<Bound> bounds() const;
  size_t mem_accesses() const;
  // The LWs' Reads among them.
  size_t weight_reads() const;
  std::vector<ExpectedOutput> expected() const;

  std::vector<unsigned> stream_bases(unsigned group, std::optional<unsigned> preferred, bool from_top) const;
  Cycle read_latency(unsigned mem, unsigned position) const;

  const ChipConfig& config_;
  GemmShape shape_;
  ProgramBuilder& builder_;
  Schedule& schedule_;
  DType acc_dtype_;
  unsigned bytes_;
  unsigned vector_;
  unsigned kt_count_;
  unsigned nt_count_;
  unsigned lw_;
  unsigned rows_per_lw_cycle_;
  unsigned interval_;
  std::vector<Plane> planes_;
  Plan plan_;
  bool split_k_ = false;
  std::map<std::pair<size_t, unsigned>, Symbol> act_copies_; // (plane, kt)
  std::map<std::pair<unsigned, unsigned>, Symbol> weights_;  // (kt, j)
  std::vector<Symbol> outputs_;                              // per j
  std::vector<Run> runs_;
  // k-split: the (plane, unit) partial sums of each n-tile.
  std::map<unsigned, std::vector<std::pair<size_t, size_t>>> partials_;
  std::vector<Cycle> last_readout_;
};

GemmCompiler::GemmCompiler(ProgramBuilder& builder, const GemmShape& shape)
    : config_(builder.config()), shape_(shape), builder_(builder), schedule_(builder.schedule()),
      acc_dtype_(shape.dtype == DType::i8 ? DType::i32 : DType::f32), bytes_(isa::dtype_bytes(shape.dtype)),
      vector_(builder.config().geometry.vector_bytes()),
      kt_count_(shape.k / vector_ + (shape.k % vector_ != 0)),
      nt_count_(shape.n / vector_ + (shape.n % vector_ != 0)), lw_(lw_cycles(shape.dtype, builder.config())),
      rows_per_lw_cycle_(builder.config().mxm.weight_streams / bytes_),
      interval_(shape.dtype == DType::i8 ? 1 : builder.config().mxm.float_activation_interval) {}

void GemmCompiler::check_shape() const {
  if (shape_.dtype != DType::i8 && shape_.dtype != DType::f16 && shape_.dtype != DType::bf16)
    throw InputError(
        fmt::format("gemm: dtype {} is not an MXM type (int8, fp16 or bf16)", isa::dtype_name(shape_.dtype)));
  if (shape_.m < 1 || shape_.k < 1 || shape_.n < 1)
    throw InputError(
        fmt::format("gemm: m, k and n must be at least 1 (got {}x{}x{})", shape_.m, shape_.k, shape_.n));
  const unsigned streams = config_.mxm.weight_streams;
  if (config_.geometry.mem_slices() < streams)
    throw InputError(
        fmt::format("gemm: an LW reads {} weight rows per cycle, one from each of {} MEM slices; "
                    "config '{}' has {} MEM slices",
                    streams, streams, config_.source, config_.geometry.mem_slices()));
  if (config_.streams.per_direction < streams || config_.mxm.accumulators < 2)
    throw InputError(
        fmt::format("gemm: config '{}' needs at least {} streams per direction and 2 accumulators",
                    config_.source, streams));
}

// Output slices first (nearest the plane's edge, so that the last results are written soon after
// they leave the plane), then weight slices, then activation copies; each plane takes unused
// slices of its own hemisphere, then of the other, then the least used.
void GemmCompiler::assign_slices() {
  const auto& floorplan = schedule_.floorplan();
  for (const SliceInfo& info : floorplan.slices()) {
    if (info.kind != SliceKind::mxm) continue;
    Plane p;
    p.slice = *floorplan.find_slice(info.name);
    p.position = info.position;
    p.east = info.east;
    p.index = info.index;
    p.in = info.east ? Dir::east : Dir::west;
    p.out = info.east ? Dir::west : Dir::east;
    planes_.push_back(p);
  }
  // Nearest the SXM first, west before east, so that two planes already use both hemispheres.
  std::stable_sort(planes_.begin(), planes_.end(), [](const Plane& a, const Plane& b) {
    return a.index != b.index ? a.index < b.index : !a.east && b.east;
  });
  if (shape_.max_planes > 0 && shape_.max_planes < planes_.size()) planes_.resize(shape_.max_planes);
  std::vector<unsigned> usage(config_.geometry.mem_slices(), 0);
  auto own_side = [&](bool east) {
    auto mems = side_slices(schedule_, east);
    std::reverse(mems.begin(), mems.end());
    return mems;
  };
  auto take = [&](std::vector<unsigned> candidates, unsigned count) {
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](unsigned a, unsigned b) { return usage[a] < usage[b]; });
    candidates.resize(count);
    for (unsigned m : candidates) ++usage[m];
    return candidates;
  };
  auto pool = [&](bool east) {
    auto mems = own_side(east);
    const auto other = side_slices(schedule_, !east);
    mems.insert(mems.end(), other.begin(), other.end());
    return mems;
  };
  // The four bytes of a result leave in one direction, so they go to one side of the VXM.
  for (Plane& p : planes_) p.out_mems = take(own_side(p.east), isa::dtype_bytes(acc_dtype_));
  for (Plane& p : planes_) p.weight_mems = take(pool(p.east), config_.mxm.weight_streams);
  for (Plane& p : planes_) p.act_mems = take(pool(p.east), bytes_);
  // Activation copies that overflow their slices go to slices no plane loads weights from first: a
  // plane's LW reads its weight slices for lw_ consecutive cycles, which another plane's row-by-row
  // activation reads in the same slice would hold off for a whole unit.
  std::vector<bool> weight_slice(config_.geometry.mem_slices(), false);
  for (const Plane& p : planes_)
    for (unsigned m : p.weight_mems) weight_slice[m] = true;
  for (Plane& p : planes_) {
    p.act_pool = p.act_mems;
    for (unsigned m : pool(p.east))
      if (std::find(p.act_mems.begin(), p.act_mems.end(), m) == p.act_mems.end()) p.act_pool.push_back(m);
    std::stable_partition(p.act_pool.begin() + p.act_mems.size(), p.act_pool.end(),
                          [&](unsigned m) { return !weight_slice[m]; });
    p.out_pool = p.out_mems;
    for (unsigned m : own_side(p.east))
      if (std::find(p.out_mems.begin(), p.out_mems.end(), m) == p.out_mems.end()) p.out_pool.push_back(m);
  }
}

double GemmCompiler::estimate(const Plan& plan) const {
  double worst = 0;
  for (const auto& units : plan) {
    double total = 0;
    for (const Unit& u : units)
      total += double(u.kt1 - u.kt0) * std::max<double>(double(u.r1 - u.r0) * interval_, lw_ + 1);
    worst = std::max(worst, total);
  }
  return worst;
}

namespace {
// `total` work items dealt out to `planes` planes in contiguous shares: `make(index, end, u)` gives
// the u-th unit of a share from item `index` (the share ends before `end`) and how many items it takes.
template <typename Make> Plan deal(uint64_t total, size_t planes, Make make) {
  Plan plan(planes);
  for (size_t p = 0; p < planes; ++p) {
    uint64_t index = total * p / planes;
    const uint64_t end = total * (p + 1) / planes;
    for (unsigned u = 0; index < end; ++u) {
      const auto [unit, items] = make(index, end, u);
      plan[p].push_back(unit);
      index += items;
    }
  }
  return plan;
}

// How many of `count` consecutive words from `address`, accessed in SRAM cycles sram, sram + 1,
// ..., come after their word's `last(address)` SRAM cycle, in a row (a Read after the word's
// write, a Write after its last Read).
template <typename Last> unsigned sram_ordered_run(uint32_t address, Cycle sram, unsigned count, Last last) {
  for (unsigned k = 0; k < count; ++k)
    if (sram + k <= last(address + k)) return k;
  return count;
}
} // namespace

// Rows of every n-tile, dealt out to the planes in contiguous shares; a unit holds up to half
// the accumulators so that its read-out overlaps the next unit.
Plan GemmCompiler::plan_rows() const {
  const unsigned half = config_.mxm.accumulators / 2;
  return deal(uint64_t(nt_count_) * shape_.m, planes_.size(), [&](uint64_t index, uint64_t end, unsigned u) {
    Unit unit;
    unit.j = static_cast<unsigned>(index / shape_.m);
    unit.r0 = static_cast<uint32_t>(index % shape_.m);
    unit.r1 = static_cast<uint32_t>(std::min<uint64_t>({shape_.m, unit.r0 + half, unit.r0 + (end - index)}));
    unit.kt0 = 0;
    unit.kt1 = kt_count_;
    unit.acc_base = (u % 2) * half;
    return std::make_pair(unit, uint64_t(unit.r1 - unit.r0));
  });
}

// (n-tile, k-tile) steps over all rows, dealt out in contiguous shares: partial sums of an
// n-tile split between planes are added in the VXM. Each plane computes its split n-tiles first,
// so that the sums meet early and its last results go straight to C. Every unit of a plane has
// its own accumulators; nothing if they do not fit.
std::optional<Plan> GemmCompiler::plan_k() const {
  Plan plan =
      deal(uint64_t(nt_count_) * kt_count_, planes_.size(), [&](uint64_t index, uint64_t end, unsigned u) {
        Unit unit;
        unit.j = static_cast<unsigned>(index / kt_count_);
        unit.kt0 = static_cast<unsigned>(index % kt_count_);
        unit.kt1 = static_cast<unsigned>(std::min<uint64_t>(kt_count_, unit.kt0 + (end - index)));
        unit.r0 = 0;
        unit.r1 = shape_.m;
        unit.acc_base = u * shape_.m;
        return std::make_pair(unit, uint64_t(unit.kt1 - unit.kt0));
      });
  for (const auto& units : plan)
    if (uint64_t(units.size()) * shape_.m > config_.mxm.accumulators) return std::nullopt;
  std::map<unsigned, unsigned> planes_of_tile;
  for (const auto& units : plan)
    for (const Unit& u : units) ++planes_of_tile[u.j];
  for (auto& units : plan)
    std::stable_partition(units.begin(), units.end(), [&](const Unit& u) { return planes_of_tile[u.j] > 1; });
  return plan;
}

// A (seed) and B (seed + 1) are declared tensors: each k-tile copy of A and each tile of B is a
// window of its matrix's stream.
void GemmCompiler::place_tensors() {
  const auto declare = [&](Symbol tile, const std::string& name, uint64_t seed, uint32_t row0, uint32_t col0,
                           uint32_t cols) {
    tile.name = name;
    DeclaredTensor declared =
        random_declaration(tile, random_skip(seed, uint64_t{row0} * cols + col0), vector_);
    declared.row_stride = cols;
    builder_.add_random(tile, declared);
  };
  outputs_.resize(nt_count_);
  std::vector<bool> named_act(kt_count_, false);
  std::vector<bool> have_output(nt_count_, false);
  for (size_t p = 0; p < planes_.size(); ++p) {
    const Plane& plane = planes_[p];
    for (const Unit& u : plan_[p]) {
      const uint32_t cols_n = std::min(vector_, shape_.n - u.j * vector_);
      for (unsigned kt = u.kt0; kt < u.kt1; ++kt) {
        const uint32_t rows_k = std::min(vector_, shape_.k - kt * vector_);
        if (!act_copies_.count({p, kt})) {
          // The first copy of a k-tile is A.k<t>, the other planes' A.k<t>.p<plane>.
          const std::string name = named_act[kt] ? fmt::format("A.k{}.p{}", kt, p) : fmt::format("A.k{}", kt);
          named_act[kt] = true;
          act_copies_[{p, kt}] =
              builder_.add_tensor_spread("", shape_.dtype, shape_.m, rows_k, plane.act_pool, {});
          declare(act_copies_[{p, kt}], name, shape_.seed, 0, kt * vector_, shape_.k);
        }
        if (!weights_.count({kt, u.j})) {
          weights_[{kt, u.j}] = builder_.add_tensor("", shape_.dtype, rows_k, cols_n, plane.weight_mems,
                                                    lw_ * rows_per_lw_cycle_, {});
          declare(weights_[{kt, u.j}], fmt::format("B.k{}.n{}", kt, u.j), shape_.seed + 1, kt * vector_,
                  u.j * vector_, shape_.n);
        }
      }
      if (!have_output[u.j]) {
        have_output[u.j] = true;
        outputs_[u.j] = builder_.add_tensor_spread(fmt::format("C.n{}", u.j), acc_dtype_, shape_.m, cols_n,
                                                   plane.out_pool, {});
      }
    }
  }
}

// Aligned group bases of the streams of one direction: `preferred` first, then from the top or
// from the bottom.
std::vector<unsigned> GemmCompiler::stream_bases(unsigned group, std::optional<unsigned> preferred,
                                                 bool from_top) const {
  std::vector<unsigned> bases;
  const unsigned count = config_.streams.per_direction / group;
  bases.reserve(count + 1);
  if (preferred) bases.push_back(*preferred);
  for (unsigned i = 0; i < count; ++i) {
    const unsigned base = (from_top ? count - 1 - i : i) * group;
    if (!preferred || base != *preferred) bases.push_back(base);
  }
  return bases;
}

Cycle GemmCompiler::read_latency(unsigned mem, unsigned position) const {
  return schedule_.travel(schedule_.mem_position(mem), position) +
         Cycle(func_cycles(make_read(0, {}), config_));
}

// One step of a unit on its plane: load k-tile `run.kt` of n-tile `unit.j`, install it, multiply
// every row of the unit.
void GemmCompiler::schedule_step(Run& run, const Unit& unit) {
  const StepStreams streams = step_streams(run, unit);
  load_weights(run, unit, streams);
  install_weights(run);
  multiply_rows(run, unit, streams);
}

// When loads, not products, set the pace (few rows per step), each plane of a hemisphere keeps its
// own stream group for its loads and its activations; otherwise the activations ride at the top of
// the streams and the loads take turns below them.
GemmCompiler::StepStreams GemmCompiler::step_streams(const Run& run, const Unit& unit) const {
  const unsigned groups = config_.streams.per_direction / config_.mxm.weight_streams;
  StepStreams out;
  out.load_bound = (unit.r1 - unit.r0) * interval_ <= lw_;
  out.own_group = (planes_[run.plane].index % groups) * config_.mxm.weight_streams;
  out.own_lw_group = out.load_bound && config_.geometry.mxm_planes_per_hemisphere <= groups;
  return out;
}

void GemmCompiler::load_weights(Run& run, const Unit& unit, const StepStreams& step) {
  const Plane& plane = planes_[run.plane];
  const unsigned x = plane.position;
  const Symbol& tile = weights_.at({run.kt, unit.j});
  const unsigned streams = config_.mxm.weight_streams;
  // LW: weight row c * R + j of the tile is in slice group j at address base + c (each slice's
  // own base) and travels on stream base + j * bytes + b (byte b) to be read in LW cycle c.
  // Not before the weights can be read (they may be written by an earlier phase).
  Cycle first = run.mxm->lw_earliest();
  for (size_t s = 0; s < tile.slices.size(); ++s)
    first = std::max(first, schedule_.run_readable_at(tile.slices[s], tile.base_of(s), lw_, x));
  const Instruction probe_lw = make_lw(shape_.dtype, {0, plane.in});
  const Cycle lw_skew = skew_cycles(probe_lw, config_);
  const std::vector<unsigned> lw_groups =
      step.own_lw_group ? std::vector<unsigned>{step.own_group} : stream_bases(streams, std::nullopt, false);
  // Every stream's reads come from one MEM slice in lw_ consecutive cycles. A Read's taken span
  // fails the LW at l (its Reads' values never share a diagonal and stream), so the spans are
  // tested before anything is reserved: with one stream group l is passed over without an
  // attempt, with several a group whose span is taken costs no run placed and rolled back.
  const auto spans_free = [&](Cycle l, unsigned g) {
    for (unsigned s = 0; s < streams; ++s)
      if (!schedule_.stream_run_free(schedule_.read_reach(tile.slices[s], plane.in, x, l), g + s, lw_))
        return false;
    return true;
  };
  const bool one_group = lw_groups.size() == 1;
  const auto next_possible = [&](Cycle l) {
    Cycle next = schedule_.next_free_on_slice(plane.slice, l - lw_skew) + lw_skew;
    for (unsigned s = 0; s < streams; ++s)
      next = std::max(next, schedule_.next_read_slots(tile.slices[s], x, l, lw_));
    if (next == l && one_group && !spans_free(l, lw_groups[0])) next = l + 1;
    // l >= first: every slice's SRAM order holds.
    for (unsigned s = 0; next == l && s < streams; ++s)
      next = schedule_.next_run_readable(tile.slices[s], tile.base_of(s), lw_, x, l);
    return next;
  };
  const Cycle lw_at =
      first_fit(schedule_, first, lw_groups, "an LW", next_possible, [&](Cycle l, unsigned g) {
        bool ok = (one_group || spans_free(l, g)) &&
                  schedule_.place_on_slice(plane.slice, l - lw_skew, make_lw(shape_.dtype, {g, plane.in}),
                                           {0}) >= 0;
        for (unsigned s = 0; ok && s < streams; ++s)
          ok = schedule_.read_run(tile.slices[s], tile.base_of(s), lw_, {g + s, plane.in}, x, l);
        return ok;
      });
  run.mxm->lw(lw_at, shape_.dtype);
}

void GemmCompiler::install_weights(Run& run) {
  const Plane& plane = planes_[run.plane];
  // IW once the load is complete and the previous step's ABCs have read.
  const Cycle iw_func = func_cycles(make_iw(), config_);
  Cycle install = std::max(run.mxm->iw_earliest(), iw_func);
  while (schedule_.place_on_slice(plane.slice, install - iw_func, make_iw(), {2, 0}) < 0) ++install;
  run.mxm->iw(install);
}

void GemmCompiler::multiply_rows(Run& run, const Unit& unit, const StepStreams& step) {
  const Plane& plane = planes_[run.plane];
  const unsigned x = plane.position;
  const unsigned kt = run.kt;
  const unsigned streams = config_.mxm.weight_streams;
  // One ABC per row, each reading its activation from this plane's copy of A.
  const Symbol& act = act_copies_.at({run.plane, kt});
  const bool add = kt > unit.kt0;
  const Instruction probe_abc = make_abc(shape_.dtype, {0, plane.in}, 0, add);
  const Cycle abc_skew = skew_cycles(probe_abc, config_);
  const Cycle abc_func = func_cycles(probe_abc, config_);
  const Cycle data_ready = activations_ready(act, unit.r0, unit.r1, x);
  const unsigned preferred = step.load_bound ? step.own_group + streams - bytes_
                                             : config_.streams.per_direction - bytes_ * (plane.index + 1);
  // Steps alternate between two queues so that each idles while the other multiplies: a queue
  // with no idle cycle could not fetch more text.
  const AbcStep abc{act,
                    add,
                    abc_skew,
                    abc_func,
                    std::max(data_ready, abc_skew),
                    (run.steps++ % 2) ? std::vector<unsigned>{2, 1} : std::vector<unsigned>{1, 2},
                    stream_bases(bytes_, preferred, true)};
  for (uint32_t r = unit.r0; r < unit.r1;) {
    const RowPlacement row = search_abc(run, unit, abc, r);
    r += 1 + abc_run(run, unit, abc, r + 1, {row.t + 1, row.base, row.queue});
  }
}

// The first cycle at which the activations of rows [r0, r1) can all be at position x: a slice
// group holds its rows at consecutive words.
Cycle GemmCompiler::activations_ready(const Symbol& act, uint32_t r0, uint32_t r1, unsigned x) const {
  Cycle ready = 0;
  for (unsigned mem : act.slices) ready = std::max(ready, read_latency(mem, x));
  const auto groups = static_cast<uint32_t>(act.slices.size() / bytes_);
  for (uint32_t g = 0; g < groups; ++g) {
    const uint32_t first = r0 + (g + groups - r0 % groups) % groups;
    if (first >= r1) continue;
    for (unsigned b = 0; b < bytes_; ++b) {
      const SymbolWord w = symbol_word(act, first, b);
      ready =
          std::max(ready, schedule_.all_readable_at(w.mem, w.address, (r1 - first + groups - 1) / groups, x));
    }
  }
  return ready;
}

// Row r's ABC and its Reads at the first cycle and base that fit.
GemmCompiler::RowPlacement GemmCompiler::search_abc(Run& run, const Unit& unit, const AbcStep& abc,
                                                    uint32_t r) {
  const Plane& plane = planes_[run.plane];
  const unsigned x = plane.position;
  const unsigned acc = unit.acc_base + (r - unit.r0);
  const Cycle earliest = std::max(run.mxm->abc_earliest(shape_.dtype, acc, abc.add), abc.earliest);
  unsigned base = 0;
  int queue = -1;
  const auto next_possible = [&](Cycle t) {
    Cycle next = schedule_.next_free_on_slice(plane.slice, t - abc.skew) + abc.skew;
    for (unsigned b = 0; b < bytes_; ++b)
      next = std::max(next, schedule_.next_read_slots(symbol_word(abc.act, r, b).mem, x, t, 1));
    for (unsigned b = 0; next == t && b < bytes_; ++b) {
      const SymbolWord word = symbol_word(abc.act, r, b);
      next = schedule_.next_readable(word.mem, word.address, x, t);
    }
    return next;
  };
  const Cycle read_at =
      first_fit(schedule_, earliest, abc.bases, "an ABC", next_possible, [&](Cycle t, unsigned s) {
        queue = schedule_.place_on_slice(plane.slice, t - abc.skew,
                                         make_abc(shape_.dtype, {s, plane.in}, acc, abc.add), abc.queues);
        bool ok = queue >= 0;
        for (unsigned b = 0; ok && b < bytes_; ++b) {
          const SymbolWord word = symbol_word(abc.act, r, b);
          ok = schedule_.read_to(word.mem, word.address, {s + b, plane.in}, x, t);
        }
        if (ok) base = s;
        return ok;
      });
  run.mxm->abc(read_at, read_at - abc.skew + abc.func, shape_.dtype, acc, abc.add);
  return {read_at, base, unsigned(queue)};
}

// Rows r, r + 1, ... in cycles from.t, from.t + 1, ... for as long as search_abc would place each
// at that cycle (its earliest, where every test passes) on the first queue and on base from.base:
// their ABCs are one place_run and each activation byte's Reads one read_run. The rows placed.
uint32_t GemmCompiler::abc_run(Run& run, const Unit& unit, const AbcStep& abc, uint32_t r,
                               RowPlacement from) {
  const Cycle t = from.t;
  const Plane& plane = planes_[run.plane];
  // Only rows of one slice group are consecutive words of their slices.
  if (r >= unit.r1 || abc.act.slices.size() != bytes_) return 0;
  const unsigned acc = unit.acc_base + (r - unit.r0);
  // Each test stops at its first refusal, the cheapest first: a short run costs little.
  unsigned count = schedule_.slice_run(plane.slice, t - abc.skew, std::min<uint32_t>(unit.r1 - r, UINT16_MAX),
                                       from.queue, abc.queues);
  for (unsigned b = 0; b < bytes_; ++b) {
    const unsigned mem = symbol_word(abc.act, r, b).mem;
    count =
        schedule_.free_run(schedule_.mem_queue(mem), schedule_.read_dispatch(mem, plane.position, t), count);
  }
  count = readable_rows(plane, abc, r, t, from.base, count);
  count = run.mxm->abc_run(t, shape_.dtype, acc, abc.add, count);
  if (count == 0) return 0;
  const unsigned base = from.base;
  bool ok = schedule_.place_run(from.queue, t - abc.skew, count,
                                make_abc(shape_.dtype, {base, plane.in}, acc, abc.add));
  for (unsigned b = 0; ok && b < bytes_; ++b) {
    const SymbolWord word = symbol_word(abc.act, r, b);
    ok = schedule_.read_run(word.mem, word.address, count, {base + b, plane.in}, plane.position, t);
  }
  if (!ok) throw std::logic_error("tspc gemm: a run of ABCs that its tests passed did not fit");
  run.mxm->abcs(t, t - abc.skew + abc.func, shape_.dtype, acc, abc.add, count);
  return count;
}

// How many of `count` rows from r have every activation byte's Read, dispatched one a cycle from
// the one whose value is at the plane in cycle t, after its word's write with its bank port free,
// and `base` as the first base whose streams are free.
unsigned GemmCompiler::readable_rows(const Plane& plane, const AbcStep& abc, uint32_t r, Cycle t,
                                     unsigned base, unsigned count) const {
  std::vector<Schedule::Reach> reaches;
  for (unsigned b = 0; b < bytes_; ++b) {
    const SymbolWord word = symbol_word(abc.act, r, b);
    const Cycle sram = schedule_.read_dispatch(word.mem, plane.position, t) + schedule_.read_skew();
    reaches.push_back(schedule_.read_reach(word.mem, plane.in, plane.position, t));
    count = schedule_.bank_free_run(word.mem, word.address, sram, count);
    count = sram_ordered_run(word.address, sram, count,
                             [&](uint32_t address) { return schedule_.written(word.mem, address); });
  }
  return rows_on_base(reaches, abc.bases, base, count);
}

// How many of `count` rows, whose values take `reaches` k diagonals on in row k, have `base` as
// the first of `bases` with every byte's stream free: where nothing else refuses, a search takes the
// first base whose streams are free.
unsigned GemmCompiler::rows_on_base(const std::vector<Schedule::Reach>& reaches,
                                    const std::vector<unsigned>& bases, unsigned base, unsigned count) const {
  const auto streams_free = [&](unsigned s, unsigned k) {
    for (unsigned b = 0; b < reaches.size(); ++b)
      if (!schedule_.stream_free(Schedule::later(reaches[b], k), s + b)) return false;
    return true;
  };
  // Each row's spans are cache misses in a large table: they are fetched some rows ahead.
  constexpr unsigned kAhead = 16;
  for (unsigned k = 0; k < count; ++k) {
    for (unsigned b = 0; k + kAhead < count && b < reaches.size(); ++b)
      schedule_.prefetch_stream(Schedule::later(reaches[b], k + kAhead), base + b);
    auto s = bases.begin();
    while (!streams_free(*s, k) && *s != base) ++s;
    if (*s != base || !streams_free(base, k)) return k;
  }
  return count;
}

// ACC of every row of a unit straight to C.
void GemmCompiler::read_out(Run& run, const Unit& unit) {
  const Plane& plane = planes_[run.plane];
  const unsigned width = isa::dtype_bytes(acc_dtype_);
  const AccStep step{outputs_[unit.j],
                     width,
                     func_cycles(make_acc({0, plane.out}, 0), config_),
                     {2, 1, 0},
                     stream_bases(width, std::nullopt, false)};
  for (uint32_t r = unit.r0; r < unit.r1;) {
    const RowPlacement row = search_acc(run, unit, step, r);
    r += 1 + acc_run(run, unit, step, r + 1, {row.t + 1, row.base, row.queue});
  }
}

// Row r's ACC and its Writes at the first cycle and base that fit.
GemmCompiler::RowPlacement GemmCompiler::search_acc(Run& run, const Unit& unit, const AccStep& step,
                                                    uint32_t r) {
  const Plane& plane = planes_[run.plane];
  const unsigned acc = unit.acc_base + (r - unit.r0);
  Cycle earliest = std::max(run.mxm->acc_earliest(acc), last_readout_[run.plane] + 1);
  unsigned base = 0;
  int queue = -1;
  // A reused word of C is written after its last Read.
  for (unsigned b = 0; b < step.width; ++b) {
    const SymbolWord w = symbol_word(step.out, r, b);
    if (schedule_.last_read(w.mem, w.address) >= 0)
      earliest = std::max(earliest, schedule_.writable_at(w.mem, w.address, plane.position) - step.func);
  }
  // The ACC's queue and every byte's Write slot: cycles whose Write queues are busy (most of a
  // search's failures) are passed over without an attempt.
  const auto next_possible = [&](Cycle t) {
    Cycle next = schedule_.next_free_on_slice(plane.slice, t);
    for (unsigned b = 0; b < step.width; ++b)
      next = std::max(
          next, schedule_.next_write_slot(symbol_word(step.out, r, b).mem, plane.position, t + step.func) -
                    step.func);
    return next;
  };
  const Cycle done =
      first_fit(schedule_, earliest, step.bases, "an ACC", next_possible, [&](Cycle t, unsigned s) {
        queue = schedule_.place_on_slice(plane.slice, t, make_acc({s, plane.out}, acc), step.queues);
        bool ok = queue >= 0;
        for (unsigned b = 0; ok && b < step.width; ++b)
          ok = schedule_.claim_write({s + b, plane.out}, plane.position, t + step.func) &&
               schedule_.write_from(symbol_word(step.out, r, b).mem, symbol_word(step.out, r, b).address,
                                    {s + b, plane.out}, plane.position, t + step.func);
        if (ok) base = s;
        return ok;
      });
  run.mxm->acc(done, acc);
  last_readout_[run.plane] = done;
  return {done, base, unsigned(queue)};
}

// Rows r, r + 1, ... in cycles from.t, from.t + 1, ... for as long as search_acc would place each
// at that cycle on the first queue and on base from.base: their ACCs are one place_run and each
// result byte's Writes one write_run. The rows placed.
uint32_t GemmCompiler::acc_run(Run& run, const Unit& unit, const AccStep& step, uint32_t r,
                               RowPlacement from) {
  const Cycle t = from.t;
  const Plane& plane = planes_[run.plane];
  // Only rows of one slice group are consecutive words of their slices.
  if (r >= unit.r1 || step.out.slices.size() != step.width) return 0;
  const unsigned acc = unit.acc_base + (r - unit.r0);
  // Each test stops at its first refusal, the cheapest first: a short run costs little.
  unsigned count = schedule_.slice_run(plane.slice, t, std::min<uint32_t>(unit.r1 - r, UINT16_MAX),
                                       from.queue, step.queues);
  count = writable_rows(plane, step, r, t + step.func, from.base, count);
  count = run.mxm->acc_run(t, acc, count);
  if (count == 0) return 0;
  const unsigned base = from.base;
  bool ok = schedule_.place_run(from.queue, t, count, make_acc({base, plane.out}, acc));
  for (unsigned b = 0; ok && b < step.width; ++b) {
    const SymbolWord word = symbol_word(step.out, r, b);
    ok = schedule_.write_run(word.mem, word.address, count, {base + b, plane.out}, plane.position,
                             t + step.func);
  }
  if (!ok) throw std::logic_error("tspc gemm: a run of ACCs that its tests passed did not fit");
  run.mxm->accs(t, acc, count);
  last_readout_[run.plane] = t + count - 1;
  return count;
}

// How many of `count` rows from r have every result byte's Write, of a value leaving the plane
// one a cycle from cycle t, in a free queue slot and bank port after its word's last Read, and
// `base` as the first base whose streams are free.
unsigned GemmCompiler::writable_rows(const Plane& plane, const AccStep& step, uint32_t r, Cycle t,
                                     unsigned base, unsigned count) const {
  std::vector<Schedule::Reach> reaches;
  for (unsigned b = 0; b < step.width; ++b) {
    const SymbolWord word = symbol_word(step.out, r, b);
    const unsigned position = schedule_.mem_position(word.mem);
    const Cycle dispatch = t + schedule_.travel(plane.position, position) - schedule_.write_skew();
    const Cycle sram = dispatch + schedule_.write_skew();
    count = schedule_.free_run(schedule_.mem_queue(word.mem), dispatch, count);
    reaches.push_back(schedule_.reach(plane.out, plane.position, t, position));
    count = schedule_.bank_free_run(word.mem, word.address, sram, count);
    count = sram_ordered_run(word.address, sram, count,
                             [&](uint32_t address) { return schedule_.last_read(word.mem, address); });
  }
  return rows_on_base(reaches, step.bases, base, count);
}

// The partial sums of n-tile j from several planes: row by row, each plane ACCs its part towards the VXM and
// a chain of adds sums them, the last writing C; the first cycle that fits is searched and rolled back.
void GemmCompiler::combine(unsigned j) {
  const Instruction probe_add = make_vxm_binary(Opcode::v_add, acc_dtype_, {}, {}, {});
  const unsigned vxm = schedule_.floorplan().vxm_slice();
  const unsigned xv = schedule_.slice_position(vxm);
  const Symbol& out = outputs_[j];
  const CombineContext c{partials_.at(j),
                         vxm,
                         xv,
                         isa::dtype_bytes(acc_dtype_),
                         skew_cycles(probe_add, config_),
                         func_cycles(probe_add, config_),
                         func_cycles(make_acc({}, 0), config_),
                         schedule_.mem_position(out.slices[0]) < xv ? Dir::west : Dir::east,
                         out};
  Cycle previous = -1;
  for (uint32_t r = 0; r < shape_.m; ++r) {
    const Cycle earliest = combine_earliest(c, r, previous);
    Cycle done = -1;
    for (Cycle first = earliest; done < 0; ++first) {
      if (first > earliest + kSearchLimit)
        throw std::logic_error("tspc gemm: no cycle to combine partial sums");
      const size_t mark = schedule_.mark();
      std::vector<Stream> part_streams;
      if (read_out_parts(c, r, first, part_streams) && add_parts(c, r, first, part_streams)) {
        done = first;
        break;
      }
      schedule_.rollback(mark);
    }
    for (size_t i = 0; i < c.parts.size(); ++i)
      runs_[c.parts[i].first].mxm->acc(part_acc_cycle(c, i, done), part_acc(c, i, r));
    previous = done;
  }
}

Cycle GemmCompiler::combine_earliest(const CombineContext& c, uint32_t r, Cycle previous) const {
  Cycle earliest = std::max(previous + 1, c.add_skew);
  for (size_t i = 0; i < c.parts.size(); ++i) {
    const Run& run = runs_[c.parts[i].first];
    earliest = std::max(earliest, run.mxm->acc_earliest(part_acc(c, i, r)) + c.acc_func +
                                      schedule_.travel(planes_[run.plane].position, c.xv) - c.offset(i));
  }
  return earliest;
}

// The ACC of part i is dispatched so that its result reaches the VXM at first + offset(i).
Cycle GemmCompiler::part_acc_cycle(const CombineContext& c, size_t i, Cycle first) const {
  const Plane& plane = planes_[runs_[c.parts[i].first].plane];
  return first + c.offset(i) - schedule_.travel(plane.position, c.xv) - c.acc_func;
}

unsigned GemmCompiler::part_acc(const CombineContext& c, size_t i, uint32_t r) const {
  return plan_[c.parts[i].first][c.parts[i].second].acc_base + r;
}

// Every part's ACC of row r onto streams towards the VXM; `streams` gets where each part travels.
bool GemmCompiler::read_out_parts(const CombineContext& c, uint32_t r, Cycle first,
                                  std::vector<Stream>& streams) {
  for (size_t i = 0; i < c.parts.size(); ++i) {
    const Plane& plane = planes_[runs_[c.parts[i].first].plane];
    const unsigned acc = part_acc(c, i, r);
    const Cycle t = part_acc_cycle(c, i, first);
    const auto base = try_bases(schedule_, stream_bases(c.width, std::nullopt, false), [&](unsigned s) {
      bool placed = schedule_.place_on_slice(plane.slice, t, make_acc({s, plane.out}, acc), {2, 0}) >= 0;
      for (unsigned b = 0; placed && b < c.width; ++b)
        placed = schedule_.reserve_value({s + b, plane.out}, plane.position, t + c.acc_func, {c.xv});
      return placed;
    });
    if (!base) return false;
    streams.push_back({*base, plane.out});
  }
  return true;
}

// The chain of adds over the parts of row r; the last one's sum is written to C.
bool GemmCompiler::add_parts(const CombineContext& c, uint32_t r, Cycle first,
                             const std::vector<Stream>& streams) {
  Stream sum{};
  for (size_t k = 1; k < c.parts.size(); ++k) {
    const Cycle dispatch = first + c.offset(k) - c.add_skew;
    const Cycle result = dispatch + c.add_func;
    const bool last = k + 1 == c.parts.size();
    bool ok = false;
    for (Dir dir : {c.to_out, c.to_out == Dir::east ? Dir::west : Dir::east}) {
      if (last && dir != c.to_out) break;
      const Stream a = k == 1 ? streams[0] : sum;
      const auto base = try_bases(schedule_, stream_bases(c.width, std::nullopt, false), [&](unsigned s) {
        const Stream dst{s, dir};
        bool placed =
            schedule_.place_on_slice(c.vxm, dispatch,
                                     make_vxm_binary(Opcode::v_add, acc_dtype_, dst, a, streams[k])) >= 0;
        for (unsigned b = 0; placed && b < c.width; ++b) {
          placed = last ? schedule_.claim_write(dst.plus(b), c.xv, result)
                        : schedule_.claim_value(dst.plus(b), c.xv, result, c.xv);
          if (placed && last)
            placed = schedule_.write_from(symbol_word(c.out, r, b).mem, symbol_word(c.out, r, b).address,
                                          dst.plus(b), c.xv, result);
        }
        return placed;
      });
      if (base) {
        sum = Stream{*base, dir};
        ok = true;
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

void GemmCompiler::schedule() {
  for (size_t p = 0; p < planes_.size(); ++p)
    runs_.push_back(Run{p, &builder_.mxm_state(planes_[p].slice), 0, 0, 0});
  last_readout_.assign(planes_.size(), -1);
  for (auto& run : runs_)
    if (!plan_[run.plane].empty()) run.kt = plan_[run.plane][0].kt0;
  if (split_k_)
    for (size_t p = 0; p < plan_.size(); ++p)
      for (size_t u = 0; u < plan_[p].size(); ++u) partials_[plan_[p][u].j].push_back({p, u});
  // Every access other than an LW's Reads takes a span and a bank port; an LW's Reads take their
  // spans and bank ports as one run per slice, each in at most two buckets of 64 cycles or
  // diagonals (lw_ is 20 or 40).
  const size_t weight_reads = this->weight_reads();
  schedule_.reserve_accesses(mem_accesses() - weight_reads);
  schedule_.reserve_runs(2 * weight_reads / lw_);
  schedule_.reserve_span_runs(2 * weight_reads / lw_);
  while (true) {
    // The plane that can load its next weights earliest goes next.
    Run* next = nullptr;
    for (auto& run : runs_)
      if (run.unit < plan_[run.plane].size() && (!next || run.mxm->lw_earliest() < next->mxm->lw_earliest()))
        next = &run;
    if (!next) break;
    const Unit& unit = plan_[next->plane][next->unit];
    schedule_step(*next, unit);
    // A placed step stays: its undo entries (a bank port and a stream span per Read, 209,715
    // Reads in GEMV 8192 x 8192) would otherwise grow the log for the whole schedule.
    schedule_.commit();
    if (++next->kt < unit.kt1) continue;
    if (!split_k_ || partials_.at(unit.j).size() == 1) read_out(*next, unit);
    schedule_.commit();
    if (++next->unit < plan_[next->plane].size()) next->kt = plan_[next->plane][next->unit].kt0;
  }
  // Partial sums meet once every load is placed, so that their trip to the VXM and on to C fits
  // between the loads instead of pushing them back.
  for (const auto& [j, parts] : partials_)
    if (parts.size() > 1) combine(j);
}

// The Reads of every step (the weights' and the activations') and the Writes of every read-out.
size_t GemmCompiler::mem_accesses() const {
  size_t count = 0;
  for (const auto& units : plan_)
    for (const Unit& u : units)
      count +=
          size_t(u.kt1 - u.kt0) * (size_t(lw_) * config_.mxm.weight_streams + size_t(u.r1 - u.r0) * bytes_) +
          size_t(u.r1 - u.r0) * isa::dtype_bytes(acc_dtype_);
  return count;
}

size_t GemmCompiler::weight_reads() const {
  size_t count = 0;
  for (const auto& units : plan_)
    for (const Unit& u : units) count += size_t(u.kt1 - u.kt0) * lw_ * config_.mxm.weight_streams;
  return count;
}

std::vector<Bound> GemmCompiler::bounds() const {
  const double planes = double(planes_.size());
  const double tiles = double(kt_count_) * nt_count_;
  const double abcs = double(shape_.m) * tiles;
  const double weight_words = tiles * lw_ * config_.mxm.weight_streams;
  const double act_words = double(shape_.m) * kt_count_ * bytes_;
  const double out_words = double(shape_.m) * nt_count_ * isa::dtype_bytes(acc_dtype_);
  const unsigned sides = planes_.size() > config_.geometry.mxm_planes_per_hemisphere ? 2 : 1;
  return {
      {"MXM compute", abcs * interval_ / planes},
      {"weight install", tiles * lw_ / planes},
      {"MEM bandwidth", (weight_words + act_words + out_words) / config_.geometry.mem_slices()},
      {"stream bandwidth", (weight_words + act_words) / (double(config_.streams.per_direction) * sides)},
  };
}

std::vector<ExpectedOutput> GemmCompiler::expected() const {
  std::vector<double> abs_sums;
  const auto a = random_tensor(shape_.dtype, shape_.m, shape_.k, shape_.seed);
  const auto b = random_tensor(shape_.dtype, shape_.k, shape_.n, shape_.seed + 1);
  const auto c = shape_.dtype == DType::i8
                     ? matmul_int8_reference(a, b, shape_.m, shape_.k, shape_.n)
                     : matmul_reference(element_values(shape_.dtype, a), element_values(shape_.dtype, b),
                                        shape_.m, shape_.k, shape_.n, &abs_sums);
  std::vector<ExpectedOutput> out;
  for (unsigned j = 0; j < nt_count_; ++j) {
    const uint32_t cols = std::min(vector_, shape_.n - j * vector_);
    std::vector<double> values, tolerance;
    for (uint32_t i = 0; i < shape_.m; ++i)
      for (uint32_t c0 = 0; c0 < cols; ++c0) {
        const size_t e = size_t(i) * shape_.n + j * vector_ + c0;
        values.push_back(c[e]);
        // fp32 sums of exact products: at most one rounding per addition.
        if (!abs_sums.empty())
          tolerance.push_back(double(shape_.k + kt_count_ + 4) * std::ldexp(abs_sums[e], -24));
      }
    out.push_back(make_expected(outputs_[j].name, acc_dtype_, std::move(values), std::move(tolerance)));
  }
  return out;
}

void GemmCompiler::plan() {
  check_shape();
  assign_slices();
  plan_ = plan_rows();
  if (auto k_plan = plan_k(); k_plan && estimate(*k_plan) < estimate(plan_)) {
    plan_ = std::move(*k_plan);
    split_k_ = true;
  }
}

void GemmCompiler::schedule_on(const GemmOperands& operands) {
  plan();
  outputs_.resize(nt_count_);
  for (size_t p = 0; p < planes_.size(); ++p)
    for (const Unit& u : plan_[p]) {
      for (unsigned kt = u.kt0; kt < u.kt1; ++kt) {
        act_copies_[{p, kt}] = operands.a(kt);
        weights_[{kt, u.j}] = operands.b(kt, u.j);
      }
      outputs_[u.j] = operands.c(u.j);
    }
  schedule();
}

CompiledKernel GemmCompiler::compile() {
  plan();
  place_tensors();
  schedule();
  CompiledKernel kernel;
  kernel.program = builder_.finish(fmt::format("{} {}x{}x{} {}", shape_.m == 1 ? "gemv" : "gemm", shape_.m,
                                               shape_.k, shape_.n, isa::dtype_name(shape_.dtype)));
  kernel.predicted_cycles = kernel.program.metadata.predicted_cycles;
  if (shape_.with_reference) kernel.outputs = expected();
  kernel.bounds = bounds();
  return kernel;
}

} // namespace

CompiledKernel compile_gemm(const ChipConfig& config, const GemmShape& shape) {
  require_mem(config, shape.m == 1 ? "gemv" : "gemm",
              {{"A", shape.dtype, shape.m, shape.k},
               {"B", shape.dtype, shape.k, shape.n},
               {"C", shape.dtype == DType::i8 ? DType::i32 : DType::f32, shape.m, shape.n}});
  const auto compile_with = [&](unsigned planes) {
    GemmShape s = shape;
    s.max_planes = planes;
    ProgramBuilder builder(config);
    return GemmCompiler(builder, s).compile();
  };
  // A small GEMM spends more on reaching far planes than it gains from them: unless the planes
  // are given, small ones are compiled on every plane and on ..., 4, 2, 1 planes and the fastest
  // kept (the fewest planes on a tie). Large ones use every plane.
  const unsigned all = config.geometry.mxm_planes();
  const uint64_t vector = config.geometry.vector_bytes();
  const uint64_t tiles = (shape.k + vector - 1) / vector * ((shape.n + vector - 1) / vector);
  if (shape.max_planes != 0 || all == 1 || tiles > kSmallGemmTiles ||
      uint64_t(shape.m) * tiles > kSmallGemmRows)
    return compile_with(shape.max_planes);
  std::vector<unsigned> fewer;
  for (unsigned planes = 1; planes < all; planes *= 2) fewer.insert(fewer.begin(), planes);
  std::optional<CompiledKernel> best = compile_with(all);
  for (unsigned planes : fewer) {
    try {
      CompiledKernel kernel = compile_with(planes);
      if (kernel.predicted_cycles <= best->predicted_cycles) best = std::move(kernel);
    } catch (const InputError&) {
      // Fewer planes hold fewer tiles: this count does not fit, a larger one may.
    }
  }
  return std::move(*best);
}

void schedule_gemm(ProgramBuilder& builder, const GemmShape& shape, const GemmOperands& operands) {
  GemmCompiler(builder, shape).schedule_on(operands);
}

} // namespace tsp::compiler
