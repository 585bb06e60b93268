// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include <dihya/file_io.hpp>

#include "errors.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {

void write_file_atomically(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  if (const std::error_code ec = replace_file(path, content, mode)) {
    throw state_error("cannot replace " + path.string() + ": " + ec.message());
  }
}

std::string read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw state_error("cannot open " + path.string() + ": " + std::generic_category().message(errno));
  // A device (/dev/zero) or a sparse file of gigabytes in its place would
  // otherwise be read until the host runs out of memory.
  std::string content;
  if (const std::error_code ec = read_regular_file(fd.get(), &content, max_bytes)) {
    if (ec.value() == EINVAL) throw state_error("cannot read " + path.string() + ": not a regular file");
    if (ec.value() == EFBIG) {
      throw state_error("cannot read " + path.string() + ": larger than " + std::to_string(max_bytes >> 20) +
                        " MiB, which the host never writes");
    }
    throw state_error("cannot read " + path.string() + ": " + ec.message());
  }
  return content;
}

std::error_code create_directories_no_wider(const std::filesystem::path& dir, mode_t mode) {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  const mode_t wanted = mode & ~mask & ~static_cast<mode_t>(S_IWGRP | S_IWOTH);
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (std::filesystem::path p = dir.lexically_normal(); !p.empty() && !std::filesystem::exists(std::filesystem::symlink_status(p, ec));
       p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), wanted) != 0) {
      if (errno == EEXIST) continue;  // made meanwhile
      return std::error_code(errno, std::generic_category());
    }
  }
  return {};
}

}  // namespace dihya::host
