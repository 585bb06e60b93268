// SPDX-License-Identifier: AGPL-3.0-or-later
// The parameter options `run`, `validate` and `check` share: --param k=v and
// --params-file, turned into typed, validated values by the plugin's schema.
#pragma once

#include "cli/common.hpp"
#include "loading/plugin_file.hpp"
#include "params/param_builder.hpp"

namespace dihya::host {

void add_param_options(CommandSpec& spec);

// Builds the parameters of `plugin` from the parsed options. Throws a usage error.
ResolvedParams resolve_params(const po::variables_map& vm, const PluginFile& plugin);

}  // namespace dihya::host
