// SPDX-License-Identifier: AGPL-3.0-or-later
// The run_scheduler's claims on the shared database: every statement that
// decides which scheduler runs which fire time, apart from the job handling
// (processes, retries' timing, the loop) in run_scheduler.cpp. Exactly once
// rests on these statements alone: a fire time belongs to whoever inserted its
// schedule_runs row (unique (schedule_id, due_at)); the schedules a batch takes
// are locked FOR UPDATE SKIP LOCKED and all their fire times are claimed by
// one statement; and every later change of a row is
// fenced by `claimed_by = <us> AND finished_at IS NULL`, so a scheduler that
// stalled past its lease can no longer start or finish what another took over.
// Times are seconds since the epoch in the scheduler's clock. Not thread-safe:
// one Claims per scheduler, on its connection.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <dihya/logger.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace dihya_run_scheduler {

// A time as SQL receives it: seconds with microseconds, bound as text.
std::string num(double v);

// A schedule_runs row this scheduler owns and has not finished.
struct ClaimedRun {
  long long row = 0;
  long long schedule = 0;
  double due = 0;
  bool manual = false;
  std::string overlap;  // the schedule's policy when claimed: allow, forbid, replace
};

// What a job runs, read from its schedule when it starts.
struct JobSpec {
  std::string plugin;
  nlohmann::json params;
  std::optional<long long> timeout;
  // Not empty: why this job is not started (a schedule written by other means
  // than `dihya-host schedule add`: a path or an option as its plugin, its
  // params not an object of key=value or nested past kMaxParamsDepth).
  std::string refused;
};

// The depth of params nesting a job accepts: `schedule add` stores a flat
// object; nlohmann's dump() and the host's redaction recurse, and crash
// (stack) on values nested tens of thousands deep, which jsonb can hold.
inline constexpr int kMaxParamsDepth = 32;

// The job of a schedule row (plugin, params as jsonb text, timeout), with
// `refused` set when it must not be started.
JobSpec job_spec(const std::string& plugin, const std::string& params, std::optional<long long> timeout);

// The verdict of start(): only `run` means the job is ours to start.
struct StartDecision {
  enum Verdict { run, gone, skipped, taken_over } verdict = gone;
  JobSpec job;
  std::vector<long long> replaced_rows;  // overlap replace: our jobs of these rows must be cancelled
};

// How a job ended, for record_exits().
struct JobExit {
  long long row = 0;
  std::string outcome;  // succeeded, failed, cancelled...
  int code = 0;
  std::string run_id;
  std::string note;
  bool may_retry = false;
};

// The outcome of a finished job as record_exits() decided it.
struct ExitDecision {
  enum Verdict { finished, retry, kept } verdict = finished;  // kept: replaced or lost meanwhile
  int attempt = 0;
  double retry_at = 0;  // when verdict == retry
};

class Claims {
 public:
  Claims(pqxx::connection& db, std::string me) : db_(db), me_(std::move(me)) {}

  // Creates dihya.schedules and dihya.schedule_runs if needed (under the
  // schema's advisory lock, since CREATE ... IF NOT EXISTS races). Both
  // secure the session first (secure_session()).
  void ensure_schema();
  // False before the first scheduler or `schedule add` created the tables.
  bool schema_exists();

  // Makes the connection resolve unqualified names in pg_catalog only, and
  // throws dihya::Error naming them when schema dihya holds objects owned
  // by a role that is neither ours nor a superuser.
  void secure_session();

  // Refreshes the heartbeat of our unfinished rows; returns their ids.
  std::set<long long> heartbeat(double now);

  // Rows of schedulers silent for `lease`: not started -> ours (at most
  // `slots`); started -> marked lost (it may have done part of its work).
  // A retry given back (release()) -> ours once its backoff is over.
  std::vector<ClaimedRun> take_over_dead(double now, double lease, int slots, int* lost);

  // One batch of about `slots` runs: locks at most `slots` due schedules (FOR
  // UPDATE SKIP LOCKED) and takes them until their fire times fill the batch
  // (a schedule catching up under run_all may add up to 100), then one
  // statement inserts a row per fire time since each one's watermark
  // (claimed by us with a fresh lease, or recorded `missed` by its misfire
  // policy and starting deadline) and moves the watermarks; commits. A
  // schedule whose cron or time zone no longer parses is paused, with an
  // error in `log`. Returns the claimed runs, oldest due first.
  std::vector<ClaimedRun> claim_due(double now, int slots, bool allow_seconds, dihya::Logger& log, int* missed);

  // The earliest next_due_at of a schedule that is not paused (clock seconds).
  std::optional<double> next_due();

  // A manual run of `schedule`: its row, nullopt with `*missing` set when
  // there is no such schedule (else a row inserted at this very instant).
  std::optional<long long> insert_manual(long long schedule, double now, bool* missing);

  // Applies each run's schedule overlap policy under the schedules' row locks
  // and marks the runs that may run `running` (attempt + 1, on `host`), in
  // one transaction: one decision per run, in order. Runs of overlap=allow
  // schedules take one statement together.
  std::vector<StartDecision> start(const std::vector<ClaimedRun>& runs, double now, const std::string& host);

  // Gives back claimed runs we have not started, and retries waiting for
  // their backoff (a scheduler stopping): their lease ends now, so the next
  // scheduler's check takes them over (a retry once its backoff is over).
  // Returns the rows given back (a row whose job runs stays ours).
  std::set<long long> release(const std::vector<long long>& rows, double now);

  // Records the job processes' ids (rows[i] runs as pids[i]).
  void set_pids(const std::vector<long long>& rows, const std::vector<long long>& pids);

  // Records jobs' ends, one decision per exit, in order, in one statement
  // for all (a second only when some row is no longer ours): a retry when
  // `may_retry` and attempts remain (wait backoff * 2^(attempt-1) * `speed`),
  // else the final outcome; a row that is no longer ours (replaced, or
  // declared lost meanwhile) keeps the verdict it got and only learns the
  // run id and exit code.
  std::vector<ExitDecision> record_exits(const std::vector<JobExit>& exits, double now, double speed);

  // Ends a row we own (fenced): failed to start, cancelled, or final.
  void finish(long long row, double now, const std::string& outcome, std::optional<int> code,
              const std::string& run_id, const std::string& note);

  // outcome, run id, note of a row (for the manual run's answer); nullopt
  // when the row is gone: `schedule remove` deletes a schedule's rows with it,
  // also while one of its jobs runs.
  struct RowOutcome {
    std::string outcome, run_id, note;
  };
  std::optional<RowOutcome> outcome_of(long long row);

  // Dry run: the fire times a tick would claim now; nothing written. `report`
  // gets one line per fire time.
  nlohmann::json preview(double now, bool allow_seconds, std::string* report);

 private:
  // forbid/replace for one run inside start()'s transaction: false when the
  // run is skipped (decision says so).
  bool overlap_allows(pqxx::work& tx, const ClaimedRun& run, const std::string& overlap, double now,
                      StartDecision* decision);

  template <typename Tx, typename... Args>
  pqxx::result exec_prepared(Tx& tx, const char* name, const std::string& sql, Args&&... args);

  pqxx::connection& db_;
  std::string me_;
};

}  // namespace dihya_run_scheduler
