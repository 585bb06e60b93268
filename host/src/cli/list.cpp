// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host list`: every plugin file of the search path, read from its
// embedded metadata (through the cache), without running plugin code.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "loading/catalog.hpp"

namespace dihya::host {
namespace {

// The FLAGS column, also listed by --json: one word list for people and programs.
std::vector<std::string> flag_words(const CatalogEntry& e) {
  std::vector<std::string> words;
  if (e.destructive) words.push_back("destructive");
  if (e.reversible) words.push_back("reversible");
  if (!e.unstable.empty()) words.push_back("unstable");
  if (e.shadowed) words.push_back("shadowed");
  if (!e.error.empty()) words.push_back("unusable");
  return words;
}

}  // namespace

int cmd_list(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host list [--json] [--all]";
  spec.description =
      "Lists the plugins found in the search path (--plugin-path, DIHYA_PLUGIN_PATH, config files,\n"
      "then the install directory). Files that are not usable plugins are shown with the reason\n"
      "when --all is given. Reads only embedded metadata: no plugin code runs.";
  spec.options.add_options()("json", "print JSON")("all", "also show unusable and shadowed files");
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  const bool all = vm->count("all") != 0;

  PluginCatalog catalog(settings);
  const auto entries = catalog.list();
  if (vm->count("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : entries) {
      if (!all && (!e.error.empty() || e.shadowed)) continue;
      nlohmann::json j{{"name", e.name}, {"version", e.version}, {"summary", e.summary},
                       {"destructive", e.destructive}, {"flags", flag_words(e)}, {"path", e.path.string()}};
      if (!e.error.empty()) j["error"] = e.error;
      if (!e.unstable.empty()) j["unstable"] = e.unstable;
      if (e.shadowed) j["shadowed"] = true;
      out.push_back(std::move(j));
    }
    print_json(out);
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "VERSION", "FLAGS", "SUMMARY"}};
  for (const auto& e : entries) {
    if (!e.error.empty()) {
      if (all) rows.push_back({e.path.filename().string(), "-", "unusable", e.error});
      continue;
    }
    if (e.shadowed && !all) continue;
    const auto words = flag_words(e);
    const std::string flags = fmt::format("{}", fmt::join(words, ","));
    rows.push_back({e.name, e.version, flags.empty() ? "-" : flags,
                    e.unstable.empty() ? e.summary : e.summary + " [" + e.unstable + "]"});
  }
  print_table(rows);
  return 0;
}

}  // namespace dihya::host
