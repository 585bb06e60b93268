// SPDX-License-Identifier: AGPL-3.0-or-later
// Mustache rendering for the message: the text part and the subject render
// values as they are, the HTML part HTML-escapes them. kainjow mustache renders
// a missing variable as empty text, so variables used outside any section are
// checked first: a typo fails validation instead of sending a blank.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace send_test_mail {

// Renders `source` with `variables` (a JSON object). `html_escape` selects the
// escaping of {{name}} values ({{{name}}} is never escaped). Returns false and
// sets `error` (one line) on a template error, a missing variable, or a text
// that would pass `max_bytes`: rendering stops there, so sections nested over
// long lists cannot exhaust memory.
bool render_template(const std::string& source, const nlohmann::json& variables, bool html_escape,
                     std::size_t max_bytes, std::string* out, std::string* error);

// Escapes &, <, >, " and ' for HTML text.
std::string html_escape(const std::string& text);

}  // namespace send_test_mail
