// SPDX-License-Identifier: AGPL-3.0-or-later
#include "runs/spare_dirs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/trusted_path.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

// The names in one getdents64 call (a slot listing fits in far less than 4 KiB).
std::vector<std::string> entries_of(int fd) {
  std::vector<std::string> names;
  alignas(8) char buffer[4096];
  const long n = ::syscall(SYS_getdents64, fd, buffer, sizeof buffer);
  for (long at = 0; n > 0 && at < n;) {
    const auto* entry = reinterpret_cast<const dirent64*>(buffer + at);
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
    at += entry->d_reclen;
  }
  return names;
}

bool is_slot(const std::string& name) {
  if (name.empty() || name.size() > 2 || (name.size() == 2 && name[0] == '0')) return false;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoi(name) < SpareDirs::kSlots;
}

// `path` opened and locked (flock LOCK_EX, waiting for its holder); an
// invalid descriptor with errno set when it could not be.
UniqueFd locked_dir(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  while (fd && ::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      const int err = errno;
      fd.reset();
      errno = err;
    }
  }
  return fd;
}

bool same_file(int fd, const std::filesystem::path& path) {
  struct stat mine {}, there {};
  return ::fstat(fd, &mine) == 0 && ::lstat(path.c_str(), &there) == 0 && mine.st_dev == there.st_dev &&
         mine.st_ino == there.st_ino;
}

bool has_acl(int fd) {
  for (const char* name : {"system.posix_acl_access", "system.posix_acl_default"}) {
    if (::fgetxattr(fd, name, nullptr, 0) >= 0) return true;
  }
  return false;
}

}  // namespace

void SpareDirs::list_once() {
  if (have_listed_) return;
  have_listed_ = true;
  UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return;
  for (std::string& name : entries_of(fd.get())) {
    if (is_slot(name)) {
      listed_.push_back(std::move(name));
    } else if (name.rfind("new-", 0) == 0) {
      // make_held()'s temporary name, left by a host that died before its
      // rename: removed once that host is gone (it is empty).
      const long pid = std::strtol(name.c_str() + 4, nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) ::rmdir((dir_ / name).c_str());
    }
  }
}

int SpareDirs::take_listed(const std::function<bool(const std::filesystem::path&)>& take) {
  list_once();
  while (!listed_.empty()) {
    const std::string name = std::move(listed_.back());
    listed_.pop_back();
    if (take(dir_ / name)) {
      taken_.push_back(name);
      return 0;
    }
    if (errno == EEXIST) return EEXIST;
    // ENOENT: another host took it first. Anything else (EXDEV, an old
    // kernel without renameat2): no spare will do, a new directory instead.
    if (errno != ENOENT) listed_.clear();
  }
  return ENOENT;
}

int SpareDirs::make(const std::filesystem::path& path) {
  // Not held: its lock goes as soon as the spare is at `path`.
  const int taken = take_listed([&](const std::filesystem::path& spare) { return take_locked(spare, path, nullptr); });
  if (taken != ENOENT) return taken;
  return ::mkdir(path.c_str(), 0700) == 0 ? 0 : errno;
}

// Every take locks the spare and checks it is still the one under `from`
// before renaming it: a spare locked by one host cannot then leave its
// slot (any other take needs its lock), so the rename moves what was
// locked. A host never waits for a lock while it holds another's: two runs
// once did (a take renamed in another's spare while holding its own, then
// waited for it), each holding the other's work dir, for ever.
bool SpareDirs::take_locked(const std::filesystem::path& from, const std::filesystem::path& to, UniqueFd* held) {
  UniqueFd fd(::open(from.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return false;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0 || !same_file(fd.get(), from)) {
    errno = ENOENT;  // held by the run giving it back, or taken meanwhile: as good as taken
    return false;
  }
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) return false;
  if (held == nullptr) return true;
  if (same_file(fd.get(), to)) {
    *held = std::move(fd);
    return true;
  }
  // Not ours after all (something other than a host moved the spares):
  // let go of it first, then hold what arrived.
  fd.reset();
  *held = locked_dir(to);
  return static_cast<bool>(*held);
}

int SpareDirs::make_held(const std::filesystem::path& path, UniqueFd* held) {
  const int taken = take_listed([&](const std::filesystem::path& spare) { return take_locked(spare, path, held); });
  if (taken != ENOENT) return taken;
  // None to take: a new one, made and locked among the spares first.
  const auto fresh = dir_ / ("new-" + std::to_string(::getpid()) + "-" + std::to_string(fresh_++));
  const bool spare_dir = ::mkdir(dir_.c_str(), 0700) == 0 || errno == EEXIST;
  if (spare_dir) make_own_subdir(dir_, "spare directory");  // refuses a link planted in its place
  if (spare_dir && ::mkdir(fresh.c_str(), 0700) == 0) {
    if (take_locked(fresh, path, held)) return 0;
    const int err = errno;
    ::rmdir(fresh.c_str());
    if (err == EEXIST) return EEXIST;
  }
  // No spare dir to work in (a read-only one?): made in place, then locked.
  if (::mkdir(path.c_str(), 0700) != 0) return errno;
  *held = locked_dir(path);
  return *held ? 0 : errno;
}

bool SpareDirs::recycle(const std::filesystem::path& path) {
  {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_uid != ::geteuid() || st.st_gid != ::getegid() ||
        !entries_of(fd.get()).empty() || has_acl(fd.get())) {
      return false;
    }
    if ((st.st_mode & 07777) != 0700 && ::fchmod(fd.get(), 0700) != 0) return false;
  }
  // Never into a link planted in place of the spares (make_held refuses it).
  if (struct stat st {}; ::lstat(dir_.c_str(), &st) == 0 && !is_own_dir(dir_)) return false;
  // Back where this process took a spare from, then a few other slots.
  std::vector<std::string> tries;
  if (!taken_.empty()) {
    tries.push_back(std::move(taken_.back()));
    taken_.pop_back();
  }
  for (int i = 0; i < 4; ++i) tries.push_back(std::to_string((::getpid() + i * 7) % kSlots));
  const auto put = [&](const std::string& name) {
    return ::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, (dir_ / name).c_str(), RENAME_NOREPLACE) == 0;
  };
  for (const std::string& name : tries) {
    if (put(name)) return true;
    if (errno == ENOENT && ::mkdir(dir_.c_str(), 0700) == 0 && put(name)) return true;  // the first spare
    if (errno != EEXIST) break;
  }
  return ::rmdir(path.c_str()) == 0;
}

}  // namespace dihya::host
