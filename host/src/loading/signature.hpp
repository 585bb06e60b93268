// SPDX-License-Identifier: AGPL-3.0-or-later
// Signed plugins: a plugin file is loaded only when a key the operator trusts
// signed exactly its bytes, where the operator asks for it. The format is
// minisign's, so a stock tool makes keys and signatures (`minisign -G`,
// `minisign -Sm libx.so`): Ed25519 over the BLAKE2b-512 hash of the file,
// plus a second Ed25519 signature binding the trusted comment. The hash is
// computed on the descriptor the child will load (PluginFile::fd), never on
// the path again.
//
// Trusted keys live in one directory (default <sysconfdir>/dihya/trusted-keys)
// that must pass the trust rules of util/trusted_path.hpp: one minisign public
// key per `*.pub` file, optionally followed by a line `expires: YYYY-MM-DD`
// (the key is refused from that day on, UTC); a file `revoked` lists key ids
// (as minisign prints them, 16 hex digits), one per line, `#` comments.
#pragma once

#include <filesystem>
#include <string>

#include "loading/plugin_file.hpp"

namespace dihya::host {

enum class SignaturePolicy {
  off,         // signatures are not looked at
  if_present,  // a signature beside the plugin must verify; none is fine
  require,     // every plugin must carry a signature that verifies
};

struct SignatureSettings {
  SignaturePolicy policy = SignaturePolicy::if_present;
  std::filesystem::path trusted_keys_dir;
};

// Parses "require", "if-present" or "off"; throws a usage error otherwise.
SignaturePolicy parse_signature_policy(const std::string& text, const std::string& where);

// Where the signature of `plugin` is looked for: beside its real path, with
// ".minisig" appended (the name minisign writes).
std::filesystem::path signature_file_of(const PluginFile& plugin);

// Checks the signature of `plugin` under `settings`. Returns the id of the
// key that verified it, or "" when there is none and the policy allows that.
// Throws a load error (exit 3), one line naming the file and the reason: no
// signature under `require`, a malformed signature, an unknown, revoked or
// expired key, a file whose bytes differ from what was signed, a trusted-keys
// directory or key file another user could change.
std::string verify_plugin_signature(const PluginFile& plugin, const SignatureSettings& settings);

}  // namespace dihya::host
