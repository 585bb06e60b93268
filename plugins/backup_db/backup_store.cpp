// SPDX-License-Identifier: AGPL-3.0-or-later
#include "backup_store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <sstream>

#include <dihya/error.hpp>
#include <fmt/format.h>

#include "manifest.hpp"

namespace backup_db {
namespace fs = std::filesystem;

namespace {

// The widest span a system_clock time_point holds, in seconds.
constexpr std::time_t kMaxSeconds = static_cast<std::time_t>(
    std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max()).count());

// Why `e` cannot be proven a backup written by backup_db, or "" when it can:
// the same seal verify checks, plus the fields backup_db always writes.
std::string unsealed_reason(const BackupEntry& e) {
  if (e.manifest.is_null()) return "manifest unreadable";
  if (text_field(e.manifest, "created_by").rfind("backup_db ", 0) != 0) return "manifest not written by backup_db";
  if (text_field(e.manifest, "manifest_sha256") != manifest_checksum(e.manifest)) return "manifest edited (seal broken)";
  if (!e.finished) return "manifest has no valid finished_at";
  return {};
}

// The time in a backup's name ("20261126T002138Z_..."), to order backups
// whose manifest cannot tell.
std::optional<std::chrono::system_clock::time_point> name_time(const std::string& name) {
  std::tm tm{};
  std::istringstream in(name.substr(0, 16));
  in >> std::get_time(&tm, "%Y%m%dT%H%M%SZ");
  if (in.fail()) return std::nullopt;
  const std::time_t t = timegm(&tm);
  if (t > kMaxSeconds || t < -kMaxSeconds) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

BackupEntry load_entry(const fs::path& path) {
  BackupEntry e;
  e.name = path.filename().string();
  e.path = path;
  try {
    e.manifest = read_json(path / kManifestName);
    if (!e.manifest.is_object()) throw dihya::Error("manifest.json is not an object");
    e.finished = parse_utc(text_field(e.manifest, "finished_at"));
    for (const auto& f : e.manifest.value("files", nlohmann::json::array())) {
      if (f.is_object() && f.contains("size") && f["size"].is_number_unsigned()) e.size += f["size"].get<std::uint64_t>();
    }
  } catch (const std::exception& ex) {
    e.manifest = nullptr;
    e.manifest_error = ex.what();
  }
  e.unsealed_why = unsealed_reason(e);
  e.sealed = e.unsealed_why.empty();
  std::error_code ec;
  if (fs::exists(path / kVerifiedName, ec)) {
    try {
      const auto v = read_json(path / kVerifiedName);
      e.verified_at = text_field(v, "verified_at");
      e.verified_state = v.is_object() && v.value("ok", nlohmann::json()) == true ? "ok" : "failed";
      // A manifest edited after a successful verify is not verified any more.
      if (e.verified_state == "ok" &&
          (e.manifest.is_null() || text_field(v, "manifest_sha256") != text_field(e.manifest, "manifest_sha256"))) {
        e.verified_state = "stale";
      }
    } catch (const std::exception&) {
      e.verified_state = "failed";
    }
  }
  return e;
}

}  // namespace

std::string file_safe(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-' || c == '.';
    out += safe ? c : '_';
  }
  if (out.empty() || out[0] == '.') out = "db" + out;
  return out;
}

std::vector<fs::path> make_private_dirs(const fs::path& dir) {
  std::vector<fs::path> missing;
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0) break;
    if (errno != ENOENT) throw dihya::Error("cannot create " + dir.string() + ": " + std::strerror(errno));
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  // Made one at a time: fs::create_directories would give the parents
  // 0777 & ~umask, everyone's under umask 000.
  std::vector<fs::path> made;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) == 0) {
      made.push_back(*it);
    } else if (errno != EEXIST) {
      throw dihya::Error("cannot create " + it->string() + ": " + std::strerror(errno));
    }
    if (::chmod(it->c_str(), 0700) != 0) throw dihya::Error("cannot chmod " + it->string() + ": " + std::strerror(errno));
  }
  return made;
}

void require_private_dir(const fs::path& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) throw dihya::Error("cannot read " + dir.string() + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw dihya::Error(dir.string() + " is not a directory (a symlink?): refused");
  if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw dihya::Error(fmt::format("{} is {} (mode {:04o}): another user could have changed what it holds; refused. "
                                   "Check its content, then `chown` it to this user and `chmod 700` it",
                                   dir.string(), st.st_uid != ::geteuid() ? "owned by another user" : "writable by others",
                                   st.st_mode & 07777));
  }
}

bool is_backup_name(const std::string& name) {
  // compact_utc() + '_' + file_safe(database), maybe + "_N": never hidden.
  static const char kShape[] = "ddddddddTddddddZ_";
  const std::size_t prefix = sizeof kShape - 1;
  if (name.size() <= prefix) return false;
  for (std::size_t i = 0; i < prefix; ++i) {
    const char c = name[i];
    if (kShape[i] == 'd' ? (c < '0' || c > '9') : c != kShape[i]) return false;
  }
  return file_safe(name.substr(prefix)) == name.substr(prefix);
}

std::vector<BackupEntry> list_backups(const fs::path& dir) {
  std::vector<fs::path> paths;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!is_backup_name(name)) continue;
    std::error_code ec2;
    if (!it->is_directory(ec2) || it->is_symlink(ec2)) continue;
    if (!fs::exists(it->path() / kManifestName, ec2)) continue;
    paths.push_back(it->path());
  }
  if (ec) throw dihya::Error("cannot read backup_dir " + dir.string() + ": " + ec.message());
  std::vector<BackupEntry> out;
  out.reserve(paths.size());
  for (const auto& p : paths) out.push_back(load_entry(p));
  // By the manifest's time, not the name: a name is only a directory name.
  const auto time_of = [](const BackupEntry& e) { return e.finished ? e.finished : name_time(e.name); };
  std::sort(out.begin(), out.end(), [&](const BackupEntry& a, const BackupEntry& b) {
    const auto ta = time_of(a), tb = time_of(b);
    if (ta != tb) return ta < tb;
    return a.name < b.name;
  });
  return out;
}

BackupEntry find_backup(const fs::path& dir, const std::string& name) {
  if (name.empty() || name == "latest") {
    auto all = list_backups(dir);
    if (all.empty()) {
      throw dihya::Error("no backup in " + dir.string() + ": run mode=backup first, or name one with backup=<name>");
    }
    return all.back();
  }
  fs::path path;
  if (name[0] == '/') {
    path = fs::path(name).lexically_normal();
  } else {
    if (name.find('/') != std::string::npos || name[0] == '.') {
      throw dihya::Error("backup '" + name + "': give a backup name from mode=list or an absolute path");
    }
    path = dir / name;
  }
  std::error_code ec;
  if (!fs::is_directory(path, ec) || !fs::exists(path / kManifestName, ec)) {
    throw dihya::Error("backup " + path.string() + " not found (no manifest.json there): see mode=list");
  }
  return load_entry(path);
}

std::string compact_utc(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y%m%dT%H%M%SZ");
  return out.str();
}

std::optional<std::chrono::system_clock::time_point> parse_utc(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  if (in.fail()) return std::nullopt;
  const std::time_t t = timegm(&tm);
  if (t > kMaxSeconds || t < -kMaxSeconds) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

std::chrono::seconds age_at(std::chrono::system_clock::time_point now, std::chrono::system_clock::time_point then) {
  using std::chrono::duration_cast;
  return duration_cast<std::chrono::seconds>(now.time_since_epoch()) -
         duration_cast<std::chrono::seconds>(then.time_since_epoch());
}

std::string human_age(std::chrono::seconds age) {
  long long s = age.count();
  if (s < 0) s = 0;
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h {}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d {}h", s / 86400, (s % 86400) / 3600);
}

std::string human_size(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

RetentionPlan plan_retention(const std::vector<BackupEntry>& backups, std::optional<long long> keep_last,
                             std::optional<std::chrono::seconds> keep_within,
                             std::chrono::system_clock::time_point now) {
  RetentionPlan plan;
  // Prune never deletes, nor ranks, what it cannot prove is a backup of its own.
  std::vector<const BackupEntry*> sealed;
  for (const auto& b : backups) (b.sealed && b.finished ? sealed : plan.skip).push_back(&b);
  std::stable_sort(sealed.begin(), sealed.end(),
                   [](const BackupEntry* a, const BackupEntry* b) { return *a->finished < *b->finished; });
  const long long count = static_cast<long long>(sealed.size());
  bool any_verified = false;
  bool kept_verified = false;
  for (long long i = 0; i < count; ++i) {
    const auto& b = *sealed[static_cast<std::size_t>(i)];
    const long long rank_from_newest = count - 1 - i;
    bool keep = keep_last && rank_from_newest < *keep_last;
    // In seconds: a window of centuries must not wrap round and delete all.
    if (keep_within) keep = keep || age_at(now, *b.finished) <= *keep_within;
    (keep ? plan.keep : plan.remove).push_back(&b);
    if (b.verified_state == "ok") {
      any_verified = true;
      kept_verified = kept_verified || keep;
    }
  }
  if (any_verified && !kept_verified) {
    std::string names;
    for (const auto* b : plan.remove) {
      if (b->verified_state != "ok") continue;
      names += (names.empty() ? "" : ", ") + b->name;
    }
    plan.refusal = "prune would delete every verified backup (" + names +
                   "); verify a kept backup first (mode=verify backup=<name>) or keep more (keep_last/keep_within)";
  }
  return plan;
}

}  // namespace backup_db
