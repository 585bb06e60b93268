// SPDX-License-Identifier: AGPL-3.0-or-later
// Parsing JSON text from an untrusted file with a nesting limit enforced while
// parsing (nlohmann parses any depth, but dumping or comparing a very deep
// value recurses once per level), duplicate keys refused (nlohmann keeps the
// last one silently; YAML and most readers refuse them), and errors an
// operator can read.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <dihya/error.hpp>
#include <nlohmann/json.hpp>

namespace dihya {

// Throws dihya::Error "invalid JSON: parse error at line L, column C: ...",
// "invalid JSON: a number is too large", "nested more than N levels" or
// "invalid JSON: duplicate key \"K\"".
inline nlohmann::json parse_json_limited(std::string_view text, int max_depth) {
  // Throwing from the callback stops the parser before it builds anything deeper.
  std::vector<std::set<std::string>> keys;  // per open object
  nlohmann::json::parser_callback_t guard = [max_depth, &keys](int depth, nlohmann::json::parse_event_t event,
                                                               nlohmann::json& parsed) {
    if (depth > max_depth) throw dihya::Error("nested more than " + std::to_string(max_depth) + " levels");
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) keys.emplace_back();
    if (event == Event::object_end) keys.pop_back();
    if (event == Event::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
      // Dumped: the key is the file's, maybe with control characters.
      throw dihya::Error("invalid JSON: duplicate key " + parsed.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), guard);
  } catch (const nlohmann::json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 3, column 7: ..."
    const std::string what = e.what();
    const auto at = what.find("parse error");
    throw dihya::Error("invalid JSON: " + (at == std::string::npos ? what : what.substr(at)));
  } catch (const nlohmann::json::out_of_range&) {
    throw dihya::Error("invalid JSON: a number is too large");
  }
}

}  // namespace dihya
