// SPDX-License-Identifier: AGPL-3.0-or-later
#include "params/coercion.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

#include "errors.hpp"
#include "params/json_input.hpp"
#include "params/param_builder.hpp"
#include "util/text.hpp"

namespace dihya::host {
namespace {

using nlohmann::json;

constexpr int kMaxTypeSearchDepth = 8;  // anyOf inside oneOf inside ... when looking for types

// ---------------------------------------------------------------- types

std::string json_type_of(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    default: return "object";
  }
}

void add_type(std::vector<std::string>& types, const std::string& type) {
  if (std::find(types.begin(), types.end(), type) == types.end()) types.push_back(type);
}

std::string describe_type(const std::string& type) {
  if (type == "integer") return "an integer";
  if (type == "array") return "an array";
  if (type == "object") return "an object (JSON text)";
  if (type == "boolean") return "a boolean (true/false)";
  if (type == "null") return "null";
  return "a " + type;
}

// ---------------------------------------------------------------- coercion

std::optional<json> parse_integer(std::string_view text, std::string& problem) {
  const std::string_view digits = starts_with(text, "-") ? text.substr(1) : text;
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) {
    problem = "out of range for a 64-bit integer";
    return std::nullopt;
  }
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return json(value);
}

// JSON's number grammar, leading zeros allowed; numbers without a fraction
// or exponent that fit 64 bits stay integers.
std::optional<json> parse_number(std::string_view text, std::string& problem) {
  std::string ignored;
  if (auto integer = parse_integer(text, ignored)) return integer;
  std::size_t i = starts_with(text, "-") ? 1 : 0;
  const auto skip_digits = [&text, &i] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - start;
  };
  if (skip_digits() == 0) return std::nullopt;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (skip_digits() == 0) return std::nullopt;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (skip_digits() == 0) return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) {
    problem = "out of range for a number";
    return std::nullopt;
  }
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return json(value);
}

std::optional<json> parse_boolean(std::string_view text) {
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lowered == "true" || lowered == "yes" || lowered == "1") return json(true);
  if (lowered == "false" || lowered == "no" || lowered == "0") return json(false);
  return std::nullopt;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// JSON text for an array or object parameter. A parse failure is a reason
// to try the next type, not an error yet.
std::optional<json> parse_json_container(std::string_view text, bool want_array, std::string& problem) {
  try {
    json value = parse_json_text(text, "JSON text");
    if (want_array ? value.is_array() : value.is_object()) return value;
    problem = want_array ? "the JSON text is not an array" : "the JSON text is not an object";
  } catch (const HostError& error) {
    problem = error.what();
  }
  return std::nullopt;
}

std::optional<json> coerce_scalar(std::string_view text, const std::string& type, std::string& problem) {
  if (type == "string") return json(std::string(text));
  if (type == "integer") return parse_integer(text, problem);
  if (type == "number") return parse_number(text, problem);
  if (type == "boolean") return parse_boolean(text);
  if (type == "null" && text == "null") return json(nullptr);
  return std::nullopt;
}

}  // namespace

// The JSON types a subschema accepts, in the order to try them: from "type",
// else from anyOf/oneOf/allOf branches, else from the values of enum/const.
std::vector<std::string> accepted_types(const json& root, const json* node, int depth) {
  std::vector<std::string> types;
  node = resolve_schema_ref(root, node);
  if (node == nullptr || !node->is_object() || depth > kMaxTypeSearchDepth) return types;
  if (const auto type = node->find("type"); type != node->end()) {
    if (type->is_string()) add_type(types, type->get<std::string>());
    if (type->is_array()) {
      for (const auto& item : *type) {
        if (item.is_string()) add_type(types, item.get<std::string>());
      }
    }
    return types;
  }
  for (const char* keyword : {"anyOf", "oneOf", "allOf"}) {
    const auto branches = node->find(keyword);
    if (branches == node->end() || !branches->is_array()) continue;
    for (const auto& branch : *branches) {
      for (const auto& type : accepted_types(root, &branch, depth + 1)) add_type(types, type);
    }
  }
  if (!types.empty()) return types;
  if (const auto values = node->find("enum"); values != node->end() && values->is_array()) {
    for (const auto& value : *values) add_type(types, json_type_of(value));
  }
  if (const auto value = node->find("const"); value != node->end()) add_type(types, json_type_of(*value));
  return types;
}

std::string describe_types(const std::vector<std::string>& types) {
  std::string out;
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (i > 0) out += i + 1 == types.size() ? " or " : ", ";
    out += describe_type(types[i]);
  }
  return out.empty() ? "another type" : out;
}

namespace {

// "a,b,c" -> items coerced by the item schema. Items are trimmed; an item
// holding a comma needs the JSON form.
std::optional<json> coerce_list(const json& root, const json* schema, std::string_view text, std::string& problem) {
  json items = json::array();
  if (trim(text).empty()) return items;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = trim(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    const json* governing = item_schema(root, schema, items.size());
    std::vector<std::string> types = accepted_types(root, governing);
    if (types.empty()) types.push_back("string");
    std::optional<json> value;
    std::string item_problem;
    for (const auto& type : types) {
      if (type == "array" || type == "object") continue;  // would need JSON text
      if ((value = coerce_scalar(item, type, item_problem))) break;
    }
    if (!value) {
      problem = "item " + std::to_string(items.size() + 1) + " is not " + describe_types(types);
      return std::nullopt;
    }
    items.push_back(std::move(*value));
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

}  // namespace

std::optional<json> coerce_as(const json& root, const json* schema, std::string_view text, const std::string& type,
                              std::string& problem) {
  if (type == "array") {
    if (starts_with(trim(text), "[")) return parse_json_container(text, true, problem);
    return coerce_list(root, schema, text, problem);
  }
  if (type == "object") return parse_json_container(text, false, problem);
  return coerce_scalar(text, type, problem);
}

}  // namespace dihya::host
