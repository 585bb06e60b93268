// SPDX-License-Identifier: AGPL-3.0-or-later
// Applying a SandboxPlan in the child: the only part of the sandbox that
// talks to the kernel (Landlock system calls, libseccomp).
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

#include <cerrno>
#include <cstring>

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
    case PathAccess::write:
      return kFsReadFile | kFsReadDir | kFsWriteFile | kFsRemoveDir | kFsRemoveFile | kFsMakeDir | kFsMakeReg |
             kFsMakeSock | kFsMakeFifo | kFsRefer | kFsTruncate;
  }
  return 0;
}


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

int landlock_abi() {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

SandboxMode default_sandbox_mode(int abi) { return abi >= 1 ? SandboxMode::require : SandboxMode::best_effort; }

}  // namespace dihya::host
