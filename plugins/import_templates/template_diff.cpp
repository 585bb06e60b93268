// SPDX-License-Identifier: AGPL-3.0-or-later
#include "template_diff.hpp"

namespace import_templates {
namespace {

void diff_section(const nlohmann::json& before, const nlohmann::json& after, const char* section, const std::string& prefix,
                  TemplateDiff& out) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const auto& a = before.contains(section) ? before.at(section) : kEmpty;
  const auto& b = after.contains(section) ? after.at(section) : kEmpty;
  for (const auto& [path, content] : b.items()) {
    const auto old = a.find(path);
    if (old == a.end()) {
      out.added.push_back(prefix + path);
    } else if (*old != content) {
      out.modified.push_back(prefix + path);
    }
  }
  for (const auto& [path, content] : a.items()) {
    (void)content;
    if (!b.contains(path)) out.removed.push_back(prefix + path);
  }
}

}  // namespace

nlohmann::json TemplateDiff::to_json() const {
  return {{"declared_version", {{"old", old_version}, {"new", new_version}}},
          {"files", {{"added", added}, {"removed", removed}, {"modified", modified}}},
          {"fields", fields}};
}

TemplateDiff diff_templates(const nlohmann::json& before, const nlohmann::json& after) {
  TemplateDiff d;
  d.old_version = before.value("version", "");
  d.new_version = after.value("version", "");
  diff_section(before, after, "files", "", d);
  diff_section(before, after, "per_resource", "per_resource:", d);
  for (const char* field : {"stack", "description", "tags", "variables"}) {
    const bool in_a = before.contains(field), in_b = after.contains(field);
    if (in_a != in_b || (in_a && before.at(field) != after.at(field))) d.fields.emplace_back(field);
  }
  return d;
}

}  // namespace import_templates
