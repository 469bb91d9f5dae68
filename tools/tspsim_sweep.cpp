#include "tspsim_sweep.h"
#include "cli/cli_common.h"

#include "tspsim/common/error.h"
#include "tspsim/common/file_io.h"
#include "tspsim/common/temporary_directory.h"
#include "tspsim/compiler/llama.h"
#include "tspsim/compiler/registry.h"
#include "tspsim/config/config.h"
#include "tspsim/config/config_keys.h"
#include "tspsim/config/system.h"
#include "tspsim/program/system_program.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

struct Param {
  std::string key;
  std::vector<std::string> values;
};

struct SweepOptions {
  std::string config;
  std::string workload;
  std::string system;  // a llama workload over this system's chips (empty: one chip)
  uint32_t stages = 0; // with system: pipeline stages (0: the planner's choice)
  std::vector<std::string> params;
  std::vector<std::string> overrides;
  unsigned jobs = 1;
  std::string out;
  std::string plot;
};

struct Point {
  std::vector<std::string> values; // one per Param
  std::string status = "ok";       // ok | invalid | failed
  std::string reason;
  uint64_t predicted = 0;
  uint32_t chips = 1;
  fs::path program, stats, err;
  nlohmann::json result;
};

// KEY=V1,V2,... of a config key (config_keys.def) no earlier --param sweeps; no value may be empty.
Param parse_param(const std::string& spec, const std::vector<Param>& earlier) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw tsp::InputError(fmt::format("--param {}: expected key.path=v1,v2,...", spec));
  Param p;
  p.key = spec.substr(0, eq);
  if (!tsp::is_config_key(p.key))
    throw tsp::InputError(
        fmt::format("--param {}: unknown config key '{}' (docs/config.md lists them)", spec, p.key));
  for (const Param& other : earlier)
    if (other.key == p.key)
      throw tsp::InputError(
          fmt::format("--param {}: {} is swept by an earlier --param: give its values in one", spec, p.key));
  const std::string values = spec.substr(eq + 1) + ",";
  for (size_t start = 0, comma; (comma = values.find(',', start)) != std::string::npos; start = comma + 1) {
    if (comma == start)
      throw tsp::InputError(fmt::format("--param {}: value {} is empty (expected key.path=v1,v2,...)", spec,
                                        p.values.size() + 1));
    p.values.push_back(values.substr(start, comma - start));
  }
  return p;
}

struct Workload {
  const tsp::compiler::KernelEntry* entry;
  tsp::compiler::KernelArgs args;
};

// "gemv --k 640 --n 640" → the kernel and its options, checked against the registry.
Workload parse_workload(const std::string& spec) {
  std::istringstream words(spec);
  std::string name;
  words >> name;
  const auto* entry = tsp::compiler::find_kernel(name);
  if (!entry)
    throw tsp::InputError(
        fmt::format("--workload '{}': unknown kernel '{}' (tspc --list names them)", spec, name));
  Workload w{entry, {}};
  for (std::string option, value; words >> option;) {
    const bool known =
        option.rfind("--", 0) == 0 && std::any_of(entry->options.begin(), entry->options.end(),
                                                  [&](const auto& o) { return o.name == option.substr(2); });
    if (!known || !(words >> value))
      throw tsp::InputError(
          fmt::format("--workload '{}': '{}' is not an option of {} with a value", spec, option, name));
    w.args.set(option.substr(2), value);
  }
  return w;
}

std::vector<Point> cartesian(const std::vector<Param>& params) {
  std::vector<Point> points(1);
  for (const Param& p : params) {
    std::vector<Point> next;
    for (const Point& point : points)
      for (const auto& v : p.values) {
        next.push_back(point);
        next.back().values.push_back(v);
      }
    points = std::move(next);
  }
  return points;
}

std::string self_path() {
  std::error_code error;
  const auto path = fs::read_symlink("/proc/self/exe", error);
  if (error) throw tsp::InputError("sweep: cannot find the tspsim executable (/proc/self/exe)");
  return path.string();
}

pid_t spawn(const std::vector<std::string>& argv, const fs::path& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(fd, 2);
    std::vector<char*> raw;
    for (const auto& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  if (pid < 0) throw tsp::InputError("sweep: cannot start a simulation process");
  return pid;
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.rfind("error: ", 0) == 0 ? line.substr(7) : line;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// The CSV's figures of one run. A system run's unit and MAC utilisations are the mean over its
// chips (docs/workflow.md).
struct Figures {
  uint64_t cycles = 0;
  uint64_t errors = 0;
  std::map<std::string, double> units;
  double macs = 0;
  std::optional<double> tokens_per_s;
};

Figures figures_of(const nlohmann::json& r) {
  Figures f;
  f.cycles = r.at("cycles").get<uint64_t>();
  for (const auto& [kind, n] : r.at("conformance_errors").items()) f.errors += n.get<uint64_t>();
  const bool system = r.contains("chips") && r.at("chips").is_array();
  const std::vector<nlohmann::json> chips =
      system ? r.at("chips").get<std::vector<nlohmann::json>>() : std::vector<nlohmann::json>{r};
  for (const auto& chip : chips) {
    for (const char* unit : {"MEM", "VXM", "MXM", "SXM"})
      f.units[unit] += chip.at("units").at(unit).at("utilisation").get<double>() / double(chips.size());
    f.macs += chip.at("mxm").at("utilisation").get<double>() / double(chips.size());
  }
  if (r.contains("tokens_per_second")) f.tokens_per_s = r.at("tokens_per_second").get<double>();
  if (r.contains("decode")) f.tokens_per_s = r.at("decode").at("tokens_per_second").get<double>();
  return f;
}

std::string csv(const std::vector<Param>& params, const std::vector<Point>& points) {
  std::string text;
  for (const Param& p : params) text += p.key + ",";
  text +=
      "status,cycles,predicted_cycles,conformance_errors,MEM,VXM,MXM,SXM,mxm_mac_utilisation,chips_needed,"
      "tokens_per_s,reason\n";
  for (const Point& point : points) {
    for (const auto& v : point.values) text += csv_field(v) + ",";
    text += point.status + ",";
    if (point.status == "ok") {
      const Figures f = figures_of(point.result);
      text += fmt::format("{},{},{}", f.cycles, point.predicted, f.errors);
      for (const char* unit : {"MEM", "VXM", "MXM", "SXM"}) text += fmt::format(",{:.6f}", f.units.at(unit));
      text += fmt::format(",{:.6f},{},", f.macs, point.chips);
      if (f.tokens_per_s) text += fmt::format("{:.1f}", *f.tokens_per_s);
      text += ",\n";
    } else {
      text += ",,,,,,,,,," + csv_field(point.reason) + "\n";
    }
  }
  return text;
}

// Text for an SVG element: the workload and values are the user's.
std::string xml_text(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return out;
}

// Cycles against the first swept key, one line per combination of the others.
std::string svg_plot(const std::vector<Param>& params, const std::vector<Point>& points,
                     const std::string& title) {
  const int width = 760, height = 420, left = 80, right = 220, top = 40, bottom = 60;
  const int plot_w = width - left - right, plot_h = height - top - bottom;
  uint64_t most = 1;
  for (const Point& p : points)
    if (p.status == "ok") most = std::max(most, p.result.at("cycles").get<uint64_t>());
  const size_t xs = params.front().values.size();
  const auto x_of = [&](size_t i) {
    return left + (xs > 1 ? plot_w * double(i) / double(xs - 1) : plot_w / 2.0);
  };
  const auto y_of = [&](uint64_t cycles) { return top + plot_h * (1 - double(cycles) / double(most)); };
  std::string svg =
      fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 "
                  "{0} {1}\" font-family=\"sans-serif\">\n<rect width=\"{0}\" height=\"{1}\" "
                  "fill=\"white\"/>\n<text x=\"{2}\" y=\"24\" font-size=\"15\">{3}</text>\n",
                  width, height, left, xml_text(title));
  for (int i = 0; i <= 4; ++i) {
    const double y = top + plot_h * (1 - i / 4.0);
    svg +=
        fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{}\" "
                    "y=\"{:.1f}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n",
                    left, y, left + plot_w, y, left - 6, y + 4, most * i / 4);
  }
  for (size_t i = 0; i < xs; ++i)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n",
                       x_of(i), top + plot_h + 16, xml_text(params.front().values[i]));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
                     left + plot_w / 2, height - 18, xml_text(params.front().key));
  svg += fmt::format("<text x=\"16\" y=\"{}\" font-size=\"12\" transform=\"rotate(-90 16 {})\" "
                     "text-anchor=\"middle\">cycles</text>\n",
                     top + plot_h / 2, top + plot_h / 2);
  // Points are ordered with the first key varying slowest: a series is every xs-th... group by the rest.
  std::map<std::vector<std::string>, std::vector<std::pair<size_t, const Point*>>> series;
  for (const Point& p : points) {
    const std::vector<std::string> rest(p.values.begin() + 1, p.values.end());
    const size_t x =
        size_t(std::find(params.front().values.begin(), params.front().values.end(), p.values.front()) -
               params.front().values.begin());
    series[rest].push_back({x, &p});
  }
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                           "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};
  size_t k = 0;
  for (const auto& [rest, members] : series) {
    const char* colour = colours[k % 8];
    std::string label;
    for (size_t i = 0; i < rest.size(); ++i) label += (i ? ", " : "") + params[i + 1].key + "=" + rest[i];
    if (label.empty()) label = "cycles";
    if (std::none_of(members.begin(), members.end(), [](const auto& m) { return m.second->status == "ok"; }))
      label += " (could not run)";
    std::string points_attr;
    for (const auto& [x, p] : members) {
      if (p->status != "ok") continue;
      const uint64_t cycles = p->result.at("cycles");
      points_attr += fmt::format("{:.1f},{:.1f} ", x_of(x), y_of(cycles));
      svg += fmt::format(
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"><title>{}</title></circle>\n", x_of(x),
          y_of(cycles), colour, cycles);
    }
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", colour,
                       points_attr);
    svg +=
        fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" "
                    "font-size=\"11\">{}</text>\n",
                    left + plot_w + 16, top + 16 * int(k) + 4, colour, left + plot_w + 32,
                    top + 16 * int(k) + 8, xml_text(label));
    ++k;
  }
  return svg + "</svg>\n";
}

int run_sweep(const SweepOptions& opt) {
  std::vector<Param> params;
  for (const auto& spec : opt.params) params.push_back(parse_param(spec, params));
  if (params.empty()) throw tsp::InputError("sweep: at least one --param key.path=v1,v2,... is required");
  if (opt.jobs == 0) throw tsp::InputError("--jobs: expected at least 1");
  Workload workload = parse_workload(opt.workload);
  const bool llama = workload.entry->name == "llama";
  if (!opt.system.empty() && !llama)
    throw tsp::InputError(fmt::format(
        "--system: only a llama workload is scheduled over a system's chips, not {}", workload.entry->name));
  if (opt.stages > 0 && opt.system.empty()) throw tsp::InputError("--stages needs --system");
  // The points run --timing-only, so a decode step's host reference would be wasted (its schedule
  // does not depend on data).
  if (llama) workload.args.set("timing-only", "");
  const auto args = tsp::compiler::with_defaults(*workload.entry, workload.args);
  const tsp::cli::ConfigChoice base{opt.config, opt.overrides};
  // The model, the base config and the system must load: a wrong one fails the sweep, not a point.
  if (llama) tsp::compiler::llama_model(args);
  if (opt.system.empty())
    tsp::load_config(opt.config, opt.overrides);
  else
    tsp::cli::load_chosen_system(opt.system, base);
  const std::string plot = opt.plot.empty() ? fs::path(opt.out).replace_extension(".svg").string() : opt.plot;
  // Before any point is compiled: a sweep can take minutes, and its results must have somewhere to go.
  tsp::OutputFiles outputs;
  outputs.check(opt.out, "--out");
  outputs.check(plot, "--plot");
  const std::string self = self_path();
  const tsp::TemporaryDirectory work_directory("tspsim-sweep");
  const fs::path& work = work_directory.path();

  std::vector<Point> points = cartesian(params);
  // Compile every point (fast, in this process); a config or schedule that cannot work is a row.
  for (size_t i = 0; i < points.size(); ++i) {
    Point& point = points[i];
    std::vector<std::string> overrides = opt.overrides;
    for (size_t k = 0; k < params.size(); ++k) overrides.push_back(params[k].key + "=" + point.values[k]);
    try {
      point.program = work / fmt::format("point{}.bin", i);
      point.stats = work / fmt::format("point{}.json", i);
      point.err = work / fmt::format("point{}.err", i);
      if (opt.system.empty()) {
        const auto kernel = workload.entry->compile(tsp::load_config(opt.config, overrides), args);
        point.predicted = kernel.predicted_cycles;
        point.chips = kernel.program.metadata.chips;
        tsp::write_program(kernel.program, point.program);
      } else {
        const auto system = tsp::cli::load_chosen_system(opt.system, {opt.config, overrides});
        const auto model = tsp::compiler::llama_model(args);
        const uint32_t stages =
            opt.stages > 0 ? opt.stages : tsp::compiler::planned_llama_stages(system, model, opt.system);
        const auto compiled =
            tsp::compiler::compile_llama_system(system, model, tsp::compiler::llama_step(args), stages);
        point.predicted = compiled.predicted_cycles;
        point.chips = system.chips();
        tsp::write_system_program(compiled.program, point.program);
      }
    } catch (const tsp::InputError& e) {
      point.status = "invalid";
      point.reason = e.what();
    }
  }
  // Simulate the valid points, --jobs at a time.
  std::map<pid_t, size_t> running;
  size_t next = 0;
  const auto finish_one = [&] {
    int status = 0;
    const pid_t pid = wait(&status);
    Point& point = points[running.at(pid)];
    running.erase(pid);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if ((code == 0 || code == 1) && fs::exists(point.stats)) {
      point.result = nlohmann::json::parse(tsp::read_text_file(point.stats));
    } else {
      point.status = "failed";
      point.reason = first_line(tsp::read_text_file(point.err));
      if (point.reason.empty()) point.reason = fmt::format("tspsim exited with status {}", code);
    }
  };
  for (; next < points.size(); ++next) {
    Point& point = points[next];
    if (point.status != "ok") continue;
    while (running.size() >= opt.jobs) finish_one();
    std::vector<std::string> argv = {self, "--config", opt.config};
    if (!opt.system.empty()) argv.insert(argv.end(), {"--system", opt.system});
    for (const auto& o : opt.overrides) argv.insert(argv.end(), {"--set", o});
    for (size_t k = 0; k < params.size(); ++k)
      argv.insert(argv.end(), {"--set", params[k].key + "=" + point.values[k]});
    argv.insert(argv.end(),
                {"--timing-only", "--quiet", "--stats-json", point.stats.string(), point.program.string()});
    running[spawn(argv, point.err)] = next;
  }
  while (!running.empty()) finish_one();

  outputs.stage(opt.out, csv(params, points));
  outputs.stage(plot, svg_plot(params, points, workload.entry->name + ": " + opt.workload));
  outputs.commit();
  size_t ok = 0;
  for (const auto& p : points) ok += p.status == "ok";
  std::cout << fmt::format("sweep: {} points ({} simulated, {} could not run); wrote {} and {}\n",
                           points.size(), ok, points.size() - ok, opt.out, plot);
  return 0;
}

} // namespace

int sweep_main(int argc, char* argv[]) {
  SweepOptions opt;
  auto app =
      tsp::cli::make_app("tspsim sweep", "cycles of a tspc kernel over a cartesian product of config values");
  tsp::cli::takes_path(*app, app->add_option("--config", opt.config, "base chip config (JSON)"))->required();
  app->add_option("--workload", opt.workload, "kernel spec as for tspc, e.g. \"gemv --k 2560 --n 2560\"")
      ->required();
  tsp::cli::takes_path(
      *app, app->add_option(
                "--system", opt.system,
                "a llama workload's decode step over this system's chips (configs/systems/); --param and "
                "--set apply to every chip"));
  app->add_option("--stages", opt.stages,
                  "with --system: pipeline stages (default: tspc plan's choice per point)");
  tsp::cli::add_repeatable(*app, "--param", opt.params,
                           "key.path=v1,v2,... (repeatable; the cartesian product is swept)")
      ->required();
  tsp::cli::add_repeatable(*app, "--set", opt.overrides,
                           "override a config key at every point: key.path=value (repeatable)");
  app->add_option("--jobs", opt.jobs, "simulations run in parallel (default 1)");
  tsp::cli::takes_path(*app, app->add_option("--out", opt.out, "CSV file to write"))->required();
  tsp::cli::takes_path(
      *app, app->add_option("--plot", opt.plot, "SVG plot of cycles to write (default: --out with .svg)"));
  return tsp::cli::run(*app, argc, argv, [&] { return run_sweep(opt); });
}
