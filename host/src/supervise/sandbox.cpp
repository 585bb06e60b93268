// SPDX-License-Identifier: AGPL-3.0-or-later
// Building a SandboxPlan: pure data from capabilities, parameters and dirs
// (sandbox_apply.cpp applies it in the child).
#include "supervise/sandbox.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <system_error>

#include <fmt/format.h>

#include "util/memory_size.hpp"
#include "util/printable.hpp"

namespace dihya::host {
namespace {

const char* access_name(PathAccess access) {
  switch (access) {
    case PathAccess::read: return "read";
    case PathAccess::write: return "write";
    case PathAccess::exec: return "exec";
  }
  return "read";
}

// What the C and C++ runtimes of every plugin read: the loader's cache and the
// libraries, time zones, the CPU count; nothing else of /etc.
struct RuntimePath {
  const char* path;
  PathKind kind;
};
const RuntimePath kRuntimeRead[] = {
    {"/lib", PathKind::directory}, {"/lib64", PathKind::directory}, {"/lib32", PathKind::directory},
    {"/usr/lib", PathKind::directory}, {"/usr/lib64", PathKind::directory}, {"/usr/lib32", PathKind::directory},
    {"/usr/local/lib", PathKind::directory}, {"/usr/share/zoneinfo", PathKind::directory},
    {"/etc/ld.so.cache", PathKind::file}, {"/etc/localtime", PathKind::file}, {"/etc/nsswitch.conf", PathKind::file},
    {"/sys/devices/system/cpu", PathKind::directory}, {"/dev/urandom", PathKind::device},
    {"/dev/random", PathKind::device}, {"/dev/zero", PathKind::device},
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

std::optional<std::uint16_t> default_port(const std::string& scheme) {
  if (scheme == "smtp") return 25;
  if (scheme == "smtps") return 465;
  if (scheme == "submission") return 587;
  if (scheme == "postgresql" || scheme == "postgres") return 5432;
  if (scheme == "http") return 80;
  if (scheme == "https") return 443;
  return std::nullopt;
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

void add_rule(SandboxPlan& plan, const std::string& path, PathAccess access, const std::string& reason,
              PathKind kind = PathKind::unknown, const std::string& checked = "") {
  for (auto& r : plan.rules) {
    if (r.path == path && r.access == access) return;
  }
  plan.rules.push_back({path, access, reason, kind, checked});
}

void add_port(SandboxPlan& plan, std::uint16_t port) {
  if (std::find(plan.connect_ports.begin(), plan.connect_ports.end(), port) == plan.connect_ports.end()) {
    plan.connect_ports.push_back(port);
  }
}

void add_path_rule(SandboxPlan& plan, std::string path, PathAccess access, const char* key, const std::string& entry,
                   const SandboxInputs& in);

// The path with its symlinks resolved as far as it exists (a Landlock rule
// binds the inode the path names, whatever the spelling).
std::string resolved(const std::string& path) {
  std::error_code ec;
  std::filesystem::path real = std::filesystem::weakly_canonical(path, ec);
  return (ec ? std::filesystem::path(path).lexically_normal() : real).string();
}

// `dir` is `path` or one of its ancestors.
bool at_or_above(const std::string& dir, const std::string& path) {
  if (dir == path || dir == "/") return true;
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

// The host dir a write grant on `path` would reach (covering it, or lying
// inside it), as "<how> the host's <what> <dir>"; "" when none.
std::string protected_conflict(const std::string& path, const SandboxInputs& in) {
  const std::string real = resolved(path);
  for (const auto& [what, dir] : in.protected_dirs) {
    if (dir.empty()) continue;
    const std::string protected_dir = resolved(dir);
    const bool covers = at_or_above(real, protected_dir);
    if (!covers && !at_or_above(protected_dir, real)) continue;
    return fmt::format("{} the host's {} {}", covers ? (real == protected_dir ? "is" : "holds") : "lies inside",
                       what, protected_dir);
  }
  return "";
}

void add_declared_paths(SandboxPlan& plan, const std::vector<std::string>& entries, PathAccess access,
                        const char* key, const SandboxInputs& in) {
  const nlohmann::json& params = in.params;
  for (const auto& entry : entries) {
    if (entry == "dihya-host") continue;
    std::vector<std::string> paths{entry};
    if (is_param_reference(entry) && entry.find('#') != std::string::npos) {
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
        if (is_clean_absolute_path(p)) {
          resolved.push_back(p);
        } else {
          plan.notes.push_back(fmt::format("{} {}: '{}' is not an absolute path, no rule", key, entry, p.substr(0, 200)));
        }
      }
      add_declared_paths(plan, resolved, access, key, in);
      continue;
    }
    if (is_param_reference(entry)) {
      paths = param_paths(params, entry);
      if (paths.empty()) {
        plan.notes.push_back(fmt::format("{} {}: unset, no rule", key, entry));
        continue;
      }
    }
    for (std::string path : paths) add_path_rule(plan, path, access, key, entry, in);
  }
}

void add_path_rule(SandboxPlan& plan, std::string path, PathAccess access, const char* key, const std::string& entry,
                   const SandboxInputs& in) {
  const bool rollback = in.rollback;
  const std::string requested = path;
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
    // A rollback may have to remove what the run made, the declared path
    // itself included, and the parents the run made for it: those were in
    // the grant the run had.
    std::string parent = std::filesystem::path(path).parent_path().string();
    for (const auto& [why, granted] : in.run_write_grants) {
      const std::string under = granted == "/" ? granted : granted + "/";
      if (why == fmt::format("{} {}", key, entry) && parent.size() > under.size() && parent.compare(0, under.size(), under) == 0 &&
          std::filesystem::is_directory(std::filesystem::symlink_status(granted, ec))) {
        parent = granted;
      }
    }
    plan.notes.push_back(fmt::format("{} {}: rollback, granted on {}", key, entry, parent));
    path = parent;
  } else if (access == PathAccess::write && !std::filesystem::is_directory(path, ec)) {
    // An existing file is replaced the safe way: a temporary file beside it, renamed over it.
    const std::string parent = std::filesystem::path(path).parent_path().string();
    plan.notes.push_back(fmt::format("{} {}: {} is a file, granted on {}", key, entry, path, parent));
    path = parent;
  }
  if (access == PathAccess::write) {
    const std::string conflict = protected_conflict(path, in);
    // Whether the declared path itself would be granted (it is the grant, or beside it).
    const bool requested_free = conflict.empty() || (path != requested && protected_conflict(requested, in).empty());
    if (!conflict.empty() && rollback && path != requested && std::filesystem::exists(requested, ec) && requested_free) {
      // The parent may not be granted: the rollback undoes what is inside the
      // declared path and leaves the path itself.
      plan.notes.push_back(fmt::format("{} {}: rollback, {} {}: granted on {} only", key, entry, path, conflict, requested));
      path = requested;
    } else if (!conflict.empty()) {
      if (plan.forbidden.empty()) {
        const bool create_first = path != requested && requested_free;
        plan.forbidden = fmt::format("write {} ({}): the grant on {} {}, which no plugin may write; give a path "
                                     "outside it{}",
                                     entry, requested, path, conflict,
                                     create_first ? fmt::format(", or create {} first", requested) : "");
      }
      return;
    }
  }
  add_rule(plan, path, access, fmt::format("{} {}", key, entry), PathKind::unknown, resolved(path));
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
  for (const RuntimePath& r : kRuntimeRead) add_rule(plan, r.path, PathAccess::read, "runtime", r.kind);
  add_rule(plan, "/dev/null", PathAccess::write, "runtime", PathKind::device);
  add_rule(plan, "/proc/self", PathAccess::read, "runtime", PathKind::directory);
  if (!in.work_dir.empty()) {
    add_rule(plan, in.work_dir, PathAccess::write, "work dir", PathKind::directory, resolved(in.work_dir));
  }
  if (!in.output_dir.empty()) {
    // --output-dir is the operator's, but no more than a declared path may
    // it hand a plugin the host's own files.
    const std::string conflict = in.output_dir_given ? protected_conflict(in.output_dir, in) : "";
    if (!conflict.empty()) {
      plan.forbidden = fmt::format("the output dir {} {}, which no plugin may write; give a path outside it",
                                   in.output_dir, conflict);
    } else {
      add_rule(plan, in.output_dir, PathAccess::write, "output dir", PathKind::directory, resolved(in.output_dir));
    }
  }
  add_declared_paths(plan, caps.read, PathAccess::read, "read", in);
  add_declared_paths(plan, caps.write, PathAccess::write, "write", in);
  add_declared_paths(plan, caps.exec, PathAccess::exec, "exec", in);
  const bool starts_programs =
      std::any_of(plan.rules.begin(), plan.rules.end(), [](const PathRule& r) { return r.access == PathAccess::exec; });
  if (starts_programs) {
    // The kernel opens a program's ELF interpreter for execution too.
    std::error_code ec;
    for (const char* loader : kDynamicLoaders) {
      if (std::filesystem::exists(loader, ec)) add_rule(plan, loader, PathAccess::exec, "exec: the dynamic loader");
    }
  }
  // Processes for a plugin that starts programs (an exec grant that names
  // one in this run) or says it forks; then in a pid namespace of its own
  // (see SandboxPlan::pid_namespace), so that none outlives the run.
  plan.processes = caps.processes || caps.runs_host || starts_programs;
  plan.pid_namespace = plan.processes && !caps.runs_host;
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
    plan.runs_host = true;
    plan.ip_sockets = true;
    plan.rules.clear();
    plan.connect_ports.clear();
    plan.forbidden.clear();
    plan.notes.push_back("exec dihya-host: no Landlock for the scheduler itself; each job's plugin is sandboxed");
    // Any plugin may declare it: under require, only one that ships with
    // the host is run so unconfined (best-effort notes it and runs it).
    if (!in.vouched) {
      plan.refusal = "it declares exec dihya-host, which would run it with no Landlock, and only a plugin that "
                     "ships with the host (in its own plugin dir) or is signed by a trusted key may";
    }
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
  // Paths come from parameters and percent-decoded URLs: any bytes. A record is JSON, so bytes
  // that are not UTF-8 are written escaped (\xNN), as in every message.
  const auto text = [](const std::string& s) { return find_invalid_utf8(s) ? printable(s, 4 * s.size()) : s; };
  nlohmann::json rules = nlohmann::json::array();
  if (plan.landlock && plan.abi >= 1) {
    for (const auto& r : plan.rules) {
      rules.push_back({{"path", text(r.path)}, {"access", access_name(r.access)}, {"why", text(r.reason)}});
    }
  }
  nlohmann::json notes = nlohmann::json::array();
  for (const auto& note : plan.notes) notes.push_back(text(note));
  return {{"summary", sandbox_plan_line(plan)},
          {"mode", sandbox_mode_name(plan.mode)},
          {"landlock_abi", plan.landlock ? plan.abi : 0},
          {"rules", rules},
          {"connect_ports", plan.landlock && plan.abi >= 4 ? nlohmann::json(plan.connect_ports) : nlohmann::json::array()},
          {"ip_sockets", plan.ip_sockets},
          {"seccomp", plan.seccomp},
          {"processes", plan.processes},
          {"memory_max", plan.memory_max == 0 ? nlohmann::json() : nlohmann::json(plan.memory_max)},
          {"notes", notes}};
}

std::string sandbox_plan_line(const SandboxPlan& plan) {
  const std::string memory = plan.memory_max == 0 ? ", no memory limit" : ", memory " + memory_size_text(plan.memory_max);
  if (plan.mode == SandboxMode::off) return "off (not confined)" + memory;
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
  line += plan.processes || !plan.seccomp ? "" : ", no new processes";
  return line + memory;
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
