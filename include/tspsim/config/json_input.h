// Reading a JSON input file (a chip config, a system, a model): one parser with one set of
// messages. A key given twice in one object is refused (JSON allows it, and the last would win
// unseen); the top level must be an object.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace tsp {

// Throws InputError "ORIGIN: invalid JSON: ...", "ORIGIN: duplicate key 'a.b'" or "ORIGIN:
// expected a JSON object at the top level".
nlohmann::json parse_json_object(const std::string& text, const std::string& origin);

} // namespace tsp
