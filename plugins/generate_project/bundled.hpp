// SPDX-License-Identifier: AGPL-3.0-or-later
// The templates bundled in the plugin: each templates/<name>/ folder packed
// at build time (pack_templates.cmake) into one template document, the same
// JSON that is installed to share/dihya/templates/<name>.json for
// import_templates, and embedded here so generation works without a database.
#pragma once

#include <string_view>
#include <vector>

namespace generate_project {

struct BundledTemplate {
  std::string_view name;
  std::string_view json;  // a template document (dihya/template_format.hpp)
};

// Sorted by name. Defined in the generated bundled_templates.cpp.
const std::vector<BundledTemplate>& bundled_templates();

}  // namespace generate_project
