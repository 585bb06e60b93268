// SPDX-License-Identifier: AGPL-3.0-or-later
// Who could have put a file where the host reads it. The operator often runs
// dihya-host as root, so a plugin, a config file or the state directory that
// another local user can replace is a way to run code, or rewrite history, as
// root. The rules are those of OpenSSH's StrictModes and sudo: the real path
// (symlinks resolved) is walked from `/` down, one descriptor per directory
// opened with O_NOFOLLOW relative to its parent, and every directory must be
// owned by root or the invoking user and not writable by group or others —
// except a sticky directory such as /tmp, whose entries only their owner can
// rename, when the entry below it is owned by root or the user. The file or
// directory at the end gets the same owner rule, with no exception for modes.
// What was checked is what is returned: the caller reads the descriptor, never
// the path again, so a swap after the check changes nothing.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "util/unique_fd.hpp"

namespace dihya::host {

struct TrustedFile {
  UniqueFd fd;                        // O_RDONLY | O_CLOEXEC, of a regular file
  std::filesystem::path real_path;    // symlinks resolved
  struct stat st {};                  // fstat of fd
};

// Opens `path` (a regular file) for reading after checking its real path.
// Throws HostError(exit_code) with one line that starts with `path`, names
// `what` ("plugin file", "config file") and the culprit (the real directory or
// file at fault, not a symlink pointing at it) and says the fix. A FIFO, a
// device or a directory is refused without blocking.
TrustedFile open_trusted_file(const std::filesystem::path& path, int exit_code, const std::string& what);

// The state, cache or metrics directory `dir`, made private: missing
// directories are created with `mode` (0700, or 0755 for a directory another
// service must read, such as node_exporter's textfile dir) whatever the
// umask; an existing one must pass
// the rules above, and the directory itself must be owned by root or the user
// and not writable by group or others. `what` names the setting
// ("state dir"). Throws a usage error (exit 2) with the fix; "no space left"
// and other system errors name the path.
void prepare_private_dir(const std::filesystem::path& dir, const std::string& what, mode_t mode = 0700);

// The same checks for a directory that is only read: a missing one is fine.
void check_private_dir_if_exists(const std::filesystem::path& dir, const std::string& what);

// Only the symlinks on `path` as given, for a directory the host makes but
// need not own (--output-dir): one on the way that another user owns, or can
// replace (it sits in a directory others may write, not sticky), would let
// that user choose where the path leads. Throws HostError(exit_code) naming
// the link and `what`; components that do not exist yet are not looked at.
void check_symlinks_on_path(const std::filesystem::path& path, int exit_code, const std::string& what);

// Whether `dir` is a directory of the user's itself (lstat: a symlink to one
// is not).
bool is_own_dir(const std::filesystem::path& dir);

// Makes `dir`, an entry of a directory already checked (the state dir's
// runs/, locks/, spare/, work/), mode 0700, unless it is there; anything in
// its place but a directory of the user's is refused: a symlink planted there
// would take what the host keeps in it elsewhere. Throws HostError (exit 1)
// naming `what` ("work directory") and the path.
void make_own_subdir(const std::filesystem::path& dir, const std::string& what);

// The same checks with another exit code (trusted keys: exit 3).
void check_trusted_dir(const std::filesystem::path& dir, int exit_code, const std::string& what);

}  // namespace dihya::host
