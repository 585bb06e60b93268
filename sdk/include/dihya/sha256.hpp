// SPDX-License-Identifier: AGPL-3.0-or-later
// SHA-256 as 64 lowercase hex digits: the one implementation the host and
// every plugin use (plugin pins, the audit chain, checksums of migrations,
// manifests, exports, fingerprints, template revisions), bit-for-bit those of
// `sha256sum`. Header-only; a target that includes it links OpenSSL::Crypto.
//
// It calls OpenSSL's SHA256_Init/Update/Final, not EVP: the same code (the
// SHA-NI/AVX2 variant chosen at start) without EVP's first use, which fetches
// the algorithm and builds the provider's name map and method tables — about
// 3.5 million instructions, most of the CPU of a short command such as
// `dihya-host run noop`. These functions are deprecated in OpenSSL 3, not
// removed; the warning is silenced here so that -Werror builds stay clean.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <openssl/sha.h>

#include <dihya/error.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace dihya {

// An incremental SHA-256. update() as often as needed, then hex() once.
// Throws dihya::Error when OpenSSL fails (it never does for valid input).
// Not thread-safe; one object per stream of bytes.
class Sha256 {
 public:
  Sha256() {
    if (SHA256_Init(&ctx_) != 1) throw Error("SHA-256: OpenSSL could not initialise a digest");
  }

  Sha256& update(std::string_view bytes) {
    if (SHA256_Update(&ctx_, bytes.data(), bytes.size()) != 1) throw Error("SHA-256: OpenSSL could not hash");
    return *this;
  }

  // The digest of everything given to update(); the object is spent after it.
  std::string hex() {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (SHA256_Final(digest, &ctx_) != 1) throw Error("SHA-256: OpenSSL could not finish");
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

// The SHA-256 of `data` as hex. Throws dihya::Error only if OpenSSL fails.
inline std::string sha256_hex(std::string_view data) { return Sha256().update(data).hex(); }

}  // namespace dihya

#pragma GCC diagnostic pop
