// SPDX-License-Identifier: AGPL-3.0-or-later
#include "loading/catalog.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "errors.hpp"
#include "util/atomic_file.hpp"
#include "util/sha256.hpp"
#include "util/trusted_path.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

constexpr const char* kCacheFormat = "dihya-metadata-cache-3";
constexpr const char* kCacheFilePrefix = "plugin-metadata-";  // + 16 hex digits of the search path + ".json"
constexpr std::size_t kCacheFilesKept = 8;

std::int64_t nanoseconds(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

FileStamp stamp_of(const struct stat& st) {
  return FileStamp{static_cast<std::uint64_t>(st.st_size), nanoseconds(st.st_mtim), nanoseconds(st.st_ctim),
                   static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

std::optional<FileStamp> stamp_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return stamp_of(st);
}

FileStamp stamp_of(const PluginFile& plugin) {
  return FileStamp{plugin.size, plugin.mtime_ns, plugin.ctime_ns, static_cast<std::uint64_t>(plugin.device),
                   static_cast<std::uint64_t>(plugin.inode)};
}

// Reads the cache document {"format": kCacheFormat, "files": {path: {size,
// mtime_ns, name, ...}}} straight into records with a SAX handler: building
// the JSON tree of a few dozen plugins' entries cost more than the rest of
// finding a plugin (1M instructions for 18 test plugins). Any other shape
// (nesting deeper than a record, arrays, a field of the wrong type) rejects
// the whole document.
class CacheReader final : public nlohmann::json::json_sax_t {
 public:
  explicit CacheReader(CatalogCache* files) : files_(files) {}
  bool format_ok() const { return format_ok_; }

  bool null() override { return depth_ == 3 ? !known_key() : scalar(); }
  bool boolean(bool value) override {
    if (depth_ != 3) return scalar();
    if (key_ == "destructive") record_->destructive = value;
    else if (key_ == "reversible") record_->reversible = value;
    else return !known_key();
    return true;
  }
  bool number_integer(number_integer_t value) override {
    return number(value >= 0, static_cast<std::uint64_t>(value), value);
  }
  bool number_unsigned(number_unsigned_t value) override {
    return number(true, value, static_cast<std::int64_t>(value));
  }
  bool number_float(number_float_t, const string_t&) override { return depth_ == 3 ? !known_key() : scalar(); }
  bool string(string_t& value) override {
    if (depth_ == 1) {
      if (key_ == "format") format_ok_ = value == kCacheFormat;
      return key_ != "files";
    }
    if (depth_ != 3) return false;
    std::string* field = key_ == "name"       ? &record_->name
                         : key_ == "version"  ? &record_->version
                         : key_ == "summary"  ? &record_->summary
                         : key_ == "error"    ? &record_->error
                         : key_ == "unstable" ? &record_->unstable
                         : key_ == "sha256"   ? &record_->sha256
                                              : nullptr;
    if (field == nullptr) return !known_key();
    *field = std::move(value);
    return true;
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 2) return key_ == "files";
    if (depth_ == 3) {
      record_ = &(*files_)[key_];
      *record_ = CacheRecord{};
    }
    return depth_ <= 3;
  }
  bool key(string_t& value) override {
    key_ = std::move(value);
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return false; }
  bool end_array() override { return false; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  // Outside a record, a scalar is accepted only at the top level, under a key
  // other than "files". Inside one, a known field of the wrong type rejects
  // the document; an unknown field is skipped.
  bool scalar() const { return depth_ == 1 && key_ != "files"; }
  bool known_key() const {
    for (const char* k : {"size", "mtime_ns", "ctime_ns", "device", "inode", "name", "version", "summary",
                          "destructive", "reversible", "error", "unstable", "sha256"}) {
      if (key_ == k) return true;
    }
    return false;
  }
  bool number(bool non_negative, std::uint64_t as_unsigned, std::int64_t as_signed) {
    if (depth_ != 3) return scalar();
    if (key_ == "mtime_ns") record_->stamp.mtime_ns = as_signed;
    else if (key_ == "ctime_ns") record_->stamp.ctime_ns = as_signed;
    else if (!non_negative) return !known_key();
    else if (key_ == "size") record_->stamp.size = as_unsigned;
    else if (key_ == "device") record_->stamp.device = as_unsigned;
    else if (key_ == "inode") record_->stamp.inode = as_unsigned;
    else return !known_key();
    return true;
  }

  CatalogCache* files_;
  CacheRecord* record_ = nullptr;
  std::string key_;
  int depth_ = 0;
  bool format_ok_ = false;
};

CatalogCache load_cache(const std::filesystem::path& file) {
  // The cache only saves time: a missing, damaged or hostile one is rebuilt.
  std::string text;
  try {
    text = read_file(file);
  } catch (const HostError&) {
    return {};
  }
  // nlohmann's lexer ends the input at a NUL byte: whatever follows one
  // would never be looked at.
  if (text.find('\0') != std::string::npos) return {};
  CatalogCache files;
  CacheReader reader(&files);
  if (!nlohmann::json::sax_parse(text, &reader, nlohmann::json::input_format_t::json, true) || !reader.format_ok()) {
    return {};
  }
  return files;
}

nlohmann::json record_json(const CacheRecord& r) {
  nlohmann::json j{{"size", r.stamp.size},     {"mtime_ns", r.stamp.mtime_ns}, {"ctime_ns", r.stamp.ctime_ns},
                   {"device", r.stamp.device}, {"inode", r.stamp.inode},       {"name", r.name},
                   {"version", r.version}, {"summary", r.summary},   {"destructive", r.destructive},
                   {"reversible", r.reversible}};
  if (!r.error.empty()) j["error"] = r.error;
  if (!r.unstable.empty()) j["unstable"] = r.unstable;
  if (!r.sha256.empty()) j["sha256"] = r.sha256;
  return j;
}

// Keeps the kCacheFilesKept most recently written cache files of the cache
// dir (and drops the single file of older versions) once `current` is new.
void prune_cache_files(const std::filesystem::path& current) {
  std::vector<std::pair<std::int64_t, std::string>> files;  // mtime_ns, name
  const auto dir = current.parent_path();
  DirStream stream(dir.c_str());
  if (!stream.get()) return;
  while (const dirent* d = ::readdir(stream.get())) {
    const std::string name = d->d_name;
    if (name == "plugin-metadata.json") {
      ::unlinkat(::dirfd(stream.get()), name.c_str(), 0);
      continue;
    }
    if (name.rfind(kCacheFilePrefix, 0) != 0 || name == current.filename().string()) continue;
    struct stat st {};
    if (::fstatat(::dirfd(stream.get()), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    files.emplace_back(nanoseconds(st.st_mtim), name);
  }
  if (files.size() < kCacheFilesKept) return;
  std::sort(files.begin(), files.end(), std::greater<>());
  for (std::size_t i = kCacheFilesKept - 1; i < files.size(); ++i) {
    ::unlinkat(::dirfd(stream.get()), files[i].second.c_str(), 0);
  }
}

void save_cache(const std::filesystem::path& file, const CatalogCache& files) {
  nlohmann::json doc_files = nlohmann::json::object();
  for (const auto& [path, record] : files) doc_files[path] = record_json(record);
  nlohmann::json doc{{"format", kCacheFormat}, {"files", std::move(doc_files)}};
  // The cache only saves time: failing to write it is not an error, and it
  // need not survive a crash (a damaged one is rebuilt, an old one is checked
  // against each file's stamp), so no fsync: a burst of runs that each add
  // their plugin's digest must not each wait for two disk flushes.
  struct stat st {};
  const bool is_new = ::lstat(file.c_str(), &st) != 0;
  const std::error_code failed = replace_file(
      file, doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), 0600, Durability::kAtomicOnly);
  if (!failed && is_new) {
    prune_cache_files(file);
  }
}

// A cached digest is used only in the shape sha256_fd_hex() writes.
bool is_sha256_hex(const std::string& text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool stamps_equal(const FileStamp& a, const FileStamp& b) {
  return a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns && a.device == b.device &&
         a.inode == b.inode;
}

bool stamp_matches(const CacheRecord& cached, const FileStamp& stamp) { return stamps_equal(cached.stamp, stamp); }

CatalogEntry entry_from_cache(const std::filesystem::path& path, const CacheRecord& cached) {
  CatalogEntry e;
  e.path = path;
  e.name = cached.name;
  e.version = cached.version;
  e.summary = cached.summary;
  e.destructive = cached.destructive;
  e.reversible = cached.reversible;
  e.error = cached.error;
  e.unstable = cached.unstable;
  return e;
}

CacheRecord cache_record(const CatalogEntry& e, const FileStamp& stamp) {
  CacheRecord r;
  r.stamp = stamp;
  r.name = e.name;
  r.version = e.version;
  r.summary = e.summary;
  r.destructive = e.destructive;
  r.reversible = e.reversible;
  r.error = e.error;
  r.unstable = e.unstable;
  return r;
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

// A file name std::filesystem gives the extension ".so": a dot file named
// ".so" has none.
bool is_plugin_file_name(const char* name) {
  const std::size_t n = std::strlen(name);
  return n > 3 && std::memcmp(name + n - 3, ".so", 3) == 0;
}

// Calls visit(path, stamp) for every *.so file of the search path in its
// order (directories in order, names sorted within one), until visit returns
// false; returns false then. A file that cannot be stat'ed is skipped, as is a
// directory that cannot be read. One readdir loop and fstatat() relative to
// the directory: std::filesystem built a path per entry and stat'ed each by
// its full path, which was most of what finding a plugin cost.
template <typename Visit>
bool for_each_plugin_file(const std::vector<std::filesystem::path>& search_path, Visit&& visit) {
  std::vector<std::string> names;
  for (const auto& dir : search_path) {
    if (dir.empty()) continue;
    DirStream stream(dir.c_str());
    if (stream.get() == nullptr) continue;
    names.clear();
    while (const struct dirent* d = ::readdir(stream.get())) {
      if (is_plugin_file_name(d->d_name)) names.emplace_back(d->d_name);
    }
    std::sort(names.begin(), names.end());
    // dir / name, spelled as std::filesystem spells it, for the cache keys.
    const std::string prefix = (dir / "").string();
    const int dir_fd = ::dirfd(stream.get());
    std::string path;
    for (const auto& name : names) {
      struct stat st {};
      if (::fstatat(dir_fd, name.c_str(), &st, 0) != 0) continue;
      path.assign(prefix).append(name);
      if (!visit(path, stamp_of(st))) return false;
    }
  }
  return true;
}

// The cache as parsed by keep_cache_for_forks() in this process (or the
// zygote it was forked from), with the stamp of the file it came from.
struct ParsedCache {
  std::filesystem::path file;
  FileStamp stamp;
  CatalogCache files;
};
std::optional<ParsedCache>& parsed_cache() {
  static std::optional<ParsedCache> parsed;
  return parsed;
}

}  // namespace

std::filesystem::path metadata_cache_file(const Settings& settings) {
  // One file per plugin search path: a `list` with another --plugin-path
  // (1000 plugins, say) must not leave every later `run` of the usual path
  // parsing their entries, nor thrash one file between two paths.
  std::string key;
  for (const auto& dir : settings.plugin_path) {
    key += dir.string();
    key += '\0';
  }
  return settings.cache_dir / fmt::format("{}{}.json", kCacheFilePrefix, sha256_hex(key).substr(0, 16));
}

PluginCatalog::PluginCatalog(const Settings& settings)
    : search_path_(settings.plugin_path),
      signatures_{parse_signature_policy(settings.signatures, "settings"), settings.trusted_keys_dir},
      cache_file_(metadata_cache_file(settings)) {}

PluginFile PluginCatalog::checked(PluginFile file) const {
  file.signed_by = verify_plugin_signature(file, signatures_);
  return file;
}

CatalogCache& PluginCatalog::cache() {
  if (!cache_) {
    prepare_private_dir(cache_file_.parent_path(), "cache dir");
    // Parsing the document is most of what finding a plugin costs (~85
    // instructions a byte): a job forked from the zygote takes the zygote's
    // parse while the file is still the one it parsed.
    const std::optional<ParsedCache>& parsed = parsed_cache();
    const std::optional<FileStamp> stamp = parsed && parsed->file == cache_file_ ? stamp_of(cache_file_) : std::nullopt;
    if (stamp && stamps_equal(*stamp, parsed->stamp)) {
      cache_ = parsed->files;
    } else {
      cache_ = load_cache(cache_file_);
    }
  }
  return *cache_;
}

std::vector<CatalogEntry> PluginCatalog::list() {
  CatalogCache& cache = this->cache();
  CatalogCache fresh;
  bool changed = false;
  std::vector<CatalogEntry> entries;
  std::set<std::string> seen_names;
  for_each_plugin_file(search_path_, [&](const std::string& key, const FileStamp& stamp) {
    CatalogEntry e;
    const auto cached = cache.find(key);
    if (cached != cache.end() && stamp_matches(cached->second, stamp)) {
      e = entry_from_cache(key, cached->second);
      fresh[key] = std::move(cached->second);
    } else {
      e = read_entry(key);
      fresh[key] = cache_record(e, stamp);
      changed = true;
    }
    if (!e.name.empty()) e.shadowed = !seen_names.insert(e.name).second;
    entries.push_back(std::move(e));
    return true;
  });
  if (changed || fresh.size() != cache.size()) save_cache(cache_file_, fresh);
  cache = std::move(fresh);
  return entries;
}

std::optional<PluginFile> PluginCatalog::find_in_cache(const std::string& name) {
  // Stops at the first file the cache names `name` when every file before it
  // has a cache entry of its stamp naming something else: then no earlier
  // file can carry that name unless its entry was forged, and a full scan
  // trusts the same entries. Anything else (a new or changed file, no such
  // name, a file whose own metadata says otherwise) is left to the full scan,
  // which re-reads, rewrites the cache and retries exactly as before.
  const CatalogCache& cache = this->cache();
  std::optional<std::string> candidate;
  for_each_plugin_file(search_path_, [&](const std::string& key, const FileStamp& stamp) {
    const auto cached = cache.find(key);
    if (cached == cache.end() || !stamp_matches(cached->second, stamp)) return false;
    if (cached->second.name != name) return true;
    candidate = key;
    return false;
  });
  if (!candidate) return std::nullopt;
  PluginFile file = read_plugin_file(*candidate);
  if (file.name() != name) return std::nullopt;
  return file;
}

PluginFile PluginCatalog::find(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos) {
    std::error_code ec;
    const auto status = std::filesystem::status(name_or_path, ec);
    if (!std::filesystem::exists(status)) {
      // status() follows links: say why it found nothing (ELOOP: a symlink loop).
      throw usage_error(ec && ec.value() != ENOENT
                            ? fmt::format("{}: cannot open the plugin file: {}", name_or_path, ec.message())
                            : fmt::format("{}: no such plugin file", name_or_path));
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
  if (auto file = find_in_cache(name_or_path)) return checked(std::move(*file));
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
    // A fresh scan reads every file's metadata again; what only the cache
    // knows of a file that did not change (it crashed while loading, its
    // digest) is kept: a typo in a plugin name must not clear `unstable`.
    const CatalogCache before = cache();
    cache_ = CatalogCache();
    entries = list();
    bool kept = false;
    for (auto& [key, record] : *cache_) {
      const auto old = before.find(key);
      if (old == before.end() || !stamps_equal(old->second.stamp, record.stamp)) continue;
      for (auto [mine, theirs] : {std::pair{&record.unstable, &old->second.unstable},
                                  std::pair{&record.sha256, &old->second.sha256}}) {
        if (mine->empty() && !theirs->empty()) {
          *mine = *theirs;
          kept = true;
        }
      }
    }
    if (kept) save_cache(cache_file_, *cache_);
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
  CatalogCache& cache = this->cache();
  const std::string key = plugin.path.string();
  auto cached = cache.find(key);
  const bool same_file = cached != cache.end() && stamp_matches(cached->second, stamp);
  if (same_file && is_sha256_hex(cached->second.sha256)) return cached->second.sha256;
  std::string digest = sha256_fd_hex(plugin.fd->get(), plugin.path);
  if (same_file) {
    cached->second.sha256 = digest;
    save_cache(cache_file_, cache);
  }
  return digest;
}

void PluginCatalog::remember_digests() {
  list();  // an entry of the current stamp for every file
  CatalogCache& cache = this->cache();
  bool changed = false;
  for (auto& [path, record] : cache) {
    if (!record.error.empty() || is_sha256_hex(record.sha256)) continue;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || !stamp_matches(record, stamp_of(st))) continue;
    try {
      record.sha256 = sha256_fd_hex(fd.get(), path);
      changed = true;
    } catch (const HostError&) {
    }
  }
  if (changed) save_cache(cache_file_, cache);
}

void PluginCatalog::keep_cache_for_forks() {
  const CatalogCache& files = cache();
  if (const auto stamp = stamp_of(cache_file_)) parsed_cache() = ParsedCache{cache_file_, *stamp, files};
}

void PluginCatalog::mark_unstable(const std::filesystem::path& path, const std::string& why) {
  const auto stamp = stamp_of(path);
  if (!stamp) return;
  CatalogCache& cache = this->cache();
  CatalogEntry e = read_entry(path);
  e.unstable = why;
  cache[path.string()] = cache_record(e, *stamp);
  save_cache(cache_file_, cache);
}

}  // namespace dihya::host
