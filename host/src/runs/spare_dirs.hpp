// SPDX-License-Identifier: AGPL-3.0-or-later
// Empty private directories kept for later runs. Every run needs a run dir, a
// work dir and (by default) an output dir, and most runs leave all three
// empty. Making and removing three directories per run is what a burst of
// runs pays most for in the kernel: on ext4 without a journal every new inode
// is searched for past the inodes freed in the last 30 s, so the faster runs
// follow each other, the more each mkdir costs (a loop of runs: ~400 us of
// CPU per run for the three pairs of mkdir/rmdir, ~60 us for six renames).
// So an empty directory a run is done with is renamed into <state>/spare/
// (at most kSlots of them) and the next run renames it into place.
//
// Reuse is safe only when nothing can still write to the directory: a plugin
// child's Landlock rules name the inodes of its work and output dirs, and
// the rights live as long as any process of its domain. The caller recycles
// those two only when no process of the run is left (ChildOutcome::
// nothing_left: the supervisor, a child subreaper, killed whatever the run
// left behind). A directory is recycled only when it is still a directory
// owned by us, empty and without ACLs; its mode is reset to 0700 (a plugin
// may have changed it).
//
// Spares are named "0".."31"; renameat2(RENAME_NOREPLACE) makes every take
// and every return atomic between concurrent hosts. Not thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "util/unique_fd.hpp"

namespace dihya::host {

class SpareDirs {
 public:
  static constexpr int kSlots = 32;

  explicit SpareDirs(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Makes `path` (whose parent exists) a new empty private directory: a spare
  // renamed there, or mkdir 0700. Returns 0 or an errno (EEXIST: `path`
  // exists already).
  int make(const std::filesystem::path& path);

  // make(), with `path` locked from the moment it appears (flock LOCK_EX on
  // the descriptor left in *held): a spare, or a new directory made among
  // the spares under a name that is no slot's, is locked before its rename
  // to `path`. A live run's work dir is then never seen unheld by another
  // run's sweep, which would read the run's record to learn that it runs.
  // Returns 0 or an errno (EEXIST: `path` exists already); throws HostError
  // when the spares' directory is not a directory of the user's (a symlink).
  int make_held(const std::filesystem::path& path, UniqueFd* held);

  // Keeps the empty directory `path` as a spare, or removes it when every
  // slot is taken. Returns false, leaving `path` as it is, when `path` is not
  // an empty directory of ours without ACLs (the caller removes or keeps it).
  bool recycle(const std::filesystem::path& path);

 private:
  std::filesystem::path dir_;
  std::vector<std::string> listed_;  // spares seen by the first make(), not yet tried
  bool have_listed_ = false;
  std::vector<std::string> taken_;   // slots this process emptied: returned there first
  unsigned fresh_ = 0;               // names of the directories make_held() made

  void list_once();
  // Tries `take` on each listed spare until one is taken (0; its slot is
  // where recycle() returns a directory first), `take` finds the target
  // there already (EEXIST) or no spare is left (ENOENT). `take` returns
  // false with errno set when it could not take the spare.
  int take_listed(const std::function<bool(const std::filesystem::path&)>& take);
  // Locks the directory `from` (passed by, ENOENT, when another holds it),
  // renames it to `to` and leaves the lock of what is at `to` in *held;
  // false with errno set when it could not. make() takes spares this way
  // too, with no `held`: the lock goes with the rename.
  static bool take_locked(const std::filesystem::path& from, const std::filesystem::path& to, UniqueFd* held);
};

}  // namespace dihya::host
