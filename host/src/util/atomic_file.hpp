// SPDX-License-Identifier: AGPL-3.0-or-later
// Replaces a file so that readers see either the old or the new content, never
// a half-written one, even across a crash: write a temporary file beside it,
// fsync, rename over, fsync the directory.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace dihya::host {

// Returns false with `*error` (when not null) set to a one-line reason, and
// errno that of the call that failed (ENOSPC when the disk is full).
bool write_file_atomically(const std::filesystem::path& path, std::string_view content, mode_t mode,
                           std::string* error);

// Reads a whole file of the host's own state; false with `*error` set when it
// cannot. A symlink in place of the file is refused (ELOOP), and a FIFO does
// not block: these files are never meant to be anything but regular files.
bool read_file(const std::filesystem::path& path, std::string* content, std::string* error);

}  // namespace dihya::host
