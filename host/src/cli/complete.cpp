// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host complete`: the words the bash completion script offers, read from
// the plugins' embedded metadata, so completion knows every plugin and its
// parameters without a hand-kept list. Prints one candidate per line; prints
// nothing (exit 0) rather than an error, since a completion must never spill
// messages into the operator's prompt.
#include <algorithm>
#include <iostream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "errors.hpp"
#include "loading/catalog.hpp"
#include "util/text.hpp"

namespace dihya::host {
namespace {

// Whether `word` may be offered. The completion script hands the words to
// `compgen -W`, which expands each one as the shell would: a parameter key or
// enum value `$(rm${IFS}-rf${IFS}~)` in a plugin's schema would run in the
// operator's shell at the next Tab. Only words of these characters are
// offered (no expansion, quoting, globbing, whitespace or control character).
bool is_completion_word(std::string_view word) {
  for (char c : word) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("_-.,:/@%+=").find(c) != std::string_view::npos;
    if (!safe) return false;
  }
  return true;
}

void offer(const std::string& word) {
  if (is_completion_word(word)) std::cout << word << "\n";
}

void plugin_names(const Settings& settings, const std::string& prefix) {
  PluginCatalog catalog(settings);
  for (const auto& e : catalog.list()) {
    if (!e.name.empty() && e.error.empty() && !e.shadowed && starts_with(e.name, prefix)) offer(e.name);
  }
}

// `key=` for each parameter; once the key is typed, its enum or boolean values.
void parameter_words(const Settings& settings, const std::string& plugin, const std::string& prefix) {
  PluginCatalog catalog(settings);
  const PluginFile file = catalog.find(plugin);
  const auto& props = file.parameters().value("properties", nlohmann::json::object());
  if (!props.is_object()) return;
  const auto eq = prefix.find('=');
  if (eq == std::string::npos) {
    for (const auto& [key, schema] : props.items()) {
      if (starts_with(key + "=", prefix)) offer(key + "=");
    }
    return;
  }
  const auto it = props.find(prefix.substr(0, eq));
  if (it == props.end() || !it->is_object()) return;
  std::vector<std::string> values;
  if (it->value("type", "") == "boolean") values = {"true", "false"};
  for (const auto& v : it->value("enum", nlohmann::json::array())) {
    if (v.is_string()) values.push_back(v.get<std::string>());
  }
  for (const auto& v : values) {
    const std::string word = prefix.substr(0, eq + 1) + v;
    if (starts_with(word, prefix)) offer(word);
  }
}

}  // namespace

int cmd_complete(const Args& args, const Settings& settings) {
  // `--help` after an action too (`complete plugins --help`): no plugin or
  // parameter is named so, so it is never a prefix worth completing.
  if (std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; })) {
    std::cout << "Usage: dihya-host complete plugins [PREFIX]\n"
                 "       dihya-host complete params <plugin> [PREFIX]\n\n"
                 "Completion candidates, one per line, for the bash completion script\n"
                 "(share/bash-completion/completions/dihya-host). Prints nothing on error.\n";
    return kExitOk;
  }
  try {
    if (args.size() >= 1 && args.size() <= 2 && args[0] == "plugins") {
      plugin_names(settings, args.size() == 2 ? args[1] : "");
    } else if (args.size() >= 2 && args.size() <= 3 && args[0] == "params") {
      parameter_words(settings, args[1], args.size() == 3 ? args[2] : "");
    }
  } catch (const std::exception&) {
    // Unknown plugin, unreadable file: no candidates.
  }
  return kExitOk;
}

}  // namespace dihya::host
