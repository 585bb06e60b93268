// SPDX-License-Identifier: AGPL-3.0-or-later
// Plugin locks with flock(). The lock file is never removed: unlinking a lock
// file lets a waiter lock the old inode while a newcomer creates a new one,
// and both would believe they hold the lock.
#include "runs/run_lock.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "errors.hpp"
#include "util/trusted_path.hpp"

namespace dihya::host {
namespace {

constexpr std::size_t kMaxPluginName = 128;

// Plugin names are the operator's snake_case names; anything that could walk
// out of locks_dir or hide the file is refused.
bool is_valid_plugin_name(const std::string& plugin) {
  if (plugin.empty() || plugin.size() > kMaxPluginName || plugin.front() == '.') return false;
  return std::all_of(plugin.begin(), plugin.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

std::filesystem::path lock_file(const std::filesystem::path& locks_dir, const std::string& plugin) {
  if (!is_valid_plugin_name(plugin)) {
    throw usage_error(fmt::format("invalid plugin name '{}' for a lock", plugin));
  }
  return locks_dir / (plugin + ".lock");
}

// A failing disk is the operator's to fix, not an internal error: exit 1, the path named.
[[noreturn]] void throw_errno(const std::filesystem::path& path, const std::string& doing) {
  throw HostError(kExitRunFailed,
      fmt::format("plugin lock {}: cannot {}: {}", path.string(), doing, std::strerror(errno)));
}

// The state dir above was made private by the caller (prepare_state_dir).
void ensure_locks_dir(const std::filesystem::path& locks_dir) { make_own_subdir(locks_dir, "locks directory"); }

}  // namespace

std::optional<PluginLock> PluginLock::take(const std::filesystem::path& locks_dir,
                                           const std::string& plugin, const std::string& run_id,
                                           bool wait) {
  auto file = lock_file(locks_dir, plugin);
  ensure_locks_dir(locks_dir);
  // O_NOFOLLOW: a symlink planted as the lock file would make us truncate its target.
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
  if (!fd) throw_errno(file, "open");
  const int operation = wait ? LOCK_EX : LOCK_EX | LOCK_NB;
  while (::flock(fd.get(), operation) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return std::nullopt;
    throw_errno(file, "lock");
  }
  // Only after locking: the previous holder's id stays readable until then.
  std::string line = run_id + "\n";
  if (::ftruncate(fd.get(), 0) != 0) throw_errno(file, "write the holder into");
  ssize_t n = ::pwrite(fd.get(), line.data(), line.size(), 0);
  if (n != static_cast<ssize_t>(line.size())) throw_errno(file, "write the holder into");
  return PluginLock(std::move(fd), ::getpid());
}

std::optional<PluginLock> PluginLock::try_acquire(const std::filesystem::path& locks_dir,
                                                  const std::string& plugin,
                                                  const std::string& run_id) {
  return take(locks_dir, plugin, run_id, false);
}

PluginLock PluginLock::acquire_wait(const std::filesystem::path& locks_dir,
                                    const std::string& plugin, const std::string& run_id) {
  // A blocking take() returns a lock or throws.
  return std::move(take(locks_dir, plugin, run_id, true).value());
}

std::string PluginLock::holder(const std::filesystem::path& locks_dir, const std::string& plugin) {
  auto file = lock_file(locks_dir, plugin);
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};
    throw_errno(file, "open");
  }
  // A run id is short; a larger file is not ours and is cut at the buffer.
  char buffer[256];
  ssize_t n;
  do {
    n = ::pread(fd.get(), buffer, sizeof buffer, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno(file, "read");
  std::string id(buffer, static_cast<std::size_t>(n));
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

PluginLock& PluginLock::operator=(PluginLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::move(other.fd_);
    owner_ = other.owner_;
  }
  return *this;
}

PluginLock::~PluginLock() { release(); }

void PluginLock::release() noexcept {
  if (!fd_) return;
  if (owner_ == ::getpid()) {
    // Best effort: a stale id is harmless, the lock itself is what counts.
    [[maybe_unused]] int ignored = ::ftruncate(fd_.get(), 0);
  }
  fd_.reset();
}

}  // namespace dihya::host
