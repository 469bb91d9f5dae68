// tspdis: prints a program container as assembly that tspasm turns back into the identical file.
// Exit codes: 0 success, 2 bad input.
#include "tspsim/config/config.h"
#include "tspsim/program/disassembler.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/common/version.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <iostream>

int main(int argc, char* argv[]) {
  std::string input, output, config_path, system_path;
  std::vector<std::string> overrides;
  CLI::App app{fmt::format("tspdis {}: TSP disassembler", tsp::kVersion)};
  app.add_option("input", input, "program container")->required();
  app.add_option("-o,--output", output, "write the assembly here instead of stdout");
  auto* config = app.add_option("--config", config_path, "chip config (JSON) the program was built for");
  auto* system = app.add_option("--system", system_path, "system (JSON) a system program was built for");
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
    std::string text;
    if (!system_path.empty()) {
      const auto system = tsp::load_system(system_path, overrides);
      const auto program = tsp::read_system_program(input);
      tsp::validate_system_program(program, system, input);
      text = tsp::disassemble_system(program, system);
    } else {
      const auto config = tsp::load_config(config_path, overrides);
      const auto program = tsp::read_program(input);
      tsp::validate_program(program, config, input);
      text = tsp::disassemble(program, config);
    }
    if (output.empty())
      std::cout << text;
    else
      tsp::write_file_atomic(output, text);
    return 0;
  } catch (const tsp::InputError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
}
