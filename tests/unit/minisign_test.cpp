// SPDX-License-Identifier: AGPL-3.0-or-later
// Key ids of minisign keys and signatures (loading/minisign.hpp): minisign prints them as a
// hexadecimal number without leading zeros, and a revocation list must match either spelling.
#include <catch2/catch.hpp>

#include <string>

#include <openssl/evp.h>

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
  std::string error;
  const auto key = dihya::host::parse_minisign_public_key(public_key_with_id(id_le), &error);
  REQUIRE(key);
  CHECK(key->id == "1DAA3FD584445CA");
  const auto zero = dihya::host::parse_minisign_public_key(public_key_with_id(std::string(8, '\0')), &error);
  REQUIRE(zero);
  CHECK(zero->id == "0");
}

TEST_CASE("a revocation list matches a key id written with or without leading zeros, in any case", "[minisign]") {
  const auto ids = dihya::host::parse_revoked_key_ids("01daa3fd584445ca  # leaked\n\n  00000000000000AB\n# note\n0000\n");
  CHECK(ids.count("1DAA3FD584445CA") == 1);
  CHECK(ids.count("AB") == 1);
  CHECK(ids.count("0") == 1);
  CHECK(ids.size() == 3);
}
