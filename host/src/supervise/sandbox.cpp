// SPDX-License-Identifier: AGPL-3.0-or-later
#include "supervise/sandbox.hpp"

#include <fcntl.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>

#include <fmt/format.h>

namespace dihya::host {
namespace {

// Debian 12's <linux/landlock.h> stops at ABI 2: the later constants, as the
// kernel defines them (include/uapi/linux/landlock.h).
constexpr std::uint64_t kFsExecute = 1ULL << 0;
constexpr std::uint64_t kFsWriteFile = 1ULL << 1;
constexpr std::uint64_t kFsReadFile = 1ULL << 2;
constexpr std::uint64_t kFsReadDir = 1ULL << 3;
constexpr std::uint64_t kFsRemoveDir = 1ULL << 4;
constexpr std::uint64_t kFsRemoveFile = 1ULL << 5;
constexpr std::uint64_t kFsMakeChar = 1ULL << 6;
constexpr std::uint64_t kFsMakeDir = 1ULL << 7;
constexpr std::uint64_t kFsMakeReg = 1ULL << 8;
constexpr std::uint64_t kFsMakeSock = 1ULL << 9;
constexpr std::uint64_t kFsMakeFifo = 1ULL << 10;
constexpr std::uint64_t kFsMakeBlock = 1ULL << 11;
constexpr std::uint64_t kFsMakeSym = 1ULL << 12;
constexpr std::uint64_t kFsRefer = 1ULL << 13;     // ABI 2
constexpr std::uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr std::uint64_t kFsIoctlDev = 1ULL << 15;  // ABI 5
constexpr std::uint64_t kNetBindTcp = 1ULL << 0;     // ABI 4
constexpr std::uint64_t kNetConnectTcp = 1ULL << 1;  // ABI 4
constexpr std::uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ULL << 1;        // ABI 6
constexpr int kRuleNetPort = 2;
constexpr std::uint64_t kFileOnlyRights = kFsExecute | kFsWriteFile | kFsReadFile | kFsTruncate | kFsIoctlDev;

struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;
  std::uint64_t scoped;
};

struct NetPortAttr {
  std::uint64_t allowed_access;
  std::uint64_t port;
};

std::uint64_t fs_rights_of(int abi) {
  std::uint64_t all = (kFsMakeSym << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) all |= kFsRefer;
  if (abi >= 3) all |= kFsTruncate;
  if (abi >= 5) all |= kFsIoctlDev;
  return all;
}

std::uint64_t rights_for(PathAccess access) {
  switch (access) {
    case PathAccess::read: return kFsReadFile | kFsReadDir;
    case PathAccess::exec: return kFsReadFile | kFsReadDir | kFsExecute;
    case PathAccess::make_dir: return kFsReadDir | kFsMakeDir;
    case PathAccess::write:
      return kFsReadFile | kFsReadDir | kFsWriteFile | kFsRemoveDir | kFsRemoveFile | kFsMakeDir | kFsMakeReg |
             kFsMakeSock | kFsMakeFifo | kFsRefer | kFsTruncate;
  }
  return 0;
}

const char* access_name(PathAccess access) {
  switch (access) {
    case PathAccess::read: return "read";
    case PathAccess::write: return "write";
    case PathAccess::exec: return "exec";
    case PathAccess::make_dir: return "make_dir";
  }
  return "read";
}

// What the C and C++ runtimes of every plugin read: the loader's cache and the
// libraries, time zones, the CPU count; nothing else of /etc.
const char* const kRuntimeRead[] = {
    "/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/local/lib",
    "/usr/share/zoneinfo", "/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf",
    "/sys/devices/system/cpu", "/dev/urandom", "/dev/random", "/dev/zero",
};
// ELF interpreters (one exists per architecture).
const char* const kDynamicLoaders[] = {"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1",
                                       "/lib/ld-linux-armhf.so.3", "/lib/ld-linux.so.2"};
// Name resolution (getaddrinfo, also for "localhost").
const char* const kResolverFiles[] = {"/etc/hosts", "/etc/resolv.conf", "/etc/host.conf", "/etc/gai.conf",
                                      "/etc/nsswitch.conf"};
// libpq: the user name of the process, and the TLS configuration it may read.
const char* const kDatabaseRead[] = {"/etc/passwd", "/etc/group", "/etc/ssl", "/usr/share/ca-certificates",
                                     "/etc/postgresql-common"};

bool is_string_array(const nlohmann::json& v) {
  if (!v.is_array()) return false;
  return std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) { return e.is_string(); });
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// "param:NAME", or "param:NAME#key[].field" for paths listed in the JSON or
// YAML file the parameter names (cleanup's policy lists the log dirs it prunes).
bool is_param_ref(const std::string& s) {
  if (s.rfind("param:", 0) != 0 || s.size() == 6 || s.size() > 6 + 200) return false;
  const auto hash = s.find('#');
  const std::string name = s.substr(6, hash == std::string::npos ? std::string::npos : hash - 6);
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) return false;
  if (hash == std::string::npos) return true;
  const std::string pointer = s.substr(hash + 1);
  std::size_t start = 0;
  while (true) {
    const auto dot = pointer.find('.', start);
    std::string key = pointer.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.size() > 2 && key.compare(key.size() - 2, 2, "[]") == 0) key.resize(key.size() - 2);
    if (key.empty() || !std::all_of(key.begin(), key.end(), is_name_char)) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

// The strings at `pointer` ("logs[].dir") in `doc`.
void collect_at(const nlohmann::json& doc, const std::string& pointer, std::vector<std::string>* out) {
  if (pointer.empty()) {
    if (doc.is_string()) out->push_back(doc.get<std::string>());
    return;
  }
  const auto dot = pointer.find('.');
  std::string key = pointer.substr(0, dot);
  const std::string rest = dot == std::string::npos ? "" : pointer.substr(dot + 1);
  const bool each = key.size() > 2 && key.compare(key.size() - 2, 2, "[]") == 0;
  if (each) key.resize(key.size() - 2);
  if (!doc.is_object()) return;
  const auto it = doc.find(key);
  if (it == doc.end()) return;
  if (!each) return collect_at(*it, rest, out);
  if (!it->is_array()) return;
  for (const auto& item : *it) collect_at(item, rest, out);
}

bool is_clean_absolute(const std::string& s) {
  if (s.empty() || s[0] != '/' || s.size() > 4096 || s.find('\0') != std::string::npos) return false;
  for (const auto& part : std::filesystem::path(s)) {
    if (part == "..") return false;
  }
  return true;
}

std::string check_paths(const nlohmann::json& v, const char* key, bool allow_host, std::vector<std::string>* out,
                        bool* runs_host) {
  if (!is_string_array(v)) return fmt::format("capabilities.{}: expected an array of strings", key);
  for (const auto& e : v) {
    const std::string s = e.get<std::string>();
    if (allow_host && s == "dihya-host") {
      *runs_host = true;
    } else if (!is_param_ref(s) && !is_clean_absolute(s)) {
      return fmt::format("capabilities.{}: '{}' is neither an absolute path without '..' nor param:NAME", key,
                         s.substr(0, 200));
    }
    out->push_back(s);
  }
  return "";
}

std::optional<std::uint16_t> default_port(const std::string& scheme) {
  if (scheme == "smtp") return 25;
  if (scheme == "smtps") return 465;
  if (scheme == "submission") return 587;
  if (scheme == "postgresql" || scheme == "postgres") return 5432;
  if (scheme == "http") return 80;
  if (scheme == "https") return 443;
  return std::nullopt;
}

std::optional<std::uint16_t> port_number(const std::string& digits) {
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  const long n = std::strtol(digits.c_str(), nullptr, 10);
  if (n < 1 || n > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(n);
}

// A port from a parameter value: 25, "25", or a URL "smtp://host:2525" (its
// scheme's port when it names none).
std::optional<std::uint16_t> port_of_value(const nlohmann::json& value) {
  if (value.is_number_integer()) {
    const auto n = value.get<long long>();
    if (n < 1 || n > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(n);
  }
  if (!value.is_string()) return std::nullopt;
  const std::string s = value.get<std::string>();
  if (auto n = port_number(s)) return n;
  const auto scheme_end = s.find("://");
  if (scheme_end == std::string::npos) return std::nullopt;
  std::string scheme = s.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string authority = s.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  authority = authority.substr(authority.rfind('@') == std::string::npos ? 0 : authority.rfind('@') + 1);
  const auto bracket = authority.rfind(']');
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    return port_number(authority.substr(colon + 1));
  }
  return default_port(scheme);
}

std::string absolute_path(const nlohmann::json& value) {
  if (!value.is_string()) return "";
  const std::string text = value.get<std::string>();
  if (text.empty() || text.find('\0') != std::string::npos) return "";
  std::error_code ec;
  // A relative parameter is relative to the host's working directory, as the plugin sees it.
  const auto absolute = std::filesystem::absolute(text, ec);
  return ec ? "" : absolute.lexically_normal().string();
}

// The paths a "param:NAME" entry names: the parameter's string, each string
// of an array, or each {"path": ...} of an array (send_test_mail's attachments).
std::vector<std::string> param_paths(const nlohmann::json& params, const std::string& entry) {
  const auto hash = entry.find('#');
  const auto it = params.find(entry.substr(6, hash == std::string::npos ? std::string::npos : hash - 6));
  std::vector<std::string> out;
  if (it == params.end()) return out;
  const auto add = [&](const nlohmann::json& v) {
    std::string p = absolute_path(v.is_object() && v.contains("path") ? v["path"] : v);
    if (!p.empty()) out.push_back(std::move(p));
  };
  if (it->is_array()) {
    for (const auto& v : *it) add(v);
  } else {
    add(*it);
  }
  return out;
}

// The nearest existing directory at or above `path`.
std::string existing_ancestor(std::string path) {
  std::filesystem::path p(path);
  std::error_code ec;
  while (!p.empty() && p != p.root_path() && !std::filesystem::exists(p, ec)) p = p.parent_path();
  return p.empty() ? "/" : p.string();
}

struct DatabaseEndpoint {
  std::string socket_dir;          // Unix socket
  std::optional<std::uint16_t> port;  // TCP
};

std::string percent_decoded(const std::string& v) {
  std::string out;  // %2F in socket paths
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
      out += static_cast<char>(std::strtol(v.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

std::string url_query_value(const std::string& url, const std::string& key) {
  const auto q = url.find('?');
  if (q == std::string::npos) return "";
  std::size_t pos = q + 1;
  while (pos < url.size()) {
    const auto amp = url.find('&', pos);
    const std::string item = url.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (item.rfind(key + "=", 0) == 0) return percent_decoded(item.substr(key.size() + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

DatabaseEndpoint database_endpoint(const std::string& url) {
  DatabaseEndpoint endpoint;
  const bool is_url = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  std::string host;
  std::optional<std::uint16_t> port;
  if (is_url) {
    host = url_query_value(url, "host");
    if (auto p = port_number(url_query_value(url, "port"))) port = p;
    std::string authority = url.substr(url.find("://") + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    authority = authority.substr(authority.rfind('@') == std::string::npos ? 0 : authority.rfind('@') + 1);
    const auto colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']') == std::string::npos) {
      if (!port) port = port_number(authority.substr(colon + 1));
      authority = authority.substr(0, colon);
    }
    if (host.empty()) host = percent_decoded(authority);
  } else {
    // key=value form
    const auto find = [&](const std::string& key) -> std::string {
      const auto at = url.find(key + "=");
      if (at == std::string::npos || (at > 0 && url[at - 1] != ' ')) return "";
      const auto end = url.find(' ', at);
      return url.substr(at + key.size() + 1, end == std::string::npos ? std::string::npos : end - at - key.size() - 1);
    };
    host = find("host");
    port = port_number(find("port"));
  }
  if (host.empty() || host[0] == '/') {
    endpoint.socket_dir = host.empty() ? "/var/run/postgresql" : host;
  } else {
    endpoint.port = port.value_or(5432);
  }
  return endpoint;
}

void add_rule(SandboxPlan& plan, const std::string& path, PathAccess access, const std::string& reason) {
  for (auto& r : plan.rules) {
    if (r.path == path && r.access == access) return;
  }
  plan.rules.push_back({path, access, reason});
}

void add_port(SandboxPlan& plan, std::uint16_t port) {
  if (std::find(plan.connect_ports.begin(), plan.connect_ports.end(), port) == plan.connect_ports.end()) {
    plan.connect_ports.push_back(port);
  }
}

void add_path_rule(SandboxPlan& plan, std::string path, PathAccess access, const char* key, const std::string& entry,
                   bool rollback);

void add_declared_paths(SandboxPlan& plan, const std::vector<std::string>& entries, PathAccess access,
                        const char* key, const SandboxInputs& in) {
  const nlohmann::json& params = in.params;
  for (const auto& entry : entries) {
    if (entry == "dihya-host") continue;
    std::vector<std::string> paths{entry};
    if (entry.find('#') != std::string::npos) {
      // Paths listed in a file the run names: read by the host, never by the plugin's code.
      const std::vector<std::string> files = param_paths(params, entry);
      const std::string file = files.empty() ? "" : files.front();
      if (file.empty()) {
        plan.notes.push_back(fmt::format("{} {}: unset, no rule", key, entry));
        continue;
      }
      std::vector<std::string> listed;
      std::string error;
      if (in.read_document) {
        try {
          collect_at(in.read_document(file), entry.substr(entry.find('#') + 1), &listed);
        } catch (const std::exception& e) {
          error = e.what();
        }
      }
      if (!error.empty()) plan.notes.push_back(fmt::format("{} {}: {}, no rule", key, entry, error.substr(0, 200)));
      std::vector<std::string> resolved;
      for (const auto& p : listed) {
        if (is_clean_absolute(p)) {
          resolved.push_back(p);
        } else {
          plan.notes.push_back(fmt::format("{} {}: '{}' is not an absolute path, no rule", key, entry, p.substr(0, 200)));
        }
      }
      add_declared_paths(plan, resolved, access, key, in);
      continue;
    }
    if (is_param_ref(entry)) {
      paths = param_paths(params, entry);
      if (paths.empty()) {
        plan.notes.push_back(fmt::format("{} {}: unset, no rule", key, entry));
        continue;
      }
    }
    for (std::string path : paths) add_path_rule(plan, path, access, key, entry, in.rollback);
  }
}

void add_path_rule(SandboxPlan& plan, std::string path, PathAccess access, const char* key, const std::string& entry,
                   bool rollback) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (access != PathAccess::write) {
      plan.notes.push_back(fmt::format("{} {}: {} does not exist, no rule", key, entry, path));
      return;
    }
    // A file or directory the plugin creates: the grant goes to the nearest
    // directory that exists, where it will be made.
    const std::string parent = existing_ancestor(path);
    plan.notes.push_back(fmt::format("{} {}: {} does not exist yet, granted on {}", key, entry, path, parent));
    path = parent;
  } else if (access == PathAccess::write && rollback && path != "/") {
    // A rollback may have to remove what the run made, the declared path itself included.
    const std::string parent = std::filesystem::path(path).parent_path().string();
    plan.notes.push_back(fmt::format("{} {}: rollback, granted on {}", key, entry, parent));
    path = parent;
  } else if (access == PathAccess::write && !std::filesystem::is_directory(path, ec)) {
    // An existing file is replaced the safe way: a temporary file beside it, renamed over it.
    const std::string parent = std::filesystem::path(path).parent_path().string();
    plan.notes.push_back(fmt::format("{} {}: {} is a file, granted on {}", key, entry, path, parent));
    path = parent;
  }
  add_rule(plan, path, access, fmt::format("{} {}", key, entry));
}

}  // namespace

const char* sandbox_mode_name(SandboxMode mode) {
  switch (mode) {
    case SandboxMode::require: return "require";
    case SandboxMode::best_effort: return "best-effort";
    case SandboxMode::off: return "off";
  }
  return "require";
}

bool parse_sandbox_mode(const std::string& text, SandboxMode* mode) {
  if (text == "require") {
    *mode = SandboxMode::require;
  } else if (text == "best-effort") {
    *mode = SandboxMode::best_effort;
  } else if (text == "off") {
    *mode = SandboxMode::off;
  } else {
    return false;
  }
  return true;
}

std::string parse_capabilities(const nlohmann::json& metadata, Capabilities* out) {
  *out = Capabilities{};
  const auto it = metadata.find("capabilities");
  if (it == metadata.end()) return "";
  if (!it->is_object()) return "capabilities: expected an object";
  for (const auto& [key, value] : it->items()) {
    std::string problem;
    if (key == "read") {
      problem = check_paths(value, "read", false, &out->read, &out->runs_host);
    } else if (key == "write") {
      problem = check_paths(value, "write", false, &out->write, &out->runs_host);
    } else if (key == "exec") {
      problem = check_paths(value, "exec", true, &out->exec, &out->runs_host);
    } else if (key == "connect") {
      if (!value.is_array()) return "capabilities.connect: expected an array of ports or param:NAME";
      for (const auto& e : value) {
        if (e.is_number_integer() && e.get<long long>() >= 1 && e.get<long long>() <= 65535) {
          out->connect.push_back(std::to_string(e.get<long long>()));
        } else if (e.is_string() && is_param_ref(e.get<std::string>()) && e.get<std::string>().find('#') == std::string::npos) {
          out->connect.push_back(e.get<std::string>());
        } else {
          return fmt::format("capabilities.connect: '{}' is neither a port 1-65535 nor param:NAME",
                             e.dump().substr(0, 200));
        }
      }
    } else if (key == "database" || key == "dns") {
      if (!value.is_boolean()) return fmt::format("capabilities.{}: expected true or false", key);
      (key == "database" ? out->database : out->dns) = value.get<bool>();
    } else {
      return fmt::format("capabilities: unknown key '{}' (known: read, write, exec, connect, database, dns)",
                         key.substr(0, 100));
    }
    if (!problem.empty()) return problem;
  }
  return "";
}

nlohmann::json capabilities_json(const Capabilities& caps) {
  nlohmann::json j = nlohmann::json::object();
  if (!caps.read.empty()) j["read"] = caps.read;
  if (!caps.write.empty()) j["write"] = caps.write;
  if (!caps.exec.empty()) j["exec"] = caps.exec;
  if (!caps.connect.empty()) {
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& p : caps.connect) {
      if (auto n = port_number(p)) {
        ports.push_back(*n);
      } else {
        ports.push_back(p);
      }
    }
    j["connect"] = ports;
  }
  if (caps.database) j["database"] = true;
  if (caps.dns) j["dns"] = true;
  return j;
}

int landlock_abi() {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

SandboxMode default_sandbox_mode(int abi) { return abi >= 1 ? SandboxMode::require : SandboxMode::best_effort; }

SandboxPlan build_sandbox_plan(const Capabilities& caps, const SandboxInputs& in) {
  SandboxPlan plan;
  plan.mode = in.mode;
  plan.abi = in.abi;
  if (in.mode == SandboxMode::off) {
    plan.landlock = false;
    plan.seccomp = false;
    plan.ip_sockets = true;
    return plan;
  }
  for (const char* path : kRuntimeRead) add_rule(plan, path, PathAccess::read, "runtime");
  add_rule(plan, "/dev/null", PathAccess::write, "runtime");
  add_rule(plan, "/proc/self", PathAccess::read, "runtime");
  if (!in.work_dir.empty()) add_rule(plan, in.work_dir, PathAccess::write, "work dir");
  if (!in.output_dir.empty()) add_rule(plan, in.output_dir, PathAccess::write, "output dir");
  add_declared_paths(plan, caps.read, PathAccess::read, "read", in);
  add_declared_paths(plan, caps.write, PathAccess::write, "write", in);
  add_declared_paths(plan, caps.exec, PathAccess::exec, "exec", in);
  if (std::any_of(plan.rules.begin(), plan.rules.end(), [](const PathRule& r) { return r.access == PathAccess::exec; })) {
    // The kernel opens a program's ELF interpreter for execution too.
    std::error_code ec;
    for (const char* loader : kDynamicLoaders) {
      if (std::filesystem::exists(loader, ec)) add_rule(plan, loader, PathAccess::exec, "exec: the dynamic loader");
    }
  }
  bool needs_tcp = false;
  for (const auto& entry : caps.connect) {
    if (entry.find('#') != std::string::npos) continue;  // refused by parse_capabilities
    std::optional<std::uint16_t> port = port_number(entry);
    if (!port) {
      const auto it = in.params.find(entry.substr(6));
      if (it == in.params.end()) {
        plan.notes.push_back(fmt::format("connect {}: unset, no rule", entry));
        continue;
      }
      port = port_of_value(*it);
      if (!port) {
        plan.notes.push_back(fmt::format("connect {}: no port in its value, no rule", entry));
        continue;
      }
    }
    add_port(plan, *port);
    needs_tcp = true;
  }
  if (caps.dns) {
    for (const char* path : kResolverFiles) add_rule(plan, path, PathAccess::read, "dns");
    add_port(plan, 53);
    plan.ip_sockets = true;
  }
  if (caps.database && !in.database_url.empty()) {
    for (const char* path : kDatabaseRead) add_rule(plan, path, PathAccess::read, "database");
    const DatabaseEndpoint db = database_endpoint(in.database_url);
    if (db.port) {
      for (const char* path : kResolverFiles) add_rule(plan, path, PathAccess::read, "database");
      add_port(plan, *db.port);
      needs_tcp = true;
    } else {
      // Landlock does not mediate connect() on a pathname socket: the rule
      // only lets libpq look the directory up.
      add_rule(plan, db.socket_dir, PathAccess::read, "database socket dir");
    }
  }
  if (needs_tcp) plan.ip_sockets = true;
  if (caps.runs_host) {
    // The scheduler's jobs are whole `dihya-host run` processes that need the
    // state dir, the plugin dirs and whatever their plugins declare; a
    // Landlock domain is inherited and only ever narrows, so the scheduler
    // itself gets none. Each job's plugin child builds its own sandbox.
    plan.landlock = false;
    plan.ip_sockets = true;
    plan.rules.clear();
    plan.connect_ports.clear();
    plan.notes.push_back("exec dihya-host: no Landlock for the scheduler itself; each job's plugin is sandboxed");
    if (!in.host_binary.empty()) add_rule(plan, in.host_binary, PathAccess::exec, "exec dihya-host");
  }
  std::sort(plan.connect_ports.begin(), plan.connect_ports.end());
  // What the kernel cannot enforce. A test may pretend the kernel is older:
  // that only ever adds a refusal, the sandbox applied stays the real one.
  int abi = in.abi;
  if (const char* simulated = std::getenv("DIHYA_TEST_LANDLOCK_ABI")) abi = std::min(abi, std::atoi(simulated));
  if (plan.landlock && abi < 1) {
    plan.refusal = "the kernel has no Landlock (ABI 0): files cannot be confined";
  } else if (plan.landlock && !plan.connect_ports.empty() && abi < 4) {
    plan.refusal = fmt::format("the declared TCP ports need Landlock ABI 4 (Linux 6.7), the kernel has ABI {}", abi);
  }
  if (!plan.refusal.empty() && in.mode == SandboxMode::best_effort) {
    plan.notes.push_back("best-effort: " + plan.refusal);
    plan.refusal.clear();
  }
  if (plan.landlock && in.abi >= 1 && in.abi < 6) {
    plan.notes.push_back(fmt::format("Landlock ABI {}: signals and abstract sockets are not scoped (seccomp still "
                                     "stops signals to the host)",
                                     in.abi));
  }
  return plan;
}

nlohmann::json sandbox_plan_json(const SandboxPlan& plan) {
  nlohmann::json rules = nlohmann::json::array();
  if (plan.landlock && plan.abi >= 1) {
    for (const auto& r : plan.rules) rules.push_back({{"path", r.path}, {"access", access_name(r.access)}, {"why", r.reason}});
  }
  return {{"summary", sandbox_plan_line(plan)},
          {"mode", sandbox_mode_name(plan.mode)},
          {"landlock_abi", plan.landlock ? plan.abi : 0},
          {"rules", rules},
          {"connect_ports", plan.landlock && plan.abi >= 4 ? nlohmann::json(plan.connect_ports) : nlohmann::json::array()},
          {"ip_sockets", plan.ip_sockets},
          {"seccomp", plan.seccomp},
          {"notes", plan.notes}};
}

std::string sandbox_plan_line(const SandboxPlan& plan) {
  if (plan.mode == SandboxMode::off) return "off (not confined)";
  std::string line = sandbox_mode_name(plan.mode);
  if (plan.landlock && plan.abi >= 1) {
    line += fmt::format(", Landlock ABI {}, {} path rules", plan.abi, plan.rules.size());
    if (plan.abi >= 4) {
      line += plan.connect_ports.empty() ? ", no TCP" : fmt::format(", TCP ports {}", fmt::join(plan.connect_ports, ","));
    }
  } else {
    line += ", no Landlock";
  }
  line += plan.ip_sockets ? "" : ", no IP sockets";
  line += plan.seccomp ? ", seccomp on" : ", seccomp off";
  return line;
}

// ---- applying, in the child -------------------------------------------------

namespace {

std::string apply_landlock(const SandboxPlan& plan, int plugin_fd) {
  RulesetAttr attr{};
  attr.handled_access_fs = fs_rights_of(plan.abi);
  if (plan.abi >= 4) attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
  if (plan.abi >= 6) attr.scoped = kScopeAbstractUnix | kScopeSignal;
  const std::size_t size = plan.abi >= 6 ? sizeof attr : plan.abi >= 4 ? 2 * sizeof(std::uint64_t) : sizeof(std::uint64_t);
  const int ruleset = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (ruleset < 0) return fmt::format("landlock_create_ruleset: {}", std::strerror(errno));
  std::string error;
  const auto add_path = [&](int fd, std::uint64_t rights) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) rights &= kFileOnlyRights;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) rights |= kFsIoctlDev;
    landlock_path_beneath_attr rule{};
    rule.allowed_access = rights & attr.handled_access_fs;
    rule.parent_fd = fd;
    if (::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0 && error.empty()) {
      error = fmt::format("landlock_add_rule: {}", std::strerror(errno));
    }
  };
  for (const auto& r : plan.rules) {
    const int fd = ::open(r.path.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) continue;  // a runtime dir this system lacks (/lib32)
    add_path(fd, rights_for(r.access));
    ::close(fd);
  }
  if (plugin_fd >= 0) add_path(plugin_fd, kFsReadFile);
  if (plan.abi >= 4) {
    for (std::uint16_t port : plan.connect_ports) {
      NetPortAttr net{kNetConnectTcp, port};
      if (::syscall(SYS_landlock_add_rule, ruleset, kRuleNetPort, &net, 0) != 0 && error.empty()) {
        error = fmt::format("landlock_add_rule (port {}): {}", port, std::strerror(errno));
      }
    }
  }
  if (error.empty() && ::syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
    error = fmt::format("landlock_restrict_self: {}", std::strerror(errno));
  }
  ::close(ruleset);
  return error;
}

std::string apply_seccomp(const SandboxPlan& plan, int host_pid) {
  scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return "seccomp_init failed";
  int rc = 0;
  const auto rule = [&](std::uint32_t action, int nr, std::initializer_list<scmp_arg_cmp> args) {
    const int r = ::seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.begin());
    if (r != 0 && rc == 0) rc = r;
  };
  const std::uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  for (int nr : {SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev), SCMP_SYS(setns),
                 SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register), SCMP_SYS(bpf),
                 SCMP_SYS(perf_event_open), SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
                 SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(kexec_load),
                 SCMP_SYS(kexec_file_load), SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root),
                 SCMP_SYS(move_mount), SCMP_SYS(fsopen), SCMP_SYS(fsconfig), SCMP_SYS(fsmount), SCMP_SYS(fspick),
                 SCMP_SYS(open_tree), SCMP_SYS(mount_setattr), SCMP_SYS(chroot), SCMP_SYS(swapon),
                 SCMP_SYS(swapoff), SCMP_SYS(reboot), SCMP_SYS(open_by_handle_at), SCMP_SYS(userfaultfd),
                 SCMP_SYS(acct), SCMP_SYS(quotactl), SCMP_SYS(syslog), SCMP_SYS(settimeofday),
                 SCMP_SYS(clock_settime), SCMP_SYS(clock_adjtime), SCMP_SYS(adjtimex), SCMP_SYS(pidfd_getfd),
                 SCMP_SYS(pidfd_send_signal), SCMP_SYS(rt_sigqueueinfo), SCMP_SYS(rt_tgsigqueueinfo),
                 SCMP_SYS(uselib), SCMP_SYS(vhangup)}) {
    rule(deny, nr, {});
  }
  // Namespaces: clone and unshare with any CLONE_NEW* flag; clone3 hides its
  // flags in memory seccomp cannot read, so it reports ENOSYS and libc falls
  // back to clone.
  rule(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), {});
  for (std::uint64_t flag : {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                             CLONE_NEWNET}) {
    rule(deny, SCMP_SYS(clone), {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
    rule(deny, SCMP_SYS(unshare), {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
  }
  rule(deny, SCMP_SYS(unshare), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0x80, 0x80)});  // CLONE_NEWTIME
  // Signals to the host (Landlock scopes them from ABI 6; this holds on every
  // kernel): its pid, every process (-1), its process group.
  const std::uint32_t host = static_cast<std::uint32_t>(host_pid);
  const std::uint32_t host_group = static_cast<std::uint32_t>(-::getpgid(host_pid));
  for (std::uint32_t target : {host, 0xffffffffU, host_group}) {
    rule(deny, SCMP_SYS(kill), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, target)});
  }
  rule(deny, SCMP_SYS(tgkill), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
  rule(deny, SCMP_SYS(tkill), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
  rule(deny, SCMP_SYS(pidfd_open), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
  // Socket families: UNIX, and IPv4/IPv6 only for a plugin that declared
  // network; never raw or packet sockets. Anything above AF_INET6 (or with
  // high bits set) is refused with one comparison.
  const std::uint32_t no_family = SCMP_ACT_ERRNO(EAFNOSUPPORT);
  rule(no_family, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_GT, AF_INET6)});
  for (int family = 0; family < AF_INET6; ++family) {
    if (family == AF_UNIX || (family == AF_INET && plan.ip_sockets)) continue;
    rule(no_family, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_EQ, static_cast<std::uint64_t>(family))});
  }
  if (!plan.ip_sockets) rule(no_family, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_EQ, AF_INET6)});
  for (std::uint64_t type : {std::uint64_t{SOCK_RAW}, std::uint64_t{SOCK_PACKET}}) {
    rule(deny, SCMP_SYS(socket), {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type)});
  }
  if (rc == 0) rc = ::seccomp_load(ctx);
  ::seccomp_release(ctx);
  return rc == 0 ? "" : fmt::format("seccomp: {}", std::strerror(-rc));
}

}  // namespace

std::string apply_sandbox(const SandboxPlan& plan, int plugin_fd, int host_pid) {
  if (plan.mode == SandboxMode::off) return "";
  // Before anything else: no setuid program the plugin runs gains rights
  // (and both Landlock and seccomp require it of an unprivileged process).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fmt::format("no_new_privs: {}", std::strerror(errno));
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  if (plan.landlock && plan.abi >= 1) {
    std::string error = apply_landlock(plan, plugin_fd);
    if (!error.empty()) return error;
  }
  if (plan.seccomp) return apply_seccomp(plan, host_pid);
  return "";
}

std::string sandbox_denial_hint(const SandboxPlan& plan, const std::string& message) {
  if (plan.mode == SandboxMode::off) return "";
  const bool denied = message.find("Permission denied") != std::string::npos ||
                      message.find("Operation not permitted") != std::string::npos ||
                      message.find("EACCES") != std::string::npos || message.find("EPERM") != std::string::npos;
  if (!denied) return "";
  std::string hint = "the sandbox may have denied this";
  // The first absolute path in the message that no rule covers.
  for (std::size_t pos = message.find('/'); pos != std::string::npos; pos = message.find('/', pos + 1)) {
    if (pos > 0 && message[pos - 1] != ' ' && message[pos - 1] != '\'' && message[pos - 1] != '"' &&
        message[pos - 1] != '(' && message[pos - 1] != '=' && message[pos - 1] != ':') {
      continue;
    }
    const auto end = message.find_first_of(" '\":,;)\n", pos);
    const std::string path = message.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (path.size() < 2) continue;
    bool covered = false;
    for (const auto& r : plan.rules) {
      if (path == r.path || (path.rfind(r.path, 0) == 0 && (r.path == "/" || path[r.path.size()] == '/'))) {
        covered = covered || r.access != PathAccess::read;
      }
    }
    if (!covered) {
      // Which kind of access failed, when the message says.
      const char* key = "read\"/\"write";
      for (const char* verb : {"write", "creat", "mkdir", "make", "remove", "delete", "rename", "move", "open for writing"}) {
        if (message.find(verb) != std::string::npos) key = "write";
      }
      for (const char* verb : {"exec", "start", "run "}) {
        if (message.find(verb) != std::string::npos) key = "exec";
      }
      if (std::string(key) == "read\"/\"write" && message.find("read") != std::string::npos) key = "read";
      hint += fmt::format(": {} is outside what the plugin declares; \"capabilities\": {{\"{}\": [\"{}\"]}} would allow it",
                          path, key, path);
      break;
    }
    pos = end == std::string::npos ? message.size() - 1 : end;
  }
  return hint + " (see `dihya-host info <plugin>`, or sandbox: off to compare)";
}

}  // namespace dihya::host
