// SPDX-License-Identifier: AGPL-3.0-or-later
// Building a plugin's parameters from the params file and --param arguments:
// coercion by schema type, @env:/@file: references, defaults, validation and
// one-line messages that never show a secret.
#include "params/param_builder.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <regex>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "errors.hpp"
#include "params/json_input.hpp"
#include "util/printable.hpp"
#include "params/redaction.hpp"

namespace dihya::host {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxReferencedFileBytes = 1024 * 1024;
constexpr std::size_t kMaxListedProblems = 3;
constexpr int kMaxRefHops = 16;        // "$ref" chains longer than this are treated as unresolvable
constexpr int kMaxTypeSearchDepth = 8;  // anyOf inside oneOf inside ... when looking for types

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

std::string in_quotes(std::string_view text, std::size_t max_chars = 60) { return "'" + printable(text, max_chars) + "'"; }

std::string plugin_schema_error(const std::string& detail) {
  return "plugin schema is invalid: " + printable(detail, 300);
}

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

// The JSON types a subschema accepts, in the order to try them: from "type",
// else from anyOf/oneOf/allOf branches, else from the values of enum/const.
std::vector<std::string> accepted_types(const json& root, const json* node, int depth = 0) {
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

std::string describe_type(const std::string& type) {
  if (type == "integer") return "an integer";
  if (type == "array") return "an array";
  if (type == "object") return "an object (JSON text)";
  if (type == "boolean") return "a boolean (true/false)";
  if (type == "null") return "null";
  return "a " + type;
}

std::string describe_types(const std::vector<std::string>& types) {
  std::string out;
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (i > 0) out += i + 1 == types.size() ? " or " : ", ";
    out += describe_type(types[i]);
  }
  return out.empty() ? "another type" : out;
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

std::optional<json> coerce_as(const json& root, const json* schema, std::string_view text, const std::string& type,
                              std::string& problem);

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

std::optional<json> coerce_as(const json& root, const json* schema, std::string_view text, const std::string& type,
                              std::string& problem) {
  if (type == "array") {
    if (starts_with(trim(text), "[")) return parse_json_container(text, true, problem);
    return coerce_list(root, schema, text, problem);
  }
  if (type == "object") return parse_json_container(text, false, problem);
  return coerce_scalar(text, type, problem);
}

// ---------------------------------------------------------------- walking values

template <typename Visit>
void for_each_string(const json& value, const std::string& path, const Visit& visit) {
  if (value.is_string()) {
    visit(path, value.get_ref<const std::string&>());
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      visit(path, key);
      for_each_string(item, path.empty() ? key : path + "." + key, visit);
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) for_each_string(value[i], path + "[" + std::to_string(i) + "]", visit);
  }
}

// Draft-07 counts 5.0 as an integer; valijson does not. Parameters read from
// JSON or YAML ("port: 5432.0") would otherwise fail for no good reason.
void integral_floats_to_integers(json& value) {
  if (value.is_number_float()) {
    const double number = value.get<double>();
    constexpr double kTwoTo63 = 9223372036854775808.0;
    if (std::isfinite(number) && std::trunc(number) == number && number >= -kTwoTo63 && number < kTwoTo63) {
      value = static_cast<std::int64_t>(number);
    }
  } else if (value.is_structured()) {
    for (auto& item : value) integral_floats_to_integers(item);
  }
}

// valijson never applies defaults. Objects present get theirs filled too; an
// absent object is not created just to hold defaults.
void fill_defaults(json& object, const json& root, const json* schema, int depth) {
  schema = resolve_schema_ref(root, schema);
  if (depth > kMaxDepth || schema == nullptr || !schema->is_object() || !object.is_object()) return;
  const auto properties = schema->find("properties");
  if (properties == schema->end() || !properties->is_object()) return;
  for (const auto& [name, declared] : properties->items()) {
    const json* property = resolve_schema_ref(root, &declared);
    if (property == nullptr || !property->is_object()) continue;
    if (!object.contains(name) && property->contains("default")) object[name] = property->at("default");
    if (object.contains(name)) fill_defaults(object[name], root, property, depth + 1);
  }
}

// ---------------------------------------------------------------- the builder

struct Reference {
  std::string text;
  bool secret;  // read through @env: or @file:
};

class ParamBuilder {
 public:
  explicit ParamBuilder(const json& schema) : schema_(schema), root_(resolve_schema_ref(schema, &schema)) {}

  ResolvedParams build(const std::vector<std::string>& kv_args, const std::optional<std::filesystem::path>& file,
                       const std::optional<json>& base = std::nullopt) {
    if (base) apply_values(*base, " in the given values");
    if (file) apply_file(*file);
    for (const auto& arg : kv_args) apply_argument(arg);
    integral_floats_to_integers(values_);
    fill_defaults(values_, schema_, root_, 0);
    collect_write_only(values_, root_, "", 0);
    check_utf8();
    validate();
    return ResolvedParams{std::move(values_), std::move(secrets_), std::move(secret_keys_),
                          std::vector<std::string>(hidden_keys_.begin(), hidden_keys_.end())};
  }

 private:
  // Every message leaves through here: whatever the message building above
  // missed, no secret known so far reaches the operator's terminal or a log.
  [[noreturn]] void fail(const std::string& message) const {
    Redactor redactor;
    for (const auto& secret : secrets_) redactor.add_secret(secret);
    throw usage_error(redactor.redact(message));
  }

  std::string known_parameters() const {
    std::string names;
    if (root_ != nullptr && root_->is_object()) {
      if (const auto properties = root_->find("properties"); properties != root_->end() && properties->is_object()) {
        for (const auto& [name, ignored] : properties->items()) names += (names.empty() ? "" : ", ") + printable(name, 40);
      }
    }
    return names.empty() ? "this plugin takes no parameters" : "known: " + printable(names, 400);
  }

  // Unknown names are refused even when "additionalProperties" is absent: a
  // misspelt parameter silently ignored is worse than an error.
  void check_known(const std::string& key, const std::string& where) const {
    if (root_ == nullptr || !root_->is_object()) return;
    const auto properties = root_->find("properties");
    if (properties != root_->end() && properties->is_object() && properties->contains(key)) return;
    const auto additional = root_->find("additionalProperties");
    const bool additional_allowed = additional != root_->end() && !(additional->is_boolean() && !additional->get<bool>());
    if (additional_allowed || (root_->contains("patternProperties") && property_schema(schema_, root_, key) != nullptr)) {
      return;
    }
    fail("unknown parameter " + in_quotes(key) + where + " (" + known_parameters() + ")");
  }

  // "@env:NAME", "@file:PATH", "@@..." -> the text they stand for; nullopt for
  // any other text.
  std::optional<Reference> resolve_reference(const std::string& path, std::string_view text) {
    const std::string name = "parameter " + in_quotes(path);
    if (starts_with(text, "@@")) return Reference{std::string(text.substr(1)), false};
    if (starts_with(text, "@env:")) {
      const std::string variable(text.substr(5));
      if (variable.empty()) fail(name + ": @env: needs the name of an environment variable");
      const char* value = std::getenv(variable.c_str());
      if (value == nullptr) fail(name + ": environment variable " + printable(variable) + " is not set");
      if (find_invalid_utf8(value)) fail(name + ": environment variable " + printable(variable) + " is not valid UTF-8");
      add_secret(value);
      return Reference{value, true};
    }
    if (starts_with(text, "@file:")) {
      const std::string file(text.substr(6));
      if (file.empty()) fail(name + ": @file: needs a path");
      const std::string what = name + ": @file:" + printable(file, 200);
      std::string content = read_text_file(file, kMaxReferencedFileBytes, what);
      if (!content.empty() && content.back() == '\n') content.pop_back();
      if (!content.empty() && content.back() == '\r') content.pop_back();
      if (find_invalid_utf8(content)) fail(what + ": is not valid UTF-8 text");
      add_secret(content);
      return Reference{std::move(content), true};
    }
    return std::nullopt;
  }

  void add_secret(const std::string& value) {
    if (!value.empty() && std::find(secrets_.begin(), secrets_.end(), value) == secrets_.end()) secrets_.push_back(value);
  }

  // Text -> the property's type. `hidden` keeps the text out of the message.
  json coerce(const std::string& key, std::string_view text, bool hidden) {
    const json* property = property_schema(schema_, root_, key);
    const std::vector<std::string> types = accepted_types(schema_, property);
    if (types.empty()) return json(std::string(text));  // the schema does not say: keep the text
    std::string problem;
    for (const auto& type : types) {
      if (auto value = coerce_as(schema_, resolve_schema_ref(schema_, property), text, type, problem)) return *value;
    }
    std::string message = "parameter " + in_quotes(key) + ": ";
    if (hidden) {
      message += "invalid value (expected " + describe_types(types) + ")";
    } else {
      message += "expected " + describe_types(types) + ", got " + in_quotes(text);
      if (!problem.empty()) message += " (" + problem + ")";
    }
    fail(message);
  }

  void apply_argument(const std::string& arg) {
    const std::size_t equals = arg.find('=');
    if (equals == std::string::npos) fail("--param " + in_quotes(arg) + ": expected key=value");
    const std::string key = arg.substr(0, equals);
    const std::string_view text = std::string_view(arg).substr(equals + 1);
    if (key.empty()) fail("--param: the parameter name before '=' is empty");
    if (find_invalid_utf8(key)) fail("--param " + in_quotes(key) + ": the parameter name is not valid UTF-8");
    if (auto bad = find_invalid_utf8(text)) {
      fail("parameter " + in_quotes(key) + ": value is not valid UTF-8 (byte " + std::to_string(*bad + 1) + ")");
    }
    check_known(key, "");
    const bool write_only = is_write_only(property_schema(schema_, root_, key));
    const std::optional<Reference> reference = resolve_reference(key, text);
    if (write_only && !reference) add_secret(std::string(text));  // known before coercion can fail
    const bool from_secret = reference && reference->secret;
    json value = coerce(key, reference ? std::string_view(reference->text) : text, write_only || from_secret);
    if (from_secret) {
      hidden_keys_.insert(key);
    } else if (value.is_structured()) {
      resolve_nested_references(value, key, 1);  // --param 'db={"password": "@env:PW"}'
    }
    values_[key] = std::move(value);
  }

  void apply_file(const std::filesystem::path& file) {
    apply_values(load_params_file(file), " in params file " + printable(file.string(), 200));
  }

  void apply_values(json values, const std::string& where) {
    for (auto& [key, value] : values.items()) {
      check_known(key, where);
      if (is_write_only(property_schema(schema_, root_, key))) {
        for_each_string(value, key, [this](const std::string&, const std::string& text) { add_secret(text); });
      }
      if (!value.is_string()) {
        resolve_nested_references(value, key, 1);
        continue;
      }
      const std::optional<Reference> reference = resolve_reference(key, value.get<std::string>());
      if (!reference) continue;
      if (!reference->secret) {
        value = reference->text;  // "@@x" -> "@x"; a literal written in the file keeps its type
        continue;
      }
      hidden_keys_.insert(key);
      value = coerce(key, reference->text, true);
    }
    for (auto& [key, value] : values.items()) values_[key] = std::move(value);
  }

  // References inside arrays and objects stay strings: no subschema type is
  // applied below the top level.
  void resolve_nested_references(json& value, const std::string& key, int depth) {
    if (depth > kMaxDepth + 1) return;
    if (value.is_string()) {
      if (auto reference = resolve_reference(key, value.get<std::string>())) {
        if (reference->secret) hidden_keys_.insert(key);
        value = std::move(reference->text);
      }
      return;
    }
    if (value.is_structured()) {
      for (auto& item : value) resolve_nested_references(item, key, depth + 1);
    }
  }

  void collect_write_only(const json& value, const json* schema, const std::string& path, int depth) {
    if (depth > kMaxDepth + 1) return;
    if (is_write_only(schema)) {
      secret_keys_.push_back(path);
      if (value.is_number()) add_secret(value.dump());
      for_each_string(value, path, [this](const std::string&, const std::string& text) { add_secret(text); });
      return;
    }
    if (value.is_object()) {
      for (const auto& [key, item] : value.items()) {
        collect_write_only(item, property_schema(schema_, schema, key), path.empty() ? key : path + "." + key, depth + 1);
      }
    } else if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        collect_write_only(value[i], item_schema(schema_, schema, i), path + "[" + std::to_string(i) + "]", depth + 1);
      }
    }
  }

  // Values from the parsers are checked already; this catches defaults a
  // plugin's schema carries, before valijson or dump() trip over them.
  void check_utf8() const {
    for_each_string(values_, "", [this](const std::string& path, const std::string& text) {
      if (find_invalid_utf8(text)) fail("parameter " + in_quotes(path.empty() ? text : path) + ": not valid UTF-8");
    });
  }

  void validate() const;
  std::string describe(const valijson::ValidationResults::Error& error) const;

  const json& schema_;
  const json* root_;  // schema_ with a top-level $ref followed
  json values_ = json::object();
  std::vector<std::string> secrets_;
  std::vector<std::string> secret_keys_;
  std::set<std::string> hidden_keys_;  // top-level parameters whose value came from a secret
};

// ---------------------------------------------------------------- validation messages

// valijson adds a line like this for every level above a failure; the line
// that matters is the innermost.
bool is_generic(const std::string& description) {
  return starts_with(description, "Failed to validate against schema associated with property") ||
         starts_with(description, "Failed to validate item #");
}

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

std::string quoted_tail(const std::string& description) {
  const auto close = description.rfind('\'');
  const auto open = close == std::string::npos || close == 0 ? std::string::npos : description.rfind('\'', close - 1);
  if (open == std::string::npos) return {};
  return description.substr(open + 1, close - open - 1);
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

struct Problem {
  std::string hint;        // what is wrong, without the value
  std::string with_value;  // the same with the value; empty when the hint says it all
};

Problem explain(const std::string& description, const json& root, const json* schema, const json* value) {
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

std::string ParamBuilder::describe(const valijson::ValidationResults::Error& error) const {
  // The context is {"<root>", "[port]", "[0]", ...}: walk values and schema
  // side by side so an index is told from a key and writeOnly is seen.
  const json* value = &values_;
  const json* schema = root_;
  std::string path;
  bool hidden = false;
  for (std::size_t i = 1; i < error.context.size(); ++i) {
    std::string segment = error.context[i];
    if (segment.size() >= 2 && segment.front() == '[' && segment.back() == ']') segment = segment.substr(1, segment.size() - 2);
    if (value != nullptr && value->is_array()) {
      std::size_t index = 0;
      const auto [end, failed] = std::from_chars(segment.data(), segment.data() + segment.size(), index);
      const bool ok = failed == std::errc() && end == segment.data() + segment.size();
      schema = ok ? item_schema(schema_, schema, index) : nullptr;
      value = ok && index < value->size() ? &(*value)[index] : nullptr;
      path += "[" + segment + "]";
    } else {
      schema = property_schema(schema_, schema, segment);
      value = value != nullptr && value->is_object() && value->contains(segment) ? &value->at(segment) : nullptr;
      path += (path.empty() ? "" : ".") + segment;
      if (i == 1 && hidden_keys_.count(segment) > 0) hidden = true;
    }
    hidden = hidden || is_write_only(schema);
  }
  const std::string& description = error.description;
  if (starts_with(description, "Missing required property")) {
    const std::string missing = quoted_tail(description);
    return "missing required parameter " + in_quotes(path.empty() ? missing : path + "." + missing);
  }
  if (starts_with(description, "Object contains a property that could not be validated")) {
    const std::string unknown = quoted_tail(description);
    return "unknown parameter " + in_quotes(path.empty() ? unknown : path + "." + unknown);
  }
  const Problem problem = explain(description, schema_, schema, value);
  const std::string subject = path.empty() ? "parameters" : "parameter " + in_quotes(path);
  if (hidden) return subject + ": invalid value (" + problem.hint + ")";
  return subject + ": " + (problem.with_value.empty() ? problem.hint : problem.with_value);
}

void compile_schema(const json& schema, valijson::Schema& compiled) {
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    const valijson::adapters::NlohmannJsonAdapter adapter(schema);
    parser.populateSchema(adapter, compiled);
  } catch (const std::exception& error) {
    throw usage_error(plugin_schema_error(error.what()));
  }
}

void ParamBuilder::validate() const {
  valijson::Schema compiled;
  compile_schema(schema_, compiled);
  valijson::Validator validator;
  valijson::ValidationResults results;
  const valijson::adapters::NlohmannJsonAdapter target(values_);
  try {
    if (validator.validate(compiled, target, &results)) return;
  } catch (const std::exception& error) {  // std::regex_error from a "pattern" check_parameter_schema did not see
    fail(plugin_schema_error(error.what()));
  }
  std::vector<std::string> problems;
  valijson::ValidationResults::Error error;
  std::vector<valijson::ValidationResults::Error> all;
  while (results.popError(error)) all.push_back(error);
  const bool only_generic = std::all_of(all.begin(), all.end(), [](const auto& e) { return is_generic(e.description); });
  for (const auto& each : all) {
    if (is_generic(each.description) && !only_generic) continue;
    std::string problem = describe(each);
    if (std::find(problems.begin(), problems.end(), problem) == problems.end()) problems.push_back(std::move(problem));
  }
  std::string message;
  for (std::size_t i = 0; i < problems.size() && i < kMaxListedProblems; ++i) message += (i > 0 ? "; " : "") + problems[i];
  if (problems.size() > kMaxListedProblems) {
    message += "; and " + std::to_string(problems.size() - kMaxListedProblems) + " more";
  }
  fail(message.empty() ? "parameters are invalid" : message);
}

// ---------------------------------------------------------------- schema checks

// Walks the schema once before valijson sees it: bounds its depth (valijson
// recurses) and compiles every regular expression (valijson compiles them
// only when a value reaches them, and then throws mid-validation).
void check_schema_node(const json& node, int depth) {
  if (depth > kMaxDepth) throw usage_error(plugin_schema_error("nested deeper than " + std::to_string(kMaxDepth) + " levels"));
  if (node.is_array()) {
    for (const auto& item : node) check_schema_node(item, depth + 1);
    return;
  }
  if (!node.is_object()) return;
  for (const auto& [keyword, value] : node.items()) {
    if (keyword == "default" || keyword == "enum" || keyword == "const" || keyword == "examples") continue;  // data, not schema
    if (keyword == "pattern" && value.is_string()) {
      try {
        std::regex compiled(value.get<std::string>());
      } catch (const std::regex_error&) {
        throw usage_error(plugin_schema_error("pattern " + in_quotes(value.get<std::string>(), 100) + " is not a valid regular expression"));
      }
    }
    if (keyword == "patternProperties" && value.is_object()) {
      for (const auto& [pattern, ignored] : value.items()) {
        try {
          std::regex compiled(pattern);
        } catch (const std::regex_error&) {
          throw usage_error(plugin_schema_error("patternProperties key " + in_quotes(pattern, 100) + " is not a valid regular expression"));
        }
      }
    }
    check_schema_node(value, depth + 1);
  }
}

// patternProperties keys are compiled once per call; schemas are small.
bool matches_pattern(const std::string& pattern, const std::string& key) {
  try {
    return std::regex_search(key, std::regex(pattern));
  } catch (const std::regex_error&) {
    return false;
  }
}

}  // namespace

const nlohmann::json* resolve_schema_ref(const nlohmann::json& root, const nlohmann::json* node) {
  for (int hop = 0; node != nullptr && hop < kMaxRefHops; ++hop) {
    if (!node->is_object()) return node;
    const auto ref = node->find("$ref");
    if (ref == node->end() || !ref->is_string()) return node;
    const std::string& target = ref->get_ref<const std::string&>();
    if (!starts_with(target, "#")) return nullptr;
    try {
      const json::json_pointer pointer(target.substr(1));
      if (!root.contains(pointer)) return nullptr;
      node = &root.at(pointer);
    } catch (const json::exception&) {
      return nullptr;
    }
  }
  return nullptr;
}

const nlohmann::json* property_schema(const nlohmann::json& root, const nlohmann::json* object_schema,
                                      const std::string& key) {
  object_schema = resolve_schema_ref(root, object_schema);
  if (object_schema == nullptr || !object_schema->is_object()) return nullptr;
  if (const auto properties = object_schema->find("properties");
      properties != object_schema->end() && properties->is_object() && properties->contains(key)) {
    return resolve_schema_ref(root, &properties->at(key));
  }
  if (const auto patterns = object_schema->find("patternProperties"); patterns != object_schema->end() && patterns->is_object()) {
    for (const auto& [pattern, schema] : patterns->items()) {
      if (matches_pattern(pattern, key)) return resolve_schema_ref(root, &schema);
    }
  }
  if (const auto additional = object_schema->find("additionalProperties");
      additional != object_schema->end() && additional->is_object()) {
    return resolve_schema_ref(root, &*additional);
  }
  return nullptr;
}

const nlohmann::json* item_schema(const nlohmann::json& root, const nlohmann::json* array_schema, std::size_t index) {
  array_schema = resolve_schema_ref(root, array_schema);
  if (array_schema == nullptr || !array_schema->is_object()) return nullptr;
  const auto items = array_schema->find("items");
  if (items == array_schema->end()) return nullptr;
  if (items->is_object()) return resolve_schema_ref(root, &*items);
  if (items->is_array() && index < items->size()) return resolve_schema_ref(root, &(*items)[index]);
  const auto additional = array_schema->find("additionalItems");
  if (items->is_array() && additional != array_schema->end() && additional->is_object()) {
    return resolve_schema_ref(root, &*additional);
  }
  return nullptr;
}

bool is_write_only(const nlohmann::json* node) {
  if (node == nullptr || !node->is_object()) return false;
  const auto flag = node->find("writeOnly");
  return flag != node->end() && flag->is_boolean() && flag->get<bool>();
}

void check_parameter_schema(const nlohmann::json& schema) {
  if (!schema.is_object()) throw usage_error(plugin_schema_error("it must be a JSON object"));
  check_schema_node(schema, 0);
  const auto type = schema.find("type");
  const bool is_object_type = type != schema.end() && ((type->is_string() && *type == "object") ||
                                                        (type->is_array() && type->size() == 1 && (*type)[0] == "object"));
  if (!is_object_type) throw usage_error(plugin_schema_error("its \"type\" must be \"object\""));
  if (schema.contains("properties") && !schema.at("properties").is_object()) {
    throw usage_error(plugin_schema_error("\"properties\" must be an object"));
  }
  valijson::Schema compiled;
  compile_schema(schema, compiled);
}

ResolvedParams build_params(const nlohmann::json& schema, const std::vector<std::string>& kv_args,
                            const std::optional<std::filesystem::path>& params_file) {
  check_parameter_schema(schema);
  return ParamBuilder(schema).build(kv_args, params_file);
}

ResolvedParams build_params_from_values(const nlohmann::json& schema, const nlohmann::json& values) {
  check_parameter_schema(schema);
  if (!values.is_object()) throw usage_error("parameters must be a JSON object");
  return ParamBuilder(schema).build({}, std::nullopt, values);
}

}  // namespace dihya::host
