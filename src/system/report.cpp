#include "tspsim/system/report.h"

#include "tspsim/config/config.h"
#include "tspsim/program/tensor.h"

#include <fmt/format.h>

namespace tsp {

namespace {
double ratio(double part, double whole) { return whole > 0 ? part / whole : 0.0; }
} // namespace

ChipFigures chip_figures(const RunReport& report) {
  const EngineContext& ctx = report.chip.context();
  const auto& geometry = ctx.config.geometry;
  const double cycles = double(report.result.cycles);
  ChipFigures f;
  const auto& slices = ctx.floorplan.slices();
  for (unsigned s = 0; s < slices.size(); ++s) {
    const SliceStats& st = ctx.stats.slices()[s];
    UnitFigures& unit = f.units[static_cast<size_t>(slices[s].kind)];
    ++unit.slices;
    unit.busy_slice_cycles += st.busy_cycles;
    unit.instructions += st.instructions;
    f.instructions += st.instructions;
    f.macs += st.macs;
    f.sram_bytes += st.sram_bytes_read + st.sram_bytes_written;
    f.stream_bytes += st.stream_bytes_written;
    f.link_bytes += st.link_bytes;
  }
  for (auto& unit : f.units) unit.utilisation = ratio(double(unit.busy_slice_cycles), unit.slices * cycles);
  const double vb = geometry.vector_bytes();
  f.mac_utilisation = ratio(double(f.macs), cycles * geometry.mxm_planes() * vb * vb);
  f.sram_utilisation =
      ratio(double(f.sram_bytes),
            cycles * geometry.mem_slices() * geometry.mem_banks_per_slice * geometry.mem_ports_per_bank * vb);
  f.stream_utilisation = ratio(double(f.stream_bytes), cycles * 2.0 * ctx.config.streams.per_direction * vb);
  f.seconds = cycles / (ctx.config.clock_mhz * 1e6);
  if (report.program.metadata.tokens_per_run != 0 && f.seconds > 0)
    f.tokens_per_second = double(report.program.metadata.tokens_per_run) / f.seconds;
  // The weights alone: the scales and norm gains, a few bytes per column, are left out.
  for (const auto& declared : report.program.declared) {
    const Symbol& s = report.program.symbols.at(declared.symbol);
    if (!is_declared_weight(declared, s)) continue;
    f.weight_bytes += uint64_t(declared.row_count) * s.cols * isa::dtype_bytes(s.dtype);
  }
  if (report.program.metadata.tokens_per_run == 0) f.weight_bytes = 0;
  if (f.weight_bytes != 0) {
    f.prompt_pass = is_prompt_pass(report.program.regions);
    f.prompt_tokens = f.prompt_pass ? report.program.metadata.tokens_per_run : 0;
    f.pass_cycles = report.result.cycles;
    const double tokens = double(report.program.metadata.tokens_per_run);
    f.seconds_per_token = f.seconds / tokens;
    f.weight_bound_cycles = double(f.weight_bytes) / (double(geometry.mem_slices()) * vb) / tokens;
    f.weight_bound_tokens_per_second = ctx.config.clock_mhz * 1e6 / f.weight_bound_cycles;
    f.occupancy_cycles = double(occupancy_cycles(report.result)) / tokens;
  }
  return f;
}

uint64_t occupancy_cycles(const RunResult& result) {
  return result.first_issue == kNever ? 0 : result.cycles - result.first_issue;
}

RequestRates request_rates(double seconds_per_token, double occupancy_seconds, uint32_t requests) {
  RequestRates r;
  r.requests = requests;
  if (seconds_per_token <= 0 || requests == 0) return r;
  r.step_interval_seconds = std::max(seconds_per_token, double(requests) * occupancy_seconds);
  r.per_user_tokens_per_second = 1.0 / r.step_interval_seconds;
  r.aggregate_tokens_per_second = double(requests) / r.step_interval_seconds;
  return r;
}

namespace {

RequestRates request_rates_of(const ChipFigures& f, const ChipConfig& config, uint32_t requests) {
  return request_rates(f.seconds_per_token, f.occupancy_cycles / (config.clock_mhz * 1e6), requests);
}

} // namespace

void print_breakdown(std::ostream& out, const RegionBreakdown& breakdown) {
  out << "per-layer breakdown (cycles, each cycle to one category; docs/llama.md)\n";
  size_t width = 12; // the group column: the longest group's name
  for (const auto& g : breakdown.groups) width = std::max(width, g.group.size());
  out << fmt::format("{:<{}}", "group", width);
  for (const auto& name : kRegionCategoryNames)
    out << fmt::format("  {:>{}}", name, std::max<size_t>(name.size(), 7));
  out << fmt::format("  {:>7}  {:>7}  {:>12}\n", "idle", "total", "instructions");
  for (const auto& g : breakdown.groups) {
    out << fmt::format("{:<{}}", g.group, width);
    uint64_t instructions = 0;
    for (size_t c = 0; c < kRegionCategories; ++c) {
      out << fmt::format("  {:>{}}", g.cycles[c], std::max<size_t>(kRegionCategoryNames[c].size(), 7));
      instructions += g.instructions[c];
    }
    out << fmt::format("  {:>7}  {:>7}  {:>12}\n", g.idle, g.total_cycles(), instructions);
  }
  if (breakdown.untagged_instructions != 0)
    out << fmt::format("({} instructions outside every region)\n", breakdown.untagged_instructions);
}

nlohmann::json breakdown_json(const RegionBreakdown& breakdown) {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : breakdown.groups) {
    nlohmann::json cycles = nlohmann::json::object(), instructions = nlohmann::json::object();
    for (size_t c = 0; c < kRegionCategories; ++c) {
      cycles[std::string(kRegionCategoryNames[c])] = g.cycles[c];
      instructions[std::string(kRegionCategoryNames[c])] = g.instructions[c];
    }
    cycles["idle"] = g.idle;
    groups.push_back({{"group", g.group},
                      {"cycles", cycles},
                      {"total_cycles", g.total_cycles()},
                      {"instructions", instructions}});
  }
  return {{"groups", groups}, {"untagged_instructions", breakdown.untagged_instructions}};
}

void print_decode(std::ostream& out, const ChipFigures& f, const ChipConfig& config, const std::string& note,
                  uint32_t requests, const std::string& shared_by) {
  if (f.weight_bytes == 0) return;
  const auto& geometry = config.geometry;
  if (f.prompt_pass)
    out << fmt::format("time to first token {:.3f} us (the prompt pass of {} tokens: {} cycles; {:.1f} "
                       "prompt tokens/s)\n",
                       f.seconds * 1e6, f.prompt_tokens, f.pass_cycles, f.tokens_per_second);
  else
    out << fmt::format("per-token latency   {:.3f} us (one stream: {:.1f} tokens/s)\n",
                       f.seconds_per_token * 1e6, f.tokens_per_second);
  out << fmt::format(
      "weight streaming    {} weight bytes{} at {} B/cycle ({} MEM slices x {} B): {:.1f} cycles, "
      "bound {:.1f} tokens/s\n",
      f.weight_bytes, note, geometry.mem_slices() * geometry.vector_bytes(), geometry.mem_slices(),
      geometry.vector_bytes(), f.weight_bound_cycles, f.weight_bound_tokens_per_second);
  if (f.prompt_pass) return; // one prompt at a time: no requests share it here
  const RequestRates rates = request_rates_of(f, config, requests);
  out << fmt::format(
      "requests            {} sharing the {}: {:.1f} tokens/s per user, {:.1f} tokens/s in aggregate\n",
      rates.requests, shared_by, rates.per_user_tokens_per_second, rates.aggregate_tokens_per_second);
  out << fmt::format(
      "occupancy           {:.0f} cycles per token ({}): a stream's step every {:.0f} cycles\n",
      f.occupancy_cycles, shared_by == "chip" ? "the chip" : fmt::format("chip {}", f.occupancy_chip),
      rates.step_interval_seconds * config.clock_mhz * 1e6);
}

std::string weight_bound_violation(const ChipFigures& f, double clock_mhz) {
  if (f.weight_bytes == 0) return {};
  const double cycles = f.seconds_per_token * clock_mhz * 1e6;
  if (cycles >= f.weight_bound_cycles) return {};
  return fmt::format(
      "{:.1f} cycles per token is faster than the weight-streaming bound of {:.1f} cycles: the {} "
      "weight bytes cannot all have been read (a modelling error)",
      cycles, f.weight_bound_cycles, f.weight_bytes);
}

const char* stats_key(const ChipFigures& f) { return f.prompt_pass ? "prefill" : "decode"; }

nlohmann::json decode_json(const ChipFigures& f, const ChipConfig& config, uint32_t requests) {
  if (f.prompt_pass)
    return {{"time_to_first_token_seconds", f.seconds},
            {"time_to_first_token_cycles", f.pass_cycles},
            {"prompt_tokens", f.prompt_tokens},
            {"prompt_tokens_per_second", f.tokens_per_second},
            {"weight_bytes", f.weight_bytes},
            {"weight_bound_cycles", f.weight_bound_cycles},
            {"weight_bound_tokens_per_second", f.weight_bound_tokens_per_second}};
  const RequestRates rates = request_rates_of(f, config, requests);
  return {{"seconds_per_token", f.seconds_per_token},
          {"tokens_per_second", f.tokens_per_second},
          {"occupancy_cycles_per_token", f.occupancy_cycles},
          {"occupancy_chip", f.occupancy_chip},
          {"requests", rates.requests},
          {"step_interval_seconds", rates.step_interval_seconds},
          {"tokens_per_second_per_user", rates.per_user_tokens_per_second},
          {"aggregate_tokens_per_second", rates.aggregate_tokens_per_second},
          {"weight_bytes", f.weight_bytes},
          {"weight_bound_cycles", f.weight_bound_cycles},
          {"weight_bound_tokens_per_second", f.weight_bound_tokens_per_second}};
}

void print_summary(std::ostream& out, const RunReport& report) {
  const EngineContext& ctx = report.chip.context();
  const ChipFigures f = chip_figures(report);
  const RunResult& r = report.result;
  out << fmt::format("tspsim: {} on {} ({})\n", report.program_path, ctx.config.name, ctx.config.source);
  if (!report.program.metadata.workload.empty())
    out << fmt::format("workload            {}\n", report.program.metadata.workload);
  out << fmt::format("mode                {}{}\n", ctx.options.timing_only ? "timing-only" : "functional",
                     ctx.options.debug_clock ? ", debug clock" : "");
  out << fmt::format("cycles              {}{}\n", r.cycles,
                     r.interrupted      ? " (partial: the run was interrupted)"
                     : r.stopped_strict ? " (partial: --strict stopped at the first error)"
                                        : "");
  out << fmt::format("simulated time      {:.3f} us at {} MHz\n", f.seconds * 1e6, ctx.config.clock_mhz);
  out << fmt::format("instructions        {}\n", f.instructions);
  out << fmt::format("conformance errors  {}\n", ctx.log.total());
  for (size_t k = 0; k < static_cast<size_t>(ErrorKind::count); ++k)
    if (ctx.log.count(static_cast<ErrorKind>(k)) != 0)
      out << fmt::format("  {:<18}{}\n", error_kind_name(static_cast<ErrorKind>(k)),
                         ctx.log.count(static_cast<ErrorKind>(k)));
  out << "unit  slices  instructions  busy slice-cycles  utilisation\n";
  for (size_t u = 0; u < f.units.size(); ++u) {
    const UnitFigures& unit = f.units[u];
    out << fmt::format("{:<4}  {:>6}  {:>12}  {:>17}  {:>10.2f}%\n", kSliceKindTable[u].name, unit.slices,
                       unit.instructions, unit.busy_slice_cycles, 100 * unit.utilisation);
  }
  out << fmt::format("MXM MACs            {} ({:.2f}% of peak)\n", f.macs, 100 * f.mac_utilisation);
  out << fmt::format("MEM bytes           {} ({:.2f}% of peak)\n", f.sram_bytes, 100 * f.sram_utilisation);
  out << fmt::format("stream bytes        {} ({:.2f}% of one boundary's peak)\n", f.stream_bytes,
                     100 * f.stream_utilisation);
  if (f.link_bytes != 0) out << fmt::format("C2C bytes sent      {}\n", f.link_bytes);
  if (f.tokens_per_second > 0) out << fmt::format("tokens/s            {:.1f}\n", f.tokens_per_second);
  print_decode(out, f, ctx.config, "", report.requests, "chip");
  if (report.breakdown && !report.breakdown->empty()) print_breakdown(out, *report.breakdown);
  out << fmt::format("host                {:.3f} s, {:.0f} simulated cycles/s\n", r.host_seconds,
                     r.host_seconds > 0 ? double(r.cycles) / r.host_seconds : 0.0);
}

nlohmann::json stats_json(const RunReport& report) {
  const EngineContext& ctx = report.chip.context();
  const ChipFigures f = chip_figures(report);
  const RunResult& r = report.result;
  nlohmann::json j;
  j["program"] = report.program_path;
  j["program_fingerprint"] = fmt::format("0x{:016x}", report.program.fingerprint);
  j["config"] = config_to_json(ctx.config);
  j["config_fingerprint"] = fmt::format("0x{:016x}", geometry_fingerprint(ctx.config));
  j["mode"] = ctx.options.timing_only ? "timing-only" : "functional";
  j["partial"] = r.interrupted || r.stopped_strict;
  j["cycles"] = r.cycles;
  j["simulated_seconds"] = f.seconds;
  j["instructions"] = f.instructions;
  j["host_seconds"] = r.host_seconds;
  nlohmann::json errors = nlohmann::json::object();
  for (size_t k = 0; k < static_cast<size_t>(ErrorKind::count); ++k)
    errors[error_kind_name(static_cast<ErrorKind>(k))] = ctx.log.count(static_cast<ErrorKind>(k));
  j["conformance_errors"] = errors;
  j["conformance_error_list"] = nlohmann::json::array();
  for (const auto& e : ctx.log.kept()) j["conformance_error_list"].push_back(e.describe());
  nlohmann::json units = nlohmann::json::object();
  for (size_t u = 0; u < f.units.size(); ++u)
    units[std::string(kSliceKindTable[u].name)] = {{"slices", f.units[u].slices},
                                                   {"instructions", f.units[u].instructions},
                                                   {"busy_slice_cycles", f.units[u].busy_slice_cycles},
                                                   {"utilisation", f.units[u].utilisation}};
  j["units"] = units;
  j["mxm"] = {{"macs", f.macs}, {"utilisation", f.mac_utilisation}};
  j["mem"] = {{"bytes", f.sram_bytes}, {"utilisation", f.sram_utilisation}};
  j["streams"] = {{"bytes", f.stream_bytes}, {"utilisation", f.stream_utilisation}};
  j["c2c"] = {{"bytes_sent", f.link_bytes}};
  if (report.program.metadata.tokens_per_run != 0) j["tokens_per_second"] = f.tokens_per_second;
  if (f.weight_bytes != 0) j[stats_key(f)] = decode_json(f, ctx.config, report.requests);
  if (report.breakdown && !report.breakdown->empty()) j["breakdown"] = breakdown_json(*report.breakdown);
  nlohmann::json slices = nlohmann::json::array();
  const auto& infos = ctx.floorplan.slices();
  for (unsigned s = 0; s < infos.size(); ++s) {
    const SliceStats& st = ctx.stats.slices()[s];
    nlohmann::json by_opcode = nlohmann::json::object();
    for (const auto& spec : isa::opcodes()) {
      const uint64_t n = st.by_opcode[static_cast<uint8_t>(spec.opcode)];
      if (n != 0) by_opcode[std::string(spec.mnemonic)] = n;
    }
    slices.push_back({{"name", infos[s].name},
                      {"busy_cycles", st.busy_cycles},
                      {"instructions", st.instructions},
                      {"instructions_by_opcode", by_opcode},
                      {"stream_bytes_read", st.stream_bytes_read},
                      {"stream_bytes_written", st.stream_bytes_written},
                      {"sram_bytes_read", st.sram_bytes_read},
                      {"sram_bytes_written", st.sram_bytes_written},
                      {"macs", st.macs},
                      {"link_bytes", st.link_bytes}});
  }
  j["slices"] = slices;
  return j;
}

std::string utilisation_csv(const RunReport& report) {
  const EngineContext& ctx = report.chip.context();
  const uint64_t window = ctx.stats.window();
  std::array<unsigned, kSliceKinds> counts{};
  for (const auto& s : ctx.floorplan.slices()) ++counts[static_cast<size_t>(s.kind)];
  std::string csv = "cycle_start,cycles";
  for (const auto& kind : kSliceKindTable) csv += fmt::format(",{}", kind.name);
  csv += '\n';
  const auto& windows = ctx.stats.windows();
  const uint64_t cycles = report.result.cycles;
  for (uint64_t start = 0, w = 0; start < cycles; start += window, ++w) {
    const uint64_t length = std::min(window, cycles - start);
    csv += fmt::format("{},{}", start, length);
    for (size_t u = 0; u < kSliceKinds; ++u) {
      const uint64_t busy = w < windows.size() ? windows[w][u] : 0;
      csv += fmt::format(",{:.6f}", ratio(double(busy), double(counts[u]) * double(length)));
    }
    csv += '\n';
  }
  return csv;
}

} // namespace tsp
