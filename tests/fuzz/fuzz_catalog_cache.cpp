// SPDX-License-Identifier: AGPL-3.0-or-later
// libFuzzer target for the plugin metadata cache (loading/catalog.hpp), whose
// file every `list`, `run` and scheduled job reads through a hand-written SAX
// handler. The cache only saves time: whatever its file holds, the catalog
// must give the answers a scan of the plugin files gives, never crash, hang
// or trip a sanitizer. The one thing a cache entry may change is the entry of
// a file whose exact stamp (size, mtime, ctime, device, inode) it names: the
// cache trusts those by design, as a full scan does.
//
// The input is the cache file. The plugin dir is fixed
// (/dev/shm/dihya-fuzz-catalog-plugins-<uid>), holding copies of two test
// plugins (from the dir DIHYA_FUZZ_TEST_PLUGINS names) kept while unchanged,
// so that the absolute paths and stamps a seed names stay those the target
// sees; the cache dir is private to the process. For each input, through the
// public interface only (PluginCatalog, each call on a fresh catalog as each
// command makes one). Checked (__builtin_trap() when broken):
//  - list() and find("noop") throw nothing (the cache cannot make them fail);
//  - list() gives the files of the plugin dir in order, each with the entry a
//    scan without cache gives, unless the input names that file's stamp;
//    shadowed follows the names;
//  - the cache list() leaves behind gives the same entries again, and is
//    taken whole: the next list() does not rewrite it (what the catalog
//    writes, it reads back);
//  - find("noop") returns the real noop plugin file;
//  - sha256() of it is the file's digest, unless the input names its stamp
//    (then it is at least a digest's shape).
// DIHYA_FUZZ_WRITE_SEED=FILE: writes the cache a run without one leaves (the
// target's own paths and stamps, with noop's digest) to FILE and exits; the
// runner makes it the seed that gets past the format check.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/settings.hpp"
#include "errors.hpp"
#include "loading/catalog.hpp"
#include "loading/plugin_file.hpp"

#include "fuzz_support.hpp"

namespace catalog_cache_fuzz {

namespace fs = std::filesystem;
using dihya::host::CatalogEntry;
using dihya::host::PluginCatalog;
using dihya::host::PluginFile;
using dihya::host::Settings;

// noop is found by name; echo_params sorts before it, so a cache entry naming
// it "noop" is the first the lookup meets.
constexpr const char* kPlugins[] = {"libecho_params.so", "libnoop.so"};

[[noreturn]] void fail(const std::string& what) { dihya::fuzz::fail("fuzz_catalog_cache", what.c_str()); }

[[noreturn]] void setup_failed(const std::string& what) {
  std::fprintf(stderr, "fuzz_catalog_cache: %s\n", what.c_str());
  std::exit(1);
}

// Runs `fn`, which the cache must not make throw.
template <typename F>
void must_not_throw(const char* name, F&& fn) {
  dihya::fuzz::call<dihya::host::HostError>("fuzz_catalog_cache", name, false, std::forward<F>(fn));
}

std::string file_bytes(const fs::path& path) { return dihya::fuzz::read_bytes(path).value_or(std::string()); }

void write_bytes(const fs::path& path, std::string_view bytes) {
  dihya::fuzz::write_bytes("fuzz_catalog_cache", path, bytes);
}

// The copy of `from` at `to`, left alone when it already holds the same
// bytes: a seed written by an earlier process names its stamp.
void keep_copy(const fs::path& from, const fs::path& to) {
  const std::string bytes = file_bytes(from);
  if (bytes.empty()) setup_failed("cannot read test plugin " + from.string() + " (DIHYA_FUZZ_TEST_PLUGINS)");
  if (fs::exists(to) && file_bytes(to) == bytes) return;
  const fs::path part = to.string() + ".part";
  write_bytes(part, bytes);
  fs::permissions(part, fs::perms(0644));
  fs::rename(part, to);
}

// The decimal numbers a cache entry must hold to be trusted for `path`.
std::vector<std::string> stamp_texts(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) setup_failed("cannot stat " + path.string());
  const auto ns = [](const struct timespec& t) {
    return std::to_string(static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec);
  };
  return {std::to_string(st.st_size), ns(st.st_mtim), ns(st.st_ctim), std::to_string(st.st_dev),
          std::to_string(st.st_ino)};
}

struct Fixture {
  Settings settings;
  fs::path cache_file;
  std::vector<CatalogEntry> reference;             // list() with no cache
  std::vector<std::vector<std::string>> stamps;    // of reference[i].path
  fs::path noop_path;
  std::string noop_sha256;

  ~Fixture() {
    std::error_code ignored;
    fs::remove_all(settings.cache_dir, ignored);
  }
};

const Fixture& fixture() {
  static Fixture f = [] {
    const char* test_plugins = std::getenv("DIHYA_FUZZ_TEST_PLUGINS");
    if (test_plugins == nullptr) setup_failed("DIHYA_FUZZ_TEST_PLUGINS must name the built test plugins' dir");
    const fs::path plugin_dir = "/dev/shm/dihya-fuzz-catalog-plugins-" + std::to_string(::getuid());
    std::error_code ec;
    fs::create_directory(plugin_dir, ec);
    fs::permissions(plugin_dir, fs::perms(0755), ec);
    for (const char* so : kPlugins) keep_copy(fs::path(test_plugins) / so, plugin_dir / so);
    char cache_dir[] = "/dev/shm/dihya-fuzz-catalog-cache-XXXXXX";
    if (::mkdtemp(cache_dir) == nullptr) setup_failed("mkdtemp under /dev/shm failed");
    Fixture made;
    made.settings.plugin_path = {plugin_dir};
    made.settings.cache_dir = cache_dir;
    made.cache_file = dihya::host::metadata_cache_file(made.settings);
    must_not_throw("list() with no cache", [&] { made.reference = PluginCatalog(made.settings).list(); });
    if (made.reference.size() != std::size(kPlugins)) setup_failed("the plugin dir holds other files");
    for (const auto& e : made.reference) {
      if (e.name.empty() || !e.error.empty()) setup_failed(e.path.string() + ": not a usable plugin: " + e.error);
      made.stamps.push_back(stamp_texts(e.path));
    }
    must_not_throw("find(\"noop\") with a fresh cache", [&] {
      PluginCatalog catalog(made.settings);
      const PluginFile noop = catalog.find("noop");
      made.noop_path = noop.path;
      made.noop_sha256 = catalog.sha256(noop);
    });
    if (made.noop_path != plugin_dir / "libnoop.so") setup_failed("find(\"noop\") found " + made.noop_path.string());
    return made;
  }();
  return f;
}

bool input_names_stamp(std::string_view input, const std::vector<std::string>& stamp) {
  for (const auto& number : stamp) {
    if (input.find(number) == std::string_view::npos) return false;
  }
  return true;
}

std::string describe(const CatalogEntry& e) {
  return e.path.string() + " name='" + e.name + "' version='" + e.version + "' error='" + e.error + "' unstable='" +
         e.unstable + "' shadowed=" + (e.shadowed ? "yes" : "no");
}

bool same_fields(const CatalogEntry& a, const CatalogEntry& b) {
  return a.path == b.path && a.name == b.name && a.version == b.version && a.summary == b.summary &&
         a.destructive == b.destructive && a.reversible == b.reversible && a.error == b.error &&
         a.unstable == b.unstable;
}

void check_list(std::string_view input, const std::vector<CatalogEntry>& got) {
  const Fixture& f = fixture();
  if (got.size() != f.reference.size()) fail("list() gave another number of files than the plugin dir holds");
  std::vector<std::string> names_before;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const CatalogEntry& e = got[i];
    const CatalogEntry& want = f.reference[i];
    if (e.path != want.path) fail("list() gave " + e.path.string() + " where the plugin dir holds " + want.path.string());
    if (!same_fields(e, want) && !input_names_stamp(input, f.stamps[i])) {
      fail("list() took a cache entry that does not name the file's stamp: " + describe(e) + " instead of " +
           describe(want));
    }
    bool shadowed = false;
    for (const auto& n : names_before) shadowed = shadowed || (!e.name.empty() && n == e.name);
    if (e.shadowed != shadowed) fail("list() shadowed wrongly: " + describe(e));
    names_before.push_back(e.name);
  }
}

void check_same(const std::vector<CatalogEntry>& first, const std::vector<CatalogEntry>& again) {
  if (first.size() != again.size()) fail("the cache list() wrote lists another number of files");
  for (std::size_t i = 0; i < first.size(); ++i) {
    if (!same_fields(first[i], again[i]) || first[i].shadowed != again[i].shadowed) {
      fail("the cache list() wrote gives another entry: " + describe(again[i]) + " instead of " + describe(first[i]));
    }
  }
}

bool is_sha256_hex(const std::string& text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

void check_find(std::string_view input) {
  const Fixture& f = fixture();
  PluginCatalog catalog(f.settings);
  std::optional<PluginFile> noop;
  must_not_throw("find(\"noop\")", [&] { noop.emplace(catalog.find("noop")); });
  if (noop->path != f.noop_path || noop->name() != "noop") {
    fail("find(\"noop\") returned " + noop->path.string() + " named '" + noop->name() + "'");
  }
  std::string digest;
  must_not_throw("sha256()", [&] { digest = catalog.sha256(*noop); });
  if (digest == f.noop_sha256) return;
  const std::size_t noop_index = f.reference.back().path == f.noop_path ? f.reference.size() - 1 : 0;
  if (!input_names_stamp(input, f.stamps[noop_index])) fail("sha256() gave another digest: " + digest);
  if (!is_sha256_hex(digest)) fail("sha256() gave a cached digest of the wrong shape: " + digest);
}

void run_one(std::string_view input) {
  const Fixture& f = fixture();
  write_bytes(f.cache_file, input);
  std::vector<CatalogEntry> got;
  must_not_throw("list()", [&] { got = PluginCatalog(f.settings).list(); });
  check_list(input, got);
  const std::string written = file_bytes(f.cache_file);
  std::vector<CatalogEntry> again;
  must_not_throw("list() again", [&] { again = PluginCatalog(f.settings).list(); });
  check_same(got, again);
  if (file_bytes(f.cache_file) != written) fail("list() rewrote the cache list() had just written");
  write_bytes(f.cache_file, input);
  check_find(input);
}

// The cache a run with none leaves behind: list(), find("noop"), its digest.
void write_seed(const char* seed) {
  const Fixture& f = fixture();
  write_bytes(seed, file_bytes(f.cache_file));
}

}  // namespace catalog_cache_fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  catalog_cache_fuzz::fixture();
  if (const char* seed = std::getenv("DIHYA_FUZZ_WRITE_SEED")) {
    catalog_cache_fuzz::write_seed(seed);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  catalog_cache_fuzz::run_one(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
