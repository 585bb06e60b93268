// SPDX-License-Identifier: AGPL-3.0-or-later
// The plugins the host can see: every *.so in the search path, in order, the
// first plugin of a name winning. Listing reads only the ELF metadata of each
// file and keeps the few fields `list` needs in a cache keyed by (path, size,
// mtime), so listing hundreds of plugins stays instant and runs no plugin code.
// The cache also remembers plugins that crashed while loading, until the file
// changes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "loading/plugin_file.hpp"
#include "loading/signature.hpp"

namespace dihya::host {

struct CatalogEntry {
  std::filesystem::path path;
  std::string name;         // empty when the file could not be read
  std::string version;
  std::string summary;
  bool destructive = false;
  bool reversible = false;
  std::string error;        // why the file is not usable, one line
  std::string unstable;     // set when it crashed while loading
  bool shadowed = false;    // another plugin of the same name comes first
};

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

// What the metadata cache remembers of one plugin file: its stamp (the entry
// holds only while the file's size, times, device and inode are these) and
// the fields `list` shows; sha256 is the file's digest once a run computed it.
struct CacheRecord {
  FileStamp stamp;
  std::string name;
  std::string version;
  std::string summary;
  bool destructive = false;
  bool reversible = false;
  std::string error;
  std::string unstable;
  std::string sha256;
};
using CatalogCache = std::map<std::string, CacheRecord>;  // by plugin file path

// The metadata cache of `settings`' plugin search path:
// <cache_dir>/plugin-metadata-<16 hex digits of the path>.json. The 8 most
// recently made are kept.
std::filesystem::path metadata_cache_file(const Settings& settings);

class PluginCatalog {
 public:
  explicit PluginCatalog(const Settings& settings);

  // Every plugin file of the search path, good or not.
  std::vector<CatalogEntry> list();

  // The plugin named `name_or_path` (a path when it contains '/'), its
  // signature checked under the signatures setting. Throws a usage error for
  // an unknown name and a load error for an unusable file. A name is looked
  // up in the cache only as far as the first file it names: the answer is
  // the one a full scan of the search path would give.
  PluginFile find(const std::string& name_or_path);

  // The SHA-256 of the plugin file, remembered in the cache with its stamp so
  // that a run does not re-hash an unchanged file.
  std::string sha256(const PluginFile& plugin);

  // Hashes every plugin file on the search path whose cache entry has no
  // digest yet, and writes the cache once. The scheduler's zygote calls it
  // before its first job: jobs started together from the same cache would
  // otherwise each hash their plugin and each rewrite the cache.
  void remember_digests();

  // Keeps this catalog's parsed cache in the process for the catalogs of the
  // processes forked from it (the zygote's jobs): they take it instead of
  // parsing the file again while the file is unchanged (same size, times,
  // device and inode), else they read the file as usual.
  void keep_cache_for_forks();

  // Remembers that the plugin at `path` crashed while loading.
  void mark_unstable(const std::filesystem::path& path, const std::string& why);

 private:
  PluginFile checked(PluginFile file) const;
  // The plugin named `name` when the cache alone finds it, read and
  // confirmed by its own metadata; nullopt sends find() to a full scan.
  std::optional<PluginFile> find_in_cache(const std::string& name);

  std::vector<std::filesystem::path> search_path_;
  SignatureSettings signatures_;
  // The cache document's "files", read on first use and kept for the life
  // of the catalog so a command reads and parses it once.
  CatalogCache& cache();

  std::filesystem::path cache_file_;
  std::optional<CatalogCache> cache_;
};

}  // namespace dihya::host
