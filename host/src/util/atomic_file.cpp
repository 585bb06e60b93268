// SPDX-License-Identifier: AGPL-3.0-or-later
#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

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
  std::random_device random;
  const auto tmp = path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(random());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return fail(error, "cannot create " + tmp);
  if (auto ec = write_all(fd.get(), content); ec || ::fsync(fd.get()) != 0) {
    if (ec) errno = ec.value();
    const int err = errno;
    const bool result = fail(error, "cannot write " + tmp);
    ::unlink(tmp.c_str());
    errno = err;
    return result;
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    const bool result = fail(error, "cannot replace " + path.string());
    ::unlink(tmp.c_str());
    errno = err;
    return result;
  }
  if (fsync_directory(path.parent_path())) return fail(error, "cannot sync the directory of " + path.string());
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
