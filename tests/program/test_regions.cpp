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
  // The region section is the last: a 12-byte header, a count and 2 names ("layer 0 /
  // norms+activations", "head / matrix" with their lengths), a count and 4 runs of 16 bytes.
  const size_t section = 12 + 4 + (4 + 27) + (4 + 13) + 4 + 4 * 16;
  REQUIRE(bytes.size() == plain_bytes.size() + section);
  CHECK(std::equal(plain_bytes.begin(), plain_bytes.end(), bytes.begin()));
  CHECK(deserialize_program(plain_bytes, "x.bin").regions.empty());
}

TEST_CASE("a damaged region section is a one-line error naming the offset") {
  ProgramRegions r = two_regions();
  r.runs[2].region = 2;
  auto bytes = serialize_program(with_regions(r));
  const size_t run2 = bytes.size() - 2 * 16;
  require_error(bytes, "x.bin: region run at offset " + std::to_string(run2) +
                           " names region 2, but there are 2 regions (region section)");

  r = two_regions();
  r.runs[1].first_cycle = 5;
  bytes = serialize_program(with_regions(r));
  require_error(bytes,
                "x.bin: region run at offset " + std::to_string(bytes.size() - 3 * 16) +
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
}
