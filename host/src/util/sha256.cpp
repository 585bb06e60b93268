// SPDX-License-Identifier: AGPL-3.0-or-later
// SHA-256 through OpenSSL EVP: one digest context per call, so no shared state.
#include "util/sha256.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <dihya/sha256.hpp>

#include "errors.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

constexpr std::size_t kFileChunk = 1 << 20;

// The SDK's one SHA-256 (dihya/sha256.hpp), after an OpenSSL start-up that
// skips openssl.cnf: hashing needs none of it, and loading it dominates a
// short run of the host. (Plugins keep the default: their TLS may need it.)
dihya::Sha256 new_sha256() {
  static const bool initialised = OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr) == 1;
  if (!initialised) throw state_error("sha256: OpenSSL could not start");
  return dihya::Sha256();
}

}  // namespace

std::string sha256_hex(std::string_view data) { return new_sha256().update(data).hex(); }

std::string sha256_file_hex(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw state_error(
        fmt::format("sha256: cannot open {}: {}", file.string(), std::strerror(errno)));
  }
  return sha256_fd_hex(fd.get(), file);
}

std::string sha256_fd_hex(int fd, const std::filesystem::path& file) {
  dihya::Sha256 digest = new_sha256();
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
