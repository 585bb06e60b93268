// SPDX-License-Identifier: AGPL-3.0-or-later
// Run ids, run records and their store, interrupted-run detection, and the
// per-plugin lock that dies with its process.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "temp_dir.hpp"
#include "errors.hpp"
#include "runs/process_identity.hpp"
#include "runs/run_id.hpp"
#include "runs/run_lock.hpp"
#include "runs/run_log.hpp"
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
using dihya::host::PrunePlan;
using dihya::host::PrunePolicy;
using dihya::host::parse_iso_ms;
using dihya::host::run_log_line;
using dihya::host::since_threshold_ms;

using dihya::testing::TempDir;

using dihya::testing::read_text;

std::chrono::system_clock::time_point time_at(const std::string& iso_date_time_seconds) {
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
  auto id = new_run_id(time_at("2026-11-25T21:50:53") + 123ms);
  CHECK(id.rfind("20261125T215053.123Z-", 0) == 0);
  CHECK(id.size() == std::string("20261125T215053.123Z-3f9a1c").size());
  CHECK(is_valid_run_id(id));
}

TEST_CASE("run ids sort in time order", "[runs][run_id]") {
  auto start = time_at("2026-11-25T21:50:53");
  CHECK(new_run_id(start) < new_run_id(start + 1ms));
  CHECK(new_run_id(start + 999ms) < new_run_id(start + 1s));
  CHECK(new_run_id(time_at("2026-09-30T23:59:59") + 999ms) < new_run_id(time_at("2026-10-01T00:00:00")));
  CHECK(new_run_id(time_at("2026-12-31T23:59:59")) < new_run_id(time_at("2027-01-01T00:00:00")));
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
  REQUIRE(::stat((state.path() / "runs" / "state.log").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // A new store (another process) reads it back from the log.
  RunStore again(state.path() / "runs");
  REQUIRE(again.load(record.id));
  CHECK(again.load(record.id)->result == record.result);
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
  // A run that wrote nothing keeps no directory: its record is in the log.
  CHECK_FALSE(fs::exists(store.dir(record.id)));
}

TEST_CASE("an ended run keeps its directory only for what matters", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  auto record = running_record("20261125T215053.123Z-000001", "backup_db", "2026-11-25");
  store.create(record);
  const auto dir = store.dir(record.id);
  std::ofstream(dir / "log.txt") << "a short log\n";
  std::ofstream(dir / "report.txt") << std::string(RunStore::kInlineBytes + 1, 'r');
  fs::create_directory(dir / "output");
  record.outcome = "succeeded";
  store.update(record);

  // The short log went inline; the long report stays a file, with a record copy.
  CHECK_FALSE(fs::exists(dir / "log.txt"));
  CHECK_FALSE(fs::exists(dir / "output"));
  CHECK(fs::exists(dir / "report.txt"));
  CHECK_THAT(read_text(dir / "record.json"), Catch::Contains(R"("outcome": "succeeded")"));
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    CHECK((name == "record.json" || name == "report.txt"));  // no temporary file left behind
  }
  auto stored = store.load_stored(record.id);
  REQUIRE(stored);
  CHECK(stored->log == std::optional<std::string>("a short log\n"));
  CHECK_FALSE(stored->report);
}

TEST_CASE("a record appended for a later sync tidies its run directory only in sync()", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  auto record = running_record("20261125T215053.123Z-000002", "noop", "2026-11-25");
  store.create(record, RunStore::Flush::kLater);
  store.sync();
  const auto dir = store.dir(record.id);
  std::ofstream(dir / "log.txt") << "a short log\n";
  record.outcome = "succeeded";
  store.update(record, RunStore::Flush::kLater);
  // Readable at once (the same file), but the log it inlined stays until the
  // record is on disk.
  CHECK(store.load(record.id)->outcome == "succeeded");
  CHECK(fs::exists(dir / "log.txt"));
  store.sync();
  CHECK_FALSE(fs::exists(dir));  // nothing else in it: no directory kept
  auto stored = store.load_stored(record.id);
  REQUIRE(stored);
  CHECK(stored->log == std::optional<std::string>("a short log\n"));
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

TEST_CASE("damaged or torn log entries are skipped, and the index rebuilt", "[runs][store]") {
  TempDir state;
  const auto runs = state.path() / "runs";
  {
    RunStore store(runs);
    store.create(running_record("20261120T100000.000Z-000001", "backup_db", "2026-11-20"));
    store.create(running_record("20261121T100000.000Z-000002", "backup_db", "2026-11-21"));
    REQUIRE(store.list().size() == 2);  // builds the index
  }
  std::string log = read_text(runs / "state.log");
  // Flip one byte of the second run's entry: its checksum fails.
  const auto at = log.find("20261121T100000.000Z-000002");
  REQUIRE(at != std::string::npos);
  log[at + 30] = log[at + 30] == 'x' ? 'y' : 'x';
  // And a torn entry at the end, as a crash mid-append leaves it.
  log += run_log_line({{"op", "put"}, {"run", {{"id", "20261122T100000.000Z-000003"}}}}).substr(0, 40);
  std::ofstream(runs / "state.log", std::ios::trunc | std::ios::binary) << log;
  fs::remove(runs / "state.idx");

  RunStore store(runs);
  std::vector<SkippedRun> skipped;
  auto records = store.list(std::nullopt, std::nullopt, &skipped);
  REQUIRE(records.size() == 1);
  CHECK(records[0].id == "20261120T100000.000Z-000001");
  REQUIRE(skipped.size() == 1);
  CHECK_THAT(skipped[0].reason, Catch::Contains("damaged") && Catch::Contains("state.log"));
  CHECK_FALSE(store.load("20261121T100000.000Z-000002"));

  // The next append cuts the torn tail first: the log ends with whole lines.
  store.create(running_record("20261123T100000.000Z-000004", "cleanup", "2026-11-23"));
  log = read_text(runs / "state.log");
  CHECK(log.back() == '\n');
  CHECK(log.find("20261122T100000.000Z-000003") == std::string::npos);
  CHECK(store.list().size() == 2);
}

TEST_CASE("log lines of the right checksum but the wrong shape or depth are passed by", "[runs][store]") {
  TempDir state;
  const auto runs = state.path() / "runs";
  {
    RunStore store(runs);
    store.create(running_record("20261120T100000.000Z-000001", "backup_db", "2026-11-20"));
  }
  // Lines a writer of the log never makes, each with a valid checksum: fields
  // of the wrong type (once a JSON type error, "internal error") and a
  // record nested 100,000 levels deep (once a stack overflow copying it).
  const std::string deep_line = dihya::host::run_log_line_of_text(
      R"({"op":"put","run":{"id":"20261121T100000.000Z-000002","result":)" + std::string(100000, '[') +
      std::string(100000, ']') + "}}");
  std::ofstream(runs / "state.log", std::ios::app | std::ios::binary)
      << run_log_line({{"op", 5}}) << run_log_line({{"op", "put"}, {"run", {{"id", 7}, {"outcome", 1}}}})
      << run_log_line({{"op", "put"}, {"run", {{"id", "20261122T100000.000Z-000003"}, {"started_at", 3}}}})
      << run_log_line({{"op", "drop"}, {"id", {1, 2}}}) << deep_line;
  fs::remove(runs / "state.idx");
  RunStore store(runs);
  std::vector<SkippedRun> skipped;
  const auto records = store.list(std::nullopt, std::nullopt, &skipped);
  REQUIRE(records.size() == 1);
  CHECK(records[0].id == "20261120T100000.000Z-000001");
  // Reported: the run whose record does not read back, and the deep line
  // (its JSON refused) as the one damaged entry.
  REQUIRE(skipped.size() == 2);
  CHECK(skipped[0].id == "20261122T100000.000Z-000003");
  CHECK_THAT(skipped[1].reason, Catch::Contains("1 damaged entry"));
  CHECK_FALSE(store.load("20261121T100000.000Z-000002"));
}

TEST_CASE("an index whose entry count would wrap around is rebuilt, not read past its end", "[runs][store]") {
  TempDir state;
  const auto runs = state.path() / "runs";
  {
    RunStore store(runs);
    store.create(running_record("20261120T100000.000Z-000001", "backup_db", "2026-11-20"));
    REQUIRE(store.list().size() == 1);  // writes the index
  }
  // The header's count (at byte 32): ceil(2^64 / 56), whose product with the
  // entry size wraps to 8 and so once passed the size check.
  std::uint64_t count = 0x0492492492492493ULL;
  {
    std::fstream idx(runs / "state.idx", std::ios::in | std::ios::out | std::ios::binary);
    idx.seekp(32);
    idx.write(reinterpret_cast<const char*>(&count), sizeof count);
  }
  RunStore store(runs);
  const auto records = store.list();
  REQUIRE(records.size() == 1);
  CHECK(records[0].id == "20261120T100000.000Z-000001");
}

TEST_CASE("the index catches up with runs that start out of id order", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  auto r3 = running_record("20261123T100000.000Z-000003", "cleanup", "2026-11-23T10:00:00.000Z");
  store.create(r3);
  REQUIRE(store.list().size() == 1);  // the index now holds run 3
  // Run 1 took its id earlier but waited (a lock) before its first record.
  auto r1 = running_record("20261121T100000.000Z-000001", "backup_db", "2026-11-21T10:00:00.000Z");
  store.create(r1);
  r3.outcome = "succeeded";
  store.update(r3);
  auto ids = store.list();
  REQUIRE(ids.size() == 2);
  CHECK(ids[0].id == r1.id);
  CHECK(ids[1].id == r3.id);
  CHECK(ids[1].outcome == "succeeded");
  REQUIRE(store.load(r1.id));
  CHECK(store.load(r1.id)->plugin == "backup_db");
  // Another process sees the same.
  RunStore other(state.path() / "runs");
  CHECK(other.list("backup_db").size() == 1);
}

TEST_CASE("a store that read the index never holds up another one", "[runs][store]") {
  // The scheduler's host reads the index once and lives on while its jobs
  // (other hosts) append and catch the index up.
  TempDir state;
  RunStore scheduler(state.path() / "runs");
  auto r1 = running_record("20261121T100000.000Z-000001", "run_scheduler", "2026-11-21T10:00:00.000Z");
  scheduler.create(r1);
  REQUIRE(scheduler.load(r1.id));
  RunStore job(state.path() / "runs");
  auto r2 = running_record("20261122T100000.000Z-000002", "noop", "2026-11-22T10:00:00.000Z");
  job.create(r2);
  CHECK(job.list().size() == 2);  // blocked forever while the index lock outlived load()
  // An index rebuilt under a live mapping (another log id) leaves it readable.
  fs::remove(state.path() / "runs" / "state.idx");
  CHECK(job.list().size() == 2);
  CHECK(scheduler.list().size() == 2);
}

TEST_CASE("a missing log is rebuilt from the run directories' records", "[runs][store]") {
  TempDir state;
  const auto runs = state.path() / "runs";
  fs::create_directories(runs / "20261120T100000.000Z-000001");
  nlohmann::json legacy = running_record("20261120T100000.000Z-000001", "backup_db", "2026-11-20T10:00:00.000Z");
  legacy["outcome"] = "succeeded";
  std::ofstream(runs / "20261120T100000.000Z-000001" / "record.json") << legacy.dump(2);
  fs::create_directories(runs / "20261121T100000.000Z-000002");  // no record: not a run
  std::ofstream(runs / "20261121T100000.000Z-000002" / "record.json") << "{\"id\":";

  RunStore store(runs);
  auto records = store.list();
  REQUIRE(records.size() == 1);
  CHECK(records[0].outcome == "succeeded");
  CHECK(fs::exists(runs / "state.log"));
}

TEST_CASE("history --since compares as text, as it always did", "[runs][store]") {
  CHECK(since_threshold_ms("2026-11") == since_threshold_ms("2026-11-01T00:00:00.000Z"));
  // "...:00Z" sorts after "...:00.000Z": a whole second later.
  CHECK(since_threshold_ms("2026-11-25T10:00:00Z") == since_threshold_ms("2026-11-25T10:00:01.000Z"));
  std::int64_t ms = 0;
  REQUIRE(parse_iso_ms("2026-11-25T10:00:00.000Z", &ms));
  CHECK(since_threshold_ms("2026-11-25T10:00:00.000Z") == ms);
}

TEST_CASE("prune removes the runs' directories and records", "[runs][store]") {
  TempDir state;
  RunStore store(state.path() / "runs");
  for (int i = 1; i <= 5; ++i) {
    auto r = running_record(fmt::format("2026112{}T100000.000Z-00000{}", i, i), "backup_db",
                            fmt::format("2026-11-2{}T10:00:00.000Z", i));
    store.create(r);
    if (i != 4) {
      r.outcome = "succeeded";
      store.update(r);
    }
  }
  PrunePolicy policy;
  policy.keep = 1;
  const PrunePlan plan = store.plan_prune(policy);
  // Run 4 is still running: never pruned.
  CHECK(plan.ids == std::vector<std::string>{"20261121T100000.000Z-000001", "20261122T100000.000Z-000002",
                                             "20261123T100000.000Z-000003"});
  CHECK(plan.kept_running == 1);
  CHECK(store.prune(plan.ids) == 3);
  auto left = store.list();
  REQUIRE(left.size() == 2);
  CHECK(left[0].id == "20261124T100000.000Z-000004");
  CHECK(fs::exists(store.dir(left[0].id)));
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
  const auto log = state.path() / "runs" / "state.log";
  CHECK_THAT(read_text(log), !Catch::Contains(R"("outcome":"interrupted")"));

  const std::vector<RunRecord> written = store.mark_interrupted_runs();
  REQUIRE(written.size() == 1);
  CHECK(written[0].id == dead.id);
  CHECK(written[0].outcome == "interrupted");
  CHECK_THAT(read_text(log), Catch::Contains(R"("outcome":"interrupted")"));
  auto marked = store.load(dead.id);
  REQUIRE(marked);
  CHECK(marked->ended_at.empty());
  CHECK_FALSE(marked->summary.empty());
  CHECK(store.mark_interrupted_runs().empty());
  CHECK_FALSE(store.mark_interrupted(dead.id));
  CHECK_FALSE(store.mark_interrupted(alive.id));
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

TEST_CASE("a process's start time is read past a command name holding ') ' and spaces", "[runs]") {
  const auto mine = dihya::host::process_start_ticks(::getpid());
  REQUIRE(mine);
  CHECK(*mine > 0);
  int named[2];
  int go[2];
  REQUIRE(::pipe(named) == 0);
  REQUIRE(::pipe(go) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::prctl(PR_SET_NAME, "a) 1 2 ) b\n");
    char byte = 'y';
    if (::write(named[1], &byte, 1) != 1 || ::read(go[0], &byte, 1) < 0) ::_exit(2);
    ::_exit(0);
  }
  char byte = 0;
  REQUIRE(::read(named[0], &byte, 1) == 1);
  const auto theirs = dihya::host::process_start_ticks(child);
  REQUIRE(::write(go[1], "x", 1) == 1);
  int status = 0;
  ::waitpid(child, &status, 0);
  for (int fd : {named[0], named[1], go[0], go[1]}) ::close(fd);
  REQUIRE(theirs);
  CHECK(*theirs >= *mine);  // started after its parent
  CHECK(dihya::host::current_boot_id().size() == 36);  // a UUID, without its '\n'
}

TEST_CASE("the effective user's name is the passwd entry's, the same on every call", "[runs]") {
  const passwd* pw = ::getpwuid(::geteuid());
  const std::string expected = pw != nullptr ? pw->pw_name : std::to_string(::geteuid());
  const std::string& first = dihya::host::effective_user_name();
  CHECK(first == expected);
  CHECK(&dihya::host::effective_user_name() == &first);  // looked up once, then kept
  CHECK(dihya::host::effective_user_name() == expected);
}
