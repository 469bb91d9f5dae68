// Errors a user can cause. Each carries a complete one-line message; tools print it and exit 2.
#pragma once

#include <stdexcept>
#include <string>

namespace tsp {

class InputError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace tsp
