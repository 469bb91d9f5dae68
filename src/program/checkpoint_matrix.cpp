#include "tspsim/program/checkpoint_matrix.h"

#include "tspsim/common/error.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace tsp {
namespace {

// The matrices declarations read last, each with its quantisation once an int8 or scale
// declaration asked, and the headers of the files read so far. A chip's tiles come matrix by
// matrix, and a system's chips load on its worker threads at once (DeclaredWords::take): a few
// entries keep each matrix read once.
struct CachedMatrix {
  CheckpointTensor key;
  CheckpointMatrix matrix;
  std::optional<QuantisedMatrix> quantised;
};

struct MatrixCache {
  static constexpr size_t kEntries = 4;
  std::mutex mutex;
  std::map<std::string, SafetensorsIndex> indexes;
  std::vector<std::unique_ptr<CachedMatrix>> recent; // most recently used first
};

MatrixCache& cache() {
  static MatrixCache instance;
  return instance;
}

bool same_tensor(const CheckpointTensor& a, const CheckpointTensor& b) {
  return a.file == b.file && a.tensor == b.tensor && a.transposed == b.transposed &&
         a.rotary_head_dim == b.rotary_head_dim;
}

// The cache's entry for `source`, read if it is not there; the cache's mutex is held.
CachedMatrix& cached_matrix(MatrixCache& c, const CheckpointTensor& source, const std::string& symbol) {
  const auto hit = std::find_if(c.recent.begin(), c.recent.end(),
                                [&](const auto& entry) { return same_tensor(entry->key, source); });
  if (hit != c.recent.end()) {
    std::rotate(c.recent.begin(), hit, hit + 1);
    return *c.recent.front();
  }
  auto found = c.indexes.find(source.file);
  if (found == c.indexes.end()) try {
      found = c.indexes.emplace(source.file, read_safetensors_index(source.file)).first;
    } catch (const InputError& e) {
      throw InputError(fmt::format("declared tensor '{}' reads a checkpoint: {}", symbol, e.what()));
    }
  const SafetensorsIndex& index = found->second;
  const SafetensorsEntry* entry = index.find(source.tensor);
  if (!entry)
    throw InputError(
        fmt::format("{}: no tensor {} (declared tensor '{}' reads it)", source.file, source.tensor, symbol));
  auto fresh = std::make_unique<CachedMatrix>();
  fresh->key = source;
  fresh->matrix = checkpoint_matrix(index, *entry, read_safetensors_data(index, *entry), source.transposed,
                                    source.rotary_head_dim);
  if (c.recent.size() == MatrixCache::kEntries) c.recent.pop_back();
  c.recent.insert(c.recent.begin(), std::move(fresh));
  return *c.recent.front();
}

} // namespace

bool is_checkpoint(DeclaredValues values) {
  return values == DeclaredValues::checkpoint || values == DeclaredValues::checkpoint_scale;
}

uint32_t checkpoint_row(uint32_t column, uint32_t rotary_head_dim) {
  if (rotary_head_dim == 0) return column;
  const uint32_t h = column / rotary_head_dim, j = column % rotary_head_dim;
  return h * rotary_head_dim + (j % 2) * (rotary_head_dim / 2) + j / 2;
}

CheckpointMatrix checkpoint_matrix(const SafetensorsIndex& index, const SafetensorsEntry& entry,
                                   const std::vector<uint8_t>& bytes, bool transposed,
                                   uint32_t rotary_head_dim) {
  const auto fail = [&](const std::string& what) -> void {
    throw InputError(fmt::format("{}: tensor {}: {}", index.file, entry.name, what));
  };
  if (entry.shape.empty() || entry.shape.size() > 2)
    fail(fmt::format("{} dimensions, expected 1 or 2", entry.shape.size()));
  if (entry.shape.size() == 1 && transposed) fail("a 1-D tensor is not transposed");
  for (uint64_t d : entry.shape)
    if (d > UINT32_MAX) fail(fmt::format("a dimension of {} (at most {})", d, UINT32_MAX));
  const bool flat = entry.shape.size() == 1;
  CheckpointMatrix m;
  m.rows = flat ? 1 : uint32_t(transposed ? entry.shape[1] : entry.shape[0]);
  m.cols = uint32_t(flat ? entry.shape[0] : transposed ? entry.shape[0] : entry.shape[1]);
  if (rotary_head_dim != 0 && (rotary_head_dim % 2 != 0 || m.cols % rotary_head_dim != 0))
    fail(fmt::format("rotary head size {} does not split its {} output rows into whole heads of pairs",
                     rotary_head_dim, m.cols));
  const unsigned size = isa::dtype_bytes(entry.dtype);
  const auto stored_value = [&](const uint8_t* at) {
    uint32_t bits = 0;
    std::memcpy(&bits, at, size); // little-endian host and file
    return num::float_from_bits(bits, entry.dtype);
  };
  m.values.resize(size_t(m.rows) * m.cols);
  for (uint32_t n = 0; n < m.cols; ++n) {
    const uint32_t src = checkpoint_row(n, rotary_head_dim);
    for (uint32_t k = 0; k < m.rows; ++k) {
      const size_t stored = transposed ? size_t(src) * m.rows + k : size_t(k) * m.cols + src;
      m.values[size_t(k) * m.cols + n] = stored_value(&bytes[stored * size]);
    }
  }
  return m;
}

QuantisedMatrix quantise_columns(const CheckpointMatrix& m) {
  QuantisedMatrix out;
  out.q.resize(m.values.size());
  for (uint32_t n = 0; n < m.cols; ++n) {
    float amax = 0;
    for (uint32_t k = 0; k < m.rows; ++k) amax = std::max(amax, std::fabs(m.values[size_t(k) * m.cols + n]));
    out.scale.push_back(amax / 127.0f);
    const float inv = amax == 0 ? 0.0f : 127.0f / amax;
    for (uint32_t k = 0; k < m.rows; ++k)
      out.q[size_t(k) * m.cols + n] =
          int8_t(std::clamp(std::nearbyint(m.values[size_t(k) * m.cols + n] * inv), -127.0f, 127.0f));
  }
  return out;
}

std::vector<uint8_t> checkpoint_elements(const DeclaredTensor& declared, const Symbol& symbol) {
  MatrixCache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  CachedMatrix& entry = cached_matrix(c, declared.checkpoint, symbol.name);
  const CheckpointMatrix& m = entry.matrix;
  const bool scales = declared.values == DeclaredValues::checkpoint_scale;
  const bool quantised = symbol.dtype == isa::DType::i8;
  if ((quantised || scales) && !entry.quantised) entry.quantised = quantise_columns(m);
  // The window inside the matrix (or the scale row), with no sum that can wrap: the offset is the
  // container's to choose.
  const uint64_t available = scales ? m.cols : uint64_t{m.rows} * m.cols;
  const uint64_t span =
      (uint64_t{declared.first_row} + declared.row_count - 1) * declared.row_stride + symbol.cols;
  if (declared.offset > available || span > available - declared.offset)
    throw InputError(
        fmt::format("{}: tensor {}: declared tensor '{}' reads {} {} from element {} with stride {}; "
                    "the {} has {}",
                    declared.checkpoint.file, declared.checkpoint.tensor, symbol.name, declared.row_count,
                    declared.row_count == 1 ? "row" : "rows",
                    declared.offset + uint64_t{declared.first_row} * declared.row_stride, declared.row_stride,
                    scales ? "scale row" : "matrix", available));
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  std::vector<uint8_t> out(size_t{declared.row_count} * symbol.cols * bytes);
  for (uint32_t r = 0; r < declared.row_count; ++r)
    for (uint32_t col = 0; col < symbol.cols; ++col) {
      const uint64_t at = declared.offset + uint64_t{declared.first_row + r} * declared.row_stride + col;
      const uint32_t bits = scales      ? rounded_element_bits(symbol.dtype, entry.quantised->scale[at])
                            : quantised ? uint8_t(entry.quantised->q[at])
                                        : rounded_element_bits(symbol.dtype, m.values[at]);
      for (unsigned b = 0; b < bytes; ++b)
        out[(size_t{r} * symbol.cols + col) * bytes + b] = static_cast<uint8_t>(bits >> (8 * b));
    }
  return out;
}

} // namespace tsp
