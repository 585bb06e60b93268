// SPDX-License-Identifier: AGPL-3.0-or-later
// Applying a SandboxPlan in the child: the only part of the sandbox that
// talks to the kernel (Landlock system calls, seccomp; the rules themselves
// are in seccomp_rules.cpp).
#include "supervise/sandbox.hpp"

#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <dihya/file_io.hpp>
#include <fmt/format.h>

#include "supervise/landlock_abi.hpp"
#include "supervise/seccomp_rules.hpp"

namespace dihya::host {
namespace {

using namespace landlock;

std::uint64_t rights_for(PathAccess access) {
  switch (access) {
    case PathAccess::read: return kReadRights;
    case PathAccess::exec: return kExecRights;
    case PathAccess::write: return kWriteRights;
  }
  return 0;
}

std::string apply_landlock(const SandboxPlan& plan, int plugin_fd, std::string* moved) {
  const Ruleset handled = ruleset_for(plan.abi);
  const int ruleset = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &handled.attr, handled.size, 0));
  if (ruleset < 0) return fmt::format("landlock_create_ruleset: {}", std::strerror(errno));
  std::string error;
  const auto add_rule = [&](int fd, std::uint64_t rights, PathKind kind) {
    landlock_path_beneath_attr rule{};
    rule.allowed_access = rule_rights(rights, kind == PathKind::directory, kind == PathKind::device) &
                          handled.attr.handled_access_fs;
    rule.parent_fd = fd;
    return ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) == 0;
  };
  const auto add_path = [&](int fd, std::uint64_t rights, PathKind kind) {
    // The plan's kind saves an fstat; a wrong one (EINVAL: directory rights
    // on a file) is asked of the kernel and tried again.
    if (kind != PathKind::unknown && add_rule(fd, rights, kind)) return;
    if (kind != PathKind::unknown && errno != EINVAL) {
      if (error.empty()) error = fmt::format("landlock_add_rule: {}", std::strerror(errno));
      return;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) return;
    const PathKind real = S_ISDIR(st.st_mode)                         ? PathKind::directory
                          : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? PathKind::device
                                                                       : PathKind::file;
    if (!add_rule(fd, rights, real) && error.empty()) {
      error = fmt::format("landlock_add_rule: {}", std::strerror(errno));
    }
  };
  for (const auto& r : plan.rules) {
    const int fd = r.checked.empty() ? ::open(r.path.c_str(), O_PATH | O_CLOEXEC)
                                     : dihya::open_without_symlinks(r.checked, O_PATH | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP) {  // not granted
      if (moved != nullptr && moved->empty()) {
        *moved = fmt::format("{} changed since it was checked: a symbolic link is now on its path", r.path);
      }
      continue;
    }
    if (fd < 0) continue;  // a runtime dir this system lacks (/lib32), a path not made yet
    add_path(fd, rights_for(r.access), r.kind);
    ::close(fd);
  }
  if (plugin_fd >= 0) add_path(plugin_fd, kFsReadFile, PathKind::file);
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

// The kernel's filter for the child. Where Landlock scopes signals (ABI 6+,
// applied), the filter compiled at build time; elsewhere libseccomp compiles
// one that also names the host's pid.
std::string apply_seccomp(const SandboxPlan& plan, int host_pid, bool signals_scoped) {
  // Precompiled for every plugin but one that runs the host.
  const PrecompiledFilter filter = signals_scoped && !plan.runs_host
                                       ? precompiled_child_seccomp_filter(plan.ip_sockets, plan.processes)
                                       : PrecompiledFilter{};
  if (filter.size > 0) {
    // no_new_privs is set (apply_sandbox); flags 0, as seccomp_load uses.
    sock_fprog program{static_cast<unsigned short>(filter.size), const_cast<sock_filter*>(filter.code)};
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
      return fmt::format("seccomp: {}", std::strerror(errno));
    }
    return "";
  }
  scmp_filter_ctx ctx = new_child_seccomp_ctx();
  if (ctx == nullptr) return "seccomp_init failed";
  ChildSeccompOptions options;
  options.ip_sockets = plan.ip_sockets;
  options.processes = plan.processes;
  options.runs_host = plan.runs_host;
  options.host_pid = host_pid;
  int rc = add_child_seccomp_rules(ctx, options);
  if (rc == 0) rc = ::seccomp_load(ctx);
  ::seccomp_release(ctx);
  return rc == 0 ? "" : fmt::format("seccomp: {}", std::strerror(-rc));
}

}  // namespace

std::string apply_sandbox(const SandboxPlan& plan, int plugin_fd, int host_pid, std::string* moved) {
  if (plan.mode == SandboxMode::off) return "";
  // Before anything else: no setuid program the plugin runs gains rights
  // (and both Landlock and seccomp require it of an unprivileged process).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fmt::format("no_new_privs: {}", std::strerror(errno));
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  bool signals_scoped = false;
  if (plan.landlock && plan.abi >= 1) {
    std::string error = apply_landlock(plan, plugin_fd, moved);
    if (!error.empty()) return error;
    signals_scoped = plan.abi >= 6;
  }
  if (plan.seccomp) return apply_seccomp(plan, host_pid, signals_scoped);
  return "";
}

int landlock_abi() {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

SandboxMode default_sandbox_mode(int abi) { return abi >= 1 ? SandboxMode::require : SandboxMode::best_effort; }

}  // namespace dihya::host
