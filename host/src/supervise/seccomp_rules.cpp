// SPDX-License-Identifier: AGPL-3.0-or-later
#include "supervise/seccomp_rules.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

namespace dihya::host {
namespace {

// <linux/ioprio.h>'s IOPRIO_WHO_PGRP and IOPRIO_WHO_USER (glibc has no header for them).
constexpr std::uint64_t kIoprioWhoPgrp = 2;
constexpr std::uint64_t kIoprioWhoUser = 3;

}  // namespace

scmp_filter_ctx new_child_seccomp_ctx() {
  scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_ALLOW);
  // libseccomp before 2.5 has no tree: its chain decides the same.
  if (ctx != nullptr) ::seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  return ctx;
}

int add_child_seccomp_rules(scmp_filter_ctx ctx, const ChildSeccompOptions& options) {
  const bool ip_sockets = options.ip_sockets;
  const int host_pid = options.host_pid;
  int rc = 0;
  const auto rule = [&](std::uint32_t action, int nr, std::initializer_list<scmp_arg_cmp> args) {
    const int r = ::seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.begin());
    if (r != 0 && rc == 0) rc = r;
  };
  const std::uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  for (int nr : {SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
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
    if (options.runs_host && flag == CLONE_NEWPID) continue;  // a job's host, for its plugin (see runs_host)
    rule(deny, SCMP_SYS(unshare), {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
  }
  // Entering a namespace: never, but a job's host back into its own pid
  // namespace once its plugin's child is made.
  if (options.runs_host) {
    rule(deny, SCMP_SYS(setns), {SCMP_A1(SCMP_CMP_NE, CLONE_NEWPID)});
  } else {
    rule(deny, SCMP_SYS(setns), {});
  }
  rule(deny, SCMP_SYS(unshare), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0x80, 0x80)});  // CLONE_NEWTIME
  if (!options.processes) {
    // A plugin that starts no program makes no process either (threads are
    // clones with CLONE_THREAD): none can outlive its run, even when the
    // host is killed outright.
    rule(deny, SCMP_SYS(fork), {});
    rule(deny, SCMP_SYS(vfork), {});
    rule(deny, SCMP_SYS(clone), {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)});
  }
  if (host_pid > 0) {
    // Signals to the host where Landlock cannot scope them (ABI < 6): its
    // pid, every process (-1), its process group.
    const std::uint32_t host = static_cast<std::uint32_t>(host_pid);
    const std::uint32_t host_group = static_cast<std::uint32_t>(-::getpgid(host_pid));
    for (std::uint32_t target : {host, 0xffffffffU, host_group}) {
      rule(deny, SCMP_SYS(kill), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, target)});
    }
    rule(deny, SCMP_SYS(tgkill), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
    rule(deny, SCMP_SYS(tkill), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
    rule(deny, SCMP_SYS(pidfd_open), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
    // Two roundabout ways: joining the host's process group, then kill(0);
    // making the host the owner of a descriptor, whose I/O then signals it
    // (F_SETOWN to its pid or group; F_SETOWN_EX and the ioctls take their
    // target through memory seccomp cannot read, so they are refused whole).
    rule(deny, SCMP_SYS(setpgid), {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, static_cast<std::uint32_t>(::getpgid(host_pid)))});
    for (std::uint32_t target : {host, host_group}) {
      rule(deny, SCMP_SYS(fcntl),
           {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, F_SETOWN), SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffU, target)});
    }
    rule(deny, SCMP_SYS(fcntl), {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, F_SETOWN_EX)});
    // Nor its scheduling: its priority, policy or CPUs (where the filter
    // can name it; with Landlock 6+ the precompiled filter cannot).
    rule(deny, SCMP_SYS(setpriority),
         {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, PRIO_PROCESS), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
    for (int nr : {SCMP_SYS(sched_setscheduler), SCMP_SYS(sched_setparam), SCMP_SYS(sched_setattr),
                   SCMP_SYS(sched_setaffinity)}) {
      rule(deny, nr, {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
    }
    rule(deny, SCMP_SYS(ioprio_set), {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, host)});
    for (unsigned long request : {static_cast<unsigned long>(FIOSETOWN), static_cast<unsigned long>(SIOCSPGRP)}) {
      rule(deny, SCMP_SYS(ioctl), {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, request)});
    }
  }
  // Resource limits: none of another process (lowering the host's
  // RLIMIT_FSIZE or RLIMIT_NOFILE would stop it writing its records), and
  // the memory limit the host set (RLIMIT_DATA) is not raised again.
  rule(deny, SCMP_SYS(prlimit64), {SCMP_A0(SCMP_CMP_NE, 0)});
  if (!options.runs_host) {
    rule(deny, SCMP_SYS(prlimit64), {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, RLIMIT_DATA), SCMP_A2(SCMP_CMP_NE, 0)});
    rule(deny, SCMP_SYS(setrlimit), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, RLIMIT_DATA)});
  }
  // Priorities of whole process groups or users (a plugin run as root
  // renicing every root process, the host and the database included): a
  // plugin sets its own, and its threads' (by tid), only.
  rule(deny, SCMP_SYS(setpriority), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, PRIO_PGRP)});
  rule(deny, SCMP_SYS(setpriority), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, PRIO_USER)});
  for (std::uint64_t who : {kIoprioWhoPgrp, kIoprioWhoUser}) {
    rule(deny, SCMP_SYS(ioprio_set), {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, who)});
  }
  // Socket families: UNIX, and IPv4/IPv6 only for a plugin that declared
  // network; never raw or packet sockets. Anything above AF_INET6 (or with
  // high bits set) is refused with one comparison.
  const std::uint32_t no_family = SCMP_ACT_ERRNO(EAFNOSUPPORT);
  rule(no_family, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_GT, AF_INET6)});
  for (int family = 0; family < AF_INET6; ++family) {
    if (family == AF_UNIX || (family == AF_INET && ip_sockets)) continue;
    rule(no_family, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_EQ, static_cast<std::uint64_t>(family))});
  }
  if (!ip_sockets) rule(no_family, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_EQ, AF_INET6)});
  for (std::uint64_t type : {std::uint64_t{SOCK_RAW}, std::uint64_t{SOCK_PACKET}}) {
    rule(deny, SCMP_SYS(socket), {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type)});
  }
  return rc;
}

std::vector<sock_filter> export_child_seccomp_filter(bool ip_sockets, bool processes, std::string* error) {
  std::vector<sock_filter> out;
  scmp_filter_ctx ctx = new_child_seccomp_ctx();
  if (ctx == nullptr) {
    *error = "seccomp_init failed";
    return out;
  }
  ChildSeccompOptions options;
  options.ip_sockets = ip_sockets;
  options.processes = processes;
  int rc = add_child_seccomp_rules(ctx, options);
  const int fd = ::memfd_create("seccomp-bpf", MFD_CLOEXEC);
  if (rc == 0 && fd < 0) rc = -errno;
  if (rc == 0) rc = ::seccomp_export_bpf(ctx, fd);
  ::seccomp_release(ctx);
  const off_t size = rc == 0 ? ::lseek(fd, 0, SEEK_END) : -1;
  if (rc == 0 && (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)) rc = -EINVAL;
  if (rc == 0) {
    out.resize(static_cast<std::size_t>(size) / sizeof(sock_filter));
    if (::pread(fd, out.data(), static_cast<std::size_t>(size), 0) != size) rc = -EIO;
  }
  if (fd >= 0) ::close(fd);
  if (rc != 0) {
    out.clear();
    *error = std::string("seccomp_export_bpf: ") + std::strerror(-rc);
  }
  return out;
}

}  // namespace dihya::host
