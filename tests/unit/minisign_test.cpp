// SPDX-License-Identifier: AGPL-3.0-or-later
// Key ids of minisign keys and signatures (loading/minisign.hpp): minisign prints them as a
// hexadecimal number without leading zeros, and a revocation list must match either spelling.
#include <catch2/catch.hpp>

#include <string>

#include <openssl/evp.h>

#include "errors.hpp"
#include "loading/minisign.hpp"

namespace {

std::string base64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// A public key file whose key id bytes (little-endian) are `id_le`.
std::string public_key_with_id(const std::string& id_le) {
  return "untrusted comment: minisign public key\n" + base64("Ed" + id_le + std::string(32, '\x11')) + "\n";
}

}  // namespace

TEST_CASE("a key id with a leading zero is written as minisign prints it, without the zero", "[minisign]") {
  // 0x01DAA3FD584445CA, little-endian.
  const std::string id_le("\xCA\x45\x44\x58\xFD\xA3\xDA\x01", 8);
  CHECK(dihya::host::parse_minisign_public_key(public_key_with_id(id_le)).id == "1DAA3FD584445CA");
  CHECK(dihya::host::parse_minisign_public_key(public_key_with_id(std::string(8, '\0'))).id == "0");
}

TEST_CASE("a revocation list matches a key id written with or without leading zeros, in any case", "[minisign]") {
  const auto ids = dihya::host::parse_revoked_key_ids("01daa3fd584445ca  # leaked\n\n  00000000000000AB\n# note\n0000\n");
  CHECK(ids.count("1DAA3FD584445CA") == 1);
  CHECK(ids.count("AB") == 1);
  CHECK(ids.count("0") == 1);
  CHECK(ids.size() == 3);
}

TEST_CASE("a malformed key or signature is a load error (exit 3) that says what is wrong", "[minisign]") {
  using dihya::host::HostError;
  CHECK_THROWS_WITH(dihya::host::parse_minisign_public_key("not a key\n"), "no 'untrusted comment:' line");
  CHECK_THROWS_WITH(dihya::host::parse_minisign_public_key("untrusted comment: k\nRWQ=\n"),
                    "the second line is not an Ed25519 key");
  CHECK_THROWS_WITH(dihya::host::parse_minisign_signature("untrusted comment: s\n"),
                    "expected 4 lines, the first an 'untrusted comment:'");
  try {
    dihya::host::parse_minisign_signature("untrusted comment: s\n!!!!\ntrusted comment: t\nAAAA\n");
    FAIL("a malformed signature line was accepted");
  } catch (const HostError& e) {
    CHECK(e.exit_code() == dihya::host::kExitLoad);
    CHECK(std::string(e.what()) == "the signature line is malformed");
  }
}
