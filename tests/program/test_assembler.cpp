// The assembly language (docs/assembly.md): every opcode through assemble -> disassemble ->
// assemble, every syntax error with its exact file:line:col message, and the .tensor, .text and
// line-annotation rules checked byte by byte.
#include "tspsim/program/assembler.h"
#include "tspsim/config/config.h"
#include "tspsim/program/disassembler.h"
#include "tspsim/common/error.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <random>

using namespace tsp;
using isa::FieldKind;

namespace {

const ChipConfig& chip14() {
  static const ChipConfig config = load_config(TSPSIM_SOURCE_DIR "/configs/14nm.json");
  return config;
}

const ChipConfig& tiny() {
  static const ChipConfig config = load_config(TSPSIM_SOURCE_DIR "/configs/tiny.json");
  return config;
}

std::string error_of(const std::string& text, const ChipConfig& config = chip14()) {
  try {
    assemble(text, "bad.tsp", config);
  } catch (const InputError& e) {
    return e.what();
  }
  return "assembled";
}

// One instruction of every opcode, written as the disassembler writes it, with operands that
// differ from each other and from zero.
std::string canonical(const isa::OpcodeSpec& spec) {
  const auto fields = spec.operand_fields();
  std::vector<unsigned> dtype_bytes;
  std::string head(spec.mnemonic);
  std::vector<std::string> operands;
  unsigned dtypes = 0;
  for (const auto& f : fields) {
    if (f.kind != FieldKind::dtype) continue;
    const auto dt = dtypes++ == 0 ? isa::DType::f16 : isa::DType::i32;
    head += fmt::format(".{}", isa::dtype_name(dt));
    dtype_bytes.push_back(isa::dtype_bytes(dt));
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& f = fields[i];
    switch (f.kind) {
    case FieldKind::dtype:
      break;
    case FieldKind::stream: {
      const unsigned group = f.group_fixed ? f.group_fixed : dtype_bytes[f.group_dtype];
      operands.push_back(fmt::format("{}{}", i % 2 ? 'W' : 'E', (1 + i) % (32 / group) * group));
      break;
    }
    case FieldKind::uimm:
      operands.push_back(fmt::format("{}", 3 + i));
      break;
    case FieldKind::simm:
      operands.push_back(fmt::format("{}", -2 - static_cast<int>(i)));
      break;
    case FieldKind::address:
      operands.push_back(fmt::format("{}", 100 + i));
      break;
    case FieldKind::mem_slice:
      operands.push_back("MEM_E3");
      break;
    case FieldKind::f32:
      operands.push_back("1.5");
      break;
    case FieldKind::mode:
      operands.push_back(std::string(f.mode_names[1]));
      break;
    case FieldKind::link:
      operands.push_back("5");
      break;
    }
  }
  return operands.empty() ? head : fmt::format("{} {}", head, fmt::join(operands, ", "));
}

const char* queue_for(isa::Unit unit) {
  switch (unit) {
  case isa::Unit::mem:
    return "MEM_W7";
  case isa::Unit::vxm:
    return "VXM.3";
  case isa::Unit::mxm:
    return "MXM_E1.2";
  case isa::Unit::sxm:
  case isa::Unit::c2c:
    return "SXM_W.13";
  default:
    return "MEM_E2";
  }
}

void check_roundtrip(const Program& first, const ChipConfig& config) {
  const std::string text = disassemble(first, config);
  const Program second = assemble(text, "dis.tsp", config);
  CHECK(serialize_program(second) == serialize_program(first));
  CHECK(disassemble(second, config) == text);
}

} // namespace

TEST_CASE("every opcode: assemble -> disassemble -> assemble gives the identical binary") {
  const Floorplan floorplan(chip14().geometry, chip14().icu);
  for (const auto& spec : isa::opcodes()) {
    const std::string instruction = canonical(spec);
    INFO(instruction);
    const bool repeat = spec.opcode == isa::Opcode::repeat;
    const std::string text = fmt::format(".queue {}\n{}    {}\n", queue_for(spec.unit),
                                         repeat ? "    Read 100, W5\n" : "", instruction);
    const Program program = assemble(text, "op.tsp", chip14());
    REQUIRE(program.queues.size() == 1);
    const auto& q = program.queues[0];
    CHECK(floorplan.queues()[q.queue].name == queue_for(spec.unit));
    CHECK(q.lines.back() == (repeat ? 3u : 2u));
    const Instruction decoded = decode(q.words.back());
    CHECK(decoded.opcode == spec.opcode);
    CHECK(format_instruction(decoded, floorplan) == instruction);
    CHECK_THAT(disassemble(program, chip14()),
               Catch::Contains(fmt::format("\n    {} @{}\n", instruction, repeat ? 3 : 2)));
    check_roundtrip(program, chip14());
  }
}

TEST_CASE("operands are encoded as written") {
  const auto p = assemble(
      ".queue VXM.0\n  add.i16 W2, E4, W30\n  splat.f32 E8, -0.25\n  cvt.f32.i8 E4, W9\n"
      ".queue SXM_E.1\n  Shift.i8 E1, W2, -3\n  Send 15, W31\n.queue MXM_W0.0\n  ABC.bf16 E2, 1023, add\n"
      ".queue MEM_W0\n  Ifetch MEM_E43, 0x10, 2\n",
      "ok.tsp", chip14());
  using I = Instruction;
  using O = isa::Opcode;
  CHECK(decode(p.queues[0].words[0]) == I{O::v_add, {1, 0x42, 4, 0x5e}});
  CHECK(decode(p.queues[0].words[1]) == I{O::v_splat, {5, 8, 0xbe80'0000}});
  CHECK(decode(p.queues[0].words[2]) == I{O::v_cvt, {5, 0, 4, 0x49}});
  CHECK(decode(p.queues[1].words[0]) == I{O::shift, {0, 1, 0x42, -3}});
  CHECK(decode(p.queues[1].words[1]) == I{O::send, {15, 0x5f}});
  CHECK(decode(p.queues[2].words[0]) == I{O::abc, {4, 2, 1023, 1}});
  CHECK(decode(p.queues[3].words[0]) == I{O::ifetch, {0x80 | 43, 16, 2}});
  CHECK(p.metadata.source == "ok.tsp");
  CHECK(p.metadata.generator == "tspasm 0.1.0");
  CHECK(p.fingerprint == geometry_fingerprint(chip14()));
}

TEST_CASE("f32 operands round-trip exactly, NaNs and subnormals as bit patterns") {
  CHECK(format_f32(0x3f80'0000) == "1");
  CHECK(format_f32(0x8000'0000) == "-0");
  CHECK(format_f32(0xff80'0000) == "-inf");
  CHECK(format_f32(0x3dcc'cccd) == "0.1");
  CHECK(format_f32(0x0000'0005) == "0x00000005");
  CHECK(format_f32(0x7fc0'0001) == "0x7fc00001");
  for (uint32_t bits : {0x3f80'0000u, 0x8000'0000u, 0x7f80'0000u, 0xff80'0000u, 0x7fc0'0001u, 0xffc0'0000u,
                        0x0000'0005u, 0x3dcc'cccdu, 0x7f7f'ffffu, 0x0080'0000u, 0xc2f6'e979u, 0x0000'0000u}) {
    INFO(format_f32(bits));
    const auto p =
        assemble(fmt::format(".queue VXM.0\n splat.f32 E0, {}\n", format_f32(bits)), "f.tsp", chip14());
    CHECK(decode(p.queues[0].words[0]).operands[2] == bits);
  }
  const auto p =
      assemble(".queue VXM.0\n splat.f32 E0, 0x3f800000\n splat.f32 E0, +2.5e-1\n", "f.tsp", chip14());
  CHECK(decode(p.queues[0].words[0]).operands[2] == 0x3f80'0000);
  CHECK(decode(p.queues[0].words[1]).operands[2] == 0x3e80'0000);
}

TEST_CASE("syntax errors name file:line:col") {
  CHECK(error_of(".queue MEM_W3\n    NOP 1\n    Raed 0, E0\n") == "bad.tsp:3:5: unknown mnemonic 'Raed'");
  CHECK(error_of(".queue MEM_W3\n    read 0, E0\n") ==
        "bad.tsp:2:5: unknown mnemonic 'read' (did you mean 'Read'?)");
  CHECK(error_of(".queue MEM_W3\n\n\n    Read 10, X3\n") ==
        "bad.tsp:4:14: expected a stream (E0..E31 or W0..W31), got 'X3'");
  CHECK(error_of(".queue MEM_W3\nRead 10, E32\n") ==
        "bad.tsp:2:10: expected a stream (E0..E31 or W0..W31), got 'E32'");
  CHECK(error_of(".queue MEM_W3\nRead 10, E05\n") ==
        "bad.tsp:2:10: expected a stream (E0..E31 or W0..W31), got 'E05'");
  CHECK(error_of(".queue MEM_W99\n") == "bad.tsp:1:8: unknown queue 'MEM_W99'");
  CHECK(error_of("NOP 1\n") == "bad.tsp:1:1: instruction outside a .queue or .text section");
  CHECK(error_of(".queue MEM_W3\nRead 5\n") == "bad.tsp:2:7: missing operand 'dst' (Read addr, dst)");
  CHECK(error_of(".queue MEM_W3\nRead\n") == "bad.tsp:2:5: missing operand 'addr' (Read addr, dst)");
  CHECK(error_of(".queue MEM_W3\nRead 5, E0, E1\n") == "bad.tsp:2:13: extra operand 'E1' (Read addr, dst)");
  CHECK(error_of(".queue MEM_W3\nSync 1\n") == "bad.tsp:2:6: extra operand '1' (Sync)");
  CHECK(error_of(".queue MEM_W3\nRead 5 E0\n") ==
        "bad.tsp:2:8: expected ',' or end of line after an operand, got 'E0'");
  CHECK(error_of(".queue MEM_W3\nRead 5,, E0\n") == "bad.tsp:2:8: expected an operand, got ','");
  CHECK(error_of(".queue MEM_W3\nNOP 0x100000000\n") ==
        "bad.tsp:2:5: n = 4294967296 does not fit its 32-bit field (0..4294967295)");
  CHECK(error_of(".queue MEM_W3\nNOP -1\n") ==
        "bad.tsp:2:5: n = -1 does not fit its 32-bit field (0..4294967295)");
  CHECK(error_of(".queue MEM_W3\nRead 5, E0\nRepeat 1, 1, 40000\n") ==
        "bad.tsp:3:14: stride = 40000 does not fit its 16-bit field (-32768..32767)");
  CHECK(error_of(".queue MEM_W3\nNOP 99999999999999999999\n") ==
        "bad.tsp:2:5: expected an integer or a name for n, got '99999999999999999999'");
  CHECK(error_of(".queue MEM_W3\nNOP 1.5\n") ==
        "bad.tsp:2:5: expected an integer or a name for n, got '1.5'");
  CHECK(error_of(".queue MEM_W3\nRead buf, E0\n") == "bad.tsp:2:6: unknown name 'buf'");
  CHECK(error_of(".equ N 4\n.equ N 5\n") == "bad.tsp:2:6: 'N' is already defined on line 1");
  CHECK(error_of(".equ N M\n") == "bad.tsp:1:8: unknown name 'M' (names used here must be defined above)");
  CHECK(error_of("loop:\n") == "bad.tsp:1:1: label 'loop' outside a .text section");
  CHECK(error_of(".queue VXM.0\nadd W1, E0, W0\n") ==
        "bad.tsp:2:1: add needs 1 type suffix (add.<dtype> dst, a, b)");
  CHECK(error_of(".queue VXM.0\ncvt.f32 W1, E0\n") ==
        "bad.tsp:2:1: cvt needs 2 type suffixes (cvt.<to>.<from> dst, src)");
  CHECK(error_of(".queue MEM_W3\nRead.i8 0, E0\n") == "bad.tsp:2:1: Read takes no type suffix");
  CHECK(error_of(".queue VXM.0\ncvt.f32.i7 W4, E0\n") ==
        "bad.tsp:2:9: unknown type 'i7' (i8, i16, i32, f16, bf16, f32)");
  CHECK(error_of(".foo 3\n") == "bad.tsp:1:1: unknown directive '.foo'");
  CHECK(error_of(".workload \"abc\n") == "bad.tsp:1:11: unterminated string");
  CHECK(error_of(".workload \"a\\qb\"\n") ==
        "bad.tsp:1:13: unknown escape in string (use \\\" \\\\ \\n \\t)");
  CHECK(error_of(".queue MXM_E0.0\nABC.i8 E0, 3, old\n") == "bad.tsp:2:15: expected new or add, got 'old'");
  CHECK(error_of(".queue VXM.0\nsplat.f32 E0, 1.5x\n") ==
        "bad.tsp:2:15: expected a float (1.5, -2e-3, inf, nan or 0x3fc00000 bits), got '1.5x'");
  CHECK(error_of(".queue VXM.0\nsplat.f32 E0, 0x100000000\n") ==
        "bad.tsp:2:15: expected 32-bit hex float bits, got '0x100000000'");
  CHECK(error_of(".queue MEM_W0\nIfetch MEM_X1, 0, 1\n") ==
        "bad.tsp:2:8: expected a MEM slice (MEM_W0..MEM_W43 or MEM_E0..MEM_E43), got 'MEM_X1'");
  CHECK(error_of(".queue MEM_W0\nIfetch VXM, 0, 1\n") ==
        "bad.tsp:2:8: expected a MEM slice (MEM_W0..MEM_W43 or MEM_E0..MEM_E43), got 'VXM'");
  CHECK(error_of(".queue MEM_W3\nNOP 1 # x\n") == "bad.tsp:2:7: unexpected character '#'");
  CHECK(error_of(".bytes 00\n") == "bad.tsp:1:1: .bytes must follow .image or .bytes");
  CHECK(error_of(".image MEM_W0 0 0g\n") ==
        "bad.tsp:1:17: expected hex bytes (pairs of hex digits), got '0g'");
  CHECK(error_of(".queue MEM_W3\nNOP 1\n.source \"x.tsp\"\n") ==
        "bad.tsp:3:1: .source must come before the first instruction");
  CHECK(error_of(".tokens 1\n.tokens 2\n") == "bad.tsp:2:1: .tokens is already set on line 1");
  CHECK(error_of(".chips -1\n") == "bad.tsp:1:8: -1 is out of range (0..4294967295)");
  CHECK(error_of(".workload 5\n") == "bad.tsp:1:11: expected a string, got '5'");
  CHECK(error_of(".queue MEM_W3 extra\n") == "bad.tsp:1:15: unexpected 'extra' at end of statement");
  CHECK(error_of(".text MEM_E3 10\n") == "bad.tsp:1:1: empty .text section");
  CHECK(error_of(".queue MEM_W0\nNOP 1 @x\n") == "bad.tsp:2:8: expected a line number after '@', got 'x'");
  CHECK(error_of(".text MEM_E3 10\nNOP 1 @4\n") ==
        "bad.tsp:2:7: @LINE annotations apply to .queue instructions only");
  CHECK(error_of(".tensor A i8 2x4 slices=MEM_W0\n") == "bad.tsp:1:1: .tensor A needs base=");
  CHECK(error_of(".tensor A i8 2x4 slices=MEM_W0 base=0\n") == "bad.tsp:1:1: .tensor A needs init=");
  CHECK(error_of(".symbol A i8 2x4 base=0 init=zeros\n") ==
        "bad.tsp:1:25: unknown option 'init' (.symbol takes slices=, base=)");
  CHECK(error_of(".symbol A i8 2by4 base=0\n") ==
        "bad.tsp:1:14: expected a shape ROWSxCOLS (e.g. 4x320), got '2by4'");
  CHECK(error_of(".symbol A i9 2x4 base=0\n") ==
        "bad.tsp:1:11: unknown type 'i9' (i8, i16, i32, f16, bf16, f32)");
  CHECK(error_of(".symbol 3A i8 2x4 base=0\n") == "bad.tsp:1:9: expected a symbol name, got '3A'");
  CHECK(error_of(".symbol A i8 2x4 base=0 base=1\n") == "bad.tsp:1:25: base= is given twice");
  CHECK(error_of(".tensor A i16 2x4 slices=MEM_W0 base=0 init=zeros\n") ==
        "bad.tsp:1:19: 1 slices is not a whole number of 2-slice groups for i16");
  CHECK(error_of(".tensor A i8 2x321 slices=MEM_W0 base=0 init=zeros\n") ==
        "bad.tsp:1:20: 321 columns do not fit a 320-lane vector");
  CHECK(error_of(".tensor A i8 4x4 slices=MEM_W0,MEM_W1 base=8191 init=zeros\n") ==
        "bad.tsp:1:18: rows at addresses 8191..8192 run past the slice end (slice has 8192 words)");
  CHECK(error_of(".tensor A i8 1x2 slices=MEM_W0 base=0 init=values(1 2 3)\n") ==
        "bad.tsp:1:55: too many values: the 1x2 tensor has 2 elements");
  CHECK(error_of(".tensor A i8 1x3 slices=MEM_W0 base=0 init=values(1\n 2)\n") ==
        "bad.tsp:2:3: 2 values for the 3 elements of the 1x3 tensor");
  CHECK(error_of(".tensor A i8 1x1 slices=MEM_W0 base=0 init=values(128)\n") ==
        "bad.tsp:1:51: 128 is not exactly representable in i8");
  CHECK(error_of(".tensor A f16 1x1 slices=MEM_W0,MEM_W1 base=0 init=values(0.1)\n") ==
        "bad.tsp:1:59: 0.1 is not exactly representable in f16");
  CHECK(error_of(".tensor A i8 1x1 slices=MEM_W0 base=0 init=values(1.5)\n") ==
        "bad.tsp:1:51: expected an i8 value, got '1.5'");
  CHECK(
      error_of(".tensor A i8 1x1 slices=MEM_W0 base=0 init=ones\n") ==
      "bad.tsp:1:44: expected zeros, random(SEED), jitter(SEED, DIVISOR), checkpoint(FILE, TENSOR, OFFSET), "
      "checkpoint_scale(FILE, TENSOR, OFFSET) or values(...), got 'ones'");
  CHECK(error_of(".tensor A i8 1x1 slices=MEM_W0 base=0 init=values(1\n") ==
        "bad.tsp:1:50: '(' is never closed");
  CHECK(error_of("NOP 1)\n") == "bad.tsp:1:6: ')' without a matching '('");
}

TEST_CASE("range errors found by validation name the source line") {
  CHECK(error_of(".queue MEM_W3\n    Read 9000, E0\n") ==
        "bad.tsp:2: MEM_W3 instruction 0 (Read): address 9000 out of range (slice has 8192 words)");
  CHECK(error_of(".queue MEM_W3\nNOP 2\n  add.i8 W1, E0, W0\n") ==
        "bad.tsp:3: MEM_W3 instruction 1 (add): a VXM instruction cannot be issued by a MEM queue");
  CHECK(error_of(".queue VXM.0\nadd.i32 W1, E0, W0\n") ==
        "bad.tsp:2: VXM.0 instruction 0 (add): dst stream W1 is not aligned to its group of 4 streams");
  CHECK(error_of(".queue VXM.0\nNOP 1\n.queue MEM_W0\nNOP 1\n.queue VXM.0\nRepeat 1, 1, 0\n") ==
        "bad.tsp:6: VXM.0 instruction 1 (Repeat): Repeat must follow a non-ICU instruction, not NOP");
  CHECK(error_of(".text MEM_E3 100\n  Repeat 1, 1, 0\n") ==
        "bad.tsp:2: .text MEM_E3 100 instruction 0 (Repeat): Repeat has no previous instruction to repeat");
  CHECK(
      error_of(".tensor A i8 1x1 slices=MEM_W0 base=0 init=zeros\n.symbol A i8 1x1 slices=MEM_W1 base=0\n") ==
      "bad.tsp: symbol 'A': defined twice");
}

TEST_CASE(".tensor i8: rows in one slice, unused lanes zero") {
  const auto p =
      assemble(".tensor A i8 3x4 slices=MEM_W1 base=10 init=values(1 -2 3 -4  5 6 7 8  -128 127 0 9)\n",
               "t.tsp", tiny());
  REQUIRE(p.symbols.size() == 1);
  const Symbol& s = p.symbols[0];
  CHECK(s.name == "A");
  CHECK(s.dtype == isa::DType::i8);
  CHECK(s.rows == 3);
  CHECK(s.cols == 4);
  CHECK(s.base == 10);
  CHECK(s.slices == std::vector<uint32_t>{1});
  REQUIRE(p.images.size() == 1);
  CHECK(p.images[0].mem == 1);
  CHECK(p.images[0].address == 10);
  std::vector<uint8_t> expected(3 * 32, 0); // tiny: 32-byte vectors
  const uint8_t rows[3][4] = {{1, 0xfe, 3, 0xfc}, {5, 6, 7, 8}, {0x80, 0x7f, 0, 9}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) expected[r * 32 + c] = rows[r][c];
  CHECK(p.images[0].bytes == expected);
  check_roundtrip(p, tiny());
}

TEST_CASE(".tensor i16 across two slice groups: byte b of row r in slices[(r % G) * 2 + b]") {
  const auto p = assemble(".tensor B i16 3x2 slices=MEM_W0,MEM_W1,MEM_E0,MEM_E1 base=5 init=values(258 -2\n"
                          "    1000 -32768\n    32767 0x7)\n",
                          "t.tsp", tiny());
  REQUIRE(p.symbols.size() == 1);
  CHECK(p.symbols[0].slices == std::vector<uint32_t>{0, 1, 4, 5}); // tiny: MEM_E0 is global MEM 4
  REQUIRE(p.images.size() == 4);
  const auto image = [](uint32_t mem, std::vector<std::vector<uint8_t>> vectors) {
    MemImage m{mem, 5, {}};
    for (auto& v : vectors) {
      v.resize(32, 0);
      m.bytes.insert(m.bytes.end(), v.begin(), v.end());
    }
    return m;
  };
  // Rows 0 and 2 in group 0 (MEM_W0 low bytes, MEM_W1 high bytes) at 5 and 6; row 1 in group 1.
  const MemImage expected[] = {image(0, {{0x02, 0xfe}, {0xff, 0x07}}), image(1, {{0x01, 0xff}, {0x7f, 0x00}}),
                               image(4, {{0xe8, 0x00}}), image(5, {{0x03, 0x80}})};
  for (int i = 0; i < 4; ++i) {
    INFO("image " << i);
    CHECK(p.images[i].mem == expected[i].mem);
    CHECK(p.images[i].address == expected[i].address);
    CHECK(p.images[i].bytes == expected[i].bytes);
  }
  check_roundtrip(p, tiny());
}

// A staggered tensor (docs/compiler.md): one base per slice, in the order of slices=.
TEST_CASE(".tensor with a base per slice: each slice's rows from its own base, and back from tspdis") {
  const auto p = assemble(".tensor S i8 3x2 slices=MEM_W0,MEM_E1 base=5,9 init=values(1 2  3 4  5 6)\n"
                          ".tensor R i8 1x1 slices=MEM_W2 base=7 init=random(3)\n",
                          "t.tsp", tiny());
  REQUIRE(p.symbols.size() == 2);
  const Symbol& s = p.symbols[0];
  CHECK(s.base == 5);
  CHECK(s.bases == std::vector<uint32_t>{5, 9});
  CHECK(p.symbols[1].bases.empty());
  // Rows 0 and 2 in MEM_W0 at 5 and 6, row 1 in MEM_E1 (global MEM 5) at 9.
  REQUIRE(p.images.size() == 2);
  CHECK((p.images[0].mem == 0 && p.images[0].address == 5 && p.images[0].bytes[0] == 1 &&
         p.images[0].bytes[32] == 5));
  CHECK((p.images[1].mem == 5 && p.images[1].address == 9 && p.images[1].bytes[0] == 3));
  CHECK(disassemble(p, tiny()).find(".symbol S i8 3x2 slices=MEM_W0,MEM_E1 base=5,9\n") != std::string::npos);
  check_roundtrip(p, tiny());
  CHECK(error_of(".symbol S i8 3x2 slices=MEM_W0,MEM_E1 base=5,9,2\n", tiny()) ==
        "bad.tsp:1:39: base= gives 3 bases for 2 slices (one base, or one per slice after slices=)");
  CHECK(error_of(".symbol S i8 3x2 slices=MEM_W0,MEM_E1 base=5,255\n", tiny()) ==
        "bad.tsp:1:18: rows at addresses 255..256 run past the slice end (slice has 256 words)");
}

TEST_CASE(".tensor random(SEED): splitmix64, full-range integers, exact floats") {
  // splitmix64(0) starts 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4 (the generator's published sequence).
  const auto p = assemble(".tensor R i32 1x2 slices=MEM_E0,MEM_E1,MEM_E2,MEM_E3 base=0 init=random(0)\n"
                          ".tensor H f16 1x3 slices=MEM_W0,MEM_W1 base=0 init=random(7)\n"
                          ".tensor G bf16 1x3 slices=MEM_W2,MEM_W3 base=0 init=random(7)\n"
                          ".tensor Z i8 1x3 slices=MEM_W0 base=1 init=zeros\n",
                          "r.tsp", tiny());
  // Declared, not stored: the images are generated on demand.
  REQUIRE(p.images.empty());
  std::vector<MemImage> images;
  for_each_image(p, [&](const MemImage& image) { images.push_back(image); });
  REQUIRE(images.size() == 8); // zeros need no image
  const uint8_t r[4][2] = {{0xaf, 0xf4}, {0xcd, 0x65}, {0x1d, 0xb9}, {0x7b, 0xa1}};
  for (int b = 0; b < 4; ++b) {
    CHECK(images[b].bytes[0] == r[b][0]);
    CHECK(images[b].bytes[1] == r[b][1]);
  }
  // Seed 7: u >> 52 - 2048 gives -0.220703125, -0.966796875, 0.80126953125 in f16
  // (0xb310, 0xbbbc, 0x3a69); u >> 55 - 256 gives -0.22265625, -0.96875, 0.80078125 in bf16.
  CHECK(images[4].bytes[0] == 0x10);
  CHECK(images[4].bytes[1] == 0xbc);
  CHECK(images[4].bytes[2] == 0x69);
  CHECK(images[5].bytes[0] == 0xb3);
  CHECK(images[5].bytes[1] == 0xbb);
  CHECK(images[5].bytes[2] == 0x3a);
  CHECK(images[6].bytes[0] == 0x64);
  CHECK(images[7].bytes[0] == 0xbe);
  CHECK(images[6].bytes[2] == 0x4d);
  CHECK(images[7].bytes[2] == 0x3f);
  CHECK(p.find_symbol("Z")->base == 1);
}

TEST_CASE(".tensor f16 values are encoded exactly") {
  const auto p = assemble(".tensor H f16 1x4 slices=MEM_W0,MEM_W1 base=0 "
                          "init=values(6.103515625e-05 5.960464477539063e-08 65504 -0)\n",
                          "h.tsp", tiny());
  const auto& lo = p.images[0].bytes;
  const auto& hi = p.images[1].bytes;
  CHECK((lo[0] | hi[0] << 8) == 0x0400);
  CHECK((lo[1] | hi[1] << 8) == 0x0001);
  CHECK((lo[2] | hi[2] << 8) == 0x7bff);
  CHECK((lo[3] | hi[3] << 8) == 0x8000);
}

TEST_CASE(".text places instructions in MEM; labels start a new vector; .equ and forward labels") {
  const auto p = assemble(".equ N 2\n"
                          ".queue MEM_E3\n"
                          "    Ifetch MEM_E3, body, N\n"
                          ".text MEM_E3 100\n"
                          "    NOP 2\n"
                          "    Read 5, W1\n"
                          "body:\n"
                          "    Read 6, W2\n"
                          "after: Repeat 2, 1, 1\n",
                          "t.tsp", chip14());
  using O = isa::Opcode;
  REQUIRE(p.queues.size() == 1);
  CHECK(decode(p.queues[0].words[0]) == Instruction{O::ifetch, {0x83, 101, 2}});
  REQUIRE(p.images.size() == 1);
  CHECK(p.images[0].mem == 44 + 3);
  CHECK(p.images[0].address == 100);
  std::vector<uint8_t> expected(3 * 320, 0); // body at 101, after at 102 (40 instructions per vector)
  const auto put = [&](size_t slot, Instruction i) {
    const uint64_t w = encode(i);
    for (int b = 0; b < 8; ++b) expected[slot * 8 + b] = static_cast<uint8_t>(w >> (8 * b));
  };
  put(0, {O::nop, {2}});
  put(1, {O::read, {5, 0x41}});
  put(40, {O::read, {6, 0x42}});
  put(80, {O::repeat, {2, 1, 1}});
  CHECK(p.images[0].bytes == expected);
  check_roundtrip(p, chip14());
}

TEST_CASE(".source and @LINE record the original lines; the disassembly reproduces them") {
  const auto p =
      assemble(".source \"orig.tsp\"\n.queue MEM_W3\n    NOP 1 @7\n    NOP 2\n.queue MEM_W4\n    NOP 3\n",
               "dis.tsp", chip14());
  CHECK(p.metadata.source == "orig.tsp");
  CHECK(p.queues[0].lines == std::vector<uint32_t>{7, 0});
  CHECK(p.queues[1].lines.empty());
  CHECK(error_of(".source \"orig.tsp\"\n.queue MEM_W3\n    Read 9000, E0 @12\n") ==
        "orig.tsp:12: MEM_W3 instruction 0 (Read): address 9000 out of range (slice has 8192 words)");
  check_roundtrip(p, chip14());
}

TEST_CASE("metadata, .image and .bytes, repeated .queue sections") {
  const auto p = assemble(".workload \"gemm \\\"q\\\" 4x4\"\n.tokens 12\n.chips 2\n.predicted_cycles 99\n"
                          ".queue MEM_W3\n NOP 1 ; comment\n.queue VXM.1\n NOP 4\n.queue MEM_W3.0\n NOP 2\n",
                          "m.tsp", chip14());
  CHECK(p.metadata.workload == "gemm \"q\" 4x4");
  CHECK(p.metadata.tokens_per_run == 12);
  CHECK(p.metadata.chips == 2);
  CHECK(p.metadata.predicted_cycles == 99);
  REQUIRE(p.queues.size() == 2);
  CHECK(p.queues[0].words.size() == 2);
  CHECK(p.queues[0].lines == std::vector<uint32_t>{6, 10});
  CHECK(error_of(".image MEM_E2 3 000102\n.bytes 0304 05\n") ==
        "bad.tsp: image 0 (MEM_E2 address 3): 6 bytes is not a whole number of 320-byte vectors");
  const auto q = assemble(".image MEM_E2 3\n.bytes " + std::string(640, 'a') + "\n.bytes " +
                              std::string(640, '0') + "\n",
                          "i.tsp", chip14());
  REQUIRE(q.images.size() == 1);
  CHECK(q.images[0].bytes.size() == 640);
  CHECK(q.images[0].bytes[319] == 0xaa);
  CHECK(q.images[0].bytes[320] == 0x00);
  check_roundtrip(q, chip14());
}

TEST_CASE("the vector-add example assembles and reassembles identically") {
  const auto p = assemble_file(TSPSIM_SOURCE_DIR "/examples/vector_add.tsp", chip14());
  CHECK(p.symbols.size() == 3);
  CHECK(p.queues.size() == 4);
  check_roundtrip(p, chip14());
  CHECK(load_program(TSPSIM_SOURCE_DIR "/examples/vector_add.tsp", chip14()).queues.size() == 4);
}

TEST_CASE("random edits of a program never crash the assembler: each is assembled or an input error") {
  const std::string source =
      ".equ N 2\n.workload \"w\"\n.tensor A i16 2x4 slices=MEM_W0,MEM_W1 base=0 init=values(1 2 3 4 "
      "5 6 7 8)\n.queue MEM_E3\n Ifetch MEM_E3, body, N\n Read 3, W2 @4\n Repeat 2, 1, -1\n"
      ".queue VXM.0\n splat.f32 E0, -1.5e3\n cvt.f16.i32 W2, E4\n.text MEM_E3 100\n NOP 2\n"
      "body:\n ABC.i8 E0, 3, add\n.image MEM_W3 0\n.bytes " +
      std::string(64, 'f') + "\n";
  const std::string alphabet = "EW0123456789x.,:;@=()\" \n\t-+abcdefMN_Q";
  REQUIRE_NOTHROW(assemble(source, "fuzz.tsp", tiny()));
  std::mt19937 rng(99);
  size_t assembled = 0;
  for (int k = 0; k < 3000; ++k) {
    std::string text = source;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
      case 0:
        text[at] = alphabet[rng() % alphabet.size()];
        break;
      case 1:
        text.erase(at, 1 + rng() % 4);
        break;
      default:
        text.insert(at, 1, alphabet[rng() % alphabet.size()]);
      }
    }
    try {
      assemble(text, "fuzz.tsp", tiny());
      ++assembled;
    } catch (const InputError&) {
    }
  }
  CHECK(assembled > 0);
}
