// SPDX-License-Identifier: AGPL-3.0-or-later
#include "log_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <regex>
#include <string_view>

#include <dihya/duration.hpp>
#include <dihya/error.hpp>
#include <dihya/file_io.hpp>
#include <dihya/utf8.hpp>


namespace cleanup {

namespace fs = std::filesystem;

namespace {

long long duration_seconds(const nlohmann::json& j, const char* what) {
  return dihya::require_duration(j.is_string() ? j.get<std::string>() : std::string(), std::string("logs: ") + what).count();
}

std::uint64_t size_bytes(const nlohmann::json& j) {
  static const std::regex re("^([0-9]{1,12})(B|KB|MB|GB|TB)?$");
  std::smatch m;
  const auto s = j.is_string() ? j.get<std::string>() : (j.is_number_unsigned() ? std::to_string(j.get<std::uint64_t>()) : "");
  if (!std::regex_match(s, m, re)) throw dihya::Error("logs: max_total_size must look like 500MB (B KB MB GB TB)");
  std::uint64_t n = std::stoull(m[1]);
  const auto unit = m[2].str();
  const int shift = unit == "KB" ? 10 : unit == "MB" ? 20 : unit == "GB" ? 30 : unit == "TB" ? 40 : 0;
  // A wrapped size would be small, and remove files it should keep.
  if (n > (std::numeric_limits<std::uint64_t>::max() >> shift)) throw dihya::Error("logs: max_total_size " + s + " is too large");
  return n << shift;
}

struct Candidate {
  fs::path path;
  std::uint64_t bytes;
  long long mtime;  // seconds since 1970
};

// Any mtime can be set (touch -d), and a time_point of nanoseconds wraps
// about 292 years from 1970: ages are computed in seconds, from an mtime
// bounded so that the subtraction cannot overflow either.
long long mtime_of(const struct stat& st) {
  constexpr long long kFar = 1LL << 40;  // ~35 000 years
  return std::clamp<long long>(st.st_mtim.tv_sec, -kFar, kFar);
}

long long seconds_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Opens `name` under `parent` as a directory, never through a symlink.
// Returns an empty descriptor when it does not exist and `missing_ok`.
dihya::UniqueFd open_dir_at(int parent, const std::string& name, const fs::path& shown, bool missing_ok = false) {
  dihya::UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd) return fd;
  if (errno == ENOENT && missing_ok) return fd;
  if (errno == ELOOP || errno == ENOTDIR) {
    throw dihya::Error(dihya::printable(shown.string()) + " is a symlink or not a directory: refusing to follow it; remove it");
  }
  throw dihya::Error("cannot open " + dihya::printable(shown.string()) + ": " + std::strerror(errno));
}

dihya::UniqueFd make_dir_at(int parent, const std::string& name, const fs::path& shown) {
  if (::mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST) {
    throw dihya::Error("cannot create " + dihya::printable(shown.string()) + ": " + std::strerror(errno));
  }
  return open_dir_at(parent, name, shown);
}

// The names in the directory open as `dir`, without "." and "..".
std::vector<std::string> entries_of(int dir, const fs::path& shown) {
  DIR* stream = ::fdopendir(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
  if (stream == nullptr) throw dihya::Error("cannot list " + dihya::printable(shown.string()) + ": " + std::strerror(errno));
  ::rewinddir(stream);  // the duplicate shares the offset of `dir`
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(stream)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(stream);
  return names;
}

bool exists_at(int dir, const std::string& name, struct stat* st = nullptr) {
  struct stat ignored {};
  return ::fstatat(dir, name.c_str(), st != nullptr ? st : &ignored, AT_SYMLINK_NOFOLLOW) == 0;
}

// Deletes `name` under `parent`, a directory with everything in it; symlinks
// are removed themselves, never followed.
void remove_tree_at(int parent, const std::string& name, const fs::path& shown) {
  struct stat st {};
  if (!exists_at(parent, name, &st)) return;
  if (S_ISDIR(st.st_mode)) {
    const auto dir = open_dir_at(parent, name, shown);
    for (const auto& entry : entries_of(dir.get(), shown)) remove_tree_at(dir.get(), entry, shown / entry);
  }
  if (::unlinkat(parent, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
    throw dihya::Error("cannot remove " + dihya::printable(shown.string()) + ": " + std::strerror(errno));
  }
}

// A run dir's expiry (seconds since 1970), or nullopt when its .expires_at
// is missing, not a regular file or not a number. O_NONBLOCK: opening a FIFO
// for reading would wait for a writer.
std::optional<long long> read_expiry(int run_dir) {
  dihya::UniqueFd fd(::openat(run_dir, ".expires_at", O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  std::string text;
  if (dihya::read_all(fd.get(), &text, 64)) return std::nullopt;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoll(text);
}

// Compresses everything read from `in` into `out` (not closed). False on any error.
bool compress(int in, int out) {
  gzFile gz = gzdopen(::fcntl(out, F_DUPFD_CLOEXEC, 0), "wb6");
  if (gz == nullptr) return false;
  std::array<char, 1 << 16> buffer{};
  bool ok = true;
  for (;;) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    if (gzwrite(gz, buffer.data(), static_cast<unsigned>(n)) != static_cast<int>(n)) {
      ok = false;
      break;
    }
  }
  return gzclose(gz) == Z_OK && ok;
}

// Clears the temporary name before an O_EXCL create: what is there is a
// crashed run's partial file, or something planted (a symlink to a file
// worth keeping, a FIFO); removing the entry never touches what it points at.
void remove_stale_partial(int dir, const std::string& name, const fs::path& shown) {
  struct stat st {};
  if (!exists_at(dir, name, &st)) return;
  if (S_ISDIR(st.st_mode)) {
    throw dihya::Error(dihya::printable(shown.string()) + " is a directory in the way of cleanup's temporary file: remove it");
  }
  if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
    throw dihya::Error("cannot remove the stale " + dihya::printable(shown.string()) + ": " + std::strerror(errno));
  }
}

}  // namespace

LogRule log_rule_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw dihya::Error("logs: each entry is a mapping");
  LogRule r;
  for (const auto& [key, value] : j.items()) {
    if (key == "dir") {
      if (!value.is_string()) throw dihya::Error("logs: dir must be a path");
      r.dir = value.get<std::string>();
    } else if (key == "patterns") {
      if (!value.is_array() || value.empty()) throw dihya::Error("logs: patterns must be a non-empty list of globs");
      for (const auto& p : value) {
        if (!p.is_string() || p.get<std::string>().empty() || p.get<std::string>().find('/') != std::string::npos) {
          throw dihya::Error("logs: a pattern is a file-name glob without '/'");
        }
        r.patterns.push_back(p.get<std::string>());
      }
    } else if (key == "max_age") {
      r.max_age_seconds = duration_seconds(value, "max_age");
    } else if (key == "compress_after") {
      r.compress_after_seconds = duration_seconds(value, "compress_after");
    } else if (key == "max_total_size") {
      r.max_total_bytes = size_bytes(value);
    } else {
      throw dihya::Error("logs: unknown key '" + key + "' (dir, patterns, max_age, compress_after, max_total_size)");
    }
  }
  if (r.dir.empty() || !r.dir.is_absolute()) throw dihya::Error("logs: dir must be an absolute path");
  if (r.patterns.empty()) throw dihya::Error("logs: patterns are required");
  if (!r.max_age_seconds && !r.max_total_bytes && !r.compress_after_seconds) {
    throw dihya::Error("logs: give max_age, max_total_size or compress_after");
  }
  struct stat st {};
  if (::lstat(r.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw dihya::Error("logs: " + dihya::printable(r.dir.string()) + " is not a directory (symlinks are not followed)");
  }
  return r;
}

std::vector<LogAction> plan_logs(const LogRule& rule, std::chrono::system_clock::time_point now) {
  const auto dir = open_dir_at(AT_FDCWD, rule.dir.string(), rule.dir);
  std::vector<Candidate> files;
  for (const auto& name : entries_of(dir.get(), rule.dir)) {
    if (name == kLogQuarantineDir) continue;
    bool match = false;
    for (const auto& p : rule.patterns) match = match || ::fnmatch(p.c_str(), name.c_str(), FNM_PERIOD) == 0;
    if (!match) continue;
    struct stat st {};
    if (!exists_at(dir.get(), name, &st) || !S_ISREG(st.st_mode)) continue;  // no symlinks, no devices
    files.push_back({rule.dir / name, static_cast<std::uint64_t>(st.st_size), mtime_of(st)});
  }
  std::sort(files.begin(), files.end(), [](const Candidate& a, const Candidate& b) {
    return a.mtime != b.mtime ? a.mtime < b.mtime : a.path < b.path;
  });
  std::uint64_t total = 0;
  for (const auto& f : files) total += f.bytes;
  const long long now_seconds = seconds_since_epoch(now);
  std::vector<LogAction> out;
  for (const auto& f : files) {
    const long long age = now_seconds - f.mtime;
    if (rule.max_age_seconds && age > rule.max_age_seconds) {
      out.push_back({f.path, "remove", f.bytes, "older than max_age"});
      total -= f.bytes;
    } else if (rule.max_total_bytes && total > rule.max_total_bytes) {
      out.push_back({f.path, "remove", f.bytes, "over max_total_size"});
      total -= f.bytes;
    } else if (rule.compress_after_seconds && age > rule.compress_after_seconds && f.path.extension() != ".gz") {
      out.push_back({f.path, "gzip", f.bytes, "older than compress_after"});
    }
  }
  return out;
}

fs::path quarantine_file(const fs::path& file, const std::string& run_id, std::chrono::system_clock::time_point expires_at) {
  const auto parent = file.parent_path();
  const auto name = file.filename().string();
  const auto dir = open_dir_at(AT_FDCWD, parent.string(), parent);
  const auto root = make_dir_at(dir.get(), kLogQuarantineDir, parent / kLogQuarantineDir);
  ::fchmod(root.get(), 0700);
  const auto run_path = parent / kLogQuarantineDir / run_id;
  const auto run = make_dir_at(root.get(), run_id, run_path);
  // The run's first file writes the expiry; the others find it there.
  dihya::UniqueFd marker(::openat(run.get(), ".expires_at", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!marker && errno != EEXIST) {
    throw dihya::Error("cannot write " + dihya::printable((run_path / ".expires_at").string()) + ": " + std::strerror(errno));
  }
  if (marker) {
    if (const auto ec = dihya::write_all(marker.get(), std::to_string(seconds_since_epoch(expires_at)) + "\n")) {
      throw dihya::Error("cannot write " + dihya::printable((run_path / ".expires_at").string()) + ": " + ec.message());
    }
  }
  if (::renameat(dir.get(), name.c_str(), run.get(), name.c_str()) != 0) {
    throw dihya::Error("cannot move " + dihya::printable(file.string()) + " to the quarantine: " + std::strerror(errno));
  }
  return run_path / name;
}

fs::path gzip_file(const fs::path& file) {
  const auto parent = file.parent_path();
  const auto name = file.filename().string();
  const auto gz = name + ".gz";
  const auto tmp = "." + name + ".gz.partial";
  const auto dir = open_dir_at(AT_FDCWD, parent.string(), parent);
  dihya::UniqueFd in(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!in || ::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw dihya::Error("cannot read " + dihya::printable(file.string()) + ": not a regular file, or gone");
  }
  if (exists_at(dir.get(), gz)) throw dihya::Error(dihya::printable((parent / gz).string()) + " already exists");
  remove_stale_partial(dir.get(), tmp, parent / tmp);
  dihya::UniqueFd out(::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0777));
  if (!out) throw dihya::Error("cannot write " + dihya::printable((parent / tmp).string()) + ": " + std::strerror(errno));
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  const bool ok = compress(in.get(), out.get()) && ::futimens(out.get(), times) == 0 && ::fsync(out.get()) == 0;
  out.reset();
  if (!ok) {
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    throw dihya::Error("cannot gzip " + dihya::printable(file.string()));
  }
  if (::renameat(dir.get(), tmp.c_str(), dir.get(), gz.c_str()) != 0) {
    const int error = errno;
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    throw dihya::Error("cannot rename " + dihya::printable((parent / tmp).string()) + ": " + std::strerror(error));
  }
  return parent / gz;
}

LogRestore restore_log_file(const fs::path& quarantined, const fs::path& original) {
  const auto run_path = quarantined.parent_path();
  const auto root_path = run_path.parent_path();
  const auto parent = original.parent_path();
  const auto name = original.filename().string();
  if (root_path.filename() != kLogQuarantineDir || root_path.parent_path() != parent || quarantined.filename() != name) {
    throw dihya::Error(dihya::printable(quarantined.string()) + " is not in the log quarantine of " + dihya::printable(parent.string()));
  }
  const auto dir = open_dir_at(AT_FDCWD, parent.string(), parent, true);
  if (!dir) return LogRestore::gone;
  const LogRestore missing = exists_at(dir.get(), name) ? LogRestore::already_back : LogRestore::gone;
  struct stat st {};
  if (!exists_at(dir.get(), kLogQuarantineDir, &st) || !S_ISDIR(st.st_mode)) return missing;
  const auto root = open_dir_at(dir.get(), kLogQuarantineDir, root_path, true);
  if (!root || !exists_at(root.get(), run_path.filename().string(), &st) || !S_ISDIR(st.st_mode)) return missing;
  const auto run = open_dir_at(root.get(), run_path.filename().string(), run_path, true);
  if (!run || !exists_at(run.get(), name) || missing == LogRestore::already_back) return missing;
  if (::renameat(run.get(), name.c_str(), dir.get(), name.c_str()) != 0) {
    throw dihya::Error("cannot move " + dihya::printable(quarantined.string()) + " back: " + std::strerror(errno));
  }
  return LogRestore::restored;
}

std::uint64_t purge_log_quarantine(const fs::path& dir, std::chrono::system_clock::time_point now, bool dry_run) {
  const auto log_dir = open_dir_at(AT_FDCWD, dir.string(), dir);
  const auto root_path = dir / kLogQuarantineDir;
  const auto root = open_dir_at(log_dir.get(), kLogQuarantineDir, root_path, true);
  if (!root) return 0;
  const long long now_seconds = seconds_since_epoch(now);
  std::uint64_t removed = 0;
  for (const auto& name : entries_of(root.get(), root_path)) {
    dihya::UniqueFd run(::openat(root.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!run) continue;  // not a run dir of ours
    const auto expires = read_expiry(run.get());
    if (!expires || *expires > now_seconds) continue;  // not ours, being written, or not expired: leave it
    for (const auto& f : entries_of(run.get(), root_path / name)) {
      if (f != ".expires_at") ++removed;
    }
    if (!dry_run) remove_tree_at(root.get(), name, root_path / name);
  }
  return removed;
}

}  // namespace cleanup
