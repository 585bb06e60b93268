// SPDX-License-Identifier: AGPL-3.0-or-later
#include "params/schema_errors.hpp"

#include <cctype>
#include <utility>
#include <vector>

#include "params/coercion.hpp"
#include "params/param_builder.hpp"
#include "util/printable.hpp"
#include "util/text.hpp"

namespace dihya::host {

using nlohmann::json;

bool is_generic_schema_error(const std::string& description) {
  return starts_with(description, "Failed to validate against schema associated with property") ||
         starts_with(description, "Failed to validate item #");
}

std::string quoted_name(const std::string& description) {
  const auto close = description.rfind('\'');
  const auto open = close == std::string::npos || close == 0 ? std::string::npos : description.rfind('\'', close - 1);
  if (open == std::string::npos) return {};
  return description.substr(open + 1, close - open - 1);
}

namespace {

// "65535.000000" -> "65535": valijson prints bounds with std::to_string.
std::string bound_from(const json* schema, const char* keyword, const std::string& description) {
  if (schema != nullptr && schema->is_object() && schema->contains(keyword) && schema->at(keyword).is_number()) {
    return schema->at(keyword).dump();
  }
  std::string number = description.substr(description.find_last_of(' ') + 1);
  if (number.find('.') != std::string::npos) {
    while (!number.empty() && number.back() == '0') number.pop_back();
    if (!number.empty() && number.back() == '.') number.pop_back();
  }
  return number;
}

std::string shown(const json* value) {
  if (value == nullptr) return "the value";
  if (value->is_string()) return in_quotes(value->get_ref<const std::string&>());
  if (value->is_array()) return "the list";
  if (value->is_object()) return "the object";
  return value->dump();
}

std::string allowed_values(const json* schema) {
  if (schema == nullptr || !schema->is_object() || !schema->contains("enum") || !schema->at("enum").is_array()) {
    return "the allowed values";
  }
  std::string out;
  std::size_t count = 0;
  for (const auto& value : schema->at("enum")) {
    if (++count > 10) return out + ", ...";
    out += (out.empty() ? "" : ", ") + (value.is_string() ? in_quotes(value.get_ref<const std::string&>(), 40)
                                                          : printable(value.dump(-1, ' ', false, json::error_handler_t::replace), 40));
  }
  return out;
}

// What a "not" forbids, as "match the pattern ^pg_ or be
// 'information_schema'"; empty when its schema says it in other words.
std::string forbidden(const json& root, const json* schema, int depth) {
  schema = schema == nullptr ? nullptr : resolve_schema_ref(root, schema);
  if (schema == nullptr || !schema->is_object() || depth > 4) return {};
  std::vector<std::string> parts;
  if (const auto value = schema->find("const"); value != schema->end()) {
    parts.push_back("be " + (value->is_string() ? in_quotes(value->get_ref<const std::string&>(), 40)
                                                : printable(value->dump(-1, ' ', false, json::error_handler_t::replace), 40)));
  }
  if (schema->contains("enum")) parts.push_back("be one of " + allowed_values(schema));
  if (const auto pattern = schema->find("pattern"); pattern != schema->end() && pattern->is_string()) {
    parts.push_back("match the pattern " + printable(pattern->get_ref<const std::string&>(), 100));
  }
  for (const char* keyword : {"anyOf", "oneOf"}) {
    const auto alternatives = schema->find(keyword);
    if (alternatives == schema->end() || !alternatives->is_array()) continue;
    for (const auto& alternative : *alternatives) {
      const std::string part = forbidden(root, &alternative, depth + 1);
      if (part.empty()) return {};
      parts.push_back(part);
    }
  }
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : " or ") + part;
  return text;
}

}  // namespace

std::string in_quotes(std::string_view text, std::size_t max_chars) { return "'" + printable(text, max_chars) + "'"; }

SchemaProblem explain_schema_error(const std::string& description, const json& root, const json* schema, const json* value) {
  const std::string value_text = shown(value);
  if (starts_with(description, "Expected number less than or equal to ")) {
    const std::string bound = bound_from(schema, "maximum", description);
    return {"must be at most " + bound, value_text + " is greater than maximum " + bound};
  }
  if (starts_with(description, "Expected number less than ")) {
    const std::string bound = bound_from(schema, "exclusiveMaximum", description);
    return {"must be less than " + bound, value_text + " is not less than " + bound};
  }
  if (starts_with(description, "Expected number greater than or equal to ")) {
    const std::string bound = bound_from(schema, "minimum", description);
    return {"must be at least " + bound, value_text + " is less than minimum " + bound};
  }
  if (starts_with(description, "Expected number greater than ")) {
    const std::string bound = bound_from(schema, "exclusiveMinimum", description);
    return {"must be greater than " + bound, value_text + " is not greater than " + bound};
  }
  if (starts_with(description, "Value type not permitted")) {
    const std::string expected = "expected " + describe_types(accepted_types(root, schema));
    const std::string got = value == nullptr ? "" : ", got " + (value->is_string() ? "the string " + value_text : value_text);
    return {expected, expected + got};
  }
  if (starts_with(description, "Failed to match against any enum values")) {
    const std::string allowed = allowed_values(schema);
    return {"must be one of " + allowed, value_text + " is not one of " + allowed};
  }
  if (starts_with(description, "Failed to match expected value set by 'const'")) {
    const std::string expected = schema != nullptr && schema->contains("const")
                                     ? printable(schema->at("const").dump(-1, ' ', false, json::error_handler_t::replace), 60)
                                     : "the fixed value";
    return {"must be " + expected, {}};
  }
  if (starts_with(description, "Failed to match regex")) {
    const std::string pattern = schema != nullptr && schema->contains("pattern") && schema->at("pattern").is_string()
                                    ? " " + printable(schema->at("pattern").get<std::string>(), 100)
                                    : "";
    return {"does not match the pattern" + pattern, value_text + " does not match the pattern" + pattern};
  }
  if (starts_with(description, "String should be a valid ")) {
    const std::string format = description.substr(std::string_view("String should be a valid ").size());
    return {"is not a valid " + format, value_text + " is not a valid " + format};
  }
  if (starts_with(description, "Value should be a multiple of ")) {
    const std::string divisor = bound_from(schema, "multipleOf", description);
    return {"must be a multiple of " + divisor, value_text + " is not a multiple of " + divisor};
  }
  if (description.find("uniqueness constraint") != std::string::npos) return {"has duplicate items", {}};
  if (starts_with(description, "Target should not validate against schema specified in 'not'")) {
    const std::string what = schema != nullptr && schema->is_object() && schema->contains("not")
                                 ? forbidden(root, &schema->at("not"), 0)
                                 : "";
    if (what.empty()) return {"is not allowed", value_text + " is not allowed"};
    return {"must not " + what, value_text + " must not " + what};
  }
  static const std::pair<std::string_view, std::string_view> kLimits[] = {
      {"String should be no more than ", "must be at most %s characters long"},
      {"String should be no fewer than ", "must be at least %s characters long"},
      {"Array should contain no more than ", "must have at most %s items"},
      {"Array should contain no fewer than ", "must have at least %s items"},
      {"Object should have no more than ", "must have at most %s properties"},
      {"Object should have no fewer than ", "must have at least %s properties"}};
  for (const auto& [prefix, wording] : kLimits) {
    if (!starts_with(description, prefix)) continue;
    const std::string rest = description.substr(prefix.size());
    const std::string limit = rest.substr(0, rest.find(' '));
    std::string hint(wording);
    hint.replace(hint.find("%s"), 2, limit);
    return {hint, {}};
  }
  if (description.find("anyOf") != std::string::npos || description.find("oneOf") != std::string::npos ||
      description.find("exactly one child") != std::string::npos || description.find("child schema") != std::string::npos) {
    return {"does not match any allowed form", {}};
  }
  // The remaining texts name only keys and item numbers ("Missing dependency
  // 'x'."): lower-cased, they read well enough.
  std::string hint = description;
  if (!hint.empty()) hint[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(hint[0])));
  if (!hint.empty() && hint.back() == '.') hint.pop_back();
  return {printable(hint, 200), {}};
}

}  // namespace dihya::host
