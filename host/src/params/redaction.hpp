// SPDX-License-Identifier: AGPL-3.0-or-later
// Keeping secrets out of everything the host writes: run records, journals,
// logs and messages. A plugin receives its secrets in clear; every copy the
// host keeps or prints passes through here first. Masking errs on the side of
// hiding too much: a log line with one word too many replaced by *** is
// harmless, a leaked password is not.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dihya::host {

// What every hidden value is replaced with.
inline constexpr std::string_view kRedacted = "***";

// Masks passwords in connection strings, wherever they occur in `text`:
//   scheme://user:secret@host/db      -> scheme://user:***@host/db  (any scheme)
//   host=x password=secret user=y      -> host=x password=*** user=y
//   password='quoted secret'           -> password=***
//   ...?sslmode=require&password=abc   -> ...?sslmode=require&password=***
// Any key ending in "password" (case-insensitive: PGPASSWORD, sslpassword,
// db_password) followed by '=' counts. Everything else is left as it is.
std::string redact_connection_string(std::string_view text);

// Replaces every occurrence of registered secrets with ***, then masks
// connection-string passwords (see redact_connection_string).
// Thread-safety: add_secret() must not race with anything; concurrent
// redact() calls on a Redactor no one modifies are safe.
class Redactor {
 public:
  // Registers a secret; its JSON-escaped spelling (as it appears inside JSON
  // output) is registered too. Empty strings are ignored: every secret,
  // however short, is masked.
  void add_secret(std::string value);
  // `text` with every secret replaced by ***. Where secrets overlap, the
  // longest one starting at the earliest position wins.
  std::string redact(std::string_view text) const;
  bool empty() const { return secrets_.empty(); }

 private:
  std::vector<std::string> secrets_;        // longest first
  std::array<bool, 256> first_bytes_ = {};  // bytes some secret starts with: the scan skips all others
};

// A copy of `values` fit to store or show: every value of a `writeOnly`
// property of `schema` (also nested in objects and arrays) becomes "***" and
// every string goes through redact_connection_string.
nlohmann::json redact_params(const nlohmann::json& values, const nlohmann::json& schema);

// The same, and every string also goes through `redactor` (for values that
// came from @env:/@file: into parameters that are not writeOnly).
nlohmann::json redact_params(const nlohmann::json& values, const nlohmann::json& schema,
                             const Redactor& redactor);

}  // namespace dihya::host
