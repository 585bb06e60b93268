// SPDX-License-Identifier: AGPL-3.0-or-later
// Settings that hold a secret (the database URL) can name where the secret
// is instead of holding it: `@env:NAME` or `@file:PATH`, as parameters do.
// A URL given in clear on the command line is visible to every local user
// in `ps` and /proc/<pid>/cmdline; the reference is not.
#pragma once

#include <string>

namespace dihya::host {

// `text` with a leading "@env:NAME" replaced by that variable and
// "@file:PATH" by the file's text (at most 64 KiB, one trailing newline
// removed); "@@" stands for a literal "@"; any other text is returned as it
// is. `origin` ("--database-url") starts every message. Throws HostError
// (usage) naming the variable or file, never its content.
std::string resolve_secret_reference(const std::string& text, const std::string& origin);

}  // namespace dihya::host
