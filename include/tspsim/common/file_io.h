// Whole-file reads and crash-safe writes for the tools: a failed run never leaves a partial file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tsp {

// Throw InputError "cannot read 'PATH': REASON".
std::string read_text_file(const std::filesystem::path& path);
std::vector<uint8_t> read_binary_file(const std::filesystem::path& path);

// Writes to a temporary file beside `path`, then renames it over `path`. Throws InputError
// "cannot write 'PATH': REASON" and removes the temporary file on failure.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

} // namespace tsp
