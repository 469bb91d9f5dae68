// Replays saved fuzz inputs through the entries the libFuzzer targets use (tests/fuzz/fuzz_entries.h):
//  - tests/fuzz/regressions/TARGET/NAME: an input that once crashed, hung or broke an invariant.
//    NAME.expected holds the exact outcome: "accepted", or the InputError message.
//  - tests/fuzz/corpus/TARGET/*: the seed corpus, all valid inputs: each must be accepted.
// A crash here fails the test process; the sanitizer build (tools/scripts/sanitize.sh) replays the same
// inputs under AddressSanitizer and UndefinedBehaviorSanitizer.
#include "fuzz/fuzz_entries.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace {

namespace fs = std::filesystem;
using Entry = void (*)(const uint8_t*, size_t);

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> files_in(const std::string& relative, bool inputs_only) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(TSPSIM_SOURCE_DIR) / relative;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && !(inputs_only && entry.path().extension() == ".expected"))
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// "accepted", or the InputError message.
std::string outcome(Entry entry, const std::string& input) {
  try {
    entry(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  } catch (const tsp::InputError& e) {
    return e.what();
  }
  return "accepted";
}

void replay_regressions(const std::string& target, Entry entry) {
  const auto inputs = files_in("tests/fuzz/regressions/" + target, true);
  for (const auto& input : inputs) {
    INFO("regression input " << input.string());
    fs::path expected_path = input;
    expected_path += ".expected";
    REQUIRE(fs::exists(expected_path));
    std::string expected = read_file(expected_path);
    if (!expected.empty() && expected.back() == '\n') expected.pop_back();
    CHECK(outcome(entry, read_file(input)) == expected);
  }
}

void replay_corpus(const std::string& target, Entry entry) {
  const auto inputs = files_in("tests/fuzz/corpus/" + target, false);
  REQUIRE_FALSE(inputs.empty());
  for (const auto& input : inputs) {
    INFO("seed input " << input.string());
    CHECK(outcome(entry, read_file(input)) == "accepted");
  }
}

} // namespace

TEST_CASE("fuzz regressions: program loader") {
  replay_regressions("program_loader", tsp::fuzz::run_program_loader);
}
TEST_CASE("fuzz regressions: assembler") { replay_regressions("assembler", tsp::fuzz::run_assembler); }
TEST_CASE("fuzz regressions: config") { replay_regressions("config", tsp::fuzz::run_config); }

TEST_CASE("fuzz seed corpus: program loader") {
  replay_corpus("program_loader", tsp::fuzz::run_program_loader);
}
TEST_CASE("fuzz seed corpus: assembler") { replay_corpus("assembler", tsp::fuzz::run_assembler); }
TEST_CASE("fuzz seed corpus: config") { replay_corpus("config", tsp::fuzz::run_config); }
