#include "tspsim/config/config.h"
#include "tspsim/config/config_keys.h"
#include "tspsim/config/json_input.h"

#include "tspsim/common/fnv1a.h"
#include "tspsim/common/error.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>

namespace tsp {

using nlohmann::json;

ChipConfig::ChipConfig() {
  for (const auto& p : isa::timing_params()) timing.cycles[static_cast<size_t>(p.id)] = p.default_14nm;
}

namespace {

// The most cycles a vector may take on a link (a config asking more is refused when loaded).
constexpr double kMaxLinkVectorCycles = 1 << 24;

// The cycles a vector takes on a link, at least one, as a double: a config is checked against
// kMaxLinkVectorCycles with it before c2c_vector_cycles narrows it.
double c2c_vector_cycle_quotient(const ChipConfig& config) {
  const double bits = 8.0 * config.geometry.vector_bytes();
  const double ns = bits / (config.c2c.lanes_per_link * config.c2c.gbps_per_lane);
  // The tolerance keeps an exact quotient (e.g. 20.000000000001 after rounding) from gaining a cycle.
  return std::max(1.0, std::ceil(ns * config.clock_mhz / 1000.0 - 1e-9));
}

} // namespace

namespace {

constexpr unsigned kNoMax = std::numeric_limits<unsigned>::max();

// One unsigned key of a section: the schema, the bounds and why they hold, in one row. Parsing and
// config_to_json both walk these tables, so a key cannot be read without also being written.
template <typename S> struct UnsignedField {
  const char* key;
  unsigned S::*member;
  unsigned min;
  unsigned max;
  const char* why;
};

constexpr UnsignedField<GeometryConfig> kGeometryFields[] = {
    {"superlanes", &GeometryConfig::superlanes, 1, 24, "Select's superlane mask has 24 bits"},
    {"lanes_per_superlane", &GeometryConfig::lanes_per_superlane, 1, kNoMax, ""},
    {"mem_slices_per_hemisphere", &GeometryConfig::mem_slices_per_hemisphere, 1, 127,
     "the MEM slice field has 7 index bits"},
    {"mem_words_per_slice", &GeometryConfig::mem_words_per_slice, 1, 1u << 24, "addresses have 24 bits"},
    {"mem_banks_per_slice", &GeometryConfig::mem_banks_per_slice, 1, kNoMax, ""},
    {"mem_ports_per_bank", &GeometryConfig::mem_ports_per_bank, 1, kNoMax, ""},
    {"mxm_planes_per_hemisphere", &GeometryConfig::mxm_planes_per_hemisphere, 1, 8, ""},
    {"vxm_alus_per_lane", &GeometryConfig::vxm_alus_per_lane, 1, kNoMax, ""},
};

constexpr unsigned kMaxHopCycles = 64;
constexpr UnsignedField<StreamConfig> kStreamFields[] = {
    {"per_direction", &StreamConfig::per_direction, 1, 64, "the stream field has 6 id bits"},
    {"hop_cycles", &StreamConfig::hop_cycles, 1, kMaxHopCycles,
     "a sanity bound: the simulator keeps a slot per stream for each cycle of a value's crossing (positions "
     "x "
     "hop_cycles), and the 14 nm chip moves a value one position per cycle"},
    {"superlane_stagger_cycles", &StreamConfig::superlane_stagger_cycles, 0, kNoMax, ""},
};

// Every queue has a table entry from the start, so a count in the billions would exhaust memory.
constexpr unsigned kMaxQueuesPerSlice = 256;
constexpr const char* kQueueBound = "a sanity bound: the 14 nm chip has at most 16 per slice";
constexpr UnsignedField<IcuConfig> kIcuFields[] = {
    {"sxm_queues_per_hemisphere", &IcuConfig::sxm_queues_per_hemisphere, 1, kMaxQueuesPerSlice, kQueueBound},
    {"mxm_queues_per_plane", &IcuConfig::mxm_queues_per_plane, 1, kMaxQueuesPerSlice, kQueueBound},
    {"vxm_queues", &IcuConfig::vxm_queues, 1, kMaxQueuesPerSlice, kQueueBound},
    {"instruction_buffer_entries", &IcuConfig::instruction_buffer_entries, 1, kNoMax, ""},
};

constexpr UnsignedField<MxmConfig> kMxmFields[] = {
    {"weight_streams", &MxmConfig::weight_streams, 16, 16, "the ISA's LW reads a 16-stream group"},
    {"accumulators", &MxmConfig::accumulators, 1, 65536, "the ABC and ACC acc field has 16 bits"},
    {"float_activation_interval", &MxmConfig::float_activation_interval, 1, kNoMax, ""},
};

constexpr UnsignedField<C2cConfig> kC2cFields[] = {
    {"links", &C2cConfig::links, 0, 255, "the link field has 8 bits"},
    {"hac_period_cycles", &C2cConfig::hac_period_cycles, 1, kNoMax, ""},
    {"lanes_per_link", &C2cConfig::lanes_per_link, 1, kNoMax, ""},
};

// Timing values that must come strictly after another: a result cannot be on its stream before
// the operands it is computed from have been read.
struct TimingOrder {
  isa::TimingParam later;
  isa::TimingParam earlier;
};
using T = isa::TimingParam;
constexpr TimingOrder kTimingOrder[] = {
    {T::mem_read_func, T::mem_read_skew}, {T::mem_gather_func, T::mem_gather_skew},
    {T::vxm_move, T::vxm_skew},           {T::vxm_int_add, T::vxm_skew},
    {T::vxm_int_mul, T::vxm_skew},        {T::vxm_fp_add, T::vxm_skew},
    {T::vxm_fp_mul, T::vxm_skew},         {T::vxm_convert, T::vxm_skew},
    {T::vxm_transcendental, T::vxm_skew}, {T::sxm_shift, T::sxm_skew},
    {T::sxm_permute, T::sxm_skew},        {T::sxm_transpose, T::sxm_skew},
    {T::c2c_link, T::sxm_skew},
};
// Latencies measured from an event that is not a stream read, which only need to be non-zero.
// mxm_iw_func too: new weights become active in a cycle's commit phase, which precedes dispatch,
// so an IW cannot take effect in its own dispatch cycle.
constexpr T kAtLeastOne[] = {T::mxm_acc_func, T::mxm_result, T::mxm_iw_func, T::icu_ifetch,
                             T::c2c_receive_func};

std::string_view timing_key(T p) { return isa::timing_params()[static_cast<size_t>(p)].key; }

std::string shown(const json& value) {
  // Strings from --set may hold bytes that are not UTF-8, which a plain dump() throws on.
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr size_t kLimit = 60;
  if (text.size() > kLimit) text = text.substr(0, kLimit) + "...";
  return text;
}

std::string join_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

// Where values came from: the file, or a --set override of that key or of an enclosing object.
class Origin {
public:
  Origin(std::string file, std::set<std::string> overridden)
      : file_(std::move(file)), overridden_(std::move(overridden)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    for (std::string prefix = path;;) {
      if (overridden_.count(prefix)) throw InputError(fmt::format("--set {}: {}", path, what));
      const auto dot = prefix.rfind('.');
      if (dot == std::string::npos) break;
      prefix.resize(dot);
    }
    throw InputError(fmt::format("{}: {}: {}", file_, path, what));
  }

private:
  std::string file_;
  std::set<std::string> overridden_;
};

// One JSON object of the schema. Keys not in `known` are rejected as soon as the object is opened.
class Section {
public:
  Section(const Origin& origin, const json& value, std::string path, const std::vector<std::string>& known)
      : origin_(origin), value_(value), path_(std::move(path)) {
    if (!value_.is_object()) origin_.fail(path_, "expected an object, got " + shown(value_));
    for (const auto& item : value_.items())
      if (std::find(known.begin(), known.end(), item.key()) == known.end())
        origin_.fail(join_path(path_, item.key()), "unknown key");
  }

  const json* find(std::string_view key) const {
    const auto it = value_.find(key);
    return it == value_.end() ? nullptr : &*it;
  }
  std::string path(std::string_view key) const { return join_path(path_, key); }
  [[noreturn]] void fail(std::string_view key, const std::string& what) const {
    origin_.fail(path(key), what);
  }

  void read_unsigned(std::string_view key, unsigned& out, unsigned min, unsigned max,
                     std::string_view why) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0))
      fail(key,
           fmt::format("expected a {} integer, got {}", min >= 1 ? "positive" : "non-negative", shown(*v)));
    const uint64_t n = v->get<uint64_t>();
    if (n < min || n > max) {
      std::string range = min == max      ? fmt::format("{}", min)
                          : max != kNoMax ? fmt::format("{}..{}", min, max)
                          : n < min       ? fmt::format("at least {}", min)
                                          : fmt::format("at most {}", max);
      if (!why.empty()) range += fmt::format(" ({})", why);
      fail(key, fmt::format("expected {}, got {}", range, n));
    }
    out = static_cast<unsigned>(n);
  }

  template <typename S, size_t N> void read_fields(const UnsignedField<S> (&fields)[N], S& out) const {
    for (const auto& f : fields) read_unsigned(f.key, out.*(f.member), f.min, f.max, f.why);
  }

  void read_positive_number(std::string_view key, double& out) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_number() || !(v->get<double>() > 0)) fail(key, "expected a positive number, got " + shown(*v));
    out = v->get<double>();
  }

  void read_number_within(std::string_view key, double& out, double limit) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_number() || !(std::abs(v->get<double>()) <= limit))
      fail(key, fmt::format("expected a number from -{} to {}, got {}", limit, limit, shown(*v)));
    out = v->get<double>();
  }

  void read_bool(std::string_view key, bool& out) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_boolean()) fail(key, "expected true or false, got " + shown(*v));
    out = v->get<bool>();
  }

  void read_name(std::string_view key, std::string& out) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_string() || v->get<std::string>().empty())
      fail(key, "expected a non-empty string, got " + shown(*v));
    out = v->get<std::string>();
  }

private:
  const Origin& origin_;
  const json& value_;
  std::string path_;
};

template <typename S, size_t N> json fields_to_json(const UnsignedField<S> (&fields)[N], const S& in) {
  json out = json::object();
  for (const auto& f : fields) out[f.key] = in.*(f.member);
  return out;
}

void parse_geometry(const Section& s, GeometryConfig& g) {
  s.read_fields(kGeometryFields, g);
  const uint64_t vector_bytes = uint64_t(g.superlanes) * g.lanes_per_superlane;
  if (vector_bytes > 512)
    s.fail("lanes_per_superlane",
           fmt::format("expected superlanes x lanes_per_superlane <= 512 bytes per vector, got {} x {} = {}",
                       g.superlanes, g.lanes_per_superlane, vector_bytes));
  if (g.mem_words_per_slice % g.mem_banks_per_slice != 0)
    s.fail("mem_words_per_slice",
           fmt::format("expected a multiple of geometry.mem_banks_per_slice ({}), got {}",
                       g.mem_banks_per_slice, g.mem_words_per_slice));
  if (const json* v = s.find("sram_bytes")) {
    if (!v->is_number_unsigned()) s.fail("sram_bytes", "expected a positive integer, got " + shown(*v));
    if (v->get<uint64_t>() != g.sram_bytes())
      s.fail("sram_bytes", fmt::format("expected 2 x mem_slices_per_hemisphere x mem_words_per_slice x "
                                       "vector_bytes = 2 x {} x {} x {} = {}, got {}",
                                       g.mem_slices_per_hemisphere, g.mem_words_per_slice, vector_bytes,
                                       g.sram_bytes(), v->get<uint64_t>()));
  }
}

void parse_streams(const Section& s, StreamConfig& c) {
  s.read_fields(kStreamFields, c);
  if (c.per_direction % 16 != 0)
    s.fail("per_direction",
           fmt::format("expected a multiple of 16 (LW and Transpose use 16-stream groups), got {}",
                       c.per_direction));
}

void parse_c2c(const Section& s, C2cConfig& c) {
  s.read_fields(kC2cFields, c);
  s.read_bool("loopback", c.loopback);
  s.read_positive_number("gbps_per_lane", c.gbps_per_lane);
  // Crystals are specified to tens of ppm; a thousand keeps the link conversion well inside a window.
  s.read_number_within("drift_ppm", c.drift_ppm, 1000);
}

void parse_timing(const Section& s, TimingConfig& t) {
  for (const auto& p : isa::timing_params())
    s.read_unsigned(p.key, t.cycles[static_cast<size_t>(p.id)], 0, kNoMax, "");
  for (const auto& o : kTimingOrder)
    if (t[o.later] <= t[o.earlier])
      s.fail(timing_key(o.later), fmt::format("expected more than timing.{} ({}), got {}",
                                              timing_key(o.earlier), t[o.earlier], t[o.later]));
  for (auto p : kAtLeastOne)
    if (t[p] < 1) s.fail(timing_key(p), fmt::format("expected at least 1, got {}", t[p]));
}

std::vector<std::string> timing_keys() {
  std::vector<std::string> keys;
  for (const auto& p : isa::timing_params()) keys.emplace_back(p.key);
  return keys;
}

template <typename Parse, typename Out>
void parse_section(const Origin& origin, const json& doc, const char* key, Parse parse, Out& out) {
  const auto it = doc.find(key);
  if (it == doc.end()) return;
  const std::string_view name = key;
  parse(Section(origin, *it, key, name == "timing" ? timing_keys() : config_section_keys(name)), out);
}

ChipConfig parse_document(const json& doc, const Origin& origin) {
  ChipConfig c;
  auto top_keys = config_section_keys("");
  top_keys.insert(top_keys.end(), config_sections().begin(), config_sections().end());
  const Section top(origin, doc, "", top_keys);
  top.read_name("name", c.name);
  top.read_positive_number("clock_mhz", c.clock_mhz);

  parse_section(origin, doc, "geometry", parse_geometry, c.geometry);
  parse_section(origin, doc, "streams", parse_streams, c.streams);
  parse_section(
      origin, doc, "icu", [](const Section& s, IcuConfig& o) { s.read_fields(kIcuFields, o); }, c.icu);
  parse_section(
      origin, doc, "mxm", [](const Section& s, MxmConfig& o) { s.read_fields(kMxmFields, o); }, c.mxm);
  parse_section(origin, doc, "c2c", parse_c2c, c.c2c);
  parse_section(origin, doc, "timing", parse_timing, c.timing);
  // The link rate and the clock meet in the cycles a vector takes on a link, which the engine and
  // tspc count in 32 bits; far past any real link, and an infinite quotient is no rate at all.
  const double vector_cycles = c2c_vector_cycle_quotient(c);
  if (!(vector_cycles <= kMaxLinkVectorCycles))
    origin.fail(
        "c2c.gbps_per_lane",
        fmt::format("a vector of {} bytes would take {} cycles on a link ({} lanes x {} Gb/s at {} MHz); "
                    "expected at most {}",
                    c.geometry.vector_bytes(), vector_cycles, c.c2c.lanes_per_link, c.c2c.gbps_per_lane,
                    c.clock_mhz, kMaxLinkVectorCycles));
  return c;
}

// Applies one "key.path=value" to the document before typed parsing. The path must name a key of
// the schema; the value is JSON if it parses as JSON, else the text itself as a string.
void apply_override(json& doc, const std::string& spec, const json& schema, const std::string& file,
                    std::set<std::string>& overridden) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(fmt::format("--set {}: expected key.path=value", spec));
  const std::string path = spec.substr(0, eq);
  const std::string text = spec.substr(eq + 1);

  std::vector<std::string> keys;
  for (size_t start = 0;;) {
    const auto dot = path.find('.', start);
    keys.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }

  const json* node = &schema;
  for (const auto& key : keys) {
    if (!node->is_object() || !node->contains(key))
      throw InputError(fmt::format("--set {}: unknown key", path));
    node = &(*node)[key];
  }
  // A section's value sets the keys it names; replacing the section would silently reset every
  // key left out to its default.
  if (node->is_object()) {
    const json section = json::parse(text, nullptr, false);
    if (!section.is_object())
      throw InputError(fmt::format(
          "--set {}: is a section: expected a JSON object of its keys, or {}.KEY=VALUE", path, path));
    if (section.empty())
      throw InputError(
          fmt::format("--set {}: {{}} sets no key (a section's value sets only the keys it names)", path));
    for (const auto& item : section.items())
      apply_override(doc, fmt::format("{}.{}={}", path, item.key(), item.value().dump()), schema, file,
                     overridden);
    return;
  }

  json* target = &doc;
  std::string walked;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    walked = join_path(walked, keys[i]);
    json& next = (*target)[keys[i]];
    if (next.is_null()) next = json::object();
    if (!next.is_object())
      throw InputError(fmt::format("{}: {}: expected an object, got {}", file, walked, shown(next)));
    target = &next;
  }
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    // Every string of the config is written back as JSON (--print-config, --stats-json): UTF-8 only.
    value = text;
    try {
      (void)value.dump();
    } catch (const json::type_error&) {
      throw InputError(fmt::format("--set {}: the value is not valid UTF-8", path));
    }
  }
  (*target)[keys.back()] = std::move(value);
  overridden.insert(path);
}

// A file's geometry.sram_bytes checks the file's own geometry. Once --set changes a geometry key
// (and not sram_bytes itself), that figure describes another chip, so it is not checked.
void drop_stale_sram_bytes(json& doc, const std::set<std::string>& overridden) {
  if (overridden.count("geometry.sram_bytes")) return;
  const bool geometry_changed = std::any_of(overridden.begin(), overridden.end(), [](const std::string& p) {
    return p.rfind("geometry.", 0) == 0;
  });
  if (geometry_changed && doc["geometry"].is_object()) doc["geometry"].erase("sram_bytes");
}

} // namespace

ChipConfig parse_config(const std::string& text, const std::string& origin,
                        const std::vector<std::string>& overrides) {
  json doc = parse_json_object(text, origin);

  std::set<std::string> overridden;
  const json schema = config_to_json(ChipConfig{});
  for (const auto& spec : overrides) apply_override(doc, spec, schema, origin, overridden);
  drop_stale_sram_bytes(doc, overridden);

  ChipConfig config = parse_document(doc, Origin(origin, std::move(overridden)));
  config.source = origin;
  return config;
}

ChipConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("cannot open config file '{}': is a directory", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot open config file '{}'", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path.string(), overrides);
}

json config_to_json(const ChipConfig& config) {
  json geometry = fields_to_json(kGeometryFields, config.geometry);
  geometry["sram_bytes"] = config.geometry.sram_bytes();
  json c2c = fields_to_json(kC2cFields, config.c2c);
  c2c["loopback"] = config.c2c.loopback;
  c2c["gbps_per_lane"] = config.c2c.gbps_per_lane;
  c2c["drift_ppm"] = config.c2c.drift_ppm;
  json timing = json::object();
  for (const auto& p : isa::timing_params()) timing[std::string(p.key)] = config.timing[p.id];
  return json{{"name", config.name},
              {"clock_mhz", config.clock_mhz},
              {"geometry", std::move(geometry)},
              {"streams", fields_to_json(kStreamFields, config.streams)},
              {"icu", fields_to_json(kIcuFields, config.icu)},
              {"mxm", fields_to_json(kMxmFields, config.mxm)},
              {"c2c", std::move(c2c)},
              {"timing", std::move(timing)}};
}

uint32_t c2c_vector_cycles(const ChipConfig& config) {
  return static_cast<uint32_t>(c2c_vector_cycle_quotient(config));
}

namespace {

// Everything of the fingerprint but the link rate, which comes last so that a mismatch in it
// alone can be recognised (c2c_cycles_of_fingerprint).
Fnv1a fingerprint_without_link_rate(const ChipConfig& config) {
  Fnv1a h;
  for (const auto& f : kGeometryFields) h.u32(config.geometry.*(f.member));
  for (const auto& f : kStreamFields) h.u32(config.streams.*(f.member));
  for (const auto& f : kIcuFields) h.u32(config.icu.*(f.member));
  for (const auto& f : kMxmFields) h.u32(config.mxm.*(f.member));
  h.u32(config.c2c.links);
  h.u32(config.c2c.hac_period_cycles);
  h.u32(config.c2c.loopback ? 1 : 0);
  for (const auto& p : isa::timing_params()) {
    h.str(p.key);
    h.u32(config.timing[p.id]);
  }
  for (const auto& op : isa::opcodes()) {
    h.u32(static_cast<uint32_t>(op.opcode));
    h.str(op.mnemonic);
    h.u32(static_cast<uint32_t>(op.unit));
    h.u32(static_cast<uint32_t>(op.skew));
    h.u32(static_cast<uint32_t>(op.func));
    h.u32(op.field_count);
    for (const auto& f : op.operand_fields()) {
      h.str(f.name);
      for (unsigned v : {unsigned(f.kind), unsigned(f.lsb), unsigned(f.width), unsigned(f.role),
                         unsigned(f.group_fixed), unsigned(f.group_dtype)})
        h.u32(v);
      for (auto name : f.mode_names) h.str(name);
    }
  }
  return h;
}

uint64_t with_link_rate(Fnv1a h, uint32_t vector_cycles) {
  h.u32(vector_cycles);
  return h.value();
}

// Link rates tried when naming the one a program was scheduled for (a 320-byte vector at one
// lane of 1 Gb/s and 2 GHz takes 5120 cycles).
constexpr uint32_t kMaxRecognisedVectorCycles = 1u << 16;

} // namespace

uint64_t geometry_fingerprint(const ChipConfig& config) {
  return with_link_rate(fingerprint_without_link_rate(config), c2c_vector_cycles(config));
}

std::optional<uint32_t> c2c_cycles_of_fingerprint(const ChipConfig& config, uint64_t fingerprint) {
  const Fnv1a prefix = fingerprint_without_link_rate(config);
  for (uint32_t cycles = 1; cycles <= kMaxRecognisedVectorCycles; ++cycles)
    if (with_link_rate(prefix, cycles) == fingerprint) return cycles;
  return std::nullopt;
}

std::string c2c_rate_text(const ChipConfig& config) {
  return fmt::format("{} cycles per vector ({} lanes x {} Gb/s at {} MHz)", c2c_vector_cycles(config),
                     config.c2c.lanes_per_link, config.c2c.gbps_per_lane, config.clock_mhz);
}

} // namespace tsp
