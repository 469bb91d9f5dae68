// What every command-line tool shares: option conventions, the chip config options, the bundled
// configs, and one entry point that maps errors to exit codes (0 success, 2 bad input; tspsim adds
// 1 for "the simulation found errors"). The conventions are stated in README.md ("Tools"); the
// library is tsp_cli (CMakeLists.txt), linked by every tool and by nothing else.
#pragma once

#include "tspsim/config/config.h"
#include "tspsim/config/system.h"
#include "tspsim/program/program.h"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tsp::cli {

// An app with the tool's one-line description and --version.
std::unique_ptr<CLI::App> make_app(std::string_view tool, std::string_view summary);

// An option that takes exactly one value per occurrence and may be given any number of times, in
// any order relative to the positional arguments (`--set a=1 prog.tsp` leaves prog.tsp alone).
CLI::Option* add_repeatable(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                            const std::string& help);

// --config PATH and --set key.path=value (repeatable).
struct ConfigChoice {
  std::string path; // empty: the caller's default
  std::vector<std::string> overrides;
};
void add_config_options(CLI::App& app, ConfigChoice& choice, const std::string& config_help);

// Marks an option of `app` whose value is a file or folder: a value that is another option of the tool is
// refused ("--stats-json needs a path, got the option --quiet"), where CLI11 would take `--quiet` as
// the path and write a file of that name.
CLI::Option* takes_path(const CLI::App& app, CLI::Option* option);

// Accepts a whole number of 64 bits without a sign: CLI11 alone reads "-1" as 2^64 - 1.
CLI::Validator whole_number();

// The folder of the bundled configs (configs/ of the source tree this build came from).
std::filesystem::path bundled_config_dir();
// The bundled 14 nm chip config, the default of tspasm.
std::filesystem::path default_config_path();
// "configs/NAME.json" of the bundled config whose geometry has this fingerprint, or "".
std::string bundled_config_for(uint64_t fingerprint);

// Loads --config (or `fallback` when none was given) with the --set overrides applied.
ChipConfig load_chosen_config(const ConfigChoice& choice, const std::filesystem::path& fallback);

// The system of `system_path` with the --set overrides applied to every chip. A system file names
// each chip's config, so a --config must equal every chip's config (all keys, not only the
// geometry): one that differs would otherwise be silently ignored. Without --config, no check.
SystemConfig load_chosen_system(const std::string& system_path, const ConfigChoice& choice);

// Throws InputError when `program` was built for another geometry than `config`, naming the
// bundled config it was built for when one matches.
void check_fingerprint(const Program& program, const ChipConfig& config, const std::string& origin);

// Throws InputError when `program` has no instruction: an empty .tsp is refused like an empty .bin.
void require_instructions(const Program& program, const std::string& origin);

// A .tsp assembled for `config`, or a container read, its fingerprint checked, and validated; it
// must have instructions.
Program load_program_for(const std::filesystem::path& path, const ChipConfig& config);

// Parses the command line and runs `body`, turning a parse error, an InputError or running out of
// host memory into its one-line message on stderr and exit code 2. Flushes stdout at the end: when
// that fails, says so on stderr and returns 2. Returns the exit code.
int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

// Prints "error: MESSAGE" on stderr.
void print_error(std::string_view message);

} // namespace tsp::cli
