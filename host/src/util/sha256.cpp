// SPDX-License-Identifier: AGPL-3.0-or-later
// SHA-256 through OpenSSL EVP: one digest context per call, so no shared state.
#include "util/sha256.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

constexpr std::size_t kFileChunk = 1 << 20;

struct DigestContextFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, DigestContextFree>;

DigestContext new_sha256_context() {
  // Hashing needs none of openssl.cnf: skipping it saves most of OpenSSL's
  // start-up, which otherwise dominates a short run of the host.
  static const bool initialised = OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr) == 1;
  DigestContext ctx(initialised ? EVP_MD_CTX_new() : nullptr);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("sha256: OpenSSL could not initialise a digest");
  }
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &length) != 1) {
    throw std::runtime_error("sha256: OpenSSL could not finish a digest");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0f]);
  }
  return hex;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  DigestContext ctx = new_sha256_context();
  if (EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1) {
    throw std::runtime_error("sha256: OpenSSL could not hash the data");
  }
  return finish_hex(ctx.get());
}

std::string sha256_file_hex(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw std::runtime_error(
        fmt::format("sha256: cannot open {}: {}", file.string(), std::strerror(errno)));
  }
  return sha256_fd_hex(fd.get(), file);
}

std::string sha256_fd_hex(int fd, const std::filesystem::path& file) {
  DigestContext ctx = new_sha256_context();
  std::vector<char> buffer(kFileChunk);
  for (off_t offset = 0;;) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(
          fmt::format("sha256: cannot read {}: {}", file.string(), std::strerror(errno)));
    }
    if (n == 0) break;
    offset += n;
    if (EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(n)) != 1) {
      throw std::runtime_error(fmt::format("sha256: OpenSSL could not hash {}", file.string()));
    }
  }
  return finish_hex(ctx.get());
}

}  // namespace dihya::host
