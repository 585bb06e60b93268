// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/libcrypto.hpp"

#include <dlfcn.h>

#include <fmt/format.h>

#include "errors.hpp"
#include "util/dynamic_symbol.hpp"

namespace dihya::host {
namespace {

template <typename F>
void resolve(void* handle, const char* name, F& target) {
  resolve_symbol(handle, "libcrypto.so.3", name, target, [](const std::string& message) { throw load_error(message); });
}

LibCrypto load() {
  void* handle = ::dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    throw load_error("cannot load libcrypto.so.3 to check plugin signatures: install the libssl3 package");
  }
  // Started by its first call with OpenSSL's defaults, openssl.cnf included:
  // this is the libcrypto.so.3 a plugin's child inherits from the fork and
  // its TLS then uses, so it must be configured as any program's would be.
  LibCrypto c{};
  resolve(handle, "EVP_MD_CTX_new", c.md_ctx_new);
  resolve(handle, "EVP_MD_CTX_free", c.md_ctx_free);
  resolve(handle, "EVP_blake2b512", c.blake2b512);
  resolve(handle, "EVP_DigestInit_ex", c.digest_init_ex);
  resolve(handle, "EVP_DigestUpdate", c.digest_update);
  resolve(handle, "EVP_DigestFinal_ex", c.digest_final_ex);
  resolve(handle, "EVP_PKEY_new_raw_public_key", c.pkey_new_raw_public_key);
  resolve(handle, "EVP_PKEY_free", c.pkey_free);
  resolve(handle, "EVP_DigestVerifyInit", c.digest_verify_init);
  resolve(handle, "EVP_DigestVerify", c.digest_verify);
  resolve(handle, "EVP_DecodeBlock", c.decode_block);
  return c;
}

}  // namespace

const LibCrypto& libcrypto() {
  static const LibCrypto api = load();
  return api;
}

}  // namespace dihya::host
