// System descriptions (docs/systems.md): the bundled systems' structure checked by independent
// graph walks, every generator, each bad-input class with its exact message, and the fingerprint.
#include "tspsim/common/error.h"
#include "tspsim/config/system.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <map>
#include <queue>
#include <set>

using namespace tsp;

namespace {

const std::string kSystems = TSPSIM_SOURCE_DIR "/configs/systems";
const std::string kConfigs = TSPSIM_SOURCE_DIR "/configs";

SystemConfig bundled(const std::string& name) { return load_system(kSystems + "/" + name); }

// Parses `text` as if it were configs/systems/sys.json.
SystemConfig parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return parse_system(text, "sys.json", kSystems, overrides);
}

// Neighbour lists built from the cable list alone.
std::vector<std::vector<uint32_t>> adjacency(const SystemConfig& system) {
  std::vector<std::vector<uint32_t>> next(system.chips());
  for (const auto& c : system.cables) {
    next[c.a.chip].push_back(c.b.chip);
    next[c.b.chip].push_back(c.a.chip);
  }
  return next;
}

// Largest hop count from `from` to any chip (every chip must be reachable).
uint32_t eccentricity(const std::vector<std::vector<uint32_t>>& next, uint32_t from) {
  std::vector<int64_t> hops(next.size(), -1);
  std::queue<uint32_t> frontier; // breadth first: chips reached, not yet expanded
  hops[from] = 0;
  frontier.push(from);
  int64_t far = 0;
  while (!frontier.empty()) {
    const uint32_t chip = frontier.front();
    frontier.pop();
    far = std::max(far, hops[chip]);
    for (uint32_t n : next[chip])
      if (hops[n] < 0) {
        hops[n] = hops[chip] + 1;
        frontier.push(n);
      }
  }
  REQUIRE(std::count(hops.begin(), hops.end(), -1) == 0);
  return static_cast<uint32_t>(far);
}

uint32_t diameter(const SystemConfig& system) {
  const auto next = adjacency(system);
  uint32_t d = 0;
  for (uint32_t chip = 0; chip < system.chips(); ++chip) d = std::max(d, eccentricity(next, chip));
  return d;
}

// Links in use per chip, and a check that no link end appears twice.
std::vector<std::set<uint32_t>> links_used(const SystemConfig& system) {
  std::vector<std::set<uint32_t>> used(system.chips());
  for (const auto& c : system.cables)
    for (const LinkEnd& end : {c.a, c.b}) REQUIRE(used[end.chip].insert(end.link).second);
  return used;
}

std::map<std::pair<uint32_t, uint32_t>, int> cables_between(const SystemConfig& system, uint32_t group) {
  std::map<std::pair<uint32_t, uint32_t>, int> count;
  for (const auto& c : system.cables) {
    const uint32_t a = c.a.chip / group, b = c.b.chip / group;
    if (a != b) ++count[std::minmax(a, b)];
  }
  return count;
}

void require_error(const std::string& text, const std::string& message) {
  REQUIRE_THROWS_MATCHES(parse(text), InputError, Catch::Message(message));
}

} // namespace

TEST_CASE("two_chips: two 14 nm chips joined by links 0 and 1") {
  const auto system = bundled("two_chips.json");
  REQUIRE(system.name == "two_chips");
  REQUIRE(system.chips() == 2);
  REQUIRE(system.configs.size() == 1);
  REQUIRE(system.configs[0].c2c.links == 16);
  REQUIRE(system.cables.size() == 2);
  const auto table = link_table(system);
  REQUIRE(table[0][0] == LinkEnd{1, 0});
  REQUIRE(table[1][0] == LinkEnd{0, 0});
  REQUIRE(table[0][1] == LinkEnd{1, 1});
  REQUIRE(table[1][1] == LinkEnd{0, 1});
  REQUIRE_FALSE(table[0][2].has_value());
}

TEST_CASE("node8: every pair of chips connected exactly once, on links 0..6") {
  const auto system = bundled("node8.json");
  REQUIRE(system.chips() == 8);
  REQUIRE(system.cables.size() == 28);
  std::map<std::pair<uint32_t, uint32_t>, int> pairs;
  for (const auto& c : system.cables) ++pairs[std::minmax(c.a.chip, c.b.chip)];
  REQUIRE(pairs.size() == 28);
  for (const auto& [pair, n] : pairs) {
    REQUIRE(pair.first != pair.second);
    REQUIRE(n == 1);
  }
  for (const auto& used : links_used(system)) REQUIRE(used == std::set<uint32_t>{0, 1, 2, 3, 4, 5, 6});
  REQUIRE(diameter(system) == 1);
}

TEST_CASE("node8.json lists the same wiring as the node generator") {
  const auto listed = bundled("node8.json");
  const auto generated =
      parse(R"({"chips": [{"config": "../14nm.json", "count": 8}], "topology": {"kind": "node"}})");
  REQUIRE(system_fingerprint(listed) == system_fingerprint(generated));
  REQUIRE(generated.name == "sys");
}

TEST_CASE("rack72: 9 nodes, two cables between every pair of nodes, diameter 3") {
  const auto system = bundled("rack72.json");
  REQUIRE(system.chips() == 72);
  // 9 nodes x 28 local cables + 36 node pairs x 2.
  REQUIRE(system.cables.size() == 9 * 28 + 36 * 2);
  for (const auto& used : links_used(system)) REQUIRE(used == std::set<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
  const auto nodes = cables_between(system, 8);
  REQUIRE(nodes.size() == 36);
  for (const auto& [pair, n] : nodes) REQUIRE(n == 2);
  // A chip reaches any other node's chips through the chip of its node wired there: local, rack, local.
  REQUIRE(diameter(system) == 3);
}

TEST_CASE("dragonfly145: 10,440 chips, one cable between every pair of racks") {
  const auto system = bundled("dragonfly145.json");
  REQUIRE(system.chips() == 10440);
  REQUIRE(system.configs.size() == 1);
  const auto used = links_used(system);
  for (const auto& links : used) {
    REQUIRE(links.size() <= 16);
    REQUIRE(links == std::set<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  }
  const auto racks = cables_between(system, 72);
  REQUIRE(racks.size() == 145 * 144 / 2);
  for (const auto& [pair, n] : racks) REQUIRE(n == 1);
  // Local, rack, local to the chip holding the port, the inter-rack cable, then the same again:
  // at most 7 hops, and chip 0 needs all 7 for some chip.
  REQUIRE(eccentricity(adjacency(system), 0) == 7);
}

TEST_CASE("dragonfly8: 576 chips, 20 cables between every pair of racks") {
  const auto system = bundled("dragonfly8.json");
  REQUIRE(system.chips() == 576);
  const auto racks = cables_between(system, 72);
  REQUIRE(racks.size() == 28);
  for (const auto& [pair, n] : racks) REQUIRE(n == 20);
  // 144 - 7 x 20 = 4 inter-rack ports of each rack stay free.
  size_t global = 0;
  for (const auto& links : links_used(system)) global += links.count(9) + links.count(10);
  REQUIRE(global == 8 * (144 - 4));
}

TEST_CASE("dragonfly2: 144 chips, every inter-rack port cabled to the other rack") {
  const auto system = bundled("dragonfly2.json");
  REQUIRE(system.chips() == 144);
  const auto racks = cables_between(system, 72);
  REQUIRE(racks.size() == 1);
  for (const auto& [pair, n] : racks) REQUIRE(n == 144);
  for (const auto& links : links_used(system))
    REQUIRE(links == std::set<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("dragonfly with 3 racks: the 144 inter-rack ports split evenly, diameter at most 7") {
  const auto system = parse(
      R"({"chips": [{"config": "../14nm.json", "count": 216}], "topology": {"kind": "dragonfly", "racks": 3}})");
  const auto racks = cables_between(system, 72);
  REQUIRE(racks.size() == 3);
  for (const auto& [pair, n] : racks) REQUIRE(n == 72);
  REQUIRE(system.cables.size() == 3 * (9 * 28 + 36 * 2) + 3 * 72);
  REQUIRE(diameter(system) <= 7);
  REQUIRE(diameter(system) >= 3);
}

TEST_CASE("dragonfly with 1 rack is the rack") {
  const auto one = parse(
      R"({"chips": [{"config": "../14nm.json", "count": 72}], "topology": {"kind": "dragonfly", "racks": 1}})");
  REQUIRE(system_fingerprint(one) == system_fingerprint(bundled("rack72.json")));
}

TEST_CASE("chip groups: each distinct config file is read once") {
  const auto system = parse(R"({"chips": [{"config": "../tiny.json", "count": 3}, {"config": "../14nm.json"},
                                          {"config": "../tiny.json"}],
                                "cables": [[[0, 3], [3, 15]], [[4, 0], [1, 1]]]})");
  REQUIRE(system.chips() == 5);
  REQUIRE(system.configs.size() == 2);
  REQUIRE(system.chip_config == std::vector<uint32_t>{0, 0, 0, 1, 0});
  REQUIRE(system.config_of(3).name == "groq-tsp-gen1-14nm");
  REQUIRE(system.config_of(4).name == "tiny");
  REQUIRE(system.cables.size() == 2);
}

TEST_CASE("the fingerprint covers chip geometry and wiring, not the order cables are listed in") {
  const std::string chips = R"("chips": [{"config": "../14nm.json", "count": 3}])";
  const auto a = parse("{" + chips + R"(, "cables": [[[0, 0], [1, 0]], [[1, 1], [2, 0]]]})");
  const auto reordered = parse("{" + chips + R"(, "cables": [[[2, 0], [1, 1]], [[1, 0], [0, 0]]]})");
  const auto rewired = parse("{" + chips + R"(, "cables": [[[0, 0], [1, 0]], [[1, 2], [2, 0]]]})");
  const auto tiny = parse(R"({"chips": [{"config": "../14nm.json", "count": 2}, {"config": "../tiny.json"}],
                              "cables": [[[0, 0], [1, 0]], [[1, 1], [2, 0]]]})");
  REQUIRE(system_fingerprint(a) == system_fingerprint(reordered));
  REQUIRE(system_fingerprint(a) != system_fingerprint(rewired));
  REQUIRE(system_fingerprint(a) != system_fingerprint(tiny));
  REQUIRE(system_fingerprint(a) == system_fingerprint(parse("{" + chips + R"(, "name": "other",
      "cables": [[[0, 0], [1, 0]], [[1, 1], [2, 0]]]})")));
}

TEST_CASE("chip overrides apply to every chip config") {
  const auto system = load_system(kSystems + "/two_chips.json", {"c2c.links=2"});
  REQUIRE(system.config_of(1).c2c.links == 2);
  REQUIRE_THROWS_MATCHES(
      load_system(kSystems + "/node8.json", {"c2c.links=4"}), InputError,
      Catch::Message(kSystems + "/node8.json: cables[4][0]: link 4 of chip 0 is out of range (its config " +
                     kConfigs + "/14nm.json has c2c.links = 4)"));
}

TEST_CASE("bad system files: one line naming the file, the key and what was expected") {
  const std::string two = R"("chips": [{"config": "../14nm.json", "count": 2}])";
  require_error(
      "{" + two + ",}",
      "sys.json: invalid JSON: parse error at line 1, column 52: syntax error while parsing object key - "
      "unexpected '}'; expected string literal");
  require_error("[]", "sys.json: expected a JSON object at the top level");
  require_error(R"({"chip": []})", "sys.json: chip: unknown key (expected name, chips, cables, topology)");
  require_error("{}", R"(sys.json: chips: missing (expected an array of {"config": PATH, "count": N}))");
  require_error(R"({"chips": []})",
                R"(sys.json: chips: expected a non-empty array of {"config": PATH, "count": N}, got [])");
  require_error(
      R"({"chips": [{"count": 2}]})",
      "sys.json: chips[0].config: expected a chip config path (a string, relative to the system file)");
  require_error(R"({"chips": [{"config": "../nope.json"}]})",
                "sys.json: chips[0].config: cannot open chip config '" + kConfigs + "/nope.json'");
  require_error(R"({"chips": [{"config": "../14nm.json", "count": 0}]})",
                "sys.json: chips[0].count: expected 1..65536, got 0");
  require_error(R"({"chips": [{"config": "../14nm.json", "cnt": 2}]})",
                "sys.json: chips[0].cnt: unknown key (expected config, count, links)");
  require_error(
      R"({"chips": [{"config": "../14nm.json", "count": 2, "links": {}}]})",
      "sys.json: chips[0].links: a group of 2 chips cannot list links (give each chip its own entry, or "
      "use cables)");
  // Cables.
  require_error("{" + two + R"(, "cables": [[[0, 0], [2, 0]]]})",
                "sys.json: cables[0][1]: chip 2 is out of range (the system has 2 chips: 0..1)");
  require_error("{" + two + R"(, "cables": [[[0, 16], [1, 0]]]})",
                "sys.json: cables[0][0]: link 16 of chip 0 is out of range (its config " + kConfigs +
                    "/14nm.json has c2c.links = 16)");
  require_error("{" + two + R"(, "cables": [[[0, 0], [1, 0]], [[1, 1], [0, 0]]]})",
                "sys.json: cables[1]: link 0 of chip 0 is already connected by cables[0]");
  require_error("{" + two + R"(, "cables": [[[0, 3], [0, 3]]]})",
                "sys.json: cables[0]: connects link 3 of chip 0 to itself");
  require_error("{" + two + R"(, "cables": [[[0, 0], [1]]]})",
                "sys.json: cables[0][1]: expected [chip, link] (two non-negative integers), got [1]");
  require_error("{" + two + R"(, "cables": [[0, 0, 1, 0]]})",
                "sys.json: cables[0]: expected [[chip, link], [chip, link]], got [0,0,1,0]");
  // Per-chip link lists.
  const std::string three = R"({"chips": [{"config": "../14nm.json", "links": {"0": [1, 0]}},
                                          {"config": "../14nm.json", "links": {"0": [2, 0]}},
                                          {"config": "../14nm.json", "links": {"0": [1, 0]}}]})";
  require_error(three,
                "sys.json: chips[0].links.0: asymmetric wiring: link 0 of chip 0 goes to link 0 of chip 1, "
                "but chips[1].links.0 goes to link 0 of chip 2");
  require_error(
      R"({"chips": [{"config": "../14nm.json", "links": {"0": [1, 0]}}, {"config": "../14nm.json"}]})",
      "sys.json: chips[0].links.0: asymmetric wiring: link 0 of chip 0 goes to link 0 of chip 1, which "
      "does not list the way back");
  require_error(
      R"({"chips": [{"config": "../14nm.json", "links": {"zero": [1, 0]}}, {"config": "../14nm.json"}]})",
      "sys.json: chips[0].links.zero: expected a link number as the key");
  require_error(R"({"chips": [{"config": "../tiny.json", "links": {"1": [1, 0]}},
                              {"config": "../14nm.json", "links": {"0": [0, 1]}}],
                    "cables": [[[1, 0], [0, 2]]]})",
                "sys.json: chips[0].links.1: link 0 of chip 1 is already connected by cables[0]");
  // Generated topologies.
  require_error("{" + two + R"(, "topology": {"kind": "ring"}})",
                R"(sys.json: topology.kind: expected "node", "rack" or "dragonfly", got "ring")");
  require_error("{" + two + R"(, "topology": {"kind": "node"}})",
                "sys.json: chips: topology node has 8 chips, but chips lists 2");
  require_error("{" + two + R"(, "topology": {"kind": "node", "racks": 2}})",
                "sys.json: topology.racks: unknown key (topology node takes kind)");
  require_error(
      R"({"chips": [{"config": "../14nm.json", "count": 72}], "topology": {"kind": "dragonfly", "racks": 146}})",
      "sys.json: topology.racks: expected 1..145 (each rack has 144 inter-rack ports, one per other rack "
      "at the most), got 146");
  require_error(R"({"chips": [{"config": "../tiny.json", "count": 8}], "topology": {"kind": "node"},
                    "cables": [[[0, 6], [1, 7]]]})",
                "sys.json: cables[0]: link 6 of chip 0 is already connected by topology");
}

TEST_CASE("a generated topology needs enough links on every chip") {
  REQUIRE_THROWS_MATCHES(
      parse(R"({"chips": [{"config": "../14nm.json", "count": 72}], "topology": {"kind": "rack"}})",
            {"c2c.links=8"}),
      InputError,
      Catch::Message("sys.json: topology: link 8 of chip 0 is out of range (its config " + kConfigs +
                     "/14nm.json has c2c.links = 8)"));
}

TEST_CASE("a missing system file") {
  REQUIRE_THROWS_MATCHES(load_system("no/such.json"), InputError,
                         Catch::Message("cannot read 'no/such.json': No such file or directory"));
}
