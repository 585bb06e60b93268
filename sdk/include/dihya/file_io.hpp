// SPDX-License-Identifier: AGPL-3.0-or-later
// The few file primitives every part of the project needs, written once: an
// owner for a POSIX file descriptor, whole-buffer read and write loops, a
// directory fsync, an open that follows no symbolic link, and the atomic
// replacement of a file. replace_file_at()
// guarantees that a reader sees either the old or the new content, never half
// of one, and with Durability::kSynced that the new content survives a power
// loss once it returns: temporary file created O_EXCL|O_NOFOLLOW|O_CLOEXEC in
// the same directory, every byte written, fsync, rename over, fsync of the
// directory. A symlink at the target's name is replaced, never followed.
// Header-only, POSIX only; nothing here throws.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace dihya {

// Owns one file descriptor: closes it exactly once, on destruction or
// reset(); movable, not copyable. Not thread-safe (like the int it wraps).
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives up ownership without closing.
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // close() errors are ignored on purpose: whatever had to be durable was
  // fsynced before, and retrying close() on Linux may close a reused number.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Writes all of `bytes`, continuing after short writes and EINTR. Returns the
// error of the first failed write(); the file may then hold a prefix.
[[nodiscard]] inline std::error_code write_all(int fd, std::string_view bytes) noexcept {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return {errno, std::generic_category()};
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Appends to `*out` everything read from `fd` until end of file, continuing
// after EINTR. Returns the error of the failed read(), or EFBIG once more than
// `max_bytes` have been read (the caller's bound on hostile files).
[[nodiscard]] inline std::error_code read_all(int fd, std::string* out,
                                              std::size_t max_bytes = static_cast<std::size_t>(-1)) {
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return {errno, std::generic_category()};
    }
    if (n == 0) return {};
    out->append(buffer, static_cast<std::size_t>(n));
    if (out->size() > max_bytes) return {EFBIG, std::generic_category()};
  }
}

// read_all() of the file open at `fd`, refused unless it is a regular file
// (EINVAL: a device or a FIFO would be read for ever, or block) and unless
// it holds at most `max_bytes` (EFBIG, by its size first: a sparse file of
// gigabytes is not read at all). For files whose writer the reader does not
// trust to have left a regular file of a sane size in place.
[[nodiscard]] inline std::error_code read_regular_file(int fd, std::string* out, std::size_t max_bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {errno, std::generic_category()};
  if (!S_ISREG(st.st_mode)) return {EINVAL, std::generic_category()};
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return {EFBIG, std::generic_category()};
  return read_all(fd, out, max_bytes);
}

// fsync of a directory: a new, renamed or removed entry is durable only once
// its directory is synced, not when the file itself is. An empty path is the
// current directory (the parent_path() of a bare file name).
[[nodiscard]] inline std::error_code fsync_directory(const std::filesystem::path& dir) noexcept {
  const char* name = dir.empty() ? "." : dir.c_str();
  UniqueFd fd(::open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return {errno, std::generic_category()};
  if (::fsync(fd.get()) != 0) return {errno, std::generic_category()};
  return {};
}

// How much of a replacement must be on disk when replace_file_at() returns.
enum class Durability {
  kSynced,         // file and directory fsynced: survives a power loss (the default)
  kContentSynced,  // file fsynced, directory not: after a crash either the old or the new file is
                   // there, whole (for a file whose older version is still valid, e.g. the audit head)
  kAtomicOnly,     // no fsync: atomic for readers only, for the many files of a generated tree that
                   // is made again after a crash
};

// Replaces `name` in the directory open as `dir_fd` (AT_FDCWD for the current
// one) with `content`, file mode `mode` (exactly: the umask does not apply).
// `name` is one path component or a relative path; the temporary file lives
// beside the target, so the rename never crosses a file system. On failure
// the temporary file is removed, the old content is untouched, and the error
// is that of the first call that failed (ENOSPC when the disk is full).
[[nodiscard]] inline std::error_code replace_file_at(int dir_fd, const std::string& name, std::string_view content,
                                                     mode_t mode, Durability durability = Durability::kSynced) {
  const auto slash = name.rfind('/');
  const std::string dir_part = slash == std::string::npos ? std::string() : name.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
  std::random_device random;
  // The temporary name is a dot file, bounded in length (NAME_MAX is 255),
  // and unique per process and attempt so two writers never share one.
  const std::string tmp = dir_part + "." + base.substr(0, 180) + ".tmp-" + std::to_string(::getpid()) + "-" +
                          std::to_string(random());
  UniqueFd fd(::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return {errno, std::generic_category()};
  std::error_code ec = write_all(fd.get(), content);
  if (!ec && ::fchmod(fd.get(), mode) != 0) ec = {errno, std::generic_category()};
  if (!ec && durability != Durability::kAtomicOnly && ::fsync(fd.get()) != 0) ec = {errno, std::generic_category()};
  fd.reset();
  if (!ec && ::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) != 0) ec = {errno, std::generic_category()};
  if (ec) {
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    return ec;
  }
  if (durability == Durability::kSynced) {
    UniqueFd dir(::openat(dir_fd, dir_part.empty() ? "." : dir_part.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir || ::fsync(dir.get()) != 0) return {errno, std::generic_category()};
  }
  return {};
}

// Renames `from` to `to` unless a name `to` exists: whatever appeared there
// is never replaced (EEXIST). On a file system without RENAME_NOREPLACE,
// link() then unlink(), which never replaces a name either. On failure
// `from` is left where it was.
[[nodiscard]] inline std::error_code rename_noreplace(const std::filesystem::path& from,
                                                      const std::filesystem::path& to) noexcept {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  if (errno != EINVAL && errno != ENOSYS) return {errno, std::generic_category()};
  if (::link(from.c_str(), to.c_str()) != 0) return {errno, std::generic_category()};
  ::unlink(from.c_str());
  return {};
}

// replace_file_at() for a path (relative paths against the current directory).
[[nodiscard]] inline std::error_code replace_file(const std::filesystem::path& path, std::string_view content,
                                                  mode_t mode, Durability durability = Durability::kSynced) {
  return replace_file_at(AT_FDCWD, path.string(), content, mode, durability);
}

// open(path, flags) following no symbolic link on any component, not just
// the last as O_NOFOLLOW does (openat2 RESOLVE_NO_SYMLINKS); -1 with errno
// ELOOP when one is there. Before Linux 5.6 (no openat2) each component is
// checked with lstat, then opened with O_NOFOLLOW: two steps, not one.
inline int open_without_symlinks(const std::string& path, int flags) {
  struct open_how how {};
  how.flags = static_cast<std::uint64_t>(flags);
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return static_cast<int>(fd);
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    struct stat st {};
    if (!prefix.empty() && ::lstat(prefix.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      errno = ELOOP;
      return -1;
    }
    if (slash == std::string::npos) break;
  }
  return ::open(path.c_str(), flags | O_NOFOLLOW);
}

}  // namespace dihya
