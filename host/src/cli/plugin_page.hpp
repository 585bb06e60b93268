// SPDX-License-Identifier: AGPL-3.0-or-later
// A plugin described from its plugin.json alone: the parameter table and the
// Markdown page that `info` prints and `docs` writes.
#pragma once

#include <string>
#include <vector>

#include "loading/plugin_file.hpp"

namespace dihya::host {

struct ParameterRow {
  std::string name, type, required, default_value, description;
  bool secret = false;
};

std::vector<ParameterRow> parameter_rows(const nlohmann::json& schema);

// The whole page: summary, description, flags, parameters, examples, security,
// rollback. Every word of the author's is made printable (util/printable.hpp):
// the page holds no control sequence, and a one-line field stays one line.
std::string plugin_markdown(const PluginFile& plugin);

// plugin.json's "capabilities" in one line for `info` ("reads ...; writes ...").
std::string capabilities_text(const nlohmann::json& metadata);

}  // namespace dihya::host
