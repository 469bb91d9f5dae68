#include "tspsim/program/mxm_rules.h"

#include "tspsim/program/latency.h"

#include <algorithm>

namespace tsp {

bool is_float16(isa::DType dtype) { return dtype == isa::DType::f16 || dtype == isa::DType::bf16; }

MxmWeightRules::LwProblem MxmWeightRules::lw_problem(int64_t t) const {
  if (!load_) return LwProblem::none;
  if (load_->last_read >= t) return LwProblem::still_loading;
  if (load_->installed_at == kNoCycle || load_->installed_at > t) return LwProblem::never_installed;
  return LwProblem::none;
}

int64_t MxmWeightRules::lw_earliest() const {
  if (!load_) return 0;
  return std::max(load_->last_read + 1, load_->installed_at);
}

void MxmWeightRules::lw(int64_t dispatched, int64_t first_read, isa::DType dtype) {
  load_ = Load{dispatched, first_read, first_read + int64_t(lw_cycles(dtype, config_)) - 1, dtype, kNoCycle};
}

MxmWeightRules::IwProblem MxmWeightRules::iw_problem(int64_t t) const {
  if (!load_) return IwProblem::never_loaded;
  if (load_->installed_at != kNoCycle) return IwProblem::no_new_load;
  if (load_->last_read >= t) return IwProblem::still_loading;
  return IwProblem::none;
}

int64_t MxmWeightRules::iw_earliest() const { return load_ ? load_->last_read + 1 : 0; }

void MxmWeightRules::iw(int64_t t) {
  const IwProblem problem = iw_problem(t);
  if (problem == IwProblem::never_loaded || problem == IwProblem::no_new_load) return;
  if (problem == IwProblem::none) load_->installed_at = t;
  install_ = t;
  has_weights_ = true;
  weights_dtype_ = load_->dtype;
}

bool MxmWeightRules::float_activation_too_soon(isa::DType dtype, int64_t t) const {
  return is_float16(dtype) && last_float_ != kNoCycle && t - last_float_ < int64_t(float_interval());
}

int64_t MxmWeightRules::float_activation_earliest(isa::DType dtype) const {
  return is_float16(dtype) && last_float_ != kNoCycle ? last_float_ + float_interval() : 0;
}

void MxmWeightRules::activation(isa::DType dtype, int64_t t) {
  if (is_float16(dtype)) last_float_ = t;
}

} // namespace tsp
