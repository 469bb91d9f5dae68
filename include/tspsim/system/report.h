// What the user gets back from a run: the summary table, the statistics as JSON, and the
// per-window utilisation CSV. docs/statistics.md defines every figure.
#pragma once

#include "tspsim/system/chip.h"
#include "tspsim/system/region_profile.h"

#include <nlohmann/json.hpp>
#include <ostream>

namespace tsp {

struct RunReport {
  const Chip& chip;
  const RunResult& result;
  const Program& program;
  const std::string& program_path;
  const RegionBreakdown* breakdown = nullptr; // the program's regions, measured (none: no regions)
  uint32_t requests = 1;                      // --requests: token streams sharing the chip
};

// Token rates when `requests` streams share the chips (docs/llama.md, "Requests sharing the
// chip"). A stream's next step needs its previous token, so it waits `seconds_per_token` at least;
// each chip replays its program once per step and holds it for `occupancy_seconds` (its first
// activity to the end of its run), so it takes a new step every `occupancy_seconds` at most. The
// steps come every max(seconds_per_token, requests x occupancy_seconds): on one chip or one stage,
// occupancy equals latency and the P streams divide one chip's rate.
struct RequestRates {
  uint32_t requests = 1;
  double step_interval_seconds = 0; // between two steps of one stream
  double per_user_tokens_per_second = 0;
  double aggregate_tokens_per_second = 0;
};
RequestRates request_rates(double seconds_per_token, double occupancy_seconds, uint32_t requests);

// The breakdown as a table (one row per group) and as --stats-json's "breakdown" object.
void print_breakdown(std::ostream& out, const RegionBreakdown& breakdown);
nlohmann::json breakdown_json(const RegionBreakdown& breakdown);

// Utilisation of one kind of slice: busy slice-cycles over slices x cycles.
struct UnitFigures {
  unsigned slices = 0;
  uint64_t busy_slice_cycles = 0;
  uint64_t instructions = 0;
  double utilisation = 0;
};

struct ChipFigures {
  std::array<UnitFigures, kSliceKinds> units; // by SliceKind
  uint64_t instructions = 0;
  uint64_t macs = 0;
  double mac_utilisation = 0;    // of 4 planes x K x N per cycle
  uint64_t sram_bytes = 0;       // read + written
  double sram_utilisation = 0;   // of slices x banks x ports x vector_bytes per cycle
  uint64_t stream_bytes = 0;     // put on streams
  double stream_utilisation = 0; // of 2 x streams x vector_bytes per cycle (one boundary's capacity)
  uint64_t link_bytes = 0;
  double seconds = 0;           // simulated time
  double tokens_per_second = 0; // metadata.tokens_per_run / seconds
  // A token workload with weights declared as seeded initialisers (a decode step of tspc llama):
  // the weights' bytes and the run time of streaming them once from SRAM at the bandwidth a
  // program reaches (one access of a vector per MEM slice per cycle, docs/validation.md). A run
  // faster than that bound would be a bug.
  uint64_t weight_bytes = 0;
  double seconds_per_token = 0;
  double weight_bound_cycles = 0;
  double weight_bound_tokens_per_second = 0;
  // The busiest chip's occupancy per token: cycles from its first activity to the end of its run
  // (a system's: the largest over its chips, and which chip).
  double occupancy_cycles = 0;
  uint32_t occupancy_chip = 0;
  // A prompt pass (its regions' groups are prompt groups, regions.h): the run's tokens are the
  // prompt's, its cycles the time to first token (docs/llama.md, "Prompt pass").
  bool prompt_pass = false;
  uint64_t prompt_tokens = 0;
  uint64_t pass_cycles = 0;
};

ChipFigures chip_figures(const RunReport& report);
// Cycles a run holds its chip: from its first slice instruction to the end of the run (0: none).
uint64_t occupancy_cycles(const RunResult& result);
// The decode lines of the report (per-token latency, tokens/s, the weight-streaming bound) and
// the `decode` object of --stats-json, for one chip and for a system (docs/statistics.md); `note`
// follows the weight bytes (a system's: which chip's). Nothing when f has no weights. For a prompt
// pass: time to first token, the prompt's tokens/s and the bound per prompt token, and the
// `prefill` object instead (stats_key names it).
void print_decode(std::ostream& out, const ChipFigures& f, const ChipConfig& config, const std::string& note,
                  uint32_t requests, const std::string& shared_by);
nlohmann::json decode_json(const ChipFigures& f, const ChipConfig& config, uint32_t requests);
// A token run faster than its weight-streaming bound cannot have streamed every weight it declares:
// a modelling error, which tspsim reports and exits 1 for (docs/statistics.md). The message, or
// empty (no weights, or not faster).
std::string weight_bound_violation(const ChipFigures& f, double clock_mhz);
const char* stats_key(const ChipFigures& f);
void print_summary(std::ostream& out, const RunReport& report);
nlohmann::json stats_json(const RunReport& report);
// One row per window of `stats.window()` cycles, one column per slice kind (busy fraction).
std::string utilisation_csv(const RunReport& report);

} // namespace tsp
