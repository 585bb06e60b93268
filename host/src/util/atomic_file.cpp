// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <dihya/file_io.hpp>

#include "errors.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {

void write_file_atomically(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  if (const std::error_code ec = replace_file(path, content, mode)) {
    throw state_error("cannot replace " + path.string() + ": " + ec.message());
  }
}

std::string read_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw state_error("cannot open " + path.string() + ": " + std::generic_category().message(errno));
  std::string content;
  if (const std::error_code ec = read_all(fd.get(), &content)) {
    throw state_error("cannot read " + path.string() + ": " + ec.message());
  }
  return content;
}

}  // namespace dihya::host
