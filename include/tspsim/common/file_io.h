// Whole-file reads and crash-safe writes for the tools: a failed run never leaves a partial file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tsp {

// Throw InputError "cannot read 'PATH': REASON".
std::string read_text_file(const std::filesystem::path& path);
std::vector<uint8_t> read_binary_file(const std::filesystem::path& path);
// The file opened for binary reads, or the same InputError (a directory is one too); for readers
// that take parts of a file instead of all of it.
std::ifstream open_input_file(const std::filesystem::path& path);

// Writes to a temporary file beside `path`, then renames it over `path` (a device such as
// /dev/null is written in place). Throws InputError
// "cannot write 'PATH': REASON" and removes the temporary file on failure.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

// Moves a finished temporary file to `path`: renames it over a file, or copies its bytes into a
// device or FIFO in place (renaming would replace /dev/null with a file). Removes `temp` either
// way; throws InputError "cannot write 'PATH': REASON".
void move_into_place(const std::filesystem::path& temp, const std::filesystem::path& path);

// The files one run writes, all or none. check() every path before the work starts (a directory or
// an unwritable folder is an InputError naming `what`); stage() writes PATH.tmp; commit() renames
// every staged file into place. Staged files not committed are removed on destruction. A device
// or FIFO (/dev/null) is written in place at commit() and may be named more than once. A folder of
// outputs (check_directory) that did not exist is created for the checks and removed again when
// nothing is committed.
class OutputFiles {
public:
  OutputFiles() = default;
  OutputFiles(const OutputFiles&) = delete;
  OutputFiles& operator=(const OutputFiles&) = delete;
  ~OutputFiles();

  // An input of the run (`what`: "the program"): check() refuses an output naming the same file,
  // which the run would overwrite. Call it before the checks.
  void reads(const std::filesystem::path& path, const std::string& what);
  void check(const std::filesystem::path& path, const std::string& what);
  // A folder the run writes files into (--reference, --report): created if missing, so that the
  // files in it can be check()ed; an InputError naming `what` when it cannot be.
  void check_directory(const std::filesystem::path& dir, const std::string& what);
  void stage(const std::filesystem::path& path, std::string_view data);
  void commit();

private:
  struct Staged {
    std::filesystem::path path;
    bool special; // a device or FIFO: `data` is written to it at commit()
    std::string data;
  };
  std::vector<std::pair<std::filesystem::path, std::string>> inputs_;
  std::vector<std::filesystem::path> checked_;
  std::vector<Staged> staged_;
  std::vector<std::filesystem::path> created_; // folders check_directory() made, outermost first
};

} // namespace tsp
