// The example programs of examples/ on the 14 nm chip: every output against a host reference
// computed here from the program's own input images, and the golden cycle count derived by hand in
// the comments of each .tsp file (docs/programs.md lists them).
#include "engine_harness.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

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

uint32_t bits_at(const std::vector<uint8_t>& v, size_t i) { return static_cast<uint32_t>(i32_at(v, i)); }

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

float f32_value(const std::vector<uint8_t>& v, size_t i) {
  float x;
  std::memcpy(&x, &v.at(4 * i), 4);
  return x;
}

// Distance in units in the last place between two finite fp32 values of the same sign.
uint64_t ulp_distance(uint32_t a, uint32_t b) { return a > b ? a - b : b - a; }

// An IEEE binary16 element (little-endian bytes) as a float, decoded field by field.
float f16_value(const std::vector<uint8_t>& v, size_t i) {
  const unsigned bits = v.at(2 * i) | v.at(2 * i + 1) << 8;
  const int exponent = (bits >> 10) & 0x1f;
  const double fraction = bits & 0x3ff;
  const double magnitude =
      exponent == 0 ? std::ldexp(fraction, -24) : std::ldexp(1024 + fraction, exponent - 25);
  return static_cast<float>((bits & 0x8000) ? -magnitude : magnitude);
}

std::vector<int32_t> as_i32(const std::vector<uint8_t>& bytes) {
  std::vector<int32_t> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) out[i] = i32_at(bytes, i);
  return out;
}

// Rows r of A (512 x 320) not found at row bitrev9(r) of B: the result of ifetch_long.tsp.
size_t rows_not_bit_reversed(const Simulation& sim) {
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  size_t wrong = 0;
  for (size_t r = 0; r < 512; ++r) {
    size_t rev = 0;
    for (unsigned bit = 0; bit < 9; ++bit) rev |= ((r >> bit) & 1) << (8 - bit);
    wrong += !std::equal(a.begin() + r * 320, a.begin() + (r + 1) * 320, b.begin() + rev * 320);
  }
  return wrong;
}

// A mis-scheduled program must report `count` errors of `kind`, none of any other kind, and
// `first` as its first error.
void check_only(const Simulation& sim, ErrorKind kind, uint64_t count, const std::string& first) {
  for (size_t k = 0; k < static_cast<size_t>(ErrorKind::count); ++k) {
    const auto other = static_cast<ErrorKind>(k);
    INFO(tsp::error_kind_name(other));
    CHECK(sim.log().count(other) == (other == kind ? count : 0));
  }
  CHECK(sim.first_error() == first);
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

TEST_CASE("gemm_i8_four_planes: the same GEMM split over the four MXM planes") {
  Simulation sim(example("gemm_i8_four_planes.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 193);
  const auto w = sim.initial("WE");
  REQUIRE(sim.initial("WW") == w);
  const auto expected = gemm_i8(sim.initial("A"), w, 320, 320, 320);
  CHECK(as_i32(sim.symbol("C")) == expected);
}

TEST_CASE("gemm_f16: fp16 GEMM with fp32 accumulation in ascending k, bit-exact") {
  Simulation sim(example("gemm_f16.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 1404);
  const auto a = sim.initial("A");
  const auto w = sim.initial("W");
  std::vector<float> af(320 * 320), wf(320 * 320);
  for (size_t i = 0; i < af.size(); ++i) {
    af[i] = f16_value(a, i);
    wf[i] = f16_value(w, i);
  }
  const auto c = sim.symbol("C");
  size_t wrong = 0;
  for (size_t m = 0; m < 320; ++m)
    for (size_t n = 0; n < 320; ++n) {
      // fp16 x fp16 is exact in fp32; one fp32 rounding per addition, ascending k.
      float s = af[m * 320] * wf[n];
      for (size_t k = 1; k < 320; ++k) s = s + af[m * 320 + k] * wf[k * 320 + n];
      wrong += bits_at(c, m * 320 + n) != bits_of(s);
    }
  CHECK(wrong == 0);
}

TEST_CASE("transpose: 320x320 int8 through Transpose, Rotate and Gather") {
  Simulation sim(example("transpose.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 263);
  const auto a = sim.initial("A");
  const auto b = sim.symbol("B");
  size_t wrong = 0;
  for (size_t i = 0; i < 320; ++i)
    for (size_t j = 0; j < 320; ++j) wrong += b.at(i * 320 + j) != a.at(j * 320 + i);
  CHECK(wrong == 0);
  // The maps the program built: row d, lane 16s + l holds (s - d) mod 20 as int16.
  const auto map = sim.symbol("Map");
  size_t wrong_map = 0;
  for (size_t d = 0; d < 20; ++d)
    for (size_t lane = 0; lane < 320; ++lane) {
      const size_t e = d * 320 + lane;
      wrong_map += (map.at(2 * e) | map.at(2 * e + 1) << 8) != int((lane / 16 + 20 - d) % 20);
    }
  CHECK(wrong_map == 0);
}

TEST_CASE("softmax_f32: softmax of 320 fp32 on the VXM with SXM reductions") {
  Simulation sim(example("softmax_f32.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 1469);
  const auto xb = sim.initial("X");
  std::vector<double> x(320);
  for (size_t i = 0; i < 320; ++i) x[i] = f32_value(xb, i);
  const double m = *std::max_element(x.begin(), x.end());
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  const auto e = sim.symbol("EXP");
  const auto y = sim.symbol("Y");
  uint64_t worst_e = 0, worst_y = 0;
  for (size_t i = 0; i < 320; ++i) {
    worst_e = std::max(worst_e, ulp_distance(bits_at(e, i), bits_of(static_cast<float>(std::exp(x[i] - m)))));
    worst_y =
        std::max(worst_y, ulp_distance(bits_at(y, i), bits_of(static_cast<float>(std::exp(x[i] - m) / s))));
  }
  // Tolerances derived in examples/softmax_f32.tsp.
  CHECK(worst_e <= 2);
  CHECK(worst_y <= 4);
}

TEST_CASE("gather_scatter: a lane map drives Gather from S, then Scatter into S after a barrier") {
  Simulation sim(example("gather_scatter.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 89);
  const auto r = sim.initial("R");
  const auto v = sim.initial("V");
  auto s = sim.initial("S");
  auto map = [&](size_t row, size_t lane) {
    return (r.at(2 * (row * 320 + lane)) | r.at(2 * (row * 320 + lane) + 1) << 8) & 63;
  };
  std::vector<uint8_t> g(16 * 320);
  for (size_t row = 0; row < 16; ++row)
    for (size_t lane = 0; lane < 320; ++lane) g[row * 320 + lane] = s.at(map(row, lane) * 320 + lane);
  for (size_t row = 0; row < 16; ++row)
    for (size_t lane = 0; lane < 320; ++lane) s.at(map(row, lane) * 320 + lane) = v.at(row * 320 + lane);
  CHECK(sim.symbol("G") == g);
  CHECK(sim.symbol("S") == s);
}

TEST_CASE("ifetch_long: a 515-instruction writer queue fed by two Ifetches (one fetched)") {
  Simulation sim(example("ifetch_long.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 545);
  // The writer's queue really is longer than its buffer: 250 initial + 120 + 145 fetched.
  const unsigned writer = *sim.chip->context().floorplan.find_queue("MEM_E30");
  const auto text = std::find_if(sim.program.queues.begin(), sim.program.queues.end(),
                                 [&](const tsp::QueueProgram& q) { return q.queue == writer; });
  REQUIRE(text != sim.program.queues.end());
  REQUIRE(sim.config.icu.instruction_buffer_entries == 256);
  CHECK(text->words.size() == 250);
  CHECK(sim.chip->icu().queues().at(writer).appended == 515);
  CHECK(rows_not_bit_reversed(sim) == 0);
}

TEST_CASE("c2c_loopback: rows sent over links 0..3 come back 216 cycles later") {
  Simulation sim(example("c2c_loopback.tsp"), "14nm.json");
  CHECK(sim.log().total() == 0);
  CHECK(sim.result.cycles == 249);
  CHECK(sim.symbol("B") == sim.initial("A"));
}

// ---- mis-scheduled variants (examples/misscheduled/<kind>.tsp): exactly one kind of error each.

TEST_CASE("misscheduled/stream-empty: a Write one cycle before its value arrives") {
  Simulation sim(example("misscheduled/stream-empty.tsp"), "14nm.json");
  check_only(
      sim, ErrorKind::stream_empty, 1,
      "cycle 34: stream-empty: MEM_W20 instruction 1 (Write) line 28: no value on stream W1 at MEM_W20");
}

TEST_CASE("misscheduled/stream-stale: a barrier released before the last phase-1 value is read") {
  Simulation sim(example("misscheduled/stream-stale.tsp"), "14nm.json");
  check_only(sim, ErrorKind::stream_stale, 1,
             "cycle 36: stream-stale: MEM_E12 instruction 1 (Write) line 56: stream E6 at MEM_E12 holds a "
             "value from "
             "before the last barrier");
}

TEST_CASE("misscheduled/stream-collision: two ALU queues drive one stream in one cycle") {
  Simulation sim(example("misscheduled/stream-collision.tsp"), "14nm.json");
  check_only(sim, ErrorKind::stream_collision, 2,
             "cycle 16: stream-collision: VXM.1 instruction 1 (add) line 27: second write to stream W1 at "
             "VXM in one "
             "cycle");
}

TEST_CASE("misscheduled/mem-port: fetched text in the bank that data is read from") {
  Simulation sim(example("misscheduled/mem-port.tsp"), "14nm.json");
  check_only(
      sim, ErrorKind::mem_port, 7,
      "cycle 140: mem-port: MEM_E30 instruction 129 (Ifetch) line 154: bank 0 of MEM_E20 accessed 2 times in "
      "one cycle; it has 1 port");
  CHECK(rows_not_bit_reversed(sim) == 0);
}

TEST_CASE("misscheduled/mem-address: a Gather base that puts lane addresses past the slice") {
  Simulation sim(example("misscheduled/mem-address.tsp"), "14nm.json");
  check_only(sim, ErrorKind::mem_address, 16,
             "cycle 16: mem-address: MEM_E10 instruction 1 (Gather) line 47: 93 lane addresses outside "
             "MEM_E10 (8192 "
             "words)");
}

TEST_CASE("misscheduled/mxm-weights: IW installs while LW is still loading") {
  Simulation sim(example("misscheduled/mxm-weights.tsp"), "14nm.json");
  check_only(sim, ErrorKind::mxm_weights, 1,
             "cycle 38: mxm-weights: MXM_E0.0 instruction 3 (IW) line 82: IW on MXM_E0: the LW dispatched at "
             "cycle 19 "
             "is still loading the shadow buffer until cycle 38");
}

TEST_CASE("misscheduled/mxm-accumulator: ACC one cycle before the products are in") {
  Simulation sim(example("misscheduled/mxm-accumulator.tsp"), "14nm.json");
  check_only(
      sim, ErrorKind::mxm_accumulator, 320,
      "cycle 62: mxm-accumulator: MXM_E0.2 instruction 1 (ACC) line 89: ACC on MXM_E0: the latest result in "
      "accumulator 0 is ready at cycle 63");
}

TEST_CASE("misscheduled/queue-starved: an Ifetch as the last instruction of the initial text") {
  Simulation sim(example("misscheduled/queue-starved.tsp"), "14nm.json");
  check_only(sim, ErrorKind::queue_starved, 1,
             "cycle 261: queue-starved: MEM_E30 instruction 249 (Ifetch) line 274: queue MEM_E30 ran dry; "
             "its fetched "
             "text arrives at cycle 264");
  CHECK(rows_not_bit_reversed(sim) == 0);
}

TEST_CASE("misscheduled/queue-overflow: an Ifetch before the buffer has room") {
  Simulation sim(example("misscheduled/queue-overflow.tsp"), "14nm.json");
  check_only(sim, ErrorKind::queue_overflow, 3,
             "cycle 4: queue-overflow: MEM_E30 instruction 0 (Ifetch) line 22: fetched text fills queue "
             "MEM_E30 to 288 "
             "instructions; its buffer holds 256");
  CHECK(rows_not_bit_reversed(sim) == 0);
}

TEST_CASE("misscheduled/sync-unreleased: a Notify before the queues reach their Sync") {
  Simulation sim(example("misscheduled/sync-unreleased.tsp"), "14nm.json");
  check_only(
      sim, ErrorKind::sync_unreleased, 5,
      "cycle 36: sync-unreleased: MEM_W1: queue MEM_W1 is still parked in the Sync it reached at cycle 16");
}

TEST_CASE("misscheduled/link-empty: Receives one cycle before their vectors arrive") {
  Simulation sim(example("misscheduled/link-empty.tsp"), "14nm.json");
  check_only(
      sim, ErrorKind::link_empty, 4,
      "cycle 221: link-empty: SXM_E.1 instruction 1 (Receive) line 22: no vector has arrived on link 0");
  CHECK(sim.symbol("B") == std::vector<uint8_t>(4 * 320, 0));
}

TEST_CASE("misscheduled/link-overrun: four Sends one cycle apart on one link") {
  Simulation sim(example("misscheduled/link-overrun.tsp"), "14nm.json");
  check_only(sim, ErrorKind::link_overrun, 3,
             "cycle 7: link-overrun: SXM_E.0 instruction 1 (Send) line 17: link 0 is still sending the "
             "previous vector until cycle 26 (a vector takes 20 cycles on 4 lanes at 30 Gb/s)");
  // The simulator still delivers the overrun vectors, so the rest of the schedule is checked.
  CHECK(sim.symbol("B") == sim.initial("A"));
}

TEST_CASE("misscheduled/ifetch-invalid: Write text fetched into a VXM queue") {
  Simulation sim(example("misscheduled/ifetch-invalid.tsp"), "14nm.json");
  check_only(sim, ErrorKind::ifetch_invalid, 264,
             "cycle 140: ifetch-invalid: VXM.0 instruction 1 (Ifetch) line 271: word 0 instruction 0: Write "
             "cannot be "
             "issued by queue VXM.0");
}

// A functional run generates a declared tensor's rows into MEM when it loads the program; a
// timing-only run, which never reads MEM data, leaves them zero but still loads stored images.
TEST_CASE("declared tensors reach MEM in functional runs only; stored images in both") {
  const auto config = tsp::test::bundled_config("tiny.json");
  const tsp::Program program =
      tsp::assemble(".tensor T i8 6x20 slices=MEM_E2,MEM_E3 base=10 init=random(3, stride=50, rows=1:4)\n"
                    ".tensor S i8 1x4 slices=MEM_E0 base=0 init=values(1 2 3 4)\n"
                    ".queue MEM_W0\n    NOP 1\n",
                    "d.tsp", config);
  // Rows 1..4 of T: columns 0..19 of rows 1..4 of the 50-column stream of seed 3; rows 0 and 5 zero.
  const auto stream = tsp::random_tensor(tsp::isa::DType::i8, 6, 50, 3);
  std::vector<uint8_t> declared(6 * 20, 0);
  for (uint32_t r = 1; r < 5; ++r) std::copy_n(stream.begin() + r * 50, 20, declared.begin() + r * 20);
  for (const bool timing_only : {false, true}) {
    INFO("timing-only " << timing_only);
    tsp::EngineOptions options;
    options.timing_only = timing_only;
    tsp::Chip chip(timing_only ? "timing_chip" : "functional_chip", config, options);
    chip.load(program);
    CHECK(chip.read_symbol(*program.find_symbol("T")) ==
          (timing_only ? std::vector<uint8_t>(6 * 20, 0) : declared));
    CHECK(chip.read_symbol(*program.find_symbol("S")) == std::vector<uint8_t>{1, 2, 3, 4});
  }
}

// Large declared tensors are generated by rows on two cores (Chip::generate_declared_tensors): the
// halves must meet exactly, an odd row count (3,399 rows of 320 bytes: 1.04 MiB) and a window that
// starts past row 0 included.
TEST_CASE("a declared tensor of more than 1 MiB holds its stream's rows, however the rows are split") {
  const auto config = tsp::test::bundled_config("14nm.json");
  const tsp::Program program = tsp::assemble(
      ".tensor W i16 3401x160 slices=MEM_E2,MEM_E3,MEM_E4,MEM_E5 base=100 init=random(9, stride=170, "
      "rows=1:3399)\n"
      ".queue MEM_W0\n    NOP 1\n",
      "w.tsp", config);
  const auto stream = tsp::random_tensor(tsp::isa::DType::i16, 3401, 170, 9);
  std::vector<uint8_t> expected(3401 * 160 * 2, 0);
  for (uint32_t r = 1; r < 3400; ++r)
    std::copy_n(stream.begin() + r * 170 * 2, 160 * 2, expected.begin() + r * 160 * 2);
  tsp::Chip chip("split_chip", config, tsp::EngineOptions{});
  chip.load(program);
  CHECK(chip.read_symbol(*program.find_symbol("W")) == expected);
}

// Many tensors below 1 MiB (a GEMV's weight tiles) are dealt out whole to the two cores.
TEST_CASE("declared tensors that together pass 1 MiB hold their streams' rows on two cores") {
  const auto config = tsp::test::bundled_config("14nm.json");
  std::string source;
  for (int t = 0; t < 5; ++t)
    source += fmt::format(".tensor W{} i8 1000x300 slices=MEM_E{},MEM_E{} base=100 init=random({})\n", t,
                          2 * t + 2, 2 * t + 3, 40 + t);
  const tsp::Program program = tsp::assemble(source + ".queue MEM_W0\n    NOP 1\n", "w.tsp", config);
  tsp::Chip chip("tiles_chip", config, tsp::EngineOptions{});
  chip.load(program);
  for (int t = 0; t < 5; ++t)
    CHECK(chip.read_symbol(*program.find_symbol(fmt::format("W{}", t))) ==
          tsp::random_tensor(tsp::isa::DType::i8, 1000, 300, 40 + t));
}
