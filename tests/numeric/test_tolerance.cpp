// --expect's comparison (include/tspsim/numeric/tolerance.h): exact by default, bounded for floats,
// and never fooled by a reference wrong by a factor, all zero or negated.
#include "tspsim/common/error.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/numeric/tolerance.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

using tsp::isa::DType;
namespace num = tsp::num;
using Catch::Matchers::Message;

namespace {

std::vector<uint8_t> f32_bytes(const std::vector<float>& values) {
  std::vector<uint8_t> out(values.size() * 4);
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::vector<uint8_t> f16_bytes(const std::vector<double>& values, DType dtype) {
  std::vector<uint8_t> out;
  for (double v : values) {
    const uint32_t bits = num::float_to_bits(v, dtype);
    out.push_back(uint8_t(bits));
    out.push_back(uint8_t(bits >> 8));
  }
  return out;
}

const std::vector<float> kReference = {1.5f, -2.25f, 100.0f, 0.001f, -7.0f, 3.0f};

} // namespace

TEST_CASE("a tolerance spec is exact, or rel, abs and a bounds file") {
  CHECK(num::parse_tolerance("exact", "t").exact());
  const auto t = num::parse_tolerance("rel:0.001,abs:1e-6", "t");
  CHECK(t.rel == 0.001);
  CHECK(t.abs == 1e-6);
  CHECK(t.bounds_file.empty());
  CHECK_FALSE(t.exact());
  // file: is the last term: the path may hold commas.
  CHECK(num::parse_tolerance("abs:0,file:/tmp/a,b.tol", "t").bounds_file == "/tmp/a,b.tol");
  CHECK_THROWS_MATCHES(num::parse_tolerance("rel:1", "--expect-tol C"), tsp::InputError,
                       Message("--expect-tol C: 'rel:1': a relative bound must be below 1"));
  CHECK_THROWS_MATCHES(num::parse_tolerance("abs:-1", "--expect-tol C"), tsp::InputError,
                       Message("--expect-tol C: 'abs:-1': expected a finite non-negative number"));
  CHECK_THROWS_MATCHES(num::parse_tolerance("abs:nan", "--expect-tol C"), tsp::InputError,
                       Message("--expect-tol C: 'abs:nan': expected a finite non-negative number"));
  CHECK_THROWS_MATCHES(
      num::parse_tolerance("ulp:3", "--expect-tol C"), tsp::InputError,
      Message("--expect-tol C: 'ulp:3': expected exact, or rel:R, abs:A and file:PATH separated by commas"));
  CHECK_THROWS_MATCHES(num::parse_tolerance("", "--expect-tol C"), tsp::InputError,
                       Message("--expect-tol C: empty tolerance"));
}

TEST_CASE("bounds files hold one finite non-negative float64 per element") {
  const std::vector<double> bounds = {0.0, 1e-7, 3.5};
  const std::string text = num::encode_bounds(bounds);
  CHECK(text.size() == 24);
  const std::vector<uint8_t> bytes(text.begin(), text.end());
  CHECK(num::decode_bounds(bytes, 3, "b.tol") == bounds);
  CHECK_THROWS_MATCHES(num::decode_bounds(bytes, 4, "b.tol"), tsp::InputError,
                       Message("b.tol: has 24 bytes; 4 bounds of 8 bytes need 32"));
  const std::string bad = num::encode_bounds({1.0, -1.0});
  CHECK_THROWS_MATCHES(num::decode_bounds({bad.begin(), bad.end()}, 2, "b.tol"), tsp::InputError,
                       Message("b.tol: bound 1 is -1: expected a finite non-negative number"));
}

TEST_CASE("exact comparison: integers and floats by their bits") {
  const std::vector<uint8_t> a = {1, 2, 3, 4}, b = {1, 2, 9, 4};
  CHECK_FALSE(num::find_mismatch(DType::i8, 2, a, a, {}));
  CHECK(*num::find_mismatch(DType::i8, 2, a, b, {}) ==
        "element [1, 0] is 0x03, expected 0x09; 1 of 4 elements differ");
  auto x = kReference;
  CHECK_FALSE(num::find_mismatch(DType::f32, 3, f32_bytes(x), f32_bytes(kReference), {}));
  x[4] = std::nextafter(x[4], 0.0f);
  CHECK(*num::find_mismatch(DType::f32, 3, f32_bytes(x), f32_bytes(kReference), {}) ==
        "element [1, 1] is -6.99999952 (0xc0dfffff), expected -7 (0xc0e00000): not bit-exact; 1 of 6 "
        "elements differ");
  // -0 is not +0 bit for bit; NaN matches NaN whatever its payload.
  CHECK(num::find_mismatch(DType::f32, 1, f32_bytes({-0.0f}), f32_bytes({0.0f}), {}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK_FALSE(num::find_mismatch(DType::f32, 1, f32_bytes({nan}), f32_bytes({-nan}), {}));
}

TEST_CASE("a bound per element accepts what is within it and nothing else") {
  num::Tolerance t;
  t.bounds_file = "c.tol";
  t.bounds = {0.01, 0.01, 0.01, 0.01, 0.01, 0.01};
  auto near = kReference;
  for (float& v : near) v += 0.0099f;
  CHECK_FALSE(num::find_mismatch(DType::f32, 3, f32_bytes(near), f32_bytes(kReference), t));
  auto far = kReference;
  far[2] += 0.02f;
  CHECK(
      *num::find_mismatch(DType::f32, 3, f32_bytes(far), f32_bytes(kReference), t) ==
      "element [0, 2] is 100.019997 (0x42c80a3d), expected 100 (0x42c80000): difference 0.02 > allowed 0.01; "
      "1 of 6 elements differ");
  // rel and abs add to the bound.
  t.rel = 0.001;
  CHECK_FALSE(num::find_mismatch(DType::f32, 3, f32_bytes(far), f32_bytes(kReference), t));
}

TEST_CASE("wrong references are rejected: 2x, 3x, all zero, negated, NaN, infinity") {
  num::Tolerance t;
  t.rel = 0.01;
  t.abs = 1e-6;
  for (const DType dtype : {DType::f16, DType::bf16}) {
    const std::vector<double> ref = {1.5, -2.25, 100.0, 0.25, -7.0, 3.0};
    const auto expected = f16_bytes(ref, dtype);
    CHECK_FALSE(num::find_mismatch(dtype, 3, expected, expected, t));
    for (const double factor : {2.0, 3.0, 0.0, -1.0}) {
      std::vector<double> wrong = ref;
      for (double& v : wrong) v *= factor;
      const auto mismatch = num::find_mismatch(dtype, 3, f16_bytes(wrong, dtype), expected, t);
      REQUIRE(mismatch);
      CHECK(mismatch->find("; 6 of 6 elements differ") != std::string::npos);
    }
  }
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(
      *num::find_mismatch(DType::f32, 1, f32_bytes({std::nanf("")}), f32_bytes({1.0f}), t) ==
      "element [0, 0] is nan (0x7fc00000), expected 1 (0x3f800000): NaN and infinity match only themselves; "
      "1 of 1 elements differ");
  CHECK(num::find_mismatch(DType::f32, 1, f32_bytes({inf}), f32_bytes({3.0e38f}), t));
  CHECK_FALSE(num::find_mismatch(DType::f32, 1, f32_bytes({-inf}), f32_bytes({-inf}), t));
}
