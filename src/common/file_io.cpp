#include "tspsim/common/file_io.h"

#include "tspsim/common/error.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <system_error>
#include <unistd.h>

namespace tsp {

std::ifstream open_input_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("cannot read '{}': is a directory", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read '{}': {}", path.string(), std::strerror(errno)));
  return in;
}

namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in = open_input_file(path);
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

// A device or FIFO (/dev/null, /dev/stdout): written in place, since renaming a file over it would
// replace the device.
bool is_special_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  return !ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status) &&
         !std::filesystem::is_directory(status);
}

void write_direct(const std::filesystem::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) throw InputError(fmt::format("cannot write '{}': write error", path.string()));
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

} // namespace

void move_into_place(const std::filesystem::path& temp, const std::filesystem::path& path) {
  std::error_code ec;
  if (is_special_file(path)) {
    std::string data;
    try {
      data = read_text_file(temp);
    } catch (const InputError&) {
      std::filesystem::remove(temp, ec);
      throw;
    }
    std::filesystem::remove(temp, ec);
    return write_direct(path, data);
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw InputError(fmt::format("cannot write '{}': {}", path.string(), ec.message()));
  }
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  if (is_special_file(path)) return write_direct(path, data);
  write_temp(path, data);
  move_into_place(temp_path(path), path);
}

OutputFiles::~OutputFiles() {
  for (const auto& file : staged_) {
    if (file.special) continue;
    std::error_code ignored;
    std::filesystem::remove(temp_path(file.path), ignored);
  }
  for (auto dir = created_.rbegin(); dir != created_.rend(); ++dir) {
    std::error_code ignored;
    std::filesystem::remove(*dir, ignored);
  }
}

void OutputFiles::reads(const std::filesystem::path& path, const std::string& what) {
  inputs_.emplace_back(path, what);
}

void OutputFiles::check(const std::filesystem::path& path, const std::string& what) {
  if (is_special_file(path)) {
    if (::access(path.c_str(), W_OK) != 0)
      throw InputError(fmt::format("{}: cannot write '{}': {}", what, path.string(), std::strerror(errno)));
    return;
  }
  std::error_code same_error;
  for (const auto& [input, input_what] : inputs_)
    if (std::filesystem::equivalent(path, input, same_error))
      throw InputError(fmt::format("{}: '{}' is {}; writing it would overwrite an input", what, path.string(),
                                   input_what));
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

void OutputFiles::check_directory(const std::filesystem::path& dir, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_directory(dir, ec))
      throw InputError(fmt::format("{}: cannot write '{}': not a directory", what, dir.string()));
    return;
  }
  std::vector<std::filesystem::path> missing;
  auto start = std::filesystem::absolute(dir).lexically_normal();
  if (!start.has_filename()) start = start.parent_path(); // "DIR/"
  for (auto p = start; !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
    missing.insert(missing.begin(), p);
    if (p == p.parent_path()) break;
  }
  for (const auto& p : missing) {
    if (!std::filesystem::create_directory(p, ec) && ec)
      throw InputError(fmt::format("{}: cannot write '{}': {}", what, dir.string(), ec.message()));
    created_.push_back(p);
  }
}

void OutputFiles::stage(const std::filesystem::path& path, std::string_view data) {
  if (is_special_file(path)) {
    staged_.push_back({path, true, std::string(data)});
    return;
  }
  staged_.push_back({path, false, {}});
  write_temp(path, data);
}

void OutputFiles::commit() {
  for (const auto& file : staged_) {
    if (file.special)
      write_direct(file.path, file.data);
    else
      move_into_place(temp_path(file.path), file.path);
  }
  staged_.clear();
  created_.clear();
}

} // namespace tsp
