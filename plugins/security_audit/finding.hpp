// SPDX-License-Identifier: AGPL-3.0-or-later
// What every check of security_audit produces: a Finding with a stable
// fingerprint and masked evidence. A Finding never holds a secret in clear:
// checks mask values before building one, and the fingerprint is a hash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <dihya/sha256.hpp>
#include <nlohmann/json.hpp>

namespace security_audit {

enum class Severity { info = 0, low, medium, high, critical };

const char* severity_name(Severity s);
// "none" maps to a threshold above critical; returns false for an unknown name.
bool parse_severity(std::string_view name, int& level);

struct Finding {
  std::string rule;         // rule id, e.g. "aws-access-key-id"
  std::string check;        // secrets | permissions | postgres | dependencies
  Severity severity = Severity::medium;
  std::string title;        // the rule's one-line description
  std::string message;      // what is wrong here
  std::string path;         // relative to the scanned tree, raw bytes (printable() to show it); empty for database objects
  std::string object;       // a database object, a package, ... when there is no file
  int line = 0;
  int column = 0;
  std::string evidence;     // masked: never the secret itself
  std::string fix;
  std::string fingerprint;  // sha256 hex, stable across runs
};

using dihya::sha256_hex;  // lowercase hex SHA-256 (dihya/sha256.hpp)
// sha256 of rule, path and value, separated by NULs so no two triples collide.
std::string fingerprint(std::string_view rule, std::string_view path, std::string_view value);
// First 4 characters, an ellipsis and the length: "AKIA…(20 chars)".
std::string mask(std::string_view secret);
// `s` as valid UTF-8 without terminal control characters: invalid bytes and
// controls (but tab) become "\xNN". File names and DSN passwords are bytes,
// while reports and JSON need text.
std::string printable(std::string_view s);
// `s` quoted for a POSIX shell so that it names the same bytes: '...' when it
// is printable, else bash's $'...' with \n and \xNN escapes (still printable).
std::string shell_quote(std::string_view s);
// Applies printable() to every text field but the raw path (the fingerprint stays as computed).
void make_printable(Finding& f);
// "file:line:col", or the object.
std::string location(const Finding& f);
nlohmann::json to_json(const Finding& f);

// Parses a JSON file with a size and nesting bound (hostile files: deep
// nesting crashes nlohmann's dump and copies). Throws dihya::Error naming the file.
nlohmann::json read_json_file(const std::filesystem::path& file, std::uintmax_t max_bytes, int max_depth);
// Writes `content` through a temp file in the same directory and a rename,
// so a reader never sees half a report.
void write_atomically(const std::filesystem::path& file, const std::string& content);

}  // namespace security_audit
