#include "asm_symbols.h"

#include "tspsim/program/tensor.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <optional>

namespace tsp::assembly {

namespace {
std::optional<double> parse_float_literal(std::string_view text) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

} // namespace

void SymbolReader::read(const Token& head, bool tensor, Program& program) {
  Symbol symbol;
  const Token& name = cursor_.expect(Tok::word, "a symbol name");
  if (!is_valid_symbol_name(name.text))
    cursor_.fail(name, fmt::format("'{}' is not a valid symbol name", name.text));
  symbol.name = name.text;
  const Token& type = cursor_.expect(Tok::word, "a type (i8, i16, i32, f16, bf16, f32)");
  const auto dtype = isa::dtype_by_name(type.text);
  if (!dtype) cursor_.fail(type, fmt::format("unknown type '{}' (i8, i16, i32, f16, bf16, f32)", type.text));
  symbol.dtype = *dtype;
  shape(cursor_.next(), symbol);

  std::map<std::string, Token> seen;
  TensorInit init;
  while (!cursor_.at_end_of_statement()) {
    const Token& key = cursor_.expect(Tok::word, tensor ? "an option (slices=, base=, init=)"
                                                        : "an option (slices=, base=)");
    cursor_.expect(Tok::equals, "'='");
    if (!seen.emplace(key.text, key).second) cursor_.fail(key, fmt::format("{}= is given twice", key.text));
    if (key.text == "slices") {
      symbol.slices.push_back(operands_.mem_slice(cursor_.next()));
      while (cursor_.peek().kind == Tok::comma) {
        cursor_.next();
        symbol.slices.push_back(operands_.mem_slice(cursor_.next()));
      }
    } else if (key.text == "base") {
      symbol.base = static_cast<uint32_t>(operands_.defined_integer(cursor_.next(), 0, UINT32_MAX));
      if (cursor_.peek().kind == Tok::comma) symbol.bases.push_back(symbol.base);
      while (cursor_.peek().kind == Tok::comma) {
        cursor_.next();
        symbol.bases.push_back(
            static_cast<uint32_t>(operands_.defined_integer(cursor_.next(), 0, UINT32_MAX)));
      }
      if (!symbol.bases.empty() && symbol.bases.size() != symbol.slices.size())
        cursor_.fail(key, fmt::format("base= gives {} bases for {} slices (one base, or one per slice after "
                                      "slices=)",
                                      symbol.bases.size(), symbol.slices.size()));
    } else if (key.text == "init" && tensor) {
      init = tensor_init(symbol);
    } else {
      cursor_.fail(key, fmt::format("unknown option '{}' ({} takes slices=, base={})", key.text,
                                    tensor ? ".tensor" : ".symbol", tensor ? ", init=" : ""));
    }
  }
  for (const char* key : {"slices", "base", "init"})
    if (!seen.count(key) && (tensor || std::strcmp(key, "init") != 0))
      cursor_.fail(head, fmt::format("{} {} needs {}=", head.text, symbol.name, key));
  check_symbol_shape(symbol, seen.at("slices"));
  if (init.kind == TensorInit::Kind::random) {
    add_random_tensor(program, std::move(symbol), init.declared);
    return;
  }
  if (init.kind == TensorInit::Kind::values)
    for (auto& image : tensor_images(symbol, init.elements, config_.geometry.vector_bytes()))
      program.images.push_back(std::move(image));
  program.symbols.push_back(std::move(symbol));
}

void SymbolReader::shape(const Token& token, Symbol& symbol) const {
  const auto x = token.text.find('x');
  // 0 stands for a missing or unreadable number: both must be at least 1.
  const int64_t rows =
      x == std::string::npos ? 0 : parse_integer_literal(token.text.substr(0, x)).value_or(0);
  const int64_t cols =
      x == std::string::npos ? 0 : parse_integer_literal(token.text.substr(x + 1)).value_or(0);
  if (token.kind != Tok::number || rows < 1 || cols < 1 || rows > UINT32_MAX || cols > UINT32_MAX)
    cursor_.fail(token, fmt::format("expected a shape ROWSxCOLS (e.g. 4x320), got {}", describe(token)));
  symbol.rows = static_cast<uint32_t>(rows);
  symbol.cols = static_cast<uint32_t>(cols);
}

// The checks that must hold before a tensor's images can be built; validate_program repeats
// them for programs from other sources.
void SymbolReader::check_symbol_shape(const Symbol& symbol, const Token& slices_at) const {
  const unsigned bytes = isa::dtype_bytes(symbol.dtype);
  if (symbol.slices.size() % bytes != 0)
    cursor_.fail(slices_at, fmt::format("{} slices is not a whole number of {}-slice groups for {}",
                                        symbol.slices.size(), bytes, isa::dtype_name(symbol.dtype)));
  if (symbol.cols > config_.geometry.vector_bytes())
    cursor_.fail(slices_at, fmt::format("{} columns do not fit a {}-lane vector", symbol.cols,
                                        config_.geometry.vector_bytes()));
  const uint64_t groups = symbol.slices.size() / bytes;
  for (size_t k = 0; k < symbol.slices.size(); ++k) {
    const uint64_t base = symbol.base_of(k);
    const uint64_t end = base + (symbol.rows + groups - 1) / groups;
    if (end > config_.geometry.mem_words_per_slice)
      cursor_.fail(slices_at,
                   fmt::format("rows at addresses {}..{} run past the slice end (slice has {} words)", base,
                               end - 1, config_.geometry.mem_words_per_slice));
  }
}

// The options after random(SEED, jitter(SEED, DIVISOR or checkpoint(FILE, TENSOR, OFFSET: `,
// stride=N` (elements from one row's start to the next's) and `, rows=FIRST:COUNT` (only those
// rows initialised); a checkpoint's also `, transposed` and `, rotary=HEAD_DIM`.
void SymbolReader::window_options(const std::string& init, const Symbol& symbol, DeclaredTensor& declared) {
  const bool checkpoint = is_checkpoint(declared.values);
  const char* options = checkpoint ? "stride=, rows=, transposed, rotary=" : "stride=, rows=";
  std::map<std::string, Token> seen;
  while (cursor_.peek().kind == Tok::comma) {
    cursor_.next();
    const Token& key = cursor_.expect(Tok::word, options);
    const bool known = key.text == "stride" || key.text == "rows" ||
                       (checkpoint && (key.text == "transposed" || key.text == "rotary"));
    if (!known) cursor_.fail(key, fmt::format("unknown {}() option '{}' ({})", init, key.text, options));
    if (!seen.emplace(key.text, key).second)
      cursor_.fail(key, fmt::format("{}{} is given twice", key.text, key.text == "transposed" ? "" : "="));
    if (key.text == "transposed") {
      declared.checkpoint.transposed = true;
      continue;
    }
    cursor_.expect(Tok::equals, "'='");
    if (key.text == "rotary") {
      const Token& size = cursor_.next();
      declared.checkpoint.rotary_head_dim =
          static_cast<uint32_t>(operands_.defined_integer(size, 2, UINT32_MAX));
      if (declared.checkpoint.rotary_head_dim % 2 != 0)
        cursor_.fail(size, fmt::format("rotary={} is odd (a head turns pairs of columns)",
                                       declared.checkpoint.rotary_head_dim));
      continue;
    }
    if (key.text == "stride") {
      const Token& stride = cursor_.next();
      declared.row_stride = static_cast<uint32_t>(operands_.defined_integer(stride, 0, UINT32_MAX));
      if (declared.row_stride < symbol.cols)
        cursor_.fail(stride, fmt::format("stride={} is less than the {} columns of a row",
                                         declared.row_stride, symbol.cols));
      continue;
    }
    const Token& first = cursor_.next();
    declared.first_row = static_cast<uint32_t>(operands_.defined_integer(first, 0, UINT32_MAX));
    cursor_.expect(Tok::colon, "':' (rows=FIRST:COUNT)");
    declared.row_count = static_cast<uint32_t>(operands_.defined_integer(cursor_.next(), 1, UINT32_MAX));
    if (uint64_t{declared.first_row} + declared.row_count > symbol.rows)
      cursor_.fail(first, fmt::format("rows={}:{} runs past the {} rows of the tensor", declared.first_row,
                                      declared.row_count, symbol.rows));
  }
}

// checkpoint("FILE", "TENSOR", OFFSET or checkpoint_scale(...: the symbol's type must be one the
// checkpoint converts to (docs/assembly.md).
DeclaredTensor SymbolReader::checkpoint_declaration(const Token& kind, const Symbol& symbol) {
  const bool scale = kind.text == "checkpoint_scale";
  const bool allowed = scale ? isa::dtype_is_float(symbol.dtype)
                             : symbol.dtype != isa::DType::i16 && symbol.dtype != isa::DType::i32;
  if (!allowed)
    cursor_.fail(kind, fmt::format("{}() initialises {} tensors, not {}", kind.text,
                                   scale ? "fp16, bf16 or fp32" : "int8, fp16, bf16 or fp32",
                                   isa::dtype_name(symbol.dtype)));
  DeclaredTensor declared = random_declaration(symbol, 0, config_.geometry.vector_bytes());
  declared.values = scale ? DeclaredValues::checkpoint_scale : DeclaredValues::checkpoint;
  declared.checkpoint.file = cursor_.expect(Tok::string, "the checkpoint file as a string").text;
  if (declared.checkpoint.file.empty()) cursor_.fail(kind, "the checkpoint file is an empty string");
  cursor_.expect(Tok::comma, "',' and the tensor's name");
  declared.checkpoint.tensor = cursor_.expect(Tok::string, "the tensor's name as a string").text;
  if (declared.checkpoint.tensor.empty()) cursor_.fail(kind, "the tensor's name is an empty string");
  cursor_.expect(Tok::comma, "',' and the offset of element (0, 0)");
  const Token& offset = cursor_.next();
  const auto value = offset.kind == Tok::number ? parse_unsigned_literal(offset.text) : std::nullopt;
  if (!value)
    cursor_.fail(offset, fmt::format("expected the offset of element (0, 0), got {}", describe(offset)));
  declared.offset = *value;
  return declared;
}

// init=zeros (no image: MEM is zero at reset), init=random(SEED[, stride=N][, rows=FIRST:COUNT]),
// init=jitter(SEED, DIVISOR[, ...]), init=checkpoint("FILE", "TENSOR", OFFSET[, ...]),
// init=checkpoint_scale(...) or init=values(v1 v2 ...).
SymbolReader::TensorInit SymbolReader::tensor_init(const Symbol& symbol) {
  TensorInit init;
  constexpr const char* kKinds =
      "zeros, random(SEED), jitter(SEED, DIVISOR), checkpoint(FILE, TENSOR, OFFSET), "
      "checkpoint_scale(FILE, TENSOR, OFFSET) or values(...)";
  const Token& kind = cursor_.expect(Tok::word, kKinds);
  if (kind.text == "zeros") return init;
  if (kind.text == "checkpoint" || kind.text == "checkpoint_scale") {
    cursor_.expect(Tok::lparen, "'('");
    init.kind = TensorInit::Kind::random;
    init.declared = checkpoint_declaration(kind, symbol);
    window_options(kind.text, symbol, init.declared);
    cursor_.expect(Tok::rparen, "')'");
    return init;
  }
  if (kind.text == "random" || kind.text == "jitter") {
    if (kind.text == "jitter" && !isa::dtype_is_float(symbol.dtype))
      cursor_.fail(kind, fmt::format("jitter() initialises fp16, bf16 or fp32 tensors, not {}",
                                     isa::dtype_name(symbol.dtype)));
    cursor_.expect(Tok::lparen, "'('");
    init.kind = TensorInit::Kind::random;
    const uint64_t stream = seed(cursor_.next());
    const unsigned vector_bytes = config_.geometry.vector_bytes();
    init.declared = random_declaration(symbol, stream, vector_bytes);
    if (kind.text == "jitter") {
      cursor_.expect(Tok::comma, "',' and the divisor");
      const Token& at = cursor_.next();
      const auto divisor = at.kind == Tok::number ? parse_float_literal(at.text) : std::nullopt;
      if (!divisor || !std::isfinite(*divisor) || *divisor <= 0)
        cursor_.fail(at, fmt::format("expected a finite positive divisor, got {}", describe(at)));
      init.declared = jitter_declaration(symbol, stream, *divisor, vector_bytes);
    }
    window_options(kind.text, symbol, init.declared);
    cursor_.expect(Tok::rparen, "')'");
    return init;
  }
  if (kind.text != "values") cursor_.fail(kind, fmt::format("expected {}, got '{}'", kKinds, kind.text));
  init.kind = TensorInit::Kind::values;
  cursor_.expect(Tok::lparen, "'('");
  const uint64_t wanted = uint64_t{symbol.rows} * symbol.cols;
  uint64_t count = 0;
  while (cursor_.peek().kind != Tok::rparen) {
    const Token& v = cursor_.next();
    if (++count > wanted)
      cursor_.fail(v, fmt::format("too many values: the {}x{} tensor has {} elements", symbol.rows,
                                  symbol.cols, wanted));
    const auto bytes = element_value(v, symbol.dtype);
    init.elements.insert(init.elements.end(), bytes.begin(), bytes.end());
  }
  if (count != wanted)
    cursor_.fail(cursor_.peek(), fmt::format("{} values for the {} elements of the {}x{} tensor", count,
                                             wanted, symbol.rows, symbol.cols));
  cursor_.next();
  return init;
}

// Seeds take the whole uint64_t range: tspc skips streams to a window's first element by
// random_skip, which wraps.
uint64_t SymbolReader::seed(const Token& token) const {
  if (token.kind == Tok::number)
    if (const auto value = parse_unsigned_literal(token.text)) return *value;
  return static_cast<uint64_t>(operands_.defined_integer(token, 0, INT64_MAX));
}

std::vector<uint8_t> SymbolReader::element_value(const Token& token, isa::DType dtype) const {
  std::optional<double> value;
  if (!isa::dtype_is_float(dtype)) {
    if (const auto i = parse_integer_literal(token.text); i && token.kind == Tok::number)
      value = static_cast<double>(*i);
  } else if (token.kind == Tok::number || token.text == "inf" || token.text == "nan") {
    value = parse_float_literal(token.text);
  }
  if (!value)
    cursor_.fail(token, fmt::format("expected an {} value, got {}", isa::dtype_name(dtype), describe(token)));
  const auto bytes = element_bytes(dtype, *value);
  if (!bytes)
    cursor_.fail(token,
                 fmt::format("{} is not exactly representable in {}", token.text, isa::dtype_name(dtype)));
  return *bytes;
}

} // namespace tsp::assembly
