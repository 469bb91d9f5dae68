#include "tspsim/compiler/mxm_state.h"

#include <algorithm>
#include <fmt/format.h>
#include <stdexcept>

namespace tsp::compiler {

namespace {
[[noreturn]] void bug(const std::string& message) { throw std::logic_error("tspc MXM schedule: " + message); }
} // namespace

MxmPlaneState::MxmPlaneState(const ChipConfig& config)
    : weights_(config), ready_(config.mxm.accumulators, -1), read_out_(config.mxm.accumulators, -1) {}

Cycle MxmPlaneState::lw_earliest() const { return weights_.lw_earliest(); }

void MxmPlaneState::lw(Cycle first_read, isa::DType dtype) {
  const auto& load = weights_.load();
  if (weights_.lw_problem(first_read) == MxmWeightRules::LwProblem::never_installed)
    bug(fmt::format("LW at {} overwrites the load at {} before its IW", first_read, load->first_read));
  if (first_read < lw_earliest()) bug(fmt::format("LW at {} before cycle {}", first_read, lw_earliest()));
  weights_.lw(first_read, first_read, dtype);
}

Cycle MxmPlaneState::iw_earliest() const { return std::max(weights_.iw_earliest(), last_abc_ + 1); }

void MxmPlaneState::iw(Cycle install) {
  const auto problem = weights_.iw_problem(install);
  if (problem == MxmWeightRules::IwProblem::never_loaded || problem == MxmWeightRules::IwProblem::no_new_load)
    bug(fmt::format("IW at {} with no new load", install));
  if (install < iw_earliest())
    bug(fmt::format("IW installing at {} before cycle {}", install, iw_earliest()));
  weights_.iw(install);
}

Cycle MxmPlaneState::abc_earliest(isa::DType dtype, unsigned acc, bool add) const {
  Cycle t =
      std::max<Cycle>({weights_.installed_at(), last_abc_ + 1, weights_.float_activation_earliest(dtype)});
  if (!add) t = std::max(t, read_out_.at(acc));
  return t;
}

void MxmPlaneState::abc(Cycle read, Cycle ready, isa::DType dtype, unsigned acc, bool add) {
  if (!weights_.has_weights() || weights_.weights_dtype() != dtype)
    bug(fmt::format("ABC at {} without {} weights", read, isa::dtype_name(dtype)));
  if (read < abc_earliest(dtype, acc, add))
    bug(fmt::format("ABC at {} before cycle {}", read, abc_earliest(dtype, acc, add)));
  if (add && ready_.at(acc) < 0) bug(fmt::format("ABC add at {} into empty accumulator {}", read, acc));
  last_abc_ = read;
  weights_.activation(dtype, read);
  ready_.at(acc) = ready;
}

unsigned MxmPlaneState::abc_run(Cycle first, isa::DType dtype, unsigned acc, bool add, unsigned count) const {
  if (is_float16(dtype) || first != last_abc_ + 1 || weights_.installed_at() > first) return 0;
  unsigned n = 0;
  while (n < count && (add || read_out_.at(acc + n) <= first + Cycle(n))) ++n;
  return n;
}

Cycle MxmPlaneState::acc_earliest(unsigned acc) const {
  if (ready_.at(acc) < 0) bug(fmt::format("ACC of accumulator {} that holds nothing", acc));
  return ready_[acc];
}

void MxmPlaneState::acc(Cycle t, unsigned acc) {
  if (t < acc_earliest(acc))
    bug(fmt::format("ACC of accumulator {} at {} before its result at {}", acc, t, ready_[acc]));
  read_out_.at(acc) = t;
}

void MxmPlaneState::abcs(Cycle first, Cycle ready, isa::DType dtype, unsigned acc, bool add, unsigned count) {
  if (count == 0) return;
  if (!weights_.has_weights() || weights_.weights_dtype() != dtype)
    bug(fmt::format("ABC at {} without {} weights", first, isa::dtype_name(dtype)));
  if (abc_run(first, dtype, acc, add, count) < count)
    bug(fmt::format("{} ABCs from {} not each at its earliest cycle", count, first));
  for (unsigned k = 0; k < count; ++k) {
    if (add && ready_.at(acc + k) < 0)
      bug(fmt::format("ABC add at {} into empty accumulator {}", first + k, acc + k));
    ready_.at(acc + k) = ready + Cycle(k);
  }
  last_abc_ = first + Cycle(count) - 1;
  weights_.activation(dtype, last_abc_);
}

void MxmPlaneState::accs(Cycle first, unsigned acc, unsigned count) {
  if (acc_run(first, acc, count) < count)
    bug(fmt::format("{} ACCs from accumulator {} at {} before their results", count, acc, first));
  for (unsigned k = 0; k < count; ++k) read_out_[acc + k] = first + Cycle(k);
}

unsigned MxmPlaneState::acc_run(Cycle first, unsigned acc, unsigned count) const {
  unsigned n = 0;
  while (n < count && ready_.at(acc + n) >= 0 && ready_[acc + n] <= first + Cycle(n)) ++n;
  return n;
}

} // namespace tsp::compiler
