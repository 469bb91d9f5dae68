#include "tspsim/compiler/mxm_state.h"

#include "tspsim/program/latency.h"

#include <algorithm>
#include <fmt/format.h>
#include <stdexcept>

namespace tsp::compiler {

namespace {
[[noreturn]] void bug(const std::string& message) { throw std::logic_error("tspc MXM schedule: " + message); }

bool is_float16(isa::DType dtype) { return dtype == isa::DType::f16 || dtype == isa::DType::bf16; }
} // namespace

MxmPlaneState::MxmPlaneState(const ChipConfig& config)
    : config_(config), ready_(config.mxm.accumulators, -1), read_out_(config.mxm.accumulators, -1) {}

Cycle MxmPlaneState::lw_earliest() const { return std::max<Cycle>({0, install_, load_last_ + 1}); }

void MxmPlaneState::lw(Cycle first_read, isa::DType dtype) {
  if (!load_installed_)
    bug(fmt::format("LW at {} overwrites the load at {} before its IW", first_read, load_first_));
  if (first_read < lw_earliest()) bug(fmt::format("LW at {} before cycle {}", first_read, lw_earliest()));
  load_first_ = first_read;
  load_last_ = first_read + lw_cycles(dtype, config_) - 1;
  load_dtype_ = dtype;
  load_installed_ = false;
}

Cycle MxmPlaneState::iw_earliest() const { return std::max(load_last_ + 1, last_abc_ + 1); }

void MxmPlaneState::iw(Cycle install) {
  if (load_installed_) bug(fmt::format("IW at {} with no new load", install));
  if (install < iw_earliest())
    bug(fmt::format("IW installing at {} before cycle {}", install, iw_earliest()));
  install_ = install;
  weights_dtype_ = load_dtype_;
  load_installed_ = true;
}

Cycle MxmPlaneState::abc_earliest(isa::DType dtype, unsigned acc, bool add) const {
  Cycle t = std::max<Cycle>(install_, last_abc_ + 1);
  if (is_float16(dtype) && last_float_abc_ >= 0)
    t = std::max<Cycle>(t, last_float_abc_ + config_.mxm.float_activation_interval);
  if (!add) t = std::max(t, read_out_.at(acc));
  return t;
}

void MxmPlaneState::abc(Cycle read, Cycle ready, isa::DType dtype, unsigned acc, bool add) {
  if (install_ < 0 || weights_dtype_ != dtype)
    bug(fmt::format("ABC at {} without {} weights", read, isa::dtype_name(dtype)));
  if (read < abc_earliest(dtype, acc, add))
    bug(fmt::format("ABC at {} before cycle {}", read, abc_earliest(dtype, acc, add)));
  if (add && ready_.at(acc) < 0) bug(fmt::format("ABC add at {} into empty accumulator {}", read, acc));
  last_abc_ = read;
  if (is_float16(dtype)) last_float_abc_ = read;
  ready_.at(acc) = ready;
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

} // namespace tsp::compiler
