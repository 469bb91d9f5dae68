// Declared tensors (docs/program-format.md, versions 3 and 4, jitter last): `.tensor ... init=random(SEED[,
// stride=N]
// [, rows=FIRST:COUNT])` is stored as its declaration, never as bytes; for_each_image generates
// exactly the images of its elements, programs without declarations keep the version 1 bytes,
// version 2 files still read, and damaged declarations are clean input errors.
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

// Every image of a program as for_each_image visits them.
std::vector<MemImage> all_images(const Program& p) {
  std::vector<MemImage> out;
  for_each_image(p, [&](const MemImage& image) { out.push_back(image); });
  return out;
}

TEST_CASE("init=random is stored as its seed and its images are generated from it") {
  const auto config = tiny();
  const Program assembled = assemble(kText, "d.tsp", config);
  REQUIRE(assembled.declared.size() == 1);
  const DeclaredTensor& d = assembled.declared[0];
  REQUIRE(d.symbol == 0);
  REQUIRE(d.seed == 11);
  REQUIRE(d.row_stride == 20);
  REQUIRE(d.first_row == 0);
  REQUIRE(d.row_count == 8);
  // The program holds only the stored images (.image and values(...)); W's are generated.
  REQUIRE(assembled.images.size() == 2);
  const auto expected = tensor_images(assembled.symbols[0], random_tensor(isa::DType::i16, 8, 20, 11), 32);
  REQUIRE(expected.size() == 4);
  const auto generated = declared_images(d, assembled.symbols[0]);
  REQUIRE(generated.size() == 4);
  for (size_t i = 0; i < expected.size(); ++i) {
    REQUIRE(generated[i].mem == expected[i].mem);
    REQUIRE(generated[i].address == expected[i].address);
    REQUIRE(generated[i].bytes == expected[i].bytes);
  }
  // for_each_image: the declared images first, then the stored ones.
  const auto every = all_images(assembled);
  REQUIRE(every.size() == 6);
  REQUIRE(every[0].bytes == expected[0].bytes);
  REQUIRE(every[4].bytes == assembled.images[0].bytes);
  REQUIRE(every[5].bytes == assembled.images[1].bytes);

  const auto bytes = serialize_program(assembled);
  REQUIRE(u32_at(bytes, 8) == 3);
  // Stored images: the .image (32 bytes) and the values(...) tensor (32 bytes), not W's 512.
  const size_t queues_at = 20 + 12 + u32_at(bytes, 24);
  const size_t images_at = queues_at + 12 + u32_at(bytes, queues_at + 4);
  REQUIRE(u32_at(bytes, images_at) == 3);
  REQUIRE(u32_at(bytes, images_at + 4) == 4 + 2 * 12 + 32 + 32);
  REQUIRE(u32_at(bytes, images_at + 12) == 2);
  const size_t at = declared_payload_at(bytes);
  REQUIRE(u32_at(bytes, at - 12) == 5);
  REQUIRE(u32_at(bytes, at - 8) == 4 + 28);
  REQUIRE(u32_at(bytes, at) == 1);
  REQUIRE(u32_at(bytes, at + 4) == 0);   // symbol W
  REQUIRE(u32_at(bytes, at + 8) == 11);  // seed
  REQUIRE(u32_at(bytes, at + 16) == 32); // vector bytes
  REQUIRE(u32_at(bytes, at + 20) == 20); // row stride
  REQUIRE(u32_at(bytes, at + 24) == 0);  // first row
  REQUIRE(u32_at(bytes, at + 28) == 8);  // row count
  REQUIRE(at + 32 == bytes.size());

  const Program read = deserialize_program(bytes, "d.bin");
  REQUIRE(read.images.size() == 2);
  REQUIRE(by_place(read) == by_place(assembled));
  REQUIRE(all_images(read).size() == 6);
  REQUIRE(serialize_program(read) == bytes);
  validate_program(read, config, "d.bin");

  // The disassembly declares W again and assembles back to the same container.
  const std::string text = disassemble(read, config);
  REQUIRE(text.find(".tensor W i16 8x20 slices=MEM_W0,MEM_W1,MEM_W2,MEM_W3 base=4 init=random(11)\n") !=
          std::string::npos);
  REQUIRE(text.find(".image MEM_W0") == std::string::npos);
  REQUIRE(serialize_program(assemble(text, "d.dis.tsp", config)) == bytes);
}

// 6 rows of 20 int8 columns in 2 groups, a window of a 50-column stream whose rows 1..4 are
// declared: group 1 holds rows 1 and 3 at addresses 10 and 11, group 0 rows 2 and 4 at 11 and 12.
const char* kWindow = ".tensor T i8 6x20 slices=MEM_E2,MEM_E3 base=10 init=random(3, stride=50, rows=1:4)\n"
                      ".queue MEM_W0\n    NOP 1\n";

TEST_CASE("a strided window of rows is one declaration, generated and round-tripped exactly") {
  const auto config = tiny();
  const Program program = assemble(kWindow, "w.tsp", config);
  REQUIRE(program.declared.size() == 1);
  const DeclaredTensor& d = program.declared[0];
  REQUIRE(d.row_stride == 50);
  REQUIRE(d.first_row == 1);
  REQUIRE(d.row_count == 4);
  // Rows 1..4 of the 20-column window of random_tensor(i8, 6, 50, 3), from an independent slicing.
  const auto full = random_tensor(isa::DType::i8, 6, 50, 3);
  std::vector<uint8_t> window;
  for (uint32_t r = 1; r < 5; ++r)
    window.insert(window.end(), full.begin() + r * 50, full.begin() + r * 50 + 20);
  REQUIRE(declared_elements(d, program.symbols[0]) == window);
  const auto images = all_images(program);
  REQUIRE(images.size() == 2);
  const uint32_t e2 = program.symbols[0].slices[0], e3 = program.symbols[0].slices[1];
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint8_t>> expected;
  for (auto [mem, address, rows] :
       {std::tuple{e2, 11u, std::vector<uint32_t>{2, 4}}, std::tuple{e3, 10u, std::vector<uint32_t>{1, 3}}}) {
    std::vector<uint8_t> bytes(rows.size() * 32);
    for (size_t k = 0; k < rows.size(); ++k)
      std::copy_n(full.begin() + rows[k] * 50, 20, bytes.begin() + k * 32);
    expected[{mem, address}] = bytes;
  }
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint8_t>> got;
  for (const auto& image : images) got[{image.mem, image.address}] = image.bytes;
  REQUIRE(got == expected);
  const auto extents = declared_extents(d, program.symbols[0]);
  REQUIRE(extents.size() == 2);
  REQUIRE((extents[0].mem == e2 && extents[0].address == 11 && extents[0].words == 2));
  REQUIRE((extents[1].mem == e3 && extents[1].address == 10 && extents[1].words == 2));

  const auto bytes = serialize_program(program);
  REQUIRE(bytes.size() < 300); // the 120 bytes of elements are not stored
  const Program read = deserialize_program(bytes, "w.bin");
  validate_program(read, config, "w.bin");
  REQUIRE(all_images(read).size() == 2);
  REQUIRE(serialize_program(read) == bytes);
  const std::string text = disassemble(read, config);
  REQUIRE(text.find(".tensor T i8 6x20 slices=MEM_E2,MEM_E3 base=10 init=random(3, stride=50, rows=1:4)\n") !=
          std::string::npos);
  REQUIRE(serialize_program(assemble(text, "w.dis.tsp", config)) == bytes);
}

TEST_CASE("bad random() windows are assembler errors at the option") {
  const auto config = tiny();
  const auto error = [&](const std::string& init, const std::string& message) {
    REQUIRE_THROWS_MATCHES(
        assemble(".tensor T i8 6x20 slices=MEM_E2,MEM_E3 base=10 init=" + init + "\n", "w.tsp", config),
        InputError, Catch::Message(message));
  };
  error("random(3, stride=19)", "w.tsp:1:70: stride=19 is less than the 20 columns of a row");
  error("random(3, rows=2:5)", "w.tsp:1:68: rows=2:5 runs past the 6 rows of the tensor");
  error("random(3, rows=2:0)", "w.tsp:1:70: 0 is out of range (1..4294967295)");
  error("random(3, stride=30, stride=40)", "w.tsp:1:74: stride= is given twice");
  error("random(3, seed=4)", "w.tsp:1:63: unknown random() option 'seed' (stride=, rows=)");
  error("random(3, rows=2)", "w.tsp:1:69: expected ':' (rows=FIRST:COUNT), got ')'");
}

TEST_CASE("a version 2 file (whole tensors, no window fields) still reads") {
  const auto config = tiny();
  const auto v3 = serialize_program(assemble(kText, "d.tsp", config));
  const size_t at = declared_payload_at(v3);
  // Version 2's declaration: symbol, seed, vector bytes (16 bytes, not 28).
  std::vector<uint8_t> v2(v3.begin(), v3.begin() + at + 20);
  v2[8] = 2;
  v2[at - 8] = 4 + 16;
  const Program read = deserialize_program(v2, "d2.bin");
  REQUIRE(read.declared.size() == 1);
  REQUIRE(read.declared[0].row_stride == 20);
  REQUIRE(read.declared[0].first_row == 0);
  REQUIRE(read.declared[0].row_count == 8);
  REQUIRE(serialize_program(read) == v3);
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
  bad[at + 20] = 19;
  require_error(bad,
                fmt::format("d.bin: declared tensor 'W' at offset {} has row stride 19, less than its 20 "
                            "columns (declared tensor section)",
                            at + 4));
  bad = good;
  bad[at + 24] = 1;
  require_error(bad,
                fmt::format("d.bin: declared tensor 'W' at offset {} declares 8 rows from row 1, outside its "
                            "8 rows (at least 1 row must be declared) (declared tensor section)",
                            at + 4));
  bad = good;
  bad[at + 28] = 0;
  require_error(bad,
                fmt::format("d.bin: declared tensor 'W' at offset {} declares 0 rows from row 0, outside its "
                            "8 rows (at least 1 row must be declared) (declared tensor section)",
                            at + 4));
  bad = good;
  bad[at + 31] = 0xff; // row count 0xff000008: first_row + count past the rows, no u32 wrap
  require_error(bad,
                fmt::format("d.bin: declared tensor 'W' at offset {} declares 4278190088 rows from row 0, "
                            "outside its 8 rows (at least 1 row must be declared) (declared tensor section)",
                            at + 4));
  bad = good;
  bad[at] = 0;
  require_error(bad, "d.bin: no declared tensors in a version 3 file (which must have some) (declared tensor "
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

TEST_CASE("declared tensors are checked against MEM like the images they stand for") {
  const auto config = tiny();
  // W's group 0 byte 0 (MEM_W0) holds its rows 0, 2, 4, 6 at addresses 4..7.
  REQUIRE_THROWS_MATCHES(
      assemble(std::string(kText) + ".image MEM_W0 7 " + std::string(64, '0') + "\n", "d.tsp", config),
      InputError, Catch::Message("d.tsp: image 2 and declared tensor 'W' both initialise MEM_W0 address 7"));
  // Rows outside the declared range are not initialised: an image may sit there.
  auto window =
      assemble(std::string(kWindow) + ".image MEM_E3 12 " + std::string(64, '0') + "\n", "w.tsp", config);
  validate_program(window, config, "w.bin");
  window.declared[0].row_count = 6;
  REQUIRE_THROWS_MATCHES(
      validate_program(window, config, "w.bin"), InputError,
      Catch::Message("w.bin: declared tensor 'T': rows 1..+6 with row stride 50 do not fit its "
                     "6x20 shape"));
}

TEST_CASE("random_rows: rows of every type, length and offset are the splitmix64 outputs") {
  // Element (r, c) is output r * stride + c of the stream of `seed` (0-based), computed one at a
  // time here (floats: element_bytes of i / 2^p, as the next test); the generator takes eight per
  // step where the host can, so lengths and offsets that are not multiples of eight check its
  // remainders.
  const auto output = [](uint64_t seed, uint64_t k) {
    uint64_t z = seed + (k + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  const auto element = [](isa::DType dtype, uint64_t u) {
    const std::map<isa::DType, int> significand{
        {isa::DType::f16, 11}, {isa::DType::bf16, 8}, {isa::DType::f32, 24}};
    if (isa::dtype_is_float(dtype)) {
      const int p = significand.at(dtype);
      return *element_bytes(dtype, std::ldexp(double(int64_t(u >> (63 - p)) - (int64_t{1} << p)), -p));
    }
    std::vector<uint8_t> bytes;
    for (unsigned b = 0; b < isa::dtype_bytes(dtype); ++b)
      bytes.push_back(static_cast<uint8_t>(u >> (8 * b)));
    return bytes;
  };
  const uint64_t seed = 0xfeedface12345678ull;
  for (isa::DType dtype :
       {isa::DType::i8, isa::DType::i16, isa::DType::i32, isa::DType::f16, isa::DType::bf16, isa::DType::f32})
    for (uint32_t cols : {1u, 7u, 8u, 9u, 15u, 16u, 17u, 333u}) {
      INFO(isa::dtype_name(dtype) << " cols " << cols);
      const uint32_t stride = cols + 3;
      std::vector<uint8_t> expected;
      for (uint32_t r = 0; r < 3; ++r)
        for (uint32_t c = 0; c < cols; ++c) {
          const auto bytes = element(dtype, output(seed, uint64_t{r} * stride + c + 5));
          expected.insert(expected.end(), bytes.begin(), bytes.end());
        }
      CHECK(random_rows(dtype, 3, cols, stride, random_skip(seed, 5)) == expected);
    }
}

TEST_CASE("random_tensor: every type's elements are the documented values of the splitmix64 stream") {
  // An independent splitmix64 and element_bytes of i / 2^p (floats) or the low bytes of u.
  uint64_t state = 0;
  const auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  const std::map<isa::DType, int> significand{
      {isa::DType::f16, 11}, {isa::DType::bf16, 8}, {isa::DType::f32, 24}};
  for (isa::DType dtype : {isa::DType::i8, isa::DType::i16, isa::DType::i32, isa::DType::f16,
                           isa::DType::bf16, isa::DType::f32}) {
    INFO(isa::dtype_name(dtype));
    state = 12345;
    const unsigned bytes = isa::dtype_bytes(dtype);
    std::vector<uint8_t> expected;
    for (int e = 0; e < 40000; ++e) {
      const uint64_t u = next();
      if (!isa::dtype_is_float(dtype)) {
        for (unsigned b = 0; b < bytes; ++b) expected.push_back(static_cast<uint8_t>(u >> (8 * b)));
        continue;
      }
      const int p = significand.at(dtype);
      const double value = std::ldexp(double(int64_t(u >> (63 - p)) - (int64_t{1} << p)), -p);
      const auto element = element_bytes(dtype, value);
      REQUIRE(element);
      expected.insert(expected.end(), element->begin(), element->end());
    }
    REQUIRE(random_tensor(dtype, 200, 200, 12345) == expected);
  }
}

TEST_CASE("random_column: a column of random_tensor, for every type and a length off eight") {
  // Attention generates its cached keys this way, transposed; 19 rows check the generator's
  // eight-per-step part and its remainder.
  for (isa::DType dtype : {isa::DType::i8, isa::DType::i16, isa::DType::i32, isa::DType::f16,
                           isa::DType::bf16, isa::DType::f32}) {
    INFO(isa::dtype_name(dtype));
    const unsigned bytes = isa::dtype_bytes(dtype);
    const uint32_t rows = 19, cols = 13;
    const auto tensor = random_tensor(dtype, rows, cols, 77);
    for (uint32_t c : {0u, 5u, 12u}) {
      std::vector<uint8_t> expected, column(size_t{rows} * bytes);
      for (uint32_t r = 0; r < rows; ++r)
        for (unsigned b = 0; b < bytes; ++b) expected.push_back(tensor[(size_t{r} * cols + c) * bytes + b]);
      random_column(dtype, rows, cols, random_skip(77, c), column.data());
      CHECK(column == expected);
    }
  }
}

TEST_CASE("declared images of a multi-byte window equal the images of its elements") {
  // 7 rows of f16 in 3 slice groups, rows 2..6 of a 50-column stream from column 9.
  Symbol symbol;
  symbol.name = "H";
  symbol.dtype = isa::DType::f16;
  symbol.rows = 7;
  symbol.cols = 30;
  symbol.slices = {4, 5, 8, 9, 12, 13};
  symbol.base = 3;
  DeclaredTensor d{0, random_skip(77, 9), 32, 50, 2, 5};
  const auto full = random_tensor(isa::DType::f16, 7, 50, 77);
  std::vector<uint8_t> elements(size_t{7} * 30 * 2, 0);
  for (uint32_t r = 2; r < 7; ++r)
    std::copy_n(full.begin() + (r * 50 + 9) * 2, 60, elements.begin() + r * 60);
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint8_t>> expected, got;
  // Whole-tensor images hold rows 0 and 1 as zeros; the declared ones start at row 2.
  for (const auto& image : tensor_images(symbol, elements, 32)) {
    // Group g holds rows g, g + 3, g + 6: groups 0 and 1 (slices 4, 5, 8, 9) start with an
    // undeclared row, group 2 (slices 12, 13) with row 2.
    const uint32_t skip = image.mem >= 12 ? 0 : 1;
    expected[{image.mem, image.address + skip}] =
        std::vector<uint8_t>(image.bytes.begin() + skip * 32, image.bytes.end());
  }
  for (const auto& image : declared_images(d, symbol)) got[{image.mem, image.address}] = image.bytes;
  REQUIRE(got == expected);
}

TEST_CASE("seeds take the whole uint64_t range, so tspc's skipped windows round-trip through tspdis") {
  const auto config = tiny();
  // random_skip wraps: a window's seed is as often above INT64_MAX as below it.
  const uint64_t seed = random_skip(2, 320);
  REQUIRE(seed > uint64_t{INT64_MAX});
  const std::string line =
      fmt::format(".tensor T i8 6x20 slices=MEM_E2,MEM_E3 base=10 init=random({})\n", seed);
  const Program program = assemble(line + ".queue MEM_W0\n    NOP 1\n", "s.tsp", config);
  REQUIRE(program.declared.at(0).seed == seed);
  const std::string text = disassemble(program, config);
  REQUIRE(text.find(line) != std::string::npos);
  REQUIRE(serialize_program(assemble(text, "s.dis.tsp", config)) == serialize_program(program));
  REQUIRE(assemble(".tensor T i8 6x20 slices=MEM_E2,MEM_E3 base=10 init=random(0xffffffffffffffff)\n",
                   "s.tsp", config)
              .declared.at(0)
              .seed == UINT64_MAX);
  REQUIRE_THROWS_MATCHES(
      assemble(".tensor T i8 6x20 slices=MEM_E2,MEM_E3 base=10 init=random(18446744073709551616)\n", "s.tsp",
               config),
      InputError, Catch::Message("s.tsp:1:60: expected an integer, got '18446744073709551616'"));
}

// Jitter declarations (version 4): (1 + u / 2) / DIVISOR of the fp32 stream of SEED, rounded to
// the tensor's float type (the per-column scales and norm gains of seeded Llama weights).
namespace {

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

void require_jitter_error(const std::vector<uint8_t>& bytes, const std::string& message) {
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
  require_jitter_error(
      bad, fmt::format("j.bin: declared tensor 'S' at offset {} has values kind 7 (0: raw, 1: jitter) "
                       "(declared tensor section)",
                       at + 4));
  for (const double divisor : {0.0, -1.0, std::nan("")}) {
    bad = good;
    std::memcpy(&bad[at + 33], &divisor, 8);
    require_jitter_error(
        bad, fmt::format("j.bin: declared tensor 'S' at offset {} has jitter divisor {} (it must be "
                         "finite and positive) (declared tensor section)",
                         at + 4, divisor));
  }
  Program integers = assemble(".tensor T i8 1x20 slices=MEM_E2 base=0 init=random(5)\n", "r.tsp", config);
  integers.declared[0].values = DeclaredValues::jitter;
  require_jitter_error(
      serialize_program(integers),
      fmt::format("j.bin: declared tensor 'T' at offset {} is a jitter of i8 elements (it takes fp16, "
                  "bf16 or fp32) (declared tensor section)",
                  declared_payload_at(serialize_program(integers)) + 4));
  bad = good;
  bad[8] = 6;
  require_jitter_error(bad, "j.bin: format version 6 is not supported (this tspsim reads versions 1 to 5)");
  for (size_t size = 0; size < good.size(); ++size)
    REQUIRE_THROWS_AS(deserialize_program({good.begin(), good.begin() + size}, "j.bin"), InputError);
}
