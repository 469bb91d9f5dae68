// What the user gets back from a system run: a summary for the system and each chip, and the
// statistics as JSON, with the utilisation of every link. docs/systems.md ("Engine") defines them.
#pragma once

#include "tspsim/system/region_profile.h"
#include "tspsim/system/system.h"

#include <nlohmann/json.hpp>
#include <ostream>

namespace tsp {

struct SystemReport {
  const System& system;
  const SystemResult& result;
  const std::string& program_path;
  const std::vector<RegionBreakdown>* breakdowns = nullptr; // per chip (none: not measured)
  uint32_t requests = 1;                                    // --requests
};

// One direction of one link: what this chip sent on it and received from it.
struct LinkFigures {
  uint32_t link = 0;
  const LinkEnd* peer = nullptr; // null: not cabled
  uint64_t vectors_sent = 0;
  uint64_t vectors_received = 0;
  uint64_t busy_cycles = 0;      // serialising this chip's sends
  double utilisation = 0;        // busy cycles / the system's cycles
};

struct ChipLinkFigures {
  std::vector<LinkFigures> links;   // cabled links and any link used
  uint32_t cabled = 0;
  uint64_t busy_cycles = 0;
  double utilisation = 0;           // busy cycles over cabled links x the system's cycles
};

ChipLinkFigures chip_link_figures(const SystemReport& report, uint32_t chip);
void print_system_summary(std::ostream& out, const SystemReport& report);
// weight_bound_violation (report.h) for the system's step against its busiest chip's bound.
std::string weight_bound_violation(const SystemReport& report);
nlohmann::json system_stats_json(const SystemReport& report);

} // namespace tsp
