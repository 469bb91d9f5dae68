// tspc: compiles a kernel of the library (src/compiler_*.cpp) for one chip config into a program
// container carrying its input tensors, named outputs and predicted cycle count; optionally writes
// the host reference of every output in the format of `tspsim --dump`, for `tspsim --expect`.
// `tspc plan` prints a model's capacity plan instead (docs/models.md).
// Exit codes: 0 success, 1 the model does not fit on the chips given (plan --chips), 2 bad input.
#include "tspsim/compiler/registry.h"
#include "tspsim/config/config.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/common/version.h"
#include "tspsim/model/plan.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <map>

namespace {

void print_list() {
  for (const auto& entry : tsp::compiler::kernel_registry()) {
    std::cout << fmt::format("{}\n  {}\n", entry.name, entry.summary);
    for (const auto& option : entry.options)
      std::cout << fmt::format(
          "  --{:<10} {}{}\n", option.name, option.help,
          option.default_value.empty() ? " (required)" : fmt::format(" (default {})", option.default_value));
  }
}

// The largest tolerance of a float output in units in the last place of fp32 at the reference.
uint64_t ulp_needed(const tsp::compiler::ExpectedOutput& out) {
  double worst = 0;
  for (size_t e = 0; e < out.values.size(); ++e) {
    if (out.tolerance[e] == 0) continue;
    int exponent;
    std::frexp(out.values[e], &exponent);
    const double ulp = std::ldexp(1.0, std::max(exponent, -125) - 24);
    worst = std::max(worst, std::ceil(out.tolerance[e] / ulp));
  }
  return static_cast<uint64_t>(std::min(worst, 4294967295.0));
}

// `tspc plan`: the capacity planner's answer for a model (docs/models.md). Exit 1 when the model
// does not fit on the --chips given.
struct PlanArgs {
  std::string model;
  uint32_t context = 0;
  uint32_t chips = 0;
};

CLI::App* add_plan_command(CLI::App& app, PlanArgs& args) {
  CLI::App* command =
      app.add_subcommand("plan", "the fewest chips a model needs for decoding, and each chip's SRAM");
  command->fallthrough();
  command->add_option("--model", args.model, "model name (configs/models/NAME.json) or a model file");
  command->add_option("--context", args.context, "KV-cache positions per sequence");
  command->add_option("--chips", args.chips, "plan for exactly this many chips and say what does not fit");
  return command;
}

int run_plan(const PlanArgs& args, const std::string& config_path, const std::vector<std::string>& overrides) {
  if (args.model.empty()) throw tsp::InputError("plan: --model is required");
  if (args.context == 0) throw tsp::InputError("plan: --context is required (KV-cache positions, at least 1)");
  if (config_path.empty()) throw tsp::InputError("--config is required");
  const auto model = tsp::model::load_model(tsp::model::resolve_model(args.model, "configs/models"));
  const auto config = tsp::load_config(config_path, overrides);
  const auto plan = tsp::model::plan_model(model, config, {args.context, args.chips});
  std::cout << tsp::model::format_plan(plan, model, config);
  return plan.fits ? 0 : 1;
}

} // namespace

int main(int argc, char* argv[]) {
  std::string config_path, output, reference_dir;
  std::vector<std::string> overrides;
  bool list = false;
  CLI::App app{fmt::format("tspc {}: compiles a TSP kernel into a scheduled program (tspc --list names them)",
                           tsp::kVersion)};
  app.add_flag("--list", list, "name every kernel with its options");
  app.add_option("--config", config_path, "chip config (JSON) to schedule for, e.g. configs/14nm.json");
  app.add_option("-o,--output", output, "program container to write");
  app.add_option("--set", overrides, "override a config key: key.path=value (repeatable)");
  app.add_option("--reference", reference_dir,
                 "directory to write the reference of every output to, as SYMBOL.bin (tspsim --expect)");
  app.require_subcommand(0, 1);
  PlanArgs plan_args;
  CLI::App* plan_command = add_plan_command(app, plan_args);
  // Option values per kernel; std::map keeps the strings in place for CLI11.
  std::map<std::string, std::map<std::string, std::string>> values;
  std::map<std::string, CLI::App*> commands;
  for (const auto& entry : tsp::compiler::kernel_registry()) {
    CLI::App* command = app.add_subcommand(entry.name, entry.summary);
    command->fallthrough();
    for (const auto& option : entry.options)
      command->add_option("--" + option.name, values[entry.name][option.name], option.help);
    commands[entry.name] = command;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (list) {
    print_list();
    return 0;
  }
  try {
    if (plan_command->parsed()) return run_plan(plan_args, config_path, overrides);
    if (app.get_subcommands().empty()) throw tsp::InputError("no kernel given (tspc --list names them)");
    if (config_path.empty()) throw tsp::InputError("--config is required");
    if (output.empty()) throw tsp::InputError("-o is required");
    const auto& entry = *tsp::compiler::find_kernel(app.get_subcommands().front()->get_name());
    tsp::compiler::KernelArgs args;
    for (const auto& option : entry.options)
      if (commands[entry.name]->count("--" + option.name) > 0)
        args.set(option.name, values[entry.name][option.name]);
    const auto config = tsp::load_config(config_path, overrides);
    const auto kernel = entry.compile(config, tsp::compiler::with_defaults(entry, args));
    tsp::write_program(kernel.program, output);

    const auto& bound = kernel.binding_bound();
    std::cout << fmt::format("{}: {} cycles predicted; binding bound {} {:.0f} cycles (ratio {:.3f})\n",
                             kernel.program.metadata.workload, kernel.predicted_cycles, bound.resource,
                             bound.cycles, double(kernel.predicted_cycles) / bound.cycles);
    std::cout << fmt::format("wrote {}\n", output);
    if (!reference_dir.empty()) {
      std::filesystem::create_directories(reference_dir);
      std::string expects;
      uint64_t ulp = 0;
      for (const auto& out : kernel.outputs) {
        const auto path = std::filesystem::path(reference_dir) / (out.symbol + ".bin");
        tsp::write_file_atomic(
            path, std::string_view(reinterpret_cast<const char*>(out.bytes.data()), out.bytes.size()));
        expects += fmt::format(" --expect {}={}", out.symbol, path.string());
        ulp = std::max(ulp, ulp_needed(out));
      }
      std::string sets;
      for (const auto& o : overrides) sets += " --set " + o;
      std::cout << fmt::format("check: tspsim {} --config {}{}{}{}\n", output, config_path, sets, expects,
                               ulp > 1 ? fmt::format(" --expect-ulp {}", ulp) : "");
    }
    return 0;
  } catch (const tsp::InputError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
}
