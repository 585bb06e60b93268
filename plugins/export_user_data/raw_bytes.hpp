// SPDX-License-Identifier: AGPL-3.0-or-later
// Text that is not UTF-8 in a UTF-8 archive. A SQL_ASCII database stores
// whatever bytes it was given and PostgreSQL passes them through unchanged,
// so a value can hold bytes no JSON file may contain. Such a value is written
// losslessly and visibly, never repaired or dropped: in JSON as the object
// {"$bytes_base64": "<base64 of its bytes>"}, and where only a string fits (a
// CSV field, a JSON object key, a name in the manifest) as the string
// "$bytes_base64:<base64 of its bytes>". Valid UTF-8 is written as it is.
#pragma once

#include <string>
#include <string_view>

namespace export_user_data {

// What the manifest says about the marking, for the person and their tools.
extern const char* const kBytesBase64Note;

// `s` itself when it is valid UTF-8, else "$bytes_base64:" and its base64.
std::string utf8_or_marked(std::string_view s);

// Appends `json`, one JSON text as PostgreSQL wrote it (its syntax valid,
// its strings possibly not UTF-8), to `out` with every string that is not
// valid UTF-8 marked: a value becomes {"$bytes_base64": ...}, an object key
// the marked string. The bytes are the string's after its escapes are
// decoded (\u escapes as UTF-8).
void append_utf8_json(std::string_view json, std::string& out);

}  // namespace export_user_data
