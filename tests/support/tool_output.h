// Reading what the tools print and dump: a number in a report line, and tensors' bytes as values.
#pragma once

#include "tspsim/numeric/numeric.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace tsp::test {

// The word after `label` in `text` (up to the next space or line end); empty when it is absent.
inline std::string field(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) return "";
  const auto begin = at + label.size();
  return text.substr(begin, text.find_first_of(" \n", begin) - begin);
}

// How often `what` occurs in `text`.
inline size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Little-endian fp32 values.
inline std::vector<float> floats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

// Little-endian fp16 values, widened.
inline std::vector<float> halves(const std::string& bytes) {
  std::vector<float> out(bytes.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = num::f16_to_f32(uint16_t(uint8_t(bytes[2 * i]) | uint8_t(bytes[2 * i + 1]) << 8));
  return out;
}

// The first little-endian 32-bit word.
inline uint32_t first_int(const std::string& bytes) {
  uint32_t v = 0;
  std::memcpy(&v, bytes.data(), 4);
  return v;
}

} // namespace tsp::test
