#include "tspsim/config/config_keys.h"

#include "isa.h"

#include <algorithm>

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

bool is_config_key(std::string_view path) {
  const auto dot = path.find('.');
  const std::string_view section = dot == std::string_view::npos ? "" : path.substr(0, dot);
  const std::string_view key = dot == std::string_view::npos ? path : path.substr(dot + 1);
  if (section == "timing") return isa::timing_param_by_key(key).has_value();
  return std::any_of(config_keys().begin(), config_keys().end(),
                     [&](const ConfigKey& k) { return k.section == section && k.key == key; });
}

} // namespace tsp
