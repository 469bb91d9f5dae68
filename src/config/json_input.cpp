#include "tspsim/config/json_input.h"

#include "tspsim/common/error.h"

#include <fmt/format.h>
#include <memory>
#include <set>
#include <vector>

namespace tsp {

using nlohmann::json;

namespace {

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// The parser callback: keeps the keys of every open object (and the path to it).
json::parser_callback_t duplicate_key_check(const std::string& origin) {
  struct Open {
    std::string path;
    std::set<std::string> keys;
  };
  auto stack = std::make_shared<std::vector<Open>>();
  auto last_key = std::make_shared<std::string>();
  return [stack, last_key, origin](int, json::parse_event_t event, json& parsed) {
    switch (event) {
    case json::parse_event_t::object_start:
      stack->push_back({stack->empty() ? "" : join_path(stack->back().path, *last_key), {}});
      break;
    case json::parse_event_t::object_end: stack->pop_back(); break;
    case json::parse_event_t::key: {
      *last_key = parsed.get<std::string>();
      if (!stack->back().keys.insert(*last_key).second)
        throw InputError(fmt::format("{}: duplicate key '{}'", origin, join_path(stack->back().path, *last_key)));
      break;
    }
    default: break;
    }
    return true;
  };
}

} // namespace

json parse_json_object(const std::string& text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text, duplicate_key_check(origin));
  } catch (const json::exception& e) {
    // nlohmann's message is "[json.exception.parse_error.101] parse error at line L, column C: ...",
    // or out_of_range.406 "number overflow parsing '1e999'" for a number no double holds.
    std::string what = e.what();
    if (const auto close = what.find("] "); what.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      what = what.substr(close + 2);
    throw InputError(fmt::format("{}: invalid JSON: {}", origin, what));
  }
  if (!doc.is_object()) throw InputError(fmt::format("{}: expected a JSON object at the top level", origin));
  return doc;
}

} // namespace tsp
