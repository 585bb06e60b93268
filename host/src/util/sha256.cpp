// SPDX-License-Identifier: AGPL-3.0-or-later
// SHA-256 through OpenSSL's SHA256_Init/Update/Final: the same implementation
// (SHA-NI/AVX2 code chosen at start) that EVP's default provider runs, without
// EVP. The first EVP digest of a process fetches its algorithm, which builds
// the provider's name map and method tables: about 3.5 million instructions,
// most of a short command's CPU (`run noop` hashes the plugin and the audit
// chain), and linking EVP at all puts libcrypto's 340 KB of pointer tables in
// the host, relocated by every start. These functions are deprecated in
// OpenSSL 3 in favour of EVP, not removed; the SDK's dihya::Sha256 (EVP)
// gives the same digests, which audit_test checks against sha256sum's.
#include "util/sha256.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/sha.h>

#include "errors.hpp"
#include "util/unique_fd.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace dihya::host {
namespace {

// 64 KiB reads: as fast as larger ones here, and a zero-filled 1 MiB buffer
// cost each hash 256 fresh pages for a plugin of a few hundred KB.
constexpr std::size_t kFileChunk = 1 << 16;

// An incremental SHA-256; one object per stream of bytes.
class Digest {
 public:
  Digest() {
    if (SHA256_Init(&ctx_) != 1) throw state_error("sha256: OpenSSL could not initialise a digest");
  }
  void update(const void* data, std::size_t size) {
    if (SHA256_Update(&ctx_, data, size) != 1) throw state_error("sha256: OpenSSL could not hash");
  }
  std::string hex() {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (SHA256_Final(digest, &ctx_) != 1) throw state_error("sha256: OpenSSL could not finish");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(2 * sizeof digest, '\0');
    for (std::size_t i = 0; i < sizeof digest; ++i) {
      out[2 * i] = kHex[digest[i] >> 4];
      out[2 * i + 1] = kHex[digest[i] & 0x0f];
    }
    return out;
  }

 private:
  SHA256_CTX ctx_{};
};

}  // namespace

std::string sha256_hex(std::string_view data) {
  Digest digest;
  digest.update(data.data(), data.size());
  return digest.hex();
}

std::string sha256_file_hex(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw state_error(
        fmt::format("sha256: cannot open {}: {}", file.string(), std::strerror(errno)));
  }
  return sha256_fd_hex(fd.get(), file);
}

std::string sha256_fd_hex(int fd, const std::filesystem::path& file) {
  Digest digest;
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
    digest.update(buffer.data(), static_cast<std::size_t>(n));
  }
  return digest.hex();
}

}  // namespace dihya::host

#pragma GCC diagnostic pop
