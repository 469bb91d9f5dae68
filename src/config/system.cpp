// System descriptions (docs/systems.md): chip groups with their configs, then the wiring from
// three sources (per-chip link lists, a cable list, a generated topology), merged into one cable
// list in which every link end appears at most once.
#include "tspsim/config/system.h"
#include "tspsim/config/json_input.h"

#include "tspsim/common/fnv1a.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

namespace tsp {

using nlohmann::json;

namespace {

// Link roles of the generated topologies (docs/systems.md, "Generated topologies").
constexpr uint32_t kFirstRackLink = kNodeChips - 1;          // links 7, 8: to the other nodes of the rack
constexpr uint32_t kFirstGlobalLink = kFirstRackLink + 2;    // links 9, 10: to other racks
constexpr uint32_t kRackPorts = kRackNodes * kNodeChips * 2; // inter-rack ports of one rack: 144

std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr size_t kLimit = 60;
  if (text.size() > kLimit) text = text.substr(0, kLimit) + "...";
  return text;
}

struct PendingCable {
  Cable cable;
  std::string where; // the key it came from, for messages
};

class SystemParser {
public:
  SystemParser(std::string origin, std::filesystem::path base_dir, const std::vector<std::string>& overrides)
      : origin_(std::move(origin)), base_dir_(std::move(base_dir)), overrides_(overrides) {}

  SystemConfig run(const json& doc) {
    for (const auto& item : doc.items())
      if (item.key() != "name" && item.key() != "chips" && item.key() != "cables" && item.key() != "topology")
        fail(item.key(), "unknown key (expected name, chips, cables, topology)");
    system_.source = origin_;
    if (const auto it = doc.find("name"); it != doc.end()) {
      if (!it->is_string() || it->get<std::string>().empty())
        fail("name", "expected a non-empty string, got " + shown(*it));
      system_.name = it->get<std::string>();
    }
    const auto chips = doc.find("chips");
    if (chips == doc.end()) fail("chips", "missing (expected an array of {\"config\": PATH, \"count\": N})");
    chip_groups(*chips);
    if (const auto it = doc.find("topology"); it != doc.end()) topology(*it);
    if (const auto it = doc.find("cables"); it != doc.end()) cable_list(*it);
    per_chip_links();
    connect();
    return std::move(system_);
  }

private:
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", origin_, key, what));
  }

  // ---- chips ---------------------------------------------------------------------------------
  void chip_groups(const json& chips) {
    if (!chips.is_array() || chips.empty())
      fail("chips", "expected a non-empty array of {\"config\": PATH, \"count\": N}, got " + shown(chips));
    for (size_t i = 0; i < chips.size(); ++i) {
      const std::string key = fmt::format("chips[{}]", i);
      const json& group = chips[i];
      if (!group.is_object())
        fail(key, "expected an object {\"config\": PATH, \"count\": N}, got " + shown(group));
      for (const auto& item : group.items())
        if (item.key() != "config" && item.key() != "count" && item.key() != "links")
          fail(key + "." + item.key(), "unknown key (expected config, count, links)");
      const auto config = group.find("config");
      if (config == group.end() || !config->is_string() || config->get<std::string>().empty())
        fail(key + ".config", "expected a chip config path (a string, relative to the system file)");
      const uint32_t index = chip_config(key + ".config", config->get<std::string>());
      uint64_t count = 1;
      if (const auto it = group.find("count"); it != group.end()) {
        if (!it->is_number_unsigned() || it->get<uint64_t>() < 1 || it->get<uint64_t>() > kMaxChips)
          fail(key + ".count", fmt::format("expected 1..{}, got {}", kMaxChips, shown(*it)));
        count = it->get<uint64_t>();
      }
      if (system_.chip_config.size() + count > kMaxChips)
        fail(key + ".count", fmt::format("the system would have more than {} chips", kMaxChips));
      if (const auto it = group.find("links"); it != group.end()) {
        if (count != 1)
          fail(key + ".links",
               fmt::format(
                   "a group of {} chips cannot list links (give each chip its own entry, or use cables)",
                   count));
        links_.push_back({key + ".links", system_.chips(), &*it});
      }
      system_.chip_config.insert(system_.chip_config.end(), count, index);
    }
  }

  // Each distinct file is read once, however many chips use it.
  uint32_t chip_config(const std::string& key, const std::string& relative) {
    const auto path = (base_dir_ / relative).lexically_normal();
    const auto [it, fresh] =
        config_index_.emplace(path.string(), static_cast<uint32_t>(system_.configs.size()));
    if (!fresh) return it->second;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      fail(key, fmt::format("cannot open chip config '{}'", path.string()));
    system_.configs.push_back(load_config(path, overrides_));
    return it->second;
  }

  // ---- wiring --------------------------------------------------------------------------------
  LinkEnd link_end(const json& value, const std::string& key) const {
    if (!value.is_array() || value.size() != 2 || !value[0].is_number_unsigned() ||
        !value[1].is_number_unsigned())
      fail(key, "expected [chip, link] (two non-negative integers), got " + shown(value));
    const uint64_t chip = value[0].get<uint64_t>();
    const uint64_t link = value[1].get<uint64_t>();
    check_end(chip, link, key);
    return {static_cast<uint32_t>(chip), static_cast<uint32_t>(link)};
  }

  void check_end(uint64_t chip, uint64_t link, const std::string& key) const {
    if (chip >= system_.chips())
      fail(key, fmt::format("chip {} is out of range (the system has {} chips: 0..{})", chip, system_.chips(),
                            system_.chips() - 1));
    const auto& config = system_.config_of(static_cast<uint32_t>(chip));
    if (link >= config.c2c.links)
      fail(key, fmt::format("link {} of chip {} is out of range (its config {} has c2c.links = {})", link,
                            chip, config.source, config.c2c.links));
  }

  void cable_list(const json& cables) {
    if (!cables.is_array())
      fail("cables", "expected an array of [[chip, link], [chip, link]], got " + shown(cables));
    for (size_t i = 0; i < cables.size(); ++i) {
      const std::string key = fmt::format("cables[{}]", i);
      const json& cable = cables[i];
      if (!cable.is_array() || cable.size() != 2)
        fail(key, "expected [[chip, link], [chip, link]], got " + shown(cable));
      pending_.push_back({{link_end(cable[0], key + "[0]"), link_end(cable[1], key + "[1]")}, key});
    }
  }

  struct ChipLinks {
    std::string key;
    uint32_t chip;
    const json* links;
  };

  // A chip's own list names the far end of each of its links; the far chip must list the way back.
  void per_chip_links() {
    std::map<uint32_t, std::map<uint32_t, std::pair<LinkEnd, std::string>>> listed;
    for (const auto& [key, chip, links] : links_) {
      if (!links->is_object())
        fail(key, "expected an object {\"LINK\": [chip, link], ...}, got " + shown(*links));
      for (const auto& item : links->items()) {
        const std::string link_key = key + "." + item.key();
        const auto& k = item.key();
        const bool digits = !k.empty() && k.size() <= 9 &&
                            std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits) fail(link_key, "expected a link number as the key");
        const uint32_t link = static_cast<uint32_t>(std::stoul(k));
        check_end(chip, link, link_key);
        listed[chip][link] = {link_end(item.value(), link_key), link_key};
      }
    }
    for (const auto& [chip, links] : listed) {
      for (const auto& [link, target] : links) {
        const auto& [far, key] = target;
        const LinkEnd near{chip, link};
        if (far == near) fail(key, fmt::format("connects link {} of chip {} to itself", link, chip));
        const std::pair<LinkEnd, std::string>* back = nullptr;
        if (const auto far_chip = listed.find(far.chip); far_chip != listed.end())
          if (const auto it = far_chip->second.find(far.link); it != far_chip->second.end())
            back = &it->second;
        if (!back)
          fail(key,
               fmt::format("asymmetric wiring: link {} of chip {} goes to link {} of chip {}, which does not "
                           "list the way back",
                           link, chip, far.link, far.chip));
        if (!(back->first == near))
          fail(key,
               fmt::format("asymmetric wiring: link {} of chip {} goes to link {} of chip {}, but {} goes to "
                           "link {} of chip {}",
                           link, chip, far.link, far.chip, back->second, back->first.link, back->first.chip));
        if (std::make_pair(chip, link) < std::make_pair(far.chip, far.link))
          pending_.push_back({{near, far}, key});
      }
    }
  }

  // ---- generated topologies ------------------------------------------------------------------
  void topology(const json& t) {
    if (!t.is_object()) fail("topology", "expected an object {\"kind\": ...}, got " + shown(t));
    const auto kind = t.find("kind");
    const std::string name = kind != t.end() && kind->is_string() ? kind->get<std::string>() : "";
    if (name != "node" && name != "rack" && name != "dragonfly")
      fail("topology.kind", "expected \"node\", \"rack\" or \"dragonfly\", got " +
                                (kind == t.end() ? std::string("nothing") : shown(*kind)));
    for (const auto& item : t.items())
      if (item.key() != "kind" && !(name == "dragonfly" && item.key() == "racks"))
        fail("topology." + item.key(), fmt::format("unknown key (topology {} takes {})", name,
                                                   name == "dragonfly" ? "kind, racks" : "kind"));
    uint32_t chips = name == "node" ? kNodeChips : kRackChips;
    uint32_t racks = 1;
    if (name == "dragonfly") {
      const auto r = t.find("racks");
      if (r == t.end() || !r->is_number_unsigned() || r->get<uint64_t>() < 1 ||
          r->get<uint64_t>() > kMaxDragonflyRacks)
        fail("topology.racks",
             fmt::format(
                 "expected 1..{} (each rack has {} inter-rack ports, one per other rack at the most), got {}",
                 kMaxDragonflyRacks, kRackPorts, r == t.end() ? std::string("nothing") : shown(*r)));
      racks = r->get<uint32_t>();
      chips = racks * kRackChips;
    }
    if (system_.chips() != chips)
      fail("chips",
           fmt::format("topology {} has {} chips, but chips lists {}", name, chips, system_.chips()));
    if (name == "node")
      node(0);
    else
      dragonfly(racks);
  }

  void generated(LinkEnd a, LinkEnd b) {
    check_end(a.chip, a.link, "topology");
    check_end(b.chip, b.link, "topology");
    pending_.push_back({{a, b}, "topology"});
  }

  // Each chip's local links go to the other seven chips of its node in increasing order.
  void node(uint32_t first) {
    const auto link_to = [](uint32_t from, uint32_t to) { return to < from ? to : to - 1; };
    for (uint32_t i = 0; i < kNodeChips; ++i)
      for (uint32_t j = i + 1; j < kNodeChips; ++j)
        generated({first + i, link_to(i, j)}, {first + j, link_to(j, i)});
  }

  // Node n's 16 rack ports are links 7 and 8 of its 8 chips; the two ports of chip k go to the
  // k-th other node (others in increasing order), whose ports back are those of its chip n' (the
  // index of n among its others).
  void rack(uint32_t first) {
    for (uint32_t n = 0; n < kRackNodes; ++n) node(first + n * kNodeChips);
    for (uint32_t n = 0; n < kRackNodes; ++n)
      for (uint32_t m = n + 1; m < kRackNodes; ++m)
        for (uint32_t r = 0; r < 2; ++r)
          generated({first + n * kNodeChips + (m - 1), kFirstRackLink + r},
                    {first + m * kNodeChips + n, kFirstRackLink + r});
  }

  // A rack's 144 inter-rack ports (links 9 and 10 of its 72 chips, port q on chip q / 2) are split
  // evenly among the other racks: floor(144 / (racks - 1)) cables per pair of racks.
  void dragonfly(uint32_t racks) {
    for (uint32_t r = 0; r < racks; ++r) rack(r * kRackChips);
    if (racks < 2) return;
    const uint32_t per_pair = kRackPorts / (racks - 1);
    const auto port = [](uint32_t rack, uint32_t q) {
      return LinkEnd{rack * kRackChips + q / 2, kFirstGlobalLink + q % 2};
    };
    for (uint32_t r = 0; r < racks; ++r)
      for (uint32_t s = r + 1; s < racks; ++s)
        for (uint32_t t = 0; t < per_pair; ++t)
          generated(port(r, (s - 1) * per_pair + t), port(s, r * per_pair + t));
  }

  // ---- merging -------------------------------------------------------------------------------
  void connect() {
    std::vector<std::vector<int64_t>> owner(system_.chips());
    for (uint32_t chip = 0; chip < system_.chips(); ++chip)
      owner[chip].assign(system_.config_of(chip).c2c.links, -1);
    system_.cables.reserve(pending_.size());
    for (size_t i = 0; i < pending_.size(); ++i) {
      const auto& [cable, where] = pending_[i];
      if (cable.a == cable.b)
        fail(where, fmt::format("connects link {} of chip {} to itself", cable.a.link, cable.a.chip));
      for (const LinkEnd& end : {cable.a, cable.b}) {
        int64_t& slot = owner[end.chip][end.link];
        if (slot >= 0)
          fail(where, fmt::format("link {} of chip {} is already connected by {}", end.link, end.chip,
                                  pending_[static_cast<size_t>(slot)].where));
        slot = static_cast<int64_t>(i);
      }
      system_.cables.push_back(cable);
    }
  }

  // A sanity bound well above the largest published system (10,440 chips).
  static constexpr uint64_t kMaxChips = 1 << 16;

  std::string origin_;
  std::filesystem::path base_dir_;
  const std::vector<std::string>& overrides_;
  SystemConfig system_;
  std::map<std::string, uint32_t> config_index_;
  std::vector<ChipLinks> links_;
  std::vector<PendingCable> pending_;
};

} // namespace

SystemConfig parse_system(const std::string& text, const std::string& origin,
                          const std::filesystem::path& base_dir,
                          const std::vector<std::string>& chip_overrides) {
  const json doc = parse_json_object(text, origin);
  auto system = SystemParser(origin, base_dir, chip_overrides).run(doc);
  if (system.name.empty()) system.name = std::filesystem::path(origin).stem().string();
  return system;
}

SystemConfig load_system(const std::filesystem::path& path, const std::vector<std::string>& chip_overrides) {
  return parse_system(read_text_file(path), path.string(), path.parent_path(), chip_overrides);
}

uint64_t system_fingerprint(const SystemConfig& system) {
  std::vector<uint64_t> config_fingerprints;
  for (const auto& config : system.configs) config_fingerprints.push_back(geometry_fingerprint(config));
  Fnv1a h;
  h.u32(system.chips());
  for (uint32_t chip = 0; chip < system.chips(); ++chip) h.u64(config_fingerprints[system.chip_config[chip]]);
  // The wiring as a set: the same cables listed in another order or direction are the same system.
  std::vector<std::pair<uint64_t, uint64_t>> cables;
  const auto key = [](LinkEnd e) { return uint64_t{e.chip} << 32 | e.link; };
  for (const auto& c : system.cables) cables.emplace_back(std::minmax(key(c.a), key(c.b)));
  std::sort(cables.begin(), cables.end());
  h.u32(static_cast<uint32_t>(cables.size()));
  for (const auto& [a, b] : cables) {
    h.u64(a);
    h.u64(b);
  }
  return h.value();
}

std::vector<std::vector<std::optional<LinkEnd>>> link_table(const SystemConfig& system) {
  std::vector<std::vector<std::optional<LinkEnd>>> table(system.chips());
  for (uint32_t chip = 0; chip < system.chips(); ++chip) table[chip].resize(system.config_of(chip).c2c.links);
  for (const auto& c : system.cables) {
    table[c.a.chip][c.a.link] = c.b;
    table[c.b.chip][c.b.link] = c.a;
  }
  return table;
}

} // namespace tsp
