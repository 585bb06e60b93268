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

#include "params/param_builder.hpp"

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

// The password of a connection string as it is spelt in `conninfo`: the
// percent-encoded text of a URL's user:password@ and of "password=" in its
// query, the quoted or bare value of a "password=..." keyword. libpq decodes
// these; the environment, argv and a plugin's echo of the URL hold them as
// written, so both spellings are secrets. Empty when there is none.
std::vector<std::string> password_spellings(std::string_view conninfo);

// `text` with every password it holds masked, in every spelling
// password_spellings() finds and as redact_connection_string() masks: for
// operator input quoted in a message or shown back (a --param without '=',
// a parameter name written by hand).
std::string mask_passwords(std::string_view text);

// Replaces every occurrence of registered secrets with ***, then masks
// connection-string passwords (see redact_connection_string).
// Thread-safety: add_secret() must not race with anything; concurrent
// redact() calls on a Redactor no one modifies are safe.
class Redactor {
 public:
  // Registers a secret; its JSON-escaped spelling (as it appears inside JSON
  // output) is registered too, and so is each line of at least
  // kMinSecretLine bytes of a multi-line secret (a PEM key logged line by
  // line). Empty strings are ignored: every secret, however short, is masked.
  void add_secret(std::string value);
  // `text` with every secret replaced by ***. Where secrets overlap, the
  // longest one starting at the earliest position wins.
  std::string redact(std::string_view text) const;
  // For a stream that arrives in pieces (a plugin's stdout): masks the
  // secrets in the longest prefix of `text` that bytes yet to come cannot
  // change, appends it to `out` and returns its length; the caller keeps the
  // rest and passes it again in front of what follows. A secret split across
  // pieces or lines is masked as a whole. With `final` all of `text` is
  // consumed. Connection strings are not masked here (redact() a whole line).
  std::size_t redact_prefix(std::string_view text, bool final, std::string* out) const;
  bool empty() const { return secrets_.empty(); }
  // Every registered spelling, longest first.
  const std::vector<std::string>& secrets() const { return secrets_; }

  static constexpr std::size_t kMinSecretLine = 8;

 private:
  void add_spelling(std::string spelling);

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

// What run records, history, the audit log and `validate --json` keep of
// `params`: the above, and every parameter read through @env:/@file: becomes
// "***" as a whole, whatever its type.
nlohmann::json redact_resolved_params(const ResolvedParams& params, const nlohmann::json& schema, const Redactor& redactor);

}  // namespace dihya::host
