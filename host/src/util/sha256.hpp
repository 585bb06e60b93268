// SPDX-License-Identifier: AGPL-3.0-or-later
// SHA-256 as lowercase hex, through the SDK's one implementation
// (dihya/sha256.hpp). Used for the audit chain, plugin pins and backup
// manifests: the digests are bit-for-bit those of `sha256sum`, and every
// error names the file it concerns.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace dihya::host {

// The SHA-256 of `data`, 64 lowercase hex digits. Throws a state error (errors.hpp) only
// if OpenSSL itself fails. Thread-safe.
std::string sha256_hex(std::string_view data);

// The SHA-256 of a file's contents, read in 64 KiB chunks so memory stays flat
// whatever the file's size. Throws a state error (errors.hpp) naming the path when the
// file cannot be opened or read. Thread-safe.
std::string sha256_file_hex(const std::filesystem::path& file);

// The SHA-256 of the whole file open on `fd` (borrowed; read with pread from
// offset 0, so its offset is untouched); `file` names it in errors.
std::string sha256_fd_hex(int fd, const std::filesystem::path& file);

}  // namespace dihya::host
