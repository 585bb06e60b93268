// SPDX-License-Identifier: AGPL-3.0-or-later
// From a normalised spec and the chosen template documents to the project's
// files, in memory: the render context (names sanitised per language,
// sample values per field type), template variables checked against each
// template's declarations, every path rendered and checked, collisions
// between templates refused. Nothing here touches the disk or the database,
// so what validate() renders is exactly what run() will write.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec.hpp"

namespace generate_project {

// One template to render, wherever it came from.
struct TemplateChoice {
  std::string stack;      // project, flask, express, spa, ai, solidity, devops
  std::string name;
  nlohmann::json doc;     // the template document (dihya/template_format.hpp)
  int revision = 0;       // database revision, 0 for bundled
  std::string source;     // "database" or "bundled"
  std::string checksum;
};

struct RenderedFile {
  std::string path;       // safe relative path
  std::string content;
  unsigned mode = 0644;
  std::string origin;     // template name and entry, for messages
};

struct Rendering {
  std::vector<RenderedFile> files;  // sorted by path
  nlohmann::json variables = nlohmann::json::object();  // template -> {name: value}
  std::vector<std::string> ignored_variables;            // spec variables no template declares
};

// The stacks a spec needs, each with its template name (spec `templates`
// or the default): project first, devops when docker/ci/kubernetes.
std::vector<std::pair<std::string, std::string>> needed_templates(const Spec& spec);

// The context of contract §5 without `var` (which is per template).
nlohmann::json build_context(const Spec& spec, const std::string& generator_version);

// Renders every template. Throws dihya::Error naming the template and the
// path for a mustache error, an unsafe rendered path, a collision, a bad or
// missing template variable, or a rendering past its size or step limit
// (stopped there, so memory stays bounded). `cancelled` is polled between files.
Rendering render_project(const Spec& spec, const std::vector<TemplateChoice>& templates,
                         const std::string& generator_version, const std::function<bool()>& cancelled);

}  // namespace generate_project
