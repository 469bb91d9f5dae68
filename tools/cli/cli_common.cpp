#include "cli/cli_common.h"

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "tspsim/common/error.h"
#include "tspsim/common/version.h"
#include "tspsim/program/assembler.h"

#include <algorithm>
#include <fmt/format.h>
#include <iostream>
#include <new>
#include <nlohmann/json.hpp>

namespace tsp::cli {

std::unique_ptr<CLI::App> make_app(std::string_view tool, std::string_view summary) {
  auto app = std::make_unique<CLI::App>(fmt::format("{} {}: {}", tool, kVersion, summary));
  app->set_version_flag("--version", fmt::format("{} {}", tool, kVersion));
  return app;
}

CLI::Option* add_repeatable(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                            const std::string& help) {
  return app.add_option(name, values, help)
      ->type_size(1)
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

namespace {

bool names_option(const CLI::App& app, const std::string& name) {
  if (app.get_option_no_throw(name)) return true;
  const auto subcommands = app.get_subcommands([](const CLI::App*) { return true; });
  return std::any_of(subcommands.begin(), subcommands.end(),
                     [&](const CLI::App* sub) { return names_option(*sub, name); });
}

// The name a message gives an option: its short form when it has one ("-o"), as the tools' other
// messages do.
std::string option_name(const CLI::Option& option) {
  if (!option.get_snames().empty()) return "-" + option.get_snames().front();
  return option.get_name();
}

} // namespace

CLI::Option* takes_path(const CLI::App& app, CLI::Option* option) {
  const CLI::App* root = &app;
  while (root->get_parent()) root = root->get_parent();
  return option->check(CLI::Validator(
      [option, root](std::string& value) -> std::string {
        if (value.size() > 1 && value[0] == '-' && names_option(*root, value))
          throw InputError(fmt::format("{} needs a path, got the option {}", option_name(*option), value));
        return {};
      },
      ""));
}

CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (error != std::errc() || stop != end || text.empty())
          return fmt::format("expected a whole number from 0 to {}, got '{}'", UINT64_MAX, text);
        return {};
      },
      "UINT");
}

void add_config_options(CLI::App& app, ConfigChoice& choice, const std::string& config_help) {
  takes_path(app, app.add_option("--config", choice.path, config_help));
  add_repeatable(app, "--set", choice.overrides, "override a config key: key.path=value (repeatable)");
}

std::filesystem::path bundled_config_dir() { return TSPSIM_CONFIG_DIR; }

std::filesystem::path default_config_path() { return bundled_config_dir() / "14nm.json"; }

std::string bundled_config_for(uint64_t fingerprint) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(bundled_config_dir(), ec))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    try {
      if (geometry_fingerprint(load_config(file)) == fingerprint)
        return "configs/" + file.filename().string();
    } catch (const InputError&) {
      // A bundled config that does not load names no geometry.
    }
  }
  return {};
}

ChipConfig load_chosen_config(const ConfigChoice& choice, const std::filesystem::path& fallback) {
  return load_config(choice.path.empty() ? fallback : std::filesystem::path(choice.path), choice.overrides);
}

SystemConfig load_chosen_system(const std::string& system_path, const ConfigChoice& choice) {
  SystemConfig system = load_system(system_path, choice.overrides);
  if (choice.path.empty()) return system;
  const ChipConfig chosen = load_chosen_config(choice, {});
  const nlohmann::json chosen_keys = config_to_json(chosen);
  for (uint32_t chip = 0; chip < system.chips(); ++chip)
    if (config_to_json(system.config_of(chip)) != chosen_keys)
      throw InputError(fmt::format("--config {} does not match chip {} of system {} (config {}): a system's "
                                   "file names its chips' configs; drop --config or pass that one",
                                   choice.path, chip, system_path, system.config_of(chip).source));
  return system;
}

void check_fingerprint(const Program& program, const ChipConfig& config, const std::string& origin) {
  const uint64_t expected = geometry_fingerprint(config);
  if (program.fingerprint == expected) return;
  const std::string built_for = bundled_config_for(program.fingerprint);
  throw InputError(fmt::format("{}: built for another chip geometry (program fingerprint 0x{:016x}, config "
                               "fingerprint 0x{:016x}); {}",
                               origin, program.fingerprint, expected,
                               built_for.empty() ? "no bundled config matches it"
                                                 : fmt::format("it was built for {}", built_for)));
}

void require_instructions(const Program& program, const std::string& origin) {
  const bool any = std::any_of(program.queues.begin(), program.queues.end(),
                               [](const QueueProgram& q) { return !q.words.empty(); });
  if (!any) throw InputError(fmt::format("{}: the program has no instructions", origin));
}

Program load_program_for(const std::filesystem::path& path, const ChipConfig& config) {
  if (path.extension() == ".tsp") {
    Program program = assemble_file(path, config);
    require_instructions(program, path.string());
    return program;
  }
  Program program = read_program(path);
  check_fingerprint(program, config, path.string());
  validate_program(program, config, path.string());
  require_instructions(program, path.string());
  return program;
}

void print_error(std::string_view message) { std::cerr << "error: " << message << '\n'; }

namespace {

// The code to exit with once stdout is flushed: output that could not be written (a full disk) is
// bad output, not a success.
int flush_stdout(int code) {
  errno = 0;
  std::cout.flush();
  const bool failed = !std::cout || std::fflush(stdout) != 0 || std::ferror(stdout);
  if (!failed) return code;
  const int error = errno;
  print_error(fmt::format("cannot write to stdout: {}", error != 0 ? std::strerror(error) : "write error"));
  return 2;
}

int parse_and_run(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const InputError& e) { // an option's check (takes_path)
    print_error(e.what());
    return 2;
  }
  try {
    return body();
  } catch (const InputError& e) {
    print_error(e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    print_error(InputError(e.what()).what());
    return 2;
  } catch (const std::bad_alloc&) {
    // The last line of defence: sizes are checked against the chip before anything grows with
    // them, so this is an input too large for the host, not for the chip.
    print_error("out of host memory: the input needs more memory than this host can allocate");
    return 2;
  }
}

} // namespace

int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  return flush_stdout(parse_and_run(app, argc, argv, body));
}

} // namespace tsp::cli
