// Checks the benchmark runners make on their options before they start any child process.
#pragma once

#include "tspsim/common/error.h"

#include <fmt/format.h>
#include <string>
#include <unistd.h>

namespace tsp::bench {

// Throws InputError naming `option` unless `path` is a file this process may execute.
inline void require_executable(const std::string& path, const std::string& option) {
  if (access(path.c_str(), X_OK) != 0)
    throw InputError(
        fmt::format("{} {}: not an executable file (build it, or name the tspsim binary)", option, path));
}

} // namespace tsp::bench
