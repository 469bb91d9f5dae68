// tspdis: prints a program container as assembly that tspasm turns back into the identical file (a
// program with regions: the same without them, as its first line says).
// Without --config the geometry is the bundled config whose fingerprint the program carries; a
// system program (docs/systems.md) needs --system.
// Exit codes: 0 success, 2 bad input.
#include "cli/cli_common.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/program/disassembler.h"

#include <fmt/format.h>
#include <iostream>

namespace {

// --config as given, or the bundled config the program was built for.
tsp::ChipConfig config_for(const tsp::cli::ConfigChoice& choice, const tsp::Program& program,
                           const std::string& input) {
  if (!choice.path.empty()) return tsp::cli::load_chosen_config(choice, {});
  const std::string built_for = tsp::cli::bundled_config_for(program.fingerprint);
  if (built_for.empty())
    throw tsp::InputError(
        fmt::format("{}: no bundled config has the program's geometry (fingerprint 0x{:016x}): "
                    "pass the --config it was built for",
                    input, program.fingerprint));
  return tsp::cli::load_chosen_config(
      {(tsp::cli::bundled_config_dir().parent_path() / built_for).string(), choice.overrides}, {});
}

std::string disassemble_chip(const tsp::cli::ConfigChoice& config, const std::string& input) {
  const auto program = tsp::read_program(input);
  const auto chip = config_for(config, program, input);
  tsp::cli::check_fingerprint(program, chip, input);
  tsp::validate_program(program, chip, input);
  return tsp::disassemble(program, chip);
}

std::string disassemble_system(const std::string& system_path, const tsp::cli::ConfigChoice& config,
                               const std::string& input) {
  const auto system = tsp::cli::load_chosen_system(system_path, config);
  const auto program = tsp::read_system_program(input);
  tsp::validate_system_program(program, system, input);
  return tsp::disassemble_system(program, system);
}

} // namespace

int main(int argc, char* argv[]) {
  std::string input, output, system_path;
  tsp::cli::ConfigChoice config;
  auto app = tsp::cli::make_app("tspdis", "TSP disassembler");
  app->add_option("input", input, "program container")->required();
  tsp::cli::takes_path(*app,
                       app->add_option("-o,--output", output, "write the assembly here instead of stdout"));
  tsp::cli::add_config_options(*app, config,
                               "chip config (JSON) the program was built for (default: the bundled config "
                               "matching the program's fingerprint)");
  tsp::cli::takes_path(*app,
                       app->add_option("--system", system_path,
                                       "system (JSON, configs/systems/) a system program was built for"));
  return tsp::cli::run(*app, argc, argv, [&] {
    tsp::OutputFiles outputs;
    outputs.reads(input, "the program");
    if (!config.path.empty()) outputs.reads(config.path, "the config");
    if (!system_path.empty()) outputs.reads(system_path, "the system");
    if (!output.empty()) outputs.check(output, "-o");
    const std::string text = system_path.empty() ? disassemble_chip(config, input)
                                                 : disassemble_system(system_path, config, input);
    if (output.empty()) {
      std::cout << text;
    } else {
      outputs.stage(output, text);
      outputs.commit();
    }
    return 0;
  });
}
