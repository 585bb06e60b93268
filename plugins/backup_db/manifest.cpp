// SPDX-License-Identifier: AGPL-3.0-or-later
#include "manifest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include <dihya/error.hpp>
#include <dihya/file_io.hpp>
#include <dihya/utf8.hpp>

namespace backup_db {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kChunk = 1 << 20;

}  // namespace

std::string sha256_file(const fs::path& file, std::atomic<std::uint64_t>* bytes_done) {
  // O_NONBLOCK: opening a fifo planted in a backup must not hang verify.
  dihya::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0 && errno == ELOOP) {
    std::error_code ec;
    const auto target = fs::read_symlink(file, ec);
    if (!ec) throw dihya::Error(file.string() + " is a symlink to " + target.string() + ", not a regular file");
  }
  if (fd.get() < 0) throw dihya::Error("cannot read " + file.string() + ": " + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) throw dihya::Error(file.string() + " is not a regular file");
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  dihya::Sha256 digest;
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.get(), kChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw dihya::Error("cannot read " + file.string() + ": " + std::strerror(errno));
    if (n == 0) break;
    digest.update(std::string_view(buffer.get(), static_cast<std::size_t>(n)));
    if (bytes_done != nullptr) *bytes_done += static_cast<std::uint64_t>(n);
  }
  return digest.hex();
}

std::vector<std::string> content_files(const fs::path& root) {
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && !it->is_symlink()) continue;
    // Lexically: fs::relative resolves symlinks, and a data file replaced
    // by one would be named by its target ("../../real.gz"), not its place.
    const std::string rel = it->path().lexically_relative(root).generic_string();
    if (rel == kManifestName || rel == kVerifiedName) continue;
    // Anything else, even a symlink or a fifo, is part of what must match.
    files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<FileDigest> hash_files(const fs::path& root, const std::vector<std::string>& files, int threads,
                                   const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                                   const std::function<bool()>& cancelled) {
  std::vector<FileDigest> digests(files.size());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    digests[i].path = files[i];
    std::error_code ec;
    const auto size = fs::file_size(root / files[i], ec);
    digests[i].size = ec ? 0 : size;
    total += digests[i].size;
  }
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (std::size_t i; !stop && (i = next++) < files.size();) {
      try {
        digests[i].sha256 = sha256_file(root / files[i], &done);
      } catch (const dihya::Error& e) {
        digests[i].error = e.what();
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        stop = true;
      }
    }
  };
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(files.size())));
  int running = n;
  std::mutex running_mutex;
  std::condition_variable all_done;
  std::vector<std::thread> pool;
  for (int t = 0; t < n; ++t) {
    pool.emplace_back([&] {
      worker();
      std::lock_guard<std::mutex> lock(running_mutex);
      if (--running == 0) all_done.notify_all();
    });
  }
  // The calling thread reports progress and watches for cancellation.
  for (std::unique_lock<std::mutex> lock(running_mutex); running > 0;) {
    if (all_done.wait_for(lock, std::chrono::milliseconds(100), [&] { return running == 0; })) break;
    if (progress) progress(done.load(), total);
    if (cancelled && cancelled()) stop = true;
  }
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  if (stop && cancelled && cancelled()) throw dihya::Error("cancelled while computing checksums");
  if (progress) progress(done.load(), total);
  return digests;
}

std::string manifest_checksum(nlohmann::json manifest) {
  manifest.erase("manifest_sha256");
  return sha256_hex(manifest.dump());
}

nlohmann::json seal(nlohmann::json manifest) {
  manifest["manifest_sha256"] = manifest_checksum(manifest);
  return manifest;
}

std::string text_field(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void sync_directory(const fs::path& dir) {
  // Best effort, as it always was: the files themselves were synced, and a
  // lost rename leaves a .partial that the next run cleans up.
  static_cast<void>(dihya::fsync_directory(dir));
}

void write_json_atomically(const fs::path& path, const nlohmann::json& value) {
  // Replace, not throw: a problem line may quote a file name that is not UTF-8.
  const std::string text = value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  if (const std::error_code ec = dihya::replace_file(path, text + "\n", 0644)) {
    throw dihya::Error("cannot write " + path.string() + ": " + ec.message());
  }
}

nlohmann::json read_json(const fs::path& path) {
  std::string text;
  {
    // O_NONBLOCK: a fifo planted as manifest.json or verified.json must not
    // hang list, verify or prune; it is refused below, never read.
    dihya::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (fd.get() < 0 && errno == ELOOP) throw dihya::Error(path.string() + " is a symbolic link, not a regular file");
    if (fd.get() < 0) throw dihya::Error("cannot read " + path.string() + ": " + std::strerror(errno));
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) throw dihya::Error(path.string() + " is not a regular file");
    char buffer[65536];
    for (ssize_t n; (n = ::read(fd.get(), buffer, sizeof buffer)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw dihya::Error("cannot read " + path.string() + ": " + std::strerror(errno));
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > (64u << 20)) throw dihya::Error(path.string() + " is larger than 64 MiB: not a manifest");
    }
  }
  // JSON is UTF-8: a manifest that is not would make every later dump() of
  // it (its seal, verified.json) throw a library error instead of this one.
  if (const auto bad = dihya::first_invalid_utf8(text); bad != std::string::npos) {
    throw dihya::Error(path.string() + " is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  // Depth-limited: a hostile manifest must not blow the stack.
  int depth = 0;
  nlohmann::json::parser_callback_t limit = [&depth](int d, nlohmann::json::parse_event_t, nlohmann::json&) {
    depth = d;
    if (d > 32) throw dihya::Error("too deeply nested");
    return true;
  };
  try {
    return nlohmann::json::parse(text, limit);
  } catch (const std::exception& e) {
    throw dihya::Error(path.string() + " is not valid JSON (" + e.what() + ")");
  }
}

}  // namespace backup_db
