// SPDX-License-Identifier: AGPL-3.0-or-later
// Who a process is, beyond its pid: the boot it runs in and its start time.
// A run record stores its host's identity so a later `history` can tell a run
// that is still going from one whose host died: a pid alone is not enough,
// because pids are reused and restart from 1 after a reboot.
//
// Limits: the identity is meaningful on the machine and in the pid namespace
// that took it. A host in another pid namespace (a container sharing the
// state dir) is never judged gone from here: its pid means nothing here, and
// a live run judged dead would be rolled back under its feet. A state dir
// shared between machines would make a live run on the other side look dead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <sys/types.h>

namespace dihya::host {

struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22, clock ticks after boot; 0 unknown
  std::string boot_id;            // /proc/sys/kernel/random/boot_id; empty unknown
  std::uint64_t pid_ns = 0;       // inode of /proc/self/ns/pid: the pid namespace; 0 unknown
};

// This process. Never throws: unreadable /proc leaves fields unknown.
ProcessIdentity current_process_identity();

// The kernel's id of the current boot, or empty when /proc is not mounted.
std::string current_boot_id();

// The inode of this process's pid namespace, 0 when /proc is not mounted.
std::uint64_t current_pid_namespace();

// The effective user's name (its uid when it has none), looked up once per
// process and uid (NSS: nsswitch.conf, nscd, /etc/passwd), so the jobs the
// scheduler's zygote forks after warming it do not each look it up.
const std::string& effective_user_name();

// The start time of `pid` in clock ticks after boot, or nothing when the
// process does not exist (or /proc cannot say).
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// True only when the process is certainly gone: another boot, no such pid, a
// zombie, or the pid now belongs to a process started at another time.
// Unknown parts of the identity are not held against it.
bool process_is_gone(const ProcessIdentity& who);

}  // namespace dihya::host
