// SPDX-License-Identifier: AGPL-3.0-or-later
#include "log_files.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>

#include <dihya/error.hpp>

namespace cleanup {

namespace fs = std::filesystem;

namespace {

long long duration_seconds(const nlohmann::json& j, const char* what) {
  static const std::regex re("^([0-9]{1,6})([smhdw])$");
  std::smatch m;
  const auto s = j.is_string() ? j.get<std::string>() : std::string();
  if (!std::regex_match(s, m, re)) throw dihya::Error(std::string("logs: ") + what + " must look like 30d (s m h d w)");
  const long long n = std::stoll(m[1]);
  switch (m[2].str()[0]) {
    case 's': return n;
    case 'm': return n * 60;
    case 'h': return n * 3600;
    case 'd': return n * 86400;
    default: return n * 7 * 86400;
  }
}

std::uint64_t size_bytes(const nlohmann::json& j) {
  static const std::regex re("^([0-9]{1,12})(B|KB|MB|GB|TB)?$");
  std::smatch m;
  const auto s = j.is_string() ? j.get<std::string>() : (j.is_number_unsigned() ? std::to_string(j.get<std::uint64_t>()) : "");
  if (!std::regex_match(s, m, re)) throw dihya::Error("logs: max_total_size must look like 500MB (B KB MB GB TB)");
  std::uint64_t n = std::stoull(m[1]);
  const auto unit = m[2].str();
  const int shift = unit == "KB" ? 10 : unit == "MB" ? 20 : unit == "GB" ? 30 : unit == "TB" ? 40 : 0;
  return n << shift;
}

struct Candidate {
  fs::path path;
  std::uint64_t bytes;
  std::chrono::system_clock::time_point mtime;
};

std::chrono::system_clock::time_point mtime_of(const struct stat& st) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
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
    throw dihya::Error("logs: " + r.dir.string() + " is not a directory (symlinks are not followed)");
  }
  return r;
}

std::vector<LogAction> plan_logs(const LogRule& rule, std::chrono::system_clock::time_point now) {
  std::vector<Candidate> files;
  for (const auto& entry : fs::directory_iterator(rule.dir)) {
    const auto name = entry.path().filename().string();
    if (name == kLogQuarantineDir) continue;
    bool match = false;
    for (const auto& p : rule.patterns) match = match || ::fnmatch(p.c_str(), name.c_str(), FNM_PERIOD) == 0;
    if (!match) continue;
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // no symlinks, no devices
    files.push_back({entry.path(), static_cast<std::uint64_t>(st.st_size), mtime_of(st)});
  }
  std::sort(files.begin(), files.end(), [](const Candidate& a, const Candidate& b) {
    return a.mtime != b.mtime ? a.mtime < b.mtime : a.path < b.path;
  });
  std::uint64_t total = 0;
  for (const auto& f : files) total += f.bytes;
  std::vector<LogAction> out;
  for (const auto& f : files) {
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - f.mtime).count();
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
  const auto dir = file.parent_path() / kLogQuarantineDir / run_id;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw dihya::Error("cannot create " + dir.string() + ": " + ec.message());
  ::chmod((file.parent_path() / kLogQuarantineDir).c_str(), 0700);
  const auto marker = dir / ".expires_at";
  if (!fs::exists(marker)) {
    std::ofstream(marker) << std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch()).count() << "\n";
  }
  const auto target = dir / file.filename();
  if (::rename(file.c_str(), target.c_str()) != 0) {
    throw dihya::Error("cannot move " + file.string() + " to the quarantine: " + std::strerror(errno));
  }
  return target;
}

fs::path gzip_file(const fs::path& file) {
  const fs::path gz = file.string() + ".gz";
  const fs::path tmp = file.parent_path() / ("." + file.filename().string() + ".gz.partial");
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) throw dihya::Error("cannot read " + file.string());
  if (fs::exists(gz)) throw dihya::Error(gz.string() + " already exists");
  std::ifstream in(file, std::ios::binary);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
  if (fd < 0 || !in) throw dihya::Error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  gzFile out = gzdopen(::dup(fd), "wb6");
  std::array<char, 1 << 16> buffer{};
  bool ok = out != nullptr;
  while (ok && in) {
    in.read(buffer.data(), buffer.size());
    const auto n = static_cast<unsigned>(in.gcount());
    if (n > 0 && gzwrite(out, buffer.data(), n) != static_cast<int>(n)) ok = false;
  }
  if (out != nullptr && gzclose(out) != Z_OK) ok = false;
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    fs::remove(tmp);
    throw dihya::Error("cannot gzip " + file.string());
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ::utimensat(AT_FDCWD, tmp.c_str(), times, 0);
  if (::rename(tmp.c_str(), gz.c_str()) != 0) {
    fs::remove(tmp);
    throw dihya::Error("cannot rename " + tmp.string() + ": " + std::strerror(errno));
  }
  return gz;
}

std::uint64_t purge_log_quarantine(const fs::path& dir, std::chrono::system_clock::time_point now, bool dry_run) {
  const auto root = dir / kLogQuarantineDir;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return 0;
  std::uint64_t removed = 0;
  for (const auto& run : fs::directory_iterator(root)) {
    std::ifstream marker(run.path() / ".expires_at");
    long long expires = 0;
    if (!(marker >> expires)) continue;  // not ours, or being written: leave it
    if (std::chrono::system_clock::time_point(std::chrono::seconds(expires)) > now) continue;
    for (const auto& f : fs::directory_iterator(run.path())) {
      if (f.path().filename() != ".expires_at") ++removed;
    }
    if (!dry_run) fs::remove_all(run.path());
  }
  return removed;
}

}  // namespace cleanup
