// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the minisign parsers (loading/minisign.hpp): a
// signature file lies beside a plugin and a key file in the trusted-keys
// directory, so any bytes may reach them. They must return a value or
// throw a load error with a reason; a crash, a hang or a sanitizer report is a bug, and
// a parsed value must have the sizes the format fixes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "errors.hpp"
#include "loading/minisign.hpp"

namespace {

// A key id as minisign prints it: 1 to 16 uppercase hex digits, no leading zero (except "0").
bool is_key_id(const std::string& id) {
  return !id.empty() && id.size() <= 16 && id.find_first_not_of("0123456789ABCDEF") == std::string::npos &&
         (id == "0" || id[0] != '0');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // A refusal is a load error with a reason; anything else escaping is a bug.
  try {
    const auto key = dihya::host::parse_minisign_public_key(text);
    if (!is_key_id(key.id) || key.key.size() != 32) __builtin_trap();
  } catch (const dihya::host::HostError& e) {
    if (e.exit_code() != dihya::host::kExitLoad || *e.what() == '\0') __builtin_trap();
  }
  try {
    const auto sig = dihya::host::parse_minisign_signature(text);
    if (!is_key_id(sig.key_id) || sig.signature.size() != 64 || sig.global_signature.size() != 64) {
      __builtin_trap();
    }
  } catch (const dihya::host::HostError& e) {
    if (e.exit_code() != dihya::host::kExitLoad || *e.what() == '\0') __builtin_trap();
  }
  for (const auto& id : dihya::host::parse_revoked_key_ids(text)) {
    if (id.empty() || id.find_first_of(" \t\n#") != std::string::npos) __builtin_trap();
  }
  if (auto bytes = dihya::host::base64_decode(text)) {
    if (bytes->size() > text.size() / 4 * 3) __builtin_trap();
  }
  return 0;
}
