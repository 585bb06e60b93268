// SPDX-License-Identifier: AGPL-3.0-or-later
// Turning a person's words into names a generated project can use: ASCII
// folding of accented Latin letters, word splitting, snake/camel/Pascal case,
// English singular and plural, and the reserved words of every target
// language (Python, JavaScript, SQL, Solidity) so no identifier the engine
// produces can break the code it lands in. Pure functions, no I/O: the fuzz
// target links this file alone.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <dihya/template_format.hpp>
#include <dihya/utf8.hpp>

namespace generate_project {

using dihya::templates::valid_utf8;

// `s` (valid UTF-8) with accented Latin letters folded to ASCII (é→e, œ→oe,
// ß→ss), case kept; other non-ASCII code points become `other`.
std::string fold_ascii(std::string_view s, char other = ' ');

// The lower-case ASCII words of `s`: split on anything but letters and
// digits, and on camelCase boundaries ("OrderItems" → order, items).
std::vector<std::string> split_words(std::string_view s);

std::string join_snake(const std::vector<std::string>& words);   // order_items
std::string join_camel(const std::vector<std::string>& words);   // orderItems
std::string join_pascal(const std::vector<std::string>& words);  // OrderItems
std::string join_title(const std::vector<std::string>& words);   // Order Items

// English number of the last word of a snake_case name.
std::string singular_of(const std::string& snake);
std::string plural_of(const std::string& snake);
bool looks_plural(const std::string& word);

// What a resource named `name` (snake_case plural, maybe with the reserved-word
// suffix) is called in generated code and text. `singular` is never `name`:
// a word whose plural is itself (news, series) gets "_item" (news_item).
struct ResourceNames {
  std::string singular;        // snake_case: create_order, struct members
  std::string class_name;      // PascalCase: Order, OrderInput
  std::string js_name;         // camelCase singular
  std::string js_plural;       // camelCase plural
  std::string title;           // "Order Items"
  std::string title_singular;  // "Order Item"
};
ResourceNames resource_names(const std::string& name);

// True when `word` (lower-case) is reserved or a well-known global in one of
// the target languages (Python, JavaScript, PostgreSQL, Solidity) or a name
// the generated layout uses itself (app, config, tests...).
bool is_reserved(const std::string& word);
// The same without SQL key words, for names that never reach SQL ("user").
bool is_reserved_in_code(const std::string& word);
// True when a PascalCase name would shadow a builtin (None, Date, Object...).
bool is_reserved_pascal(const std::string& word);

// `name` + "_" when reserved, else `name`.
std::string unreserved(const std::string& name);

// Display text with control characters (C0, DEL, C1) replaced by spaces,
// runs of spaces collapsed, trimmed.
std::string clean_text(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` that ends on a code point
// boundary (the SDK's, dihya/utf8.hpp).
inline std::string utf8_prefix(std::string_view s, std::size_t max_bytes) {
  return std::string(dihya::utf8_prefix(s, max_bytes));
}

// A string literal valid in Python, JavaScript and JSON for `s` (valid UTF-8).
std::string json_literal(std::string_view s);
// The same, also safe inside an HTML <script> (no "</", U+2028/U+2029 escaped).
std::string js_literal(std::string_view s);

}  // namespace generate_project
