// The tspsim release, recorded in generated programs and printed by the tools.
#pragma once

#include <string_view>

namespace tsp {

inline constexpr std::string_view kVersion = "0.1.0";

} // namespace tsp
