// SPDX-License-Identifier: AGPL-3.0-or-later
// SHA-256 as 64 lowercase hex digits, through OpenSSL's EVP interface: the
// one implementation the host and every plugin use (checksums of migrations,
// manifests, exports, fingerprints, template revisions), bit-for-bit those of
// `sha256sum`. Header-only; a target that includes it links OpenSSL::Crypto.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <openssl/evp.h>

#include <dihya/error.hpp>

namespace dihya {

// An incremental SHA-256. update() as often as needed, then hex() once.
// Throws dihya::Error when OpenSSL fails (it never does for valid input).
// Not thread-safe; one object per stream of bytes.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw Error("SHA-256: OpenSSL could not initialise a digest");
    }
  }

  Sha256& update(std::string_view bytes) {
    if (EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) != 1) throw Error("SHA-256: OpenSSL could not hash");
    return *this;
  }

  // The digest of everything given to update(); the object is spent after it.
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest, &length) != 1) throw Error("SHA-256: OpenSSL could not finish");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) {
      out.push_back(kHex[digest[i] >> 4]);
      out.push_back(kHex[digest[i] & 0x0f]);
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

// The SHA-256 of `data` as hex. Throws dihya::Error only if OpenSSL fails.
inline std::string sha256_hex(std::string_view data) { return Sha256().update(data).hex(); }

}  // namespace dihya
