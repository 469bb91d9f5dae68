// Errors a user can cause. Each carries a complete one-line message; tools print it and exit 2.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace tsp {

// `text` with control bytes (below 0x20, and 0x7f) and NUL written as \xNN, so a message quoting
// a file's bytes stays one printable line and is not cut short at a NUL.
std::string escape_control(std::string_view text);

class InputError : public std::runtime_error {
public:
  explicit InputError(std::string_view message) : std::runtime_error(escape_control(message)) {}
};

} // namespace tsp
