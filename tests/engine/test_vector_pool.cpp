// VectorPool and the fabric's held values: a value is a pooled copy of the producer's bytes, so a
// read returns those bytes after the producer's buffer is overwritten, and a slot's value goes
// back to the pool (and is reused) only when another value replaces it.
#include "tspsim/engine/stream_fabric.h"
#include "tspsim/engine/vector_pool.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <set>
#include <vector>

namespace {
constexpr unsigned kBytes = 8;

std::vector<uint8_t> read_value(const tsp::StreamFabric& fabric, unsigned position, tsp::Cycle cycle) {
  std::vector<uint8_t> out;
  fabric.read_group({3, false}, 1, position, cycle, 0,
                    [&](unsigned, tsp::StreamFabric::ReadResult result, const uint8_t* bytes) {
                      REQUIRE(result == tsp::StreamFabric::ReadResult::ok);
                      REQUIRE(bytes != nullptr);
                      out.assign(bytes, bytes + kBytes);
                    });
  return out;
}

void write_value(tsp::StreamFabric& fabric, uint32_t value, tsp::Cycle cycle, uint32_t index) {
  fabric.write_group({3, false}, 1, 0, cycle, &value, tsp::Origin{0, index, 0, {}}, 0,
                     [](unsigned, const tsp::Origin&) { FAIL("unexpected collision"); });
}
} // namespace

TEST_CASE("vector pool: ids name disjoint vectors across pages, and a returned id is reused") {
  tsp::VectorPool pool(kBytes);
  std::set<uint32_t> ids;
  for (uint32_t i = 0; i < 600; ++i) {
    const uint32_t id = pool.take();
    CHECK(ids.insert(id).second);
    std::memset(pool.bytes(id), int(i % 251), kBytes);
  }
  for (uint32_t id = 0; id < 600; ++id) CHECK(pool.bytes(id)[kBytes - 1] == uint8_t(id % 251));
  pool.give_back(17);
  CHECK(pool.take() == 17);
  CHECK(pool.take() == 600);
}

TEST_CASE("stream fabric: a held value keeps its bytes after the producer's buffer changes") {
  tsp::StreamFabric fabric(32, 8, 1, kBytes);
  std::vector<uint8_t> buffer = {1, 2, 3, 4, 5, 6, 7, 8};
  const uint32_t first = fabric.hold(buffer.data());
  std::fill(buffer.begin(), buffer.end(), uint8_t{0xff});
  write_value(fabric, first, 5, 0);
  CHECK(read_value(fabric, 0, 5) == std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8});
  // The value travels east: one position further a cycle later.
  CHECK(read_value(fabric, 1, 6) == std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8});

  // A held value not yet written does not disturb the landed one; null bytes hold zeros.
  const uint32_t zeros = fabric.hold(nullptr);
  CHECK(zeros != first);
  CHECK(read_value(fabric, 1, 6) == std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8});
  write_value(fabric, zeros, 6, 1);
  CHECK(read_value(fabric, 0, 6) == std::vector<uint8_t>(kBytes, 0));
}

TEST_CASE("stream fabric: a value replaced in its slot goes back to the pool") {
  tsp::StreamFabric fabric(32, 8, 1, kBytes);
  const std::vector<uint8_t> a(kBytes, 0xa1), b(kBytes, 0xb2);
  const uint32_t first = fabric.hold(a.data());
  write_value(fabric, first, 5, 0);
  // The ring holds 16 diagonals here (8 positions + 2, rounded up): cycle 21 reuses the slot.
  const uint32_t second = fabric.hold(b.data());
  CHECK(second != first);
  write_value(fabric, second, 21, 1);
  CHECK(read_value(fabric, 0, 21) == b);
  const uint32_t reused = fabric.hold(a.data());
  CHECK(reused == first);
  CHECK(read_value(fabric, 0, 21) == b);
}

TEST_CASE("stream fabric: a value filled in place lands with the bytes written into it") {
  tsp::StreamFabric fabric(32, 8, 1, kBytes);
  const tsp::StreamFabric::Held held = fabric.hold_to_fill();
  for (unsigned i = 0; i < kBytes; ++i) held.bytes[i] = uint8_t(10 * i + 1);
  const uint32_t other = fabric.hold(nullptr);
  CHECK(other != held.id);
  write_value(fabric, held.id, 5, 0);
  CHECK(read_value(fabric, 0, 5) == std::vector<uint8_t>{1, 11, 21, 31, 41, 51, 61, 71});
}
