// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/plugin_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <dihya/abi.hpp>
#include <fmt/format.h>

#include "errors.hpp"
#include "loading/elf_sections.hpp"
#include "params/json_input.hpp"
#include "util/json_text_of.hpp"
#include "util/printable.hpp"
#include "util/trusted_path.hpp"

namespace dihya::host {
namespace {

constexpr std::size_t kMaxMetadataBytes = 1 << 20;

HostError plugin_error(const std::filesystem::path& path, const std::string& what) {
  return load_error(fmt::format("{}: {}", path.string(), what));
}

struct AbiTag {
  int major = 0;
  int minor = 0;
  std::string stdlib;
};

// 1 to 4 digits at `at`, moved past.
std::optional<int> abi_number(std::string_view tag, std::size_t& at) {
  const std::size_t first = at;
  int value = 0;
  while (at < tag.size() && at - first < 4 && tag[at] >= '0' && tag[at] <= '9') value = value * 10 + (tag[at++] - '0');
  if (at == first) return std::nullopt;
  return value;
}

bool is_stdlib_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
         c == '_' || c == '.';
}

// Exactly what DIHYA_EXPORT_ABI_TAG writes, "dihya-abi 2.0
// libstdc++-cxx11abi1", and nothing more: a tag with a word after it (or a
// sign, a tab) was not made by the SDK and promises nothing.
std::optional<AbiTag> parse_abi_tag(std::string_view tag) {
  constexpr std::string_view kPrefix = "dihya-abi ";
  if (tag.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::size_t at = kPrefix.size();
  AbiTag parsed;
  const auto major = abi_number(tag, at);
  if (!major || at >= tag.size() || tag[at++] != '.') return std::nullopt;
  const auto minor = abi_number(tag, at);
  if (!minor || at >= tag.size() || tag[at++] != ' ') return std::nullopt;
  const std::string_view stdlib = tag.substr(at);
  if (stdlib.empty() || stdlib.size() > 127 || !std::all_of(stdlib.begin(), stdlib.end(), is_stdlib_char)) {
    return std::nullopt;
  }
  return AbiTag{*major, *minor, std::string(stdlib)};
}

}  // namespace

bool PluginFile::needs(const std::string& what) const {
  const auto it = metadata.find("needs");
  if (it == metadata.end() || !it->is_array()) return false;
  for (const auto& n : *it) {
    if (n.is_string() && n.get<std::string>() == what) return true;
  }
  return false;
}

const nlohmann::json& PluginFile::parameters() const {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const auto it = metadata.find("parameters");
  return it == metadata.end() ? kEmpty : *it;
}

std::string abi_tag_problem(const std::string& tag) {
  const std::optional<AbiTag> parsed = parse_abi_tag(tag);
  if (!parsed) {
    return fmt::format("not a dihya plugin (malformed ABI tag '{}': expected 'dihya-abi <major>.<minor> <C++ library ABI>')",
                       printable(tag, 100));
  }
  const auto& [major, minor, stdlib] = *parsed;
  if (major != kAbiMajor) {
    return fmt::format("built for SDK ABI {}.{}, this host speaks ABI {}.{}; rebuild the plugin against this SDK",
                       major, minor, kAbiMajor, kAbiMinor);
  }
  if (minor > kAbiMinor) {
    return fmt::format("built for SDK ABI {}.{}, newer than this host's ABI {}.{}; upgrade dihya-host or rebuild "
                       "the plugin against SDK ABI {}.{}",
                       major, minor, kAbiMajor, kAbiMinor, kAbiMajor, kAbiMinor);
  }
  if (stdlib != DIHYA_ABI_STDLIB) {
    return fmt::format("built with C++ library ABI '{}', this host uses '{}'; rebuild the plugin with the host's "
                       "compiler",
                       stdlib, DIHYA_ABI_STDLIB);
  }
  return "";
}

void check_abi_tag(const std::string& tag, const std::filesystem::path& path) {
  const std::string problem = abi_tag_problem(tag);
  if (!problem.empty()) throw plugin_error(path, problem);
}

void check_metadata_shape(const nlohmann::json& metadata, const std::filesystem::path& path) {
  if (!metadata.is_object()) throw plugin_error(path, "plugin.json is not a JSON object");
  const auto name = metadata.find("name");
  if (name == metadata.end() || !name->is_string() || !is_plugin_name(name->get<std::string>())) {
    throw plugin_error(path, "plugin.json: 'name' must match [a-z][a-z0-9_]{0,63}");
  }
  const auto version = metadata.find("version");
  if (version == metadata.end() || !version->is_string() || version->get<std::string>().empty()) {
    throw plugin_error(path, "plugin.json: 'version' must be a non-empty string");
  }
  const auto params = metadata.find("parameters");
  if (params != metadata.end() && !params->is_object()) {
    throw plugin_error(path, "plugin.json: 'parameters' must be a JSON Schema object");
  }
  // The keys every command reads (list, info, run) read as these types: one
  // plugin with "summary": 5 must be unusable, named in `list --all`, not an
  // internal error of every `list` and of each `run` that scans the path.
  const auto require_type = [&](const char* key, bool (nlohmann::json::*is_type)() const noexcept, const char* type) {
    if (!member_is(metadata, key, is_type)) throw plugin_error(path, fmt::format("plugin.json: '{}' must be {}", key, type));
  };
  for (const char* key : {"summary", "description", "security", "rollback", "concurrency"}) {
    require_type(key, &nlohmann::json::is_string, "a string");
  }
  for (const char* key : {"destructive", "reversible", "dry_run"}) {
    require_type(key, &nlohmann::json::is_boolean, "true or false");
  }
  for (const char* key : {"needs", "examples"}) require_type(key, &nlohmann::json::is_array, "an array");
  // Values every run applies: one the run would refuse (naming a flag the
  // operator never gave) or ignore (a timeout written "2" was no timeout at
  // all) makes the plugin unusable instead.
  const auto concurrency = metadata.find("concurrency");
  if (concurrency != metadata.end() && *concurrency != "allow" && *concurrency != "forbid" && *concurrency != "wait") {
    throw plugin_error(path, "plugin.json: 'concurrency' must be allow, forbid or wait");
  }
  const auto timeout = metadata.find("timeout_seconds");
  if (timeout != metadata.end() && (!timeout->is_number() || !valid_timeout_seconds(timeout->get<double>()))) {
    throw plugin_error(path, fmt::format("plugin.json: 'timeout_seconds' must be a number of seconds from 0.001 to {}",
                                         kMaxTimeoutSeconds));
  }
}

PluginFile read_plugin_file(const std::filesystem::path& path) {
  TrustedFile trusted = open_trusted_file(path, kExitLoad, "plugin file");
  // ElfSections' load errors say what is wrong; the file's name is added here.
  std::optional<ElfSections> elf;
  try {
    elf.emplace(ElfSections::open(trusted.fd.get()));
  } catch (const HostError& e) {
    throw plugin_error(path, e.what());
  }
  if (!elf->has(kAbiSection) && !elf->has(kMetadataSection)) {
    throw plugin_error(path, "not a dihya plugin (no embedded metadata; build it with dihya_add_plugin)");
  }
  PluginFile file;
  try {
    file.abi_tag = elf->read(kAbiSection, 256).c_str();  // the section holds a NUL-terminated string
  } catch (const HostError& e) {
    throw plugin_error(path, std::string("not a dihya plugin (") + e.what() + "; did you forget DIHYA_PLUGIN(...)?)");
  }
  check_abi_tag(file.abi_tag, path);

  std::string text;
  try {
    text = elf->read(kMetadataSection, kMaxMetadataBytes);
  } catch (const HostError& e) {
    throw plugin_error(path, e.what());
  }
  if (!text.empty() && text.back() == '\0') text.pop_back();
  // The same limits as operator input (depth, UTF-8): a plugin file is input too.
  try {
    file.metadata = parse_json_text(text, "embedded plugin.json");
  } catch (const HostError& e) {
    throw plugin_error(path, e.what());
  }
  check_metadata_shape(file.metadata, path);

  const struct stat& st = trusted.st;
  file.size = static_cast<std::uint64_t>(st.st_size);
  file.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  file.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  file.device = st.st_dev;
  file.inode = st.st_ino;
  file.path = path;
  file.real_path = std::move(trusted.real_path);
  file.fd = std::make_shared<const UniqueFd>(std::move(trusted.fd));
  return file;
}

bool PluginFile::destructive_with(const nlohmann::json& params) const {
  if (!destructive()) return false;
  const auto modes = metadata.find("read_only_modes");
  if (modes == metadata.end() || !modes->is_object()) return true;
  const auto param = modes->find("param");
  const auto values = modes->find("values");
  if (param == modes->end() || !param->is_string() || values == modes->end() || !values->is_array()) return true;
  const auto value = params.find(param->get<std::string>());
  if (value == params.end() || !value->is_string()) return true;
  return std::find(values->begin(), values->end(), *value) == values->end();
}

}  // namespace dihya::host
