// SPDX-License-Identifier: AGPL-3.0-or-later
// Finding a plugin by name through the catalog: the first file of a name in
// search-path order wins, the file's own embedded metadata decides over the
// metadata cache, and a changed file is re-read. find() stops at the first
// file the cache names when every earlier file's entry is valid; these cases
// pin down that the early stop gives the answer a full scan gives. They use
// the test plugins of the build (libnoop.so, libecho_params.so), copied into
// private temp directories.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "config/settings.hpp"
#include "errors.hpp"
#include "loading/catalog.hpp"
#include "loading/plugin_file.hpp"
#include "util/sha256.hpp"
#include "temp_dir.hpp"

using dihya::host::HostError;
using dihya::host::PluginCatalog;
using dihya::host::Settings;
using dihya::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// The test plugins sit in plugins/ beside the unit test program
// (build/<preset>/tests/); DIHYA_TEST_PLUGIN_DIR overrides that.
fs::path test_plugin(const std::string& name) {
  const char* dir = ::getenv("DIHYA_TEST_PLUGIN_DIR");
  const fs::path base = dir != nullptr ? fs::path(dir) : fs::read_symlink("/proc/self/exe").parent_path() / "plugins";
  const fs::path file = base / ("lib" + name + ".so");
  INFO("test plugin " << file.string() << " (build the test plugins: cmake --build <dir> --target " << name << ")");
  REQUIRE(fs::is_regular_file(file));
  return file;
}

// A copy of a test plugin under `dir/file_name`, replacing what was there in
// place (same inode), as an operator's `cp` would.
void install(const std::string& plugin, const fs::path& dir, const std::string& file_name) {
  fs::create_directories(dir);
  fs::copy_file(test_plugin(plugin), dir / file_name, fs::copy_options::overwrite_existing);
}

struct CatalogFixture {
  TempDir tmp;
  fs::path first = tmp.path() / "first";
  fs::path second = tmp.path() / "second";
  fs::path cache_file = dihya::host::metadata_cache_file(settings());

  CatalogFixture() {
    fs::create_directories(first);
    fs::create_directories(second);
  }
  // The settings of a catalog over first:second with its cache in the temp dir.
  Settings settings() const {
    Settings s;
    s.plugin_path = {first, second};
    s.cache_dir = tmp.path() / "cache";
    s.trusted_keys_dir = tmp.path() / "keys";
    return s;
  }
  // A new catalog per call, as each `dihya-host run` builds its own: only the
  // cache file carries over.
  fs::path find(const std::string& name) const {
    PluginCatalog catalog(settings());
    const auto file = catalog.find(name);
    CHECK(file.name() == name);
    return file.path;
  }
  std::string cache_text() const { return dihya::testing::read_text(cache_file); }
  void set_cache_text(const std::string& text) const {
    tmp.write(fs::relative(cache_file, tmp.path()).string(), text);
  }
  ino_t cache_inode() const {
    struct stat st {};
    REQUIRE(::stat(cache_file.c_str(), &st) == 0);
    return st.st_ino;
  }
};

// Replaces the one occurrence of `from` in `text`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.find(from, at + 1) == std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("each plugin search path has its own metadata cache and the 8 newest are kept", "[loading][catalog]") {
  CatalogFixture f;
  install("noop", f.first, "libnoop.so");
  f.find("noop");
  const std::string text = f.cache_text();
  f.tmp.write("cache/plugin-metadata.json", "{}");  // the single file of older versions
  // Other paths (as `list --plugin-path` makes them) leave this path's file as it was.
  for (int i = 0; i < 10; ++i) {
    Settings other = f.settings();
    other.plugin_path = {f.tmp.path() / ("other" + std::to_string(i))};
    fs::create_directories(other.plugin_path[0]);
    install("echo_params", other.plugin_path[0], "libecho_params.so");
    PluginCatalog(other).list();
    CHECK(dihya::host::metadata_cache_file(other) != f.cache_file);
  }
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(f.tmp.path() / "cache")) {
    CHECK(e.path().filename().string().rfind("plugin-metadata-", 0) == 0);
    ++files;
  }
  CHECK(files == 8);
  // This path's file was among the oldest: pruned, then simply made again.
  f.find("noop");
  CHECK(f.cache_text() == text);
}

TEST_CASE("the first file of a name in search-path order wins", "[loading][catalog]") {
  CatalogFixture f;
  install("noop", f.second, "libnoop.so");
  install("noop", f.second, "libaaa.so");
  CHECK(f.find("noop") == f.second / "libaaa.so");
  CHECK(f.find("noop") == f.second / "libaaa.so");  // from the cache

  SECTION("a new file earlier in the path that claims the name shadows the old one") {
    install("noop", f.first, "libzzz.so");
    CHECK(f.find("noop") == f.first / "libzzz.so");
  }
  SECTION("an earlier file changed in place to claim the name shadows the old one") {
    install("echo_params", f.first, "libecho.so");
    CHECK(f.find("noop") == f.second / "libaaa.so");
    CHECK(f.find("echo_params") == f.first / "libecho.so");
    install("noop", f.first, "libecho.so");
    CHECK(f.find("noop") == f.first / "libecho.so");
  }
  SECTION("removing the winner falls back to the next file of the name") {
    fs::remove(f.second / "libaaa.so");
    CHECK(f.find("noop") == f.second / "libnoop.so");
  }
}

TEST_CASE("a file replaced in place is re-read", "[loading][catalog]") {
  CatalogFixture f;
  install("noop", f.first, "libtool.so");
  install("echo_params", f.second, "libecho_params.so");
  CHECK(f.find("noop") == f.first / "libtool.so");
  CHECK(f.find("echo_params") == f.second / "libecho_params.so");
  REQUIRE(f.cache_text().find("\"name\":\"noop\"") != std::string::npos);

  install("echo_params", f.first, "libtool.so");
  CHECK(f.find("echo_params") == f.first / "libtool.so");
  CHECK_THROWS_WITH(f.find("noop"), Catch::Contains("unknown plugin 'noop'"));
  CHECK(f.cache_text().find("\"name\":\"noop\"") == std::string::npos);
}

TEST_CASE("a cache entry edited to claim a wrong name never runs another plugin", "[loading][catalog]") {
  CatalogFixture f;
  install("echo_params", f.first, "libaaa.so");
  install("noop", f.first, "libnoop.so");
  CHECK(f.find("noop") == f.first / "libnoop.so");
  const std::string good = f.cache_text();

  SECTION("an earlier plugin's entry claims the name") {
    f.set_cache_text(replaced(good, "\"name\":\"echo_params\"", "\"name\":\"noop\""));
    CHECK(f.find("noop") == f.first / "libnoop.so");
    // The scan that caught the lie rewrote the entry from the file.
    CHECK(f.cache_text().find("\"name\":\"echo_params\"") != std::string::npos);
    CHECK(f.find("echo_params") == f.first / "libaaa.so");
  }
  SECTION("the plugin's own entry names something else") {
    f.set_cache_text(replaced(good, "\"name\":\"noop\"", "\"name\":\"echo_params\""));
    CHECK(f.find("noop") == f.first / "libnoop.so");
    CHECK(f.find("echo_params") == f.first / "libaaa.so");
  }
  SECTION("the plugin's own entry loses its name") {
    f.set_cache_text(replaced(good, "\"name\":\"noop\"", "\"name\":\"\""));
    CHECK(f.find("noop") == f.first / "libnoop.so");
  }
}

TEST_CASE("the cache file is rewritten only when something changed", "[loading][catalog]") {
  CatalogFixture f;
  install("noop", f.first, "libnoop.so");
  install("echo_params", f.second, "libecho_params.so");
  CHECK(f.find("noop") == f.first / "libnoop.so");
  const ino_t written = f.cache_inode();
  CHECK(f.find("noop") == f.first / "libnoop.so");
  CHECK(f.find("echo_params") == f.second / "libecho_params.so");
  CHECK(f.cache_inode() == written);

  // A new file before the one looked for is read and remembered; one after
  // it is left for a later scan.
  install("noop", f.second, "libzzz.so");
  CHECK(f.find("echo_params") == f.second / "libecho_params.so");
  CHECK(f.cache_inode() == written);
  install("noop", f.second, "libaaa.so");
  CHECK(f.find("echo_params") == f.second / "libecho_params.so");
  CHECK(f.cache_inode() != written);
  CHECK(f.cache_text().find("libaaa.so") != std::string::npos);
}

TEST_CASE("an unreadable lib<name>.so keeps its own error", "[loading][catalog]") {
  CatalogFixture f;
  install("echo_params", f.first, "libecho_params.so");
  const fs::path broken = f.tmp.write("second/libnoop.so", "not a shared library\n");
  std::string expected;
  try {
    dihya::host::read_plugin_file(broken);
  } catch (const HostError& e) {
    expected = e.what();
  }
  REQUIRE_FALSE(expected.empty());
  CHECK_THROWS_WITH(f.find("noop"), expected);
  CHECK_THROWS_WITH(f.find("noop"), expected);  // from the cache
}

TEST_CASE("an unknown plugin names the search path", "[loading][catalog]") {
  CatalogFixture f;
  install("noop", f.first, "libnoop.so");
  const std::string expected = "unknown plugin 'nosuch' (searched: " + f.first.string() + ":" + f.second.string() +
                               "); see `dihya-host list`";
  CHECK_THROWS_WITH(f.find("nosuch"), expected);
  CHECK_THROWS_WITH(f.find("nosuch"), expected);
}

TEST_CASE("list marks later files of a name shadowed, found or not", "[loading][catalog]") {
  CatalogFixture f;
  install("noop", f.first, "libnoop.so");
  install("noop", f.second, "libnoop.so");
  install("echo_params", f.second, "libecho_params.so");
  CHECK(f.find("noop") == f.first / "libnoop.so");
  PluginCatalog catalog(f.settings());
  const auto entries = catalog.list();
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].path == f.first / "libnoop.so");
  CHECK_FALSE(entries[0].shadowed);
  CHECK(entries[1].path == f.second / "libecho_params.so");
  CHECK(entries[1].name == "echo_params");
  CHECK_FALSE(entries[1].shadowed);
  CHECK(entries[2].path == f.second / "libnoop.so");
  CHECK(entries[2].name == "noop");
  CHECK(entries[2].shadowed);
}

TEST_CASE("a damaged or hostile cache file is rebuilt, a well-formed one kept", "[loading][catalog]") {
  CatalogFixture f;
  install("echo_params", f.first, "libaaa.so");
  install("noop", f.first, "libnoop.so");
  CHECK(f.find("noop") == f.first / "libnoop.so");
  const std::string good = f.cache_text();
  REQUIRE(good.back() == '}');

  // A kept cache is not rewritten; a rejected one is read from the files
  // and rewritten (a new inode: the cache is replaced by a rename).
  const auto rewritten = [&](const std::string& text) {
    f.set_cache_text(text);
    const ino_t before = f.cache_inode();
    CHECK(f.find("noop") == f.first / "libnoop.so");
    return f.cache_inode() != before;
  };
  CHECK_FALSE(rewritten(good));
  CHECK_FALSE(rewritten(replaced(good, "\"name\":\"echo_params\"", "\"name\":\"echo_params\",\"later\":1")));
  CHECK(rewritten(good + std::string(1, '\0') + "x"));
  CHECK(rewritten(good + "}"));
  CHECK(rewritten(good.substr(0, good.size() / 2)));
  CHECK(rewritten(replaced(good, "\"name\":\"echo_params\"", "\"name\":\"\\udc00\"")));
  CHECK(rewritten(replaced(good, "\"name\":\"echo_params\"", "\"name\":\"\\ud800\"")));
  CHECK(rewritten(replaced(good, "\"name\":\"echo_params\"", "\"name\":\"\xff\"")));
  CHECK(rewritten(replaced(good, "\"name\":\"echo_params\"", "\"name\":[\"echo_params\"]")));
  CHECK(rewritten(replaced(good, "\"name\":\"echo_params\"", "\"name\":{\"x\":1}")));
  CHECK(rewritten(replaced(good, "\"name\":\"echo_params\"", "\"name\":7")));
  CHECK(rewritten(replaced(good, "dihya-metadata-cache-3", "dihya-metadata-cache-2")));
  CHECK(rewritten(std::string(100000, '[') + std::string(100000, ']')));
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"files\":";
  CHECK(rewritten(deep));
  CHECK_FALSE(rewritten(good));
}

TEST_CASE("remember_digests hashes every plugin once, in one cache write", "[loading][catalog]") {
  CatalogFixture f;
  install("noop", f.first, "libnoop.so");
  install("echo_params", f.second, "libecho_params.so");
  const Settings settings = f.settings();
  PluginCatalog(settings).remember_digests();
  const std::string text = f.cache_text();
  for (const fs::path& file : {f.first / "libnoop.so", f.second / "libecho_params.so"}) {
    const std::string digest = dihya::host::sha256_file_hex(file);
    INFO(file.string());
    CHECK(text.find("\"sha256\":\"" + digest + "\"") != std::string::npos);
  }
  // A run's digest comes from the cache now: the file is not rewritten.
  const ino_t written = f.cache_inode();
  PluginCatalog catalog(settings);
  const auto noop = catalog.find("noop");
  CHECK(catalog.sha256(noop) == dihya::host::sha256_file_hex(f.first / "libnoop.so"));
  CHECK(f.cache_inode() == written);
  // Nothing new to hash: no write either.
  PluginCatalog(settings).remember_digests();
  CHECK(f.cache_inode() == written);
}

TEST_CASE("a kept parse of the cache serves later catalogs only while the file is unchanged", "[loading][catalog]") {
  CatalogFixture f;
  install("noop", f.first, "libnoop.so");
  const Settings settings = f.settings();
  {
    PluginCatalog zygote(settings);
    zygote.list();
    zygote.keep_cache_for_forks();
  }
  // Unchanged file: the same answer from the kept parse.
  CHECK(f.find("noop") == f.first / "libnoop.so");
  // Another process rewrites the cache (here: marks the plugin unstable):
  // a new catalog reads the file, not the parse kept earlier.
  f.set_cache_text(replaced(f.cache_text(), "\"reversible\":", "\"unstable\":\"crashed while loading\",\"reversible\":"));
  const auto entries = PluginCatalog(settings).list();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].unstable == "crashed while loading");
}
