// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/param_options.hpp"

namespace dihya::host {

void add_param_options(CommandSpec& spec) {
  spec.options.add_options()(
      "param,p", po::value<std::vector<std::string>>()->composing(),
      "parameter as key=value (repeatable); the value is coerced by the plugin's schema; "
      "@env:VAR and @file:PATH read secrets from the environment or a file; @@ escapes a leading @")(
      "params-file", po::value<std::string>(), "JSON or YAML file of parameters (--param wins)");
}

ResolvedParams resolve_params(const po::variables_map& vm, const PluginFile& plugin) {
  std::vector<std::string> kv;
  if (vm.count("param")) kv = vm["param"].as<std::vector<std::string>>();
  std::optional<std::filesystem::path> file;
  if (vm.count("params-file")) file = vm["params-file"].as<std::string>();
  return build_params(plugin.parameters(), kv, file);
}

}  // namespace dihya::host
