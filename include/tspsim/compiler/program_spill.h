// The finished programs of a system compile kept as their serialized bytes in a file instead of
// in memory (docs/llama.md, "Compiling stage by stage"): a compile that finishes its chips a
// stage at a time then holds one stage, however large the system. The file is removed with the
// object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

namespace tsp::compiler {

class ProgramSpill {
public:
  // Creates (or empties) the file; throws InputError naming it when it cannot.
  explicit ProgramSpill(std::filesystem::path path);
  ~ProgramSpill();
  ProgramSpill(const ProgramSpill&) = delete;
  ProgramSpill& operator=(const ProgramSpill&) = delete;

  // Appends one program's bytes; returns its index.
  uint32_t add(const std::vector<uint8_t>& bytes);
  std::vector<uint8_t> bytes(uint32_t index) const;
  uint32_t size() const { return static_cast<uint32_t>(places_.size()); }

private:
  std::filesystem::path path_;
  mutable std::fstream file_;
  std::vector<std::pair<uint64_t, uint64_t>> places_; // offset and size of each program
  uint64_t end_ = 0;
};

} // namespace tsp::compiler
