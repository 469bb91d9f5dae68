// Finished programs in a file (include/tspsim/compiler/program_spill.h).
#include "tspsim/compiler/program_spill.h"

#include "tspsim/common/error.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace tsp::compiler {

namespace {

InputError spill_error(const std::filesystem::path& path, const std::string& what) {
  return InputError(fmt::format("cannot {} the finished programs' file '{}': {}", what, path.string(),
                                std::strerror(errno)));
}

} // namespace

ProgramSpill::ProgramSpill(std::filesystem::path path) : path_(std::move(path)) {
  file_.open(path_, std::ios::in | std::ios::out | std::ios::trunc | std::ios::binary);
  if (!file_) throw spill_error(path_, "create");
}

ProgramSpill::~ProgramSpill() {
  file_.close();
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

uint32_t ProgramSpill::add(const std::vector<uint8_t>& bytes) {
  file_.seekp(static_cast<std::streamoff>(end_));
  file_.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!file_) throw spill_error(path_, "write");
  places_.emplace_back(end_, bytes.size());
  end_ += bytes.size();
  return size() - 1;
}

std::vector<uint8_t> ProgramSpill::bytes(uint32_t index) const {
  const auto [offset, size] = places_.at(index);
  std::vector<uint8_t> out(size);
  file_.seekg(static_cast<std::streamoff>(offset));
  file_.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size));
  if (!file_) throw spill_error(path_, "read");
  return out;
}

} // namespace tsp::compiler
