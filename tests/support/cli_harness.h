// Runs the project's command-line tools as a user would and captures what they print.
#pragma once

#include "tspsim/common/temporary_directory.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace tsp::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A scratch directory per test process, removed when the process exits.
inline const std::filesystem::path& scratch_dir() {
  static const TemporaryDirectory dir("tspsim-test");
  return dir.path();
}

inline std::string tool(const std::string& name) { return std::string(TSPSIM_BINARY_DIR) + "/" + name; }
inline std::string source(const std::string& relative) { return std::string(TSPSIM_SOURCE_DIR) + "/" + relative; }

// `args` is appended to the tool's path as shell words (quote them yourself when needed).
inline CommandResult run_tool(const std::string& name, const std::string& args) {
  const auto out = scratch_dir() / "stdout.txt";
  const auto err = scratch_dir() / "stderr.txt";
  const std::string command = tool(name) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

} // namespace tsp::test
