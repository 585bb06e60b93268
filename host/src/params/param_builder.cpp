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
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include <valijson/validation_results.hpp>

#include "errors.hpp"
#include "params/coercion.hpp"
#include "params/json_input.hpp"
#include "util/printable.hpp"
#include "params/redaction.hpp"
#include "params/schema_errors.hpp"
#include "params/schema_pattern.hpp"
#include "params/schema_validation.hpp"
#include "params/secret_reference.hpp"
#include "util/text.hpp"

namespace dihya::host {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxReferencedFileBytes = 1024 * 1024;
constexpr std::size_t kMaxListedProblems = 3;
constexpr int kMaxRefHops = 16;        // "$ref" chains longer than this are treated as unresolvable
constexpr std::size_t kMaxSchemaReferenceBytes = 1024;

std::string plugin_schema_error(const std::string& detail) {
  return "plugin schema is invalid: " + printable(detail, 300);
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
    // A password inside a plain string (a URL, a conninfo) is a secret too:
    // a plugin may log the value quoted or escaped, where masking the URL
    // shape in the text alone could miss it.
    for (const auto& [key, value] : values_.items()) {
      for_each_string(value, key, [this](const std::string&, const std::string& text) {
        for (auto& spelling : password_spellings(text)) add_secret(spelling);
      });
    }
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
  std::optional<SecretReference> resolve_reference(const std::string& path, std::string_view text) {
    std::optional<SecretReference> reference;
    try {
      reference = read_secret_reference(text, "parameter " + in_quotes(path), kMaxReferencedFileBytes);
    } catch (const HostError& error) {
      fail(error.what());
    }
    if (reference && reference->secret) add_secret(reference->text);
    return reference;
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
    const std::optional<SecretReference> reference = resolve_reference(key, text);
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
      const std::optional<SecretReference> reference = resolve_reference(key, value.get<std::string>());
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
      // A NUL would cut a path or a C string short where the plugin uses it:
      // not the value that was validated.
      if (text.find('\0') != std::string::npos) {
        fail("parameter " + in_quotes(path.empty() ? "(a key)" : path) + ": holds a NUL character");
      }
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
    const std::string missing = quoted_name(description);
    return "missing required parameter " + in_quotes(path.empty() ? missing : path + "." + missing);
  }
  if (starts_with(description, "Object contains a property that could not be validated")) {
    const std::string unknown = quoted_name(description);
    return "unknown parameter " + in_quotes(path.empty() ? unknown : path + "." + unknown);
  }
  const SchemaProblem problem = explain_schema_error(description, schema_, schema, value);
  const std::string subject = path.empty() ? "parameters" : "parameter " + in_quotes(path);
  if (hidden) return subject + ": invalid value (" + problem.hint + ")";
  return subject + ": " + (problem.with_value.empty() ? problem.hint : problem.with_value);
}

void ParamBuilder::validate() const {
  valijson::ValidationResults results;
  try {
    if (validate_against_schema(schema_, values_, results)) return;
  } catch (const std::exception& error) {  // a pattern that parses but does not compile ("Pattern is too large")
    fail(plugin_schema_error(error.what()));
  }
  std::vector<std::string> problems;
  valijson::ValidationResults::Error error;
  std::vector<valijson::ValidationResults::Error> all;
  while (results.popError(error)) all.push_back(error);
  const bool only_generic = std::all_of(all.begin(), all.end(), [](const auto& e) { return is_generic_schema_error(e.description); });
  for (const auto& each : all) {
    if (is_generic_schema_error(each.description) && !only_generic) continue;
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

// Walks the schema before valijson sees it: bounds its depth (valijson
// recurses), refuses a "$ref" or "$id" too long for valijson, and calls
// check(pattern, what) for each regular expression.
template <typename Check>
void for_each_pattern(const json& node, int depth, const Check& check) {
  if (depth > kMaxDepth) throw usage_error(plugin_schema_error("nested deeper than " + std::to_string(kMaxDepth) + " levels"));
  if (node.is_array()) {
    for (const auto& item : node) for_each_pattern(item, depth + 1, check);
    return;
  }
  if (!node.is_object()) return;
  for (const auto& [keyword, value] : node.items()) {
    if (keyword == "default" || keyword == "enum" || keyword == "const" || keyword == "examples") continue;  // data, not schema
    if (keyword == "pattern" && value.is_string()) check(value.template get_ref<const std::string&>(), "pattern");
    if (keyword == "patternProperties" && value.is_object()) {
      for (const auto& [pattern, ignored] : value.items()) check(pattern, "patternProperties key");
    }
    // valijson matches a "$ref" or "$id" against a URN with std::regex when
    // it compiles the schema, recursing once per character.
    if ((keyword == "$ref" || keyword == "$id" || keyword == "id") && value.is_string() &&
        value.template get_ref<const std::string&>().size() > kMaxSchemaReferenceBytes) {
      throw usage_error(plugin_schema_error(keyword + " is longer than " + std::to_string(kMaxSchemaReferenceBytes) + " bytes"));
    }
    for_each_pattern(value, depth + 1, check);
  }
}

// Every regular expression is parsed here; each is compiled only when a
// value reaches it.
void check_schema_node(const json& schema) {
  for_each_pattern(schema, 0, [](const std::string& pattern, const char* what) {
    const std::string problem = schema_pattern_problem(pattern);
    if (!problem.empty()) {
      throw usage_error(plugin_schema_error(std::string(what) + " " + in_quotes(pattern, 100) +
                                            " is not a valid regular expression here: " + problem));
    }
  });
}

// A pattern that cannot be compiled matches nothing here: the validation
// that follows names it.
bool matches_pattern(const std::string& pattern, const std::string& key) {
  try {
    return schema_pattern_matches(pattern, key);
  } catch (const HostError&) {
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
  check_schema_node(schema);
  const auto type = schema.find("type");
  const bool is_object_type = type != schema.end() && ((type->is_string() && *type == "object") ||
                                                        (type->is_array() && type->size() == 1 && (*type)[0] == "object"));
  if (!is_object_type) throw usage_error(plugin_schema_error("its \"type\" must be \"object\""));
  if (schema.contains("properties") && !schema.at("properties").is_object()) {
    throw usage_error(plugin_schema_error("\"properties\" must be an object"));
  }
  try {
    compile_with_valijson(schema);
  } catch (const std::exception& error) {
    throw usage_error(plugin_schema_error(error.what()));
  }
}

void compile_parameter_patterns(const nlohmann::json& schema) {
  for_each_pattern(schema, 0, [](const std::string& pattern, const char*) {
    try {
      compile_schema_pattern(pattern);
    } catch (const HostError& error) {
      throw usage_error(plugin_schema_error(error.what()));
    }
  });
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
