// SPDX-License-Identifier: AGPL-3.0-or-later
// The minisign file formats, parsed from text with no I/O, so the parsers can
// be fuzzed alone. A public key file is an "untrusted comment:" line and a
// base64 line ("Ed", 8-byte key id, 32-byte Ed25519 key); dihya-host accepts
// one optional "expires: YYYY-MM-DD" line after it. A signature file is an
// "untrusted comment:" line, a base64 line (algorithm "ED" = pre-hashed with
// BLAKE2b-512 or legacy "Ed", key id, 64-byte signature), a "trusted
// comment:" line and the base64 signature of signature || trusted comment.
#pragma once

#include <optional>
#include <set>
#include <string>

namespace dihya::host {

struct MinisignPublicKey {
  std::string id;          // as minisign prints it: uppercase hex, no leading zeros
  std::string key;         // 32 raw bytes
  std::string expires;     // YYYY-MM-DD, or empty
};

struct MinisignSignature {
  std::string algorithm;         // "ED" (pre-hashed) or "Ed" (legacy)
  std::string key_id;            // as minisign prints it
  std::string signature;         // 64 bytes, over the file's BLAKE2b-512 hash
  std::string trusted_comment;   // after "trusted comment: "
  std::string global_signature;  // 64 bytes, over signature || trusted_comment
};

// Parse `text`; on failure throw a load error (errors.hpp, exit 3) saying
// what is wrong, without the file's name: the caller knows it.
MinisignPublicKey parse_minisign_public_key(const std::string& text);
MinisignSignature parse_minisign_signature(const std::string& text);

// The key ids of a revocation list: one per line, as minisign prints them
// (case, blanks and leading zeros ignored), `#` starting a comment.
std::set<std::string> parse_revoked_key_ids(const std::string& text);

// Standard base64 with padding; nullopt for anything else (or over 4 KiB).
std::optional<std::string> base64_decode(const std::string& text);

}  // namespace dihya::host
