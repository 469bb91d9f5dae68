// tspasm: assembles TSP assembly (docs/assembly.md) into a program container for one chip config
// (configs/14nm.json when no --config is given), or, with --system, a program with .chip sections
// into a system program container (docs/systems.md).
// Exit codes: 0 success, 2 bad input (the message names the file, line and column).
#include "cli/cli_common.h"
#include "tspsim/common/file_io.h"
#include "tspsim/program/assembler.h"

int main(int argc, char* argv[]) {
  std::string input, output, system_path;
  tsp::cli::ConfigChoice config;
  auto app = tsp::cli::make_app("tspasm", "TSP assembler");
  app->add_option("input", input, "assembly source (.tsp)")->required();
  tsp::cli::takes_path(*app, app->add_option("-o,--output", output, "program container to write"))
      ->required();
  tsp::cli::add_config_options(*app, config,
                               "chip config (JSON) the program is built for (default configs/14nm.json)");
  tsp::cli::takes_path(
      *app, app->add_option("--system", system_path,
                            "system (JSON, configs/systems/) a program with .chip sections is built for"));
  return tsp::cli::run(*app, argc, argv, [&] {
    tsp::OutputFiles outputs;
    outputs.reads(input, "the source");
    if (!config.path.empty()) outputs.reads(config.path, "the config");
    if (!system_path.empty()) outputs.reads(system_path, "the system");
    outputs.check(output, "-o");
    if (!system_path.empty()) {
      const auto system = tsp::cli::load_chosen_system(system_path, config);
      tsp::write_system_program(tsp::assemble_system_file(input, system), output);
    } else {
      const auto program =
          tsp::assemble_file(input, tsp::cli::load_chosen_config(config, tsp::cli::default_config_path()));
      tsp::cli::require_instructions(program, input);
      tsp::write_program(program, output);
    }
    return 0;
  });
}
