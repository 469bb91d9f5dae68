// tspasm: assembles TSP assembly (docs/assembly.md) into a program container for one chip config.
// Exit codes: 0 success, 2 bad input (the message names the file, line and column).
#include "tspsim/program/assembler.h"
#include "tspsim/config/config.h"
#include "tspsim/common/error.h"
#include "tspsim/common/version.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <iostream>

int main(int argc, char* argv[]) {
  std::string input, output, config_path;
  std::vector<std::string> overrides;
  CLI::App app{fmt::format("tspasm {}: TSP assembler", tsp::kVersion)};
  app.add_option("input", input, "assembly source (.tsp)")->required();
  app.add_option("-o,--output", output, "program container to write")->required();
  app.add_option("--config", config_path,
                 "chip config (JSON) the program is built for, e.g. configs/14nm.json")
      ->required();
  app.add_option("--set", overrides, "override a config key: key.path=value (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    const auto config = tsp::load_config(config_path, overrides);
    tsp::write_program(tsp::assemble_file(input, config), output);
    return 0;
  } catch (const tsp::InputError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
}
