// SPDX-License-Identifier: AGPL-3.0-or-later
// The OpenSSL EVP functions the signature check needs (Ed25519, BLAKE2b-512,
// base64), from libcrypto.so.3 loaded with dlopen on first use. Referencing
// EVP from the host would link OpenSSL's providers and their 340 KB of pointer
// tables, which the loader relocates (and the kernel copies page by page) at
// every start of every command, while only a plugin with a signature beside
// it needs them. The host's SHA-256 (util/sha256.hpp) needs none of this.
#pragma once

#include <openssl/evp.h>

namespace dihya::host {

// Pointers to the libcrypto functions of the same names. Not owned; valid for
// the life of the process.
struct LibCrypto {
  decltype(&::EVP_MD_CTX_new) md_ctx_new;
  decltype(&::EVP_MD_CTX_free) md_ctx_free;
  decltype(&::EVP_blake2b512) blake2b512;
  decltype(&::EVP_DigestInit_ex) digest_init_ex;
  decltype(&::EVP_DigestUpdate) digest_update;
  decltype(&::EVP_DigestFinal_ex) digest_final_ex;
  decltype(&::EVP_PKEY_new_raw_public_key) pkey_new_raw_public_key;
  decltype(&::EVP_PKEY_free) pkey_free;
  decltype(&::EVP_DigestVerifyInit) digest_verify_init;
  decltype(&::EVP_DigestVerify) digest_verify;
  decltype(&::EVP_DecodeBlock) decode_block;
};

// Loads libcrypto.so.3 once. Throws a load error (exit 3) naming the package
// when it cannot be loaded. Thread-safe.
const LibCrypto& libcrypto();

}  // namespace dihya::host
