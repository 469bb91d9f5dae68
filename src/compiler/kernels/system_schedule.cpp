// The shared system schedule (include/tspsim/compiler/system_schedule.h): moving tensors between
// chips, the all-reduce phase and the finished system program.
#include "tspsim/compiler/system_schedule.h"

#include "tspsim/common/fnv1a.h"
#include "tspsim/program/tensor.h"

#include <map>
#include <optional>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

// FNV-1a over a program's bytes.
uint64_t bytes_hash(const std::vector<uint8_t>& bytes) {
  Fnv1a hash;
  hash.bytes(bytes.data(), bytes.size());
  return hash.value();
}

} // namespace

// The vectors of a tiled tensor in transfer order: tile, row, byte plane.
std::vector<VectorPlace> vectors_of(const TiledTensor& tensor) {
  std::vector<VectorPlace> out;
  const unsigned bytes = isa::dtype_bytes(tensor.dtype);
  for (const Symbol& tile : tensor.tiles) {
    const unsigned groups = static_cast<unsigned>(tile.slices.size()) / bytes;
    for (uint32_t r = 0; r < tile.rows; ++r)
      for (unsigned b = 0; b < bytes; ++b)
        out.push_back(
            {tile.slices[(r % groups) * bytes + b], tile.base_of((r % groups) * bytes + b) + r / groups});
  }
  return out;
}

void SystemSchedule::interleave(const std::vector<Flow>& flows) {
  std::vector<std::vector<Flow>> sequences;
  for (const Flow& f : flows) sequences.push_back({f});
  interleave_sequences(sequences);
}

void SystemSchedule::interleave_sequences(const std::vector<std::vector<Flow>>& sequences) {
  // Per sequence, each vector's source, destination and route, in sending order.
  struct Step {
    const std::vector<Hop>* route;
    VectorPlace src;
    VectorPlace dst;
  };
  std::vector<std::vector<Step>> steps(sequences.size());
  size_t longest = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    for (const Flow& f : sequences[i]) {
      const auto src = vectors_of(*f.src);
      const auto dst = vectors_of(*f.dst);
      for (size_t v = 0; v < src.size(); ++v) steps[i].push_back({&f.route, src[v], dst[v]});
    }
    longest = std::max(longest, steps[i].size());
  }
  for (size_t v = 0; v < longest; ++v)
    for (const auto& sequence : steps)
      if (v < sequence.size()) move(*sequence[v].route, sequence[v].src, sequence[v].dst);
}

VExpr combine_expression(Opcode op, DType dtype, unsigned inputs) {
  VExpr expr;
  std::vector<unsigned> level;
  for (unsigned i = 0; i < inputs; ++i) level.push_back(expr.input(i, dtype));
  if (inputs == 1) {
    expr.root = expr.unary(Opcode::v_mov, dtype, level[0]);
    return expr;
  }
  while (level.size() > 1) {
    std::vector<unsigned> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2)
      next.push_back(expr.binary(op, dtype, level[i], level[i + 1]));
    if (level.size() % 2) next.push_back(level.back());
    level = std::move(next);
  }
  expr.root = level[0];
  return expr;
}

RowShard row_shard(uint32_t rows, uint32_t n, uint32_t k) {
  const uint32_t base = rows / n, extra = rows % n;
  return {k * base + std::min(k, extra), base + (k < extra ? 1 : 0)};
}

namespace {

using Tensors = std::vector<const TiledTensor*>;

void require_direct_link(const SystemSchedule& schedule, uint32_t from, uint32_t to) {
  if (!schedule.topology().direct(from, to))
    throw InputError(fmt::format(
        "all-reduce: chips {} and {} have no direct link (the phase needs a fully connected set)", from, to));
}

// Where another chip's vectors of a tensor shaped as `shape` arrive, in slices of the side of the
// sender's parity, so that the combine's operands from neighbouring senders sit in different slices.
TiledTensor arrival_buffer(ProgramBuilder& builder, const TiledTensor& shape, size_t sender) {
  return place_tiled(builder, "", shape.dtype, shape.rows, shape.cols, least_used(builder, sender % 2 == 1),
                     1, {}, false);
}

// Whether the two-phase schedule pays: its busiest link's two row shards and one more link
// crossing take fewer cycles than a whole input in one phase (never on two chips, whose two
// shards are the input). A decode step's single row is not split: splitting its column tiles
// instead was measured at 0.5 % of a Llama-2 7B step (docs/llama.md), the collectives being
// a small part of its chain.
bool two_phases_pay(const SystemSchedule& schedule, const std::vector<uint32_t>& chips,
                    const TiledTensor& x) {
  const uint64_t n = chips.size();
  if (x.rows < n) return false;
  const ChipConfig& config = schedule.system().config_of(chips.front());
  const uint64_t row_cycles =
      uint64_t{x.tile_count()} * isa::dtype_bytes(x.dtype) * c2c_vector_cycles(config);
  const uint64_t two_phases =
      2 * ((x.rows + n - 1) / n) * row_cycles + config.timing[isa::TimingParam::c2c_link];
  return two_phases < x.rows * row_cycles;
}

void one_phase_all_reduce(SystemSchedule& schedule, const std::vector<uint32_t>& chips, const Tensors& inputs,
                          const Tensors& outputs, Opcode op) {
  const size_t n = chips.size();
  // arrived[i][j]: chip j's input on chip i (i != j).
  std::vector<std::vector<TiledTensor>> arrived(n, std::vector<TiledTensor>(n));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j) arrived[i][j] = arrival_buffer(schedule.builder(chips[i]), *inputs[j], j);
  for (size_t j = 0; j < n; ++j) {
    std::vector<SystemSchedule::Flow> flows;
    for (size_t i = 0; i < n; ++i)
      if (i != j) {
        require_direct_link(schedule, chips[j], chips[i]);
        flows.push_back(schedule.flow(chips[j], *inputs[j], chips[i], arrived[i][j]));
      }
    schedule.interleave(flows);
  }
  const VExpr combine = combine_expression(op, outputs.front()->dtype, static_cast<unsigned>(n));
  for (size_t i = 0; i < n; ++i) {
    Tensors operands;
    for (size_t j = 0; j < n; ++j) operands.push_back(i == j ? inputs[j] : &arrived[i][j]);
    schedule_vectors(schedule.builder(chips[i]).schedule(), combine, operands, *outputs[i]);
  }
}

// Reduce-scatter, then all-gather, over row shards: chip k combines row shard k of the n inputs
// (the one-phase tree in chip order, so the same bits) and sends the sum to every chip.
void two_phase_all_reduce(SystemSchedule& schedule, const std::vector<uint32_t>& chips, const Tensors& inputs,
                          const Tensors& outputs, Opcode op) {
  const size_t n = chips.size();
  const uint32_t rows = inputs.front()->rows;
  // input_shard[j][k], output_shard[j][k]: shard k of chip j's input and output.
  std::vector<std::vector<TiledTensor>> input_shard(n), output_shard(n);
  std::vector<std::vector<TiledTensor>> arrived(n, std::vector<TiledTensor>(n)); // [k][j]: chip j's shard k
  for (size_t j = 0; j < n; ++j)
    for (size_t k = 0; k < n; ++k) {
      const RowShard s = row_shard(rows, static_cast<uint32_t>(n), static_cast<uint32_t>(k));
      input_shard[j].push_back(tiled_rows(*inputs[j], s.first, s.count));
      output_shard[j].push_back(tiled_rows(*outputs[j], s.first, s.count));
      if (j != k) arrived[k][j] = arrival_buffer(schedule.builder(chips[k]), input_shard[j][k], j);
    }
  for (size_t j = 0; j < n; ++j) {
    std::vector<SystemSchedule::Flow> flows;
    for (size_t k = 0; k < n; ++k)
      if (k != j) {
        require_direct_link(schedule, chips[j], chips[k]);
        flows.push_back(schedule.flow(chips[j], input_shard[j][k], chips[k], arrived[k][j]));
      }
    schedule.interleave(flows);
  }
  const VExpr combine = combine_expression(op, outputs.front()->dtype, static_cast<unsigned>(n));
  for (size_t k = 0; k < n; ++k) {
    Tensors operands;
    for (size_t j = 0; j < n; ++j) operands.push_back(j == k ? &input_shard[k][k] : &arrived[k][j]);
    schedule_vectors(schedule.builder(chips[k]).schedule(), combine, operands, output_shard[k][k]);
  }
  for (size_t k = 0; k < n; ++k) {
    std::vector<SystemSchedule::Flow> flows;
    for (size_t i = 0; i < n; ++i)
      if (i != k) flows.push_back(schedule.flow(chips[k], output_shard[k][k], chips[i], output_shard[i][k]));
    schedule.interleave(flows);
  }
}

} // namespace

void schedule_all_reduce(SystemSchedule& schedule, const std::vector<uint32_t>& chips, const Tensors& inputs,
                         const Tensors& outputs, Opcode op) {
  if (two_phases_pay(schedule, chips, *inputs.front()))
    two_phase_all_reduce(schedule, chips, inputs, outputs, op);
  else
    one_phase_all_reduce(schedule, chips, inputs, outputs, op);
}

void SystemSchedule::finish_chip(uint32_t chip, const std::string& workload, uint64_t tokens_per_run) {
  ProgramBuilder& chip_builder = builder(chip);
  Program program = chip_builder.finish(workload, tokens_per_run);
  // The chip's builder is not needed once its program exists: freeing it here keeps the peak at
  // the unfinished chips' schedules plus the finished programs.
  chip_builder = ProgramBuilder(system_.config_of(chip));
  program.metadata.chips = system_.chips();
  generator_ = program.metadata.generator;
  predicted_cycles_ = std::max(predicted_cycles_, program.metadata.predicted_cycles);
  const auto bytes = serialize_program(program);
  const uint64_t hash = bytes_hash(bytes);
  std::optional<uint32_t> same;
  for (auto [it, end] = distinct_.equal_range(hash); it != end && !same; ++it)
    if ((spill_ ? spill_->bytes(it->second) : serialize_program(programs_[it->second])) == bytes)
      same = it->second;
  if (!same) {
    same = spill_ ? spill_->size() : static_cast<uint32_t>(programs_.size());
    distinct_.emplace(hash, *same);
    if (spill_)
      spill_->add(bytes);
    else
      programs_.push_back(std::move(program));
  }
  chip_program_[chip] = same;
}

CompiledSystem SystemSchedule::take_finished(const std::string& workload, uint64_t tokens_per_run) {
  CompiledSystem result;
  result.predicted_cycles = predicted_cycles_;
  result.program.programs = std::move(programs_);
  for (uint32_t c = 0; c < system_.chips(); ++c)
    result.program.chip_program.push_back(chip_program_[c].value());
  result.program.system_fingerprint = system_fingerprint(system_);
  result.program.system_name = system_.name;
  result.program.metadata.workload = workload;
  result.program.metadata.generator = generator_;
  result.spilled = std::move(spill_);
  result.program.metadata.chips = system_.chips();
  result.program.metadata.predicted_cycles = result.predicted_cycles;
  result.program.metadata.tokens_per_run = tokens_per_run;
  result.outputs.resize(system_.chips());
  programs_.clear();
  distinct_.clear();
  return result;
}

CompiledSystem finish_system(SystemSchedule& schedule, const std::string& workload, uint64_t tokens_per_run) {
  for (uint32_t c = 0; c < schedule.system().chips(); ++c)
    if (!schedule.finished(c)) schedule.finish_chip(c, workload, tokens_per_run);
  return schedule.take_finished(workload, tokens_per_run);
}

} // namespace tsp::compiler
