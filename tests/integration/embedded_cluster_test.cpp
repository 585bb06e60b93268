// SPDX-License-Identifier: AGPL-3.0-or-later
// The embedded default database against the real PostgreSQL binaries: it
// starts, accepts connections, stops, keeps its data, and start/stop can be
// repeated. Each case uses its own state directory under /tmp (short enough
// for a Unix socket path, and reachable by `postgres` when run as root).
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <cstdio>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <pqxx/pqxx>

#include "db/embedded_cluster.hpp"
#include "errors.hpp"

namespace fs = std::filesystem;
using dihya::host::EmbeddedCluster;

namespace {

// A state directory that stops its cluster and disappears with the test.
class TempStateDir {
 public:
  TempStateDir() {
    std::string pattern = "/tmp/dihya-embedded-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  }
  ~TempStateDir() {
    try {
      EmbeddedCluster(path_).stop();
    } catch (const std::exception&) {
      // Best effort: the directory goes anyway.
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempStateDir(const TempStateDir&) = delete;
  TempStateDir& operator=(const TempStateDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::size_t open_fd_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

std::string query_one(const std::string& url, const std::string& sql) {
  pqxx::connection c{url};
  pqxx::work w{c};
  return w.exec1(sql)[0].as<std::string>();
}

}  // namespace

// Each case that starts a cluster pays for an initdb (seconds): few cases, several checks.
TEST_CASE("a started cluster accepts connections to the database dihya", "[db]") {
  TempStateDir state;
  EmbeddedCluster cluster(state.path());
  const fs::path root = state.path() / "postgres";
  REQUIRE_FALSE(cluster.initialized());
  REQUIRE_FALSE(cluster.running());
  CHECK(cluster.status()["pid"].is_null());

  cluster.start();

  CHECK(cluster.initialized());
  CHECK(cluster.running());
  CHECK(query_one(cluster.url(), "select 1") == "1");
  CHECK(query_one(cluster.url(), "select current_database()") == "dihya");
  CHECK(query_one(cluster.url(), "select current_setting('listen_addresses')").empty());

  const auto status = cluster.status();
  CHECK(status["initialized"] == true);
  CHECK(status["running"] == true);
  CHECK(status["pid"].is_number_integer());
  CHECK(status["data_dir"] == (root / "data").string());
  CHECK(status["socket_dir"] == (root / "run").string());
  CHECK(status["url"] == cluster.url());
  CHECK_THAT(cluster.url(), Catch::StartsWith("postgresql:///dihya?host=" + (root / "run").string() + "&port=5432&user="));

  struct stat st {};
  REQUIRE(::stat((root / "run").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
}

TEST_CASE("start and stop are idempotent and the data survives a restart", "[db]") {
  TempStateDir state;
  EmbeddedCluster cluster(state.path());
  const std::size_t fds_before = open_fd_count();
  cluster.start();
  CHECK(open_fd_count() == fds_before);
  const auto pid = cluster.status()["pid"];
  {
    pqxx::connection c{cluster.url()};
    pqxx::work w{c};
    w.exec0("create table kept (v int); insert into kept values (42)");
    w.commit();
  }

  cluster.start();
  CHECK(cluster.status()["pid"] == pid);

  cluster.stop();
  CHECK_FALSE(cluster.running());
  CHECK(cluster.initialized());
  CHECK_THROWS_AS(pqxx::connection{cluster.url()}, pqxx::broken_connection);
  CHECK_NOTHROW(cluster.stop());

  cluster.start();
  CHECK(cluster.running());
  CHECK(query_one(cluster.url(), "select v from kept") == "42");
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("stop before the cluster exists does nothing", "[db]") {
  TempStateDir state;
  EmbeddedCluster cluster(state.path());
  CHECK_NOTHROW(cluster.stop());
  CHECK_FALSE(cluster.initialized());
  CHECK_FALSE(fs::exists(state.path() / "postgres"));
}

TEST_CASE("as root, a state dir the postgres user cannot reach is refused by name", "[db]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: not root: the cluster runs as the current user, nothing to check");
    return;
  }
  TempStateDir state;
  const fs::path closed = state.path() / "closed";
  fs::create_directory(closed);
  fs::permissions(closed, fs::perms::owner_all);  // 0700, owned by root
  EmbeddedCluster cluster(closed / "state");

  try {
    cluster.start();
    FAIL("start() should have refused " << closed);
  } catch (const dihya::host::HostError& e) {
    CHECK(e.exit_code() == 1);
    CHECK_THAT(e.what(), Catch::Contains(closed.string()) && Catch::Contains("--state-dir"));
  }
}

TEST_CASE("resolve_database_url prefers the configured URL", "[db]") {
  TempStateDir state;
  dihya::host::Settings settings;
  settings.state_dir = state.path();

  SECTION("a configured URL is returned as is and nothing starts") {
    settings.database_url = "postgresql://app@db.example/dihya";
    CHECK(dihya::host::resolve_database_url(settings, true) == "postgresql://app@db.example/dihya");
    CHECK_FALSE(EmbeddedCluster(state.path()).initialized());
  }
  SECTION("without one, the embedded cluster's URL, started on request") {
    const std::string url = dihya::host::resolve_database_url(settings, true);
    CHECK(url == EmbeddedCluster(state.path()).url());
    CHECK(query_one(url, "select 1") == "1");
  }
}

TEST_CASE("as root, what the postgres user plants in its directory never reaches root's messages or files", "[db]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: not root: the cluster runs as the current user, nothing to check");
    return;
  }
  TempStateDir state;
  EmbeddedCluster cluster(state.path());
  cluster.start();
  cluster.stop();
  const fs::path root = state.path() / "postgres";
  // A file only root may read, put in place of the server log (by the owner
  // of the directory, which may rename and link there): the failed start
  // (the server cannot open it as its log) must not quote it.
  const fs::path secret = state.path() / "secret";
  {
    std::FILE* f = std::fopen(secret.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("TOPSECRET-line\n", f);
    std::fclose(f);
  }
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  fs::rename(root / "postgres.log", root / "postgres.log.old");
  fs::create_symlink(secret, root / "postgres.log");
  try {
    cluster.start();
    FAIL("start() should have failed: the server cannot open its log");
  } catch (const dihya::host::HostError& e) {
    CHECK_THAT(e.what(), !Catch::Contains("TOPSECRET"));
  }
  fs::remove(root / "postgres.log");
  fs::rename(root / "postgres.log.old", root / "postgres.log");
  // A symlink in place of the socket dir: refused, its target left alone.
  const fs::path victim = state.path() / "victim";
  fs::create_directory(victim);
  fs::remove(root / "run");
  fs::create_symlink(victim, root / "run");
  CHECK_THROWS_WITH(cluster.start(), Catch::Contains("is a symbolic link or not a directory"));
  struct stat st {};
  REQUIRE(::stat(victim.c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
  CHECK((st.st_mode & 07777) == 0755);
}
