#include "tspsim/program/disassembler.h"

#include "asm_lexer.h"
#include "tspsim/common/version.h"
#include "tspsim/program/assembler.h"
#include "tspsim/program/instruction_check.h"
#include "tspsim/program/timing_rules.h"

#include <cmath>
#include <cstring>
#include <fmt/format.h>

namespace tsp {
namespace {

constexpr size_t kBytesPerLine = 64;

std::string format_operand(const isa::FieldSpec& field, int64_t value, const Floorplan& floorplan) {
  switch (field.kind) {
  case isa::FieldKind::stream:
    return stream_field_name(value);
  case isa::FieldKind::mem_slice:
    if (const auto mem = floorplan.mem_global_from_field(static_cast<uint64_t>(value)))
      return floorplan.mem_name(*mem);
    return fmt::format("{}", value);
  case isa::FieldKind::f32:
    return format_f32(static_cast<uint32_t>(value));
  case isa::FieldKind::mode:
    return std::string(field.mode_names[value & 1]);
  default:
    return fmt::format("{}", value);
  }
}

// The declaration's kind and source: random(SEED, jitter(SEED, DIVISOR (the shortest text that
// reads back as the same double) or checkpoint("FILE", "TENSOR", OFFSET with its options.
std::string init_source_text(const DeclaredTensor& d) {
  switch (d.values) {
  case DeclaredValues::raw:
    return fmt::format("random({}", d.seed);
  case DeclaredValues::jitter:
    return fmt::format("jitter({}, {}", d.seed, d.divisor);
  case DeclaredValues::checkpoint:
  case DeclaredValues::checkpoint_scale:
    break;
  }
  std::string text =
      fmt::format("{}({}, {}, {}", d.values == DeclaredValues::checkpoint ? "checkpoint" : "checkpoint_scale",
                  assembly::quote(d.checkpoint.file), assembly::quote(d.checkpoint.tensor), d.offset);
  if (d.checkpoint.transposed) text += ", transposed";
  if (d.checkpoint.rotary_head_dim != 0) text += fmt::format(", rotary={}", d.checkpoint.rotary_head_dim);
  return text;
}

// The declaration with the window options only where they differ from the whole tensor.
std::string declared_init_text(const DeclaredTensor& d, const Symbol& s) {
  std::string text = init_source_text(d);
  if (d.row_stride != s.cols) text += fmt::format(", stride={}", d.row_stride);
  if (d.first_row != 0 || d.row_count != s.rows)
    text += fmt::format(", rows={}:{}", d.first_row, d.row_count);
  return text + ")";
}

// Declared tensors are printed as the .tensor that declares them; their images are not printed.
void symbols(std::string& out, const Program& program, const Floorplan& floorplan) {
  std::vector<const DeclaredTensor*> declared(program.symbols.size());
  for (const auto& d : program.declared) declared[d.symbol] = &d;
  for (size_t i = 0; i < program.symbols.size(); ++i) {
    const auto& s = program.symbols[i];
    std::vector<std::string> slices;
    for (uint32_t mem : s.slices) slices.push_back(floorplan.mem_name(mem));
    out += fmt::format(".{} {} {} {}x{} slices={} base={}", declared[i] ? "tensor" : "symbol", s.name,
                       isa::dtype_name(s.dtype), s.rows, s.cols, fmt::join(slices, ","),
                       s.bases.empty() ? fmt::to_string(s.base) : fmt::format("{}", fmt::join(s.bases, ",")));
    out += declared[i] ? fmt::format(" init={}\n", declared_init_text(*declared[i], s)) : "\n";
  }
}

void images(std::string& out, const Program& program, const Floorplan& floorplan) {
  for (const auto& image : program.images) {
    out += fmt::format(".image {} {}\n", floorplan.mem_name(image.mem), image.address);
    for (size_t at = 0; at < image.bytes.size(); at += kBytesPerLine) {
      out += ".bytes ";
      for (size_t b = at; b < std::min(at + kBytesPerLine, image.bytes.size()); ++b)
        out += fmt::format("{:02x}", image.bytes[b]);
      out += '\n';
    }
  }
}

} // namespace

std::string format_f32(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  if (std::isnan(value) || std::fpclassify(value) == FP_SUBNORMAL) return fmt::format("0x{:08x}", bits);
  return fmt::format("{}", value);
}

std::string format_instruction(const Instruction& instruction, const Floorplan& floorplan) {
  const auto& spec = instruction.spec();
  std::string head(spec.mnemonic);
  std::vector<std::string> operands;
  const auto fields = spec.operand_fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    const int64_t value = instruction.operands[i];
    if (fields[i].kind == isa::FieldKind::dtype)
      head += fmt::format(".{}", isa::dtype_name(static_cast<isa::DType>(value)));
    else
      operands.push_back(format_operand(fields[i], value, floorplan));
  }
  return operands.empty() ? head : fmt::format("{} {}", head, fmt::join(operands, ", "));
}

namespace {

// The first line: a round trip only when the text carries everything. The region section is a
// compiler product the text form does not carry (docs/program-format.md): named when dropped.
std::string header(const std::string& what, size_t regions, size_t runs, size_t programs) {
  if (regions == 0)
    return fmt::format("; tspdis {} for {}: assembles back to the identical program\n", kVersion, what);
  return fmt::format(
      "; tspdis {} for {}: not a round trip: the text drops the region section{} ({} region{}, {} "
      "runs); tspasm of it makes the same program without them\n",
      kVersion, what, programs > 1 ? fmt::format("s of {} programs", programs) : "", regions,
      regions == 1 ? "" : "s", runs);
}

} // namespace

std::string disassemble(const Program& program, const ChipConfig& config) {
  const Floorplan floorplan(config.geometry, config.icu);
  const auto& m = program.metadata;
  std::string out = header(config.name, program.regions.regions.size(), program.regions.runs.size(), 1);
  out += fmt::format(".source {}\n", assembly::quote(m.source));
  if (!m.workload.empty()) out += fmt::format(".workload {}\n", assembly::quote(m.workload));
  // tspasm records itself as the generator; any other is kept so the container comes back identical.
  if (m.generator != fmt::format("tspasm {}", kVersion))
    out += fmt::format(".generator {}\n", assembly::quote(m.generator));
  if (m.tokens_per_run) out += fmt::format(".tokens {}\n", m.tokens_per_run);
  if (m.chips != 1) out += fmt::format(".chips {}\n", m.chips);
  if (m.predicted_cycles) out += fmt::format(".predicted_cycles {}\n", m.predicted_cycles);
  if (!program.symbols.empty()) out += '\n';
  symbols(out, program, floorplan);
  if (!program.images.empty()) out += '\n';
  images(out, program, floorplan);
  for (const auto& q : program.queues) {
    out += fmt::format("\n.queue {}\n", floorplan.queues()[q.queue].name);
    for (size_t i = 0; i < q.words.size(); ++i) {
      out += "    " + format_instruction(decode(q.words[i]), floorplan);
      if (!q.lines.empty() && q.lines[i] != 0) out += fmt::format(" @{}", q.lines[i]);
      out += '\n';
    }
  }
  return out;
}

std::string disassemble_system(const SystemProgram& program, const SystemConfig& system) {
  const auto& m = program.metadata;
  size_t regions = 0, runs = 0, with_regions = 0;
  for (const Program& p : program.programs) {
    regions += p.regions.regions.size();
    runs += p.regions.runs.size();
    with_regions += !p.regions.empty();
  }
  std::string out = header("system " + system.name, regions, runs, with_regions);
  out += fmt::format(".source {}\n", assembly::quote(m.source));
  if (!m.workload.empty()) out += fmt::format(".workload {}\n", assembly::quote(m.workload));
  if (m.generator != fmt::format("tspasm {}", kVersion))
    out += fmt::format(".generator {}\n", assembly::quote(m.generator));
  if (m.tokens_per_run) out += fmt::format(".tokens {}\n", m.tokens_per_run);
  if (m.predicted_cycles) out += fmt::format(".predicted_cycles {}\n", m.predicted_cycles);
  std::vector<std::vector<uint32_t>> chips_of(program.programs.size());
  for (uint32_t chip = 0; chip < program.chips(); ++chip)
    chips_of[program.chip_program[chip]].push_back(chip);
  for (size_t i = 0; i < program.programs.size(); ++i) {
    out += fmt::format("\n.chip {}\n", chip_list_text(chips_of[i]));
    out += disassemble(program.programs[i], system.config_of(chips_of[i].front()));
  }
  return out;
}

} // namespace tsp
