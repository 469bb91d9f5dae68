#include "tspsim/common/error.h"
#include "tspsim/config/config.h"
#include "tspsim/config/config_keys.h"
#include "tspsim/config/floorplan.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

using Catch::Matchers::Message;
using tsp::ChipConfig;
using tsp::InputError;
using tsp::load_config;
using tsp::parse_config;

namespace {

const std::string kConfigs = std::string(TSPSIM_SOURCE_DIR) + "/configs/";

// A small valid document to break one key at a time.
const std::string kBase = R"({
  "name": "t",
  "geometry": {"superlanes": 2, "mem_slices_per_hemisphere": 4, "mem_words_per_slice": 256},
  "streams": {"per_direction": 16}
})";

void require_error(const std::string& text, const std::string& message,
                   const std::vector<std::string>& overrides = {}) {
  REQUIRE_THROWS_MATCHES(parse_config(text, "x.json", overrides), InputError, Message(message));
}

} // namespace

TEST_CASE("14nm.json is the full first-generation chip and equals the built-in defaults") {
  const ChipConfig c = load_config(kConfigs + "14nm.json");
  CHECK(c.source == kConfigs + "14nm.json");
  CHECK(c.name == "groq-tsp-gen1-14nm");
  CHECK(c.clock_mhz == 900.0);
  CHECK(c.geometry.vector_bytes() == 320);
  CHECK(c.geometry.mem_slices() == 88);
  CHECK(c.geometry.words_per_bank() == 4096);
  CHECK(c.geometry.sram_bytes() == 220ull * 1024 * 1024);
  CHECK(c.geometry.mxm_planes() == 4);
  CHECK(c.streams.per_direction == 32);
  CHECK(c.c2c.links == 16);
  CHECK(c.c2c.gbps_per_lane == 30.0);
  CHECK(c.timing[tsp::isa::TimingParam::c2c_link] == 216);
  CHECK(c.timing[tsp::isa::TimingParam::mxm_result] == 24);
  CHECK(tsp::Floorplan(c.geometry, c.icu).queues().size() == 144);
  CHECK(tsp::config_to_json(c) == tsp::config_to_json(ChipConfig{}));
}

TEST_CASE("14nm.json spells out every key of the schema") {
  std::ifstream in(kConfigs + "14nm.json");
  const auto file = nlohmann::json::parse(in);
  const auto schema = tsp::config_to_json(ChipConfig{});
  for (const auto& section : schema.items()) {
    REQUIRE(file.contains(section.key()));
    if (section.value().is_object())
      for (const auto& key : section.value().items()) CHECK(file[section.key()].contains(key.key()));
  }
  CHECK(file["timing"].size() == tsp::isa::timing_params().size());
}

TEST_CASE("tiny.json loads") {
  const ChipConfig c = load_config(kConfigs + "tiny.json");
  CHECK(c.geometry.vector_bytes() == 32);
  CHECK(c.geometry.mem_slices() == 8);
  CHECK(c.geometry.mem_words_per_slice == 256);
  CHECK(c.geometry.mxm_planes() == 2);
  CHECK(c.streams.per_direction == 16);
  CHECK(c.mxm.accumulators == 64);
  // 8 MEM + 2 x 2 SXM + 2 planes x 2 MXM + 2 VXM
  CHECK(tsp::Floorplan(c.geometry, c.icu).queues().size() == 18);
  for (const auto& p : tsp::isa::timing_params()) CHECK(c.timing[p.id] == p.default_14nm);
}

TEST_CASE("missing keys take the defaults") {
  const ChipConfig c = parse_config("{}", "empty.json");
  CHECK(tsp::config_to_json(c) == tsp::config_to_json(ChipConfig{}));
  CHECK(c.source == "empty.json");
}

TEST_CASE("missing config file") {
  REQUIRE_THROWS_MATCHES(load_config("/nonexistent/chip.json"), InputError,
                         Message("cannot open config file '/nonexistent/chip.json'"));
}

TEST_CASE("invalid JSON names the file, line and column") {
  require_error(
      "{\n  \"name\": \"a\",\n  oops\n}",
      "x.json: invalid JSON: parse error at line 3, column 3: syntax error while parsing object key - "
      "invalid literal; last read: '\"a\",<U+000A>  o'; expected string literal");
}

TEST_CASE("a key given twice is refused, named with its path") {
  require_error(R"({"name": "a", "name": "b"})", "x.json: duplicate key 'name'");
  require_error(R"({"geometry": {"superlanes": 2, "lanes_per_superlane": 16, "superlanes": 4}})",
                "x.json: duplicate key 'geometry.superlanes'");
  // The same key in two different objects is not a duplicate.
  CHECK(parse_config(R"({"geometry": {"superlanes": 20}, "streams": {"per_direction": 32}})", "x.json")
            .geometry.superlanes == 20);
}

TEST_CASE("a directory as the config file is named as one") {
  REQUIRE_THROWS_MATCHES(load_config(kConfigs), InputError,
                         Message("cannot open config file '" + kConfigs + "': is a directory"));
}

TEST_CASE("the top level must be an object") {
  require_error("[1, 2]", "x.json: expected a JSON object at the top level");
}

TEST_CASE("unknown key at the top level") {
  require_error(R"({"colour": "red"})", "x.json: colour: unknown key");
}

TEST_CASE("unknown nested key") {
  require_error(R"({"geometry": {"superlane": 2}})", "x.json: geometry.superlane: unknown key");
  require_error(R"({"timing": {"mem_read_fun": 2}})", "x.json: timing.mem_read_fun: unknown key");
}

TEST_CASE("wrong types") {
  require_error(R"({"geometry": {"superlanes": "abc"}})",
                "x.json: geometry.superlanes: expected a positive integer, got \"abc\"");
  require_error(R"({"geometry": {"superlanes": 2.5}})",
                "x.json: geometry.superlanes: expected a positive integer, got 2.5");
  require_error(R"({"streams": {"superlane_stagger_cycles": -1}})",
                "x.json: streams.superlane_stagger_cycles: expected a non-negative integer, got -1");
  require_error(R"({"c2c": {"loopback": 1}})", "x.json: c2c.loopback: expected true or false, got 1");
  require_error(R"({"clock_mhz": "fast"})", "x.json: clock_mhz: expected a positive number, got \"fast\"");
  require_error(R"({"clock_mhz": 0})", "x.json: clock_mhz: expected a positive number, got 0");
  require_error(R"({"name": ""})", "x.json: name: expected a non-empty string, got \"\"");
  require_error(R"({"icu": [1]})", "x.json: icu: expected an object, got [1]");
  require_error(R"({"timing": {"vxm_fp_mul": true}})",
                "x.json: timing.vxm_fp_mul: expected a non-negative integer, got true");
}

TEST_CASE("values out of range") {
  require_error(R"({"geometry": {"superlanes": 25}})",
                "x.json: geometry.superlanes: expected 1..24 (Select's superlane mask has 24 bits), got 25");
  require_error(R"({"geometry": {"superlanes": 0}})",
                "x.json: geometry.superlanes: expected 1..24 (Select's superlane mask has 24 bits), got 0");
  require_error(
      R"({"geometry": {"mem_slices_per_hemisphere": 128}})",
      "x.json: geometry.mem_slices_per_hemisphere: expected 1..127 (the MEM slice field has 7 index "
      "bits), got 128");
  require_error(
      R"({"geometry": {"mem_words_per_slice": 16777218}})",
      "x.json: geometry.mem_words_per_slice: expected 1..16777216 (addresses have 24 bits), got 16777218");
  require_error(R"({"geometry": {"mxm_planes_per_hemisphere": 9}})",
                "x.json: geometry.mxm_planes_per_hemisphere: expected 1..8, got 9");
  const std::string hop_bound =
      "expected 1..64 (a sanity bound: the simulator keeps a slot per stream for each "
      "cycle of a value's crossing (positions x hop_cycles), and the 14 nm chip moves a "
      "value one position per cycle), got ";
  require_error(R"({"streams": {"hop_cycles": 0}})", "x.json: streams.hop_cycles: " + hop_bound + "0");
  // The stream registers grew with hop_cycles: 20000 took gigabytes before it was refused.
  require_error(R"({"streams": {"hop_cycles": 20000}})",
                "x.json: streams.hop_cycles: " + hop_bound + "20000");
  require_error(R"({"icu": {"vxm_queues": 4294967296}})",
                "x.json: icu.vxm_queues: expected 1..256 (a sanity bound: the 14 nm chip has at most 16 per "
                "slice), got 4294967296");
  require_error(
      R"({"icu": {"sxm_queues_per_hemisphere": 257}})",
      "x.json: icu.sxm_queues_per_hemisphere: expected 1..256 (a sanity bound: the 14 nm chip has at "
      "most 16 per slice), got 257");
  require_error(R"({"mxm": {"weight_streams": 32}})",
                "x.json: mxm.weight_streams: expected 16 (the ISA's LW reads a 16-stream group), got 32");
  require_error(
      R"({"mxm": {"accumulators": 65537}})",
      "x.json: mxm.accumulators: expected 1..65536 (the ABC and ACC acc field has 16 bits), got 65537");
  require_error(R"({"c2c": {"links": 256}})",
                "x.json: c2c.links: expected 0..255 (the link field has 8 bits), got 256");
  require_error(R"({"streams": {"per_direction": 80}})",
                "x.json: streams.per_direction: expected 1..64 (the stream field has 6 id bits), got 80");
}

TEST_CASE("inconsistent geometry") {
  require_error(
      R"({"geometry": {"mem_words_per_slice": 8191}})",
      "x.json: geometry.mem_words_per_slice: expected a multiple of geometry.mem_banks_per_slice (2), got "
      "8191");
  require_error(R"({"geometry": {"sram_bytes": 230000000}})",
                "x.json: geometry.sram_bytes: expected 2 x mem_slices_per_hemisphere x mem_words_per_slice x "
                "vector_bytes = 2 x 44 x 8192 x 320 = 230686720, got 230000000");
  require_error(R"({"streams": {"per_direction": 24}})",
                "x.json: streams.per_direction: expected a multiple of 16 (LW and Transpose use 16-stream "
                "groups), got 24");
  require_error(
      R"({"geometry": {"lanes_per_superlane": 32}})",
      "x.json: geometry.lanes_per_superlane: expected superlanes x lanes_per_superlane <= 512 bytes per "
      "vector, got 20 x 32 = 640");
  CHECK(parse_config(R"({"geometry": {"sram_bytes": 230686720}})", "x.json").geometry.sram_bytes() ==
        230686720);
}

TEST_CASE("a result cannot come before its operands are read") {
  require_error(R"({"timing": {"mem_read_skew": 2}})",
                "x.json: timing.mem_read_func: expected more than timing.mem_read_skew (2), got 2");
  require_error(R"({"timing": {"vxm_skew": 1}})",
                "x.json: timing.vxm_move: expected more than timing.vxm_skew (1), got 1");
  require_error(R"({"timing": {"sxm_transpose": 0}})",
                "x.json: timing.sxm_transpose: expected more than timing.sxm_skew (0), got 0");
  require_error(R"({"timing": {"mxm_result": 0}})", "x.json: timing.mxm_result: expected at least 1, got 0");
  require_error(R"({"timing": {"icu_ifetch": 0}})", "x.json: timing.icu_ifetch: expected at least 1, got 0");
  require_error(R"({"timing": {"mxm_iw_func": 0}})",
                "x.json: timing.mxm_iw_func: expected at least 1, got 0");
}

TEST_CASE("overrides (--set) are applied before validation") {
  const ChipConfig c =
      load_config(kConfigs + "14nm.json", {"geometry.superlanes=4", "name=my chip", "c2c.loopback=false",
                                           "timing.c2c_link=300", "clock_mhz=1000.5", "name=\"quoted\""});
  CHECK(c.geometry.superlanes == 4);
  CHECK(c.geometry.vector_bytes() == 64);
  CHECK(c.name == "quoted");
  CHECK_FALSE(c.c2c.loopback);
  CHECK(c.timing[tsp::isa::TimingParam::c2c_link] == 300);
  CHECK(c.clock_mhz == 1000.5);
  // Keys absent from the text are created.
  CHECK(parse_config("{}", "x.json", {"mxm.accumulators=7"}).mxm.accumulators == 7);
  CHECK(parse_config("{}", "x.json", {"name=bare words"}).name == "bare words");
}

TEST_CASE("override (--set) of an unknown key") {
  require_error(kBase, "--set geometry.foo: unknown key", {"geometry.foo=1"});
  require_error(kBase, "--set geometry.superlanes.x: unknown key", {"geometry.superlanes.x=1"});
  require_error(kBase, "--set colour: unknown key", {"colour=red"});
  require_error(kBase, "--set geometry.superlanes: expected key.path=value", {"geometry.superlanes"});
}

TEST_CASE("override (--set) of a section sets the keys it names and no other") {
  // tiny.json differs from the defaults, so a reset section would show.
  const auto base = load_config(kConfigs + "tiny.json");
  const auto c = load_config(kConfigs + "tiny.json", {R"(streams={"hop_cycles": 2})"});
  REQUIRE(base.streams.per_direction != ChipConfig().streams.per_direction);
  CHECK(c.streams.hop_cycles == 2);
  CHECK(c.streams.per_direction == base.streams.per_direction);
  CHECK(c.geometry.superlanes == base.geometry.superlanes);
  require_error(kBase, "--set geometry: {} sets no key (a section's value sets only the keys it names)",
                {"geometry={}"});
  require_error(kBase,
                "--set geometry: is a section: expected a JSON object of its keys, or geometry.KEY=VALUE",
                {"geometry=4"});
  require_error(kBase, "--set geometry.superlane: unknown key", {R"(geometry={"superlane": 4})"});
}

TEST_CASE("override (--set) with a bad value uses the same validation") {
  require_error(kBase, "--set geometry.superlanes: expected a positive integer, got \"abc\"",
                {"geometry.superlanes=abc"});
  require_error(kBase, "--set c2c.loopback: expected true or false, got \"yes\"", {"c2c.loopback=yes"});
  require_error(kBase, "--set timing.mem_read_func: expected more than timing.mem_read_skew (0), got 0",
                {"timing.mem_read_func=0"});
  // The cross-check reports the key that is wrong, in the file it came from.
  require_error(kBase,
                "x.json: geometry.mem_words_per_slice: expected a multiple of geometry.mem_banks_per_slice "
                "(3), got 256",
                {"geometry.mem_banks_per_slice=3"});
}

TEST_CASE("override (--set) of a geometry key sets aside the file's sram_bytes, which described the file's "
          "geometry") {
  CHECK(load_config(kConfigs + "14nm.json", {"geometry.mem_slices_per_hemisphere=4"}).geometry.sram_bytes() ==
        2ull * 4 * 8192 * 320);
  REQUIRE_THROWS_MATCHES(
      load_config(kConfigs + "14nm.json", {"geometry.superlanes=4", "geometry.sram_bytes=1"}), InputError,
      Message("--set geometry.sram_bytes: expected 2 x mem_slices_per_hemisphere x "
              "mem_words_per_slice x vector_bytes = 2 x 44 x 8192 x 64 = 46137344, got 1"));
}

TEST_CASE("config_to_json round-trips through parse_config") {
  for (const char* file : {"14nm.json", "tiny.json"}) {
    const ChipConfig c = load_config(kConfigs + file);
    const auto text = tsp::config_to_json(c).dump();
    const ChipConfig back = parse_config(text, "dump");
    CHECK(tsp::config_to_json(back) == tsp::config_to_json(c));
    CHECK(back.timing.cycles == c.timing.cycles);
  }
  // Every key away from its default, so a key dropped by config_to_json would be noticed.
  ChipConfig c;
  c.name = "other";
  c.clock_mhz = 1234.5678;
  c.geometry = {3, 8, 5, 1000, 4, 2, 1, 4};
  c.streams = {48, 2, 0};
  c.icu = {5, 4, 7, 99};
  c.mxm = {16, 333, 2};
  c.c2c = {7, 100, false, 28.125, 2};
  for (auto& v : c.timing.cycles) v += 7;
  const ChipConfig back = parse_config(tsp::config_to_json(c).dump(), "dump");
  CHECK(back.name == "other");
  CHECK(back.clock_mhz == 1234.5678);
  CHECK(back.geometry.superlanes == 3);
  CHECK(back.geometry.lanes_per_superlane == 8);
  CHECK(back.geometry.mem_slices_per_hemisphere == 5);
  CHECK(back.geometry.mem_words_per_slice == 1000);
  CHECK(back.geometry.mem_banks_per_slice == 4);
  CHECK(back.geometry.mem_ports_per_bank == 2);
  CHECK(back.geometry.mxm_planes_per_hemisphere == 1);
  CHECK(back.geometry.vxm_alus_per_lane == 4);
  CHECK(back.streams.per_direction == 48);
  CHECK(back.streams.hop_cycles == 2);
  CHECK(back.streams.superlane_stagger_cycles == 0);
  CHECK(back.icu.sxm_queues_per_hemisphere == 5);
  CHECK(back.icu.mxm_queues_per_plane == 4);
  CHECK(back.icu.vxm_queues == 7);
  CHECK(back.icu.instruction_buffer_entries == 99);
  CHECK(back.mxm.accumulators == 333);
  CHECK(back.mxm.float_activation_interval == 2);
  CHECK(back.c2c.links == 7);
  CHECK(back.c2c.hac_period_cycles == 100);
  CHECK_FALSE(back.c2c.loopback);
  CHECK(back.c2c.gbps_per_lane == 28.125);
  CHECK(back.c2c.lanes_per_link == 2);
  CHECK(back.timing.cycles == c.timing.cycles);
  CHECK(tsp::config_to_json(back) == tsp::config_to_json(c));
}

TEST_CASE("geometry_fingerprint covers what fixes the program (the link rate in cycles per vector too), and "
          "nothing else") {
  const ChipConfig base;
  const uint64_t fp = tsp::geometry_fingerprint(base);
  CHECK(tsp::geometry_fingerprint(base) == fp);
  CHECK(tsp::geometry_fingerprint(load_config(kConfigs + "14nm.json")) == fp);
  CHECK(tsp::geometry_fingerprint(load_config(kConfigs + "tiny.json")) != fp);

  std::vector<std::function<void(ChipConfig&)>> changes = {
      [](ChipConfig& c) { c.geometry.superlanes++; },
      [](ChipConfig& c) { c.geometry.lanes_per_superlane++; },
      [](ChipConfig& c) { c.geometry.mem_slices_per_hemisphere++; },
      [](ChipConfig& c) { c.geometry.mem_words_per_slice++; },
      [](ChipConfig& c) { c.geometry.mem_banks_per_slice++; },
      [](ChipConfig& c) { c.geometry.mem_ports_per_bank++; },
      [](ChipConfig& c) { c.geometry.mxm_planes_per_hemisphere++; },
      [](ChipConfig& c) { c.geometry.vxm_alus_per_lane++; },
      [](ChipConfig& c) { c.streams.per_direction++; },
      [](ChipConfig& c) { c.streams.hop_cycles++; },
      [](ChipConfig& c) { c.streams.superlane_stagger_cycles++; },
      [](ChipConfig& c) { c.icu.sxm_queues_per_hemisphere++; },
      [](ChipConfig& c) { c.icu.mxm_queues_per_plane++; },
      [](ChipConfig& c) { c.icu.vxm_queues++; },
      [](ChipConfig& c) { c.icu.instruction_buffer_entries++; },
      [](ChipConfig& c) { c.mxm.weight_streams++; },
      [](ChipConfig& c) { c.mxm.accumulators++; },
      [](ChipConfig& c) { c.mxm.float_activation_interval++; },
      [](ChipConfig& c) { c.c2c.links++; },
      [](ChipConfig& c) { c.c2c.hac_period_cycles++; },
      [](ChipConfig& c) { c.c2c.loopback = !c.c2c.loopback; },
  };
  for (size_t i = 0; i < tsp::isa::timing_params().size(); ++i)
    changes.push_back([i](ChipConfig& c) { c.timing.cycles[i]++; });

  std::set<uint64_t> seen{fp};
  for (const auto& change : changes) {
    ChipConfig c;
    change(c);
    seen.insert(tsp::geometry_fingerprint(c));
  }
  CHECK(seen.size() == changes.size() + 1);

  // The schedule depends on the link rate through the cycles a vector holds a link (20 on 14 nm):
  // the clock, the lane rate and the lanes count when they change it, and only then.
  std::vector<std::pair<std::function<void(ChipConfig&)>, uint32_t>> rates = {
      {[](ChipConfig& c) { c.clock_mhz = 1000; }, 22},       // 21.3 ns at 1 GHz
      {[](ChipConfig& c) { c.c2c.gbps_per_lane = 60; }, 10}, // twice the rate
      {[](ChipConfig& c) { c.c2c.lanes_per_link = 8; }, 10},
  };
  for (const auto& [change, cycles] : rates) {
    ChipConfig c;
    change(c);
    CHECK(tsp::c2c_vector_cycles(c) == cycles);
    CHECK(tsp::geometry_fingerprint(c) != fp);
    CHECK(tsp::c2c_cycles_of_fingerprint(base, tsp::geometry_fingerprint(c)) == cycles);
  }
  CHECK(tsp::c2c_cycles_of_fingerprint(base, fp) == 20u);
  CHECK_FALSE(
      tsp::c2c_cycles_of_fingerprint(base, tsp::geometry_fingerprint(load_config(kConfigs + "tiny.json"))));

  ChipConfig cosmetic;
  cosmetic.name = "renamed";
  cosmetic.c2c.gbps_per_lane = 29; // 2560 bits / 116 Gb/s = 19.9 cycles: still 20
  cosmetic.source = "elsewhere.json";
  CHECK(tsp::c2c_vector_cycles(cosmetic) == 20);
  CHECK(tsp::geometry_fingerprint(cosmetic) == fp);
  CHECK(tsp::c2c_rate_text(base) == "20 cycles per vector (4 lanes x 30 Gb/s at 900 MHz)");
}

TEST_CASE("the key table names exactly the keys the configuration has") {
  const auto schema = tsp::config_to_json(ChipConfig{});
  std::vector<std::string> written, tabled;
  for (const auto& item : schema.items()) {
    if (!item.value().is_object())
      written.push_back(item.key());
    else if (item.key() != "timing")
      for (const auto& key : item.value().items()) written.push_back(item.key() + "." + key.key());
  }
  for (const auto& k : tsp::config_keys())
    tabled.push_back(k.section.empty() ? std::string(k.key)
                                       : std::string(k.section) + "." + std::string(k.key));
  std::sort(written.begin(), written.end());
  std::sort(tabled.begin(), tabled.end());
  CHECK(tabled == written);
  CHECK(tsp::config_sections() ==
        std::vector<std::string>{"geometry", "streams", "icu", "mxm", "c2c", "timing"});
}

TEST_CASE("docs/config.md documents every key of the schema") {
  std::ifstream in(std::string(TSPSIM_SOURCE_DIR) + "/docs/config.md");
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE_FALSE(doc.empty());
  const auto schema = tsp::config_to_json(ChipConfig{});
  for (const auto& section : schema.items()) {
    if (!section.value().is_object()) {
      CHECK(doc.find("| `" + section.key() + "` |") != std::string::npos);
      continue;
    }
    // Timing rows spell the full path; the other sections have one table each.
    for (const auto& key : section.value().items()) {
      const std::string row =
          section.key() == "timing" ? "| `timing." + key.key() + "` |" : "| `" + key.key() + "` |";
      INFO(section.key() << "." << key.key());
      CHECK(doc.find(row) != std::string::npos);
    }
  }
}

TEST_CASE("a link rate and clock whose vector would take past 2^24 cycles are refused") {
  // 1e-9 Gb/s wrapped around 32 bits (a prediction below its own bound); 1e-300 Gb/s and a clock
  // of 1e308 MHz made links free.
  require_error(
      R"({"c2c": {"gbps_per_lane": 1e-9}})",
      "x.json: c2c.gbps_per_lane: a vector of 320 bytes would take 576000000000 cycles on a link (4 "
      "lanes x 1e-09 Gb/s at 900 MHz); expected at most 16777216");
  require_error(
      R"({"clock_mhz": 1e308})",
      "x.json: c2c.gbps_per_lane: a vector of 320 bytes would take inf cycles on a link (4 lanes x 30 "
      "Gb/s at 1e+308 MHz); expected at most 16777216");
  require_error(
      kBase,
      "--set c2c.gbps_per_lane: a vector of 32 bytes would take 576000000 cycles on a link (4 lanes x "
      "1e-07 Gb/s at 900 MHz); expected at most 16777216",
      {"c2c.gbps_per_lane=1e-7"});
}
