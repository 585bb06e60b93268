// SPDX-License-Identifier: AGPL-3.0-or-later
// Run ids, run records and their store, interrupted-run detection, and the
// per-plugin lock that dies with its process.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "temp_dir.hpp"
#include "errors.hpp"
#include "runs/process_identity.hpp"
#include "runs/run_id.hpp"
#include "runs/run_lock.hpp"
#include "runs/run_store.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dihya::host::current_process_identity;
using dihya::host::HostError;
using dihya::host::is_valid_run_id;
using dihya::host::new_run_id;
using dihya::host::PluginLock;
using dihya::host::RunRecord;
using dihya::host::RunStore;
using dihya::host::SkippedRun;

using dihya::testing::TempDir;

using dihya::testing::read_text;

std::chrono::system_clock::time_point at(const std::string& iso_date_time_seconds) {
  std::tm tm{};
  ::strptime(iso_date_time_seconds.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

// A record of a run this very process is hosting.
RunRecord running_record(const std::string& id, const std::string& plugin,
                         const std::string& started_at) {
  RunRecord record;
  record.id = id;
  record.plugin = plugin;
  record.plugin_version = "1.2.0";
  record.plugin_sha256 = std::string(64, 'a');
  record.user = "operator";
  record.host = "db1";
  record.params = {{"keep", 7}, {"password", "[redacted]"}};
  record.started_at = started_at;
  record.destructive = true;
  set_host_process(record, current_process_identity());
  return record;
}

// The pid of a process that has exited and been reaped.
pid_t dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

TEST_CASE("run ids have the documented shape", "[runs][run_id]") {
  auto id = new_run_id(at("2026-11-25T21:50:53") + 123ms);
  CHECK(id.rfind("20261125T215053.123Z-", 0) == 0);
  CHECK(id.size() == std::string("20261125T215053.123Z-3f9a1c").size());
  CHECK(is_valid_run_id(id));
}

TEST_CASE("run ids sort in time order", "[runs][run_id]") {
  auto start = at("2026-11-25T21:50:53");
  CHECK(new_run_id(start) < new_run_id(start + 1ms));
  CHECK(new_run_id(start + 999ms) < new_run_id(start + 1s));
  CHECK(new_run_id(at("2026-09-30T23:59:59") + 999ms) < new_run_id(at("2026-10-01T00:00:00")));
  CHECK(new_run_id(at("2026-12-31T23:59:59")) < new_run_id(at("2027-01-01T00:00:00")));
}

TEST_CASE("run ids from users are validated strictly", "[runs][run_id]") {
  CHECK(is_valid_run_id("20261125T215053.123Z-3f9a1c"));
  CHECK_FALSE(is_valid_run_id("../x"));
  CHECK_FALSE(is_valid_run_id(""));
  CHECK_FALSE(is_valid_run_id(".."));
  CHECK_FALSE(is_valid_run_id("20261125T215053.123Z-3f9a1"));
  CHECK_FALSE(is_valid_run_id("20261125T215053.123Z-3F9A1C"));
  CHECK_FALSE(is_valid_run_id("20261125T215053.123Z/3f9a1c"));
  CHECK_FALSE(is_valid_run_id("20261125T215053.123Z-3f9a1c/"));
  CHECK_FALSE(is_valid_run_id("../../25T215053.123Z-3f9a1c"));
}

TEST_CASE("a created run record loads back unchanged", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  auto record = running_record("20261125T215053.123Z-000001", "backup_db",
                               "2026-11-25T21:50:53.123Z");
  record.exit_code = 0;
  record.result = {{"files", 3}};
  store.create(record);

  auto loaded = store.load(record.id);
  REQUIRE(loaded);
  CHECK(loaded->plugin == "backup_db");
  CHECK(loaded->plugin_version == "1.2.0");
  CHECK(loaded->plugin_sha256 == record.plugin_sha256);
  CHECK(loaded->user == "operator");
  CHECK(loaded->host == "db1");
  CHECK(loaded->params == record.params);
  CHECK(loaded->started_at == record.started_at);
  CHECK(loaded->outcome == "running");
  CHECK(loaded->exit_code == 0);
  CHECK(loaded->result == record.result);
  CHECK(loaded->pid_of_host == ::getpid());
  CHECK(loaded->host_boot_id == record.host_boot_id);
  CHECK(loaded->host_start_ticks == record.host_start_ticks);
  CHECK(loaded->destructive);
  CHECK_FALSE(loaded->dry_run);

  struct stat st{};
  REQUIRE(::stat(store.dir(record.id).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat(store.record_file(record.id).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("creating a run twice is refused", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  auto record = running_record("20261125T215053.123Z-000001", "backup_db", "2026-11-25");
  store.create(record);
  CHECK_THROWS_WITH(store.create(record), Catch::Contains("already exists"));
}

TEST_CASE("an updated run record replaces the old one", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  auto record = running_record("20261125T215053.123Z-000001", "backup_db", "2026-11-25");
  store.create(record);

  record.outcome = "succeeded";
  record.ended_at = "2026-11-25T21:51:00.000Z";
  record.summary = "3 files";
  store.update(record);

  auto loaded = store.load(record.id);
  REQUIRE(loaded);
  CHECK(loaded->outcome == "succeeded");
  CHECK(loaded->ended_at == "2026-11-25T21:51:00.000Z");
  CHECK(loaded->summary == "3 files");
  CHECK(fs::directory_iterator(store.dir(record.id)) != fs::directory_iterator());
  for (const auto& entry : fs::directory_iterator(store.dir(record.id))) {
    CHECK(entry.path().filename() == "record.json");  // no temporary file left behind
  }
}

TEST_CASE("updating a run that does not exist is refused", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  auto record = running_record("20261125T215053.123Z-000001", "backup_db", "2026-11-25");
  CHECK_THROWS_WITH(store.update(record), Catch::Contains(record.id));
}

TEST_CASE("loading an unknown or invalid run id", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  CHECK_FALSE(store.load("20261125T215053.123Z-000001"));
  try {
    store.load("../x");
    FAIL("an invalid run id was accepted");
  } catch (const HostError& e) {
    CHECK(e.exit_code() == dihya::host::kExitUsage);
    CHECK_THAT(e.what(), Catch::Contains("../x"));
  }
}

TEST_CASE("listing runs filters by plugin and start time, sorted by id", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  store.create(running_record("20261125T100000.000Z-000003", "cleanup", "2026-11-25T10:00:00.000Z"));
  store.create(running_record("20261120T100000.000Z-000001", "backup_db", "2026-11-20T10:00:00.000Z"));
  store.create(running_record("20261124T100000.000Z-000002", "backup_db", "2026-11-24T10:00:00.000Z"));

  auto ids = [](const std::vector<RunRecord>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r.id);
    return out;
  };
  CHECK(ids(store.list()) == std::vector<std::string>{"20261120T100000.000Z-000001",
                                                      "20261124T100000.000Z-000002",
                                                      "20261125T100000.000Z-000003"});
  CHECK(ids(store.list("backup_db")) == std::vector<std::string>{"20261120T100000.000Z-000001",
                                                                 "20261124T100000.000Z-000002"});
  CHECK(ids(store.list(std::nullopt, "2026-11-24")) ==
        std::vector<std::string>{"20261124T100000.000Z-000002", "20261125T100000.000Z-000003"});
  CHECK(ids(store.list("backup_db", "2026-11-24")) ==
        std::vector<std::string>{"20261124T100000.000Z-000002"});
  CHECK(store.list("send_test_mail").empty());
}

TEST_CASE("a missing runs directory is an empty history", "[runs][store]") {
  TempDir state;
  CHECK(RunStore(state.path() / "runs").list().empty());
}

TEST_CASE("damaged run directories are skipped with a reason", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  store.create(running_record("20261120T100000.000Z-000001", "backup_db", "2026-11-20"));
  store.create(running_record("20261121T100000.000Z-000002", "backup_db", "2026-11-21"));
  std::ofstream(store.record_file("20261121T100000.000Z-000002"), std::ios::trunc) << "{\"id\":";
  fs::create_directory(store.dir("20261122T100000.000Z-000003"));
  fs::create_directory(state.path() / "runs" / "not-a-run");

  std::vector<SkippedRun> skipped;
  auto records = store.list(std::nullopt, std::nullopt, &skipped);
  REQUIRE(records.size() == 1);
  CHECK(records[0].id == "20261120T100000.000Z-000001");
  REQUIRE(skipped.size() == 2);
  CHECK(skipped[0].id == "20261121T100000.000Z-000002");
  CHECK_THAT(skipped[0].reason, Catch::Contains("damaged") && Catch::Contains("record.json"));
  CHECK(skipped[1].id == "20261122T100000.000Z-000003");
  CHECK_THAT(skipped[1].reason, Catch::Contains("no record.json"));
  CHECK_THROWS_WITH(store.load("20261121T100000.000Z-000002"), Catch::Contains("damaged"));
}

TEST_CASE("a running record whose host is gone is reported as interrupted", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  auto alive = running_record("20261125T100000.000Z-000001", "backup_db", "2026-11-25");
  auto dead = running_record("20261125T100000.000Z-000002", "backup_db", "2026-11-25");

  SECTION("its pid has exited") { dead.pid_of_host = dead_pid(); }
  SECTION("its pid now belongs to another process") { dead.host_start_ticks += 1; }
  SECTION("it ran before the last boot") { dead.host_boot_id = "00000000-0000-0000-0000-000000000000"; }

  store.create(alive);
  store.create(dead);

  CHECK(store.load(alive.id)->outcome == "running");
  CHECK(store.load(dead.id)->outcome == "interrupted");
  auto listed = store.list();
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].outcome == "running");
  CHECK(listed[1].outcome == "interrupted");
  CHECK_THAT(read_text(store.record_file(dead.id)), Catch::Contains(R"("outcome": "running")"));

  CHECK(store.mark_interrupted_runs() == std::vector<std::string>{dead.id});
  CHECK_THAT(read_text(store.record_file(dead.id)), Catch::Contains(R"("outcome": "interrupted")"));
  auto marked = store.load(dead.id);
  REQUIRE(marked);
  CHECK(marked->ended_at.empty());
  CHECK_FALSE(marked->summary.empty());
  CHECK(store.mark_interrupted_runs().empty());
}

TEST_CASE("a second runner cannot take a held plugin lock and learns who holds it",
          "[runs][lock]") {
  TempDir state;
  auto locks = state.path() / "locks";

  auto first = PluginLock::try_acquire(locks, "backup_db", "20261125T100000.000Z-000001");
  REQUIRE(first);
  CHECK_FALSE(PluginLock::try_acquire(locks, "backup_db", "20261125T100000.000Z-000002"));
  CHECK(PluginLock::holder(locks, "backup_db") == "20261125T100000.000Z-000001");
  CHECK(PluginLock::try_acquire(locks, "cleanup", "20261125T100000.000Z-000003"));

  first.reset();
  CHECK(PluginLock::holder(locks, "backup_db").empty());
  CHECK(PluginLock::try_acquire(locks, "backup_db", "20261125T100000.000Z-000002"));
}

TEST_CASE("a plugin lock is released when its process dies", "[runs][lock]") {
  TempDir state;
  auto locks = state.path() / "locks";
  int locked[2];
  int go[2];
  REQUIRE(::pipe(locked) == 0);
  REQUIRE(::pipe(go) == 0);

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto lock = PluginLock::try_acquire(locks, "backup_db", "20261125T100000.000Z-00000c");
    char byte = lock ? 'y' : 'n';
    if (::write(locked[1], &byte, 1) != 1) ::_exit(2);
    if (::read(go[0], &byte, 1) < 0) ::_exit(2);
    ::_exit(0);  // dies holding the lock: no destructor runs
  }
  char byte = 0;
  REQUIRE(::read(locked[0], &byte, 1) == 1);
  REQUIRE(byte == 'y');
  CHECK_FALSE(PluginLock::try_acquire(locks, "backup_db", "20261125T100000.000Z-00000d"));
  CHECK(PluginLock::holder(locks, "backup_db") == "20261125T100000.000Z-00000c");

  REQUIRE(::write(go[1], "x", 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  for (int fd : {locked[0], locked[1], go[0], go[1]}) ::close(fd);

  CHECK(PluginLock::try_acquire(locks, "backup_db", "20261125T100000.000Z-00000d"));
}

TEST_CASE("a blocking lock waits for the holder to die", "[runs][lock]") {
  TempDir state;
  auto locks = state.path() / "locks";
  int locked[2];
  REQUIRE(::pipe(locked) == 0);

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto lock = PluginLock::try_acquire(locks, "cleanup", "20261125T100000.000Z-00000c");
    if (!lock || ::write(locked[1], "y", 1) != 1) ::_exit(2);
    ::usleep(200 * 1000);
    ::_exit(0);
  }
  char byte = 0;
  REQUIRE(::read(locked[0], &byte, 1) == 1);
  auto waiting_since = std::chrono::steady_clock::now();
  auto lock = PluginLock::acquire_wait(locks, "cleanup", "20261125T100000.000Z-00000d");
  // The child held the lock for 200 ms after telling us: we must have waited.
  CHECK(std::chrono::steady_clock::now() - waiting_since >= 100ms);
  CHECK(PluginLock::holder(locks, "cleanup") == "20261125T100000.000Z-00000d");
  int status = 0;
  CHECK(::waitpid(child, &status, 0) == child);
  ::close(locked[0]);
  ::close(locked[1]);
}

TEST_CASE("a plugin name that is not a file name is refused for a lock", "[runs][lock]") {
  TempDir state;
  CHECK_THROWS_AS(PluginLock::try_acquire(state.path(), "../evil", "x"), HostError);
  CHECK_THROWS_AS(PluginLock::holder(state.path(), "a/b"), HostError);
}
