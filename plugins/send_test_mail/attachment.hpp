// SPDX-License-Identifier: AGPL-3.0-or-later
// Files an operator attaches to the test message. The path is hostile input:
// it is opened once, without following any symbolic link and without
// blocking on a FIFO, and only a regular file within the size limits is read;
// `..` components are refused outright. The content type is the one given or
// is guessed from the file name's extension; the file name shown to the
// recipient is the one given or the path's last component, and it must be
// UTF-8 without control characters or slashes.
// Guarantees: on success the Attachment holds exactly the bytes read from
// that one descriptor and their SHA-256; on failure `error` is one printable
// line and nothing is half-filled that the caller would send.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "mime_message.hpp"

namespace send_test_mail {

struct AttachmentRequest {
  std::string path;
  std::string filename;      // empty: the path's last component
  std::string content_type;  // empty: guessed from the file name
};

// Reads the regular file PATH into DATA, refusing a path with a '..'
// component or a symbolic link anywhere on it, and one over LIMIT bytes
// (LIMIT_TEXT says which limit, for the error); else false and WHY.
bool read_local_file(const std::string& path, std::size_t limit, const std::string& limit_text, std::string* data,
                     std::string* why);

// Reads the file of `request` into `out`. `limit` is the largest size allowed
// for this file (the smaller of the per-file limit and what the total limit
// leaves); `limit_text` says which limit that is, for the error.
bool read_attachment(const AttachmentRequest& request, std::size_t limit, const std::string& limit_text,
                     Attachment* out, std::string* error);

// Empty when `filename` may name an attachment, else the problem.
std::string check_attachment_filename(std::string_view filename);

// Empty when `type` is a "type/subtype" this plugin can send base64, else the problem.
std::string check_content_type(std::string_view type);

// The MIME type for `filename` by its extension: /etc/mime.types when it
// lists it (the table Python's mimetypes and mutt read), else a built-in
// table of common types, else application/octet-stream.
std::string guess_content_type(std::string_view filename);

}  // namespace send_test_mail
