// The instruction table. Bit positions are ours (the TSP's encoding is not public): 64-bit words,
// the opcode in bits 7..0, operands where listed. Operand order here is the assembly order.
#include "isa.h"

#include <algorithm>
#include <array>
#include <iterator>

namespace tsp::isa {
namespace {

using K = FieldKind;
using R = StreamRole;
using T = TimingParam;

constexpr FieldSpec uimm(std::string_view name, uint8_t lsb, uint8_t width) {
  return {name, K::uimm, lsb, width};
}
constexpr FieldSpec simm(std::string_view name, uint8_t lsb, uint8_t width) {
  return {name, K::simm, lsb, width};
}
constexpr FieldSpec address(std::string_view name, uint8_t lsb) { return {name, K::address, lsb, 24}; }
constexpr FieldSpec dtype(std::string_view name, uint8_t lsb) { return {name, K::dtype, lsb, 4}; }
constexpr FieldSpec f32(std::string_view name, uint8_t lsb) { return {name, K::f32, lsb, 32}; }
constexpr FieldSpec link(std::string_view name, uint8_t lsb) { return {name, K::link, lsb, 8}; }
constexpr FieldSpec mem_slice(std::string_view name, uint8_t lsb) { return {name, K::mem_slice, lsb, 8}; }
constexpr FieldSpec mode(std::string_view name, uint8_t lsb, std::string_view a, std::string_view b) {
  return {name, K::mode, lsb, 1, R::none, 0, 0, {a, b}};
}
// A stream operand whose group is the width of dtype field `dt` (0 = first dtype suffix).
constexpr FieldSpec stream_dt(std::string_view name, R role, uint8_t lsb, uint8_t dt = 0) {
  return {name, K::stream, lsb, 7, role, 0, dt};
}
// A stream operand with a fixed group of `group` byte-streams.
constexpr FieldSpec stream_n(std::string_view name, R role, uint8_t lsb, uint8_t group) {
  return {name, K::stream, lsb, 7, role, group, 0};
}

template <typename... F>
constexpr OpcodeSpec op(Opcode opcode, std::string_view mnemonic, Unit unit, T skew, T func,
                        std::string_view description, F... fields) {
  return OpcodeSpec{opcode, mnemonic, unit, skew, func, {fields...}, sizeof...(F), description};
}

constexpr auto kDst = stream_dt("dst", R::write, 16);
constexpr auto kSrc = stream_dt("src", R::read, 23);
constexpr auto kSrcA = stream_dt("a", R::read, 23);
constexpr auto kSrcB = stream_dt("b", R::read, 30);
constexpr auto kDt = dtype("dtype", 8);

constexpr OpcodeSpec vxm_unary(Opcode opcode, std::string_view mnemonic, T func, std::string_view what) {
  return op(opcode, mnemonic, Unit::vxm, T::vxm_skew, func, what, kDt, kDst, kSrc);
}
constexpr OpcodeSpec vxm_binary(Opcode opcode, std::string_view mnemonic, T func, std::string_view what) {
  return op(opcode, mnemonic, Unit::vxm, T::vxm_skew, func, what, kDt, kDst, kSrcA, kSrcB);
}

constexpr OpcodeSpec kTable[] = {
    // ICU: every queue.
    op(Opcode::nop, "NOP", Unit::icu, T::none, T::none, "idle this queue for n cycles (n >= 1)",
       uimm("n", 8, 32)),
    op(Opcode::repeat, "Repeat", Unit::icu, T::none, T::none,
       "issue the previous instruction n more times, d cycles apart, adding stride to its address",
       uimm("n", 8, 24), uimm("d", 32, 16), simm("stride", 48, 16)),
    op(Opcode::sync, "Sync", Unit::icu, T::none, T::none, "park this queue until a Notify releases it"),
    op(Opcode::notify, "Notify", Unit::icu, T::none, T::icu_notify,
       "release every queue parked in Sync, icu_notify cycles later"),
    op(Opcode::ifetch, "Ifetch", Unit::icu, T::mem_read_skew, T::icu_ifetch,
       "append count vectors of instruction text from a MEM slice to this queue",
       mem_slice("slice", 8), address("addr", 16), uimm("count", 40, 16)),
    op(Opcode::config, "Config", Unit::icu, T::none, T::none,
       "set this queue's vector length to vl superlanes (lanes above it are not touched)",
       uimm("vl", 8, 8)),

    // MEM: one queue per slice.
    op(Opcode::read, "Read", Unit::mem, T::mem_read_skew, T::mem_read_func,
       "read the vector at addr onto stream dst", address("addr", 8), stream_n("dst", R::write, 32, 1)),
    op(Opcode::write, "Write", Unit::mem, T::mem_write_skew, T::none,
       "write the vector on stream src to addr", address("addr", 8), stream_n("src", R::read, 32, 1)),
    op(Opcode::gather, "Gather", Unit::mem, T::mem_gather_skew, T::mem_gather_func,
       "lane i of dst = lane i of the word at base + map[i] (map: int16 on 2 streams)",
       stream_n("dst", R::write, 8, 1), stream_n("map", R::read, 15, 2), address("base", 32)),
    op(Opcode::scatter, "Scatter", Unit::mem, T::mem_gather_skew, T::mem_scatter_write,
       "lane i of the word at base + map[i] = lane i of src (map: int16 on 2 streams)",
       stream_n("src", R::read, 8, 1), stream_n("map", R::read, 15, 2), address("base", 32)),

    // VXM: 16 ALU queues at the centre of the chip, lane-wise on stream groups.
    vxm_unary(Opcode::v_mov, "mov", T::vxm_move, "dst = src"),
    vxm_unary(Opcode::v_neg, "neg", T::vxm_move, "dst = -src (integers wrap)"),
    vxm_unary(Opcode::v_abs, "abs", T::vxm_move, "dst = |src| (integers wrap)"),
    vxm_unary(Opcode::v_relu, "relu", T::vxm_move, "dst = max(src, 0)"),
    vxm_unary(Opcode::v_tanh, "tanh", T::vxm_transcendental, "dst = tanh(src), floats only"),
    vxm_unary(Opcode::v_exp, "exp", T::vxm_transcendental, "dst = e^src, floats only"),
    vxm_unary(Opcode::v_rsqrt, "rsqrt", T::vxm_transcendental, "dst = 1/sqrt(src), floats only"),
    vxm_unary(Opcode::v_recip, "recip", T::vxm_transcendental, "dst = 1/src, floats only"),
    vxm_binary(Opcode::v_add, "add", T::vxm_int_add, "dst = a + b (integers saturate)"),
    vxm_binary(Opcode::v_sub, "sub", T::vxm_int_add, "dst = a - b (integers saturate)"),
    vxm_binary(Opcode::v_mul, "mul", T::vxm_int_mul, "dst = a * b (integers saturate)"),
    vxm_binary(Opcode::v_max, "max", T::vxm_int_add, "dst = max(a, b)"),
    vxm_binary(Opcode::v_min, "min", T::vxm_int_add, "dst = min(a, b)"),
    vxm_binary(Opcode::v_and, "and", T::vxm_move, "dst = a & b (bitwise, any type)"),
    vxm_binary(Opcode::v_or, "or", T::vxm_move, "dst = a | b (bitwise, any type)"),
    vxm_binary(Opcode::v_xor, "xor", T::vxm_move, "dst = a ^ b (bitwise, any type)"),
    vxm_binary(Opcode::v_cmpeq, "cmpeq", T::vxm_move, "dst = all ones if a == b else 0"),
    vxm_binary(Opcode::v_cmplt, "cmplt", T::vxm_move, "dst = all ones if a < b else 0"),
    vxm_binary(Opcode::v_cmple, "cmple", T::vxm_move, "dst = all ones if a <= b else 0"),
    op(Opcode::v_sel, "sel", Unit::vxm, T::vxm_skew, T::vxm_move, "dst = mask != 0 ? a : b",
       kDt, kDst, stream_dt("mask", R::read, 37), kSrcA, kSrcB),
    op(Opcode::v_splat, "splat", Unit::vxm, T::vxm_skew, T::vxm_move,
       "dst = value in every lane (value: low bytes of the 32-bit immediate, or a float)",
       kDt, kDst, f32("value", 32)),
    op(Opcode::v_cvt, "cvt", Unit::vxm, T::vxm_skew, T::vxm_convert,
       "dst (type 1) = src (type 2), round to nearest even, saturating to integers",
       dtype("to", 8), dtype("from", 12), stream_dt("dst", R::write, 16, 0),
       stream_dt("src", R::read, 23, 1)),
    op(Opcode::v_requant, "requant", Unit::vxm, T::vxm_skew, T::vxm_convert,
       "dst (type 1) = saturate(round_even(float32(src) * scale))",
       dtype("to", 8), dtype("from", 12), stream_dt("dst", R::write, 16, 0),
       stream_dt("src", R::read, 23, 1), f32("scale", 32)),

    // MXM: three queues per plane.
    op(Opcode::lw, "LW", Unit::mxm, T::mxm_lw_skew, T::none,
       "load the shadow weight buffer from 16 streams, one row per stream per cycle",
       kDt, stream_n("src", R::read, 16, 16)),
    op(Opcode::iw, "IW", Unit::mxm, T::none, T::mxm_iw_func, "install the shadow weights into the array"),
    op(Opcode::abc, "ABC", Unit::mxm, T::mxm_abc_skew, T::mxm_result,
       "multiply the activation vector on src by the weights into accumulator acc (new or add)",
       kDt, stream_dt("src", R::read, 16), uimm("acc", 24, 16), mode("mode", 40, "new", "add")),
    op(Opcode::acc, "ACC", Unit::mxm, T::none, T::mxm_acc_func,
       "put accumulator acc (int32 or fp32) on the 4-stream group dst",
       stream_n("dst", R::write, 16, 4), uimm("acc", 24, 16)),

    // SXM: fourteen queues per switch slice.
    op(Opcode::shift, "Shift", Unit::sxm, T::sxm_skew, T::sxm_shift,
       "move src n superlanes north (n < 0: south), zero fill", kDt, kDst, kSrc, simm("n", 32, 8)),
    op(Opcode::select, "Select", Unit::sxm, T::sxm_skew, T::sxm_shift,
       "superlane k of dst = superlane k of (bit k of mask ? a : b)", kDt, kDst, kSrcA, kSrcB,
       uimm("mask", 40, 24)),
    op(Opcode::permute, "Permute", Unit::sxm, T::sxm_skew, T::sxm_permute,
       "element i of dst = element map[i] of src (map: int16 on 2 streams, out of range = 0)",
       kDt, kDst, kSrc, stream_n("map", R::read, 30, 2)),
    op(Opcode::distribute, "Distribute", Unit::sxm, T::sxm_skew, T::sxm_permute,
       "within each superlane, lane i of dst = lane map[i] of src (map: 1 stream, >= 16 = 0)",
       kDt, kDst, kSrc, stream_n("map", R::read, 30, 1)),
    op(Opcode::rotate, "Rotate", Unit::sxm, T::sxm_skew, T::sxm_permute,
       "rotate src n superlanes north, cyclically", kDt, kDst, kSrc, uimm("n", 32, 8)),
    op(Opcode::transpose, "Transpose", Unit::sxm, T::sxm_skew, T::sxm_transpose,
       "transpose every 16x16 byte block of 16 streams: dst[j] lane 16b+i = src[i] lane 16b+j",
       stream_n("dst", R::write, 16, 16), stream_n("src", R::read, 23, 16)),

    // C2C: issued by the SXM queues. Deskew, which paces any queue to the link epochs, is an ICU
    // instruction here.
    op(Opcode::send, "Send", Unit::c2c, T::sxm_skew, T::c2c_link, "send the vector on src over link",
       link("link", 8), stream_n("src", R::read, 16, 1)),
    op(Opcode::receive, "Receive", Unit::c2c, T::none, T::c2c_receive_func,
       "put the oldest vector received on link onto dst", link("link", 8),
       stream_n("dst", R::write, 16, 1)),
    op(Opcode::deskew, "Deskew", Unit::icu, T::none, T::none,
       "stop dispatching until the next HAC epoch boundary (cycle multiple of hac_period)"),
};

constexpr TimingParamSpec kTimingParams[] = {
#define TIMING_PARAM(id, key, def, meaning, source) {TimingParam::id, key, def, meaning, source},
#include "timing_params.def"
#undef TIMING_PARAM
};

constexpr std::string_view kDTypeNames[] = {"i8", "i16", "i32", "f16", "bf16", "f32"};
constexpr unsigned kDTypeBytes[] = {1, 2, 4, 2, 2, 4};

} // namespace

Span<const TimingParamSpec> timing_params() { return kTimingParams; }

std::optional<TimingParam> timing_param_by_key(std::string_view key) {
  for (const auto& p : kTimingParams)
    if (p.key == key) return p.id;
  return std::nullopt;
}

std::string_view unit_name(Unit unit) {
  constexpr std::string_view names[] = {"ICU", "MEM", "VXM", "MXM", "SXM", "C2C"};
  static_assert(std::size(names) == static_cast<size_t>(Unit::count), "a name per unit");
  return names[static_cast<int>(unit)];
}

std::string_view dtype_name(DType dtype) { return kDTypeNames[static_cast<int>(dtype)]; }

std::optional<DType> dtype_by_name(std::string_view name) {
  for (int i = 0; i < static_cast<int>(DType::count); ++i)
    if (kDTypeNames[i] == name) return static_cast<DType>(i);
  return std::nullopt;
}

unsigned dtype_bytes(DType dtype) { return kDTypeBytes[static_cast<int>(dtype)]; }

bool dtype_is_float(DType dtype) { return dtype == DType::f16 || dtype == DType::bf16 || dtype == DType::f32; }

Span<const OpcodeSpec> opcodes() { return kTable; }

namespace detail {
// The first row of a code, as a scan of the table would find it. A constant expression, so it is
// initialised before any code runs.
const std::array<const OpcodeSpec*, 256> kSpecByCode = [] {
  std::array<const OpcodeSpec*, 256> rows{};
  for (size_t i = 0; i < std::size(kTable); ++i) {
    const OpcodeSpec*& row = rows[static_cast<uint8_t>(kTable[i].opcode)];
    if (!row) row = &kTable[i];
  }
  return rows;
}();
} // namespace detail

const OpcodeSpec* find_mnemonic(std::string_view mnemonic) {
  for (const auto& s : kTable)
    if (s.mnemonic == mnemonic) return &s;
  return nullptr;
}

Unit issuing_unit(Unit unit) { return unit == Unit::c2c ? Unit::sxm : unit; }

} // namespace tsp::isa
