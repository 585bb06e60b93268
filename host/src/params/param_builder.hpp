// SPDX-License-Identifier: AGPL-3.0-or-later
// Turns what the operator typed (a params file and `--param key=value`
// arguments) into the parameter object a plugin receives: typed by the
// plugin's JSON Schema (draft-07), references to secrets resolved, defaults
// filled, validated. It guarantees that no error message it produces contains
// the value of a secret: a `writeOnly` parameter, or any value read through
// @env: or @file:.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dihya::host {

struct ResolvedParams {
  nlohmann::json values;                   // object: coerced, defaults filled, validated
  std::vector<std::string> secret_values;  // clear texts to redact: writeOnly values, @env:/@file: values
  std::vector<std::string> secret_keys;    // writeOnly parameters, nested ones as "db.password"
  // Top-level parameters whose value (or part of it) was read through @env:
  // or @file:. They are secrets whatever their type: an integer read from the
  // environment is hidden as a whole, not only where its text occurs.
  std::vector<std::string> referenced_keys;
};

// Builds a plugin's parameters, in this order:
//  1. the params file, if any (see load_params_file);
//  2. each "key=value" of `kv_args` in order, a later one replacing an earlier
//     one or the file's value. The text is coerced to the property's type:
//     integer (64-bit, strict), number, boolean (true/false/yes/no/1/0, any
//     case), null ("null"), string, array (JSON text, or comma-separated items
//     coerced by `items`), object (JSON text); for a type list the first type
//     that fits wins. A key the schema does not declare is an error unless
//     `additionalProperties` allows it (absent counts as not allowed);
//  3. a string (file or command line) "@env:NAME" is replaced by that
//     environment variable and "@file:PATH" by the file's text (at most 1 MiB,
//     one trailing newline removed), then coerced like command-line text. A
//     leading "@@" stands for a literal "@";
//  4. a float with no fraction becomes an integer (draft-07 counts 5.0 as an
//     integer; valijson does not);
//  5. `default`s of absent properties are filled, also inside objects present;
//  6. the result is validated against the schema.
// Throws HostError (usage) with one line naming the parameter and the fix; at
// most three problems are listed. Not thread-safe with respect to setenv().
ResolvedParams build_params(const nlohmann::json& schema, const std::vector<std::string>& kv_args,
                            const std::optional<std::filesystem::path>& params_file);

// The same checks for values given as JSON (a plugin.json example, a schedule's
// stored parameters): coerced, defaults filled, validated. Throws a usage error.
ResolvedParams build_params_from_values(const nlohmann::json& schema, const nlohmann::json& values);

// Checks that `schema` can describe a plugin's parameters: a draft-07 schema
// object whose type is "object", which valijson can compile (local $refs
// only) and whose regular expressions vectorscan can match (see
// params/schema_pattern.hpp: no lookaround, no backreferences). Throws
// HostError (usage) "plugin schema is invalid: ...".
void check_parameter_schema(const nlohmann::json& schema);

// Compiles every regular expression of a schema check_parameter_schema
// accepted (it only parses them; a command compiles those a value reaches):
// for the conformance kit, which must find a pattern too large to compile
// before an operator's value does. Throws HostError (usage) "plugin schema is
// invalid: pattern '...' is not a valid regular expression here: ...".
void compile_parameter_patterns(const nlohmann::json& schema);

// Schema navigation, shared with redaction so both agree on which subschema
// governs a value. `root` is the whole parameter schema (for local "$ref"s);
// results point into it and are null when nothing governs the value.

// `node` with local "$ref"s ("#", "#/definitions/x") followed.
const nlohmann::json* resolve_schema_ref(const nlohmann::json& root, const nlohmann::json* node);
// The subschema for property `key` of an object governed by `object_schema`:
// from "properties", else a matching "patternProperties", else an object
// "additionalProperties".
const nlohmann::json* property_schema(const nlohmann::json& root, const nlohmann::json* object_schema,
                                      const std::string& key);
// The subschema for item `index` of an array governed by `array_schema`.
const nlohmann::json* item_schema(const nlohmann::json& root, const nlohmann::json* array_schema,
                                  std::size_t index);
// True when `node` marks its value as a secret ("writeOnly": true).
bool is_write_only(const nlohmann::json* node);

}  // namespace dihya::host
