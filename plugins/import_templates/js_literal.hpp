// SPDX-License-Identifier: AGPL-3.0-or-later
// JS templates without running JS: a module whose only statement exports an
// object literal (`module.exports = {...};` or `export default {...};`) is read
// by a small JSON5-like parser and written back by a deterministic writer.
// The parser accepts literals only — unquoted keys, '...' "..." and `...`
// strings (no ${}), numbers (hex, leading dot, + sign), true/false/null,
// trailing commas, // and /* */ comments — so reading a template can never run
// code: functions, calls, identifiers as values, ${}, spread and computed keys
// are errors naming file:line:column. Nesting and size are bounded, invalid
// UTF-8 is refused. write_js_module(doc) parses back to `doc` exactly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <dihya/template_format.hpp>
#include <nlohmann/json.hpp>

namespace import_templates {

struct JsLimits {
  std::size_t max_bytes = 8u << 20;  // the whole module text
  int max_depth = 64;                // nested objects and arrays
};

// Throws dihya::Error "<where>:<line>:<column>: <what>" (line and column from
// 1, columns counted in characters).
nlohmann::json parse_js_module(std::string_view text, const std::string& where, const JsLimits& limits = {});

// The JS module text of `doc` (an object): `module.exports = {...};` with keys
// in `doc`'s order, multi-line strings as template literals. Throws
// dihya::Error for a key the parser would refuse (`__proto__`).
std::string write_js_module(const nlohmann::json& doc);

using dihya::templates::first_invalid_utf8;

// "line:column" of byte `offset` in `text` (both from 1, columns in characters).
std::string line_column(std::string_view text, std::size_t offset);

}  // namespace import_templates
