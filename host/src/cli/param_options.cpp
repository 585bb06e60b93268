// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/param_options.hpp"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "params/json_input.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

// The key=value items on descriptor `fd`, each ended by a NUL byte (a value
// may hold line breaks): what a program that starts runs passes instead of
// --param words, which `ps` shows every local user.
std::vector<std::string> params_from_fd(int fd) {
  std::string text;
  if (const std::error_code ec = read_all(fd, &text, kMaxInputBytes)) {
    throw usage_error(fmt::format("--params-fd {}: {}", fd,
                                  ec.value() == EFBIG ? "more than 16 MiB" : ec.message()));
  }
  std::vector<std::string> items;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = text.find('\0', start);
    if (end == std::string::npos) {
      throw usage_error(fmt::format("--params-fd {}: the last item is not ended by a NUL byte (a cut input?)", fd));
    }
    items.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

}  // namespace

void add_param_options(CommandSpec& spec) {
  spec.options.add_options()(
      "param,p", po::value<std::vector<std::string>>()->composing(),
      "parameter as key=value (repeatable); the value is coerced by the plugin's schema; "
      "@env:VAR and @file:PATH read secrets from the environment or a file; @@ escapes a leading @")(
      "params-file", po::value<std::string>(), "JSON or YAML file of parameters (--param wins)")(
      "params-fd", po::value<int>(),
      "read key=value parameters, each ended by a NUL byte, from this open descriptor, as if each "
      "were a --param given first (for programs that start runs: argv is visible to every local user)");
}

ResolvedParams resolve_params(const po::variables_map& vm, const PluginFile& plugin) {
  std::vector<std::string> kv;
  if (vm.count("params-fd")) {
    const int fd = vm["params-fd"].as<int>();
    if (fd < 0) throw usage_error(fmt::format("--params-fd {}: not a descriptor", fd));
    kv = params_from_fd(fd);
  }
  if (vm.count("param")) {
    const auto& given = vm["param"].as<std::vector<std::string>>();
    kv.insert(kv.end(), given.begin(), given.end());
  }
  std::optional<std::filesystem::path> file;
  if (vm.count("params-file")) file = vm["params-file"].as<std::string>();
  return build_params(plugin.parameters(), kv, file);
}

}  // namespace dihya::host
