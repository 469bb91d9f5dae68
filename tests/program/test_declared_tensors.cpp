// Declared tensors (docs/program-format.md, version 2): `.tensor ... init=random(SEED)` is stored
// as its seed, the reader regenerates exactly the images the assembler made, programs without
// declarations keep the version 1 bytes, and damaged declarations are clean input errors.
#include "tspsim/common/error.h"
#include "tspsim/config/config.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/disassembler.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <map>

using namespace tsp;

namespace {

ChipConfig tiny() { return load_config(TSPSIM_SOURCE_DIR "/configs/tiny.json"); }

// 8 rows of int16 in 2 groups: 2 x 2 images of 4 vectors (128 bytes each).
const char* kText = ".tensor W i16 8x20 slices=MEM_W0,MEM_W1,MEM_W2,MEM_W3 base=4 init=random(11)\n"
                    ".image MEM_E0 0 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\n"
                    ".tensor Z i8 2x32 slices=MEM_E1 base=0 init=zeros\n"
                    ".tensor V i8 1x2 slices=MEM_E2 base=0 init=values(5 -6)\n"
                    ".queue MEM_W0\n    NOP 1\n";

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | uint32_t(b[at + 3]) << 24;
}

// Images keyed by (mem, address), so the order they are listed in does not matter.
std::map<std::pair<uint32_t, uint32_t>, std::vector<uint8_t>> by_place(const Program& p) {
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint8_t>> out;
  for (const auto& image : p.images)
    REQUIRE(out.emplace(std::pair{image.mem, image.address}, image.bytes).second);
  return out;
}

void require_error(const std::vector<uint8_t>& bytes, const std::string& message) {
  REQUIRE_THROWS_MATCHES(deserialize_program(bytes, "d.bin"), InputError, Catch::Message(message));
}

// Offset of the declared section's payload (after the header and four sections).
size_t declared_payload_at(const std::vector<uint8_t>& b) {
  size_t at = 20;
  for (int section = 0; section < 4; ++section) at += 12 + u32_at(b, at + 4);
  return at + 12;
}

} // namespace

TEST_CASE("init=random is stored as its seed and read back as the same images") {
  const auto config = tiny();
  const Program assembled = assemble(kText, "d.tsp", config);
  REQUIRE(assembled.declared.size() == 1);
  REQUIRE(assembled.declared[0].symbol == 0);
  REQUIRE(assembled.declared[0].seed == 11);
  REQUIRE(assembled.declared[0].image_count == 4);
  // The generated images equal the layout of the random elements (tensor.h), as before.
  const auto expected = tensor_images(assembled.symbols[0], random_tensor(isa::DType::i16, 8, 20, 11), 32);
  for (size_t i = 0; i < expected.size(); ++i) {
    REQUIRE(assembled.images[assembled.declared[0].first_image + i].mem == expected[i].mem);
    REQUIRE(assembled.images[assembled.declared[0].first_image + i].bytes == expected[i].bytes);
  }

  const auto bytes = serialize_program(assembled);
  REQUIRE(u32_at(bytes, 8) == 2);
  // Stored images: the .image (32 bytes) and the values(...) tensor (32 bytes), not W's 512.
  const size_t queues_at = 20 + 12 + u32_at(bytes, 24);
  const size_t images_at = queues_at + 12 + u32_at(bytes, queues_at + 4);
  REQUIRE(u32_at(bytes, images_at) == 3);
  REQUIRE(u32_at(bytes, images_at + 4) == 4 + 2 * 12 + 32 + 32);
  REQUIRE(u32_at(bytes, images_at + 12) == 2);
  const size_t at = declared_payload_at(bytes);
  REQUIRE(u32_at(bytes, at - 12) == 5);
  REQUIRE(u32_at(bytes, at - 8) == 4 + 16);
  REQUIRE(u32_at(bytes, at) == 1);
  REQUIRE(u32_at(bytes, at + 4) == 0);   // symbol W
  REQUIRE(u32_at(bytes, at + 8) == 11);  // seed
  REQUIRE(u32_at(bytes, at + 16) == 32); // vector bytes
  REQUIRE(at + 20 == bytes.size());

  const Program read = deserialize_program(bytes, "d.bin");
  REQUIRE(by_place(read) == by_place(assembled));
  REQUIRE(serialize_program(read) == bytes);
  validate_program(read, config, "d.bin");

  // The disassembly declares W again and assembles back to the same container.
  const std::string text = disassemble(read, config);
  REQUIRE(text.find(".tensor W i16 8x20 slices=MEM_W0,MEM_W1,MEM_W2,MEM_W3 base=4 init=random(11)\n") !=
          std::string::npos);
  REQUIRE(text.find(".image MEM_W0") == std::string::npos);
  REQUIRE(serialize_program(assemble(text, "d.dis.tsp", config)) == bytes);
}

TEST_CASE("a program without declared tensors is written as version 1, byte for byte as before") {
  const auto config = tiny();
  const auto bytes = serialize_program(assemble(".tensor V i8 1x2 slices=MEM_E2 base=0 init=values(5 -6)\n"
                                                ".queue MEM_W0\n    NOP 1\n",
                                                "p.tsp", config));
  REQUIRE(u32_at(bytes, 8) == 1);
  REQUIRE(deserialize_program(bytes, "p.bin").declared.empty());
  // A version 1 file ends after the symbols: a declared section there is trailing bytes.
  auto with_declared = serialize_program(assemble(kText, "d.tsp", config));
  const size_t at = declared_payload_at(with_declared) - 12;
  with_declared[8] = 1;
  require_error(with_declared, fmt::format("d.bin: {} trailing bytes after the last section at offset {}",
                                           with_declared.size() - at, at));
}

TEST_CASE("damaged declarations are input errors naming the offset") {
  const auto good = serialize_program(assemble(kText, "d.tsp", tiny()));
  const size_t at = declared_payload_at(good);
  auto bad = good;
  bad[at + 4] = 7;
  require_error(bad,
                fmt::format("d.bin: declared tensor at offset {} names symbol 7, but there are 3 symbols "
                            "(declared tensor section)",
                            at + 4));
  bad = good;
  bad[at + 16] = 0;
  require_error(bad, fmt::format("d.bin: declared tensor 'W' at offset {} has no valid layout (8x20 i16 in 4 "
                                 "slices, 0-byte vectors) (declared tensor section)",
                                 at + 4));
  bad = good;
  bad[at + 16] = 16;
  require_error(bad, fmt::format("d.bin: declared tensor 'W' at offset {} has no valid layout (8x20 i16 in 4 "
                                 "slices, 16-byte vectors) (declared tensor section)",
                                 at + 4));
  bad = good;
  bad[at] = 0;
  require_error(bad, "d.bin: no declared tensors in a version 2 file (which must have some) (declared tensor "
                     "section)");
  require_error({good.begin(), good.begin() + at - 12},
                fmt::format("d.bin: truncated at offset {} (declared tensor section)", at - 12));
  for (size_t size = 0; size < good.size(); ++size)
    REQUIRE_THROWS_AS(deserialize_program({good.begin(), good.begin() + size}, "d.bin"), InputError);
}

TEST_CASE("a declared tensor laid out for another vector length fails validation") {
  auto program = assemble(kText, "d.tsp", tiny());
  const auto config = load_config(TSPSIM_SOURCE_DIR "/configs/tiny.json", {"geometry.superlanes=1"});
  program.fingerprint = geometry_fingerprint(config);
  REQUIRE_THROWS_MATCHES(
      validate_program(program, config, "d.bin"), InputError,
      Catch::Message("d.bin: declared tensor 'W' is laid out for 32-byte vectors, the chip has 16"));
}
