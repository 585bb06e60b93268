// SPDX-License-Identifier: AGPL-3.0-or-later
// Ownership of POSIX file descriptors, and the two I/O loops every durable
// write in the host needs. A UniqueFd closes its descriptor exactly once, on
// destruction or reset, and can be moved but not copied. write_all() writes
// every byte or reports why not; fsync_directory() makes a file's creation,
// rename or removal in that directory survive a power loss. read_all() is
// write_all()'s twin for reading a whole file.
#pragma once

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace dihya::host {

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
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
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

}  // namespace dihya::host
