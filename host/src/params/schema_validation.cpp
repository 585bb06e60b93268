// SPDX-License-Identifier: AGPL-3.0-or-later
#include "params/schema_validation.hpp"

#include <map>
#include <memory>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/constraint_builder.hpp>
#include <valijson/constraints/concrete_constraints.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "params/json_input.hpp"
#include "params/schema_pattern.hpp"

namespace dihya::host {
namespace {

using nlohmann::json;

// The names "pattern" and "format" take in the copy of the schema valijson
// compiles, so that its own std::regex checks never see them.
constexpr const char* kPatternKeyword = "dihya:pattern";
constexpr const char* kFormatKeyword = "dihya:format";
// Where a node's patternProperties subschemas are kept in that copy, for the
// "$ref"s that stand for them (see without_regular_expressions).
constexpr const char* kPatternSchemasKeyword = "dihya:patternSchemas";

class LinearPattern final : public valijson::constraints::PolyConstraint {
 public:
  explicit LinearPattern(std::string pattern) : pattern_(std::move(pattern)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isString() || schema_pattern_matches(pattern_, target.asString())) return true;
    if (results != nullptr) results->pushError(context, "Failed to match regex specified by 'pattern' constraint.");
    return false;
  }

 private:
  Constraint* cloneInto(void* memory) const override { return new (memory) LinearPattern(*this); }
  std::size_t sizeOf() const override { return sizeof(LinearPattern); }

  std::string pattern_;
};

// Reads the text left to right; every check consumes what it matched.
class FormatReader {
 public:
  explicit FormatReader(std::string_view text) : text_(text) {}

  bool at_end() const { return at_ == text_.size(); }
  bool one_of(std::string_view chars) {
    if (at_end() || chars.find(text_[at_]) == std::string_view::npos) return false;
    ++at_;
    return true;
  }
  // `count` digits (0: one or more) as a number in [low, high].
  bool number(std::size_t count, int low, int high, int* value = nullptr) {
    const std::size_t first = at_;
    int n = 0;
    while (!at_end() && text_[at_] >= '0' && text_[at_] <= '9' && (count == 0 || at_ - first < count)) {
      if (n <= high) n = n * 10 + (text_[at_] - '0');
      ++at_;
    }
    if (at_ == first || (count != 0 && at_ - first != count)) return false;
    if (count != 0 && (n < low || n > high)) return false;
    if (value != nullptr) *value = n;
    return true;
  }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

// valijson's grammar (RFC 3339 full-date): any number of year digits, then
// a day that exists in its month, 29 February in any year.
bool read_date(FormatReader& in) {
  int month = 0;
  int day = 0;
  if (!(in.number(0, 0, 0) && in.one_of("-") && in.number(2, 1, 12, &month) && in.one_of("-") &&
        in.number(2, 1, 31, &day))) {
    return false;
  }
  const int days = month == 2 ? 29 : (month == 4 || month == 6 || month == 9 || month == 11) ? 30 : 31;
  return day <= days;
}

// RFC 3339 full-time: 23:59:60.5+02:00, 00:00:00Z.
bool read_time(FormatReader& in) {
  if (!(in.number(2, 0, 23) && in.one_of(":") && in.number(2, 0, 59) && in.one_of(":") && in.number(2, 0, 60))) {
    return false;
  }
  if (in.one_of(".") && !in.number(0, 0, 0)) return false;
  if (in.one_of("Zz")) return true;
  return in.one_of("+-") && in.number(2, 0, 23) && in.one_of(":") && in.number(2, 0, 59);
}

class LinearFormat final : public valijson::constraints::PolyConstraint {
 public:
  explicit LinearFormat(std::string format) : format_(std::move(format)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isString() || (format_ != "date" && format_ != "time" && format_ != "date-time")) return true;
    const std::string text = target.asString();
    FormatReader in(text);
    const bool valid = format_ == "date"   ? read_date(in) && in.at_end()
                       : format_ == "time" ? read_time(in) && in.at_end()
                                           : read_date(in) && in.one_of("Tt") && read_time(in) && in.at_end();
    if (!valid && results != nullptr) results->pushError(context, "String should be a valid " + format_);
    return valid;
  }

 private:
  Constraint* cloneInto(void* memory) const override { return new (memory) LinearFormat(*this); }
  std::size_t sizeOf() const override { return sizeof(LinearFormat); }

  std::string format_;
};

template <typename Constraint>
class StringKeywordBuilder final : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& node) const override {
    if (!node.isString()) throw std::runtime_error("expected a string value for 'pattern' and 'format'");
    return new Constraint(node.asString());
  }
};

template <typename Builder>
void add_builder(valijson::SchemaParser& parser, const char* keyword) {
  auto builder = std::make_unique<Builder>();
  parser.addConstraintBuilder(keyword, builder.get());
  builder.release();  // the parser owns it now
}

// A JSON Pointer token inside a "$ref" (RFC 6901), which valijson also
// percent-decodes.
std::string pointer_token(const std::string& key) {
  std::string token;
  for (const char c : key) {
    if (c == '~') {
      token += "~0";
    } else if (c == '/') {
      token += "~1";
    } else if (c == '%') {
      token += "%25";
    } else {
      token += c;
    }
  }
  return token;
}

bool is_value_keyword(const std::string& keyword) {
  return keyword == "default" || keyword == "enum" || keyword == "const" || keyword == "examples";
}

// Keywords whose value maps names (of properties, patterns, definitions) to
// subschemas: their keys are not keywords.
bool is_map_keyword(const std::string& keyword) {
  return keyword == "properties" || keyword == "patternProperties" || keyword == "definitions" ||
         keyword == "$defs" || keyword == "dependencies";
}

template <typename Visit>
void for_each_subschema(json& node, const std::string& pointer, int depth, const Visit& visit);

template <typename Visit>
void walk_keyword_value(json& value, const std::string& pointer, int depth, bool is_map, const Visit& visit) {
  if (is_map && value.is_object()) {
    for (auto& [name, subschema] : value.items()) {
      for_each_subschema(subschema, pointer + "/" + pointer_token(name), depth + 1, visit);
    }
  } else {
    for_each_subschema(value, pointer, depth, visit);
  }
}

// Calls visit(object, pointer) on `node` and on every subschema in it,
// parents first: what the visit adds to an object is walked too.
template <typename Visit>
void for_each_subschema(json& node, const std::string& pointer, int depth, const Visit& visit) {
  if (depth > kMaxDepth + 2) return;  // check_parameter_schema refused deeper schemas already
  if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) for_each_subschema(node[i], pointer + "/" + std::to_string(i), depth + 1, visit);
    return;
  }
  if (!node.is_object()) return;
  visit(node, pointer);
  for (auto& [keyword, value] : node.items()) {
    if (is_value_keyword(keyword)) continue;
    walk_keyword_value(value, pointer + "/" + pointer_token(keyword), depth + 1, is_map_keyword(keyword), visit);
  }
}

void collect_keys(const json& value, std::set<std::string>& keys, int depth) {
  if (depth > kMaxDepth + 1) return;
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      keys.insert(key);
      collect_keys(item, keys, depth + 1);
    }
  } else if (value.is_array()) {
    for (const auto& item : value) collect_keys(item, keys, depth + 1);
  }
}

void rename_string_keyword(json& node, const char* from, const char* to) {
  const auto found = node.find(from);
  if (found == node.end() || !found->is_string()) return;
  json value = std::move(*found);
  node.erase(from);
  node[to] = std::move(value);
}

// valijson matches each key of an object against "patternProperties" with
// std::regex, and `values` can hold a key of any length. The keys are known,
// though: for each key of `keys` a pattern matches (vectorscan), "properties"
// gets an entry that is a "$ref" to the pattern's subschema (several: their
// "allOf"), and "patternProperties" goes. "additionalProperties" then still
// applies to exactly the keys that no name and no pattern matched.
void expand_pattern_properties(json& node, const std::string& pointer, const std::set<std::string>& keys) {
  const auto patterns = node.find("patternProperties");
  if (patterns == node.end() || !patterns->is_object()) return;
  json schemas = json::array();
  std::map<std::string, std::vector<json>> matched;
  for (auto& [pattern, subschema] : patterns->items()) {
    const json ref = {{"$ref", pointer + "/" + kPatternSchemasKeyword + "/" + std::to_string(schemas.size())}};
    for (const auto& key : keys) {
      if (schema_pattern_matches(pattern, key)) matched[key].push_back(ref);
    }
    schemas.push_back(std::move(subschema));
  }
  node.erase("patternProperties");
  node[kPatternSchemasKeyword] = std::move(schemas);
  if (matched.empty()) return;
  json& properties = node["properties"];
  if (properties.is_null()) properties = json::object();
  if (!properties.is_object()) return;  // valijson refuses the schema
  for (auto& [key, refs] : matched) {
    if (const auto named = properties.find(key); named != properties.end()) refs.insert(refs.begin(), std::move(*named));
    properties[key] = refs.size() == 1 ? std::move(refs.front()) : json{{"allOf", std::move(refs)}};
  }
}

// The copy of `schema` valijson validates `values` against: no keyword left
// that it would check with std::regex.
json without_regular_expressions(const json& schema, const json& values) {
  std::set<std::string> keys;
  collect_keys(values, keys, 0);
  json copy = schema;
  for_each_subschema(copy, "#", 0, [&keys](json& node, const std::string& pointer) {
    rename_string_keyword(node, "pattern", kPatternKeyword);
    rename_string_keyword(node, "format", kFormatKeyword);
    expand_pattern_properties(node, pointer, keys);
  });
  return copy;
}

void compile(const json& schema, valijson::Schema& compiled) {
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  add_builder<StringKeywordBuilder<LinearPattern>>(parser, kPatternKeyword);
  add_builder<StringKeywordBuilder<LinearFormat>>(parser, kFormatKeyword);
  const valijson::adapters::NlohmannJsonAdapter adapter(schema);
  parser.populateSchema(adapter, compiled);
}

}  // namespace

bool validate_against_schema(const json& schema, const json& values, valijson::ValidationResults& results) {
  valijson::Schema compiled;
  compile(without_regular_expressions(schema, values), compiled);
  valijson::Validator validator;
  const valijson::adapters::NlohmannJsonAdapter target(values);
  return validator.validate(compiled, target, &results);
}

// valijson stores "pattern", "patternProperties" and "format" when it
// compiles a schema and runs their regular expressions only on values: the
// schema itself can be compiled as written.
void compile_with_valijson(const json& schema) {
  valijson::Schema compiled;
  compile(schema, compiled);
}

}  // namespace dihya::host
