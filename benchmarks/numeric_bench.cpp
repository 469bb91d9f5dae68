// Throughput of the numeric kernels on this host (not a test): MXM products in MAC/s, VXM ops in
// ns per 320-lane vector, in thread CPU time. Usage: numeric_bench [seconds per measurement, default 0.3]
#include "tspsim/numeric/numeric.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <vector>

using tsp::isa::DType;
using tsp::isa::Opcode;
namespace num = tsp::num;

namespace {

double g_seconds = 0.3;

// This thread's CPU time, so that other processes on a shared machine distort less.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// Runs f for g_seconds of CPU time; returns CPU seconds per call.
template <typename F> double time_per_call(F&& f) {
  f();
  size_t calls = 0;
  const double start = cpu_seconds();
  double elapsed = 0;
  do {
    for (int i = 0; i < 8; ++i) f();
    calls += 8;
    elapsed = cpu_seconds() - start;
  } while (elapsed < g_seconds);
  return elapsed / double(calls);
}

void bench_mxm(size_t lanes) {
  std::mt19937 rng(1);
  const size_t k = lanes, n = lanes;
  std::vector<std::vector<uint8_t>> rows(k, std::vector<uint8_t>(n));
  std::vector<const uint8_t*> row_ptrs;
  for (auto& r : rows) {
    for (auto& b : r) b = uint8_t(rng());
    row_ptrs.push_back(r.data());
  }
  std::vector<int16_t> packed(k * n);
  const double pack = time_per_call([&] { num::pack_weights_i8(row_ptrs.data(), k, n, packed.data()); });
  std::printf("pack_weights_i8 %zux%zu: %.1f us\n", k, n, pack * 1e6);

  const size_t max_m = 320;
  std::vector<int8_t> acts(max_m * k);
  for (auto& a : acts) a = int8_t(rng());
  std::vector<int32_t> out(max_m * n);
  const double macs = double(k) * double(n);
  const double one =
      time_per_call([&] { num::matvec_i8(packed.data(), acts.data(), out.data(), k, n, true); });
  std::printf("matvec_i8   %zux%zu:        %6.2f GMAC/s (%.2f us per vector)\n", k, n, macs / one / 1e9,
              one * 1e6);
  for (size_t m : {size_t{4}, size_t{16}, size_t{64}, max_m}) {
    const double t =
        time_per_call([&] { num::matmul_i8(packed.data(), acts.data(), out.data(), m, k, n, true); });
    std::printf("matmul_i8   %zux%zu, m=%3zu: %6.2f GMAC/s\n", k, n, m, macs * double(m) / t / 1e9);
  }
  for (size_t m : {size_t{1}, size_t{4}}) {
    const double t =
        time_per_call([&] { num::matmul_i8_rows(row_ptrs.data(), acts.data(), out.data(), m, k, n, true); });
    std::printf("matmul_i8_rows %zux%zu, m=%zu: %5.2f GMAC/s (%.2f us per vector)\n", k, n, m,
                macs * double(m) / t / 1e9, t * 1e6 / double(m));
  }

  std::vector<float> w(k * n), factsv(max_m * k), fout(max_m * n);
  std::vector<num::ConstPlaneGroup> groups(k);
  for (size_t kk = 0; kk + 1 < k; kk += 2)
    groups[kk] = groups[kk + 1] = {{rows[kk].data(), rows[kk + 1].data()}};
  const double fpack =
      time_per_call([&] { num::pack_weights_float(DType::f16, groups.data(), k, n, w.data()); });
  std::printf("pack_weights_float f16 %zux%zu: %.1f us\n", k, n, fpack * 1e6);
  for (auto& x : w) x = float(int(rng() % 200) - 100) / 64;
  for (auto& x : factsv) x = float(int(rng() % 200) - 100) / 64;
  const double onef =
      time_per_call([&] { num::matvec_f32(w.data(), factsv.data(), fout.data(), k, n, true); });
  std::printf("matvec_f32  %zux%zu:        %6.2f GMAC/s\n", k, n, macs / onef / 1e9);
  for (size_t m : {size_t{4}, size_t{64}}) {
    const double t =
        time_per_call([&] { num::matmul_f32(w.data(), factsv.data(), fout.data(), m, k, n, true); });
    std::printf("matmul_f32  %zux%zu, m=%3zu: %6.2f GMAC/s\n", k, n, m, macs * double(m) / t / 1e9);
  }
}

// Wall time of batched products on one core and split over two (thread CPU time cannot see the
// second core's work). On a shared machine the ratio depends on the load.
void bench_two_cores(size_t lanes) {
  std::mt19937 rng(3);
  const size_t k = lanes, n = lanes, m = 64;
  std::vector<int16_t> packed(k * n);
  for (auto& w : packed) w = int16_t(int8_t(rng()));
  std::vector<int8_t> acts(m * k);
  for (auto& a : acts) a = int8_t(rng());
  std::vector<int32_t> out(m * n);
  for (unsigned threads : {1u, 2u}) {
    num::set_mxm_threads(threads);
    const auto start = std::chrono::steady_clock::now();
    size_t calls = 0;
    double elapsed = 0;
    do {
      num::matmul_i8(packed.data(), acts.data(), out.data(), m, k, n, true);
      ++calls;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < g_seconds);
    std::printf("matmul_i8   %zux%zu, m=%3zu, %u core%s: %6.2f GMAC/s (wall)\n", k, n, m, threads,
                threads == 1 ? " " : "s", double(k * n * m) * double(calls) / elapsed / 1e9);
  }
}

void bench_vxm(size_t lanes) {
  std::mt19937 rng(2);
  std::vector<uint8_t> storage(3 * 4 * lanes);
  for (auto& b : storage) b = uint8_t(rng() & 0x3f); // small positive-exponent floats, no NaNs
  auto group = [&](size_t v) {
    uint8_t* base = storage.data() + v * 4 * lanes;
    return num::PlaneGroup{{base, base + lanes, base + 2 * lanes, base + 3 * lanes}};
  };
  const num::PlaneGroup dst = group(0), a = group(1), b = group(2);
  struct Case {
    const char* name;
    Opcode op;
    DType dtype;
  };
  const Case cases[] = {{"add.i8", Opcode::v_add, DType::i8},    {"add.i32", Opcode::v_add, DType::i32},
                        {"mul.i16", Opcode::v_mul, DType::i16},  {"add.f32", Opcode::v_add, DType::f32},
                        {"add.f16", Opcode::v_add, DType::f16},  {"mul.bf16", Opcode::v_mul, DType::bf16},
                        {"max.f32", Opcode::v_max, DType::f32},  {"xor.i32", Opcode::v_xor, DType::i32},
                        {"cmplt.i8", Opcode::v_cmplt, DType::i8}};
  for (const Case& c : cases) {
    const double t = time_per_call([&] { num::vxm_binary(c.op, c.dtype, dst, a, b, lanes); });
    std::printf("vxm %-10s %7.1f ns per vector\n", c.name, t * 1e9);
  }
  for (DType d : {DType::f16, DType::f32}) {
    const double t = time_per_call([&] { num::vxm_unary(Opcode::v_exp, d, dst, a, lanes); });
    std::printf("vxm exp.%-6s %7.1f ns per vector\n", tsp::isa::dtype_name(d).data(), t * 1e9);
  }
  const double cvt = time_per_call([&] { num::vxm_convert(DType::f16, DType::f32, dst, a, lanes); });
  std::printf("vxm cvt.f16.f32 %6.1f ns per vector\n", cvt * 1e9);
  const double rq =
      time_per_call([&] { num::vxm_requant(DType::i8, DType::i32, dst, a, 0x3c000000, lanes); });
  std::printf("vxm requant.i8.i32 %3.1f ns per vector\n", rq * 1e9);
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"numeric_bench: throughput of the numeric kernels on this host"};
  app.add_option("seconds", g_seconds, "CPU seconds per measurement (default 0.3)")
      ->check(CLI::Range(1e-3, 3600.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  std::printf("MXM kernel levels on this host: up to %s\n", num::kernel_level_name(num::best_kernel_level()));
  // Every MXM kernel level this host runs, widest last (the one the simulator uses).
  for (auto level : {num::KernelLevel::baseline, num::KernelLevel::avx2, num::KernelLevel::avx512}) {
    if (level > num::best_kernel_level()) break;
    num::limit_kernel_level(level);
    std::printf("-- MXM kernels: %s\n", num::kernel_level_name(level));
    // One core at a time here (thread CPU time); bench_two_cores measures the split.
    num::set_mxm_threads(1);
    bench_mxm(320);
  }
  num::set_mxm_threads(2);
  bench_two_cores(320);
  bench_vxm(320);
  return 0;
}
