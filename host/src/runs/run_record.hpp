// SPDX-License-Identifier: AGPL-3.0-or-later
// What the host remembers about one run: which plugin ran, with which
// (redacted) parameters, by whom, when, on behalf of which host process, and
// how it ended. This is what `history` and `show` print and what `rollback`
// starts from; it is stored as runs/<id>/record.json.
//
// Timestamps are ISO 8601 UTC with milliseconds ("2026-11-25T21:50:53.123Z"),
// so comparing them as strings compares them as times.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runs/process_identity.hpp"
#include "util/utc_time.hpp"

namespace dihya::host {

// The outcomes a run record can hold.
inline constexpr std::string_view kOutcomeRunning = "running";
inline constexpr std::string_view kOutcomeSucceeded = "succeeded";
inline constexpr std::string_view kOutcomeFailed = "failed";
inline constexpr std::string_view kOutcomeCrashed = "crashed";
inline constexpr std::string_view kOutcomeTimedOut = "timed_out";
inline constexpr std::string_view kOutcomeCancelled = "cancelled";
inline constexpr std::string_view kOutcomeRolledBack = "rolled_back";
inline constexpr std::string_view kOutcomeRollbackFailed = "rollback_failed";
inline constexpr std::string_view kOutcomeInterrupted = "interrupted";  // the host died mid-run
inline constexpr std::string_view kOutcomeDryRun = "dry_run";

bool is_known_outcome(std::string_view outcome);

struct RunRecord {
  std::string id;
  std::string plugin;
  std::string plugin_version;
  std::string plugin_sha256;
  std::string user;
  std::string host;                 // machine name
  nlohmann::json params;            // already redacted: secrets never reach this struct
  std::string started_at;           // ISO UTC
  std::string ended_at;             // ISO UTC; empty while running or when unknown
  std::string outcome{kOutcomeRunning};
  std::optional<int> exit_code;
  std::string summary;
  nlohmann::json result;
  // The host process that owns the run, filled by set_host_process() before
  // the record is created: a "running" record whose host is gone (or was never
  // named) reads as interrupted.
  int pid_of_host = 0;
  std::string host_boot_id;         // with host_start_ticks: tells a dead host from a reused pid
  std::uint64_t host_start_ticks = 0;
  std::uint64_t host_pid_ns = 0;    // its pid namespace (ProcessIdentity::pid_ns); 0 unknown
  bool dry_run = false;
  bool destructive = false;
  // Set when the scheduler launched the run: its schedule and whether the
  // launch was "scheduled" or "manual" (`dihya-host schedule run`).
  std::string schedule_id;
  std::string trigger;
  // The seq of the run's run.start line in the audit log: `audit verify`
  // finds a log cut back below the seqs its runs name. 0: not audited yet.
  std::uint64_t audit_seq = 0;
  // The sandbox the plugin ran in (supervise/sandbox.hpp sandbox_plan_json):
  // mode, Landlock ABI, rules, ports, seccomp. Null for records made before.
  nlohmann::json sandbox;
};

// JSON with the member names as keys. from_json requires id, plugin,
// started_at and a known outcome, defaults the rest, and throws
// nlohmann::json::exception on a missing or mistyped field, std::invalid_argument
// on an unknown outcome.
void to_json(nlohmann::json& out, const RunRecord& record);
void from_json(const nlohmann::json& in, RunRecord& record);

// Stores `host` as the process that owns the run (pid_of_host, boot id, start time).
void set_host_process(RunRecord& record, const ProcessIdentity& host);
ProcessIdentity host_process(const RunRecord& record);


}  // namespace dihya::host
