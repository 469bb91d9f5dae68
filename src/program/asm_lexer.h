// Tokens of the assembly language (private to the assembler).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tsp::assembly {

enum class Tok : uint8_t { word, number, string, comma, colon, at, equals, lparen, rparen, newline };

struct Token {
  Tok kind;
  std::string text; // strings: the unescaped contents
  uint32_t line;
  uint32_t col;
};

// Splits `text` into tokens. Comments (`;` to end of line) are dropped; a newline token ends
// every statement except inside parentheses, so a values(...) list may span lines. The last
// token is always a newline. Throws InputError "ORIGIN:LINE:COL: message".
std::vector<Token> tokenize(std::string_view text, const std::string& origin);

// The assembler's error format.
[[noreturn]] void fail_at(const std::string& origin, uint32_t line, uint32_t col, const std::string& message);

// A string literal as tokenize() reads it back.
std::string quote(std::string_view text);

// A token as error messages show it.
std::string describe(const Token& token);

// Reading tokens statement by statement, failing in the assembler's error format.
class TokenCursor {
public:
  TokenCursor(std::vector<Token> tokens, const std::string& origin)
      : origin_(origin), tokens_(std::move(tokens)) {}

  const Token& peek() const { return tokens_[pos_]; }
  const Token& next() { return tokens_[pos_++]; }
  bool at_end_of_statement() const { return peek().kind == Tok::newline; }
  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    fail_at(origin_, at.line, at.col, message);
  }
  const Token& expect(Tok kind, const char* what);
  void end_statement();

protected:
  const std::string& origin_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

} // namespace tsp::assembly
