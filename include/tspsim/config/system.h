// A system of chips: which chip config each chip uses and how their C2C links are wired.
// Read from configs/systems/*.json (docs/systems.md) or generated (Dragonfly).
#pragma once

#include "tspsim/config/config.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tsp {

// One end of a cable: link `link` of chip `chip`.
struct LinkEnd {
  uint32_t chip = 0;
  uint32_t link = 0;
  bool operator==(const LinkEnd& other) const { return chip == other.chip && link == other.link; }
};

// A bidirectional connection between two link ends (each direction is a separate channel).
struct Cable {
  LinkEnd a;
  LinkEnd b;
};

struct SystemConfig {
  std::string name;                  // "node8", "rack72", "dragonfly-145"
  std::vector<ChipConfig> configs;   // distinct chip configs used by the system
  std::vector<uint32_t> chip_config; // chip index -> index into `configs`
  std::vector<Cable> cables;         // every link end appears at most once
  std::string source;                // file it was read from, for messages

  uint32_t chips() const { return static_cast<uint32_t>(chip_config.size()); }
  const ChipConfig& config_of(uint32_t chip) const { return configs[chip_config[chip]]; }
};

// Reads a system description; `chip_overrides` ("key.path=value") apply to every chip config.
// Throws InputError naming the file, the key and what was expected (unknown chip config, a link
// used twice, asymmetric wiring, a link index out of range).
SystemConfig load_system(const std::filesystem::path& path,
                         const std::vector<std::string>& chip_overrides = {});

// Same, from JSON text; chip config paths are relative to `base_dir`, `origin` names the text.
SystemConfig parse_system(const std::string& text, const std::string& origin,
                          const std::filesystem::path& base_dir,
                          const std::vector<std::string>& chip_overrides = {});

// The generated topologies (docs/systems.md): a node is 8 chips fully connected on links 0..6; a
// rack is 9 nodes joined by links 7 and 8; a Dragonfly joins racks by links 9 and 10.
constexpr uint32_t kNodeChips = 8;
constexpr uint32_t kRackNodes = 9;
constexpr uint32_t kRackChips = kNodeChips * kRackNodes;
constexpr uint32_t kMaxDragonflyRacks = 145;

// For every chip and link: the link end at the other side of the cable, if the link is wired.
std::vector<std::vector<std::optional<LinkEnd>>> link_table(const SystemConfig& system);

// A stable 64-bit hash of the chips' geometry fingerprints and the wiring: a system program
// records it, and running it on another system is an error naming both.
uint64_t system_fingerprint(const SystemConfig& system);

} // namespace tsp
