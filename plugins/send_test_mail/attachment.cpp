// SPDX-License-Identifier: AGPL-3.0-or-later
#include "attachment.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include <dihya/file_io.hpp>
#include <dihya/sha256.hpp>

#include <dihya/utf8.hpp>

#include "address.hpp"

namespace send_test_mail {
namespace {

constexpr std::size_t kMaxFilename = 255;
constexpr std::size_t kMaxContentType = 127;

std::string lower(std::string_view text) {
  std::string out;
  for (char c : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has_dot_dot_component(std::string_view path) {
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    if (path.substr(start, slash == std::string_view::npos ? slash : slash - start) == "..") return true;
    if (slash == std::string_view::npos) return false;
    start = slash + 1;
  }
}

std::string file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

std::string builtin_type(const std::string& extension) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {"txt", "text/plain"},       {"log", "text/plain"},           {"csv", "text/csv"},
      {"html", "text/html"},       {"htm", "text/html"},            {"ics", "text/calendar"},
      {"json", "application/json"}, {"xml", "application/xml"},     {"pdf", "application/pdf"},
      {"zip", "application/zip"},  {"gz", "application/gzip"},      {"tar", "application/x-tar"},
      {"png", "image/png"},        {"jpg", "image/jpeg"},           {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},        {"webp", "image/webp"},          {"svg", "image/svg+xml"},
      {"mp3", "audio/mpeg"},       {"wav", "audio/wav"},            {"mp4", "video/mp4"},
      {"doc", "application/msword"},
      {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"odt", "application/vnd.oasis.opendocument.text"}};
  for (const auto& [ext, type] : kTypes) {
    if (extension == ext) return type;
  }
  return {};
}

std::string system_type(const std::string& extension) {
  std::ifstream table("/etc/mime.types");
  std::string line;
  while (std::getline(table, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::size_t start = line.find_first_of(" \t");
    if (start == std::string::npos) continue;
    const std::string type = line.substr(0, start);
    while (start < line.size()) {
      start = line.find_first_not_of(" \t", start);
      if (start == std::string::npos) break;
      std::size_t end = line.find_first_of(" \t", start);
      if (end == std::string::npos) end = line.size();
      if (line.compare(start, end - start, extension) == 0) return type;
      start = end;
    }
  }
  return {};
}

}  // namespace

std::string check_attachment_filename(std::string_view filename) {
  if (filename.empty()) return "the file name is empty";
  if (filename.size() > kMaxFilename) return "the file name is longer than 255 bytes";
  if (!dihya::valid_utf8(filename)) return "the file name is not valid UTF-8 (give one with filename)";
  if (filename == "." || filename == "..") return "the file name may not be '.' or '..'";
  for (std::size_t i = 0; i < filename.size(); ++i) {
    const auto c = static_cast<unsigned char>(filename[i]);
    if (c < 0x20 || c == 0x7F || (c == 0xC2 && i + 1 < filename.size() &&
                                  static_cast<unsigned char>(filename[i + 1]) < 0xA0)) {
      return "the file name contains a control character (CR/LF refused)";
    }
    if (c == '/' || c == '\\') return "the file name may not contain '/' or '\\'";
  }
  return {};
}

std::string check_content_type(std::string_view type) {
  if (type.empty() || type.size() > kMaxContentType) return "give a content type like application/pdf";
  const std::size_t slash = type.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == type.size()) {
    return "'" + printable(type) + "' is not type/subtype (like application/pdf; no parameters)";
  }
  for (std::size_t i = 0; i < type.size(); ++i) {
    const auto c = static_cast<unsigned char>(type[i]);
    if (i == slash) continue;
    // RFC 2045 5.1 token: printable ASCII but tspecials and space.
    if (c <= 0x20 || c >= 0x7F || std::string_view("()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) != std::string_view::npos) {
      return "'" + printable(type) + "' is not type/subtype (like application/pdf; no parameters)";
    }
  }
  const std::string major = lower(type.substr(0, slash));
  if (major == "multipart" || major == "message") {
    return "'" + printable(type) + "' cannot be sent base64-encoded (RFC 2046); use application/octet-stream";
  }
  return {};
}

std::string guess_content_type(std::string_view filename) {
  const std::size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == filename.size()) return "application/octet-stream";
  const std::string extension = lower(filename.substr(dot + 1));
  std::string type = system_type(extension);
  if (type.empty()) type = builtin_type(extension);
  // mime.types maps .eml to message/rfc822, which base64 may not carry.
  if (type.empty() || !check_content_type(type).empty()) return "application/octet-stream";
  return lower(type);
}

bool read_local_file(const std::string& path, std::size_t limit, const std::string& limit_text, std::string* data,
                     std::string* why) {
  if (path.empty()) {
    *why = "the path is empty";
    return false;
  }
  auto fail = [&](const std::string& text) {
    *why = text;
    return false;
  };
  if (has_line_break_or_nul(path)) return fail("the path contains CR, LF or NUL");
  if (has_dot_dot_component(path)) return fail("the path has a '..' component (refused: give the direct path)");
  // No symbolic link anywhere on the path, and no wait on a FIFO (O_NONBLOCK;
  // regular files ignore it).
  const dihya::UniqueFd fd(dihya::open_without_symlinks(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    const int code = errno;
    if (code == ELOOP) return fail("the path is or passes through a symbolic link (refused: give the real path)");
    if (code == ENOENT) return fail("does not exist");
    if (code == ENOTDIR) return fail("a component of the path is not a directory");
    if (code == EACCES) return fail("cannot be read (permission denied)");
    return fail(std::string("cannot be opened (") + std::strerror(code) + ")");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(std::string("cannot be examined (") + std::strerror(errno) + ")");
  if (!S_ISREG(st.st_mode)) return fail("is " + file_kind(st.st_mode) + ", not a regular file");
  auto too_large = [&](std::size_t size) { return fail("is " + std::to_string(size) + " bytes, over " + limit_text); };
  if (static_cast<std::size_t>(st.st_size) > limit) return too_large(static_cast<std::size_t>(st.st_size));
  data->resize(static_cast<std::size_t>(st.st_size));
  std::size_t used = 0;
  for (;;) {
    // One byte beyond the limit proves a file that grew since fstat too large.
    if (used == data->size()) data->resize(std::min(limit + 1, data->size() + 65536));
    if (used == data->size()) break;
    const ssize_t n = ::read(fd.get(), data->data() + used, data->size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("cannot be read (") + std::strerror(errno) + ")");
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > limit) return too_large(used);
  data->resize(used);
  return true;
}

bool read_attachment(const AttachmentRequest& request, std::size_t limit, const std::string& limit_text,
                     Attachment* out, std::string* error) {
  if (request.path.empty()) {
    *error = "an attachment path is empty";
    return false;
  }
  const std::string shown = "attachment '" + printable(request.path, 200) + "'";
  auto fail = [&](const std::string& why) {
    *error = shown + ": " + why;
    return false;
  };
  std::string filename = request.filename;
  if (filename.empty()) {
    const std::size_t slash = request.path.find_last_of('/');
    filename = slash == std::string::npos ? request.path : request.path.substr(slash + 1);
  }
  if (const std::string why = check_attachment_filename(filename); !why.empty()) return fail(why);
  std::string type = request.content_type.empty() ? guess_content_type(filename) : lower(request.content_type);
  if (const std::string why = check_content_type(type); !why.empty()) return fail("content_type " + why);
  std::string data;
  std::string why;
  if (!read_local_file(request.path, limit, limit_text, &data, &why)) return fail(why);
  out->filename = filename;
  out->content_type = type;
  out->sha256 = dihya::sha256_hex(data);
  out->data = std::move(data);
  return true;
}

}  // namespace send_test_mail
