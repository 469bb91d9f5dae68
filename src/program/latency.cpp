#include "tspsim/program/latency.h"

namespace tsp {

using isa::DType;

uint32_t lw_cycles(DType dtype, const ChipConfig& config) {
  const uint32_t rows = config.geometry.vector_bytes();
  const uint32_t rows_per_cycle = config.mxm.weight_streams / isa::dtype_bytes(dtype);
  return (rows + rows_per_cycle - 1) / rows_per_cycle;
}

} // namespace tsp
