// SPDX-License-Identifier: AGPL-3.0-or-later
// Reading parameter values written by the operator: a params file (JSON or
// YAML), JSON text given on the command line, and the small text checks the
// parameter builder shares. The input is hostile by assumption (a typo, a
// pasted binary, an alias bomb): every function here either returns a value
// that is safe to copy, dump and compare (at most kMaxDepth levels deep, valid
// UTF-8 strings only) or throws a usage error (exit 2) whose message is one
// printable line naming the origin, never echoing raw bytes of the input.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dihya::host {

// Nesting limit for arrays and objects (a value may hold at most this many
// containers, one inside the other).
constexpr int kMaxDepth = 64;
// Largest params file or text the parsers accept.
constexpr std::size_t kMaxInputBytes = 16 * 1024 * 1024;
// Largest number of values a YAML document may expand to once aliases are
// followed; this is what stops "billion laughs".
constexpr std::size_t kMaxYamlNodes = 100000;
// Largest total size of the strings (keys and values) a YAML document may
// expand to: one large anchored scalar repeated by aliases stays under the
// node budget yet could still need gigabytes.
constexpr std::size_t kMaxYamlExpandedBytes = 64 * 1024 * 1024;

// Parses JSON text. `origin` names where the text came from (a file path,
// "--param tags") and starts every message. Rejects invalid UTF-8, nesting
// deeper than kMaxDepth, texts over kMaxInputBytes and duplicate object keys.
// Byte positions in messages count from 1. Throws HostError (usage).
nlohmann::json parse_json_text(std::string_view text, const std::string& origin);

// Parses one YAML document into JSON values with the SDK's reader
// (dihya/yaml_file.hpp, whose rules the plugins' YAML files follow too: core
// schema scalars, core tags only, merge keys, duplicate keys refused, one
// document; an empty document gives null) and a parameter file's budgets:
// kMaxInputBytes, kMaxDepth, kMaxYamlNodes and kMaxYamlExpandedBytes.
// Throws HostError (usage) "<origin>:<line>:<column>: <what>".
nlohmann::json parse_yaml_text(std::string_view text, const std::string& origin);

// Reads a params file: JSON for .json, YAML for .yaml/.yml, otherwise JSON if
// the first non-blank character is '{' and YAML if not. The top level must be
// an object (an empty YAML file counts as an empty object). Throws HostError
// (usage) naming the path: unreadable (with the OS reason), too large, or
// malformed.
nlohmann::json load_params_file(const std::filesystem::path& path);

// Reads a whole file of at most `max_bytes` bytes. `what` starts every
// message ("params file /etc/x.json"); the OS reason ends it. Throws
// HostError (usage).
std::string read_text_file(const std::filesystem::path& path, std::size_t max_bytes,
                           const std::string& what);

}  // namespace dihya::host
