// SPDX-License-Identifier: AGPL-3.0-or-later
// Keeping secrets out of core files and out of other processes' reach. A
// process that holds a database password or a parameter read through
// @env:/@file: must not leave them in a core file when it crashes (a plugin
// segfault is routine here), and a process of the same user must not read
// its memory through /proc/<pid>/mem or ptrace. Both the host (from the
// moment it holds a secret) and every plugin child call this.
#pragma once

namespace dihya::host {

// Sets RLIMIT_CORE to 0 (soft and hard: a plugin cannot raise it again) and
// PR_SET_DUMPABLE to 0, which also makes /proc/<pid>/{environ,mem,maps}
// root-only and forbids ptrace by the same user. Idempotent; errors are
// ignored (both calls only fail for invalid arguments). Async-signal-safe.
void stop_core_dumps();

}  // namespace dihya::host
