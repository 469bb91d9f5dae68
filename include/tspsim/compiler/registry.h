// The kernels tspc knows, with their options, so that the CLI, --list and the benchmark runner
// share one table.
#pragma once

#include "tspsim/compiler/builder.h"
#include "tspsim/compiler/llama.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tsp::compiler {

struct KernelOption {
  std::string name; // without dashes: "m"
  std::string help;
  std::string default_value; // "" = required
};

// Option values by name, as strings; the getters throw InputError naming the option.
class KernelArgs {
public:
  void set(const std::string& name, const std::string& value) { values_[name] = value; }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const std::string& text(const std::string& name) const;
  uint32_t positive(const std::string& name) const;
  uint64_t number(const std::string& name) const;
  // int8/i8, int16/i16, int32/i32, fp16/f16, bf16, fp32/f32.
  isa::DType dtype(const std::string& name) const;

private:
  std::map<std::string, std::string> values_;
};

struct KernelEntry {
  std::string name;
  std::string summary;
  std::vector<KernelOption> options;
  // The key "timing-only" (tspc --timing-only) compiles without the host reference: no outputs,
  // the same program.
  std::function<CompiledKernel(const ChipConfig&, const KernelArgs&)> compile;
};

const std::vector<KernelEntry>& kernel_registry();
const KernelEntry* find_kernel(const std::string& name);

// Fills in the defaults of `entry`'s options that `args` lacks; throws InputError for a missing
// required option.
KernelArgs with_defaults(const KernelEntry& entry, KernelArgs args);

// The model and step `tspc llama`'s options name (--model, with --context its cache's positions;
// --position, --token, --seed; the key "timing-only", set by tspc's --timing-only flag, compiles
// without the host reference).
model::ModelConfig llama_model(const KernelArgs& args);
LlamaStep llama_step(const KernelArgs& args);

} // namespace tsp::compiler
