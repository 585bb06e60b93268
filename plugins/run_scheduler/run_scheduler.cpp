// SPDX-License-Identifier: AGPL-3.0-or-later
// run_scheduler: the loop that executes `dihya-host schedule` schedules. This
// file handles jobs (processes, retries, stopping); every statement on the
// shared tables is in claims.cpp.
//
// Exactly once, across any number of schedulers sharing one database:
//  * a tick locks the due schedules it takes (FOR UPDATE SKIP LOCKED, at most
//    as many as it has free job slots, so schedulers share the work), computes
//    the fire times since the schedule's watermark (last_due_at) up to the
//    database clock, inserts one schedule_runs row per fire time with
//    ON CONFLICT (schedule_id, due_at) DO NOTHING, moves the watermark and
//    commits: a fire time is owned by whoever inserted its row;
//  * the owner heart-beats its unfinished rows every tick. A row whose
//    heartbeat is older than the lease belongs to a dead scheduler: if its job
//    had not started, another scheduler takes it over (an UPDATE that fences:
//    a job starts only if its row is still claimed by us); if it had started,
//    it is marked `lost` (never re-run: it may have done part of its work).
//    Jobs get SIGTERM when their scheduler process dies (PR_SET_PDEATHSIG of
//    the job, or of the zygote that forwards it), so a lost job has been
//    cancelled and rolled back by its own host.
//
// Jobs are forked by a zygote (zygote_client.hpp), a warm `dihya-host
// __zygote` started once; if it dies, they are exec'ed (launcher=exec always).
//
// Misfire: a fire time is "on time" when the clock is at most
// starting_deadline_seconds (default 60) past it; on-time fire times always
// run. Older ones (schedulers down, overloaded): skip -> recorded `missed`;
// run_once -> only the most recent runs (none if an on-time one runs in the
// same tick), the others `missed`; run_all -> all run, oldest first, at most
// 100 per schedule per tick (the watermark stops there and the next tick goes on).
//
// Overlap, decided under the schedule's row lock so two schedulers cannot both
// start: forbid -> the new fire time is recorded `skipped` while a run of the
// schedule is `running` (or waiting for a retry); replace -> the old run is
// marked `replaced` and its owner SIGTERMs it at its next heartbeat; allow.
// A run already due when our earlier run of its schedule started waits for
// it instead (waits_for_earlier()): a catch-up runs oldest first, one at a time.
//
// Test-only clock: DIHYA_SCHEDULER_TEST_CLOCK="ORIGIN,SPEED" (epoch seconds,
// factor) makes every scheduler see ORIGIN + (db_now - ORIGIN) * SPEED, so a
// test runs many simulated minutes in a few real seconds. Default lease and
// poll-derived durations are in that clock. Never set it in production.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dihya/child_process.hpp>
#include <dihya/cron.hpp>
#include <dihya/database.hpp>
#include <dihya/file_io.hpp>
#include <dihya/plugin.hpp>
#include <dihya/schedule_store.hpp>
#include <fmt/format.h>
#include <pqxx/pqxx>

#include "claims.hpp"
#include "zygote_client.hpp"

namespace dihya_run_scheduler {

namespace cron = dihya::cron;
using dihya::Context;
using dihya::Params;
using dihya::Result;

// Stopping: a running job gets kJobStopGraceSeconds after our SIGTERM to
// cancel; then a second SIGTERM makes its host kill its plugin at once (a
// job's host waits its --grace, 5 s by default, only for the first), and the
// job's host has the rest of kStopGraceSeconds to record the run and exit.
// Our own host SIGKILLs us 5 s (its --grace) after its SIGTERM: waiting out
// the jobs' own grace lost the link to their run records.
constexpr double kJobStopGraceSeconds = 3;
constexpr double kStopGraceSeconds = kJobStopGraceSeconds + 1.5;
constexpr double kJobWatchSeconds = 0.005;    // how often running jobs are reaped
constexpr double kRetryLockedSeconds = 0.02;  // due schedules held by another scheduler's claim
constexpr int kStatusLost = -1;               // a zygote's job whose exit status died with the zygote

double steady_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The scheduler's wake-up call: LISTEN on the channel the schedules trigger
// notifies (dihya/schedule_store.hpp). Lives on the scheduler's connection,
// outside any transaction.
class Wakeup final : public pqxx::notification_receiver {
 public:
  explicit Wakeup(pqxx::connection& db) : pqxx::notification_receiver(db, dihya::schedule::kChangedChannel) {}
  void operator()(const std::string&, int) override { pending_ = true; }

  // Whether a notification arrived since the last call.
  bool take() {
    conn().get_notifs();
    const bool pending = pending_;
    pending_ = false;
    return pending;
  }
  // Returns after `seconds`, or as soon as the database connection has
  // something to read (a notification: take() says) or `also` (-1: none,
  // e.g. the zygote's socket with a job's exit report) is readable.
  void wait(double seconds, int also) {
    conn().get_notifs();  // one libpq already read (during a statement) would not make the socket readable
    if (pending_ || seconds <= 0) return;
    pollfd fds[2] = {{conn().sock(), POLLIN, 0}, {also, POLLIN, 0}};
    const int ms = static_cast<int>(std::ceil(std::min(seconds, 3600.0) * 1000));
    ::poll(fds, also >= 0 ? 2 : 1, ms);
  }

 private:
  bool pending_ = false;
};

// The clock every decision uses: the database's, optionally sped up (tests).
class Clock {
 public:
  Clock() {
    if (const char* spec = std::getenv("DIHYA_SCHEDULER_TEST_CLOCK")) {
      if (std::sscanf(spec, "%lf,%lf", &origin_, &speed_) != 2 || !(speed_ > 0)) {
        throw dihya::Error("DIHYA_SCHEDULER_TEST_CLOCK: expected ORIGIN_EPOCH,SPEED");
      }
      simulated_ = true;
    }
  }
  // The database's clock, read at most every kClockReadSeconds: in between
  // it is extrapolated with the steady clock (a job's start and end stamps
  // need no round trip each). `fresh` forces a read (claims, heartbeats).
  double now(pqxx::connection& db, bool fresh = false) {
    const double steady = steady_now();
    if (fresh || read_at_ == 0 || steady - read_at_ > kClockReadSeconds) {
      pqxx::nontransaction tx(db);
      offset_ = tx.exec1("SELECT extract(epoch FROM clock_timestamp())::float8")[0].as<double>() - steady;
      read_at_ = steady;
    }
    const double real = steady + offset_;
    return simulated_ ? origin_ + (real - origin_) * speed_ : real;
  }
  double speed() const { return simulated_ ? speed_ : 1.0; }

 private:
  static constexpr double kClockReadSeconds = 1;
  bool simulated_ = false;
  double origin_ = 0;
  double speed_ = 1;
  double offset_ = 0;   // database clock - steady clock, at read_at_
  double read_at_ = 0;  // steady seconds
};

struct Job {
  long long row = 0;
  long long schedule = 0;
  double due = 0;
  double ready_at = 0;  // retries wait until then (clock seconds)
  pid_t pid = 0;
  bool manual = false;
  std::string overlap;  // the schedule's policy when claimed
  bool term_sent = false;
  bool hurried = false;  // the second SIGTERM sent (stopping)
  bool via_zygote = false;  // the zygote's child: its status comes in the zygote's reports
  double started = 0;
  // The job's standard output (its run record, --json) and error: memory
  // files (memfd), read once it ended: no file created and removed per job.
  dihya::UniqueFd out;
  dihya::UniqueFd err;
};

// A job that ended, as record_exits() learns it.
struct JobEnd {
  Job* job = nullptr;
  int code = 0;
};

struct Settings {
  bool once = false;
  double poll = 5;
  int max_jobs = 2;
  int claim_batch = 64;
  std::string me;
  double lease = 15;
  long long run_now = 0;
  double drain = 0;
  bool zygote = true;  // launcher: zygote (fork of a warm host) or exec
};

int default_max_jobs() {
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<int>(std::clamp(cpus, 1L, 256L));
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

class Scheduler {
 public:
  Scheduler(Context& ctx, Settings s)
      : ctx_(ctx), s_(std::move(s)), db_(ctx.db()), claims_(db_, s_.me), job_database_url_(job_url(ctx.database_url())) {}

  void ensure_schema() { claims_.ensure_schema(); }

  Result loop() {
    Wakeup wakeup(db_);  // LISTEN before the first claim: no change falls between
    if (s_.zygote) start_zygote();
    double next_check = 0;  // steady seconds: heartbeat and dead schedulers' claims
    double next_claim = 0;  // steady seconds: the next due time (or a notification first)
    bool claimed_once = false;
    double stop_at = 0;
    double drain_until = 0;
    for (;;) {
      reap_children();
      const double real_now = steady_now();
      const bool stopping = ctx_.cancelled();
      if (stopping && stop_at == 0) {
        // Running jobs first get drain_seconds to finish, then SIGTERM and a
        // few seconds to record their outcome (the host SIGKILLs us after --grace).
        drain_until = real_now + s_.drain;
        stop_at = drain_until + kStopGraceSeconds;
        ctx_.log().info("stop requested: no new claims; {} running job(s): {}", running_count(),
                        s_.drain > 0 ? fmt::format("waiting up to {} s, then cancelling", s_.drain) : "cancelling");
        give_back_queued();
      }
      if (stopping && real_now >= drain_until) {
        for (auto& j : jobs_) terminate(j);
      }
      if (stopping && real_now >= drain_until + kJobStopGraceSeconds) {
        for (auto& j : jobs_) hurry(j);
      }
      if (wakeup.take()) next_claim = 0;  // a schedule changed: look now, or once there is room
      if (real_now >= next_check || (stopping && real_now >= stop_at)) {
        next_check = real_now + s_.poll;
        const double now = clock_.now(db_, true);
        heartbeat(now);
        if (!stopping) take_over_dead(now);
      }
      if (!stopping && (!s_.once || !claimed_once) && real_now >= next_claim && claim_wanted()) {
        next_claim = real_now + claim();
        claimed_once = true;
      }
      if (!stopping) launch_ready();
      if (stopping) {
        if (running_count() == 0 || real_now >= stop_at) break;
      } else if (s_.once && claimed_once && jobs_.empty()) {
        break;
      }
      // Sleep until something can happen: a due time, a schedule change
      // (NOTIFY), the next heartbeat, a zygote's report (a job ended); a few
      // milliseconds while jobs we must waitpid for run (exec'ed, or adopted
      // from a dead zygote), to reap them (and start the next) promptly.
      double until = next_check;
      if (!stopping && claim_wanted() && !(s_.once && claimed_once)) until = std::min(until, next_claim);
      if (stopping || must_poll_jobs()) until = std::min(until, steady_now() + kJobWatchSeconds);
      if (zygote_ && zygote_->has_exits()) until = 0;
      wakeup.wait(until - steady_now(), zygote_ && zygote_->alive() ? zygote_->socket() : -1);
    }
    // Whatever is still queued goes back to the pool: another scheduler takes
    // it over after the lease (it never started).
    const double now = clock_.now(db_);
    for (const auto& j : jobs_) {
      if (j.pid == 0) continue;
      claims_.finish(j.row, now, "cancelled", std::nullopt, "", "scheduler stopped");
    }
    nlohmann::json data{{"scheduler", s_.me}, {"claimed", claimed_},   {"started", started_},
                        {"succeeded", succeeded_}, {"failed", failed_}, {"skipped", skipped_},
                        {"missed", missed_},       {"lost", lost_},     {"taken_over", taken_over_},
                        {"launcher", zygote_ ? "zygote" : "exec"}, {"exec_fallbacks", exec_fallbacks_}};
    Result r = Result::success(fmt::format("{} claimed, {} started, {} succeeded, {} failed, {} skipped, {} missed",
                                           claimed_, started_, succeeded_, failed_, skipped_, missed_),
                               data);
    return r;
  }

  // `schedule run <id>`: one manual launch, with the overlap policy, waited for.
  Result run_now() {
    const double now = clock_.now(db_);
    bool missing = false;
    const std::optional<long long> claimed = claims_.insert_manual(s_.run_now, now, &missing);
    if (missing) return Result::failure(fmt::format("no schedule {}", s_.run_now));
    if (!claimed) return Result::failure("a manual run was launched at this very instant; try again");
    const long long row = *claimed;
    jobs_.push_back(job_for({row, s_.run_now, now, true, ""}));
    ++claimed_;
    double last = now;
    while (!jobs_.empty()) {
      if (ctx_.cancelled()) {
        for (auto& x : jobs_) terminate(x);
      }
      launch_ready();
      reap_children();
      if (jobs_.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const double t = clock_.now(db_);
      if (t - last >= s_.poll) {
        heartbeat(t);
        last = t;
      }
    }
    const std::optional<Claims::RowOutcome> recorded = claims_.outcome_of(row);
    if (!recorded) return removed_meanwhile();
    const Claims::RowOutcome& r = *recorded;
    nlohmann::json data{{"schedule_id", s_.run_now}, {"outcome", r.outcome}, {"manual", true}};
    if (!r.run_id.empty()) data["run_id"] = r.run_id;
    const std::string summary = fmt::format("schedule {}: manual run {}{}{}", s_.run_now, r.outcome,
                                            r.run_id.empty() ? "" : " (run " + r.run_id + ")",
                                            r.note.empty() ? "" : ": " + r.note);
    return r.outcome == "succeeded" ? Result::success(summary, data) : Result::failure(summary, data);
  }

  // The answer of a manual run whose schedule `schedule remove` deleted, and
  // its schedule_runs row with it, before the run ended. The job's own run
  // record (when it got that far) tells how it went: the exit code is the
  // job's, as for any manual run (0 if it succeeded).
  Result removed_meanwhile() const {
    nlohmann::json data{{"schedule_id", s_.run_now}, {"manual", true}, {"schedule_removed", true}};
    if (!manual_exit_) {
      data["outcome"] = "not started";
      return Result::failure(
          fmt::format("schedule {} was removed before its manual run's job started; nothing ran", s_.run_now), data);
    }
    const JobExit& e = *manual_exit_;
    data["outcome"] = e.outcome;
    if (!e.run_id.empty()) data["run_id"] = e.run_id;
    const std::string summary =
        fmt::format("schedule {} was removed while its manual run's job ran; the job{} {}", s_.run_now,
                    e.run_id.empty() ? "" : "'s run " + e.run_id, e.outcome);
    return e.outcome == "succeeded" ? Result::success(summary, data) : Result::failure(summary, data);
  }

  // Dry run: what a tick would claim now, nothing written.
  Result preview() {
    const double now = clock_.now(db_, true);
    if (!claims_.schema_exists()) return Result::success("no schedules yet (dihya.schedules does not exist)");
    std::string report;
    const nlohmann::json due = claims_.preview(now, allow_seconds(), &report);
    Result res = Result::success(fmt::format("{} due run(s) would be claimed", due.size()), {{"due", due}});
    res.report = report;
    return res;
  }

 private:
  // The database URL jobs get: the `@file:/path` reference in our environment
  // (DIHYA_DATABASE_URL) when the URL we were given is what that file holds,
  // so each job reads the file when it starts, as a manual run does: a
  // password rotated in the file reaches the next job, not only the next
  // scheduler. Else (a URL in clear, @env:, a flag or the config file won) `url`.
  static std::string job_url(const std::string& url) {
    const char* given = std::getenv("DIHYA_DATABASE_URL");
    if (given == nullptr || std::strncmp(given, "@file:/", 7) != 0) return url;
    std::string held = read_text(std::string(given + 6), 64 * 1024);
    // As the host reads a reference: one final newline (\n or \r\n) is not part of it.
    if (!held.empty() && held.back() == '\n') held.pop_back();
    if (!held.empty() && held.back() == '\r') held.pop_back();
    return held == url ? std::string(given) : url;
  }

  static bool allow_seconds() { return std::getenv("DIHYA_TEST_CRON_SECONDS") != nullptr; }

  static Job job_for(const ClaimedRun& run) {
    Job j;
    j.row = run.row;
    j.schedule = run.schedule;
    j.due = run.due;
    j.manual = run.manual;
    j.overlap = run.overlap;
    return j;
  }

  // Under forbid and replace, a run that was already due when an earlier run
  // of its schedule started (a run_all catch-up, or a run that waited for a
  // slot) did not come due while that run was going: it waits for it, oldest
  // first, instead of being skipped or replacing it. Offered to start()
  // together, every other run of a catch-up was skipped whenever max_jobs >= 2.
  // Only our own runs are known here; another scheduler's still count as
  // the policy says.
  bool waits_for_earlier(const Job& j) const {
    if (j.manual || j.overlap == "allow") return false;
    return std::any_of(jobs_.begin(), jobs_.end(), [&](const Job& k) {
      return k.row != 0 && k.row != j.row && k.schedule == j.schedule && k.due < j.due &&
             (k.started == 0 || k.started >= j.due);
    });
  }

  // A queued run a free slot could start now (retries aside).
  bool startable(const Job& j) const { return j.pid == 0 && j.ready_at == 0 && !waits_for_earlier(j); }

  // Whether a running job's end would not wake us: its status comes from
  // waitpid, not from the zygote's socket. (Retries wait for next_check.)
  bool must_poll_jobs() const {
    const bool zygote_reports = zygote_ && zygote_->alive();
    return std::any_of(jobs_.begin(), jobs_.end(),
                       [&](const Job& j) { return j.pid != 0 && !(j.via_zygote && zygote_reports); }) ||
           std::any_of(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.pid == 0 && j.ready_at > 0; });
  }

  int running_count() const {
    return static_cast<int>(std::count_if(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.pid != 0; }));
  }

  void terminate(Job& j) {
    if (j.pid != 0 && !j.term_sent) {
      ::kill(j.pid, SIGTERM);
      j.term_sent = true;
    }
  }

  // The second SIGTERM: the job's host kills its plugin without waiting for
  // the rest of its grace, then records the run as cancelled.
  void hurry(Job& j) {
    if (j.pid != 0 && j.term_sent && !j.hurried) {
      ::kill(j.pid, SIGTERM);
      j.hurried = true;
    }
  }

  // Refreshes our claims; a running job whose row is no longer ours (replaced,
  // or declared lost after we stalled) is cancelled.
  void heartbeat(double now) {
    if (jobs_.empty()) return;
    const std::set<long long> mine = claims_.heartbeat(now);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (mine.count(it->row) != 0) {
        ++it;
        continue;
      }
      if (it->pid != 0) {
        ctx_.log().warn("schedule {} run due {}: no longer ours (replaced, lost or removed): cancelling its job",
                        it->schedule, it->due);
        terminate(*it);
        ++it;
      } else {
        it = jobs_.erase(it);
      }
    }
  }

  // Claims of dead schedulers: not started -> ours; started -> lost.
  void take_over_dead(double now) {
    int lost = 0;
    const auto taken = claims_.take_over_dead(now, s_.lease, queue_room(), &lost);
    for (const auto& run : taken) {
      jobs_.push_back(job_for(run));
      ++taken_over_;
    }
    lost_ += lost;
    if (lost > 0) ctx_.log().warn("{} run(s) of dead schedulers marked lost", lost);
  }

  // Our claimed, unstarted runs, and our retries waiting for their backoff,
  // go back to the pool at once instead of waiting out their lease in the
  // queue of a scheduler that will not start them (a retry was then `lost`).
  void give_back_queued() {
    std::vector<long long> queued;
    for (const auto& j : jobs_) {
      if (j.pid == 0) queued.push_back(j.row);
    }
    const std::set<long long> released = claims_.release(queued, clock_.now(db_));
    if (released.empty()) return;
    ctx_.log().info("{} claimed run(s) not started: given back to the other schedulers", released.size());
    jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [&](const Job& j) { return released.count(j.row) != 0; }),
                jobs_.end());
  }

  int queue_room() const { return s_.claim_batch - static_cast<int>(jobs_.size()); }

  // Claims are batches: the queue is refilled once half empty, or at once
  // when a job slot would stay idle (nothing in our queue to start).
  bool claim_wanted() const {
    const int room = queue_room();
    if (room <= 0) return false;
    if (room >= (s_.claim_batch + 1) / 2) return true;
    const bool queued = std::any_of(jobs_.begin(), jobs_.end(), [&](const Job& j) { return startable(j); });
    return !queued && running_count() < s_.max_jobs;
  }

  // Claims a batch of due runs into our queue; returns the seconds (real)
  // until the next claim is worth trying, if no notification comes first.
  double claim() {
    const double now = clock_.now(db_, true);
    int missed = 0;
    const auto claimed = claims_.claim_due(now, queue_room(), allow_seconds(), ctx_.log(), &missed);
    for (const auto& run : claimed) {
      jobs_.push_back(job_for(run));
      ++claimed_;
    }
    missed_ += missed;
    const std::optional<double> next = claims_.next_due();
    if (!next) return s_.poll;  // nothing scheduled: a notification wakes us
    if (*next <= now) {
      // Still due: our batch was full (claim on as the queue empties), or
      // another scheduler holds those schedules for its own claim right now.
      return claimed.empty() ? kRetryLockedSeconds : 0;
    }
    return std::min(s_.poll, (*next - now) / clock_.speed());
  }

  // Starts queued jobs into the free slots: one transaction decides them all
  // (overlap policies, rows marked running), then each is spawned.
  void launch_ready() {
    if (jobs_.empty()) return;
    int free_slots = s_.max_jobs - running_count();
    if (free_slots <= 0) return;
    double now = -1;
    std::vector<Job*> batch;
    std::vector<ClaimedRun> runs;
    for (auto& j : jobs_) {
      if (free_slots == 0) break;
      if (j.pid != 0 || j.row == 0) continue;
      if (j.ready_at > 0) {
        if (now < 0) now = clock_.now(db_);
        if (now < j.ready_at) continue;
      }
      if (waits_for_earlier(j)) continue;
      batch.push_back(&j);
      runs.push_back({j.row, j.schedule, j.due, j.manual, j.overlap});
      --free_slots;
    }
    if (batch.empty()) return;
    if (now < 0) now = clock_.now(db_);
    const std::vector<StartDecision> decisions = claims_.start(runs, now, host_name());
    std::vector<long long> rows, pids;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Job& j = *batch[i];
      if (j.row == 0) continue;  // replaced by a later run of this batch
      start(j, decisions[i], now);
      if (j.pid != 0) {
        rows.push_back(j.row);
        pids.push_back(j.pid);
      }
    }
    claims_.set_pids(rows, pids);
    jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.row == 0; }), jobs_.end());
  }

  // Acts on the start decision: spawns the job, or records why not. Sets
  // j.row = 0 when the job leaves our queue.
  void start(Job& j, const StartDecision& decision, double now) {
    for (const long long replaced : decision.replaced_rows) {
      for (auto& mine : jobs_) {
        if (mine.row != replaced) continue;
        terminate(mine);
        if (mine.pid == 0) mine.row = 0;  // queued, never started: nothing to cancel
      }
    }
    if (decision.verdict != StartDecision::run) {
      if (decision.verdict == StartDecision::skipped) ++skipped_;
      j.row = 0;
      return;
    }
    if (!decision.job.refused.empty()) {
      ctx_.log().error("schedule {}: not started: {}", j.schedule, decision.job.refused);
      claims_.finish(j.row, now, "failed", std::nullopt, "", "not started: " + decision.job.refused);
      ++failed_;
      j.row = 0;
      return;
    }
    spawn(j, decision.job.plugin, decision.job.params, decision.job.timeout);
    if (j.pid == 0) {
      claims_.finish(j.row, now, "failed", std::nullopt, "", "could not start dihya-host");
      ++failed_;
      j.row = 0;
      return;
    }
    j.started = now;
    ++started_;
  }

  void spawn(Job& j, const std::string& plugin, const nlohmann::json& params, std::optional<long long> timeout) {
    std::vector<std::string> argv{"dihya-host", "run", plugin, "--yes", "--json", "--quiet"};
    if (timeout) {
      argv.push_back("--timeout");
      argv.push_back(std::to_string(*timeout));
    }
    std::vector<std::string> items;  // key=value
    for (const auto& [k, v] : params.items()) {
      items.push_back(k + "=" +
                      (v.is_string() ? v.get<std::string>()
                                     : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    }
    // The job's settings: the database this scheduler uses (our own environment
    // copy of it was blanked by the host; an @file: reference is passed as
    // such: job_url()), the schedule for the run record.
    std::vector<std::string> env = dihya::environment_without({"DIHYA_DATABASE_URL=", "DIHYA_SCHEDULE_"});
    env.push_back("DIHYA_DATABASE_URL=" + job_database_url_);
    env.push_back("DIHYA_SCHEDULE_ID=" + std::to_string(j.schedule));
    env.push_back("DIHYA_SCHEDULE_DUE_AT=" + num(j.due));
    env.push_back(std::string("DIHYA_SCHEDULE_TRIGGER=") + (j.manual ? "manual" : "scheduled"));
    ++spawned_;
    j.out = dihya::UniqueFd(::memfd_create("dihya-job-stdout", MFD_CLOEXEC));
    j.err = dihya::UniqueFd(::memfd_create("dihya-job-stderr", MFD_CLOEXEC));
    const dihya::UniqueFd& out = j.out;
    const dihya::UniqueFd& err = j.err;
    j.pid = 0;
    if (!out || !err) {
      ctx_.log().error("schedule {}: cannot create the job's output files (memfd_create): {}", j.schedule,
                       std::strerror(errno));
      return;
    }
    if (zygote_ && zygote_->alive()) {
      // A forked job's command line is the zygote's: its words show nothing.
      // One word per parameter: as two (`--param`, `key=value`), a key such
      // as `--config` made its word a global option of the job's host.
      std::vector<std::string> zygote_argv = argv;
      for (const auto& item : items) zygote_argv.push_back("--param=" + item);
      std::string why;
      bool maybe_forked = false;
      j.pid = zygote_->launch(spawned_, zygote_argv, env, out.get(), err.get(), &why, &maybe_forked);
      // Died between its fork and its report: the forked job, if any, is now
      // our child (the zygote has been reaped); exec'ing it again would run it twice.
      if (j.pid == 0 && maybe_forked) j.pid = unknown_child();
      if (j.pid != 0) {
        j.via_zygote = true;
        if (maybe_forked) ctx_.log().warn("schedule {}: the zygote died as it forked this job (pid {})", j.schedule, j.pid);
        return;
      }
      note_zygote_death();
      if (zygote_->alive()) ctx_.log().warn("schedule {}: {}; starting this job with exec", j.schedule, why);
    }
    if (zygote_) ++exec_fallbacks_;
    j.via_zygote = false;
    // An exec'ed job's command line is its own, which `ps` shows every local
    // user: the parameters (a secret stored in clear by hand among them) go
    // on its standard input instead, each ended by a NUL byte.
    const dihya::UniqueFd params_in(::memfd_create("dihya-job-params", MFD_CLOEXEC));
    std::string text;
    for (const auto& item : items) text.append(item).push_back('\0');
    std::error_code written = params_in ? dihya::write_all(params_in.get(), text)
                                        : std::error_code(errno, std::generic_category());
    if (!written && ::lseek(params_in.get(), 0, SEEK_SET) != 0) written = {errno, std::generic_category()};
    if (written) {
      ctx_.log().error("schedule {}: cannot pass the job its parameters (memfd): {}", j.schedule, written.message());
      return;
    }
    argv.push_back("--params-fd");
    argv.push_back("0");
    dihya::SpawnOptions options;
    options.program = "/proc/self/exe";
    options.stdin_fd = params_in.get();
    options.stdout_fd = out.get();
    options.stderr_fd = err.get();
    options.environment = &env;
    // Own process group: the operator's Ctrl-C reaches the scheduler, which
    // decides; our death still cancels the job.
    options.own_process_group = true;
    options.parent_death_signal = SIGTERM;
    pid_t pid = 0;
    if (const std::error_code ec = dihya::spawn_process(argv, options, &pid)) {
      ctx_.log().error("schedule {}: cannot start dihya-host: {}", j.schedule, ec.message());
      return;
    }
    j.pid = pid;
  }

  // A child of ours that is no job we know and not the zygote: the job the
  // zygote forked just before it died (one request is in flight at a time).
  pid_t unknown_child() const {
    std::set<pid_t> known;
    for (const auto& j : jobs_) known.insert(j.pid);
    known.insert(zygote_->pid());
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
      std::ifstream in(task.path() / "children");
      long pid = 0;
      while (in >> pid) {
        if (known.count(static_cast<pid_t>(pid)) == 0) return static_cast<pid_t>(pid);
      }
    }
    return 0;
  }

  void start_zygote() {
    zygote_ = std::make_unique<JobZygote>();
    const auto dir = ctx_.work_dir() / "jobs";
    std::filesystem::create_directories(dir);
    const std::string error = zygote_->start(dir / "zygote.err");
    if (!error.empty()) {
      ctx_.log().warn("zygote: {}; starting jobs with exec", error);
      zygote_.reset();
      return;
    }
    ctx_.log().info("zygote {} started: jobs are forked from it", zygote_->pid());
  }

  // Says once that the zygote is gone and what becomes of its jobs.
  void note_zygote_death() {
    if (!zygote_ || zygote_->alive() || zygote_death_noted_) return;
    zygote_death_noted_ = true;
    const auto running = std::count_if(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.pid != 0 && j.via_zygote; });
    std::string log_tail;
    const auto err = read_text((ctx_.work_dir() / "jobs" / "zygote.err").string(), 400);
    if (!err.empty()) log_tail = ": " + err.substr(0, err.find('\n'));
    ctx_.log().warn("zygote {} {}{}: starting jobs with exec from now on; its {} running job(s) are waited for here",
                    zygote_->pid(), zygote_->death(), log_tail, running);
  }

  // Ends the jobs that finished: exit reports of the zygote for its children,
  // waitpid for ours (exec'ed, or adopted after the zygote died; as a child
  // subreaper we also collect whatever orphans a job leaves).
  void reap_children() {
    std::map<pid_t, int> ended;
    if (zygote_) {
      zygote_->collect(&ended);
      note_zygote_death();
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (zygote_ && pid == zygote_->pid()) {
        zygote_->reaped(status);
        continue;
      }
      ended[pid] = status;
    }
    std::vector<JobEnd> ends;
    for (auto& j : jobs_) {
      if (j.pid == 0) continue;
      const auto it = ended.find(j.pid);
      if (it != ended.end()) {
        j.pid = 0;
        ends.push_back({&j, WIFEXITED(it->second) ? WEXITSTATUS(it->second) : 128 + WTERMSIG(it->second)});
        continue;
      }
      // The zygote died after collecting this job's status, before reporting
      // it: the job is over (its living jobs became our children) and its
      // run record tells how it went.
      if (j.via_zygote && !zygote_->alive() && ::waitpid(j.pid, &status, WNOHANG) < 0 && errno == ECHILD) {
        j.pid = 0;
        ends.push_back({&j, kStatusLost});
      }
    }
    if (!ends.empty()) on_exits(ends);
    jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.row == 0; }), jobs_.end());
  }

  static std::string read_text(const std::string& path, std::size_t limit) {
    std::ifstream in(path, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (s.size() > limit) s.resize(limit);
    return s;
  }

  // The first `limit` bytes of a job's memory file.
  static std::string read_text(const dihya::UniqueFd& fd, std::size_t limit) {
    std::string s;
    if (!fd) return s;
    char buf[65536];
    for (off_t at = 0; s.size() < limit;) {
      const ssize_t n = ::pread(fd.get(), buf, std::min(sizeof buf, limit - s.size()), at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      s.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
    return s;
  }

  // Records the jobs that ended, all in one statement (Claims::record_exits).
  // A code of kStatusLost: the zygote died with the job's status.
  void on_exits(const std::vector<JobEnd>& ends) {
    const double now = clock_.now(db_);
    std::vector<JobExit> exits;
    exits.reserve(ends.size());
    for (const auto& e : ends) exits.push_back(exit_of(*e.job, e.code));
    const std::vector<ExitDecision> decisions = claims_.record_exits(exits, now, clock_.speed());
    for (std::size_t i = 0; i < ends.size(); ++i) {
      Job& j = *ends[i].job;
      const ExitDecision& decision = decisions[i];
      j.out.reset();
      j.err.reset();
      if (s_.run_now != 0) manual_exit_ = exits[i];
      if (decision.verdict == ExitDecision::retry) {
        ctx_.log().info("schedule {}: attempt {} {}, retry in {:.0f} s", j.schedule, decision.attempt,
                        exits[i].outcome, decision.retry_at - now);
        j.ready_at = decision.retry_at;
        j.term_sent = false;
        continue;
      }
      if (decision.verdict == ExitDecision::finished) (exits[i].outcome == "succeeded" ? succeeded_ : failed_) += 1;
      j.row = 0;
    }
  }

  // How a job ended, from its exit code and its run record (stdout).
  JobExit exit_of(const Job& j, int code) {
    JobExit e;
    e.row = j.row;
    const bool lost = code == kStatusLost;
    e.outcome = code == 0 ? "succeeded" : "failed";
    try {
      const auto rec = nlohmann::json::parse(read_text(j.out, 1 << 22));
      e.run_id = rec.value("id", "");
      e.outcome = rec.value("outcome", e.outcome);
      e.note = rec.value("summary", "");
      // Refused before any run (bad params, unknown plugin): --json puts its one line here too.
      if (e.run_id.empty() && rec.contains("error") && rec["error"].is_string()) e.note = rec["error"].get<std::string>();
      if (code == kStatusLost) code = e.outcome == "succeeded" ? 0 : 1;
    } catch (const std::exception&) {
      if (code == kStatusLost) {
        code = 1;
        e.outcome = "failed";
      }
      // No run record: the host refused the job (bad params, unknown plugin): its one line says why.
      e.note = read_text(j.err, 2000);
      if (const auto nl = e.note.find('\n'); nl != std::string::npos) e.note.resize(nl);
      if (e.note.empty() && lost) {
        e.note = "its exit status was lost with the zygote and it left no run record";
      }
      if (j.term_sent) {  // stopped by us before its host could even start the run
        e.outcome = "cancelled";
        if (e.note.empty()) e.note = "cancelled before the run started";
      }
    }
    e.code = code;
    // A job refused as invalid (exit 2) or not loadable (3) fails the same way next time.
    e.may_retry = code != 0 && code != 2 && code != 3 && !ctx_.cancelled() && !j.term_sent;
    return e;
  }

  Context& ctx_;
  Settings s_;
  pqxx::connection& db_;
  Clock clock_;
  Claims claims_;
  const std::string job_database_url_;  // job_url()
  std::vector<Job> jobs_;
  std::unique_ptr<JobZygote> zygote_;
  bool zygote_death_noted_ = false;
  int exec_fallbacks_ = 0;
  long long spawned_ = 0;
  std::optional<JobExit> manual_exit_;  // run_now: how the job's last attempt ended
  int claimed_ = 0, started_ = 0, succeeded_ = 0, failed_ = 0, skipped_ = 0, missed_ = 0, lost_ = 0, taken_over_ = 0;
};

class RunScheduler final : public dihya::Plugin {
 public:
  std::vector<dihya::ValidationError> validate(const Params& params, Context&) override {
    std::vector<dihya::ValidationError> errors;
    if (params.has("run_now") && params.has("once") && params.get<bool>("once")) {
      errors.push_back({"run_now", "run_now launches one job; it does not combine with once"});
    }
    return errors;
  }

  Result run(const Params& params, Context& ctx) override {
    Settings s;
    s.once = params.has("once") && params.get<bool>("once");
    s.poll = params.has("poll_seconds") ? params.get<double>("poll_seconds") : 5.0;
    // One job per CPU: a noop job is ~all CPU (fork, its supervised run's
    // files and fsyncs), so more at once only adds switching and cache misses.
    s.max_jobs = params.has("max_jobs") ? params.get<int>("max_jobs") : default_max_jobs();
    s.claim_batch = params.has("claim_batch") ? params.get<int>("claim_batch") : std::max(4 * s.max_jobs, 64);
    s.me = params.has("scheduler_id") ? params.get<std::string>("scheduler_id")
                                      : fmt::format("{}:{}", host_name(), ::getppid());
    s.drain = params.has("drain_seconds") ? params.get<double>("drain_seconds") : 0.0;
    s.run_now = params.has("run_now") ? params.get<long long>("run_now") : 0;
    // A manual run starts one job: a zygote would cost one more host start.
    s.zygote = (params.has("launcher") ? params.get<std::string>("launcher") : "zygote") == "zygote" && s.run_now == 0;
    Clock clock;
    s.lease = params.has("lease_seconds") ? params.get<double>("lease_seconds")
                                          : std::max(3 * s.poll, 15.0) * clock.speed();
    Scheduler scheduler(ctx, s);
    if (ctx.dry_run()) return scheduler.preview();
    scheduler.ensure_schema();
    if (s.run_now != 0) return scheduler.run_now();
    ctx.log().info("scheduler {}: poll {} s, {} job slot(s), claims of up to {}, lease {} s, launcher {}{}", s.me,
                   s.poll, s.max_jobs, s.claim_batch, s.lease, s.zygote ? "zygote" : "exec",
                   s.once ? ", one tick" : "");
    return scheduler.loop();
  }
};

}  // namespace dihya_run_scheduler

DIHYA_PLUGIN(dihya_run_scheduler::RunScheduler)
