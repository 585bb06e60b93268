// SPDX-License-Identifier: AGPL-3.0-or-later
// Templates as YAML. Reading is the SDK's reader (dihya/yaml_file.hpp: YAML
// 1.2 core scalars, duplicate keys refused, a budget of nodes, string bytes
// and depth) with the template's limits. Writing emits block YAML that reads
// back to the same JSON: strings that could be taken for another type are
// quoted, multi-line file contents are literal blocks when that is exact.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <dihya/yaml_file.hpp>
#include <nlohmann/json.hpp>

namespace import_templates {

// A template's limits: bigger than an operator's file.
struct YamlLimits : dihya::YamlLimits {
  YamlLimits() { max_nodes = 200000; }
};

// Throws dihya::Error "<where>: <what>".
nlohmann::json parse_yaml_document(const std::string& text, const std::string& where, const YamlLimits& limits = {});

std::string write_yaml_document(const nlohmann::json& doc);

}  // namespace import_templates
