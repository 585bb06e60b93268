// SPDX-License-Identifier: AGPL-3.0-or-later
// The structured project spec: what to generate (stacks, features, resources
// with typed fields, template choices, template variables). Every spec, from
// a YAML/JSON file or from plain text, goes through normalize_spec(), which
// refuses anything hostile or ambiguous with one dihya::Error line and
// sanitises every name into identifiers safe in Python, JavaScript, SQL and
// Solidity. Pure: no I/O, so the fuzz target links it alone.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <dihya/json_text.hpp>
#include <nlohmann/json.hpp>

namespace generate_project {

inline constexpr std::size_t kMaxResources = 200;
inline constexpr std::size_t kMaxFields = 100;
inline constexpr std::size_t kMaxNameBytes = 48;       // identifiers (PostgreSQL allows 63)
inline constexpr std::size_t kMaxProjectName = 64;     // code points of the display name
inline constexpr std::size_t kMaxDescription = 2000;   // bytes
inline constexpr int kMaxSpecDepth = 16;

struct Field {
  std::string name;      // snake_case identifier, never "id"
  std::string type;      // string, text, integer, number, boolean, date, email
  bool required = false;
};

struct Resource {
  std::string name;      // snake_case plural
  std::string given;     // as the spec wrote it
  std::vector<Field> fields;
};

struct Spec {
  std::string name;
  std::string description;
  std::vector<std::string> stacks;   // canonical order: flask, express, spa, ai, solidity
  std::string auth = "none";         // jwt | none
  std::string database = "none";     // postgresql | sqlite | none
  bool admin = false, docker = false, ci = false, kubernetes = false;
  std::vector<Resource> resources;
  std::map<std::string, std::string> templates;   // stack -> template name
  nlohmann::json variables = nlohmann::json::object();
};

// The stacks a spec may name, in canonical order.
const std::vector<std::string>& known_stacks();
// The type of a field named `snake` when the spec gives none (price → number).
std::string guess_field_type(const std::string& snake);
// A field type from a person's word (number, nombre, int, entier...) or "".
std::string field_type_from_word(const std::string& word);

// Checks and normalises a structured spec. Throws dihya::Error "spec: <where>: <what>".
Spec normalize_spec(const nlohmann::json& doc);
nlohmann::json to_json(const Spec& spec);

// JSON text with a nesting limit (SDK dihya/json_text.hpp).
using dihya::parse_json_limited;

// Throws dihya::Error "<where>: ..." when a string in `j` (keys included) is
// not valid UTF-8 or holds NUL.
void check_strings_utf8(const nlohmann::json& j, const std::string& where);

}  // namespace generate_project
