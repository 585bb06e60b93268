// SPDX-License-Identifier: AGPL-3.0-or-later
// run_scheduler: the loop that executes `dihya-host schedule` schedules.
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
//    Jobs get SIGTERM when their scheduler process dies (PR_SET_PDEATHSIG), so
//    a lost job has been cancelled and rolled back by its own host.
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
//
// Test-only clock: DIHYA_SCHEDULER_TEST_CLOCK="ORIGIN,SPEED" (epoch seconds,
// factor) makes every scheduler see ORIGIN + (db_now - ORIGIN) * SPEED, so a
// test runs many simulated minutes in a few real seconds. Default lease and
// poll-derived durations are in that clock. Never set it in production.
#include <fcntl.h>
#include <signal.h>
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
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dihya/cron.hpp>
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <dihya/schedule_store.hpp>
#include <fmt/format.h>
#include <pqxx/pqxx>

extern char** environ;

namespace dihya_run_scheduler {

namespace cron = dihya::cron;
using dihya::Context;
using dihya::Params;
using dihya::Result;

constexpr int kMaxPerScheduleTick = 100;
constexpr double kDefaultDeadline = 60;
constexpr double kStopGraceSeconds = 4;  // the host SIGKILLs 5 s after its SIGTERM

std::string num(double v) { return fmt::format("{:.6f}", v); }

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
  double now(pqxx::connection& db) const {
    pqxx::nontransaction tx(db);
    const double real = tx.exec("SELECT extract(epoch FROM clock_timestamp())::float8")[0][0].as<double>();
    return simulated_ ? origin_ + (real - origin_) * speed_ : real;
  }
  double speed() const { return simulated_ ? speed_ : 1.0; }

 private:
  bool simulated_ = false;
  double origin_ = 0;
  double speed_ = 1;
};

struct Job {
  long long row = 0;
  long long schedule = 0;
  double due = 0;
  double ready_at = 0;  // retries wait until then (clock seconds)
  pid_t pid = 0;
  bool manual = false;
  bool term_sent = false;
  double started = 0;
  std::string out_file;
  std::string err_file;
};

struct Settings {
  bool once = false;
  double poll = 5;
  int max_jobs = 4;
  std::string me;
  double lease = 15;
  long long run_now = 0;
  double drain = 0;
};

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

class Scheduler {
 public:
  Scheduler(Context& ctx, Settings s) : ctx_(ctx), s_(std::move(s)), db_(ctx.db()) {}

  void ensure_schema() {
    {
      pqxx::nontransaction tx(db_);
      if (!tx.exec("SELECT to_regclass('dihya.schedule_runs')")[0][0].is_null()) return;
    }
    pqxx::work tx(db_);
    tx.exec(dihya::schedule::kSchemaLockSql);
    for (const auto& sql : dihya::schedule::schema_statements()) tx.exec(sql);
    tx.commit();
  }

  Result loop() {
    double last_tick = -1e18;
    bool claimed_once = false;
    double stop_at = 0;
    double drain_until = 0;
    for (;;) {
      reap_children();
      const auto real_now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      const bool stopping = ctx_.cancelled();
      if (stopping && stop_at == 0) {
        // Running jobs first get drain_seconds to finish, then SIGTERM and a
        // few seconds to record their outcome (the host SIGKILLs us after --grace).
        drain_until = real_now + s_.drain;
        stop_at = drain_until + kStopGraceSeconds;
        ctx_.log().info("stop requested: no new claims; {} running job(s): {}", running_count(),
                        s_.drain > 0 ? fmt::format("waiting up to {} s, then cancelling", s_.drain) : "cancelling");
      }
      if (stopping && real_now >= drain_until) {
        for (auto& j : jobs_) terminate(j);
      }
      if (real_now - last_tick >= s_.poll || (stopping && real_now >= stop_at)) {
        last_tick = real_now;
        const double now = clock_.now(db_);
        heartbeat(now);
        if (!stopping) {
          take_over_dead(now);
          if (!s_.once || !claimed_once) {
            claim(now);
            claimed_once = true;
          }
        }
      }
      if (!stopping) launch_ready();
      if (stopping) {
        if (running_count() == 0 || real_now >= stop_at) break;
      } else if (s_.once && claimed_once && jobs_.empty()) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(20, static_cast<int>(s_.poll * 1000))));
    }
    // Whatever is still queued goes back to the pool: another scheduler takes
    // it over after the lease (it never started).
    const double now = clock_.now(db_);
    for (const auto& j : jobs_) {
      if (j.pid == 0) continue;
      finish_row(j, now, "cancelled", std::nullopt, "", "scheduler stopped");
    }
    nlohmann::json data{{"scheduler", s_.me}, {"claimed", claimed_},   {"started", started_},
                        {"succeeded", succeeded_}, {"failed", failed_}, {"skipped", skipped_},
                        {"missed", missed_},       {"lost", lost_},     {"taken_over", taken_over_}};
    Result r = Result::success(fmt::format("{} claimed, {} started, {} succeeded, {} failed, {} skipped, {} missed",
                                           claimed_, started_, succeeded_, failed_, skipped_, missed_),
                               data);
    return r;
  }

  // `schedule run <id>`: one manual launch, with the overlap policy, waited for.
  Result run_now() {
    const double now = clock_.now(db_);
    long long row = 0;
    {
      pqxx::work tx(db_);
      const auto s = tx.exec_params("SELECT id FROM dihya.schedules WHERE id = $1 FOR UPDATE", s_.run_now);
      if (s.empty()) return Result::failure(fmt::format("no schedule {}", s_.run_now));
      const auto r = tx.exec_params(
          "INSERT INTO dihya.schedule_runs (schedule_id, due_at, claimed_by, claimed_at, heartbeat_at, manual) "
          "VALUES ($1, to_timestamp($2::float8), $3, to_timestamp($2::float8), to_timestamp($2::float8), true) "
          "ON CONFLICT DO NOTHING RETURNING id",
          s_.run_now, num(now), s_.me);
      tx.commit();
      if (r.empty()) return Result::failure("a manual run was launched at this very instant; try again");
      row = r[0][0].as<long long>();
    }
    Job j;
    j.row = row;
    j.schedule = s_.run_now;
    j.due = now;
    j.manual = true;
    jobs_.push_back(j);
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
    pqxx::nontransaction tx(db_);
    const auto r = tx.exec_params(
        "SELECT outcome, coalesce(run_id, ''), coalesce(exit_code, -1), coalesce(note, '') FROM dihya.schedule_runs "
        "WHERE id = $1",
        row);
    const std::string outcome = r[0][0].as<std::string>();
    nlohmann::json data{{"schedule_id", s_.run_now}, {"outcome", outcome}, {"manual", true}};
    if (!r[0][1].as<std::string>().empty()) data["run_id"] = r[0][1].as<std::string>();
    const std::string summary = fmt::format("schedule {}: manual run {}{}{}", s_.run_now, outcome,
                                            r[0][1].as<std::string>().empty() ? "" : " (run " + r[0][1].as<std::string>() + ")",
                                            r[0][3].as<std::string>().empty() ? "" : ": " + r[0][3].as<std::string>());
    return outcome == "succeeded" ? Result::success(summary, data) : Result::failure(summary, data);
  }

  // Dry run: what a tick would claim now, nothing written.
  Result preview() {
    const double now = clock_.now(db_);
    pqxx::nontransaction tx(db_);
    if (tx.exec("SELECT to_regclass('dihya.schedule_runs')")[0][0].is_null()) {
      return Result::success("no schedules yet (dihya.schedules does not exist)");
    }
    const auto rows = tx.exec_params(
        "SELECT id, name, cron, tz, floor(extract(epoch FROM coalesce(last_due_at, created_at)))::bigint "
        "FROM dihya.schedules WHERE NOT paused AND next_due_at <= to_timestamp($1::float8) ORDER BY next_due_at",
        num(now));
    nlohmann::json due = nlohmann::json::array();
    std::string report;
    for (const auto& r : rows) {
      const auto* tz = cron::zone(r[3].as<std::string>());
      const auto e = cron::parse(r[2].as<std::string>(), allow_seconds());
      cron::Instant t{std::chrono::seconds(r[4].as<long long>())};
      int n = 0;
      while (auto next = cron::next_after(e, tz, t)) {
        if (static_cast<double>(next->time_since_epoch().count()) > now || n >= kMaxPerScheduleTick) break;
        due.push_back({{"schedule_id", r[0].as<long long>()}, {"name", r[1].as<std::string>()},
                       {"due_at", cron::format_iso(*next, tz)}});
        report += fmt::format("would claim {} ({}) due {}\n", r[1].as<std::string>(), r[0].as<long long>(),
                              cron::format_iso(*next, tz));
        t = *next;
        ++n;
      }
    }
    Result res = Result::success(fmt::format("{} due run(s) would be claimed", due.size()), {{"due", due}});
    res.report = report;
    return res;
  }

 private:
  static bool allow_seconds() { return std::getenv("DIHYA_TEST_CRON_SECONDS") != nullptr; }

  int running_count() const {
    return static_cast<int>(std::count_if(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.pid != 0; }));
  }

  void terminate(Job& j) {
    if (j.pid != 0 && !j.term_sent) {
      ::kill(j.pid, SIGTERM);
      j.term_sent = true;
    }
  }

  // Refreshes our claims; a running job whose row is no longer ours (replaced,
  // or declared lost after we stalled) is cancelled.
  void heartbeat(double now) {
    if (jobs_.empty()) return;
    pqxx::nontransaction tx(db_);
    const auto r = tx.exec_params(
        "UPDATE dihya.schedule_runs SET heartbeat_at = to_timestamp($1::float8) "
        "WHERE claimed_by = $2 AND finished_at IS NULL RETURNING id",
        num(now), s_.me);
    std::set<long long> mine;
    for (const auto& row : r) mine.insert(row[0].as<long long>());
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (mine.count(it->row) != 0) {
        ++it;
        continue;
      }
      if (it->pid != 0) {
        ctx_.log().warn("schedule {} run due {}: no longer ours (replaced or lost): cancelling its job", it->schedule,
                        it->due);
        terminate(*it);
        ++it;
      } else {
        it = jobs_.erase(it);
      }
    }
  }

  // Claims of dead schedulers: not started -> ours; started -> lost.
  void take_over_dead(double now) {
    pqxx::work tx(db_);
    const auto taken = tx.exec_params(
        "UPDATE dihya.schedule_runs SET claimed_by = $1, claimed_at = to_timestamp($2::float8), "
        "heartbeat_at = to_timestamp($2::float8), note = 'taken over from ' || coalesce(claimed_by, '?') "
        "WHERE id IN (SELECT id FROM dihya.schedule_runs WHERE finished_at IS NULL AND started_at IS NULL "
        "AND outcome = 'claimed' AND heartbeat_at < to_timestamp($2::float8 - $3::float8) "
        "ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
        "RETURNING id, schedule_id, extract(epoch FROM due_at)::float8, manual",
        s_.me, num(now), num(s_.lease), std::max(0, s_.max_jobs - static_cast<int>(jobs_.size())));
    const auto lost = tx.exec_params(
        "UPDATE dihya.schedule_runs SET outcome = 'lost', finished_at = to_timestamp($1::float8), "
        "note = 'scheduler ' || coalesce(claimed_by, '?') || ' stopped heart-beating' "
        "WHERE finished_at IS NULL AND started_at IS NOT NULL AND claimed_by <> $3 "
        "AND heartbeat_at < to_timestamp($1::float8 - $2::float8) RETURNING id",
        num(now), num(s_.lease), s_.me);
    tx.commit();
    for (const auto& r : taken) {
      Job j;
      j.row = r[0].as<long long>();
      j.schedule = r[1].as<long long>();
      j.due = r[2].as<double>();
      j.manual = r[3].as<bool>();
      jobs_.push_back(j);
      ++taken_over_;
    }
    lost_ += static_cast<int>(lost.size());
    if (!lost.empty()) ctx_.log().warn("{} run(s) of dead schedulers marked lost", lost.size());
  }

  void claim(double now) {
    const int slots = s_.max_jobs - static_cast<int>(jobs_.size());
    if (slots <= 0) return;
    pqxx::work tx(db_);
    const auto rows = tx.exec_params(
        "SELECT id, cron, tz, misfire, coalesce(starting_deadline_seconds::float8, $2::float8), "
        "extract(epoch FROM coalesce(last_due_at, created_at))::float8 "
        "FROM dihya.schedules WHERE NOT paused AND next_due_at <= to_timestamp($1::float8) "
        "ORDER BY next_due_at LIMIT $3 FOR UPDATE SKIP LOCKED",
        num(now), num(kDefaultDeadline), slots);
    for (const auto& r : rows) {
      const long long id = r[0].as<long long>();
      const std::string misfire = r[3].as<std::string>();
      const double deadline = r[4].as<double>();
      const cron::Instant watermark{std::chrono::seconds(static_cast<long long>(std::floor(r[5].as<double>())))};
      std::vector<cron::Instant> due;
      std::optional<cron::Instant> next;
      try {
        const auto* tz = cron::zone(r[2].as<std::string>());
        const auto e = cron::parse(r[1].as<std::string>(), allow_seconds());
        cron::Instant t = watermark;
        for (;;) {
          next = cron::next_after(e, tz, t);
          if (!next || static_cast<double>(next->time_since_epoch().count()) > now) break;
          if (static_cast<int>(due.size()) >= kMaxPerScheduleTick) break;  // the rest next tick
          due.push_back(*next);
          t = *next;
        }
      } catch (const std::exception& ex) {
        ctx_.log().error("schedule {}: {}: paused", id, ex.what());
        tx.exec_params("UPDATE dihya.schedules SET paused = true WHERE id = $1", id);
        continue;
      }
      // Which due times run, which are recorded as missed.
      std::vector<bool> run(due.size(), true);
      bool any_on_time = false;
      for (std::size_t i = 0; i < due.size(); ++i) {
        const bool late = now - static_cast<double>(due[i].time_since_epoch().count()) > deadline;
        any_on_time |= !late;
        if (late && misfire != "run_all") run[i] = false;
      }
      if (misfire == "run_once" && !any_on_time) {
        for (std::size_t i = due.size(); i-- > 0;) {
          run[i] = true;  // the most recent late one
          break;
        }
      }
      for (std::size_t i = 0; i < due.size(); ++i) {
        const double at = static_cast<double>(due[i].time_since_epoch().count());
        if (run[i]) {
          const auto ins = tx.exec_params(
              "INSERT INTO dihya.schedule_runs (schedule_id, due_at, claimed_by, claimed_at, heartbeat_at) "
              "VALUES ($1, to_timestamp($2::float8), $3, to_timestamp($4::float8), to_timestamp($4::float8)) "
              "ON CONFLICT (schedule_id, due_at) DO NOTHING RETURNING id",
              id, num(at), s_.me, num(now));
          if (ins.empty()) continue;
          Job j;
          j.row = ins[0][0].as<long long>();
          j.schedule = id;
          j.due = at;
          jobs_.push_back(j);
          ++claimed_;
        } else {
          const auto ins = tx.exec_params(
              "INSERT INTO dihya.schedule_runs (schedule_id, due_at, claimed_by, claimed_at, finished_at, outcome, note) "
              "VALUES ($1, to_timestamp($2::float8), $3, to_timestamp($4::float8), to_timestamp($4::float8), 'missed', "
              "$5) ON CONFLICT (schedule_id, due_at) DO NOTHING RETURNING id",
              id, num(at), s_.me, num(now), fmt::format("misfire {}: {:.0f} s late", misfire, now - at));
          missed_ += static_cast<int>(ins.size());
        }
      }
      const double new_mark = due.empty() ? static_cast<double>(watermark.time_since_epoch().count())
                                          : static_cast<double>(due.back().time_since_epoch().count());
      tx.exec_params(
          "UPDATE dihya.schedules SET last_due_at = to_timestamp($2::float8), "
          "next_due_at = to_timestamp(nullif($3, '')::float8) WHERE id = $1",
          id, num(new_mark), next ? num(static_cast<double>(next->time_since_epoch().count())) : std::string());
    }
    tx.commit();
  }

  void launch_ready() {
    if (jobs_.empty()) return;
    double now = -1;
    for (auto& j : jobs_) {
      if (j.pid != 0) continue;
      if (running_count() >= s_.max_jobs) return;
      if (j.ready_at > 0) {
        if (now < 0) now = clock_.now(db_);
        if (now < j.ready_at) continue;
      }
      if (now < 0) now = clock_.now(db_);
      start(j, now);
    }
    jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.row == 0; }), jobs_.end());
  }

  // Applies the overlap policy and starts the job, or records why not. Sets
  // j.row = 0 when the job leaves our queue.
  void start(Job& j, double now) {
    std::string plugin, params_text, overlap;
    std::optional<long long> timeout;
    {
      pqxx::work tx(db_);
      const auto s = tx.exec_params(
          "SELECT plugin, params::text, overlap, timeout_seconds FROM dihya.schedules WHERE id = $1 FOR UPDATE", j.schedule);
      if (s.empty()) {  // removed meanwhile: its rows are gone with it
        j.row = 0;
        return;
      }
      plugin = s[0][0].as<std::string>();
      params_text = s[0][1].as<std::string>();
      overlap = s[0][2].as<std::string>();
      if (!s[0][3].is_null()) timeout = s[0][3].as<long long>();
      if (overlap != "allow") {
        const auto others = tx.exec_params(
            "SELECT id, coalesce(run_id, '') FROM dihya.schedule_runs WHERE schedule_id = $1 AND id <> $2 "
            "AND finished_at IS NULL AND outcome IN ('running', 'retry_wait')",
            j.schedule, j.row);
        if (!others.empty()) {
          if (overlap == "forbid") {
            tx.exec_params(
                "UPDATE dihya.schedule_runs SET outcome = 'skipped', finished_at = to_timestamp($2::float8), "
                "note = $3 WHERE id = $1 AND claimed_by = $4 AND finished_at IS NULL",
                j.row, num(now), fmt::format("overlap forbid: run row {} still going", others[0][0].as<long long>()),
                s_.me);
            tx.commit();
            ++skipped_;
            j.row = 0;
            return;
          }
          // replace: the old run's owner cancels it at its next heartbeat (us: now).
          for (const auto& o : others) {
            tx.exec_params(
                "UPDATE dihya.schedule_runs SET outcome = 'replaced', finished_at = to_timestamp($2::float8), "
                "note = $3 WHERE id = $1",
                o[0].as<long long>(), num(now), fmt::format("overlap replace: replaced by the run due at row {}", j.row));
            for (auto& mine : jobs_) {
              if (mine.row == o[0].as<long long>()) terminate(mine);
            }
          }
        }
      }
      const auto ok = tx.exec_params(
          "UPDATE dihya.schedule_runs SET outcome = 'running', started_at = coalesce(started_at, to_timestamp($2::float8)), "
          "heartbeat_at = to_timestamp($2::float8), attempt = attempt + 1, host = $4, next_attempt_at = NULL "
          "WHERE id = $1 AND claimed_by = $3 AND finished_at IS NULL RETURNING attempt",
          j.row, num(now), s_.me, host_name());
      if (ok.empty()) {  // taken over by another scheduler while we stalled
        tx.commit();
        j.row = 0;
        return;
      }
      tx.commit();
    }
    spawn(j, plugin, nlohmann::json::parse(params_text), timeout);
    if (j.pid == 0) {
      finish_row(j, now, "failed", std::nullopt, "", "could not start dihya-host");
      ++failed_;
      j.row = 0;
      return;
    }
    j.started = now;
    ++started_;
    pqxx::nontransaction tx(db_);
    tx.exec_params("UPDATE dihya.schedule_runs SET pid = $2 WHERE id = $1", j.row, static_cast<int>(j.pid));
  }

  void spawn(Job& j, const std::string& plugin, const nlohmann::json& params, std::optional<long long> timeout) {
    std::vector<std::string> argv{"dihya-host", "run", plugin, "--yes", "--json", "--quiet"};
    if (timeout) {
      argv.push_back("--timeout");
      argv.push_back(std::to_string(*timeout));
    }
    for (const auto& [k, v] : params.items()) {
      argv.push_back("--param");
      argv.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
    }
    // The job's settings: the database this scheduler uses (our own environment
    // copy of it was blanked by the host), the schedule for the run record.
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string kv(*e);
      if (kv.rfind("DIHYA_DATABASE_URL=", 0) == 0 || kv.rfind("DIHYA_SCHEDULE_", 0) == 0) continue;
      env.push_back(kv);
    }
    env.push_back("DIHYA_DATABASE_URL=" + ctx_.database_url());
    env.push_back("DIHYA_SCHEDULE_ID=" + std::to_string(j.schedule));
    env.push_back("DIHYA_SCHEDULE_DUE_AT=" + num(j.due));
    env.push_back(std::string("DIHYA_SCHEDULE_TRIGGER=") + (j.manual ? "manual" : "scheduled"));
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& a : env) cenv.push_back(a.data());
    cenv.push_back(nullptr);
    const auto dir = ctx_.work_dir() / "jobs";
    std::filesystem::create_directories(dir);
    ++spawned_;
    j.out_file = (dir / fmt::format("{}-{}.out", j.row, spawned_)).string();
    j.err_file = (dir / fmt::format("{}-{}.err", j.row, spawned_)).string();
    const int out = ::open(j.out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int err = ::open(j.err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Own process group: the operator's Ctrl-C reaches the scheduler, which
      // decides; our death still cancels the job.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execve("/proc/self/exe", cargv.data(), cenv.data());
      ::_exit(127);
    }
    ::close(out);
    ::close(err);
    ::close(in);
    j.pid = pid > 0 ? pid : 0;
  }

  void reap_children() {
    for (auto& j : jobs_) {
      if (j.pid == 0) continue;
      int status = 0;
      const pid_t r = ::waitpid(j.pid, &status, WNOHANG);
      if (r != j.pid) continue;
      j.pid = 0;
      on_exit(j, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [](const Job& j) { return j.row == 0; }), jobs_.end());
  }

  static std::string read_text(const std::string& path, std::size_t limit) {
    std::ifstream in(path, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (s.size() > limit) s.resize(limit);
    return s;
  }

  void on_exit(Job& j, int code) {
    const double now = clock_.now(db_);
    std::string run_id;
    std::string outcome = code == 0 ? "succeeded" : "failed";
    std::string note;
    try {
      const auto rec = nlohmann::json::parse(read_text(j.out_file, 1 << 22));
      run_id = rec.value("id", "");
      outcome = rec.value("outcome", outcome);
      note = rec.value("summary", "");
    } catch (const std::exception&) {
      // No run record: the host refused the job (bad params, unknown plugin): its one line says why.
      note = read_text(j.err_file, 2000);
      if (const auto nl = note.find('\n'); nl != std::string::npos) note.resize(nl);
      if (j.term_sent) {  // stopped by us before its host could even start the run
        outcome = "cancelled";
        if (note.empty()) note = "cancelled before the run started";
      }
    }
    std::remove(j.out_file.c_str());
    std::remove(j.err_file.c_str());
    pqxx::work tx(db_);
    const auto row = tx.exec_params(
        "SELECT r.attempt, s.retries, s.backoff_seconds FROM dihya.schedule_runs r JOIN dihya.schedules s "
        "ON s.id = r.schedule_id WHERE r.id = $1 AND r.claimed_by = $2 AND r.finished_at IS NULL",
        j.row, s_.me);
    if (row.empty()) {  // replaced or declared lost meanwhile: keep that verdict, note the run id
      tx.exec_params("UPDATE dihya.schedule_runs SET run_id = coalesce(run_id, nullif($2, '')), exit_code = $3 "
                     "WHERE id = $1",
                     j.row, run_id, code);
      tx.commit();
      j.row = 0;
      return;
    }
    const int attempt = row[0][0].as<int>();
    const int retries = row[0][1].as<int>();
    const double backoff = row[0][2].as<double>();
    // A job refused as invalid (exit 2) or not loadable (3) fails the same way next time.
    if (code != 0 && code != 2 && code != 3 && attempt <= retries && !ctx_.cancelled() && !j.term_sent) {
      const double wait = backoff * std::pow(2.0, attempt - 1) * clock_.speed();
      tx.exec_params(
          "UPDATE dihya.schedule_runs SET outcome = 'retry_wait', run_id = nullif($2, ''), exit_code = $3, "
          "next_attempt_at = to_timestamp($4::float8), note = $5 WHERE id = $1",
          j.row, run_id, code, num(now + wait), fmt::format("attempt {} {}: {}", attempt, outcome, note.substr(0, 300)));
      tx.commit();
      ctx_.log().info("schedule {}: attempt {} {}, retry in {:.0f} s", j.schedule, attempt, outcome, wait);
      j.ready_at = now + wait;
      j.term_sent = false;
      return;
    }
    tx.commit();
    finish_row(j, now, outcome, code, run_id, note);
    (outcome == "succeeded" ? succeeded_ : failed_) += 1;
    j.row = 0;
  }

  void finish_row(const Job& j, double now, const std::string& outcome, std::optional<int> code,
                  const std::string& run_id, const std::string& note) {
    pqxx::nontransaction tx(db_);
    tx.exec_params(
        "UPDATE dihya.schedule_runs SET outcome = $2, finished_at = to_timestamp($3::float8), "
        "exit_code = $4, run_id = coalesce(nullif($5, ''), run_id), note = nullif($6, '') "
        "WHERE id = $1 AND claimed_by = $7 AND finished_at IS NULL",
        j.row, outcome, num(now), code ? std::optional<int>(*code) : std::optional<int>(), run_id, note.substr(0, 500),
        s_.me);
  }

  Context& ctx_;
  Settings s_;
  pqxx::connection& db_;
  Clock clock_;
  std::vector<Job> jobs_;
  long long spawned_ = 0;
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
    s.max_jobs = params.has("max_jobs") ? params.get<int>("max_jobs") : 4;
    s.me = params.has("scheduler_id") ? params.get<std::string>("scheduler_id")
                                      : fmt::format("{}:{}", host_name(), ::getppid());
    s.drain = params.has("drain_seconds") ? params.get<double>("drain_seconds") : 0.0;
    s.run_now = params.has("run_now") ? params.get<long long>("run_now") : 0;
    Clock clock;
    s.lease = params.has("lease_seconds") ? params.get<double>("lease_seconds")
                                          : std::max(3 * s.poll, 15.0) * clock.speed();
    Scheduler scheduler(ctx, s);
    if (ctx.dry_run()) return scheduler.preview();
    scheduler.ensure_schema();
    if (s.run_now != 0) return scheduler.run_now();
    ctx.log().info("scheduler {}: poll {} s, {} job slot(s), lease {} s{}", s.me, s.poll, s.max_jobs, s.lease,
                   s.once ? ", one tick" : "");
    return scheduler.loop();
  }
};

}  // namespace dihya_run_scheduler

DIHYA_PLUGIN(dihya_run_scheduler::RunScheduler)
