// The keys of a chip configuration as one table (src/config/config_keys.def): the loader accepts
// exactly these keys and `tspisa-doc --config-doc` writes docs/config.md's tables from them. The
// timing keys are isa/timing_params.def's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tsp {

struct ConfigKey {
  std::string_view section; // "" at the top level
  std::string_view key;
  std::string_view unit;
  std::string_view meaning; // Markdown, as docs/config.md shows it
  std::string_view source;
};

// Every key but the timing ones, in schema order.
const std::vector<ConfigKey>& config_keys();
// The keys of one section ("": the top level's values, not its sections).
std::vector<std::string> config_section_keys(std::string_view section);
// The sections of the top level, in schema order; the last is "timing".
const std::vector<std::string>& config_sections();
// Whether `path` ("geometry.superlanes", "timing.mem_read_func", "clock_mhz") names a key of the
// table or a timing key.
bool is_config_key(std::string_view path);

} // namespace tsp
