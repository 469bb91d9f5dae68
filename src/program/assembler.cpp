// The assembler: statements are parsed in one pass; operands that name a label or constant not
// yet defined are resolved at the end, then every instruction is range-checked and encoded.
#include "tspsim/program/assembler.h"

#include "asm_lexer.h"
#include "asm_operands.h"
#include "asm_symbols.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/common/version.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/instruction_check.h"
#include "tspsim/program/tensor.h"
#include "tspsim/program/timing_rules.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <optional>

namespace tsp {
namespace {

using assembly::describe;
using assembly::fail_at;
using assembly::is_identifier;
using assembly::NameValue;
using assembly::parse_integer_literal;
using assembly::Tok;
using assembly::Token;
using isa::FieldKind;

bool is_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

struct PendingName {
  size_t operand;
  Token token;
};

struct PendingInstruction {
  Instruction instruction;
  uint32_t line = 0;     // in this file
  uint32_t recorded = 0; // the line stored in the program
  std::vector<PendingName> names;
};

struct QueueBlock {
  uint32_t queue;
  std::vector<PendingInstruction> instructions;
};

struct TextBlock {
  uint32_t mem;
  uint32_t address;
  size_t image; // index of its (still empty) image in the program
  uint32_t line;
  std::vector<PendingInstruction> instructions;
  std::vector<size_t> slots; // word index of each instruction within the text
  size_t words = 0;
};

class Assembler : private assembly::TokenCursor {
public:
  Assembler(std::string_view text, const std::string& origin, const ChipConfig& config)
      : TokenCursor(assembly::tokenize(text, origin), origin), config_(config),
        floorplan_(config.geometry, config.icu) {
    per_vector_ = text_words_per_vector(config.geometry.vector_bytes());
    program_.fingerprint = geometry_fingerprint(config);
    program_.metadata.generator = fmt::format("tspasm {}", kVersion);
    program_.metadata.source = origin;
  }

  Program run() {
    while (pos_ < tokens_.size()) statement();
    resolve_and_encode();
    validate_program(program_, config_, origin_);
    return std::move(program_);
  }

private:
  // ---- statements ---------------------------------------------------------------------------
  void statement() {
    const Token& first = peek();
    if (first.kind == Tok::newline) {
      next();
      return;
    }
    if (first.kind != Tok::word)
      fail(first, fmt::format("expected a directive, label or instruction, got {}", describe(first)));
    if (tokens_[pos_ + 1].kind == Tok::colon) {
      label(next());
      next();
      open_image_.reset();
      if (at_end_of_statement()) {
        next();
        return;
      }
    }
    const Token& head = next();
    const bool continues_image = head.text == ".bytes";
    if (head.text[0] == '.')
      directive(head);
    else
      instruction(head);
    if (!continues_image) open_image_.reset();
    if (head.text == ".image") open_image_ = program_.images.size() - 1;
  }

  void define_name(const Token& name, int64_t value) {
    if (!is_identifier(name.text)) fail(name, fmt::format("'{}' is not a valid name", name.text));
    const auto [it, fresh] = names_.emplace(name.text, NameValue{value, name.line});
    if (!fresh) fail(name, fmt::format("'{}' is already defined on line {}", name.text, it->second.line));
  }

  void label(const Token& name) {
    if (!text_) fail(name, fmt::format("label '{}' outside a .text section", name.text));
    auto& text = texts_[*text_];
    text.words = (text.words + per_vector_ - 1) / per_vector_ * per_vector_;
    define_name(name, text.address + static_cast<int64_t>(text.words / per_vector_));
  }

  void directive(const Token& head) {
    const auto& d = head.text;
    if (d == ".queue")
      queue_directive();
    else if (d == ".text")
      text_directive(head);
    else if (d == ".equ")
      equ_directive();
    else if (d == ".workload")
      program_.metadata.workload = once(head, expect(Tok::string, "a string").text);
    else if (d == ".source")
      source_directive(head);
    else if (d == ".generator")
      program_.metadata.generator = once(head, expect(Tok::string, "a string").text);
    else if (d == ".tokens")
      program_.metadata.tokens_per_run = once(head, unsigned_value(UINT64_MAX >> 1));
    else if (d == ".chips")
      program_.metadata.chips = static_cast<uint32_t>(once(head, unsigned_value(UINT32_MAX)));
    else if (d == ".predicted_cycles")
      program_.metadata.predicted_cycles = once(head, unsigned_value(UINT64_MAX >> 1));
    else if (d == ".symbol" || d == ".tensor")
      assembly::SymbolReader(*this, operands_, config_).read(head, d == ".tensor", program_);
    else if (d == ".image")
      image_directive();
    else if (d == ".bytes")
      bytes_directive(head);
    else if (d == ".chip")
      fail(head, ".chip starts a section of a system program (use --system SYSTEM.json)");
    else
      fail(head, fmt::format("unknown directive '{}'", d));
    end_statement();
  }

  // Metadata directives may appear once each.
  template <typename T> T once(const Token& head, T value) {
    const auto [it, fresh] = metadata_lines_.emplace(head.text, head.line);
    if (!fresh) fail(head, fmt::format("{} is already set on line {}", head.text, it->second));
    return value;
  }

  void queue_directive() {
    const Token& name = expect(Tok::word, "a queue name");
    const auto queue = floorplan_.find_queue(name.text);
    if (!queue) fail(name, fmt::format("unknown queue '{}'", name.text));
    text_.reset();
    const auto it =
        std::find_if(queues_.begin(), queues_.end(), [&](const QueueBlock& b) { return b.queue == *queue; });
    queue_ = static_cast<size_t>(it - queues_.begin());
    if (it == queues_.end()) queues_.push_back({*queue, {}});
  }

  void text_directive(const Token& head) {
    const uint32_t mem = operands_.mem_slice(next());
    const auto address = static_cast<uint32_t>(operands_.defined_integer(next(), 0, UINT32_MAX));
    if (per_vector_ == 0)
      fail(head, fmt::format(".text needs vectors of at least {} bytes", isa::kInstructionBytes));
    queue_.reset();
    text_ = texts_.size();
    texts_.push_back({mem, address, program_.images.size(), head.line, {}, {}, 0});
    program_.images.push_back({mem, address, {}});
  }

  void equ_directive() {
    const Token& name = expect(Tok::word, "a name");
    const int64_t value = operands_.defined_integer(next(), INT64_MIN, INT64_MAX);
    define_name(name, value);
  }

  void source_directive(const Token& head) {
    if (instructions_seen_) fail(head, ".source must come before the first instruction");
    program_.metadata.source = once(head, expect(Tok::string, "a string").text);
    annotated_lines_ = true;
  }

  uint64_t unsigned_value(uint64_t max) {
    return static_cast<uint64_t>(operands_.defined_integer(next(), 0, static_cast<int64_t>(max)));
  }

  void image_directive() {
    const uint32_t mem = operands_.mem_slice(next());
    const auto address = static_cast<uint32_t>(operands_.defined_integer(next(), 0, UINT32_MAX));
    program_.images.push_back({mem, address, {}});
    hex_bytes(program_.images.back().bytes);
  }

  void bytes_directive(const Token& head) {
    if (!open_image_) fail(head, ".bytes must follow .image or .bytes");
    hex_bytes(program_.images[*open_image_].bytes);
  }

  void hex_bytes(std::vector<uint8_t>& out) {
    while (!at_end_of_statement()) {
      const Token& token = next();
      const auto& t = token.text;
      const bool hex =
          (token.kind == Tok::word || token.kind == Tok::number) && t.size() % 2 == 0 && is_hex(t);
      if (!hex) fail(token, fmt::format("expected hex bytes (pairs of hex digits), got {}", describe(token)));
      for (size_t i = 0; i < t.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoul(t.substr(i, 2), nullptr, 16)));
    }
  }

  // ---- instructions -------------------------------------------------------------------------
  void instruction(const Token& head) {
    const auto dot = head.text.find('.');
    const std::string base = head.text.substr(0, dot);
    const auto* spec = isa::find_mnemonic(base);
    if (!spec) fail(head, unknown_mnemonic(base));
    if (!queue_ && !text_) fail(head, "instruction outside a .queue or .text section");
    instructions_seen_ = true;

    PendingInstruction pending;
    pending.instruction.opcode = spec->opcode;
    pending.line = head.line;
    pending.recorded = annotated_lines_ ? 0 : head.line;
    const auto fields = spec->operand_fields();

    std::vector<std::string> suffixes;
    for (size_t at = dot; at != std::string::npos;) {
      const auto end = head.text.find('.', at + 1);
      suffixes.push_back(
          head.text.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1));
      at = end;
    }
    std::vector<size_t> dtype_fields, operand_fields;
    for (size_t i = 0; i < fields.size(); ++i)
      (fields[i].kind == FieldKind::dtype ? dtype_fields : operand_fields).push_back(i);
    if (suffixes.size() != dtype_fields.size())
      fail(head, dtype_fields.empty()
                     ? fmt::format("{} takes no type suffix", spec->mnemonic)
                     : fmt::format("{} needs {} type suffix{} ({})", spec->mnemonic, dtype_fields.size(),
                                   dtype_fields.size() == 1 ? "" : "es", instruction_syntax(*spec)));
    uint32_t suffix_col = head.col + static_cast<uint32_t>(base.size()) + 1;
    for (size_t k = 0; k < suffixes.size(); ++k) {
      const auto dtype = isa::dtype_by_name(suffixes[k]);
      if (!dtype)
        fail_at(origin_, head.line, suffix_col,
                fmt::format("unknown type '{}' (i8, i16, i32, f16, bf16, f32)", suffixes[k]));
      pending.instruction.operands[dtype_fields[k]] = static_cast<int64_t>(*dtype);
      suffix_col += static_cast<uint32_t>(suffixes[k].size()) + 1;
    }

    size_t k = 0;
    if (!at_end_of_statement() && peek().kind != Tok::at) {
      while (true) {
        const Token& token = next();
        if (token.kind != Tok::word && token.kind != Tok::number)
          fail(token, fmt::format("expected an operand, got {}", describe(token)));
        if (k >= operand_fields.size())
          fail(token, fmt::format("extra operand '{}' ({})", token.text, instruction_syntax(*spec)));
        operand(pending, operand_fields[k++], token);
        if (peek().kind != Tok::comma) break;
        next();
      }
    }
    if (!at_end_of_statement() && peek().kind != Tok::at)
      fail(peek(), fmt::format("expected ',' or end of line after an operand, got {}", describe(peek())));
    if (k < operand_fields.size()) {
      const Token& last = tokens_[pos_ - 1];
      fail_at(origin_, last.line, last.col + static_cast<uint32_t>(last.text.size()),
              fmt::format("missing operand '{}' ({})", fields[operand_fields[k]].name,
                          instruction_syntax(*spec)));
    }
    if (peek().kind == Tok::at) line_annotation(pending);
    end_statement();

    if (queue_) {
      queues_[*queue_].instructions.push_back(std::move(pending));
    } else {
      auto& text = texts_[*text_];
      text.slots.push_back(text.words++);
      text.instructions.push_back(std::move(pending));
    }
  }

  void line_annotation(PendingInstruction& pending) {
    const Token& at = next();
    if (!queue_) fail(at, "@LINE annotations apply to .queue instructions only");
    const Token& value = next();
    const auto line = value.kind == Tok::number ? parse_integer_literal(value.text) : std::nullopt;
    if (!line || *line < 0 || *line > UINT32_MAX)
      fail(value, fmt::format("expected a line number after '@', got {}", describe(value)));
    pending.recorded = static_cast<uint32_t>(*line);
  }

  std::string unknown_mnemonic(const std::string& base) const {
    for (const auto& spec : isa::opcodes()) {
      if (spec.mnemonic.size() != base.size()) continue;
      if (std::equal(base.begin(), base.end(), spec.mnemonic.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          }))
        return fmt::format("unknown mnemonic '{}' (did you mean '{}'?)", base, spec.mnemonic);
    }
    return fmt::format("unknown mnemonic '{}'", base);
  }

  void operand(PendingInstruction& pending, size_t index, const Token& token) {
    const auto& field = pending.instruction.spec().operand_fields()[index];
    if (const auto value = operands_.read(field, token))
      pending.instruction.operands[index] = *value;
    else
      pending.names.push_back({index, token});
  }

  // ---- finishing ----------------------------------------------------------------------------
  void resolve(PendingInstruction& pending) const {
    for (const auto& [index, token] : pending.names) {
      const auto it = names_.find(token.text);
      if (it == names_.end()) fail(token, fmt::format("unknown name '{}'", token.text));
      const auto& field = pending.instruction.spec().operand_fields()[index];
      operands_.check_range(field, it->second.value, token);
      pending.instruction.operands[index] = it->second.value;
    }
  }

  void resolve_and_encode() {
    for (auto& block : queues_) {
      QueueProgram q;
      q.queue = block.queue;
      for (auto& pending : block.instructions) {
        resolve(pending);
        q.words.push_back(encode(pending.instruction));
        q.lines.push_back(pending.recorded);
      }
      if (std::all_of(q.lines.begin(), q.lines.end(), [](uint32_t line) { return line == 0; }))
        q.lines.clear();
      program_.queues.push_back(std::move(q));
    }
    for (auto& text : texts_) {
      if (text.instructions.empty()) fail_at(origin_, text.line, 1, "empty .text section");
      const size_t vectors = (text.words + per_vector_ - 1) / per_vector_;
      auto& bytes = program_.images[text.image].bytes;
      bytes.assign(vectors * config_.geometry.vector_bytes(), 0);
      const Instruction* previous = nullptr;
      for (size_t i = 0; i < text.instructions.size(); ++i) {
        auto& pending = text.instructions[i];
        resolve(pending);
        if (const auto problem = check_operands(pending.instruction, previous, config_, floorplan_))
          throw InputError(fmt::format("{}:{}: .text {} {} instruction {} ({}): {}", origin_, pending.line,
                                       floorplan_.mem_name(text.mem), text.address, i,
                                       pending.instruction.spec().mnemonic, *problem));
        previous = &pending.instruction;
        const uint64_t word = encode(pending.instruction);
        const size_t slot = text.slots[i];
        put_text_word(&bytes[slot / per_vector_ * config_.geometry.vector_bytes()],
                      unsigned(slot % per_vector_), word);
      }
    }
  }

  const ChipConfig& config_;
  Floorplan floorplan_;
  size_t per_vector_ = 0;
  Program program_;

  std::map<std::string, NameValue> names_;
  std::map<std::string, uint32_t> metadata_lines_;
  std::vector<QueueBlock> queues_;
  std::vector<TextBlock> texts_;
  std::optional<size_t> queue_, text_, open_image_;
  bool instructions_seen_ = false;
  bool annotated_lines_ = false;
  assembly::OperandReader operands_{origin_, config_, floorplan_, names_};
};

} // namespace

std::string instruction_syntax(const isa::OpcodeSpec& spec) {
  std::string head(spec.mnemonic);
  std::vector<std::string> operands;
  for (const auto& field : spec.operand_fields()) {
    if (field.kind == FieldKind::dtype)
      head += fmt::format(".<{}>", field.name);
    else
      operands.emplace_back(field.name);
  }
  return operands.empty() ? head : fmt::format("{} {}", head, fmt::join(operands, ", "));
}

Program assemble(std::string_view text, const std::string& origin, const ChipConfig& config) {
  return Assembler(text, origin, config).run();
}

Program assemble_file(const std::filesystem::path& path, const ChipConfig& config) {
  return assemble(read_text_file(path), path.string(), config);
}

namespace {

// One `.chip LIST` line: the index of its `.chip` token.
std::vector<size_t> chip_sections(const std::vector<Token>& tokens) {
  std::vector<size_t> sections;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const bool statement_start = i == 0 || tokens[i - 1].kind == Tok::newline;
    if (statement_start && tokens[i].kind == Tok::word && tokens[i].text == ".chip") sections.push_back(i);
  }
  return sections;
}

// "LIST" of `.chip LIST`: numbers and ranges A-B separated by commas ("A-B" lexes as A, -B).
std::vector<uint32_t> parse_chip_list(const std::vector<Token>& tokens, size_t& pos,
                                      const std::string& origin, const SystemConfig& system) {
  std::vector<uint32_t> chips;
  const auto chip_number = [&](const Token& token, std::string_view text) {
    const auto value = token.kind == Tok::number ? parse_integer_literal(text) : std::nullopt;
    if (!value || *value < 0)
      fail_at(origin, token.line, token.col,
              fmt::format("expected a chip number or range (e.g. .chip 0-7, 9), got '{}'", token.text));
    if (*value >= system.chips())
      fail_at(origin, token.line, token.col,
              fmt::format("chip {} is out of range (system '{}' has {} chips: 0..{})", *value, system.name,
                          system.chips(), system.chips() - 1));
    return static_cast<uint32_t>(*value);
  };
  while (true) {
    const Token& first = tokens[pos++];
    if (first.kind == Tok::newline)
      fail_at(origin, first.line, first.col,
              "expected a chip number or range (e.g. .chip 0-7, 9), got end of line");
    const uint32_t from = chip_number(first, first.text);
    uint32_t to = from;
    const Token& next = tokens[pos];
    if (next.kind == Tok::number && next.text[0] == '-' && next.line == first.line &&
        next.col == first.col + first.text.size()) {
      to = chip_number(next, std::string_view(next.text).substr(1));
      if (to < from) fail_at(origin, next.line, next.col, fmt::format("empty chip range {}-{}", from, to));
      ++pos;
    }
    for (uint32_t chip = from; chip <= to; ++chip) chips.push_back(chip);
    if (tokens[pos].kind == Tok::newline) return chips;
    if (tokens[pos].kind != Tok::comma)
      fail_at(origin, tokens[pos].line, tokens[pos].col,
              fmt::format("expected ',' or end of line in a chip list, got '{}'", tokens[pos].text));
    ++pos;
  }
}

// The text of lines [first, last) (1-based), preceded by blank lines so that line numbers in
// messages and recorded source lines are those of the whole file.
std::string lines_of(std::string_view text, const std::vector<size_t>& line_starts, uint32_t first,
                     uint32_t last) {
  const size_t begin = first - 1 < line_starts.size() ? line_starts[first - 1] : text.size();
  const size_t end = last - 1 < line_starts.size() ? line_starts[last - 1] : text.size();
  return std::string(first - 1, '\n') + std::string(text.substr(begin, end - begin));
}

} // namespace

bool has_chip_sections(std::string_view text, const std::string& origin) {
  return !chip_sections(assembly::tokenize(text, origin)).empty();
}

std::string chip_list_text(const std::vector<uint32_t>& chips) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < chips.size();) {
    size_t j = i;
    while (j + 1 < chips.size() && chips[j + 1] == chips[j] + 1) ++j;
    parts.push_back(j == i ? fmt::format("{}", chips[i]) : fmt::format("{}-{}", chips[i], chips[j]));
    i = j + 1;
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

SystemProgram assemble_system(std::string_view text, const std::string& origin, const SystemConfig& system) {
  const auto tokens = assembly::tokenize(text, origin);
  const auto sections = chip_sections(tokens);
  if (sections.empty()) throw InputError(fmt::format("{}: no .chip sections (docs/assembly.md)", origin));
  std::vector<size_t> line_starts{0};
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') line_starts.push_back(i + 1);
  const auto line_of = [&](size_t section) { return tokens[sections[section]].line; };

  SystemProgram result;
  result.system_fingerprint = system_fingerprint(system);
  result.system_name = system.name;

  const Program header = assemble(lines_of(text, line_starts, 1, line_of(0)), origin, system.config_of(0));
  if (!header.queues.empty() || !header.images.empty() || !header.symbols.empty())
    throw InputError(
        fmt::format("{}: the system header (before the first .chip) may hold only metadata directives "
                    "(.workload, .source, .tokens, .chips, .predicted_cycles)",
                    origin));
  result.metadata = header.metadata;
  if (result.metadata.chips == 1)
    result.metadata.chips = system.chips();
  else if (result.metadata.chips != system.chips())
    throw InputError(fmt::format("{}: .chips {} in the system header, but system '{}' has {} chips", origin,
                                 result.metadata.chips, system.name, system.chips()));

  std::vector<uint32_t> listed_on(system.chips(), 0);
  result.chip_program.assign(system.chips(), 0);
  std::map<std::vector<uint8_t>, uint32_t> stored; // serialized program -> index in result.programs
  for (size_t s = 0; s < sections.size(); ++s) {
    size_t pos = sections[s] + 1;
    const auto chips = parse_chip_list(tokens, pos, origin, system);
    for (uint32_t chip : chips) {
      if (listed_on[chip])
        fail_at(origin, line_of(s), 1,
                fmt::format("chip {} is already in the .chip section on line {}", chip, listed_on[chip]));
      listed_on[chip] = line_of(s);
    }
    const uint32_t end_line = s + 1 < sections.size() ? line_of(s + 1) : UINT32_MAX;
    const std::string body = lines_of(text, line_starts, line_of(s) + 1, end_line);
    // One assembly per distinct chip config among the listed chips.
    std::map<uint32_t, uint32_t> program_of_config;
    for (uint32_t chip : chips) {
      const uint32_t config = system.chip_config[chip];
      auto it = program_of_config.find(config);
      if (it == program_of_config.end()) {
        Program program = assemble(body, origin, system.configs[config]);
        auto bytes = serialize_program(program);
        const auto [found, fresh] =
            stored.emplace(std::move(bytes), static_cast<uint32_t>(result.programs.size()));
        if (fresh) result.programs.push_back(std::move(program));
        it = program_of_config.emplace(config, found->second).first;
      }
      result.chip_program[chip] = it->second;
    }
  }
  std::vector<uint32_t> missing;
  for (uint32_t chip = 0; chip < system.chips(); ++chip)
    if (!listed_on[chip]) missing.push_back(chip);
  if (!missing.empty())
    throw InputError(fmt::format("{}: system '{}' chip{} {} {} no .chip section", origin, system.name,
                                 missing.size() == 1 ? "" : "s", chip_list_text(missing),
                                 missing.size() == 1 ? "has" : "have"));
  return result;
}

SystemProgram assemble_system_file(const std::filesystem::path& path, const SystemConfig& system) {
  const std::string origin = path.string();
  const std::string text = read_text_file(path);
  if (has_chip_sections(text, origin)) return assemble_system(text, origin, system);
  require_one_chip_system(system, origin);
  return single_chip_system_program(assemble(text, origin, system.config_of(0)), system, origin);
}

} // namespace tsp
