// SPDX-License-Identifier: AGPL-3.0-or-later
#include "policy.hpp"

#include <regex>

#include <dihya/duration.hpp>
#include <dihya/yaml_file.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace cleanup {

namespace {

// Strategy "null" may arrive as the YAML null (strategy: null) or a string.
const char* kPolicySchema = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "definitions": {
    "table": {"oneOf": [
      {"type": "string", "minLength": 1, "maxLength": 127},
      {"type": "object", "required": ["table"], "additionalProperties": false,
       "properties": {"schema": {"type": "string", "minLength": 1, "maxLength": 63}, "table": {"type": "string", "minLength": 1, "maxLength": 63}}}
    ]},
    "column_rule": {"type": "object", "additionalProperties": false, "required": ["strategy"],
      "properties": {
        "strategy": {"enum": ["null", "fixed", "hash", "mask", "fake", null]},
        "value": {},
        "kind": {"enum": ["email", "name", "phone", "text"]}
      }},
    "columns": {"type": "object", "minProperties": 1, "maxProperties": 200,
      "additionalProperties": {"$ref": "#/definitions/column_rule"}},
    "duration": {"type": "string", "pattern": "^[0-9]{1,6}[smhdw]$"}
  },
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "tables": {"type": "array", "maxItems": 500, "items": {
      "type": "object", "additionalProperties": false,
      "required": ["table", "timestamp_column", "older_than", "action"],
      "properties": {
        "table": {"$ref": "#/definitions/table"},
        "timestamp_column": {"type": "string", "minLength": 1, "maxLength": 63},
        "older_than": {"$ref": "#/definitions/duration"},
        "action": {"enum": ["delete", "anonymise"]},
        "columns": {"$ref": "#/definitions/columns"}
      }}},
    "erase_user": {"type": "object", "additionalProperties": false, "properties": {
      "default_action": {"enum": ["delete"]},
      "tables": {"type": "array", "maxItems": 500, "items": {
        "type": "object", "additionalProperties": false, "required": ["table", "action"],
        "properties": {
          "table": {"$ref": "#/definitions/table"},
          "action": {"enum": ["delete", "anonymise", "keep"]},
          "columns": {"$ref": "#/definitions/columns"}
        }}}
    }},
    "graph": {"type": "object"},
    "logs": {"type": "array", "maxItems": 100, "items": {"type": "object"}}
  }
})";

void validate_against_schema(const nlohmann::json& doc) {
  static const nlohmann::json schema_doc = nlohmann::json::parse(kPolicySchema);
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema_doc);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter doc_adapter(doc);
  if (validator.validate(schema, doc_adapter, &results)) return;
  // The deepest error names the field; the generic "associated with
  // property" lines only repeat the path.
  valijson::ValidationResults::Error error;
  std::string best;
  std::size_t best_depth = 0;
  while (results.popError(error)) {
    if (error.description.find("Failed to validate against schema associated with property") != std::string::npos) continue;
    std::string where;
    for (const auto& part : error.context) where += part == "<root>" ? "" : part;
    if (best.empty() || error.context.size() > best_depth) {
      best = (where.empty() ? "" : where + ": ") + error.description;
      best_depth = error.context.size();
    }
  }
  throw dihya::Error("does not match the policy schema: " + (best.empty() ? "invalid" : best));
}

std::vector<ColumnRule> column_rules(const nlohmann::json& columns, bool& uses_salt) {
  std::vector<ColumnRule> out;
  for (const auto& [name, rule] : columns.items()) {
    ColumnRule c;
    c.column = name;
    c.strategy = rule.at("strategy").is_null() ? "null" : rule.at("strategy").get<std::string>();
    if (c.strategy == "fixed") {
      if (!rule.contains("value")) throw dihya::Error("column '" + name + "': strategy fixed needs a value");
      c.value = rule.at("value");
    }
    if (c.strategy == "fake") c.kind = rule.value("kind", std::string("text"));
    if (c.strategy == "hash") uses_salt = true;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Policy load_policy(const std::string& path) {
  const auto doc = dihya::load_yaml_file(path);
  Policy p;
  try {
    if (!doc.is_object()) throw dihya::Error("expected a mapping at the top");
    validate_against_schema(doc);
    if (doc.contains("graph")) p.graph = dihya::FkGraphConfig::from_json(doc.at("graph"));
    for (const auto& t : doc.value("tables", nlohmann::json::array())) {
      TableRule r;
      r.table = dihya::TableName::from_json(t.at("table"));
      r.timestamp_column = t.at("timestamp_column").get<std::string>();
      r.older_than = t.at("older_than").get<std::string>();
      r.older_than_seconds = dihya::require_duration(r.older_than, r.table.display() + ": older_than").count();
      r.action = t.at("action").get<std::string>();
      if (t.contains("columns")) r.columns = column_rules(t.at("columns"), p.uses_salt);
      if (r.action == "anonymise" && r.columns.empty()) {
        throw dihya::Error(r.table.display() + ": action anonymise needs columns");
      }
      p.retention.push_back(std::move(r));
    }
    for (const auto& l : doc.value("logs", nlohmann::json::array())) p.logs.push_back(log_rule_from_json(l));
    if (doc.contains("erase_user")) {
      const auto& e = doc.at("erase_user");
      p.erase_default_action = e.value("default_action", std::string("delete"));
      for (const auto& t : e.value("tables", nlohmann::json::array())) {
        TableRule r;
        r.table = dihya::TableName::from_json(t.at("table"));
        r.action = t.at("action").get<std::string>();
        if (t.contains("columns")) r.columns = column_rules(t.at("columns"), p.uses_salt);
        if (r.action == "anonymise" && r.columns.empty()) {
          throw dihya::Error("erase_user " + r.table.display() + ": action anonymise needs columns");
        }
        p.erase_rules[r.table] = std::move(r);
      }
    }
  } catch (const dihya::Error& e) {
    throw dihya::Error(path + ": " + e.what());
  } catch (const std::exception& e) {
    throw dihya::Error(path + ": invalid policy: " + e.what());
  }
  return p;
}

}  // namespace cleanup
