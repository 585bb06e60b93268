// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/catalog.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "errors.hpp"
#include "params/json_input.hpp"
#include "util/atomic_file.hpp"
#include "util/sha256.hpp"
#include "util/trusted_path.hpp"

namespace dihya::host {
namespace {

constexpr const char* kCacheFormat = "dihya-metadata-cache-3";

// ctime joins (size, mtime) so that a chmod or chown, which must re-run the
// trust check, also invalidates the cached entry.
// (device, inode) joins too: a file renamed over another with the same
// times and size is another file.
struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
};

std::int64_t nanoseconds(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

std::optional<FileStamp> stamp_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{static_cast<std::uint64_t>(st.st_size), nanoseconds(st.st_mtim), nanoseconds(st.st_ctim),
                   static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

FileStamp stamp_of(const PluginFile& plugin) {
  return FileStamp{plugin.size, plugin.mtime_ns, plugin.ctime_ns, static_cast<std::uint64_t>(plugin.device),
                   static_cast<std::uint64_t>(plugin.inode)};
}

// Cache document: {"format": kCacheFormat, "files": {path: {size, mtime_ns, name, ...}}}.
nlohmann::json load_cache(const std::filesystem::path& file) {
  // The cache only saves time: a missing, damaged or hostile one is rebuilt.
  nlohmann::json doc;
  try {
    doc = parse_json_text(read_file(file), file.string());
  } catch (const HostError&) {
    return nlohmann::json::object();
  }
  if (!doc.is_object() || doc.value("format", "") != kCacheFormat || !doc.contains("files") ||
      !doc["files"].is_object()) {
    return nlohmann::json::object();
  }
  return std::move(doc["files"]);
}

void save_cache(const std::filesystem::path& file, const nlohmann::json& files) {
  nlohmann::json doc{{"format", kCacheFormat}, {"files", files}};
  // The cache only saves time: failing to write it is not an error.
  try {
    write_file_atomically(file, doc.dump(), 0600);
  } catch (const HostError&) {
  }
}

bool stamp_matches(const nlohmann::json& cached, const FileStamp& stamp) {
  return cached.is_object() && cached.value("size", std::uint64_t{0}) == stamp.size &&
         cached.value("mtime_ns", std::int64_t{0}) == stamp.mtime_ns &&
         cached.value("ctime_ns", std::int64_t{0}) == stamp.ctime_ns &&
         cached.value("device", std::uint64_t{0}) == stamp.device && cached.value("inode", std::uint64_t{0}) == stamp.inode;
}

CatalogEntry entry_from_cache(const std::filesystem::path& path, const nlohmann::json& cached) {
  CatalogEntry e;
  e.path = path;
  e.name = cached.value("name", "");
  e.version = cached.value("version", "");
  e.summary = cached.value("summary", "");
  e.destructive = cached.value("destructive", false);
  e.reversible = cached.value("reversible", false);
  e.error = cached.value("error", "");
  e.unstable = cached.value("unstable", "");
  return e;
}

nlohmann::json cache_record(const CatalogEntry& e, const FileStamp& stamp) {
  nlohmann::json j{{"size", stamp.size}, {"mtime_ns", stamp.mtime_ns},
                   {"ctime_ns", stamp.ctime_ns}, {"device", stamp.device}, {"inode", stamp.inode}, {"name", e.name},
                   {"version", e.version}, {"summary", e.summary}, {"destructive", e.destructive},
                   {"reversible", e.reversible}};
  if (!e.error.empty()) j["error"] = e.error;
  if (!e.unstable.empty()) j["unstable"] = e.unstable;
  return j;
}

CatalogEntry read_entry(const std::filesystem::path& path) {
  CatalogEntry e;
  e.path = path;
  try {
    PluginFile f = read_plugin_file(path);
    e.name = f.name();
    e.version = f.version();
    e.summary = f.summary();
    e.destructive = f.destructive();
    e.reversible = f.reversible();
  } catch (const HostError& err) {
    e.error = err.what();
  }
  return e;
}

std::vector<std::filesystem::path> plugin_files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() == ".so") files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

PluginCatalog::PluginCatalog(const Settings& settings)
    : search_path_(settings.plugin_path),
      signatures_{parse_signature_policy(settings.signatures, "settings"), settings.trusted_keys_dir},
      cache_file_(settings.cache_dir / "plugin-metadata.json") {}

PluginFile PluginCatalog::checked(PluginFile file) const {
  verify_plugin_signature(file, signatures_);
  return file;
}

nlohmann::json& PluginCatalog::cache() {
  if (!cache_) {
    prepare_private_dir(cache_file_.parent_path(), "cache dir");
    cache_ = load_cache(cache_file_);
  }
  return *cache_;
}

std::vector<CatalogEntry> PluginCatalog::list() {
  nlohmann::json& cache = this->cache();
  nlohmann::json fresh = nlohmann::json::object();
  bool changed = false;
  std::vector<CatalogEntry> entries;
  std::set<std::string> seen_names;
  for (const auto& dir : search_path_) {
    for (const auto& path : plugin_files_in(dir)) {
      const auto stamp = stamp_of(path);
      if (!stamp) continue;
      const std::string key = path.string();
      CatalogEntry e;
      const auto cached = cache.find(key);
      if (cached != cache.end() && stamp_matches(*cached, *stamp)) {
        e = entry_from_cache(path, *cached);
        fresh[key] = std::move(*cached);
      } else {
        e = read_entry(path);
        fresh[key] = cache_record(e, *stamp);
        changed = true;
      }
      if (!e.name.empty()) e.shadowed = !seen_names.insert(e.name).second;
      entries.push_back(std::move(e));
    }
  }
  if (changed || fresh.size() != cache.size()) save_cache(cache_file_, fresh);
  cache = std::move(fresh);
  return entries;
}

PluginFile PluginCatalog::find(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos) {
    std::error_code ec;
    const auto status = std::filesystem::status(name_or_path, ec);
    if (!std::filesystem::exists(status)) {
      throw usage_error(fmt::format("{}: no such plugin file", name_or_path));
    }
    if (!std::filesystem::is_regular_file(status)) {
      throw usage_error(fmt::format("{}: not a plugin file (not a regular file)", name_or_path));
    }
    return checked(read_plugin_file(name_or_path));
  }
  if (!is_plugin_name(name_or_path)) {
    throw usage_error(fmt::format("invalid plugin name '{}': a plugin name matches [a-z][a-z0-9_]{{0,63}}, a plugin "
                                  "file path contains '/'", name_or_path));
  }
  // The cache only says where to look. The file's own embedded metadata
  // decides: a stale or edited cache entry (a wrong name, or the name
  // missing) costs one fresh scan of the files, never a run of another plugin.
  std::vector<CatalogEntry> entries = list();
  for (int attempt = 0;; ++attempt) {
    const auto it = std::find_if(entries.begin(), entries.end(),
                                 [&](const CatalogEntry& e) { return e.name == name_or_path && !e.shadowed; });
    if (it != entries.end()) {
      PluginFile file = read_plugin_file(it->path);
      if (file.name() == name_or_path) return checked(std::move(file));
    }
    if (attempt == 1) break;
    cache_ = nlohmann::json::object();
    entries = list();
  }
  // lib<name>.so that could not be read: its reason says more than "unknown".
  for (const auto& e : entries) {
    if (!e.error.empty() && e.path.filename() == "lib" + name_or_path + ".so") throw load_error(e.error);
  }
  std::vector<std::string> dirs;
  for (const auto& d : search_path_) dirs.push_back(d.string());
  throw usage_error(fmt::format("unknown plugin '{}' (searched: {}); see `dihya-host list`",
                                name_or_path, dirs.empty() ? "nothing" : fmt::format("{}", fmt::join(dirs, ":"))));
}

std::string PluginCatalog::sha256(const PluginFile& plugin) {
  // Keyed by the stamp of the descriptor that will be loaded, not of the path.
  const FileStamp stamp = stamp_of(plugin);
  nlohmann::json& cache = this->cache();
  const std::string key = plugin.path.string();
  auto cached = cache.find(key);
  const bool same_file = cached != cache.end() && stamp_matches(*cached, stamp);
  if (same_file && cached->contains("sha256") && (*cached)["sha256"].is_string()) {
    return (*cached)["sha256"].get<std::string>();
  }
  std::string digest = sha256_fd_hex(plugin.fd->get(), plugin.path);
  if (same_file) {
    (*cached)["sha256"] = digest;
    save_cache(cache_file_, cache);
  }
  return digest;
}

void PluginCatalog::mark_unstable(const std::filesystem::path& path, const std::string& why) {
  const auto stamp = stamp_of(path);
  if (!stamp) return;
  nlohmann::json& cache = this->cache();
  CatalogEntry e = read_entry(path);
  e.unstable = why;
  cache[path.string()] = cache_record(e, *stamp);
  save_cache(cache_file_, cache);
}

}  // namespace dihya::host
