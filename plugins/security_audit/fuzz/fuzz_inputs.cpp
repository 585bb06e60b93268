// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for what security_audit reads from a possibly hostile
// tree: file contents (the secret scanner), ignore-file lines and paths (the
// glob matcher), names and values it prints (printable), versions (the OSV
// comparator). Invariants: no crash or sanitizer report, every finding is
// masked, printable output serialises as JSON, versions compare antisymmetrically.
#include <cstdint>
#include <string>

#include "../checks.hpp"
#include "../finding.hpp"
#include "../ignore_rules.hpp"
#include "../secrets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const security_audit::SecretScanner scanner;
  const std::string input(reinterpret_cast<const char*>(data), size);

  for (auto& f : scanner.scan(input.data(), input.size(), "fuzz.txt", scanner.prototype_scratch())) {
    if (f.line < 1 || f.column < 1 || f.fingerprint.size() != 64) __builtin_trap();
    // The evidence is at most 4 characters of the value plus "…(N chars)".
    if (f.evidence.find("\xE2\x80\xA6(") == std::string::npos || f.evidence.size() > 16 + 3 + 20) __builtin_trap();
    security_audit::make_printable(f);
    (void)security_audit::to_json(f).dump();
  }

  (void)nlohmann::json(security_audit::printable(input)).dump();

  // "pattern\npath": gitignore semantics on hostile patterns must stay fast.
  const auto nl = input.find('\n');
  if (nl != std::string::npos) {
    security_audit::IgnoreRules rules;
    rules.add(input.substr(0, nl));
    (void)rules.ignored(input.substr(nl + 1), false);
    (void)security_audit::glob_match(input.substr(0, nl), input.substr(nl + 1));
    const std::string a = input.substr(0, std::min<std::size_t>(nl, 64));
    const std::string b = input.substr(nl + 1, 64);
    if (security_audit::compare_versions(a, b) != -security_audit::compare_versions(b, a)) __builtin_trap();
  }
  return 0;
}
