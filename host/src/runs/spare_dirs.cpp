// SPDX-License-Identifier: AGPL-3.0-or-later
#include "runs/spare_dirs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

bool has_acl(int fd) {
  for (const char* name : {"system.posix_acl_access", "system.posix_acl_default"}) {
    if (::fgetxattr(fd, name, nullptr, 0) >= 0) return true;
  }
  return false;
}

}  // namespace

int SpareDirs::make(const std::filesystem::path& path) {
  if (!have_listed_) {
    have_listed_ = true;
    UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd) {
      for (std::string& name : entries_of(fd.get())) {
        if (is_slot(name)) listed_.push_back(std::move(name));
      }
    }
  }
  while (!listed_.empty()) {
    const std::string name = std::move(listed_.back());
    listed_.pop_back();
    if (::renameat2(AT_FDCWD, (dir_ / name).c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
      taken_.push_back(name);
      return 0;
    }
    if (errno == EEXIST) return EEXIST;
    // ENOENT: another host took it first. Anything else (EXDEV, an old
    // kernel without renameat2): a plain directory below.
    if (errno != ENOENT) listed_.clear();
  }
  return ::mkdir(path.c_str(), 0700) == 0 ? 0 : errno;
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
