// The example programs of examples/ on the 14 nm chip: every output against a host reference
// computed here from the program's own input images, and the golden cycle count derived by hand in
// the comments of each .tsp file (docs/programs.md lists them).
#include "engine_harness.h"
#include "tspsim/error.h"
#include "tspsim/file_io.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>

using tsp::ErrorKind;
using tsp::test::Simulation;

namespace {

std::string example(const std::string& name) {
  return tsp::read_text_file(std::string(TSPSIM_SOURCE_DIR) + "/examples/" + name);
}

int8_t i8_at(const std::vector<uint8_t>& v, size_t i) { return static_cast<int8_t>(v.at(i)); }

int32_t i32_at(const std::vector<uint8_t>& v, size_t i) {
  int32_t x;
  std::memcpy(&x, &v.at(4 * i), 4);
  return x;
}

// C[m][n] = sum_k A[m][k] * W[k][n] over int8 inputs, in int32.
std::vector<int32_t> gemm_i8(const std::vector<uint8_t>& a, const std::vector<uint8_t>& w, size_t m, size_t k,
                             size_t n) {
  std::vector<int32_t> c(m * n, 0);
  for (size_t i = 0; i < m; ++i)
    for (size_t kk = 0; kk < k; ++kk) {
      const int32_t x = i8_at(a, i * k + kk);
      for (size_t j = 0; j < n; ++j) c[i * n + j] += x * i8_at(w, kk * n + j);
    }
  return c;
}

std::vector<int32_t> as_i32(const std::vector<uint8_t>& bytes) {
  std::vector<int32_t> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) out[i] = i32_at(bytes, i);
  return out;
}

} // namespace

TEST_CASE("vector_add: C = A + B saturating, across both hemispheres") {
  Simulation sim(example("vector_add.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 58);
  const auto a = sim.initial("A");
  const auto b = sim.initial("B");
  const auto c = sim.symbol("C");
  REQUIRE(c.size() == 4 * 320);
  size_t wrong = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    const int sum = std::clamp(int(i8_at(a, i)) + int(i8_at(b, i)), -128, 127);
    wrong += i8_at(c, i) != sum;
  }
  CHECK(wrong == 0);
}

TEST_CASE("gemm_i8_one_plane: 320x320x320 int8 GEMM on MXM_E0") {
  Simulation sim(example("gemm_i8_one_plane.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 426);
  const auto expected = gemm_i8(sim.initial("A"), sim.initial("W"), 320, 320, 320);
  CHECK(as_i32(sim.symbol("C")) == expected);
}
