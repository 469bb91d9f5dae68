// A scratch directory under the system's temporary path, named for its use and this process, that
// takes everything in it away when it goes: a test run or a sweep must not leave gigabytes behind.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>
#include <unistd.h>

namespace tsp {

class TemporaryDirectory {
public:
  explicit TemporaryDirectory(const std::string& prefix)
      : path_(std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TemporaryDirectory() {
    std::error_code ignored; // a destructor must not throw; a removal that fails leaves the files
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

} // namespace tsp
