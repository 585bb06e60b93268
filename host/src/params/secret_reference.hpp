// SPDX-License-Identifier: AGPL-3.0-or-later
// `@env:NAME` and `@file:PATH`: where a secret is, instead of the secret, in a
// parameter (--param, a params file) or a setting (the database URL). A value
// given in clear on the command line is visible to every local user in `ps`
// and /proc/<pid>/cmdline; the reference is not. One reader for both, so that
// they accept and refuse the same things.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dihya::host {

struct SecretReference {
  std::string text;  // what the reference stands for
  bool secret;       // read through @env: or @file: (false for "@@...": a literal "@...")
};

// `text` with a leading "@env:NAME" replaced by that variable and
// "@file:PATH" by the file's text (at most `max_file_bytes`, one trailing
// newline removed); "@@" stands for a literal "@"; nullopt for any other
// text. The value must be valid UTF-8. `origin` ("parameter 'password'",
// "--database-url") starts every message. Throws HostError (usage) naming the
// variable or file, never its content.
std::optional<SecretReference> read_secret_reference(std::string_view text, const std::string& origin,
                                                     std::size_t max_file_bytes);

// Throws a usage error (starting with `origin`) when the reference `text`
// can never resolve: "@env:" with no name or a name no variable can have,
// "@file:" with no path. Any other text passes.
void check_reference_form(std::string_view text, const std::string& origin);

// Whether `text` is a reference read_secret_reference() resolves ("@env:..."
// or "@file:..."), as stored where it is resolved later (a schedule's params).
inline bool is_secret_reference(std::string_view text) {
  return text.substr(0, 5) == "@env:" || text.substr(0, 6) == "@file:";
}

// read_secret_reference() for a setting (files up to 64 KiB): the text it
// stands for, or `text` itself when it is no reference.
std::string resolve_secret_reference(const std::string& text, const std::string& origin);

}  // namespace dihya::host
