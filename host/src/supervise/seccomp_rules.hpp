// SPDX-License-Identifier: AGPL-3.0-or-later
// The seccomp rules of a plugin child, in one place for the two ways they
// reach the kernel: compiled by libseccomp in the child (kernels whose
// Landlock cannot scope signals: the rules then name the host's pid), and
// compiled once at build time by tools/seccomp_filter_gen into the BPF the
// child loads as is (Landlock ABI 6+, where the kernel itself keeps signals
// inside the sandbox and the filter no longer depends on the host's pid).
// Compiling the filter cost ~0.9 M instructions per run; loading the
// precompiled one costs one system call. The unit tests check that the
// precompiled filter is byte for byte what libseccomp makes of these rules.
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <seccomp.h>

namespace dihya::host {

// A libseccomp context for the child's filter: allow by default, and the
// syscall numbers dispatched through a binary tree (SCMP_FLTATR_CTL_OPTIMIZE
// 2) rather than a linear chain. The decisions are the same; the kernel runs
// the filter for each syscall and, when it is loaded, for every syscall
// number to fill its cache: loading the chain cost the child ~110 us of CPU,
// the tree ~55 us (a loop of 2000 forks, this machine). nullptr on failure.
scmp_filter_ctx new_child_seccomp_ctx();

// What the rules allow beyond the common ones.
struct ChildSeccompOptions {
  bool ip_sockets = false;  // AF_INET/AF_INET6 sockets
  bool processes = false;   // new processes (fork, vfork, clone without CLONE_THREAD); threads always
  // A plugin that runs the host (run_scheduler): the filter is inherited by
  // its jobs' hosts, which set their own plugins' memory limits (RLIMIT_DATA,
  // locked for every other plugin) and make their pid namespaces
  // (unshare(CLONE_NEWPID), refused to every other plugin). Each job's plugin
  // then loads its own filter over this one.
  bool runs_host = false;
  // > 0: also refuse kill/tgkill/tkill/pidfd_open aimed at the host, its
  // process group or every process (-1); 0 leaves signals to Landlock's scoping.
  int host_pid = 0;
};

// Adds the rules to `ctx` (made by new_child_seccomp_ctx()). Returns 0 or
// the first libseccomp error (a negative errno).
int add_child_seccomp_rules(scmp_filter_ctx ctx, const ChildSeccompOptions& options);

// libseccomp's BPF for add_child_seccomp_rules of {ip_sockets, processes} on this
// machine's architecture, exported with seccomp_export_bpf. Empty with
// `error` set when libseccomp fails. Used by the generator and the tests.
std::vector<sock_filter> export_child_seccomp_filter(bool ip_sockets, bool processes, std::string* error);

// The filter compiled at build time for `ip_sockets` and `processes`, or an empty span
// (size 0) when the build could not make one for the architecture the host
// runs on: the caller then compiles it with libseccomp.
struct PrecompiledFilter {
  const sock_filter* code = nullptr;
  std::size_t size = 0;
};
PrecompiledFilter precompiled_child_seccomp_filter(bool ip_sockets, bool processes);

// The AUDIT_ARCH_* value of the architecture this code was compiled for (0:
// one the precompiled filter is never used on).
inline std::uint32_t compiled_audit_arch() {
#if defined(__x86_64__) && !defined(__ILP32__)
  return AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  return AUDIT_ARCH_AARCH64;
#else
  return 0;
#endif
}

}  // namespace dihya::host
