// SPDX-License-Identifier: AGPL-3.0-or-later
// `audit verify`'s cross-check (AuditLog::verify): every audit line the state
// log carries is compared with the line of its seq in the audit file, so an
// edit whose chain was recomputed shows; what the host itself leaves (a line
// carried by a host killed before writing it, a prune) does not.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "runs/run_id.hpp"
#include "runs/run_log.hpp"
#include "runs/run_store.hpp"
#include "temp_dir.hpp"
#include "util/sha256.hpp"

namespace {

namespace fs = std::filesystem;
using dihya::host::AuditLog;
using dihya::host::AuditPut;
using dihya::host::RunRecord;
using dihya::host::RunStore;
using dihya::host::state_audit_log;
using dihya::testing::read_lines;
using dihya::testing::TempDir;

RunRecord cross_check_record(const std::string& id) {
  RunRecord record;
  record.id = id;
  record.plugin = "noop";
  record.started_at = "2026-12-07T10:00:00.000Z";
  return record;
}

// A run's start and end, as `run` records them.
void cross_check_run(const fs::path& state_dir, const std::string& id) {
  RunStore store(state_dir / "runs");
  AuditLog audit = state_audit_log(state_dir, false);
  RunRecord record = cross_check_record(id);
  store.create_dir(id);
  AuditPut start(store, record, AuditPut::Kind::kStart);
  audit.append("run.start", {{"run_id", id}}, &start);
  record.outcome = "succeeded";
  AuditPut end(store, record, AuditPut::Kind::kEnd);
  audit.append("run.end", {{"run_id", id}}, &end);
}

// A run's start carried, then its host killed before the audit file's write
// (a carrier that throws after carrying stands in for the kill).
void cross_check_killed_start(const fs::path& state_dir, const std::string& id) {
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
  RunRecord record = cross_check_record(id);
  store.create_dir(id);
  KilledAfterCarrying killed(store, record);
  CHECK_THROWS(state_audit_log(state_dir, false).append("run.start", {{"run_id", id}}, &killed));
}

// `history prune` of `ids`: its audit line, then the state log's rewrite.
void cross_check_prune(const fs::path& state_dir, const std::vector<std::string>& ids) {
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

std::vector<std::string> cross_check_ids(int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back(dihya::host::new_run_id(std::chrono::system_clock::now()));
  return ids;
}

}  // namespace

TEST_CASE("audit verify compares every line the state log carries", "[audit][cross_check]") {
  TempDir dir;
  for (const auto& id : cross_check_ids(3)) cross_check_run(dir.path(), id);
  const auto report = state_audit_log(dir.path(), false).verify();
  CHECK(report.ok);
  CHECK(report.carried.lines == 6);
  CHECK(report.carried.problem.empty());
  CHECK(report.carried.past_end == 0);
}

TEST_CASE("a line edited with the chain recomputed differs from its copy", "[audit][cross_check]") {
  TempDir dir;
  for (const auto& id : cross_check_ids(3)) cross_check_run(dir.path(), id);
  edit_and_rechain(dir.path() / "audit.jsonl", 2, R"("run.end")", R"("run.ended")");
  REQUIRE(dihya::host::verify_audit_log(dir.path() / "audit.jsonl").lines == 6);  // guard: the chain holds
  const auto report = state_audit_log(dir.path(), false).verify();
  CHECK_THAT(report.carried.problem, Catch::Contains("line 2 (seq 2) differs from the copy the state log carries"));
  CHECK(report.carried.first_bad_line == 2u);
}

TEST_CASE("the line of a host killed before writing it is not a mismatch, nor after a prune",
          "[audit][cross_check]") {
  TempDir dir;
  const auto ids = cross_check_ids(3);
  cross_check_run(dir.path(), ids[0]);
  cross_check_killed_start(dir.path(), ids[1]);  // carries seq 3, never written
  SECTION("alone past the end: accepted, counted") {
    const auto report = state_audit_log(dir.path(), false).verify();
    CHECK(report.carried.problem.empty());
    CHECK(report.carried.past_end == 1);
  }
  SECTION("with the line that took its seq") {
    cross_check_run(dir.path(), ids[2]);  // seq 3 and 4
    auto report = state_audit_log(dir.path(), false).verify();
    CHECK(report.carried.problem.empty());
    CHECK(report.carried.lines == 4);
    // The run that took the seq pruned, the killed one kept (an interrupted
    // run is never pruned): its copy is left out of the rewrite.
    cross_check_prune(dir.path(), {ids[2]});
    report = state_audit_log(dir.path(), false).verify();
    CHECK(report.carried.problem.empty());
    CHECK(report.carried.lines == 2);
  }
}

TEST_CASE("a prune keeps both copies of the runs it keeps", "[audit][cross_check]") {
  TempDir dir;
  const auto ids = cross_check_ids(3);
  for (const auto& id : ids) cross_check_run(dir.path(), id);
  cross_check_prune(dir.path(), {ids[0]});
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
  const auto ids = cross_check_ids(2);
  for (const auto& id : ids) cross_check_run(dir.path(), id);
  // A prune that names no run: the state log still loses the second run.
  cross_check_prune(dir.path(), {});
  RunStore(dir.path() / "runs").prune({ids[1]});
  const auto report = state_audit_log(dir.path(), false).verify();
  CHECK_THAT(report.carried.problem, Catch::Contains("line 3 (seq 3, run.start of run " + ids[1] + ") is not carried"));
}
