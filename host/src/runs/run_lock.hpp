// SPDX-License-Identifier: AGPL-3.0-or-later
// One run of a plugin at a time, with locks that die with their process. A
// PluginLock is an flock() on <locks_dir>/<plugin>.lock (locks_dir is usually
// <state_dir>/locks): the kernel drops it when the last descriptor to it is
// closed, so a crashed or killed host never leaves a stale lock behind (the
// failure Liquibase users fix by hand in SQL). The holder's run id is written
// into the file so a second runner can say who is in the way.
//
// Children. The descriptor is O_CLOEXEC, but the supervisor forks plugin
// children without exec, and a forked child shares the parent's lock through
// the inherited descriptor: while any child keeps it open the lock outlives
// the host, and an flock(LOCK_UN) in the child would unlock the host too. So
// right after fork() the child must close every descriptor >= 3 except its
// pipe (close_range, or at least close(lock.fd())), must never unlock, and
// leaves with _exit(), never through this class's destructor (which, as a
// safeguard, touches the file only in the process that took the lock).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <sys/types.h>

#include "util/unique_fd.hpp"

namespace dihya::host {

class PluginLock {
 public:
  // Takes the lock if it is free, else returns nothing at once. Creates
  // locks_dir (0700) and the lock file (0600) as needed. Throws a usage error
  // for a plugin name that cannot be a file name, a state error (exit 1) naming
  // the file when the file system refuses.
  static std::optional<PluginLock> try_acquire(const std::filesystem::path& locks_dir,
                                               const std::string& plugin,
                                               const std::string& run_id);

  // Waits until the lock is free, then takes it. Throws like try_acquire.
  static PluginLock acquire_wait(const std::filesystem::path& locks_dir,
                                 const std::string& plugin, const std::string& run_id);

  // The run id of the current holder, as the holder wrote it. Meant for the
  // message after a failed try_acquire; empty when nobody ever held the lock
  // or the lock was released cleanly. It can be stale for an instant while
  // the lock changes hands, or after a holder crashed: only the lock itself
  // is authoritative.
  static std::string holder(const std::filesystem::path& locks_dir, const std::string& plugin);

  PluginLock(PluginLock&& other) noexcept = default;
  PluginLock& operator=(PluginLock&& other) noexcept;
  PluginLock(const PluginLock&) = delete;
  PluginLock& operator=(const PluginLock&) = delete;
  // Clears the holder's run id, then closes the descriptor, which releases the lock.
  ~PluginLock();

  // For the supervisor's child, which must close it (see above).
  int fd() const { return fd_.get(); }

 private:
  PluginLock(UniqueFd fd, pid_t owner) : fd_(std::move(fd)), owner_(owner) {}
  // Nothing only when !wait and another process holds the lock.
  static std::optional<PluginLock> take(const std::filesystem::path& locks_dir,
                                        const std::string& plugin, const std::string& run_id,
                                        bool wait);
  void release() noexcept;

  UniqueFd fd_;
  pid_t owner_ = 0;  // the process that took the lock
};

}  // namespace dihya::host
