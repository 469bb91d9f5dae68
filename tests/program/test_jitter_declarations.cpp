// Jitter declarations (docs/program-format.md, version 4): `init=jitter(SEED, DIVISOR)` declares
// (1 + u / 2) / DIVISOR of the fp32 stream of SEED, rounded to the tensor's float type (the
// per-column scales and norm gains of seeded Llama weights); generated, written, read and
// disassembled exactly, and refused where it cannot hold.
#include "tspsim/common/error.h"
#include "tspsim/config/config.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/disassembler.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

using namespace tsp;

namespace {

ChipConfig tiny() { return load_config(TSPSIM_SOURCE_DIR "/configs/tiny.json"); }

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | uint32_t(b[at + 3]) << 24;
}

// Offset of the declared section's payload (after the header and four sections).
size_t declared_payload_at(const std::vector<uint8_t>& b) {
  size_t at = 20;
  for (int section = 0; section < 4; ++section) at += 12 + u32_at(b, at + 4);
  return at + 12;
}

// Element k of the fp32 stream of `seed`, decoded here from random_tensor's bytes.
float stream_element(uint64_t seed, uint32_t k) {
  const auto bytes = random_tensor(isa::DType::f32, 1, k + 1, seed);
  float u;
  std::memcpy(&u, &bytes[size_t{k} * 4], 4);
  return u;
}

// A scale of 1 x 20 fp32 (one group of 4 slices) and row 1 of a 2 x 20 bf16 gain whose rows are
// 30 stream elements apart.
const char* kJitter =
    ".tensor S f32 1x20 slices=MEM_W0,MEM_W1,MEM_W2,MEM_W3 base=0 init=jitter(5, 128)\n"
    ".tensor G bf16 2x20 slices=MEM_E0,MEM_E1 base=0 init=jitter(9, 4.47213595499958, stride=30, rows=1:1)\n"
    ".queue MEM_W0\n    NOP 1\n";

void require_error(const std::vector<uint8_t>& bytes, const std::string& message) {
  REQUIRE_THROWS_MATCHES(deserialize_program(bytes, "j.bin"), InputError, Catch::Message(message));
}

} // namespace

TEST_CASE("init=jitter is stored as seed and divisor, its elements (1 + u/2) / divisor of the fp32 stream") {
  const auto config = tiny();
  const Program program = assemble(kJitter, "j.tsp", config);
  REQUIRE(program.declared.size() == 2);
  REQUIRE(program.images.empty());
  const DeclaredTensor& s = program.declared[0];
  REQUIRE(s.values == DeclaredValues::jitter);
  REQUIRE(s.divisor == 128.0);
  // The scales as the host model computed them before jitter declarations existed: in fp32.
  std::vector<uint8_t> scales;
  for (uint32_t c = 0; c < 20; ++c) {
    const float value = (1.0f + stream_element(5, c) / 2.0f) / 128.0f;
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    for (unsigned b = 0; b < 4; ++b) scales.push_back(static_cast<uint8_t>(bits >> (8 * b)));
  }
  REQUIRE(declared_elements(s, program.symbols[s.symbol]) == scales);
  // Generated into MEM: slice b of the group holds byte b of every element, one per lane.
  const auto images = declared_images(s, program.symbols[s.symbol]);
  REQUIRE(images.size() == 4);
  for (unsigned b = 0; b < 4; ++b)
    for (uint32_t c = 0; c < 20; ++c) REQUIRE(images[b].bytes[c] == scales[c * 4 + b]);

  const DeclaredTensor& g = program.declared[1];
  std::vector<uint8_t> gains;
  for (uint32_t c = 0; c < 20; ++c) {
    const uint16_t bits =
        num::f64_to_bf16((1.0 + double(stream_element(9, 30 + c)) / 2.0) / 4.47213595499958);
    gains.push_back(static_cast<uint8_t>(bits));
    gains.push_back(static_cast<uint8_t>(bits >> 8));
  }
  REQUIRE(declared_elements(g, program.symbols[g.symbol]) == gains);

  const auto bytes = serialize_program(program);
  REQUIRE(u32_at(bytes, 8) == 4);
  const Program read = deserialize_program(bytes, "j.bin");
  validate_program(read, config, "j.bin");
  REQUIRE(read.declared[1].divisor == 4.47213595499958);
  REQUIRE(serialize_program(read) == bytes);
  const std::string text = disassemble(read, config);
  REQUIRE(text.find("base=0 init=jitter(5, 128)\n") != std::string::npos);
  REQUIRE(text.find("base=0 init=jitter(9, 4.47213595499958, stride=30, rows=1:1)\n") != std::string::npos);
  REQUIRE(serialize_program(assemble(text, "j.dis.tsp", config)) == bytes);
}

TEST_CASE("a divisor round-trips through tspdis bit for bit, and raw declarations alone stay version 3") {
  const auto config = tiny();
  Program program = assemble(kJitter, "j.tsp", config);
  program.declared[0].divisor = std::sqrt(4096.0 + 1.0);
  const auto bytes = serialize_program(program);
  REQUIRE(serialize_program(assemble(disassemble(program, config), "j.dis.tsp", config)) == bytes);
  const auto raw = serialize_program(assemble(
      ".tensor S f32 1x20 slices=MEM_W0,MEM_W1,MEM_W2,MEM_W3 base=0 init=random(5)\n", "r.tsp", config));
  REQUIRE(u32_at(raw, 8) == 3);
}

TEST_CASE("jitter() where it cannot hold is an assembler error at the token") {
  const auto config = tiny();
  const auto error = [&](const std::string& text, const std::string& message) {
    REQUIRE_THROWS_MATCHES(assemble(text + "\n", "j.tsp", config), InputError, Catch::Message(message));
  };
  error(".tensor T i8 1x20 slices=MEM_E2 base=0 init=jitter(5, 128)",
        "j.tsp:1:45: jitter() initialises fp16, bf16 or fp32 tensors, not i8");
  error(".tensor T f16 1x20 slices=MEM_E2,MEM_E3 base=0 init=jitter(5)",
        "j.tsp:1:61: expected ',' and the divisor, got ')'");
  error(".tensor T f16 1x20 slices=MEM_E2,MEM_E3 base=0 init=jitter(5, 0)",
        "j.tsp:1:63: expected a finite positive divisor, got '0'");
  error(".tensor T f16 1x20 slices=MEM_E2,MEM_E3 base=0 init=jitter(5, -2)",
        "j.tsp:1:63: expected a finite positive divisor, got '-2'");
  error(".tensor T f16 1x20 slices=MEM_E2,MEM_E3 base=0 init=jitter(5, inf)",
        "j.tsp:1:63: expected a finite positive divisor, got 'inf'");
  error(".tensor T f16 1x20 slices=MEM_E2,MEM_E3 base=0 init=jitter(5, 2, seed=3)",
        "j.tsp:1:66: unknown jitter() option 'seed' (stride=, rows=)");
}

TEST_CASE("damaged jitter declarations are input errors naming the offset") {
  const auto config = tiny();
  const auto good = serialize_program(assemble(kJitter, "j.tsp", config));
  const size_t at = declared_payload_at(good);
  // The first record: symbol, seed, vector bytes, stride, first row, row count (28 bytes), then
  // the values kind (1 byte) and the divisor (8 bytes).
  auto bad = good;
  bad[at + 32] = 7;
  require_error(bad,
                fmt::format("j.bin: declared tensor 'S' at offset {} has values kind 7 (0: raw, 1: jitter) "
                            "(declared tensor section)",
                            at + 4));
  for (const double divisor : {0.0, -1.0, std::nan("")}) {
    bad = good;
    std::memcpy(&bad[at + 33], &divisor, 8);
    require_error(bad,
                  fmt::format("j.bin: declared tensor 'S' at offset {} has jitter divisor {} (it must be "
                              "finite and positive) (declared tensor section)",
                              at + 4, divisor));
  }
  Program integers = assemble(".tensor T i8 1x20 slices=MEM_E2 base=0 init=random(5)\n", "r.tsp", config);
  integers.declared[0].values = DeclaredValues::jitter;
  require_error(
      serialize_program(integers),
      fmt::format("j.bin: declared tensor 'T' at offset {} is a jitter of i8 elements (it takes fp16, "
                  "bf16 or fp32) (declared tensor section)",
                  declared_payload_at(serialize_program(integers)) + 4));
  bad = good;
  bad[8] = 5;
  require_error(bad, "j.bin: format version 5 is not supported (this tspsim reads versions 1 to 4)");
  for (size_t size = 0; size < good.size(); ++size)
    REQUIRE_THROWS_AS(deserialize_program({good.begin(), good.begin() + size}, "j.bin"), InputError);
}
