// SPDX-License-Identifier: AGPL-3.0-or-later
// The host's file descriptor owner and I/O loops are the SDK's (dihya/file_io.hpp):
// one implementation for the host and every plugin. Host code in dihya::host
// names them unqualified (UniqueFd, write_all, read_all, fsync_directory).
// read_exact and write_exact, positioned I/O on the host's own files (the
// state log, the audit log's tail, ELF section tables), and DirStream, an
// open directory listing, are the host's own.
#pragma once

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include <dihya/file_io.hpp>

namespace dihya::host {

// Reads exactly `size` bytes at `offset` with pread (the descriptor's own
// offset is untouched), retrying on EINTR and short reads; false on an error
// (errno says which) or when the file ends first (errno 0).
inline bool read_exact(int fd, void* buffer, std::size_t size, std::uint64_t offset) {
  auto* out = static_cast<char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) {
      errno = 0;
      return false;
    }
    out += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

// Writes all `size` bytes at `offset` with pwrite, retrying on EINTR and short
// writes; false on an error (errno says which).
inline bool write_exact(int fd, const void* data, std::size_t size, std::uint64_t offset) {
  const auto* in = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, in, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    in += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

// Owns one opendir() stream: closed exactly once, on destruction. get() is
// null when the directory could not be opened (errno says why).
class DirStream {
 public:
  explicit DirStream(const char* dir) : dir_(::opendir(dir)) {}
  ~DirStream() {
    if (dir_ != nullptr) ::closedir(dir_);
  }
  DirStream(const DirStream&) = delete;
  DirStream& operator=(const DirStream&) = delete;
  DIR* get() const { return dir_; }

 private:
  DIR* dir_;
};

}  // namespace dihya::host
