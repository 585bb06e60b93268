// SPDX-License-Identifier: AGPL-3.0-or-later
// valijson, without its regular expressions. valijson 1.0 hard-codes
// std::regex for "pattern", "patternProperties" and the "date", "time" and
// "date-time" formats; std::regex recurses once per character of the text
// (a long parameter overflowed the host's stack) and backtracks (a plugin's
// "^(a+)+$" never returned). Here valijson checks everything else, and those
// keywords are checked in linear time: patterns by vectorscan
// (params/schema_pattern.hpp), formats by hand. The error texts stay
// valijson's, so schema_errors.hpp explains them as before.
#pragma once

#include <nlohmann/json.hpp>
#include <valijson/validation_results.hpp>

namespace dihya::host {

// True when `values` is valid against `schema`; else false, with valijson's
// errors in `results`. Throws HostError (usage) when a pattern of the schema
// cannot be compiled, std::exception when valijson cannot compile the schema.
bool validate_against_schema(const nlohmann::json& schema, const nlohmann::json& values,
                             valijson::ValidationResults& results);

// Compiles `schema` with valijson as validate_against_schema() would (no
// value is checked, no regular expression runs). Throws std::exception
// naming what valijson refused.
void compile_with_valijson(const nlohmann::json& schema);

}  // namespace dihya::host
