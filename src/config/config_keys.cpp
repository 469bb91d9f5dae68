#include "tspsim/config/config_keys.h"

namespace tsp {

namespace {
constexpr std::string_view section_name(std::string_view name) { return name == "top" ? "" : name; }
} // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys{
#define CONFIG_KEY(section, key, unit, meaning, source) {section_name(#section), key, unit, meaning, source},
#include "config_keys.def"
#undef CONFIG_KEY
  };
  return keys;
}

std::vector<std::string> config_section_keys(std::string_view section) {
  std::vector<std::string> out;
  for (const ConfigKey& k : config_keys())
    if (k.section == section) out.emplace_back(k.key);
  return out;
}

const std::vector<std::string>& config_sections() {
  static const std::vector<std::string> sections = [] {
    std::vector<std::string> out;
    for (const ConfigKey& k : config_keys())
      if (!k.section.empty() && (out.empty() || out.back() != k.section)) out.emplace_back(k.section);
    out.emplace_back("timing");
    return out;
  }();
  return sections;
}

} // namespace tsp
