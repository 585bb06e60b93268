// SPDX-License-Identifier: AGPL-3.0-or-later
// Audit lines carried by the state log (AuditLog::Carrier, AuditPut): one
// fdatasync of the state log makes a run's record and its audit line durable;
// after a power loss (a head record of another boot) the audit file is
// completed from the state log's copies, in place of a torn tail; in the same
// boot nothing is copied (a cut stays a cut); a line carried by a host killed
// before writing it loses to the line that took its seq; the lines of a log
// moved away are never copied into a new one. And `audit verify`'s
// cross-check (AuditLog::verify): every audit line the state log carries is
// compared with the line of its seq in the audit file, so an edit whose chain
// was recomputed shows; what the host itself leaves (a line carried by a host
// killed before writing it, a prune) does not.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "errors.hpp"
#include "runs/run_id.hpp"
#include "runs/run_log.hpp"
#include "runs/run_store.hpp"
#include "temp_dir.hpp"
#include "util/sha256.hpp"

namespace {

namespace fs = std::filesystem;
using dihya::host::audit_head_file;
using dihya::host::AuditLog;
using dihya::host::AuditPut;
using dihya::host::RunLog;
using dihya::host::RunRecord;
using dihya::host::RunStore;
using dihya::host::state_audit_log;
using dihya::host::verify_audit_log;
using dihya::testing::read_lines;
using dihya::testing::read_text;
using dihya::testing::TempDir;

// A run's start and end, each with its audit line carried by its record, as
// `run` records them.
void recorded_run(const fs::path& state_dir, const std::string& id) {
  RunStore store(state_dir / "runs");
  AuditLog audit = state_audit_log(state_dir, false);
  RunRecord record;
  record.id = id;
  record.plugin = "noop";
  record.started_at = "2026-12-06T10:00:00.000Z";
  store.create_dir(id);
  AuditPut start(store, record, AuditPut::Kind::kStart);
  const std::uint64_t seq = audit.append("run.start", {{"run_id", id}}, &start);
  CHECK(start.carried());
  CHECK(record.audit_seq == seq);
  record.outcome = "succeeded";
  record.ended_at = "2026-12-06T10:00:01.000Z";
  AuditPut end(store, record, AuditPut::Kind::kEnd);
  audit.append("run.end", {{"run_id", id}}, &end);
  CHECK(end.carried());
}

std::vector<std::string> run_ids(int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back(dihya::host::new_run_id(std::chrono::system_clock::now()));
  return ids;
}

// What a power loss can leave: the audit file's last lines gone and a tail of
// zeros (`torn`), its head record written in another boot.
void lose_power(const fs::path& audit, std::size_t keep_lines, bool torn = true) {
  const auto lines = read_lines(audit);
  {
    std::ofstream out(audit, std::ios::binary | std::ios::trunc);
    for (std::size_t i = 0; i < keep_lines; ++i) out << lines[i] << '\n';
    if (torn) out << std::string(300, '\0');
  }
  const fs::path head = audit_head_file(audit);
  const std::string text = std::regex_replace(read_text(head), std::regex(R"("boot":"[0-9a-f]*")"),
                                              R"("boot":"0000000000000000")");
  std::ofstream(head, std::ios::binary | std::ios::trunc) << text;
}

// A run's start carried, then its host killed before the audit file's write
// (a carrier that throws after carrying stands in for the kill).
void killed_start(const fs::path& state_dir, const std::string& id) {
  struct KilledAfterCarrying final : AuditLog::Carrier {
    AuditPut put;
    KilledAfterCarrying(RunStore& store, RunRecord& record) : put(store, record, AuditPut::Kind::kStart) {}
    void carry(const std::string& line, std::uint64_t seq) override {
      put.carry(line, seq);
      throw std::runtime_error("killed");
    }
    void sync() override {}
  };
  RunStore store(state_dir / "runs");
  RunRecord record;
  record.id = id;
  record.plugin = "noop";
  record.started_at = "2026-12-07T10:00:00.000Z";
  store.create_dir(id);
  KilledAfterCarrying killed(store, record);
  CHECK_THROWS(state_audit_log(state_dir, false).append("run.start", {{"run_id", id}}, &killed));
}

// `history prune` of `ids`: its audit line, then the state log's rewrite.
void recorded_prune(const fs::path& state_dir, const std::vector<std::string>& ids) {
  state_audit_log(state_dir, false).append("history.prune", {{"count", ids.size()}, {"ids", ids}});
  RunStore(state_dir / "runs").prune(ids);
}

// Line `k` (1-based) of the audit file edited, and the chain recomputed
// after it, as an editor who knows the format would.
void edit_and_rechain(const fs::path& audit, std::size_t k, const std::string& from, const std::string& to) {
  auto lines = read_lines(audit);
  auto& line = lines.at(k - 1);
  REQUIRE(line.find(from) != std::string::npos);
  line.replace(line.find(from), from.size(), to);
  for (std::size_t i = k; i < lines.size(); ++i) {
    lines[i] = std::regex_replace(lines[i], std::regex(R"("prev":"[0-9a-f]{64}")"),
                                  "\"prev\":\"" + dihya::host::sha256_hex(lines[i - 1]) + "\"",
                                  std::regex_constants::format_first_only);
  }
  std::ofstream out(audit, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

}  // namespace

TEST_CASE("a carried line is in the state log's record and in the audit file", "[audit][carried]") {
  TempDir dir;
  const auto ids = run_ids(2);
  for (const auto& id : ids) recorded_run(dir.path(), id);
  const auto audit = dir.path() / "audit.jsonl";
  const auto lines = read_lines(audit);
  REQUIRE(lines.size() == 4);
  CHECK(RunLog(dir.path() / "runs").carried_audit_lines(1) == lines);
  CHECK(RunLog(dir.path() / "runs").carried_audit_lines(4) == std::vector<std::string>{lines[3]});
  CHECK(RunLog(dir.path() / "runs").carried_audit_lines(5).empty());
  CHECK(verify_audit_log(audit).ok);
  // The end record names the run.start seq.
  CHECK(RunStore(dir.path() / "runs").load(ids[1])->audit_seq == 3);
}

TEST_CASE("after a power loss the audit file is completed from the state log", "[audit][carried]") {
  TempDir dir;
  for (const auto& id : run_ids(3)) recorded_run(dir.path(), id);
  const auto audit = dir.path() / "audit.jsonl";
  const std::string before = read_text(audit);
  lose_power(audit, 2);
  CHECK_FALSE(verify_audit_log(audit).ok);
  CHECK(state_audit_log(dir.path(), false).complete() == 4);
  CHECK(read_text(audit) == before);
  CHECK(verify_audit_log(audit).ok);

  // The same through the next append, which then chains onto the copies.
  lose_power(audit, 1);
  CHECK(state_audit_log(dir.path(), false).append("rollback.start", {}) == 7);
  CHECK(read_text(audit).substr(0, before.size()) == before);
  CHECK(verify_audit_log(audit).ok);
}

TEST_CASE("in the same boot nothing is copied: a cut log stays refused", "[audit][carried]") {
  TempDir dir;
  for (const auto& id : run_ids(2)) recorded_run(dir.path(), id);
  const auto audit = dir.path() / "audit.jsonl";
  const auto lines = read_lines(audit);
  {
    std::ofstream out(audit, std::ios::binary | std::ios::trunc);
    out << lines[0] << '\n' << lines[1] << '\n';
  }
  CHECK(state_audit_log(dir.path(), false).complete() == 0);
  CHECK_THROWS_AS(state_audit_log(dir.path(), false).append("rollback.start", {}), dihya::host::HostError);
  CHECK(read_lines(audit).size() == 2);
}

TEST_CASE("a line carried by a host killed before writing it loses to the line that took its seq",
          "[audit][carried]") {
  TempDir dir;
  const auto ids = run_ids(3);
  recorded_run(dir.path(), ids[0]);
  killed_start(dir.path(), ids[1]);  // carried, its host killed before the audit file's write
  const auto audit = dir.path() / "audit.jsonl";
  CHECK(read_lines(audit).size() == 2);
  CHECK(RunLog(dir.path() / "runs").carried_audit_lines(3).size() == 1);  // only in the state log
  recorded_run(dir.path(), ids[2]);                                        // takes seq 3 and 4
  const std::string before = read_text(audit);
  CHECK(RunLog(dir.path() / "runs").carried_audit_lines(3).size() == 3);
  lose_power(audit, 2);
  CHECK(state_audit_log(dir.path(), false).complete() == 2);
  CHECK(read_text(audit) == before);
  CHECK(verify_audit_log(audit).ok);
}

TEST_CASE("the lines of a log moved away are not copied into a new one", "[audit][carried]") {
  TempDir dir;
  for (const auto& id : run_ids(2)) recorded_run(dir.path(), id);
  const auto audit = dir.path() / "audit.jsonl";
  fs::rename(audit, dir.path() / "old.jsonl");
  fs::rename(audit_head_file(audit), dir.path() / "old.jsonl.head");
  CHECK(state_audit_log(dir.path(), false).append("rollback.start", {}) == 1);
  lose_power(audit, 1, false);
  CHECK(state_audit_log(dir.path(), false).append("rollback.end", {}) == 2);
  CHECK(read_lines(audit).size() == 2);
  CHECK(verify_audit_log(audit).ok);
}

TEST_CASE("a carried text holding a newline is never a line to copy", "[audit][carried]") {
  TempDir dir;
  for (const auto& id : run_ids(1)) recorded_run(dir.path(), id);
  const auto lines = read_lines(dir.path() / "audit.jsonl");
  REQUIRE(lines.size() == 2);
  // Seq 3, valid JSON and chained were its newline a space: copied, it would
  // split into two lines of the audit file and spoil a log that verified.
  std::string text = lines[1];
  REQUIRE(text.rfind(R"({"seq":2,"ts":)", 0) == 0);
  text.replace(0, 9, "{\"seq\":3,\n");
  const auto prev = text.find(R"("prev":")") + 8;
  text.replace(prev, 64, dihya::host::sha256_hex(lines[1]));
  std::ofstream(dir.path() / "runs" / "state.log", std::ios::app | std::ios::binary)
      << dihya::host::run_log_line({{"op", "put"}, {"run", {{"id", "20261206T100000.000Z-000009"}}}, {"audit", text}});
  CHECK(RunLog(dir.path() / "runs").carried_audit_lines(1) == lines);
  lose_power(dir.path() / "audit.jsonl", 2, false);
  CHECK(state_audit_log(dir.path(), false).complete() == 0);
  CHECK(read_lines(dir.path() / "audit.jsonl") == lines);
  CHECK(verify_audit_log(dir.path() / "audit.jsonl").ok);
}

TEST_CASE("a hostile tail is replaced only by lines that chain, or refused", "[audit][carried]") {
  const std::string zeros(64, '0');
  const std::vector<std::string> tails = {
      "garbage\n{\"seq\":\n\xff\xfe\n",                              // lines that are no entries
      std::string(3u << 20, 'x'),                                     // a torn tail longer than any scan
      R"({"seq":2,"ts":"x","prev":")" + zeros + R"(","event":"e","data":{}})" "\n",  // an entry that does not chain
  };
  for (std::size_t i = 0; i < tails.size(); ++i) {
    INFO("tail " << i);
    TempDir dir;  // a fresh state dir each time
    for (const auto& id : run_ids(2)) recorded_run(dir.path(), id);
    const auto audit = dir.path() / "audit.jsonl";
    const std::string whole = read_text(audit);
    lose_power(audit, 1, false);
    std::ofstream(audit, std::ios::binary | std::ios::app) << tails[i];
    const std::string before = read_text(audit);
    try {
      state_audit_log(dir.path(), false).append("rollback.start", {});
      // Completed: lines 2..4 from the state log in place of the tail, then the new one.
      const bool completed = read_text(audit).substr(0, whole.size()) == whole;
      CHECK(completed);
      CHECK(verify_audit_log(audit).ok);
    } catch (const dihya::host::HostError& e) {
      // Refused: what was there is left as it was, for `audit verify` to show.
      INFO(e.what());
      const bool left_as_it_was = read_text(audit) == before;
      CHECK(left_as_it_was);
      CHECK(i != 0);  // a tail no scan reaches the end of; an entry that does not chain (evidence)
    }
  }
}


TEST_CASE("audit verify compares every line the state log carries", "[audit][cross_check]") {
  TempDir dir;
  for (const auto& id : run_ids(3)) recorded_run(dir.path(), id);
  const auto report = state_audit_log(dir.path(), false).verify();
  CHECK(report.ok);
  CHECK(report.carried.lines == 6);
  CHECK(report.carried.problem.empty());
  CHECK(report.carried.past_end == 0);
}

TEST_CASE("a line edited with the chain recomputed differs from its copy", "[audit][cross_check]") {
  TempDir dir;
  for (const auto& id : run_ids(3)) recorded_run(dir.path(), id);
  edit_and_rechain(dir.path() / "audit.jsonl", 2, R"("run.end")", R"("run.ended")");
  REQUIRE(dihya::host::verify_audit_log(dir.path() / "audit.jsonl").lines == 6);  // guard: the chain holds
  const auto report = state_audit_log(dir.path(), false).verify();
  CHECK_THAT(report.carried.problem, Catch::Contains("line 2 (seq 2) differs from the copy the state log carries"));
  CHECK(report.carried.first_bad_line == 2u);
}

TEST_CASE("the line of a host killed before writing it is not a mismatch, nor after a prune",
          "[audit][cross_check]") {
  TempDir dir;
  const auto ids = run_ids(3);
  recorded_run(dir.path(), ids[0]);
  killed_start(dir.path(), ids[1]);  // carries seq 3, never written
  SECTION("alone past the end: accepted, counted") {
    const auto report = state_audit_log(dir.path(), false).verify();
    CHECK(report.carried.problem.empty());
    CHECK(report.carried.past_end == 1);
  }
  SECTION("with the line that took its seq") {
    recorded_run(dir.path(), ids[2]);  // seq 3 and 4
    auto report = state_audit_log(dir.path(), false).verify();
    CHECK(report.carried.problem.empty());
    CHECK(report.carried.lines == 4);
    // The run that took the seq pruned, the killed one kept (an interrupted
    // run is never pruned): its copy is left out of the rewrite.
    recorded_prune(dir.path(), {ids[2]});
    report = state_audit_log(dir.path(), false).verify();
    CHECK(report.carried.problem.empty());
    CHECK(report.carried.lines == 2);
  }
}

TEST_CASE("a prune keeps both copies of the runs it keeps", "[audit][cross_check]") {
  TempDir dir;
  const auto ids = run_ids(3);
  for (const auto& id : ids) recorded_run(dir.path(), id);
  recorded_prune(dir.path(), {ids[0]});
  auto report = state_audit_log(dir.path(), false).verify();
  CHECK(report.carried.problem.empty());
  CHECK(report.carried.lines == 4);
  SECTION("so an edited run.start of a kept run still shows") {
    edit_and_rechain(dir.path() / "audit.jsonl", 5, R"("run.start")", R"("run.begin")");
    report = state_audit_log(dir.path(), false).verify();
    CHECK_THAT(report.carried.problem, Catch::Contains("line 5 (seq 5) differs"));
  }
}

TEST_CASE("a run line the state log does not carry is named, unless a prune removed its run",
          "[audit][cross_check]") {
  TempDir dir;
  const auto ids = run_ids(2);
  for (const auto& id : ids) recorded_run(dir.path(), id);
  // A prune that names no run: the state log still loses the second run.
  recorded_prune(dir.path(), {});
  RunStore(dir.path() / "runs").prune({ids[1]});
  const auto report = state_audit_log(dir.path(), false).verify();
  CHECK_THAT(report.carried.problem, Catch::Contains("line 3 (seq 3, run.start of run " + ids[1] + ") is not carried"));
}
