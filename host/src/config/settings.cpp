// SPDX-License-Identifier: AGPL-3.0-or-later
#include "config/settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>

#include <dihya/duration.hpp>
#include <dihya/error.hpp>
#include <dihya/yaml_file.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "util/memory_size.hpp"
#include "util/printable.hpp"
#include "util/trusted_path.hpp"
#include "params/redaction.hpp"
#include "params/secret_reference.hpp"

namespace dihya::host {
namespace {

struct FileConfig {
  std::vector<std::filesystem::path> plugin_path;
  std::optional<std::string> database_url;
  std::optional<std::filesystem::path> state_dir;
  std::optional<std::filesystem::path> cache_dir;
  std::optional<std::filesystem::path> metrics_dir;
  std::optional<std::string> signatures;
  std::optional<std::string> sandbox;
  std::optional<std::filesystem::path> trusted_keys_dir;
  std::optional<bool> audit_syslog;
  std::optional<HistoryRetention> history_retention;
  std::optional<std::uint64_t> memory_max;  // 0: off
};

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::filesystem::path home() { return env("HOME").value_or("/"); }

std::filesystem::path xdg(const char* variable, const char* fallback_under_home) {
  // A relative value is not one (the XDG Base Directory specification: such a
  // value is invalid and ignored): it would name a config file or a state dir
  // under whatever directory the command happens to run in.
  if (auto v = env(variable); v && std::filesystem::path(*v).is_absolute()) return *v;
  return home() / fallback_under_home;
}

std::vector<std::filesystem::path> split_path_list(const std::string& list) {
  std::vector<std::filesystem::path> dirs;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ':')) {
    if (!item.empty()) dirs.emplace_back(item);
  }
  return dirs;
}

// A setting as the text it was written as: YAML types `3` and `true` as a
// number and a boolean, a setting reads text.
std::string scalar(const nlohmann::json& value, const std::filesystem::path& file, const char* key) {
  if (value.is_string()) {
    // Written as a YAML escape ("\0", "\e"): a NUL would cut a path in two
    // (the C calls stop there, std::filesystem does not), and no setting
    // holds a control character.
    const std::string& text = value.get_ref<const std::string&>();
    if (std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      throw usage_error(fmt::format("{}: '{}' holds a control character", file.string(), key));
    }
    return text;
  }
  if (value.is_boolean() || value.is_number()) return value.dump();
  throw usage_error(fmt::format("{}: '{}' must be a string", file.string(), key));
}

// A directory setting of a config file: read by processes started anywhere,
// it cannot be relative to their working directory.
std::filesystem::path directory(const nlohmann::json& value, const std::filesystem::path& file, const char* key) {
  const std::string text = scalar(value, file, key);
  if (!std::filesystem::path(text).is_absolute()) {
    throw usage_error(fmt::format("{}: '{}' must be an absolute path, not '{}'", file.string(), key, printable(text, 80)));
  }
  return text;
}

constexpr std::size_t kMaxConfigBytes = 1 << 20;

HistoryRetention read_retention(const nlohmann::json& value, const std::filesystem::path& file) {
  if (!value.is_object()) {
    throw usage_error(fmt::format("{}: 'history_retention' must be a mapping (max_age: 90d, max_runs: 100000)",
                                  file.string()));
  }
  HistoryRetention r;
  for (const auto& [key, item] : value.items()) {
    const std::string text = scalar(item, file, "history_retention");
    if (key == "max_age") {
      r.max_age = parse_age(text);
      if (!r.max_age) {
        throw usage_error(fmt::format("{}: history_retention.max_age '{}': expected a positive age like 90d, 12h, 2w",
                                      file.string(), text.substr(0, 40)));
      }
    } else if (key == "max_runs") {
      if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos) {
        throw usage_error(fmt::format("{}: history_retention.max_runs '{}': expected a whole number", file.string(),
                                      text.substr(0, 40)));
      }
      r.max_runs = static_cast<std::size_t>(std::stoull(text));
    } else {
      throw usage_error(fmt::format("{}: history_retention: unknown key '{}' (known: max_age, max_runs)",
                                    file.string(), printable(key, 40)));
    }
  }
  return r;
}

// Reads one YAML config file; a missing file is an empty config.
FileConfig read_config_file(const std::filesystem::path& file, bool must_exist) {
  static const std::set<std::string> kKeys{"plugin_path", "database_url", "state_dir", "cache_dir", "metrics_dir",
                                           "signatures", "sandbox", "trusted_keys_dir", "audit_syslog",
                                           "history_retention", "memory_max"};
  FileConfig config;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (must_exist) throw usage_error(fmt::format("{}: config file not found", file.string()));
    return config;
  }
  // A config file names the state dir and the plugin path: one that another
  // user could edit is as dangerous as a plugin they could replace.
  const TrustedFile trusted = open_trusted_file(file, kExitUsage, "config file");
  std::string text;
  if (read_all(trusted.fd.get(), &text, kMaxConfigBytes)) {
    throw usage_error(fmt::format("{}: config file unreadable or larger than {} bytes", file.string(), kMaxConfigBytes));
  }
  nlohmann::json root;
  try {
    root = dihya::load_yaml_text(text, file.string());  // the project's one YAML reader
  } catch (const dihya::Error& e) {
    throw usage_error(e.what());
  }
  if (root.is_null()) return config;
  if (!root.is_object()) throw usage_error(fmt::format("{}: config must be a mapping of settings", file.string()));
  for (const auto& [key, value] : root.items()) {
    if (kKeys.count(key) == 0) {
      throw usage_error(fmt::format("{}: unknown setting '{}' (known: plugin_path, database_url, state_dir, cache_dir, "
                                    "metrics_dir, signatures, sandbox, trusted_keys_dir, audit_syslog, history_retention, "
                                    "memory_max)",
                                    file.string(), printable(redact_connection_string(key), 80)));
    }
    if (key == "plugin_path") {
      if (value.is_string()) {
        config.plugin_path = split_path_list(scalar(value, file, "plugin_path"));
      } else if (value.is_array()) {
        for (const auto& dir : value) config.plugin_path.emplace_back(scalar(dir, file, "plugin_path"));
      } else {
        throw usage_error(fmt::format("{}: 'plugin_path' must be a list of directories", file.string()));
      }
    } else if (key == "database_url") {
      config.database_url = scalar(value, file, "database_url");
    } else if (key == "state_dir") {
      config.state_dir = directory(value, file, "state_dir");
    } else if (key == "metrics_dir") {
      config.metrics_dir = directory(value, file, "metrics_dir");
    } else if (key == "signatures") {
      config.signatures = scalar(value, file, "signatures");
      if (*config.signatures != "require" && *config.signatures != "if-present" && *config.signatures != "off") {
        throw usage_error(fmt::format("{}: signatures '{}': expected require, if-present or off", file.string(),
                                      *config.signatures));
      }
    } else if (key == "sandbox") {
      config.sandbox = scalar(value, file, "sandbox");
      if (*config.sandbox != "require" && *config.sandbox != "best-effort" && *config.sandbox != "off") {
        throw usage_error(fmt::format("{}: sandbox '{}': expected require, best-effort or off", file.string(),
                                      *config.sandbox));
      }
    } else if (key == "trusted_keys_dir") {
      config.trusted_keys_dir = directory(value, file, "trusted_keys_dir");
    } else if (key == "audit_syslog") {
      const std::string flag = scalar(value, file, "audit_syslog");
      if (flag != "true" && flag != "false") {
        throw usage_error(fmt::format("{}: 'audit_syslog' must be true or false", file.string()));
      }
      config.audit_syslog = flag == "true";
    } else if (key == "history_retention") {
      config.history_retention = read_retention(value, file);
    } else if (key == "memory_max") {
      const std::string size = scalar(value, file, "memory_max");
      config.memory_max = parse_memory_size(size);
      if (!config.memory_max) {
        throw usage_error(fmt::format("{}: memory_max '{}': {}", file.string(), printable(size, 40), kMemorySizeExpected));
      }
    } else {
      config.cache_dir = directory(value, file, "cache_dir");
    }
  }
  return config;
}

template <typename T>
void take_first(std::optional<T>& target, const std::optional<T>& candidate) {
  if (!target && candidate) target = candidate;
}

}  // namespace

std::filesystem::path install_prefix() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "/usr/local";
  return exe.parent_path().parent_path();
}

std::filesystem::path installed_plugin_dir() { return install_prefix() / DIHYA_INSTALL_LIBDIR / "dihya" / "plugins"; }

std::filesystem::path system_config_file() {
  if (auto v = env("DIHYA_SYSTEM_CONFIG")) return *v;
  const auto prefix = install_prefix();
  return (prefix == "/usr" ? std::filesystem::path("/etc") : prefix / "etc") / "dihya" / "config.yaml";
}

void prepare_state_dir(const Settings& settings) {
  prepare_private_dir(settings.state_dir, "state dir", ::geteuid() == 0 ? 0711 : 0700);
}

void check_state_dir(const Settings& settings) { check_private_dir_if_exists(settings.state_dir, "state dir"); }

std::vector<std::pair<std::string, std::string>> settings_environment(const Settings& settings) {
  std::string path;
  for (const auto& dir : settings.plugin_path) path += (path.empty() ? "" : ":") + dir.string();
  std::vector<std::pair<std::string, std::string>> env{
      {"DIHYA_PLUGIN_PATH", path}, {"DIHYA_STATE_DIR", settings.state_dir.string()}, {"DIHYA_CACHE_DIR", settings.cache_dir.string()}};
  if (settings.metrics_dir) env.emplace_back("DIHYA_METRICS_DIR", settings.metrics_dir->string());
  if (settings.user_config_given) env.emplace_back("DIHYA_CONFIG", settings.user_config_file.string());
  return env;
}

Settings load_settings(const GlobalFlags& flags) {
  const bool root = ::geteuid() == 0;
  const std::filesystem::path system_file = system_config_file();
  std::filesystem::path user_file = xdg("XDG_CONFIG_HOME", ".config") / "dihya" / "config.yaml";
  bool user_must_exist = false;
  if (flags.config_file) {
    user_file = *flags.config_file;
    user_must_exist = true;
  } else if (auto from_env = env("DIHYA_CONFIG")) {
    user_file = *from_env;
    user_must_exist = true;
  }
  const FileConfig user = read_config_file(user_file, user_must_exist);
  const FileConfig system = read_config_file(system_file, false);

  Settings s;
  s.user_config_file = user_file;
  s.user_config_given = user_must_exist;
  for (const auto& dir : flags.plugin_path) {
    for (auto& d : split_path_list(dir)) s.plugin_path.push_back(std::move(d));
  }
  if (auto v = env("DIHYA_PLUGIN_PATH")) {
    for (auto& d : split_path_list(*v)) s.plugin_path.push_back(std::move(d));
  }
  s.plugin_path.insert(s.plugin_path.end(), user.plugin_path.begin(), user.plugin_path.end());
  s.plugin_path.insert(s.plugin_path.end(), system.plugin_path.begin(), system.plugin_path.end());
  s.plugin_path.push_back(installed_plugin_dir());
  // Once each, first place kept: `schedule run` hands its whole path to the
  // job's host in DIHYA_PLUGIN_PATH, which added the configured and installed
  // dirs again (its errors listed them twice).
  std::set<std::filesystem::path> seen;
  s.plugin_path.erase(std::remove_if(s.plugin_path.begin(), s.plugin_path.end(),
                                     [&](const std::filesystem::path& dir) { return !seen.insert(dir).second; }),
                      s.plugin_path.end());

  s.database_url = flags.database_url;
  take_first(s.database_url, env("DIHYA_DATABASE_URL"));
  take_first(s.database_url, user.database_url);
  take_first(s.database_url, system.database_url);
  if (flags.database_url && !password_spellings(*flags.database_url).empty()) {
    std::cerr << "dihya-host: warning: the password in --database-url is visible to other users (ps, "
                 "/proc/<pid>/cmdline); give --database-url @env:VAR or @file:PATH, or DIHYA_DATABASE_URL\n";
  }
  if (s.database_url) s.database_url = resolve_secret_reference(*s.database_url, "database URL");

  std::optional<std::filesystem::path> state = flags.state_dir;
  if (!state) {
    if (auto v = env("DIHYA_STATE_DIR")) state = std::filesystem::path(*v);
  }
  take_first(state, user.state_dir);
  take_first(state, system.state_dir);
  s.state_dir = state.value_or(root ? std::filesystem::path("/var/lib/dihya")
                                    : xdg("XDG_STATE_HOME", ".local/state") / "dihya");

  std::optional<std::filesystem::path> cache;
  if (auto v = env("DIHYA_CACHE_DIR")) cache = std::filesystem::path(*v);
  take_first(cache, user.cache_dir);
  take_first(cache, system.cache_dir);
  s.cache_dir = cache.value_or(root ? std::filesystem::path("/var/cache/dihya")
                                    : xdg("XDG_CACHE_HOME", ".cache") / "dihya");

  std::optional<std::filesystem::path> metrics;
  if (auto v = env("DIHYA_METRICS_DIR")) metrics = std::filesystem::path(*v);
  take_first(metrics, user.metrics_dir);
  take_first(metrics, system.metrics_dir);
  s.metrics_dir = metrics;
  // The system config decides over the user's: a user must not switch off
  // what the operator requires, nor bring keys of their own.
  if (system.signatures) {
    s.signatures = *system.signatures;
  } else if (user.signatures) {
    s.signatures = *user.signatures;
  }
  // The same for the sandbox: an operator's require is not the user's to lift.
  if (system.sandbox) {
    s.sandbox = *system.sandbox;
  } else if (user.sandbox) {
    s.sandbox = *user.sandbox;
  }
  s.trusted_keys_dir = system.trusted_keys_dir.value_or(
      user.trusted_keys_dir.value_or(system_file.parent_path() / "trusted-keys"));
  s.audit_syslog = user.audit_syslog.value_or(system.audit_syslog.value_or(false));
  s.log_style = flags.log_style;
  s.history_retention = user.history_retention.value_or(system.history_retention.value_or(HistoryRetention{}));
  // The operator's limit is a ceiling: a user may ask for less, not more.
  s.memory_ceiling = system.memory_max.value_or(0);
  s.memory_max = user.memory_max ? user.memory_max : system.memory_max;
  if (s.memory_ceiling != 0 && (*s.memory_max == 0 || *s.memory_max > s.memory_ceiling)) s.memory_max = s.memory_ceiling;
  return s;
}

std::optional<std::chrono::milliseconds> parse_age(const std::string& text) {
  const auto age = dihya::parse_duration(text);
  if (!age || age->count() <= 0) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*age);
}

}  // namespace dihya::host
