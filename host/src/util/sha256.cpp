// SPDX-License-Identifier: AGPL-3.0-or-later
// The host's file digests, through the SDK's one SHA-256 (dihya/sha256.hpp,
// which says why it is not EVP).
#include "util/sha256.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <dihya/sha256.hpp>

#include "errors.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

// 64 KiB reads: as fast as larger ones here, and a zero-filled 1 MiB buffer
// cost each hash 256 fresh pages for a plugin of a few hundred KB.
constexpr std::size_t kFileChunk = 1 << 16;

}  // namespace

std::string sha256_hex(std::string_view data) { return dihya::sha256_hex(data); }

std::string sha256_file_hex(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw state_error(
        fmt::format("sha256: cannot open {}: {}", file.string(), std::strerror(errno)));
  }
  return sha256_fd_hex(fd.get(), file);
}

std::string sha256_fd_hex(int fd, const std::filesystem::path& file) {
  dihya::Sha256 digest;
  std::vector<char> buffer(kFileChunk);
  for (off_t offset = 0;;) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw state_error(
          fmt::format("sha256: cannot read {}: {}", file.string(), std::strerror(errno)));
    }
    if (n == 0) break;
    offset += n;
    digest.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  return digest.hex();
}

}  // namespace dihya::host
