// SPDX-License-Identifier: AGPL-3.0-or-later
// Text made safe to show: every message the host prints may quote hostile
// input (a file name, a YAML key, a plugin's summary), and none of it may
// reach a terminal as a control sequence, invalid UTF-8 or a second line.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dihya::host {

// Offset (from 0) of the first byte of `text` that is not part of valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid), or
// nullopt when the whole text is valid.
std::optional<std::size_t> find_invalid_utf8(std::string_view text);

// `text` made safe for a one-line message: the SDK's dihya::printable
// (utf8.hpp; \n, \t, \xNN, C1 controls and bidi formatting characters
// escaped), cut at `max_chars` bytes with "...".
std::string printable(std::string_view text, std::size_t max_chars = 80);

// `text` as one line: surrounding whitespace trimmed, and each line break
// (with the indentation after it) replaced by "; ". libpq and many C
// libraries end messages with "\n" and continue them on indented lines.
std::string one_line(std::string_view text);

// `text` made safe for a terminal, line by line: printable() of each line,
// newlines and tabs kept. For plugin reports and summaries, which may quote hostile
// file names or keys.
std::string printable_text(std::string_view text);

}  // namespace dihya::host
