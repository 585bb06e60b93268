// SPDX-License-Identifier: AGPL-3.0-or-later
// Typing what the operator wrote by the parameter schema: which JSON types a
// subschema accepts, and text ("5432", "true", "a,b", "{...}") made into a
// value of one of them. Strict on purpose: "5x" is no integer, "yes" is a
// boolean only where the schema asks for one, and a number past 64 bits or
// not finite is refused with the reason, never rounded.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dihya::host {

// The JSON types the subschema `node` accepts, in the order to try them: from
// "type", else from anyOf/oneOf/allOf branches, else from the values of
// enum/const. Empty when the schema does not say. `root` resolves "$ref"s.
std::vector<std::string> accepted_types(const nlohmann::json& root, const nlohmann::json* node, int depth = 0);

// "an integer or a boolean (true/false)", for messages.
std::string describe_types(const std::vector<std::string>& types);

// `text` as a value of JSON type `type` governed by `schema` (arrays: JSON
// text, or comma-separated items coerced by `items`); nullopt when it is not
// one, with `problem` set when there is more to say than "not a <type>".
std::optional<nlohmann::json> coerce_as(const nlohmann::json& root, const nlohmann::json* schema, std::string_view text,
                                        const std::string& type, std::string& problem);

}  // namespace dihya::host
