#include "tspsim/compiler/registry.h"

#include "tspsim/common/error.h"
#include "tspsim/compiler/kernels.h"
#include "tspsim/compiler/llama.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <limits>
#include <sstream>

namespace tsp::compiler {

using isa::DType;

const std::string& KernelArgs::text(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) throw InputError(fmt::format("--{}: missing", name));
  return it->second;
}

uint64_t KernelArgs::number(const std::string& name) const {
  const std::string& value = text(name);
  size_t used = 0;
  uint64_t n = 0;
  try {
    n = std::stoull(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (value.empty() || used != value.size() || value[0] == '-')
    throw InputError(fmt::format("--{}: expected a non-negative integer, got '{}'", name, value));
  return n;
}

uint32_t KernelArgs::positive(const std::string& name) const {
  const uint64_t n = number(name);
  if (n < 1 || n > 0xffffffffull)
    throw InputError(
        fmt::format("--{}: expected an integer from 1 to 4294967295, got '{}'", name, text(name)));
  return static_cast<uint32_t>(n);
}

DType KernelArgs::dtype(const std::string& name) const {
  static const std::map<std::string, DType> names{
      {"int8", DType::i8},   {"i8", DType::i8},    {"int16", DType::i16}, {"i16", DType::i16},
      {"int32", DType::i32}, {"i32", DType::i32},  {"fp16", DType::f16},  {"f16", DType::f16},
      {"bf16", DType::bf16}, {"fp32", DType::f32}, {"f32", DType::f32}};
  const auto it = names.find(text(name));
  if (it == names.end())
    throw InputError(
        fmt::format("--{}: unknown type '{}' (int8, int16, int32, fp16, bf16, fp32)", name, text(name)));
  return it->second;
}

namespace {

CompiledKernel gemm(const ChipConfig& config, const KernelArgs& args, bool vector) {
  GemmShape shape;
  shape.m = vector ? 1 : args.positive("m");
  shape.k = args.positive("k");
  shape.n = args.positive("n");
  shape.dtype = args.dtype("dtype");
  shape.seed = args.number("seed");
  shape.max_planes = static_cast<unsigned>(args.number("planes"));
  shape.with_reference = !args.has("timing-only");
  return compile_gemm(config, shape);
}

// An fp32 option. Parsed as a double and then rounded, so that a value fp32 holds only as a
// subnormal (1e-45) is accepted, and one it cannot hold says why instead of "not a number".
float real(const KernelArgs& args, const std::string& name) {
  const std::string& value = args.text(name);
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size())
    throw InputError(fmt::format("--{}: expected a number, got '{}'", name, value));
  // Magnitudes from 2^128 - 2^103 up round to infinity in fp32, those up to 2^-150 to zero.
  if ((std::isinf(x) && errno == ERANGE) || (std::isfinite(x) && std::fabs(x) >= 0x1.ffffffp127))
    throw InputError(fmt::format("--{}: '{}' is beyond the largest fp32, {}", name, value,
                                 std::numeric_limits<float>::max()));
  if ((x == 0 && errno == ERANGE) || (x != 0 && std::fabs(x) <= 0x1p-150))
    throw InputError(fmt::format("--{}: '{}' rounds to 0 in fp32, whose smallest magnitude is {}", name,
                                 value, std::numeric_limits<float>::denorm_min()));
  return static_cast<float>(x);
}

bool flag(const KernelArgs& args, const std::string& name, const std::string& yes, const std::string& no) {
  const std::string& value = args.text(name);
  if (value != yes && value != no)
    throw InputError(fmt::format("--{}: expected {} or {}, got '{}'", name, yes, no, value));
  return value == yes;
}

const KernelOption kSeed{"seed", "seed of the random input tensors", "1"};
const KernelOption kRows{"rows", "rows of the tensors", ""};
const KernelOption kCols{"cols", "columns (lanes) of the tensors", ""};
const KernelOption kPlanes{"planes", "MXM planes to use (0: all)", "0"};

// The compile function of a kernel over rows x cols tensors: --rows and --cols, then the options
// `fill` reads into the shape, then --seed and the key "timing-only" (no host reference).
template <typename Shape, typename Fill>
std::function<CompiledKernel(const ChipConfig&, const KernelArgs&)>
on_rows(CompiledKernel (*compile)(const ChipConfig&, const Shape&), Fill fill) {
  return [compile, fill](const ChipConfig& c, const KernelArgs& a) {
    Shape s;
    s.rows = a.positive("rows");
    s.cols = a.positive("cols");
    fill(a, s);
    s.seed = a.number("seed");
    s.with_reference = !a.has("timing-only");
    return compile(c, s);
  };
}

KernelEntry norm_entry(const std::string& name, const std::string& summary,
                       CompiledKernel (*compile)(const ChipConfig&, const NormShape&)) {
  return {name,
          summary,
          {kRows,
           kCols,
           {"dtype", "fp16 bf16 fp32", "fp32"},
           {"eps", "added to the mean square or variance", "1e-5"},
           kSeed},
          on_rows(compile, [](const KernelArgs& a, NormShape& s) {
            s.dtype = a.dtype("dtype");
            s.eps = real(a, "eps");
          })};
}

KernelEntry activation_entry(const std::string& name, const std::string& summary,
                             CompiledKernel (*compile)(const ChipConfig&, const ActivationShape&)) {
  return {name,
          summary,
          {kRows, kCols, {"dtype", "fp16 bf16 fp32", "fp32"}, kSeed},
          on_rows(compile, [](const KernelArgs& a, ActivationShape& s) { s.dtype = a.dtype("dtype"); })};
}

std::vector<KernelEntry> make_registry() {
  return {
      {"gemm",
       "C (m x n) = A (m x k) B (k x n) on the MXM planes (prefill); C is int32 for int8, fp32 for fp16/bf16",
       {{"m", "rows of A and C", ""},
        {"k", "columns of A, rows of B", ""},
        {"n", "columns of B and C", ""},
        {"dtype", "int8, fp16 or bf16", "int8"},
        kPlanes,
        kSeed},
       [](const ChipConfig& c, const KernelArgs& a) { return gemm(c, a, false); }},
      {"gemv",
       "y (1 x n) = x (1 x k) W (k x n), batch-1 decode: every weight streamed from MEM once and installed "
       "while the previous tile computes",
       {{"k", "length of x, rows of W", ""},
        {"n", "columns of W and y", ""},
        {"dtype", "int8, fp16 or bf16", "int8"},
        kPlanes,
        kSeed},
       [](const ChipConfig& c, const KernelArgs& a) { return gemm(c, a, true); }},
      {"elementwise",
       "C = op(A) or op(A, B) lane by lane in the VXM; B may be one row broadcast over the rows of A",
       {{"op", "mov neg abs relu tanh exp rsqrt recip (unary), add sub mul max min and or xor (binary)", ""},
        kRows,
        kCols,
        {"dtype", "int8 int16 int32 fp16 bf16 fp32", "int8"},
        {"broadcast", "none or row (B is 1 x cols)", "none"},
        kSeed},
       on_rows(compile_elementwise,
               [](const KernelArgs& a, ElementwiseShape& s) {
                 s.op = a.text("op");
                 s.dtype = a.dtype("dtype");
                 s.broadcast = flag(a, "broadcast", "row", "none");
               })},
      {"convert",
       "C = A converted to another type (round to nearest even, saturating to integers)",
       {kRows, kCols, {"from", "source type", "int32"}, {"to", "destination type", "fp32"}, kSeed},
       on_rows(compile_convert,
               [](const KernelArgs& a, ConvertShape& s) {
                 s.from = a.dtype("from");
                 s.to = a.dtype("to");
               })},
      {"requant",
       "C = saturate(round_even(fp32(A) * scale)): int32 accumulators back to int8",
       {kRows,
        kCols,
        {"scale", "the fp32 scale", "5.9604645e-08"},
        {"from", "source type", "int32"},
        {"to", "destination type", "int8"},
        kSeed},
       on_rows(compile_requant,
               [](const KernelArgs& a, RequantShape& s) {
                 s.scale = real(a, "scale");
                 s.from = a.dtype("from");
                 s.to = a.dtype("to");
               })},
      {"residual",
       "C = X + R, the residual connection",
       {kRows, kCols, {"dtype", "int8 int16 int32 fp16 bf16 fp32", "fp16"}, kSeed},
       on_rows(compile_residual, [](const KernelArgs& a, ResidualShape& s) { s.dtype = a.dtype("dtype"); })},
      {"reduce",
       "R = sum or max of X along each row (over its lanes, through the SXM; R is rows x 1) or across the "
       "rows "
       "(R is 1 x cols); int32 for integers, fp32 for floats",
       {{"axis", "lanes or rows", "lanes"},
        {"op", "sum or max", "sum"},
        kRows,
        kCols,
        {"dtype", "int8 int16 int32 (max only) fp16 bf16 fp32", "fp32"},
        kSeed},
       [](const ChipConfig& c, const KernelArgs& a) {
         ReduceShape s;
         s.lanes = flag(a, "axis", "lanes", "rows");
         s.op = a.text("op");
         s.rows = a.positive("rows");
         s.cols = a.positive("cols");
         s.dtype = a.dtype("dtype");
         s.seed = a.number("seed");
         s.with_reference = !a.has("timing-only");
         return compile_reduce(c, s);
       }},
      norm_entry("softmax", "Y = softmax of each row of X (fp32 inside)", compile_softmax),
      norm_entry("rmsnorm", "Y = X * rsqrt(mean(X^2) + eps) * G per row, G one row", compile_rmsnorm),
      norm_entry("layernorm", "Y = (X - mean) * rsqrt(var + eps) * G + B per row, G and B one row each",
                 compile_layernorm),
      activation_entry("silu", "Y = X / (1 + exp(-X)) (fp32 inside)", compile_silu),
      activation_entry("swiglu", "Y = SiLU(A) * B (fp32 inside)", compile_swiglu),
      {"rope",
       "rotary position embedding: row r is the token at position pos0 + r, each pair of a head turns by "
       "position * base^(-2i/head_dim); the pair swap is an SXM Distribute",
       {kRows,
        {"cols", "heads x head_dim", ""},
        {"head-dim", "columns per head (0: cols)", "0"},
        {"pos0", "position of row 0", "0"},
        {"base", "rotary base", "10000"},
        {"dtype", "fp16 bf16 fp32", "fp32"},
        kSeed},
       on_rows(compile_rope,
               [](const KernelArgs& a, RopeShape& s) {
                 s.head_dim = static_cast<uint32_t>(a.number("head-dim"));
                 s.pos0 = static_cast<uint32_t>(a.number("pos0"));
                 s.base = real(a, "base");
                 s.dtype = a.dtype("dtype");
               })},
      {"attention",
       "one decode step of grouped-query attention over a KV cache in MEM: append k and v, scores by MXM, "
       "softmax, output by MXM",
       {{"heads", "query heads", "4"},
        {"kv-heads", "key/value heads (divides heads)", "2"},
        {"head-dim", "columns per head", "64"},
        {"seq", "positions already in the cache (the new token goes at seq)", ""},
        {"dtype", "fp16 or bf16", "fp16"},
        kSeed},
       [](const ChipConfig& c, const KernelArgs& a) {
         AttentionShape s;
         s.heads = a.positive("heads");
         s.kv_heads = a.positive("kv-heads");
         s.head_dim = a.positive("head-dim");
         s.seq = static_cast<uint32_t>(a.number("seq"));
         s.dtype = a.dtype("dtype");
         s.seed = a.number("seed");
         s.with_reference = !a.has("timing-only");
         return compile_attention(c, s);
       }},
      {"llama",
       "one greedy decode step of a Llama-style model on one chip: embedding lookup, every layer, final "
       "norm, LM "
       "head and argmax, weights declared as seeded initialisers (docs/llama.md)",
       {{"model", "model name (configs/models/NAME.json, from the working directory) or a model file", ""},
        {"position", "KV-cache position of the token (the cache holds the positions before it)", "0"},
        {"token",
         "first token of the sequence; the state at --position is the host reference's greedy decode", "1"},
        {"seed", "seed of the model's random weights (model::random_weights)", "1"},
        {"context",
         "KV-cache positions per sequence, at most the model's max_context (0: its max_context); the cache "
         "holds this many and --position stays below it",
         "0"}},
       [](const ChipConfig& c, const KernelArgs& a) {
         return compile_llama_step(c, llama_model(a), llama_step(a));
       }},
  };
}

} // namespace

const std::vector<KernelEntry>& kernel_registry() {
  static const std::vector<KernelEntry> registry = [] {
    std::vector<KernelEntry> entries = make_registry();
    for (KernelEntry& entry : entries)
      entry.compile = [compile = std::move(entry.compile)](const ChipConfig& c, const KernelArgs& a) {
        return compile_keeping_fetch_cycles([&] { return compile(c, a); });
      };
    return entries;
  }();
  return registry;
}

const KernelEntry* find_kernel(const std::string& name) {
  for (const auto& entry : kernel_registry())
    if (entry.name == name) return &entry;
  return nullptr;
}

KernelArgs with_defaults(const KernelEntry& entry, KernelArgs args) {
  for (const auto& option : entry.options)
    if (!args.has(option.name)) {
      if (option.default_value.empty())
        throw InputError(fmt::format("{}: --{} is required ({})", entry.name, option.name, option.help));
      args.set(option.name, option.default_value);
    }
  return args;
}

model::ModelConfig llama_model(const KernelArgs& args) {
  model::ModelConfig model = model::load_model(model::resolve_model(args.text("model"), "configs/models"));
  const uint64_t context = args.has("context") ? args.number("context") : 0;
  if (context > model.max_context)
    throw InputError(fmt::format("llama: --context {}: expected 1 to {} ({}'s max_context)",
                                 args.text("context"), model.max_context, model.name));
  if (context > 0) model.max_context = static_cast<uint32_t>(context);
  return model;
}

LlamaStep llama_step(const KernelArgs& args) {
  const auto small = [&](const std::string& name) {
    const uint64_t n = args.number(name);
    if (n > 0xffffffffull)
      throw InputError(
          fmt::format("--{}: expected an integer up to 4294967295, got '{}'", name, args.text(name)));
    return static_cast<uint32_t>(n);
  };
  LlamaStep step;
  step.position = small("position");
  step.token = small("token");
  step.seed = args.number("seed");
  step.with_reference = !args.has("timing-only");
  if (args.has("prompt-tokens")) step.prompt_tokens = args.positive("prompt-tokens");
  if (args.has("checkpoint")) { // the files of a sharded checkpoint, one per line (tspc --checkpoint)
    std::istringstream paths(args.text("checkpoint"));
    for (std::string path; std::getline(paths, path);) step.checkpoint.push_back(path);
  }
  return step;
}

} // namespace tsp::compiler
