// Model files the tests write: a bundled model with another precision object.
#pragma once

#include "cli_harness.h"

#include <fstream>
#include <string>

namespace tsp::test {

// configs/models/BUNDLED.json with its "precision" object replaced by `precision` (JSON text),
// written as NAME in the test's scratch directory; returns its path.
inline std::string model_with_precision(const std::string& bundled, const std::string& name,
                                        const std::string& precision) {
  std::string text = slurp(source("configs/models/" + bundled + ".json"));
  const auto at = text.find("\"precision\"");
  text.replace(at, text.find('}', at) + 1 - at, "\"precision\": " + precision);
  const std::string path = (scratch_dir() / name).string();
  std::ofstream(path) << text;
  return path;
}

} // namespace tsp::test
