// tspisa-doc: writes docs/isa.md from the ISA table and the timing parameter list, so the
// reference cannot drift from the code (ctest isa_doc_current compares the committed file).
// Exit codes: 0 success, 2 bad input.
#include "cli/cli_common.h"
#include "isa.h"
#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/config/config.h"
#include "tspsim/config/config_keys.h"
#include "tspsim/program/assembler.h"

#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>

namespace {

using namespace tsp::isa;

std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string param(TimingParam p) {
  if (p == TimingParam::none) return "—";
  return fmt::format("`{}`", tsp::isa::timing_params()[static_cast<size_t>(p)].key);
}

std::string bits(const FieldSpec& field) {
  const int msb = field.lsb + field.width - 1;
  return field.width == 1 ? fmt::format("{}", field.lsb) : fmt::format("{}..{}", msb, field.lsb);
}

std::string kind_name(FieldKind kind) {
  constexpr std::string_view names[] = {"uimm",      "simm", "address", "stream", "dtype",
                                        "mem_slice", "f32",  "mode",    "link"};
  return std::string(names[static_cast<int>(kind)]);
}

// What the operand is beyond its kind: stream role and group, mode names.
std::string notes(const OpcodeSpec& spec, const FieldSpec& field) {
  if (field.kind == FieldKind::mode)
    return fmt::format("0 = `{}`, 1 = `{}`", field.mode_names[0], field.mode_names[1]);
  if (field.kind != FieldKind::stream) return "";
  const char* role = field.role == StreamRole::read ? "read" : "written";
  if (field.group_fixed)
    return fmt::format("{}; group of {} stream{}", role, field.group_fixed,
                       field.group_fixed == 1 ? "" : "s");
  unsigned n = 0;
  for (const auto& f : spec.operand_fields()) {
    if (f.kind != FieldKind::dtype) continue;
    if (n++ == field.group_dtype) return fmt::format("{}; group = bytes of `{}`", role, f.name);
  }
  return role;
}

void encoding_rules(std::string& out) {
  out += R"(## Encoding

Every instruction is one 64-bit word, stored little-endian (8 bytes; a vector of instruction
text holds vector_bytes / 8 of them, 40 on the 14 nm chip). Bits 7..0 hold the opcode; each
operand sits in the bits listed for it below. Every other bit must be zero: the decoder rejects a word with stray bits, and an
unknown opcode. The all-zero word (`NOP 0`) is padding in instruction text, never an instruction.

| Kind | Stored as | Written in assembly |
|---|---|---|
| `uimm` | unsigned integer | `12`, `0x1f`, or a `.equ` name |
| `simm` | two's complement in the field's width | `-3`, `0x10`, or a `.equ` name |
| `address` | MEM vector address (checked against `geometry.mem_words_per_slice`) | integer, `.equ` name or label |
| `stream` | bit 6: direction (0 east, 1 west); bits 5..0: id of the group's first stream | `E5`, `W12` |
| `dtype` | type number: i8 0, i16 1, i32 2, f16 3, bf16 4, f32 5 | suffix in field order: `add.f32`, `cvt.f32.i32` |
| `mem_slice` | bit 7: hemisphere (0 west, 1 east); bits 6..0: slice index from the VXM | slice name: `MEM_W3`, `MEM_E0` |
| `f32` | IEEE binary32 bit pattern | decimal (`0.5`, `-2e-3`, `inf`) or hex bits (`0x3f000000`) |
| `mode` | one bit | by name (listed with the instruction) |
| `link` | C2C link index (checked against `c2c.links`) | integer |

A stream operand names the first stream of its group. The group holds one byte-stream per byte of
the element type (i8 1, 16-bit types 2, 32-bit types 4) unless the instruction fixes it; the first
stream must be a multiple of the group size and the group must end inside
`streams.per_direction`.

## Timing

Each instruction names two timing parameters (`timing.<key>` in the chip config): its *skew*,
cycles from dispatch to reading its stream operands, and its *func*, cycles from dispatch to its
result on the destination stream. For float types the VXM uses `vxm_fp_add` in place of
`vxm_int_add` and `vxm_fp_mul` in place of `vxm_int_mul`. docs/timing-model.md gives the full rules.

)";
}

void instructions(std::string& out) {
  for (unsigned u = 0; u < static_cast<unsigned>(Unit::count); ++u) {
    const auto unit = static_cast<Unit>(u);
    out += fmt::format("## {} instructions\n\n", unit_name(unit));
    if (unit == Unit::icu)
      out += "Issued by every queue.\n\n";
    else if (unit == Unit::c2c)
      out += "Issued by the SXM queues, next to the links.\n\n";
    else
      out += fmt::format("Issued by the {} queues.\n\n", unit_name(unit));
    for (const auto& spec : opcodes()) {
      if (spec.unit != unit) continue;
      out += fmt::format("### {} (opcode 0x{:02x})\n\n", spec.mnemonic, static_cast<unsigned>(spec.opcode));
      out += fmt::format("`{}` — {}.\n\n", tsp::instruction_syntax(spec), spec.description);
      if (!spec.operand_fields().empty()) {
        out += "| Operand | Bits | Kind | Notes |\n|---|---|---|---|\n";
        for (const auto& field : spec.operand_fields())
          out += fmt::format("| `{}` | {} | {} | {} |\n", field.name, bits(field), kind_name(field.kind),
                             cell(notes(spec, field)));
        out += '\n';
      }
      out += fmt::format("Skew {}, func {}.\n\n", param(spec.skew), param(spec.func));
    }
  }
}

void timing_parameters(std::string& out) {
  out += "## Timing parameters\n\n"
         "Defaults are the 14 nm values (isa/timing_params.def); [A] marks an assumption, [S] a "
         "published source.\n\n"
         "| Key | Default | Meaning | Source |\n|---|---|---|---|\n";
  for (const auto& p : timing_params())
    out += fmt::format("| `{}` | {} | {} | {} |\n", p.key, p.default_14nm, cell(p.meaning), cell(p.source));
}

// The timing table of docs/config.md: the rows of isa/timing_params.def, an [A] source spelled out.
std::string config_timing_table() {
  std::string out = "| Key | 14 nm | Meaning | Source |\n|---|---|---|---|\n";
  for (const auto& p : timing_params()) {
    std::string source(p.source);
    if (source.rfind("[A] ", 0) == 0) source = "**[A] assumption** " + source.substr(4);
    if (source == "[A]") source = "**[A] assumption**";
    out += fmt::format("| `timing.{}` | {} | {} | {} |\n", p.key, p.default_14nm, cell(p.meaning), cell(source));
  }
  return out;
}

// A default as docs/config.md shows it: text in backticks, numbers and booleans as they are.
std::string shown_default(const nlohmann::json& value) {
  if (value.is_string()) return fmt::format("`{}`", value.get<std::string>());
  if (value.is_number_float()) return fmt::format("{}", value.get<double>());
  return value.dump();
}

// The table of one section of docs/config.md ("": the top level): the rows of
// src/config/config_keys.def with the defaults of config.h.
std::string config_key_table(const std::string& section) {
  const nlohmann::json defaults = tsp::config_to_json(tsp::ChipConfig{});
  const nlohmann::json& values = section.empty() ? defaults : defaults.at(section);
  std::string out = "| Key | Unit | 14 nm | Meaning | Source |\n|---|---|---|---|---|\n";
  for (const auto& k : tsp::config_keys())
    if (k.section == section)
      out += fmt::format("| `{}` | {} | {} | {} | {} |\n", k.key, k.unit,
                         shown_default(values.at(std::string(k.key))), k.meaning, k.source);
  return out;
}

constexpr std::string_view kTimingMarker =
    "<!-- generated by tspisa-doc --config-doc: edit isa/timing_params.def -->";
std::string key_table_marker(const std::string& section) {
  return fmt::format("<!-- generated by tspisa-doc --config-doc: edit src/config/config_keys.def ({}) -->",
                     section.empty() ? "top level" : section);
}

// `page` with the table after `marker` replaced by `table`.
std::string with_table(const std::string& page, std::string_view marker, const std::string& table,
                       const std::string& origin) {
  const size_t at = page.find(marker);
  if (at == std::string::npos)
    throw tsp::InputError(fmt::format("{}: no line '{}' before its table", origin, marker));
  const size_t start = page.find('\n', at) + 1;
  size_t end = start;
  while (end < page.size() && page[end] == '|') end = page.find('\n', end) + 1;
  return page.substr(0, start) + table + page.substr(end);
}

// `page` (docs/config.md) with every key table regenerated: the top level's, each section's, timing's.
std::string with_config_tables(const std::string& page, const std::string& origin) {
  std::string out = with_table(page, key_table_marker(""), config_key_table(""), origin);
  for (const std::string& section : tsp::config_sections())
    out = section == "timing" ? with_table(out, kTimingMarker, config_timing_table(), origin)
                              : with_table(out, key_table_marker(section), config_key_table(section), origin);
  return out;
}

std::string isa_markdown() {
  std::string out = "# TSP instruction set\n\n"
                    "Generated by `tspisa-doc` from `isa/isa_table.cpp` and `isa/timing_params.def`; do not "
                    "edit by hand (the `isa_doc_current` test fails when this file is out of date). The "
                    "assembly syntax is described in [assembly.md](assembly.md).\n\n";
  encoding_rules(out);
  instructions(out);
  timing_parameters(out);
  return out;
}

} // namespace

int main(int argc, char* argv[]) {
  std::string output, config_doc;
  auto app = tsp::cli::make_app("tspisa-doc", "prints the ISA reference (docs/isa.md)");
  tsp::cli::takes_path(*app, app->add_option("-o,--output", output, "write to this file instead of stdout"));
  tsp::cli::takes_path(
      *app, app->add_option("--config-doc", config_doc,
                            "instead, print this page (docs/config.md) with its key tables regenerated from "
                            "src/config/config_keys.def, config.h's defaults and isa/timing_params.def"));
  return tsp::cli::run(*app, argc, argv, [&] {
    const std::string text =
        config_doc.empty() ? isa_markdown() : with_config_tables(tsp::read_text_file(config_doc), config_doc);
    if (output.empty())
      std::cout << text;
    else
      tsp::write_file_atomic(output, text);
    return 0;
  });
}
