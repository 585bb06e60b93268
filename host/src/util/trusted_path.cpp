// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/trusted_path.hpp"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "errors.hpp"

namespace dihya::host {
namespace {

namespace fs = std::filesystem;

bool owned_by_root_or_me(const struct stat& st) { return st.st_uid == 0 || st.st_uid == ::geteuid(); }

bool writable_by_others(const struct stat& st) { return (st.st_mode & (S_IWGRP | S_IWOTH)) != 0; }

const char* kind_of(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISLNK(st.st_mode)) return "a symlink";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
  return "not a regular file";
}

// Walks an absolute, symlink-free path one component at a time. Each step
// opens the next entry relative to the directory descriptor of the previous
// one with O_NOFOLLOW, so what is checked is what is walked: a component
// swapped for a symlink between the resolution and the walk is refused.
class PathWalk {
 public:
  PathWalk(fs::path subject, int exit_code, std::string what)
      : subject_(std::move(subject)), exit_code_(exit_code), what_(std::move(what)) {}

  [[noreturn]] void fail(const std::string& why) const {
    throw HostError(exit_code_, fmt::format("{}: refusing this {}: {}", subject_.string(), what_, why));
  }

  [[noreturn]] void fail_errno(const fs::path& at, const char* doing) const {
    const int err = errno;
    if (err == ENOSPC || err == EDQUOT) {
      throw HostError(exit_code_, fmt::format("{}: cannot {} {}: no space left on device", subject_.string(), doing,
                                              at.string()));
    }
    throw HostError(exit_code_, fmt::format("{}: cannot {} {}: {}", subject_.string(), doing, at.string(),
                                            std::strerror(err)));
  }

  // `dir` (with `dir_st`) holds `entry` (with `entry_st`): may someone else
  // replace that entry?
  void check_directory(const fs::path& dir, const struct stat& dir_st, const fs::path& entry,
                       const struct stat& entry_st) const {
    if (!owned_by_root_or_me(dir_st)) {
      fail(fmt::format("directory {} is owned by uid {}, neither root nor you (uid {}), so its owner can "
                       "replace what it holds; fix: move the {} to a directory owned by root or you",
                       dir.string(), dir_st.st_uid, ::geteuid(), what_));
    }
    if (!writable_by_others(dir_st)) return;
    if ((dir_st.st_mode & S_ISVTX) != 0 && owned_by_root_or_me(entry_st)) return;
    fail(fmt::format("directory {} is writable by group or others (mode {:04o}), so another user can "
                     "replace {}; fix: chmod go-w {}",
                     dir.string(), dir_st.st_mode & 07777, entry.string(), dir.string()));
  }

  void check_target(const fs::path& at, const struct stat& st) const {
    if (!owned_by_root_or_me(st)) {
      fail(fmt::format("{} is owned by uid {}, neither root nor you (uid {}); fix: chown {} {}", at.string(),
                       st.st_uid, ::geteuid(), ::geteuid(), at.string()));
    }
    if (writable_by_others(st)) {
      fail(fmt::format("{} is writable by group or others (mode {:04o}); fix: chmod go-w {}", at.string(),
                       st.st_mode & 07777, at.string()));
    }
  }

  // Opens "/" and returns it with its stat.
  UniqueFd open_root(struct stat* st) const {
    UniqueFd fd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::fstat(fd.get(), st) != 0) fail_errno("/", "open");
    return fd;
  }

 private:
  fs::path subject_;
  int exit_code_;
  std::string what_;
};

std::vector<std::string> components(const fs::path& absolute) {
  std::vector<std::string> parts;
  for (const auto& part : absolute.relative_path()) {
    if (!part.empty()) parts.push_back(part.string());
  }
  return parts;
}

// The directories from / down to the parent of the last component, checked;
// returns a descriptor of that parent and fills its stat. `last_st` is the
// stat of the last component, needed to judge a sticky parent.
UniqueFd walk_to_parent(const PathWalk& walk, const std::vector<std::string>& parts, fs::path* at,
                        struct stat* parent_st) {
  UniqueFd dir = walk.open_root(parent_st);
  *at = "/";
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const fs::path next_path = *at / parts[i];
    UniqueFd next(::openat(dir.get(), parts[i].c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat next_st {};
    if (!next || ::fstat(next.get(), &next_st) != 0) walk.fail_errno(next_path, "open");
    if (!S_ISDIR(next_st.st_mode)) {
      walk.fail(fmt::format("{} is {}, not a directory (it changed while being checked?)", next_path.string(),
                            kind_of(next_st)));
    }
    walk.check_directory(*at, *parent_st, next_path, next_st);
    dir = std::move(next);
    *parent_st = next_st;
    *at = next_path;
  }
  return dir;
}

// The kernel's own resolution: one open (O_PATH follows the links, never
// blocks on a FIFO) and one readlink of its /proc/self/fd entry, where
// fs::canonical reads every component with a readlink of its own (each
// walking the path again from /). Either is only a snapshot: the walk that
// follows checks what it opens, component by component.
fs::path real_path_of(const fs::path& path, const PathWalk& walk) {
  const UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) walk.fail_errno(path, "resolve");
  char buffer[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(fd.get());
  const ssize_t n = ::readlink(link.c_str(), buffer, sizeof buffer);
  // A real path is absolute; anything else (no /proc, a file that is gone:
  // "... (deleted)" is still absolute, and fails the walk) goes the long way.
  if (n > 0 && static_cast<std::size_t>(n) < sizeof buffer && buffer[0] == '/') {
    return fs::path(std::string(buffer, static_cast<std::size_t>(n)));
  }
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) {
    errno = ec.value();
    walk.fail_errno(path, "resolve");
  }
  return real;
}

// Creates the missing tail of `dir` (0700 each) and returns its real path.
fs::path create_private_dirs(const fs::path& dir, const PathWalk& walk, mode_t mode) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(dir, ec).lexically_normal();
  fs::path existing = absolute;
  std::vector<fs::path> missing;
  while (!fs::exists(fs::symlink_status(existing, ec)) && existing.has_relative_path()) {
    missing.push_back(existing.filename());
    existing = existing.parent_path();
  }
  fs::path real = real_path_of(existing, walk);
  if (!missing.empty()) {
    // Nothing is made inside a directory someone else may change: the walk
    // after would refuse it, but what was made would be left there. What is
    // made is ours, as the directory it goes in must be: its stat stands
    // for the new entry's.
    struct stat st {};
    if (::stat(real.c_str(), &st) != 0) walk.fail_errno(real, "open");
    walk.check_directory(real, st, real / missing.back(), st);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    real /= *it;
    // mkdir's mode is masked by the umask, never widened; chmod makes it
    // exact (a umask of 077 must not hide the metrics from their reader).
    if (::mkdir(real.c_str(), mode) != 0) {
      if (errno != EEXIST) walk.fail_errno(real, "create");
    } else if (::chmod(real.c_str(), mode) != 0) {
      walk.fail_errno(real, "chmod");
    }
  }
  return real;
}

// The symlinks on the path as given, before it is resolved: the walk of the
// real path that follows never sees them. One that another user owns, or can
// replace (its directory writable by others, not sticky), lets that user
// choose where the path leads — another directory of ours, where runs would
// be recorded out of sight.
void check_symlinks_on(const fs::path& given, const PathWalk& walk) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(given, ec).lexically_normal();
  if (ec) return;  // resolved (and refused) by the walk
  fs::path at = absolute.root_path();
  for (const auto& part : absolute.relative_path()) {
    if (part.empty()) continue;
    const fs::path parent = at;
    at /= part;
    struct stat link_st {};
    if (::lstat(at.c_str(), &link_st) != 0) return;  // the rest does not exist yet
    if (!S_ISLNK(link_st.st_mode)) continue;
    struct stat parent_st {};
    if (::stat(parent.c_str(), &parent_st) != 0) walk.fail_errno(parent, "open");
    if (!owned_by_root_or_me(link_st)) {
      walk.fail(fmt::format("{} is a symlink owned by uid {}, neither root nor you (uid {}), so its owner chooses "
                            "where it leads; fix: give the real path",
                            at.string(), link_st.st_uid, ::geteuid()));
    }
    walk.check_directory(parent, parent_st, at, link_st);
  }
}

void check_dir(const fs::path& dir, const std::string& what, bool create, mode_t mode, int exit_code = kExitUsage) {
  const PathWalk walk(dir, exit_code, what);
  check_symlinks_on(dir, walk);
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (!ec && fs::exists(status) && !fs::is_directory(status)) {
    throw HostError(exit_code, fmt::format("{}: the {} is not a directory", dir.string(), what));
  }
  if (!create && (ec || !fs::exists(status))) return;
  const fs::path real = create ? create_private_dirs(dir, walk, mode) : real_path_of(dir, walk);
  const auto parts = components(real);
  if (parts.empty()) walk.fail("the root directory cannot be a private directory");
  fs::path parent;
  struct stat parent_st {};
  UniqueFd parent_fd = walk_to_parent(walk, parts, &parent, &parent_st);
  UniqueFd target(::openat(parent_fd.get(), parts.back().c_str(), O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
  struct stat st {};
  if (!target || ::fstat(target.get(), &st) != 0) walk.fail_errno(real, "open");
  walk.check_directory(parent, parent_st, real, st);
  walk.check_target(real, st);
}

}  // namespace

TrustedFile open_trusted_file(const fs::path& path, int exit_code, const std::string& what) {
  const PathWalk walk(path, exit_code, what);
  TrustedFile file;
  file.real_path = real_path_of(path, walk);
  const auto parts = components(file.real_path);
  if (parts.empty()) walk.fail("/ is a directory");
  fs::path parent;
  struct stat parent_st {};
  UniqueFd parent_fd = walk_to_parent(walk, parts, &parent, &parent_st);
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
  file.fd.reset(::openat(parent_fd.get(), parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!file.fd || ::fstat(file.fd.get(), &file.st) != 0) {
    if (errno == ELOOP) walk.fail(fmt::format("{} became a symlink while being checked", file.real_path.string()));
    walk.fail_errno(file.real_path, "open");
  }
  if (!S_ISREG(file.st.st_mode)) {
    throw HostError(exit_code, fmt::format("{}: the {} is {}", path.string(), what, kind_of(file.st)));
  }
  const int flags = ::fcntl(file.fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(file.fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  walk.check_directory(parent, parent_st, file.real_path, file.st);
  walk.check_target(file.real_path, file.st);
  return file;
}

void prepare_private_dir(const fs::path& dir, const std::string& what, mode_t mode) {
  check_dir(dir, what, true, mode);
}

void check_symlinks_on_path(const fs::path& path, int exit_code, const std::string& what) {
  check_symlinks_on(path, PathWalk(path, exit_code, what));
}

bool is_own_dir(const fs::path& dir) {
  struct stat st {};
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid();
}

void make_own_subdir(const fs::path& dir, const std::string& what) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw HostError(kExitRunFailed, fmt::format("cannot make the {} {}: {}", what, dir.string(), std::strerror(errno)));
  }
  if (!is_own_dir(dir)) {
    throw HostError(kExitRunFailed,
                    fmt::format("{} {} is not a directory of yours (a symlink?); remove it", what, dir.string()));
  }
}

void check_private_dir_if_exists(const fs::path& dir, const std::string& what) { check_dir(dir, what, false, 0); }

void check_trusted_dir(const fs::path& dir, int exit_code, const std::string& what) {
  check_dir(dir, what, false, 0, exit_code);
}

}  // namespace dihya::host
