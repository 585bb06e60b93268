// SPDX-License-Identifier: AGPL-3.0-or-later
// The secret rules as data: every token format the scanner knows, how its
// value is cut out of a vectorscan match and what confirms it. Patterns must
// compile in vectorscan (no lookaround, no backreferences) with bounded
// repeats; a format too long for start-of-match tracking matches a narrow head
// and is extended in code (Extension). The scanning logic is in secrets.cpp.
#pragma once

#include <cstddef>

#include "finding.hpp"

namespace security_audit {

// How the exact secret is cut out of a vectorscan match [from, to).
enum class Extract {
  whole,          // the match is the token
  after_assign,   // keyword ... `=`/`:` ... value: the value is after the operator
  dsn_password,   // scheme://user:PASSWORD@host
  pem_block,      // BEGIN header: the block up to its END line
  service_value,  // the match is a service's name: the value assigned to it must have one of the rule's shapes
};

// A rule-specific test run on the cut value, beyond entropy and placeholders.
enum class Check {
  none,
  jwt,             // three base64url segments, the second a JSON object
  openai,          // holds OpenAI's "T3BlbkFJ" marker
  github_app_jwt,  // ghs_<app id>_<JWT>
  generic,         // a value, not code (see generic_value_is_code)
  bare_hex_key,    // 0x + 64 hex digits, not on a line about hashes or transactions
  mixed_case,      // holds a digit, an upper- and a lower-case letter (random, not a word or an identifier)
};

// One accepted shape of a service's value: an optional literal prefix, then
// min_len..max_len characters of `chars`. "uuid" in chars means a UUID.
struct ValueShape {
  const char* prefix;
  const char* chars;
  unsigned short min_len;
  unsigned short max_len;
};

struct Rule {
  const char* id;
  const char* title;
  const char* pattern;  // nullptr: never matched directly (a verdict another rule's match is routed to)
  Severity severity;
  double min_entropy;   // Shannon bits per character of the value
  Extract extract;
  const char* fix;
  Check check = Check::none;
  bool yields = false;            // a broad rule: dropped when a specific rule reports the same value
  const ValueShape* shapes = nullptr;  // service_value rules: shapes, ended by a null `chars`
};

// Rules whose full pattern is too wide for vectorscan's start-of-match
// tracking ("Pattern is too large") match a narrow head instead; the value is
// then extended over `chars`, up to max_len, and must reach min_len.
struct Extension {
  const char* id;
  const char* chars;
  std::size_t min_len;
  std::size_t max_len;
};

extern const Rule kRules[];
extern const std::size_t kRuleCount;
extern const Extension kExtensions[];
extern const std::size_t kExtensionCount;
// The verdict a connection URL is routed to when its password is a default or its user name.
extern const unsigned kDefaultCredentialsRule;
extern const unsigned kDsnPasswordRule;

}  // namespace security_audit
