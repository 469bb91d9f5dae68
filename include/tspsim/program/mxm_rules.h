// The rules of one MXM plane's weight buffers (docs/timing-model.md), written once for the
// simulator, which reports a break of them as mxm-weights (slices/mxm_plane.cpp), and for the
// compiler, which places LW, IW and ABC where none is broken (compiler/mxm_state.cpp):
// - an LW fills the shadow buffer for lw_cycles read cycles; a new LW may start reading only once
//   the previous load has been read in full and installed (an install lands before the reads of
//   its cycle);
// - an IW installs the shadow buffer in the weight array; it needs a load no IW has installed yet,
//   read in full before the install cycle (an install during the load swaps in what the buffer
//   holds, but the load stays uninstalled);
// - an ABC reads its activation with the installed weights, of its own type; a plane takes a
//   16-bit float activation every float_activation_interval cycles.
// Cycles are signed; kNoCycle stands for none.
#pragma once

#include "tspsim/config/config.h"

#include <cstdint>
#include <optional>

namespace tsp {

class MxmWeightRules {
public:
  static constexpr int64_t kNoCycle = -1;

  // The LW that last started filling the shadow buffer.
  struct Load {
    int64_t dispatched;
    int64_t first_read;
    int64_t last_read;
    isa::DType dtype;
    int64_t installed_at; // kNoCycle until an IW installs it complete
  };

  enum class LwProblem { none, still_loading, never_installed };
  enum class IwProblem { none, never_loaded, no_new_load, still_loading };

  explicit MxmWeightRules(const ChipConfig& config) : config_(config) {}

  // An LW whose first read is in cycle t; the load starts whatever the problem.
  LwProblem lw_problem(int64_t t) const;
  int64_t lw_earliest() const;
  void lw(int64_t dispatched, int64_t first_read, isa::DType dtype);

  // An IW installing in cycle t; with never_loaded or no_new_load nothing is installed.
  IwProblem iw_problem(int64_t t) const;
  int64_t iw_earliest() const;
  void iw(int64_t t);

  // A 16-bit float activation read in cycle t comes less than the interval after the previous one.
  bool float_activation_too_soon(isa::DType dtype, int64_t t) const;
  int64_t float_activation_earliest(isa::DType dtype) const;
  // Records an activation read (only 16-bit floats are paced).
  void activation(isa::DType dtype, int64_t t);

  const std::optional<Load>& load() const { return load_; }
  bool has_weights() const { return has_weights_; }
  isa::DType weights_dtype() const { return weights_dtype_; }
  int64_t installed_at() const { return install_; }
  int64_t last_float_activation() const { return last_float_; }
  unsigned float_interval() const { return config_.mxm.float_activation_interval; }

private:
  const ChipConfig& config_;
  std::optional<Load> load_;
  bool has_weights_ = false;
  isa::DType weights_dtype_ = isa::DType::i8;
  int64_t install_ = kNoCycle; // the latest install, complete or not
  int64_t last_float_ = kNoCycle;
};

bool is_float16(isa::DType dtype);

} // namespace tsp
