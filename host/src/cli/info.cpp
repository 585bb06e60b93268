// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host info <plugin>`: the plugin's own documentation, from its
// embedded plugin.json, and `dihya-host docs --out DIR`: the same as pages.
#include <sys/stat.h>

#include <iostream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/plugin_page.hpp"
#include "errors.hpp"
#include "loading/catalog.hpp"
#include "util/atomic_file.hpp"
#include "util/printable.hpp"

namespace dihya::host {

int cmd_info(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host info <plugin> [--json]";
  spec.description = "Describes a plugin from its embedded metadata: summary, flags, parameters,\n"
                     "examples, security notes and what rollback does. Runs no plugin code.";
  spec.options.add_options()("json", "print the whole plugin.json");
  add_plugin_argument(spec);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;

  PluginCatalog catalog(settings);
  const PluginFile plugin = catalog.find((*vm)["plugin"].as<std::string>());
  if (vm->count("json")) {
    nlohmann::json out = plugin.metadata;
    out["path"] = plugin.path.string();
    out["abi"] = plugin.abi_tag;
    print_json(out);
    return 0;
  }
  // The page is made safe field by field; the path is a file name of the search path's.
  std::cout << plugin_markdown(plugin) << "path: " << printable(plugin.path.string(), std::string::npos) << "\n";
  return 0;
}

int cmd_docs(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host docs --out DIR";
  spec.description = "Writes DIR/<plugin>.md for every plugin of the search path, and DIR/index.md.";
  spec.options.add_options()("out", po::value<std::string>()->required(), "output directory");
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  const std::filesystem::path out = (*vm)["out"].as<std::string>();
  std::error_code ec;
  const auto status = std::filesystem::status(out, ec);
  if (std::filesystem::exists(status) && !std::filesystem::is_directory(status)) {
    throw usage_error(fmt::format("--out {}: not a directory", out.string()));
  }
  ec = create_directories_no_wider(out);
  if (ec) throw usage_error(fmt::format("{}: cannot create directory: {}", out.string(), ec.message()));

  PluginCatalog catalog(settings);
  std::string index = "# Plugins\n\n| plugin | version | summary |\n|---|---|---|\n";
  int written = 0;
  for (const auto& entry : catalog.list()) {
    if (!entry.error.empty() || entry.shadowed) continue;
    const PluginFile plugin = read_plugin_file(entry.path);
    write_file_atomically(out / (plugin.name() + ".md"), plugin_markdown(plugin), 0644);
    index += fmt::format("| [{0}]({0}.md) | {1} | {2} |\n", plugin.name(), printable(plugin.version(), std::string::npos),
                         printable(plugin.summary(), std::string::npos));
    ++written;
  }
  write_file_atomically(out / "index.md", index, 0644);
  std::cerr << fmt::format("wrote {} plugin page(s) to {}\n", written, printable(out.string(), std::string::npos));
  return 0;
}

}  // namespace dihya::host
