// SPDX-License-Identifier: AGPL-3.0-or-later
// What changes between two revisions of a template, in the operator's terms:
// declared version old -> new, which files were added, removed or modified,
// which other fields changed. Names and paths only, never file contents
// (templates may embed anything; the report goes to terminals and logs).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace import_templates {

struct TemplateDiff {
  std::string old_version, new_version;  // declared versions
  std::vector<std::string> added, removed, modified;  // file keys; per_resource ones prefixed "per_resource:"
  std::vector<std::string> fields;                    // other top-level fields that differ
  nlohmann::json to_json() const;
};

TemplateDiff diff_templates(const nlohmann::json& before, const nlohmann::json& after);

}  // namespace import_templates
