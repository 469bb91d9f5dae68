#include "tspsim/common/file_io.h"

#include "tspsim/common/error.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <system_error>

namespace tsp {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("cannot read '{}': is a directory", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read '{}': {}", path.string(), std::strerror(errno)));
  std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw InputError(fmt::format("cannot read '{}': read error", path.string()));
  return data;
}

} // namespace

std::string read_text_file(const std::filesystem::path& path) { return read_all(path); }

std::vector<uint8_t> read_binary_file(const std::filesystem::path& path) {
  const std::string data = read_all(path);
  return {data.begin(), data.end()};
}

namespace {

std::filesystem::path temp_path(const std::filesystem::path& path) {
  auto temp = path;
  temp += ".tmp";
  return temp;
}

void write_temp(const std::filesystem::path& path, std::string_view data) {
  const auto temp = temp_path(path);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("cannot write '{}': is a directory", path.string()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      throw InputError(fmt::format("cannot write '{}': write error", path.string()));
    }
  }
}

void rename_into_place(const std::filesystem::path& path) {
  const auto temp = temp_path(path);
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw InputError(fmt::format("cannot write '{}': {}", path.string(), ec.message()));
  }
}

} // namespace

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  write_temp(path, data);
  rename_into_place(path);
}

OutputFiles::~OutputFiles() {
  for (const auto& path : staged_) {
    std::error_code ignored;
    std::filesystem::remove(temp_path(path), ignored);
  }
}

void OutputFiles::check(const std::filesystem::path& path, const std::string& what) {
  const auto normal = std::filesystem::absolute(path).lexically_normal();
  for (const auto& other : checked_)
    if (other == normal) throw InputError(fmt::format("{}: '{}' is also written by another option", what, path.string()));
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("{}: cannot write '{}': is a directory", what, path.string()));
  const auto temp = temp_path(path);
  const bool existed = std::filesystem::exists(temp, ec);
  {
    std::ofstream probe(temp, std::ios::binary | std::ios::app);
    if (!probe) throw InputError(fmt::format("{}: cannot write '{}': {}", what, path.string(), std::strerror(errno)));
  }
  if (!existed) std::filesystem::remove(temp, ec);
  checked_.push_back(normal);
}

void OutputFiles::stage(const std::filesystem::path& path, std::string_view data) {
  staged_.push_back(path);
  write_temp(path, data);
}

void OutputFiles::commit() {
  for (const auto& path : staged_) rename_into_place(path);
  staged_.clear();
}

} // namespace tsp
