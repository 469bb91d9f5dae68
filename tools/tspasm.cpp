// tspasm: assembles TSP assembly (docs/assembly.md) into a program container for one chip config.
// Exit codes: 0 success, 2 bad input (the message names the file, line and column).
#include "tspsim/common/error.h"
#include "tspsim/common/version.h"
#include "tspsim/program/assembler.h"
#include "tspsim/config/config.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <iostream>

int main(int argc, char* argv[]) {
  std::string input, output, config_path, system_path;
  std::vector<std::string> overrides;
  CLI::App app{fmt::format("tspasm {}: TSP assembler", tsp::kVersion)};
  app.add_option("input", input, "assembly source (.tsp)")->required();
  app.add_option("-o,--output", output, "program container to write")->required();
  auto* config = app.add_option("--config", config_path,
                                "chip config (JSON) the program is built for, e.g. configs/14nm.json");
  auto* system = app.add_option("--system", system_path,
                                "system (JSON, configs/systems/) a program with .chip sections is built for");
  config->excludes(system);
  app.add_option("--set", overrides, "override a config key: key.path=value (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (config_path.empty() && system_path.empty()) throw tsp::InputError("--config or --system is required");
    if (!system_path.empty()) {
      const auto system = tsp::load_system(system_path, overrides);
      tsp::write_system_program(tsp::assemble_system_file(input, system), output);
      return 0;
    }
    const auto config = tsp::load_config(config_path, overrides);
    tsp::write_program(tsp::assemble_file(input, config), output);
    return 0;
  } catch (const tsp::InputError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
}
