// SPDX-License-Identifier: AGPL-3.0-or-later
// The manifest of a backup: what was dumped, by which tools, and the SHA-256
// of every file, sealed by a checksum of the manifest itself. A backup is
// trusted only when its files and its manifest still match (pg_verifybackup's
// rule). Hashing streams each file in fixed-size chunks: constant memory
// whatever the backup size.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <dihya/sha256.hpp>
#include <nlohmann/json.hpp>

namespace backup_db {

inline constexpr const char* kManifestName = "manifest.json";
inline constexpr const char* kVerifiedName = "verified.json";

struct FileDigest {
  std::string path;  // relative to the backup directory, '/' separated
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex; empty when the file could not be read
  std::string error;   // why it could not be read
};

// SHA-256 of a regular file (OpenSSL EVP), streamed; symlinks, fifos and
// devices are refused. Adds the bytes read to `bytes_done`
// as it goes. Throws dihya::Error when the file cannot be read.
std::string sha256_file(const std::filesystem::path& file, std::atomic<std::uint64_t>* bytes_done = nullptr);

using dihya::sha256_hex;

// Every regular file under `root`, relative, sorted; the manifest and the
// verified state at the top level are not part of the backup's content.
std::vector<std::string> content_files(const std::filesystem::path& root);

// Hashes `files` (relative to `root`) with `threads` threads. `progress` gets
// (bytes done, bytes total) now and then from the calling thread; `cancelled`
// stops the work early (throws dihya::Error). A file that cannot be read gets
// an `error` instead of a checksum.
std::vector<FileDigest> hash_files(const std::filesystem::path& root, const std::vector<std::string>& files,
                                   int threads, const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                                   const std::function<bool()>& cancelled);

// The manifest's own checksum: SHA-256 of its compact JSON (keys sorted, as
// nlohmann::json keeps them) without the "manifest_sha256" field.
std::string manifest_checksum(nlohmann::json manifest);

// Adds "manifest_sha256" to `manifest`.
nlohmann::json seal(nlohmann::json manifest);

// Writes `value` (pretty) to `path` through a temporary file, fsync and rename.
void write_json_atomically(const std::filesystem::path& path, const nlohmann::json& value);

// Reads a JSON file; throws dihya::Error naming the file when it cannot.
nlohmann::json read_json(const std::filesystem::path& path);

// The string field `key` of `object`, or "" when absent or not a string:
// manifests are read from disk, where anyone may have edited them.
std::string text_field(const nlohmann::json& object, const char* key);

// fsync of a directory, so that a rename in it is durable.
void sync_directory(const std::filesystem::path& dir);

}  // namespace backup_db
