// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host validate <plugin>`: the schema check in the host, then the
// plugin's own semantic checks in a supervised child. Changes nothing.
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/param_options.hpp"
#include "cli/plugin_ops.hpp"
#include "loading/catalog.hpp"
#include "errors.hpp"
#include "params/redaction.hpp"

namespace dihya::host {

int cmd_validate(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host validate <plugin> [--param k=v]... [--params-file FILE] [--timeout S] [--json]";
  spec.description = "Checks parameters against the plugin's JSON Schema, then runs the plugin's own\n"
                     "validate() (files exist, database reachable...). Nothing is changed.\n"
                     "Exit 0 when valid, 2 when not, 3 when the plugin cannot be loaded, 4 when its\n"
                     "validate() did not finish within the timeout.";
  add_param_options(spec);
  spec.options.add_options()(
      "timeout", po::value<double>(),
      "seconds before validate() is cancelled (default: the plugin's timeout_seconds, else 300)")("json", "print JSON");
  add_plugin_argument(spec);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;

  PluginCatalog catalog(settings);
  const PluginFile plugin = catalog.find((*vm)["plugin"].as<std::string>());
  const ResolvedParams params = resolve_params(*vm, plugin);
  // As long as the plugin's runs may take, which include their validate().
  const std::chrono::milliseconds timeout =
      seconds_option(*vm, "timeout", plugin.metadata, "timeout_seconds").value_or(kDefaultPluginTimeout);
  Redactor redactor;
  ChildRequest request = prepare_child_request(plugin, settings, Operation::validate, params, redactor);
  request.params = params.values;
  const ScratchDir work;
  request.work_dir = work.path();
  const auto report = run_operation(request, timeout);
  require_loaded(report.outcome, plugin);
  if (report.outcome.kind == ChildOutcome::Kind::timed_out) {
    throw HostError(kExitTimeout, redactor.redact(fmt::format("{}: validate {}", plugin.name(), report.outcome.message)));
  }
  try {
    require_semantically_valid(report.outcome, plugin.name());
  } catch (const HostError& e) {
    throw HostError(e.exit_code(), redactor.redact(e.what()));
  }
  if (vm->count("json")) {
    print_json({{"plugin", plugin.name()}, {"valid", true}, {"params", redact_resolved_params(params, plugin.parameters(), redactor)}});
  } else {
    std::cout << fmt::format("{}: parameters are valid\n", plugin.name());
  }
  return 0;
}

}  // namespace dihya::host
