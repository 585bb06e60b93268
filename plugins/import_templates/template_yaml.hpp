// SPDX-License-Identifier: AGPL-3.0-or-later
// Templates as YAML. Reading converts yaml-cpp's tree to JSON under a budget
// (nodes, string bytes, depth): yaml-cpp keeps alias bombs as shared nodes, so
// expanding them unbounded would explode. Unlike dihya/yaml_file.hpp it keeps
// floats (a `number` variable's default) and refuses duplicate keys, and its
// size limit is the template's (8 MiB). Writing emits block YAML that reads
// back to the same JSON: strings that could be taken for another type are
// quoted, multi-line file contents are literal blocks when that is exact.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace import_templates {

struct YamlLimits {
  std::size_t max_nodes = 200000;
  std::size_t max_string_bytes = 8u << 20;  // all scalars, aliases counted each time
  int max_depth = 64;
};

// Throws dihya::Error "<where>: <what>".
nlohmann::json parse_yaml_document(const std::string& text, const std::string& where, const YamlLimits& limits = {});

std::string write_yaml_document(const nlohmann::json& doc);

}  // namespace import_templates
