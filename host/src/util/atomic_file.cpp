// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

bool fail(std::string* error, const std::string& what) {
  if (error) *error = what + ": " + std::strerror(errno);
  return false;
}

}  // namespace

bool write_file_atomically(const std::filesystem::path& path, std::string_view content, mode_t mode,
                           std::string* error) {
  if (const std::error_code ec = replace_file(path, content, mode)) {
    errno = ec.value();
    return fail(error, "cannot replace " + path.string());
  }
  return true;
}

bool read_file(const std::filesystem::path& path, std::string* content, std::string* error) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return fail(error, "cannot open " + path.string());
  content->clear();
  if (auto ec = read_all(fd.get(), content)) {
    errno = ec.value();
    return fail(error, "cannot read " + path.string());
  }
  return true;
}

}  // namespace dihya::host
