// validate_program and load_program: a program is checked against the chip before anything runs it.
#include "tspsim/common/error.h"
#include "tspsim/config/floorplan.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/instruction_check.h"
#include "tspsim/program/program.h"
#include "tspsim/program/tensor.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fmt/format.h>
#include <set>
#include <tuple>

namespace tsp {
namespace {

class ProgramChecker {
public:
  ProgramChecker(const Program& program, const ChipConfig& config, const std::string& origin)
      : program_(program), config_(config), floorplan_(config.geometry, config.icu),
        file_(!origin.empty()                    ? origin
              : !program.metadata.source.empty() ? program.metadata.source
                                                 : "program"),
        source_(!program.metadata.source.empty() ? program.metadata.source : file_) {}

  void run() {
    const uint64_t expected = geometry_fingerprint(config_);
    if (program_.fingerprint != expected) {
      // Same chip but other links: name both link rates rather than two fingerprints.
      if (const auto cycles = c2c_cycles_of_fingerprint(config_, program_.fingerprint))
        fail(fmt::format("scheduled for C2C links of {} cycles per vector, but this config's links take {}",
                         *cycles, c2c_rate_text(config_)));
      fail(fmt::format("built for another chip geometry (program fingerprint 0x{:016x}, config fingerprint "
                       "0x{:016x})",
                       program_.fingerprint, expected));
    }
    if (program_.metadata.chips < 1) fail("metadata: chips = 0, must be at least 1");
    // Assembly integers are signed 64-bit: larger counts could not be disassembled and read back.
    constexpr uint64_t kMaxCount = INT64_MAX;
    for (const auto& [key, value] : {std::pair{"tokens", program_.metadata.tokens_per_run},
                                     std::pair{"predicted_cycles", program_.metadata.predicted_cycles}})
      if (value > kMaxCount)
        fail(fmt::format("metadata: {} = {}, must be at most {}", key, value, kMaxCount));
    check_queues();
    check_declared();
    check_symbols(); // before the images: declared tensors' images are placed by their symbols
    check_images();
  }

private:
  [[noreturn]] void fail(const std::string& message) const {
    throw InputError(fmt::format("{}: {}", file_, message));
  }

  void check_queues() const {
    const auto& queues = floorplan_.queues();
    std::set<uint32_t> seen;
    for (const auto& q : program_.queues) {
      if (q.queue >= queues.size())
        fail(fmt::format("queue {} does not exist (the chip has {} queues)", q.queue, queues.size()));
      const auto& name = queues[q.queue].name;
      if (!seen.insert(q.queue).second) fail(fmt::format("queue {} appears twice", name));
      if (!q.lines.empty() && q.lines.size() != q.words.size())
        fail(fmt::format("queue {} has {} source lines for {} instructions", name, q.lines.size(),
                         q.words.size()));
      if (q.words.size() > config_.icu.instruction_buffer_entries)
        fail(fmt::format("queue {} has {} instructions; its buffer holds {} (fetch the rest with Ifetch)",
                         name, q.words.size(), config_.icu.instruction_buffer_entries));
      const SliceKind kind = floorplan_.slice_of_queue(q.queue).kind;
      Instruction previous;
      for (size_t i = 0; i < q.words.size(); ++i) {
        // Formatted only for an error: a valid program's millions of instructions need no text.
        const auto where = [&] {
          const uint32_t line = q.lines.empty() ? 0 : q.lines[i];
          return line ? fmt::format("{}:{}: {} instruction {}", source_, line, name, i)
                      : fmt::format("{}: {} instruction {}", file_, name, i);
        };
        Instruction instruction;
        try {
          instruction = decode(q.words[i]);
        } catch (const InputError& e) {
          throw InputError(fmt::format("{}: {}", where(), e.what()));
        }
        const auto& spec = instruction.spec();
        auto problem = check_issue(spec, kind);
        if (!problem) problem = check_operands(instruction, i ? &previous : nullptr, config_, floorplan_);
        if (problem) throw InputError(fmt::format("{} ({}): {}", where(), spec.mnemonic, *problem));
        previous = instruction;
      }
    }
  }

  void check_images() const {
    const unsigned vector = config_.geometry.vector_bytes();
    const unsigned words = config_.geometry.mem_words_per_slice;
    // (mem, first address, end address, index) for the overlap check: stored images by their index,
    // declared tensor k as images.size() + k.
    std::vector<std::tuple<uint32_t, uint64_t, uint64_t, size_t>> extents;
    for (size_t i = 0; i < program_.images.size(); ++i) {
      const auto& image = program_.images[i];
      const std::string mem = image.mem < floorplan_.mem_count() ? floorplan_.mem_name(image.mem)
                                                                 : fmt::format("MEM slice {}", image.mem);
      const auto what = [&](const std::string& problem) {
        fail(fmt::format("image {} ({} address {}): {}", i, mem, image.address, problem));
      };
      if (image.mem >= floorplan_.mem_count())
        what(fmt::format("MEM slice {} does not exist (the chip has {})", image.mem, floorplan_.mem_count()));
      if (image.bytes.empty() || image.bytes.size() % vector != 0)
        what(fmt::format("{} bytes is not a whole number of {}-byte vectors", image.bytes.size(), vector));
      const uint64_t end = uint64_t{image.address} + image.bytes.size() / vector;
      if (end > words)
        what(fmt::format("{} vectors from address {} run past the slice end (slice has {} words)",
                         image.bytes.size() / vector, image.address, words));
      extents.emplace_back(image.mem, image.address, end, i);
    }
    // A declared tensor's images lie inside its symbol, which check_symbols keeps inside MEM.
    for (size_t k = 0; k < program_.declared.size(); ++k) {
      const DeclaredTensor& d = program_.declared[k];
      for (const ImageExtent& e : declared_extents(d, program_.symbols[d.symbol]))
        extents.emplace_back(e.mem, e.address, uint64_t{e.address} + e.words, program_.images.size() + k);
    }
    std::sort(extents.begin(), extents.end());
    for (size_t k = 1; k < extents.size(); ++k) {
      const auto& [mem, first, end, index] = extents[k - 1];
      const auto& [next_mem, next_first, next_end, next_index] = extents[k];
      if (mem != next_mem || next_first >= end) continue;
      const size_t a = std::min(index, next_index), b = std::max(index, next_index);
      const std::string both = b < program_.images.size()
                                   ? fmt::format("images {} and {}", a, b)
                                   : fmt::format("{} and {}", initialiser(a), initialiser(b));
      fail(fmt::format("{} both initialise {} address {}", both, floorplan_.mem_name(mem), next_first));
    }
  }

  void check_declared() const {
    std::vector<bool> seen(program_.symbols.size());
    for (const DeclaredTensor& d : program_.declared) {
      if (d.symbol >= program_.symbols.size())
        fail(fmt::format("a declared tensor names symbol {}, but there are {} symbols", d.symbol,
                         program_.symbols.size()));
      const Symbol& s = program_.symbols[d.symbol];
      if (seen[d.symbol]) fail(fmt::format("symbol '{}' is declared twice", s.name));
      seen[d.symbol] = true;
      if (d.vector_bytes != config_.geometry.vector_bytes())
        fail(fmt::format("declared tensor '{}' is laid out for {}-byte vectors, the chip has {}", s.name,
                         d.vector_bytes, config_.geometry.vector_bytes()));
      if (d.row_stride < s.cols || d.row_count < 1 || uint64_t{d.first_row} + d.row_count > s.rows)
        fail(fmt::format("declared tensor '{}': rows {}..+{} with row stride {} do not fit its {}x{} shape",
                         s.name, d.first_row, d.row_count, d.row_stride, s.rows, s.cols));
    }
  }

  std::string initialiser(size_t index) const {
    if (index < program_.images.size()) return fmt::format("image {}", index);
    const auto& d = program_.declared[index - program_.images.size()];
    return fmt::format("declared tensor '{}'", program_.symbols.at(d.symbol).name);
  }

  void check_symbols() const {
    std::set<std::string> names;
    for (const auto& s : program_.symbols) {
      const auto what = [&](const std::string& problem) {
        fail(fmt::format("symbol '{}': {}", s.name, problem));
      };
      if (!is_valid_symbol_name(s.name)) what("not a valid name ([A-Za-z_][A-Za-z0-9_.]*)");
      if (!names.insert(s.name).second) what("defined twice");
      const unsigned bytes = isa::dtype_bytes(s.dtype);
      if (s.slices.empty() || s.slices.size() % bytes != 0)
        what(fmt::format("{} slices is not a whole number of {}-slice groups for {}", s.slices.size(), bytes,
                         isa::dtype_name(s.dtype)));
      for (uint32_t mem : s.slices)
        if (mem >= floorplan_.mem_count())
          what(fmt::format("MEM slice {} does not exist (the chip has {})", mem, floorplan_.mem_count()));
      if (s.rows < 1) what("rows = 0, must be at least 1");
      if (s.cols < 1 || s.cols > config_.geometry.vector_bytes())
        what(fmt::format("cols = {} out of range (1..{} lanes)", s.cols, config_.geometry.vector_bytes()));
      if (!s.bases.empty() && s.bases.size() != s.slices.size())
        what(fmt::format("{} slice bases for {} slices", s.bases.size(), s.slices.size()));
      const uint64_t groups = s.slices.size() / bytes;
      for (size_t k = 0; k < s.slices.size(); ++k) {
        const uint64_t base = s.base_of(k);
        const uint64_t end = base + (s.rows + groups - 1) / groups;
        if (end > config_.geometry.mem_words_per_slice) {
          what(fmt::format("rows at addresses {}..{} run past the slice end (slice has {} words)", base,
                           end - 1, config_.geometry.mem_words_per_slice));
          break;
        }
      }
    }
  }

  const Program& program_;
  const ChipConfig& config_;
  Floorplan floorplan_;
  std::string file_;
  std::string source_;
};

} // namespace

bool is_valid_symbol_name(const std::string& name) {
  const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) && name[0] != '.' &&
         std::all_of(name.begin(), name.end(), [&](char c) { return word(c) || c == '.'; });
}

void validate_program(const Program& program, const ChipConfig& config, const std::string& origin) {
  ProgramChecker(program, config, origin).run();
}

Program load_program(const std::filesystem::path& path, const ChipConfig& config) {
  if (path.extension() == ".tsp") return assemble_file(path, config);
  Program program = read_program(path);
  validate_program(program, config, path.string());
  return program;
}

} // namespace tsp
