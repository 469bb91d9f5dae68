// The .symbol and .tensor directives (private to the assembler): a named tensor's type, shape,
// slices and base address, and for .tensor its initial contents (zeros, random or values), which
// become images of the program.
#pragma once

#include "asm_lexer.h"
#include "asm_operands.h"
#include "tspsim/config/config.h"
#include "tspsim/program/program.h"

namespace tsp::assembly {

class SymbolReader {
public:
  SymbolReader(TokenCursor& cursor, const OperandReader& operands, const ChipConfig& config)
      : cursor_(cursor), operands_(operands), config_(config) {}

  // The rest of the statement that `head` (.symbol or .tensor) starts, added to `program`.
  void read(const Token& head, bool tensor, Program& program);

private:
  // A .tensor's init= option; random elements are generated only after the shape is checked.
  struct TensorInit {
    enum class Kind { zeros, random, values } kind = Kind::zeros;
    DeclaredTensor declared;       // random(...) or jitter(...)
    std::vector<uint8_t> elements; // values(...)
  };

  void shape(const Token& token, Symbol& symbol) const;
  void check_symbol_shape(const Symbol& symbol, const Token& slices_at) const;
  TensorInit tensor_init(const Symbol& symbol);
  void window_options(const std::string& init, const Symbol& symbol, DeclaredTensor& declared);
  DeclaredTensor checkpoint_declaration(const Token& kind, const Symbol& symbol);
  uint64_t seed(const Token& token) const;
  std::vector<uint8_t> element_value(const Token& token, isa::DType dtype) const;

  TokenCursor& cursor_;
  const OperandReader& operands_;
  const ChipConfig& config_;
};

} // namespace tsp::assembly
