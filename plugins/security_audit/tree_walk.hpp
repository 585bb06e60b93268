// SPDX-License-Identifier: AGPL-3.0-or-later
// The walk of the audited tree the file checks share: each directory opened
// relative to its parent (openat, fstatat), so no path length limit applies,
// symlinks are never followed, and whatever cannot be looked at (a directory
// too deep, one or an entry that cannot be opened, listed or stat'ed) is
// counted, never silently left out: a scanner that reports clean must have
// looked everywhere.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace security_audit {

// What a check could not examine, by reason, with the first few paths.
struct Unexamined {
  std::map<std::string, std::uint64_t> by_reason;
  std::vector<std::string> examples;  // relative paths, raw bytes
  std::uint64_t total = 0;

  void add(const std::string& reason, const std::string& relative);
  void add_errno(int err, const std::string& relative);
  // "permissions: 3 path(s) not examined (2 permission denied, 1 too deep): a/b, c"; empty when none.
  std::string note(const std::string& check) const;
};

struct TreeEntry {
  int dir_fd;                   // the open parent directory
  const std::string& name;
  const std::string& relative;  // from the root, '/'-separated
  const struct stat& st;        // lstat of the entry: never a symlink
};

// Calls `visit` for each entry under `root` but symlinks, depth first in name
// order; a directory is entered when `visit` returns true (never `.git`),
// unless it lies deeper than `max_depth` below the root (then it is counted
// "too deep"). Failures go to `gaps`.
void walk_tree(const std::filesystem::path& root, int max_depth, Unexamined& gaps,
               const std::function<bool(const TreeEntry&)>& visit);

// open(2) of `path`, also when it is longer than PATH_MAX (then one
// directory at a time); `flags` apply to the last component.
int open_long_path(const std::string& path, int flags);

}  // namespace security_audit
