// Program regions (tspsim/program/regions.h, docs/program-format.md "Region section"): names,
// the per-queue lookup, the container round trip, and damaged region sections as clean errors.
#include "tspsim/common/error.h"
#include "tspsim/program/program.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace tsp;

namespace {

ProgramRegions two_regions() {
  ProgramRegions r;
  r.regions = {{"layer 0", RegionCategory::norms}, {"head", RegionCategory::matrix}};
  // Queue 3: region 0 from cycle 5, none from 9, region 1 from 12; queue 7: region 1 from 0.
  r.runs = {{3, 5, 0}, {3, 9, RegionRun::kNoRegion}, {3, 12, 1}, {7, 0, 1}};
  return r;
}

Program with_regions(const ProgramRegions& regions) {
  Program p;
  p.fingerprint = 42;
  p.queues.push_back({3, {0}, {}});
  p.regions = regions;
  return p;
}

void put_varint(std::vector<uint8_t>& b, uint64_t v) {
  for (; v >= 0x80; v >>= 7) b.push_back(static_cast<uint8_t>(v | 0x80));
  b.push_back(static_cast<uint8_t>(v));
}

void put_le(std::vector<uint8_t>& b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// The regions' names as both encodings start them: a u32 count, each name a u32 length and bytes.
std::vector<uint8_t> names_payload(const ProgramRegions& r) {
  std::vector<uint8_t> p;
  put_le(p, r.regions.size(), 4);
  for (const auto& region : r.regions) {
    const std::string name = region.name();
    put_le(p, name.size(), 4);
    p.insert(p.end(), name.begin(), name.end());
  }
  return p;
}

// A program without regions followed by a region section of `id` holding `payload`.
std::vector<uint8_t> with_section(uint32_t id, const std::vector<uint8_t>& payload) {
  auto bytes = serialize_program(with_regions({}));
  put_le(bytes, id, 4);
  put_le(bytes, payload.size(), 8);
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

void require_error(const std::vector<uint8_t>& bytes, const std::string& message) {
  try {
    deserialize_program(bytes, "x.bin");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()) == message);
  }
}

} // namespace

TEST_CASE("a region is named '<group> / <category>' and parsed back") {
  const Region r{"layer 12", RegionCategory::norms};
  CHECK(r.name() == "layer 12 / norms+activations");
  CHECK(parse_region(r.name()) == r);
  CHECK(parse_region("a / b / hand-off") == Region{"a / b", RegionCategory::handoff});
  CHECK_FALSE(parse_region("layer 0 / softmax"));
  CHECK_FALSE(parse_region(" / matrix"));
  CHECK_FALSE(parse_region("matrix"));
}

TEST_CASE("RegionLookup finds the run that covers a queue's dispatch cycle") {
  const ProgramRegions r = two_regions();
  const RegionLookup lookup(r, 8);
  CHECK(lookup.at(3, 4) == RegionRun::kNoRegion); // before the queue's first run
  CHECK(lookup.at(3, 5) == 0);
  CHECK(lookup.at(3, 8) == 0);
  CHECK(lookup.at(3, 9) == RegionRun::kNoRegion);
  CHECK(lookup.at(3, 12) == 1);
  CHECK(lookup.at(3, 1000) == 1);
  CHECK(lookup.at(7, 0) == 1);
  CHECK(lookup.at(5, 6) == RegionRun::kNoRegion); // a queue without runs
  CHECK(lookup.at(9, 6) == RegionRun::kNoRegion); // past the floorplan's queues
}

TEST_CASE("regions round-trip through the container; a program without them keeps its old bytes") {
  const Program p = with_regions(two_regions());
  const auto bytes = serialize_program(p);
  const Program back = deserialize_program(bytes, "x.bin");
  CHECK(back.regions.regions == p.regions.regions);
  CHECK(back.regions.runs == p.regions.runs);
  CHECK(serialize_program(back) == bytes);

  Program plain = p;
  plain.regions = {};
  const auto plain_bytes = serialize_program(plain);
  // The region section is the last: a 12-byte header (id 8), a count and 2 names ("layer 0 /
  // norms+activations", "head / matrix" with their lengths), then compact runs: their count and,
  // for each, the queue after the last run's, the cycle (after the last run's in the same queue),
  // the region plus one.
  const std::vector<uint8_t> runs{4, 3, 5, 1, 0, 4, 0, 0, 3, 2, 4, 0, 2};
  const size_t section = 12 + 4 + (4 + 27) + (4 + 13) + runs.size();
  REQUIRE(bytes.size() == plain_bytes.size() + section);
  CHECK(std::equal(plain_bytes.begin(), plain_bytes.end(), bytes.begin()));
  CHECK(bytes[plain_bytes.size()] == 8);
  CHECK(std::equal(runs.begin(), runs.end(), bytes.end() - static_cast<std::ptrdiff_t>(runs.size())));
  CHECK(deserialize_program(plain_bytes, "x.bin").regions.empty());
  // Programs whose phases start at other cycles differ in each queue's first run only (runs 1 and
  // 2 are the same bytes, before the 4 of run 3, whose cycle 1000 takes 2).
  Program later = p;
  for (auto& run : later.regions.runs) run.first_cycle += 1000;
  const auto later_bytes = serialize_program(later);
  CHECK(std::equal(later_bytes.end() - 10, later_bytes.end() - 4, bytes.end() - 9));
}

TEST_CASE("region sections in the first encoding (id 6: fixed fields, absolute cycles) are still read") {
  const ProgramRegions r = two_regions();
  auto payload = names_payload(r);
  put_le(payload, r.runs.size(), 4);
  for (const auto& run : r.runs) {
    put_le(payload, run.queue, 4);
    put_le(payload, run.first_cycle, 8);
    put_le(payload, run.region, 4);
  }
  const auto bytes = with_section(6, payload);
  const Program back = deserialize_program(bytes, "x.bin");
  CHECK(back.regions.regions == r.regions);
  CHECK(back.regions.runs == r.runs);
  CHECK(serialize_program(back) == serialize_program(with_regions(r)));
  const size_t runs_at = bytes.size() - payload.size() + names_payload(r).size();
  require_error(with_section(6, {payload.begin(), payload.end() - 1}),
                "x.bin: truncated at offset " + std::to_string(runs_at) + " (region section)");
}

TEST_CASE("a damaged region section is a one-line error naming the offset") {
  ProgramRegions r = two_regions();
  r.runs[2].region = 2;
  auto bytes = serialize_program(with_regions(r));
  const size_t run2 = bytes.size() - 2 * 3;
  require_error(bytes, "x.bin: region run at offset " + std::to_string(run2) +
                           " names region 2, but there are 2 regions (region section)");

  r = two_regions();
  r.runs[1].first_cycle = 5;
  bytes = serialize_program(with_regions(r));
  require_error(bytes,
                "x.bin: region run at offset " + std::to_string(bytes.size() - 3 * 3) +
                    " (queue 3, cycle 5) is not after the previous one (queue 3, cycle 5) (region section)");

  bytes = serialize_program(with_regions(two_regions()));
  const std::string name = "head / matrix";
  const auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end()) - bytes.begin();
  std::memcpy(bytes.data() + at + 7, "matrox", 6);
  require_error(bytes, "x.bin: region 'head / matrox' at offset " + std::to_string(at - 4) +
                           " is not '<group> / <category>' with a category of matrix, attention, "
                           "norms+activations, collectives, hand-off (region section)");

  bytes = serialize_program(with_regions(two_regions()));
  bytes.resize(bytes.size() - 1);
  CHECK_THROWS_AS(deserialize_program(bytes, "x.bin"), InputError);

  // Numbers past their fields: a queue or region of more than 32 bits, a cycle past 2^64 - 1, a
  // number of more than 64 bits.
  const auto names = names_payload(two_regions());
  const auto compact = [&](const std::vector<uint64_t>& numbers) {
    auto payload = names;
    for (uint64_t n : numbers) put_varint(payload, n);
    return with_section(8, payload);
  };
  bytes = compact({1, uint64_t{1} << 32, 0, 0});
  require_error(bytes, "x.bin: region run at offset " + std::to_string(bytes.size() - 7) +
                           " names queue 4294967296 and region 0, more than 32 bits (region section)");
  bytes = compact({1, 3, 0, uint64_t{1} << 32});
  require_error(bytes, "x.bin: region run at offset " + std::to_string(bytes.size() - 7) +
                           " names queue 3 and region 4294967295, more than 32 bits (region section)");
  bytes = compact({2, 3, UINT64_MAX, 1, 0, 1, 1});
  require_error(bytes, "x.bin: region run at offset " + std::to_string(bytes.size() - 3) +
                           " starts past cycle 18446744073709551615 (region section)");
  auto payload = names;
  payload.insert(payload.end(), 10, 0xff);
  bytes = with_section(8, payload);
  require_error(bytes, "x.bin: number at offset " + std::to_string(bytes.size() - 10) +
                           " has more than 64 bits (region section)");
  // A run count the bytes cannot hold.
  bytes = compact({5, 3, 5, 1});
  require_error(bytes,
                "x.bin: truncated at offset " + std::to_string(bytes.size() - 4) + " (region section)");
}
