// Checkpoint declarations (docs/program-format.md, version 5; docs/assembly.md, init=checkpoint):
// a declared tensor read as a window of a safetensors checkpoint's matrix holds exactly the values
// model::load_checkpoint gives the host reference (int8 tiles, their column scales, gains, fp16
// windows); the container, tspdis and tspasm keep every field; damaged declarations, missing files
// and tensors, and windows past a matrix are one-line input errors.
#include "cli_harness.h"
#include "tspsim/common/error.h"
#include "tspsim/config/config.h"
#include "tspsim/model/checkpoint.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/disassembler.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"
#include "tspsim/system/chip.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <fmt/format.h>

using namespace tsp;
using Catch::Matchers::Message;
using tsp::test::scratch_dir;

namespace {

ChipConfig tiny_chip() { return load_config(TSPSIM_SOURCE_DIR "/configs/tiny.json"); }

model::ModelConfig tiny_llama(model::DType weights) {
  auto m = model::load_model(TSPSIM_SOURCE_DIR "/configs/models/tiny-llama.json");
  m.precision.weights = weights;
  return m;
}

// tiny-llama's fp16 weights of seed 7 stored in bf16: values a quantisation rounds.
const std::string& checkpoint_path() {
  static const std::string path = [] {
    const auto m = tiny_llama(model::DType::f16);
    const auto file = (scratch_dir() / "tiny.safetensors").string();
    model::write_safetensors(file,
                             model::checkpoint_tensors(m, model::random_weights(m, 7), model::DType::bf16));
    return file;
  }();
  return path;
}

std::vector<uint8_t> elements_of(const Program& program, const std::string& name) {
  const Symbol* symbol = program.find_symbol(name);
  REQUIRE(symbol != nullptr);
  for (const auto& d : program.declared)
    if (&program.symbols[d.symbol] == symbol) return declared_elements(d, *symbol);
  FAIL("symbol " << name << " is not declared");
  return {};
}

// Elements of `values` at first + r * stride + c (r < rows, c < cols) as little-endian `dtype`.
std::vector<uint8_t> window(isa::DType dtype, const std::function<uint32_t(size_t)>& bits, size_t first,
                            size_t stride, uint32_t rows, uint32_t cols) {
  std::vector<uint8_t> out;
  for (uint32_t r = 0; r < rows; ++r)
    for (uint32_t c = 0; c < cols; ++c) {
      const uint32_t v = bits(first + r * stride + c);
      for (unsigned b = 0; b < isa::dtype_bytes(dtype); ++b) out.push_back(uint8_t(v >> (8 * b)));
    }
  return out;
}

uint32_t f32_bits(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return bits;
}

std::string tensor_line(const std::string& name, const std::string& type, const std::string& slices,
                        const std::string& init, unsigned base = 0) {
  return fmt::format(".tensor {} {} slices={} base={} init={}\n", name, type, slices, base, init);
}

// `text` as an assembly string.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) out += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

// Where the declared tensor section's first record starts: after the header (20 bytes), the four
// sections before it and its own 12-byte head and 4-byte count.
size_t first_record(const std::vector<uint8_t>& b) {
  size_t at = 20;
  for (int section = 0; section < 4; ++section)
    at += 12 + (b[at + 4] | b[at + 5] << 8 | b[at + 6] << 16 | size_t(b[at + 7]) << 24);
  return at + 12 + 4;
}

// The four kinds of window a Llama program declares, and an fp16 one.
std::string declarations(const std::string& file) {
  const std::string q = quoted(file);
  return tensor_line("WQ", "i8 3x20", "MEM_W0",
                     fmt::format("checkpoint({}, \"model.layers.1.self_attn.q_proj.weight\", {}, transposed, "
                                 "rotary=80, stride=320)",
                                 q, 5 * 320 + 40)) +
         tensor_line("WQ.scale", "f32 1x20", "MEM_W1,MEM_W2,MEM_W3,MEM_E0",
                     fmt::format("checkpoint_scale({}, \"model.layers.1.self_attn.q_proj.weight\", 40, "
                                 "transposed, rotary=80)",
                                 q)) +
         tensor_line("EMB", "i8 2x20", "MEM_E1",
                     fmt::format("checkpoint({}, \"model.embed_tokens.weight\", {}, stride=320, rows=1:1)", q,
                                 7 * 320 + 3)) +
         tensor_line("GAIN", "f16 1x20", "MEM_E2,MEM_E3",
                     fmt::format("checkpoint({}, \"model.layers.0.input_layernorm.weight\", 100)", q)) +
         tensor_line("WV16", "f16 2x20", "MEM_E2,MEM_E3",
                     fmt::format("checkpoint({}, \"model.layers.0.self_attn.v_proj.weight\", 0, transposed, "
                                 "stride=160)",
                                 q),
                     4) +
         ".queue MEM_W0\n    NOP 1\n";
}

} // namespace

TEST_CASE("checkpoint declarations hold load_checkpoint's quantised tiles, column scales and gains") {
  const auto program = assemble(declarations(checkpoint_path()), "c.tsp", tiny_chip());
  const auto w8 = model::load_checkpoint(tiny_llama(model::DType::i8), checkpoint_path());
  const auto w16 = model::load_checkpoint(tiny_llama(model::DType::f16), checkpoint_path());
  const auto& wq = w8.layers[1].wq;
  CHECK(elements_of(program, "WQ") ==
        window(
            isa::DType::i8, [&](size_t i) { return uint8_t(wq.q[i]); }, 5 * 320 + 40, 320, 3, 20));
  CHECK(elements_of(program, "WQ.scale") ==
        window(
            isa::DType::f32, [&](size_t i) { return f32_bits(wq.scale[i]); }, 40, 20, 1, 20));
  // rows=1:1: only row 1 is declared (matrix row 8).
  CHECK(elements_of(program, "EMB") ==
        window(
            isa::DType::i8, [&](size_t i) { return uint8_t(w8.embedding.q[i]); }, 8 * 320 + 3, 320, 1, 20));
  CHECK(elements_of(program, "GAIN") ==
        window(
            isa::DType::f16, [&](size_t i) { return num::f32_to_f16(w8.layers[0].attn_norm[i]); }, 100, 20, 1,
            20));
  const auto& wv = w16.layers[0].wv;
  CHECK(elements_of(program, "WV16") ==
        window(
            isa::DType::f16, [&](size_t i) { return num::f32_to_f16(wv.values[i]); }, 0, 160, 2, 20));
  // The int8 values are not the stored ones: the quantisation rounded them, per column.
  CHECK(wq.scale[40] != wq.scale[41]);
  CHECK(std::count(wq.q.begin(), wq.q.end(), int8_t{127}) +
            std::count(wq.q.begin(), wq.q.end(), int8_t{-127}) >=
        int64_t(wq.cols));
}

TEST_CASE("checkpoint declarations keep every field through the container, tspdis and tspasm (version 5)") {
  const auto config = tiny_chip();
  const std::string file = "dir with space/a \"quoted\" file.safetensors";
  const auto program = assemble(declarations(file), "c.tsp", config);
  const auto bytes = serialize_program(program);
  CHECK(bytes[8] == 5);
  const auto back = deserialize_program(bytes, "c.bin");
  REQUIRE(back.declared.size() == 5);
  const DeclaredTensor& wq = back.declared[0];
  CHECK(wq.values == DeclaredValues::checkpoint);
  CHECK(wq.checkpoint.file == file);
  CHECK(wq.checkpoint.tensor == "model.layers.1.self_attn.q_proj.weight");
  CHECK(wq.checkpoint.transposed);
  CHECK(wq.checkpoint.rotary_head_dim == 80);
  CHECK(wq.offset == 5 * 320 + 40);
  CHECK(wq.row_stride == 320);
  CHECK(back.declared[1].values == DeclaredValues::checkpoint_scale);
  CHECK(back.declared[2].first_row == 1);
  CHECK(back.declared[2].row_count == 1);
  CHECK(!back.declared[3].checkpoint.transposed);
  CHECK(back.declared[3].checkpoint.rotary_head_dim == 0);
  CHECK(serialize_program(back) == bytes);
  const std::string text = disassemble(back, config);
  CHECK(text.find(
            ".tensor WQ i8 3x20 slices=MEM_W0 base=0 init=checkpoint(\"dir with space/a \\\"quoted\\\" "
            "file.safetensors\", \"model.layers.1.self_attn.q_proj.weight\", 1640, transposed, rotary=80, "
            "stride=320)\n") != std::string::npos);
  CHECK(text.find("init=checkpoint_scale(") != std::string::npos);
  CHECK(serialize_program(assemble(text, "c.dis.tsp", config)) == bytes);
  // Without a checkpoint the container keeps version 4 (jitter) or 3.
  CHECK(serialize_program(
            assemble(tensor_line("S", "f32 1x20", "MEM_W0,MEM_W1,MEM_W2,MEM_W3", "jitter(5, 128)"), "j.tsp",
                     config))[8] == 4);
}

TEST_CASE("damaged checkpoint declarations are input errors naming the offset") {
  const auto config = tiny_chip();
  const std::string one =
      tensor_line("G", "f16 1x20", "MEM_E0,MEM_E1", "checkpoint(\"c.st\", \"g\", 0, rotary=2)") +
      ".queue MEM_W0\n    NOP 1\n";
  const auto good = serialize_program(assemble(one, "g.tsp", config));
  // The record: 28 bytes of window, the kind (1) and divisor (8), then the offset (8), the file
  // (4 + 4), the tensor (4 + 1), the transposed flag (1) and the rotary head size (4).
  const size_t record = first_record(good);
  const auto error = [&](std::vector<uint8_t> bad, const std::string& message) {
    REQUIRE_THROWS_MATCHES(deserialize_program(bad, "g.bin"), InputError, Message(message));
  };
  auto bad = good;
  bad[record + 28] = 4;
  error(bad, fmt::format("g.bin: declared tensor 'G' at offset {} has values kind 4 (0: raw, 1: jitter, 2: "
                         "checkpoint, 3: checkpoint scale) (declared tensor section)",
                         record));
  bad = good;
  bad[record + 28 + 9 + 8 + 8 + 5] = 2;
  error(bad,
        fmt::format("g.bin: declared tensor at offset {} has transposed flag 2 (0 or 1) (declared tensor "
                    "section)",
                    record));
  bad = good;
  bad[record + 28 + 9 + 8 + 8 + 5 + 1] = 3;
  error(bad, fmt::format("g.bin: declared tensor 'G' at offset {} has an odd rotary head size 3 (declared "
                         "tensor section)",
                         record));
  Program integers = assemble(one, "g.tsp", config);
  integers.symbols[0].dtype = isa::DType::i32;
  integers.symbols[0].slices = {0, 1, 2, 3};
  error(
      serialize_program(integers),
      fmt::format("g.bin: declared tensor 'G' at offset {} is a checkpoint matrix of i32 elements (it takes "
                  "int8, fp16, bf16 or fp32) (declared tensor section)",
                  first_record(serialize_program(integers))));
  Program scale_of_int8 = assemble(one, "g.tsp", config);
  scale_of_int8.symbols[0].dtype = isa::DType::i8;
  scale_of_int8.symbols[0].slices = {0};
  scale_of_int8.declared[0].values = DeclaredValues::checkpoint_scale;
  error(serialize_program(scale_of_int8),
        fmt::format(
            "g.bin: declared tensor 'G' at offset {} is a checkpoint scale of i8 elements (it takes fp16, "
            "bf16 or fp32) (declared tensor section)",
            first_record(serialize_program(scale_of_int8))));
  Program unnamed = assemble(one, "g.tsp", config);
  unnamed.declared[0].checkpoint.file.clear();
  error(serialize_program(unnamed),
        fmt::format("g.bin: declared tensor 'G' at offset {} reads a checkpoint without a file or tensor "
                    "(declared tensor section)",
                    record));
  for (size_t size = 0; size < good.size(); ++size)
    REQUIRE_THROWS_AS(deserialize_program({good.begin(), good.begin() + size}, "g.bin"), InputError);
}

TEST_CASE("a checkpoint declaration names the file, the tensor and the window it cannot read") {
  const auto config = tiny_chip();
  const auto elements = [&](const std::string& init) {
    const auto program = assemble(tensor_line("T", "i8 2x20", "MEM_W0", init), "t.tsp", config);
    return declared_elements(program.declared.at(0), program.symbols.at(0));
  };
  const std::string& file = checkpoint_path();
  REQUIRE_THROWS_MATCHES(elements("checkpoint(\"/nonexistent/w.safetensors\", \"w\", 0)"), InputError,
                         Message("declared tensor 'T' reads a checkpoint: cannot read "
                                 "'/nonexistent/w.safetensors': No such file or directory"));
  // A device is refused before anything is read from it (its "header length" could be anything).
  REQUIRE_THROWS_MATCHES(elements("checkpoint(\"/dev/urandom\", \"w\", 0)"), InputError,
                         Message("declared tensor 'T' reads a checkpoint: cannot read '/dev/urandom': not a "
                                 "regular file"));
  REQUIRE_THROWS_MATCHES(
      elements(fmt::format("checkpoint(\"{}\", \"model.layers.9.mlp.up_proj.weight\", 0)", file)), InputError,
      Message(file + ": no tensor model.layers.9.mlp.up_proj.weight (declared tensor 'T' reads it)"));
  // final norm: 320 gains; row 1 of the window would end at element 330 + 20.
  REQUIRE_THROWS_MATCHES(
      elements(fmt::format("checkpoint(\"{}\", \"model.norm.weight\", 10, stride=320)", file)), InputError,
      Message(file + ": tensor model.norm.weight: declared tensor 'T' reads 2 rows from element 10 "
                     "with stride 320; the matrix has 320"));
  // An offset near 2^64 must not wrap past the check.
  REQUIRE_THROWS_MATCHES(
      elements(fmt::format("checkpoint(\"{}\", \"model.norm.weight\", 18446744073709551615)", file)),
      InputError,
      Message(file + ": tensor model.norm.weight: declared tensor 'T' reads 2 rows from element "
                     "18446744073709551615 with stride 20; the matrix has 320"));
  REQUIRE_THROWS_MATCHES(
      elements(fmt::format("checkpoint(\"{}\", \"model.norm.weight\", 0, transposed)", file)), InputError,
      Message(file + ": tensor model.norm.weight: a 1-D tensor is not transposed"));
  REQUIRE_THROWS_MATCHES(
      elements(fmt::format("checkpoint(\"{}\", \"model.layers.0.self_attn.k_proj.weight\", 0, transposed, "
                           "rotary=96)",
                           file)),
      InputError,
      Message(file +
              ": tensor model.layers.0.self_attn.k_proj.weight: rotary head size 96 does not split its 160 "
              "output rows into whole heads of pairs"));
}

TEST_CASE("tspasm's checkpoint() takes a file, a tensor and an offset, and the options of a checkpoint") {
  const auto config = tiny_chip();
  const auto error = [&](const std::string& type, const std::string& init) {
    try {
      assemble(tensor_line("T", type, "MEM_E0,MEM_E1,MEM_E2,MEM_E3", init), "t.tsp", config);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error("f16 1x20", "checkpoint(w.st, \"t\", 0)") ==
        "t.tsp:1:78: expected the checkpoint file as a string, got 'w.st'");
  CHECK(error("f16 1x20", "checkpoint(\"w.st\", \"t\", -1)") ==
        "t.tsp:1:91: expected the offset of element (0, 0), got '-1'");
  CHECK(error("i32 1x20", "checkpoint(\"w.st\", \"t\", 0)") ==
        "t.tsp:1:67: checkpoint() initialises int8, fp16, bf16 or fp32 tensors, not i32");
  CHECK(error("i8 1x20", "checkpoint_scale(\"w.st\", \"t\", 0)") ==
        "t.tsp:1:66: checkpoint_scale() initialises fp16, bf16 or fp32 tensors, not i8");
  CHECK(error("f16 1x20", "checkpoint(\"w.st\", \"t\", 0, rotary=3)") ==
        "t.tsp:1:101: rotary=3 is odd (a head turns pairs of columns)");
  CHECK(error("f16 1x20", "checkpoint(\"w.st\", \"t\", 0, transposed, transposed)") ==
        "t.tsp:1:106: transposed is given twice");
  CHECK(error("f16 1x20", "checkpoint(\"w.st\", \"t\", 0, seed=4)") ==
        "t.tsp:1:94: unknown checkpoint() option 'seed' (stride=, rows=, transposed, rotary=)");
  CHECK(error("f16 1x20", "random(4, transposed)") ==
        "t.tsp:1:77: unknown random() option 'transposed' (stride=, rows=)");
  CHECK(error("f16 1x20", "checkpoint(\"\", \"t\", 0)") ==
        "t.tsp:1:67: the checkpoint file is an empty string");
}

// A functional run reads checkpoint declarations word by word (DeclaredWords, past
// EngineOptions::generate_at_load_bytes) as it does when they are generated at load.
TEST_CASE("a chip reads checkpoint declarations the same when read as when generated at load") {
  const auto config = tiny_chip();
  const auto program = assemble(declarations(checkpoint_path()), "c.tsp", config);
  Chip at_load("at_load_chip", config, EngineOptions{});
  at_load.load(program);
  EngineOptions on_read;
  on_read.generate_at_load_bytes = 0;
  Chip read_chip("on_read_chip", config, on_read);
  read_chip.load(program);
  CHECK(read_chip.context().sram.blocks() == 0);
  for (const std::string name : {"WQ", "WQ.scale", "EMB", "GAIN", "WV16"}) {
    INFO(name);
    const Symbol& symbol = *program.find_symbol(name);
    const auto declared = elements_of(program, name);
    const auto read = read_chip.read_symbol(symbol);
    CHECK(read == at_load.read_symbol(symbol));
    // The declared rows (EMB declares only its row 1) hold the checkpoint's elements.
    CHECK(std::search(read.begin(), read.end(), declared.begin(), declared.end()) != read.end());
  }
}
