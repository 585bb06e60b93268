// SPDX-License-Identifier: AGPL-3.0-or-later
// Replaces a file so that readers see either the old or the new content, never
// a half-written one, even across a crash: write a temporary file beside it,
// fsync, rename over, fsync the directory. Failures are the host's state
// errors (errors.hpp, exit 1): one line naming the file and the reason.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace dihya::host {

// Throws a state error ("cannot replace PATH: REASON"; ENOSPC reads "No space
// left on device") when the file cannot be replaced.
void write_file_atomically(const std::filesystem::path& path, std::string_view content, mode_t mode);

// What read_file() reads at most unless told: far more than any file of the
// state or cache dir the host writes (a log of 4 MiB per child, a report of
// at most one 16 MiB frame, a plugin catalog of kilobytes).
inline constexpr std::size_t kMaxStateFileBytes = 64u << 20;

// Reads a whole file of the host's own state; throws a state error ("cannot
// open PATH: REASON" or "cannot read ...") when it cannot. A symlink in place
// of the file is refused (ELOOP), a FIFO does not block, and anything but a
// regular file (a device, a FIFO) or one larger than `max_bytes` is refused:
// these files are never meant to be anything but regular files the host
// wrote, and hostile ones must not exhaust its memory.
std::string read_file(const std::filesystem::path& path, std::size_t max_bytes = kMaxStateFileBytes);

// Creates the missing directories of `dir` (mkdir -p) with `mode` narrowed by
// the umask and never writable by group or others, whatever the umask (000
// included). Directories that exist are left as they are. Returns the error
// of the first mkdir that failed (none: empty).
std::error_code create_directories_no_wider(const std::filesystem::path& dir, mode_t mode = 0755);

}  // namespace dihya::host
