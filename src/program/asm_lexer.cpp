#include "asm_lexer.h"

#include "tspsim/common/error.h"

#include <cctype>
#include <fmt/format.h>

namespace tsp::assembly {
namespace {

bool is_word_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

class Lexer {
public:
  Lexer(std::string_view text, const std::string& origin) : text_(text), origin_(origin) {}

  std::vector<Token> run() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') {
        if (depth_ == 0) emit(Tok::newline, "\n", col_);
        ++pos_;
        ++line_;
        col_ = 1;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        advance(1);
      } else if (c == ';') {
        while (pos_ < text_.size() && text_[pos_] != '\n') advance(1);
      } else if (c == '"') {
        string();
      } else if (punctuation(c)) {
        advance(1);
      } else if (starts_number()) {
        number();
      } else if (is_word_start(c)) {
        const uint32_t col = col_;
        const size_t start = pos_;
        while (pos_ < text_.size() && is_word_char(text_[pos_])) advance(1);
        emit(Tok::word, std::string(text_.substr(start, pos_ - start)), col);
      } else {
        fail_at(origin_, line_, col_, fmt::format("unexpected character '{}'", c));
      }
    }
    if (depth_ > 0) fail_at(origin_, open_line_, open_col_, "'(' is never closed");
    emit(Tok::newline, "\n", col_);
    return std::move(tokens_);
  }

private:
  void advance(size_t n) {
    pos_ += n;
    col_ += static_cast<uint32_t>(n);
  }
  void emit(Tok kind, std::string text, uint32_t col) {
    tokens_.push_back({kind, std::move(text), line_, col});
  }

  bool punctuation(char c) {
    static constexpr std::pair<char, Tok> kPunctuation[] = {{',', Tok::comma},  {':', Tok::colon},
                                                            {'@', Tok::at},     {'=', Tok::equals},
                                                            {'(', Tok::lparen}, {')', Tok::rparen}};
    for (const auto& [ch, kind] : kPunctuation) {
      if (ch != c) continue;
      if (kind == Tok::lparen && depth_++ == 0) {
        open_line_ = line_;
        open_col_ = col_;
      }
      if (kind == Tok::rparen && depth_-- == 0) fail_at(origin_, line_, col_, "')' without a matching '('");
      emit(kind, std::string(1, c), col_);
      return true;
    }
    return false;
  }

  // Numbers start with a digit, a '.' before a digit, or a sign before either (or before inf/nan).
  bool starts_number() const {
    auto digit_at = [&](size_t i) {
      return i < text_.size() &&
             (is_digit(text_[i]) || (text_[i] == '.' && i + 1 < text_.size() && is_digit(text_[i + 1])));
    };
    if (digit_at(pos_)) return true;
    if (text_[pos_] != '-' && text_[pos_] != '+') return false;
    const auto rest = text_.substr(pos_ + 1, 3);
    return digit_at(pos_ + 1) || rest == "inf" || rest == "nan";
  }

  void number() {
    const uint32_t col = col_;
    const size_t start = pos_;
    if (text_[pos_] == '-' || text_[pos_] == '+') advance(1);
    const bool hex = text_.substr(pos_, 2) == "0x" || text_.substr(pos_, 2) == "0X";
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      const char prev = pos_ > start ? text_[pos_ - 1] : '\0';
      const bool exponent_sign = !hex && (c == '+' || c == '-') && (prev == 'e' || prev == 'E');
      if (!is_word_char(c) && !exponent_sign) break;
      advance(1);
    }
    emit(Tok::number, std::string(text_.substr(start, pos_ - start)), col);
  }

  void string() {
    const uint32_t col = col_;
    advance(1);
    std::string value;
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') fail_at(origin_, line_, col, "unterminated string");
      const char c = text_[pos_];
      if (c == '"') break;
      if (c == '\\') {
        const char e = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
        if (e == 'n')
          value += '\n';
        else if (e == 't')
          value += '\t';
        else if (e == '"' || e == '\\')
          value += e;
        else
          fail_at(origin_, line_, col_, "unknown escape in string (use \\\" \\\\ \\n \\t)");
        advance(2);
      } else {
        value += c;
        advance(1);
      }
    }
    advance(1);
    emit(Tok::string, std::move(value), col);
  }

  std::string_view text_;
  const std::string& origin_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  uint32_t line_ = 1;
  uint32_t col_ = 1;
  int depth_ = 0;
  uint32_t open_line_ = 0;
  uint32_t open_col_ = 0;
};

} // namespace

std::vector<Token> tokenize(std::string_view text, const std::string& origin) {
  return Lexer(text, origin).run();
}

void fail_at(const std::string& origin, uint32_t line, uint32_t col, const std::string& message) {
  throw InputError(fmt::format("{}:{}:{}: {}", origin, line, col, message));
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\', out += c;
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else
      out += c;
  }
  return out + "\"";
}

std::string describe(const Token& token) {
  return token.kind == Tok::newline ? "end of line" : fmt::format("'{}'", token.text);
}

const Token& TokenCursor::expect(Tok kind, const char* what) {
  if (peek().kind != kind) fail(peek(), fmt::format("expected {}, got {}", what, describe(peek())));
  return next();
}

void TokenCursor::end_statement() {
  if (!at_end_of_statement())
    fail(peek(), fmt::format("unexpected {} at end of statement", describe(peek())));
  next();
}

} // namespace tsp::assembly
