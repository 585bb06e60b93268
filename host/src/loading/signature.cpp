// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/signature.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "errors.hpp"
#include "loading/libcrypto.hpp"
#include "loading/minisign.hpp"
#include "util/trusted_path.hpp"
#include "util/utc_time.hpp"

namespace dihya::host {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxTextFile = 64 * 1024;

struct TrustedKey {
  MinisignPublicKey key;
  fs::path file;
};

HostError refused(const PluginFile& plugin, const std::string& why) {
  return load_error(fmt::format("{}: refusing the plugin: {}", plugin.path.string(), why));
}

std::string read_small_file(const fs::path& file, const std::string& what) {
  const TrustedFile trusted = open_trusted_file(file, kExitLoad, what);
  std::string text;
  if (auto ec = read_all(trusted.fd.get(), &text, kMaxTextFile)) {
    throw load_error(fmt::format("{}: cannot read this {}: {}", file.string(), what,
                                 ec.value() == EFBIG ? "it is too large" : ec.message()));
  }
  return text;
}

TrustedKey read_public_key(const fs::path& file) {
  const std::string text = read_small_file(file, "trusted key");
  try {
    return {parse_minisign_public_key(text), file};
  } catch (const HostError& e) {
    throw load_error(fmt::format("{}: not a minisign public key: {}", file.string(), e.what()));
  }
}

std::set<std::string> read_revoked(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "revoked", ec)) return {};
  return parse_revoked_key_ids(read_small_file(dir / "revoked", "revocation list"));
}

MinisignSignature read_signature(const PluginFile& plugin, const fs::path& file) {
  const std::string text = read_small_file(file, "plugin signature");
  std::optional<MinisignSignature> sig;
  try {
    sig = parse_minisign_signature(text);
  } catch (const HostError& e) {
    throw refused(plugin, fmt::format("{} is not a minisign signature: {}", file.string(), e.what()));
  }
  if (sig->algorithm == "Ed") {
    throw refused(plugin, fmt::format("{} is a legacy (not pre-hashed) minisign signature; re-sign with "
                                      "`minisign -Sm` (minisign 0.10 or later)", file.string()));
  }
  return std::move(*sig);
}

bool ed25519_verifies(const std::string& public_key, const std::string& signature, const std::string& message) {
  const LibCrypto& c = libcrypto();
  const auto free_key = [&c](EVP_PKEY* key) { c.pkey_free(key); };
  const auto free_ctx = [&c](EVP_MD_CTX* ctx) { c.md_ctx_free(ctx); };
  std::unique_ptr<EVP_PKEY, decltype(free_key)> key(
      c.pkey_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
                                public_key.size()),
      free_key);
  std::unique_ptr<EVP_MD_CTX, decltype(free_ctx)> ctx(c.md_ctx_new(), free_ctx);
  if (!key || !ctx || c.digest_verify_init(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return c.digest_verify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

// BLAKE2b-512 of the whole file open on `fd`, read with pread from offset 0.
std::string blake2b512_of(const PluginFile& plugin) {
  const LibCrypto& c = libcrypto();
  const auto free_ctx = [&c](EVP_MD_CTX* ctx) { c.md_ctx_free(ctx); };
  std::unique_ptr<EVP_MD_CTX, decltype(free_ctx)> ctx(c.md_ctx_new(), free_ctx);
  if (!ctx || c.digest_init_ex(ctx.get(), c.blake2b512(), nullptr) != 1) {
    throw refused(plugin, "OpenSSL could not initialise BLAKE2b-512");
  }
  std::vector<char> buffer(1 << 20);
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(plugin.fd->get(), buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw refused(plugin, fmt::format("cannot read it: {}", std::strerror(errno)));
    if (n == 0) break;
    offset += n;
    if (c.digest_update(ctx.get(), buffer.data(), static_cast<std::size_t>(n)) != 1) {
      throw refused(plugin, "OpenSSL could not hash it");
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (c.digest_final_ex(ctx.get(), digest, &length) != 1) throw refused(plugin, "OpenSSL could not hash it");
  return std::string(reinterpret_cast<const char*>(digest), length);
}

const TrustedKey& find_key(const PluginFile& plugin, const SignatureSettings& settings, const std::string& key_id,
                           std::vector<TrustedKey>& keys) {
  const fs::path& dir = settings.trusted_keys_dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw refused(plugin, fmt::format("it is signed by key {}, but the trusted-keys directory {} does not exist",
                                      key_id, dir.string()));
  }
  check_trusted_dir(dir, kExitLoad, "trusted-keys directory");
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".pub") keys.push_back(read_public_key(entry.path()));
  }
  const auto it =
      std::find_if(keys.begin(), keys.end(), [&key_id](const TrustedKey& k) { return k.key.id == key_id; });
  if (it == keys.end()) {
    throw refused(plugin, fmt::format("it is signed by key {}, which is not among the trusted keys in {}", key_id,
                                      dir.string()));
  }
  if (read_revoked(dir).count(key_id) != 0) {
    throw refused(plugin, fmt::format("it is signed by key {}, which is revoked ({})", key_id,
                                      (dir / "revoked").string()));
  }
  const std::string today = format_iso_utc(std::chrono::system_clock::now()).substr(0, 10);
  if (!it->key.expires.empty() && it->key.expires <= today) {
    throw refused(plugin, fmt::format("it is signed by key {}, which expired on {} ({})", key_id, it->key.expires,
                                      it->file.string()));
  }
  return *it;
}

}  // namespace

SignaturePolicy parse_signature_policy(const std::string& text, const std::string& where) {
  if (text == "require") return SignaturePolicy::require;
  if (text == "if-present") return SignaturePolicy::if_present;
  if (text == "off") return SignaturePolicy::off;
  throw usage_error(fmt::format("{}: signatures '{}': expected require, if-present or off", where, text));
}

fs::path signature_file_of(const PluginFile& plugin) { return plugin.real_path.string() + ".minisig"; }

std::string verify_plugin_signature(const PluginFile& plugin, const SignatureSettings& settings) {
  if (settings.policy == SignaturePolicy::off) return "";
  const fs::path file = signature_file_of(plugin);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(file, ec))) {
    if (settings.policy == SignaturePolicy::if_present) return "";
    throw refused(plugin, fmt::format("it has no signature ({} is missing) and signatures are required; sign it "
                                      "with `minisign -Sm {}`", file.string(), plugin.real_path.string()));
  }
  const MinisignSignature sig = read_signature(plugin, file);
  std::vector<TrustedKey> keys;
  const MinisignPublicKey& key = find_key(plugin, settings, sig.key_id, keys).key;
  if (!ed25519_verifies(key.key, sig.global_signature, sig.signature + sig.trusted_comment)) {
    throw refused(plugin, fmt::format("the trusted comment of {} was altered", file.string()));
  }
  if (!ed25519_verifies(key.key, sig.signature, blake2b512_of(plugin))) {
    throw refused(plugin, fmt::format("its bytes are not those key {} signed ({}): the file was changed or the "
                                      "signature belongs to another file", key.id, file.string()));
  }
  return key.id;
}

}  // namespace dihya::host
