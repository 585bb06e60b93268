// SPDX-License-Identifier: AGPL-3.0-or-later
// A valijson failure told the way an operator reads it: "parameter 'port':
// 70000 is greater than maximum 65535", not "Expected number less than or
// equal to 65535.000000". Only the words of the schema (bounds, enum values,
// patterns) and of the value are used; the caller decides whether the value
// may be shown at all (never for a secret).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dihya::host {

struct SchemaProblem {
  std::string hint;        // what is wrong, without the value
  std::string with_value;  // the same with the value; empty when the hint says it all
};

// Explains valijson's `description` of a failure of `value` (null: unknown)
// against `schema` (null: unknown); `root` resolves "$ref"s.
SchemaProblem explain_schema_error(const std::string& description, const nlohmann::json& root,
                                   const nlohmann::json* schema, const nlohmann::json* value);

// valijson adds a generic line ("Failed to validate against schema associated
// with property ...") for every level above a failure; the line that matters
// is the innermost.
bool is_generic_schema_error(const std::string& description);

// The last '...'-quoted name in a valijson description ("Missing required
// property 'port'." -> "port"); empty when there is none.
std::string quoted_name(const std::string& description);

// `text` printable and in single quotes, as messages show names and values.
std::string in_quotes(std::string_view text, std::size_t max_chars = 60);

}  // namespace dihya::host
