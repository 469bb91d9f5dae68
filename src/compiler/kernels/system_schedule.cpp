// The shared system schedule (include/tspsim/compiler/system_schedule.h): moving tensors between
// chips, the all-reduce phase and the finished system program.
#include "tspsim/compiler/system_schedule.h"

#include "tspsim/program/tensor.h"

#include <map>
#include <optional>

namespace tsp::compiler {

using isa::DType;
using isa::Opcode;

namespace {

// FNV-1a over a program's bytes.
uint64_t bytes_hash(const std::vector<uint8_t>& bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (uint8_t b : bytes) hash = (hash ^ b) * 0x100000001b3ull;
  return hash;
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
  std::vector<std::pair<std::vector<VectorPlace>, std::vector<VectorPlace>>> vectors;
  size_t longest = 0;
  for (const Flow& f : flows) {
    vectors.emplace_back(vectors_of(*f.src), vectors_of(*f.dst));
    longest = std::max(longest, vectors.back().first.size());
  }
  for (size_t v = 0; v < longest; ++v)
    for (size_t i = 0; i < flows.size(); ++i)
      if (v < vectors[i].first.size()) move(flows[i].route, vectors[i].first[v], vectors[i].second[v]);
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

void schedule_all_reduce(SystemSchedule& schedule, const std::vector<uint32_t>& chips,
                         const std::vector<const TiledTensor*>& inputs,
                         const std::vector<const TiledTensor*>& outputs, Opcode op) {
  const size_t n = chips.size();
  // staged[i][j]: chip j's input as it arrives on chip i (i != j), in slices of alternate sides.
  std::vector<std::vector<TiledTensor>> staged(n, std::vector<TiledTensor>(n));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j) {
        ProgramBuilder& builder = schedule.builder(chips[i]);
        const TiledTensor& x = *inputs[j];
        staged[i][j] =
            place_tiled(builder, "", x.dtype, x.rows, x.cols, least_used(builder, j % 2 == 1), 1, {}, false);
      }
  for (size_t j = 0; j < n; ++j) {
    std::vector<SystemSchedule::Flow> flows;
    for (size_t i = 0; i < n; ++i)
      if (i != j) {
        if (!schedule.topology().direct(chips[j], chips[i]))
          throw InputError(fmt::format("all-reduce: chips {} and {} have no direct link (the phase needs a "
                                       "fully connected set)",
                                       chips[j], chips[i]));
        flows.push_back(schedule.flow(chips[j], *inputs[j], chips[i], staged[i][j]));
      }
    schedule.interleave(flows);
  }
  const VExpr combine = combine_expression(op, outputs.front()->dtype, static_cast<unsigned>(n));
  for (size_t i = 0; i < n; ++i) {
    std::vector<const TiledTensor*> operands;
    for (size_t j = 0; j < n; ++j) operands.push_back(i == j ? inputs[j] : &staged[i][j]);
    schedule_vectors(schedule.builder(chips[i]).schedule(), combine, operands, *outputs[i]);
  }
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
