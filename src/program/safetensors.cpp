#include "tspsim/program/safetensors.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

namespace tsp {

using nlohmann::json;

namespace {

constexpr isa::DType kStoredTypes[] = {isa::DType::f32, isa::DType::f16, isa::DType::bf16};

std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 60) + "..." : text;
}

SafetensorsEntry parse_entry(const std::string& file, const std::string& name, const json& entry,
                             uint64_t data_size) {
  auto fail = [&](const std::string& what) -> void {
    throw InputError(fmt::format("{}: tensor {}: {}", file, name, what));
  };
  if (!entry.is_object()) fail("expected an object with dtype, shape and data_offsets, got " + shown(entry));
  for (const auto& item : entry.items())
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
      fail(fmt::format("unknown key {}", item.key()));
  SafetensorsEntry t;
  t.name = name;
  const auto dtype = entry.find("dtype");
  if (dtype == entry.end()) fail("dtype: missing (expected F32, F16 or BF16)");
  bool known = false;
  for (isa::DType d : kStoredTypes)
    if (dtype->is_string() && dtype->get<std::string>() == safetensors_dtype_name(d)) {
      t.dtype = d;
      known = true;
    }
  if (!known) fail("dtype: expected F32, F16 or BF16, got " + shown(*dtype));
  const auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) fail("shape: expected an array of sizes");
  uint64_t elements = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_unsigned()) fail("shape: expected non-negative integers, got " + shown(*shape));
    t.shape.push_back(d.get<uint64_t>());
    if (__builtin_mul_overflow(elements, t.shape.back(), &elements)) fail("shape: too many elements");
  }
  const auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned() ||
      (*offsets)[0].get<uint64_t>() > (*offsets)[1].get<uint64_t>())
    fail("data_offsets: expected [begin, end] with begin <= end");
  const uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
  if (end > data_size)
    fail(fmt::format("data_offsets [{}, {}] run past the end of the data ({} bytes)", begin, end, data_size));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, uint64_t(isa::dtype_bytes(t.dtype)), &bytes) || bytes != end - begin)
    fail(fmt::format("data_offsets [{}, {}] hold {} bytes; shape {} of {} needs {}", begin, end, end - begin,
                     shape_text(t.shape), safetensors_dtype_name(t.dtype),
                     elements * isa::dtype_bytes(t.dtype)));
  t.begin = begin;
  t.size = bytes;
  return t;
}

// A regular file only: its size is known, and a device or pipe (/dev/urandom) cannot make the
// reader block or trust an endless header.
std::ifstream open_file(const std::filesystem::path& path) {
  std::ifstream in = open_input_file(path);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(fmt::format("cannot read '{}': not a regular file", path.string()));
  return in;
}

void read_exactly(std::ifstream& in, const std::string& file, uint64_t offset, void* out, uint64_t size) {
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(static_cast<char*>(out), static_cast<std::streamsize>(size));
  if (!in || static_cast<uint64_t>(in.gcount()) != size)
    throw InputError(fmt::format("cannot read '{}': {} bytes at offset {} (read error)", file, size, offset));
}

} // namespace

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string text;
  for (uint64_t d : shape) text += (text.empty() ? "" : ", ") + std::to_string(d);
  return "[" + text + "]";
}

const char* safetensors_dtype_name(isa::DType dtype) {
  switch (dtype) {
  case isa::DType::f32:
    return "F32";
  case isa::DType::f16:
    return "F16";
  case isa::DType::bf16:
    return "BF16";
  default:
    break;
  }
  throw std::invalid_argument("safetensors: only F32, F16 and BF16 tensors are stored");
}

const SafetensorsEntry* SafetensorsIndex::find(const std::string& name) const {
  for (const auto& entry : entries)
    if (entry.name == name) return &entry;
  return nullptr;
}

SafetensorsIndex read_safetensors_index(const std::filesystem::path& path) {
  SafetensorsIndex index;
  index.file = path.string();
  const std::string& file = index.file;
  std::ifstream in = open_file(path);
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(fmt::format("cannot read '{}': {}", path.string(), ec.message()));
  if (file_size < 8)
    throw InputError(
        fmt::format("{}: truncated: {} bytes, expected at least the 8-byte header length", file, file_size));
  uint8_t length[8];
  read_exactly(in, file, 0, length, 8);
  uint64_t header = 0;
  for (int b = 7; b >= 0; --b) header = header << 8 | length[b];
  if (header > file_size - 8)
    throw InputError(fmt::format("{}: header length {} runs past the end of the file ({} bytes)", file,
                                 header, file_size));
  std::string text(header, '\0');
  read_exactly(in, file, 8, text.data(), header);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (const auto close = what.find("] "); close != std::string::npos) what = what.substr(close + 2);
    throw InputError(fmt::format("{}: header: invalid JSON: {}", file, what));
  }
  if (!doc.is_object())
    throw InputError(fmt::format("{}: header: expected a JSON object, got {}", file, shown(doc)));
  index.data_begin = 8 + header;
  const uint64_t data_size = file_size - index.data_begin;
  for (const auto& item : doc.items()) {
    if (item.key() == "__metadata__") continue;
    index.entries.push_back(parse_entry(file, item.key(), item.value(), data_size));
  }
  std::sort(index.entries.begin(), index.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.begin < b.begin; });
  // The data is indexed entirely, without holes or overlaps (the format's rule).
  uint64_t next = 0;
  std::string previous = "the header";
  for (const auto& t : index.entries) {
    if (t.begin != next)
      throw InputError(fmt::format("{}: tensor {}: data starts at {}, expected {} (right after {})", file,
                                   t.name, t.begin, next, previous));
    next = t.begin + t.size;
    previous = "tensor " + t.name;
  }
  if (next != data_size)
    throw InputError(fmt::format("{}: {} bytes of data after the last tensor", file, data_size - next));
  return index;
}

std::vector<uint8_t> read_safetensors_data(const SafetensorsIndex& index, const SafetensorsEntry& entry) {
  std::ifstream in = open_file(index.file);
  std::vector<uint8_t> bytes(entry.size);
  read_exactly(in, index.file, index.data_begin + entry.begin, bytes.data(), entry.size);
  return bytes;
}

} // namespace tsp
