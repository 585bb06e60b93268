// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/signature.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "errors.hpp"
#include "util/trusted_path.hpp"
#include "util/utc_time.hpp"

namespace dihya::host {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxTextFile = 64 * 1024;
constexpr std::size_t kKeyIdBytes = 8;
constexpr std::size_t kPublicKeyBytes = 32;
constexpr std::size_t kSignatureBytes = 64;

struct TrustedKey {
  std::string id;          // as minisign prints it
  std::string public_key;  // 32 raw bytes
  std::string expires;     // YYYY-MM-DD, or empty
  fs::path file;
};

struct MinisignSignature {
  std::string algorithm;  // "ED": Ed25519 over BLAKE2b-512 of the file
  std::string key_id;
  std::string signature;         // over the file's hash
  std::string trusted_comment;   // after "trusted comment: "
  std::string global_signature;  // over signature || trusted_comment
};

HostError refused(const PluginFile& plugin, const std::string& why) {
  return load_error(fmt::format("{}: refusing the plugin: {}", plugin.path.string(), why));
}

std::string read_small_file(const fs::path& file, const std::string& what) {
  const TrustedFile trusted = open_trusted_file(file, kExitLoad, what);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(trusted.fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw load_error(fmt::format("{}: cannot read this {}: {}", file.string(), what, std::strerror(errno)));
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxTextFile) throw load_error(fmt::format("{}: this {} is too large", file.string(), what));
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

// Standard base64 with padding; nullopt on anything else.
std::optional<std::string> base64_decode(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 4096) return std::nullopt;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t padding = 0;
  if (text[text.size() - 1] == '=') ++padding;
  if (text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

// minisign prints key ids as the little-endian number they encode.
std::string key_id_text(const std::string& raw) {
  std::string hex;
  for (auto it = raw.rbegin(); it != raw.rend(); ++it) hex += fmt::format("{:02X}", static_cast<unsigned char>(*it));
  return hex;
}

TrustedKey parse_public_key(const fs::path& file) {
  const auto lines = lines_of(read_small_file(file, "trusted key"));
  const auto bad = [&file](const std::string& why) {
    return load_error(fmt::format("{}: not a minisign public key: {}", file.string(), why));
  };
  if (lines.size() < 2 || lines[0].rfind("untrusted comment:", 0) != 0) throw bad("no 'untrusted comment:' line");
  const auto blob = base64_decode(lines[1]);
  if (!blob || blob->size() != 2 + kKeyIdBytes + kPublicKeyBytes || blob->compare(0, 2, "Ed") != 0) {
    throw bad("the second line is not an Ed25519 key");
  }
  TrustedKey key;
  key.id = key_id_text(blob->substr(2, kKeyIdBytes));
  key.public_key = blob->substr(2 + kKeyIdBytes);
  key.file = file;
  for (std::size_t i = 2; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("expires: ", 0) == 0 && line.size() == 19) {
      key.expires = line.substr(9);
      continue;
    }
    throw bad(fmt::format("line {}: expected 'expires: YYYY-MM-DD'", i + 1));
  }
  return key;
}

std::set<std::string> read_revoked(const fs::path& dir) {
  std::set<std::string> ids;
  std::error_code ec;
  if (!fs::exists(dir / "revoked", ec)) return ids;
  for (std::string line : lines_of(read_small_file(dir / "revoked", "revocation list"))) {
    line.erase(std::find(line.begin(), line.end(), '#'), line.end());
    line.erase(std::remove_if(line.begin(), line.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
               line.end());
    std::transform(line.begin(), line.end(), line.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
    if (!line.empty()) ids.insert(line);
  }
  return ids;
}

MinisignSignature parse_signature(const PluginFile& plugin, const fs::path& file) {
  const auto lines = lines_of(read_small_file(file, "plugin signature"));
  const auto bad = [&plugin, &file](const std::string& why) {
    return refused(plugin, fmt::format("{} is not a minisign signature: {}", file.string(), why));
  };
  if (lines.size() < 4 || lines[0].rfind("untrusted comment:", 0) != 0) throw bad("expected 4 lines");
  const auto blob = base64_decode(lines[1]);
  if (!blob || blob->size() != 2 + kKeyIdBytes + kSignatureBytes) throw bad("the signature line is malformed");
  MinisignSignature sig;
  sig.algorithm = blob->substr(0, 2);
  sig.key_id = key_id_text(blob->substr(2, kKeyIdBytes));
  sig.signature = blob->substr(2 + kKeyIdBytes);
  const std::string prefix = "trusted comment: ";
  if (lines[2].rfind(prefix, 0) != 0) throw bad("no 'trusted comment:' line");
  sig.trusted_comment = lines[2].substr(prefix.size());
  const auto global = base64_decode(lines[3]);
  if (!global || global->size() != kSignatureBytes) throw bad("the comment signature is malformed");
  sig.global_signature = *global;
  if (sig.algorithm == "Ed") {
    throw refused(plugin, fmt::format("{} is a legacy (not pre-hashed) minisign signature; re-sign with "
                                      "`minisign -Sm` (minisign 0.10 or later)", file.string()));
  }
  if (sig.algorithm != "ED") throw bad("unknown signature algorithm");
  return sig;
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

bool ed25519_verifies(const std::string& public_key, const std::string& signature, const std::string& message) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()), public_key.size()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

// BLAKE2b-512 of the whole file open on `fd`, read with pread from offset 0.
std::string blake2b512_of(const PluginFile& plugin) {
  static const bool initialised = OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr) == 1;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(initialised ? EVP_MD_CTX_new() : nullptr);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_blake2b512(), nullptr) != 1) {
    throw refused(plugin, "OpenSSL could not initialise BLAKE2b-512");
  }
  std::vector<char> buffer(1 << 20);
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(plugin.fd->get(), buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw refused(plugin, fmt::format("cannot read it: {}", std::strerror(errno)));
    if (n == 0) break;
    offset += n;
    if (EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(n)) != 1) {
      throw refused(plugin, "OpenSSL could not hash it");
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) throw refused(plugin, "OpenSSL could not hash it");
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
    if (entry.path().extension() == ".pub") keys.push_back(parse_public_key(entry.path()));
  }
  const auto it = std::find_if(keys.begin(), keys.end(), [&key_id](const TrustedKey& k) { return k.id == key_id; });
  if (it == keys.end()) {
    throw refused(plugin, fmt::format("it is signed by key {}, which is not among the trusted keys in {}", key_id,
                                      dir.string()));
  }
  if (read_revoked(dir).count(key_id) != 0) {
    throw refused(plugin, fmt::format("it is signed by key {}, which is revoked ({})", key_id,
                                      (dir / "revoked").string()));
  }
  const std::string today = format_iso_utc(std::chrono::system_clock::now()).substr(0, 10);
  if (!it->expires.empty() && it->expires <= today) {
    throw refused(plugin, fmt::format("it is signed by key {}, which expired on {} ({})", key_id, it->expires,
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
  const MinisignSignature sig = parse_signature(plugin, file);
  std::vector<TrustedKey> keys;
  const TrustedKey& key = find_key(plugin, settings, sig.key_id, keys);
  if (!ed25519_verifies(key.public_key, sig.global_signature, sig.signature + sig.trusted_comment)) {
    throw refused(plugin, fmt::format("the trusted comment of {} was altered", file.string()));
  }
  if (!ed25519_verifies(key.public_key, sig.signature, blake2b512_of(plugin))) {
    throw refused(plugin, fmt::format("its bytes are not those key {} signed ({}): the file was changed or the "
                                      "signature belongs to another file", key.id, file.string()));
  }
  return key.id;
}

}  // namespace dihya::host
