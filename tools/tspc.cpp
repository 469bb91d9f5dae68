// tspc: compiles a kernel of the library (src/compiler_*.cpp) for one chip config into a program
// container carrying its input tensors, named outputs and predicted cycle count; optionally writes
// the host reference of every output in the format of `tspsim --dump`, for `tspsim --expect`.
// `tspc plan` prints a model's capacity plan instead (docs/models.md); `tspc collective` compiles a
// collective over a system's links into a system program (docs/collectives.md).
// Exit codes: 0 success, 1 the model does not fit on the chips given (plan --chips), 2 bad input.
#include "cli/cli_common.h"
#include "tspc_collective.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/compiler/llama.h"
#include "tspsim/compiler/registry.h"
#include "tspsim/config/config.h"
#include "tspsim/model/model.h"
#include "tspsim/model/plan.h"
#include "tspsim/numeric/numeric.h"
#include "tspsim/numeric/tolerance.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
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
  std::cout << "collective\n  a transfer, all-gather, reduce-scatter or all-reduce over a system's C2C links "
               "(tspc collective --help)\n"
               "plan\n  the chips and SRAM a Llama-style model needs (tspc plan --help)\n";
}

std::string_view bytes_view(const std::vector<uint8_t>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Stages SYMBOL.bin for every output and SYMBOL.tol (its bounds) for every inexact one in `dir`
// (checked with the other outputs before the compile); returns the tspsim options that check them.
std::string stage_references(const tsp::compiler::CompiledKernel& kernel, const std::filesystem::path& dir,
                             tsp::OutputFiles& files) {
  std::string options;
  for (const auto& out : kernel.outputs) {
    const auto bin = dir / (out.symbol + ".bin");
    files.check(bin, "--reference");
    files.stage(bin, bytes_view(out.bytes));
    options += fmt::format(" --expect {}={}", out.symbol, bin.string());
    if (is_exact(out)) continue;
    const auto dtype = kernel.program.find_symbol(out.symbol)->dtype;
    const auto tol = dir / (out.symbol + ".tol");
    files.check(tol, "--reference");
    files.stage(tol, tsp::num::encode_bounds(bounds_against_written(out, dtype)));
    options += fmt::format(" --expect-tol {}=file:{}", out.symbol, tol.string());
  }
  return options;
}

// `tspc plan`: the capacity planner's answer for a model (docs/models.md). Exit 1 when the model
// does not fit on the --chips given, or on the chips of --system.
struct PlanArgs {
  std::string model;
  uint32_t context = 0;
  uint32_t chips = 0;
  std::string system;
};

CLI::App* add_plan_command(CLI::App& app, PlanArgs& args) {
  CLI::App* command =
      app.add_subcommand("plan", "the fewest chips a model needs for decoding, and each chip's SRAM");
  command->fallthrough();
  tsp::cli::takes_path(
      *command,
      command->add_option("--model", args.model, "model name (configs/models/NAME.json) or a model file"));
  command->add_option("--context", args.context, "KV-cache positions per sequence");
  command->add_option("--chips", args.chips, "plan for exactly this many chips and say what does not fit");
  tsp::cli::takes_path(
      *command,
      command->add_option(
          "--system", args.system,
          "plan for exactly this system's chips (configs/systems/; its chips' config), the partition "
          "tspc llama --system takes without --stages"));
  return command;
}

int run_plan(const PlanArgs& args, const tsp::cli::ConfigChoice& config_choice) {
  if (args.model.empty()) throw tsp::InputError("plan: --model is required");
  if (args.context == 0)
    throw tsp::InputError("plan: --context is required (KV-cache positions, at least 1)");
  const auto model = tsp::model::load_model(tsp::model::resolve_model(args.model, "configs/models"));
  uint32_t chips = args.chips;
  tsp::ChipConfig config;
  if (!args.system.empty()) {
    if (chips != 0) throw tsp::InputError("plan: --chips and --system both give the chips: give one");
    const auto system = tsp::cli::load_chosen_system(args.system, config_choice);
    chips = system.chips();
    config = system.config_of(0);
  } else {
    if (config_choice.path.empty()) throw tsp::InputError("--config is required");
    config = tsp::cli::load_chosen_config(config_choice, {});
  }
  const auto plan = tsp::model::plan_model(model, config, {args.context, chips});
  std::cout << tsp::model::format_plan(plan, model, config);
  return plan.fits ? 0 : 1;
}

} // namespace

int main(int argc, char* argv[]) {
  std::string output, reference_dir;
  tsp::cli::ConfigChoice config_choice;
  bool list = false;
  auto app =
      tsp::cli::make_app("tspc", "compiles a TSP kernel into a scheduled program (tspc --list names them)");
  app->add_flag("--list", list, "name every kernel with its options");
  tsp::cli::add_config_options(*app, config_choice,
                               "chip config (JSON) to schedule for, e.g. configs/14nm.json");
  tsp::cli::takes_path(*app, app->add_option("-o,--output", output, "program container to write"));
  tsp::cli::takes_path(
      *app, app->add_option(
                "--reference", reference_dir,
                "directory to write the reference of every output to, as SYMBOL.bin, and the bounds of float "
                "outputs as SYMBOL.tol (tspsim --expect, --expect-tol)"));
  app->require_subcommand(0, 1);
  PlanArgs plan_args;
  CLI::App* plan_command = add_plan_command(*app, plan_args);
  CollectiveArgs collective_args;
  CLI::App* collective_command = add_collective_command(*app, collective_args);
  // Option values per kernel; std::map keeps the strings in place for CLI11.
  std::map<std::string, std::map<std::string, std::string>> values;
  std::map<std::string, CLI::App*> commands;
  for (const auto& entry : tsp::compiler::kernel_registry()) {
    CLI::App* command = app->add_subcommand(entry.name, entry.summary);
    command->fallthrough();
    for (const auto& option : entry.options) {
      CLI::Option* added =
          command->add_option("--" + option.name, values[entry.name][option.name], option.help);
      if (option.name == "model") tsp::cli::takes_path(*command, added);
    }
    commands[entry.name] = command;
  }
  std::string llama_system, llama_stages, llama_prompt;
  std::vector<std::string> llama_checkpoint;
  bool timing_only = false, llama_progress = false;
  app->add_flag("--timing-only", timing_only,
                "a program for tspsim --timing-only: the host reference does not run and declared inputs are "
                "not generated (no --reference); a kernel's program is the same byte for byte, llama's cache "
                "starts at zero");
  tsp::cli::takes_path(*commands.at("llama"),
                       commands.at("llama")->add_option(
                           "--system", llama_system,
                           "system (JSON, configs/systems/): the step over its chips, a system program "
                           "(docs/llama.md)"));
  commands.at("llama")->add_option("--stages", llama_stages,
                                   "with --system: pipeline stages of consecutive layers on cabled nodes, or "
                                   "half-layer blocks where layers do "
                                   "not fit or are fewer (default: tspc plan's choice)");
  commands.at("llama")->add_option(
      "--prompt-tokens", llama_prompt,
      "the prompt pass of this many tokens instead of a decode step: its first token and time to first "
      "token (docs/llama.md, \"Prompt pass\")");
  commands.at("llama")->add_option(
      "--checkpoint", llama_checkpoint,
      "weights from this safetensors checkpoint (Hugging Face Llama names; the files of a sharded one) "
      "instead of seeded random ones: the program reads them by these paths (docs/models.md, "
      "\"Checkpoints\")");
  commands.at("llama")->add_flag("--progress", llama_progress,
                                 "with --system: a line on stderr as each pipeline stage is finished (CPU "
                                 "seconds, resident and peak memory)");
  // The llama options outside the kernel registry. Checkpoint paths go one per line.
  const auto llama_extras = [&](tsp::compiler::KernelArgs& args) {
    if (commands.at("llama")->count("--prompt-tokens") > 0) args.set("prompt-tokens", llama_prompt);
    if (llama_checkpoint.empty()) return;
    if (commands.at("llama")->count("--seed") > 0)
      throw tsp::InputError("llama: --seed makes random weights and --checkpoint reads them: give one");
    args.set("checkpoint", fmt::format("{}", fmt::join(llama_checkpoint, "\n")));
  };
  return tsp::cli::run(*app, argc, argv, [&] {
    // The main options reach the subcommand as values: `--checkpoint -o out.bin` took -o.
    for (const auto& path : llama_checkpoint)
      if (!path.empty() && path[0] == '-')
        throw tsp::InputError(
            fmt::format("llama: --checkpoint: expected a safetensors file, got '{}'", path));
    if (list) {
      print_list();
      return 0;
    }
    if (timing_only && plan_command->parsed()) throw tsp::InputError("--timing-only is not for tspc plan");
    if (timing_only && !reference_dir.empty())
      throw tsp::InputError(fmt::format(
          "{}: --reference needs the host reference: drop --timing-only",
          app->get_subcommands().empty() ? std::string("tspc") : app->get_subcommands().front()->get_name()));
    if (plan_command->parsed()) return run_plan(plan_args, config_choice);
    if (collective_command->parsed())
      return run_collective(collective_args, config_choice, output, reference_dir, timing_only);
    if (app->get_subcommands().empty()) throw tsp::InputError("no kernel given (tspc --list names them)");
    if (!llama_system.empty()) {
      const auto& entry = *tsp::compiler::find_kernel("llama");
      tsp::compiler::KernelArgs args;
      for (const auto& option : entry.options)
        if (commands["llama"]->count("--" + option.name) > 0)
          args.set(option.name, values["llama"][option.name]);
      if (timing_only) args.set("timing-only", "");
      llama_extras(args);
      tsp::compiler::KernelArgs stages;
      stages.set("stages", llama_stages);
      const bool planned = llama_stages.empty();
      return run_llama_system(tsp::compiler::with_defaults(entry, args), llama_system,
                              planned ? 0 : stages.positive("stages"), config_choice, output, reference_dir,
                              llama_progress);
    }
    if (commands.at("llama")->count("--stages") > 0) throw tsp::InputError("llama: --stages needs --system");
    if (llama_progress) throw tsp::InputError("llama: --progress needs --system");
    if (config_choice.path.empty()) throw tsp::InputError("--config is required");
    if (output.empty()) throw tsp::InputError("-o is required");
    tsp::OutputFiles outputs;
    const auto& entry = *tsp::compiler::find_kernel(app->get_subcommands().front()->get_name());
    outputs.reads(config_choice.path, "the config");
    if (const auto* model = commands[entry.name]->get_option_no_throw("--model"); model && model->count() > 0)
      outputs.reads(values[entry.name]["model"], "the model");
    outputs.check(output, "-o");
    if (!reference_dir.empty()) outputs.check_directory(reference_dir, "--reference");
    tsp::compiler::KernelArgs args;
    for (const auto& option : entry.options)
      if (commands[entry.name]->count("--" + option.name) > 0)
        args.set(option.name, values[entry.name][option.name]);
    if (timing_only) args.set("timing-only", "");
    if (entry.name == "llama") llama_extras(args);
    const auto config = tsp::cli::load_chosen_config(config_choice, {});
    const auto kernel = entry.compile(config, tsp::compiler::with_defaults(entry, args));
    outputs.stage(output, bytes_view(tsp::serialize_program(kernel.program)));
    const std::string expects = reference_dir.empty() ? "" : stage_references(kernel, reference_dir, outputs);
    outputs.commit();

    std::cout << tsp::compiler::prediction_summary(kernel.program.metadata.workload, kernel.predicted_cycles,
                                                   kernel.bounds)
              << "\n";
    if (args.has("prompt-tokens"))
      std::cout << tsp::compiler::prompt_prediction(kernel.predicted_cycles, config.clock_mhz) << "\n";
    std::cout << fmt::format("wrote {}\n", output);
    if (!reference_dir.empty()) {
      std::string sets;
      for (const auto& o : config_choice.overrides) sets += " --set " + o;
      std::cout << fmt::format("check: tspsim {} --config {}{}{}\n", output, config_choice.path, sets,
                               expects);
    }
    return 0;
  });
}
