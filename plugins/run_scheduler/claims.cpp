// SPDX-License-Identifier: AGPL-3.0-or-later
#include "claims.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <dihya/cron.hpp>
#include <dihya/schedule_store.hpp>
#include <fmt/format.h>

namespace dihya_run_scheduler {
namespace cron = dihya::cron;

namespace {

constexpr int kMaxPerScheduleTick = 100;  // fire times per schedule per tick (run_all catching up)
constexpr double kDefaultDeadline = 60;   // starting_deadline_seconds when a schedule sets none

}  // namespace

std::string num(double v) { return fmt::format("{:.6f}", v); }

namespace {

// The statements that start or finish given runs select them by id and test
// `coalesce(finished_at, '-infinity') = '-infinity'` rather than `finished_at
// IS NULL`, which would let PostgreSQL read them through schedule_runs_open
// (a partial index on that predicate): a scan of every open run that its
// statistics, taken before a burst of claims, price at a few rows (4x2000:
// ~3,000 index entries read per start or exit, 1.4 runs each).
std::string still_open(const char* finished_at) {
  return fmt::format("coalesce({}, '-infinity') = '-infinity'", finished_at);
}

}  // namespace

// The statements run at every start, exit and heartbeat are prepared, once
// per connection (libpqxx prepares a name on its first use, again after a
// reconnect): PostgreSQL parses and plans them once instead of at each call.
template <typename Tx, typename... Args>
pqxx::result Claims::exec_prepared(Tx& tx, const char* name, const std::string& sql, Args&&... args) {
  db_.prepare(name, sql);  // a no-op once defined with the same text
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

bool Claims::schema_exists() {
  pqxx::nontransaction tx(db_);
  return !tx.exec1("SELECT to_regclass('dihya.schedule_runs')")[0].is_null();
}

void Claims::ensure_schema() {
  {
    pqxx::nontransaction tx(db_);
    if (!tx.exec1(dihya::schedule::kSchemaCurrentSql)[0].is_null()) return;
  }
  pqxx::work tx(db_);
  tx.exec(dihya::schedule::kSchemaLockSql);
  for (const auto& sql : dihya::schedule::schema_statements()) tx.exec(sql);
  tx.commit();
}

std::set<long long> Claims::heartbeat(double now) {
  pqxx::nontransaction tx(db_);
  const auto r = exec_prepared(
      tx, "heartbeat",
      "UPDATE dihya.schedule_runs SET heartbeat_at = to_timestamp($1::float8) "
      "WHERE claimed_by = $2 AND finished_at IS NULL AND heartbeat_at > '-infinity' RETURNING id",  // not given back
      num(now), me_);
  std::set<long long> mine;
  for (const auto& row : r) mine.insert(row[0].as<long long>());
  return mine;
}

std::vector<ClaimedRun> Claims::take_over_dead(double now, double lease, int slots, int* lost) {
  pqxx::work tx(db_);
  const auto taken = tx.exec_params(
      "UPDATE dihya.schedule_runs SET claimed_by = $1, claimed_at = to_timestamp($2::float8), "
      "heartbeat_at = to_timestamp($2::float8), note = 'taken over from ' || coalesce(claimed_by, '?') "
      "WHERE id IN (SELECT id FROM dihya.schedule_runs WHERE finished_at IS NULL AND started_at IS NULL "
      "AND outcome = 'claimed' AND heartbeat_at < to_timestamp($2::float8 - $3::float8) "
      "ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
      "RETURNING id, schedule_id, extract(epoch FROM due_at)::float8, manual",
      me_, num(now), num(lease), std::max(0, slots));
  const auto dead = tx.exec_params(
      "UPDATE dihya.schedule_runs SET outcome = 'lost', finished_at = to_timestamp($1::float8), "
      "note = 'scheduler ' || coalesce(claimed_by, '?') || ' stopped heart-beating' "
      "WHERE finished_at IS NULL AND started_at IS NOT NULL AND claimed_by <> $3 "
      "AND heartbeat_at < to_timestamp($1::float8 - $2::float8) RETURNING id",
      num(now), num(lease), me_);
  tx.commit();
  std::vector<ClaimedRun> runs;
  for (const auto& r : taken) {
    runs.push_back({r[0].as<long long>(), r[1].as<long long>(), r[2].as<double>(), r[3].as<bool>()});
  }
  *lost = static_cast<int>(dead.size());
  return runs;
}

namespace {

// A PostgreSQL array literal of numbers this scheduler computed (never user
// text), bound as one parameter and cast in SQL (`$1::float8[]`): a batch of
// any size is one statement with a fixed text.
template <typename T, typename Format>
std::string array_of(const std::vector<T>& values, Format format) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out += ',';
    out += format(values[i]);
  }
  return out + "}";
}

std::string ids(const std::vector<long long>& v) {
  return array_of(v, [](long long x) { return std::to_string(x); });
}
std::string times(const std::vector<double>& v) {
  return array_of(v, [](double x) { return std::isnan(x) ? std::string("NULL") : num(x); });
}
std::string flags(const std::vector<bool>& v) {
  return array_of(v, [](bool x) { return std::string(x ? "t" : "f"); });
}

}  // namespace

std::vector<ClaimedRun> Claims::claim_due(double now, int slots, bool allow_seconds, dihya::Logger& log,
                                          int* missed) {
  std::vector<ClaimedRun> runs;
  *missed = 0;
  if (slots <= 0) return runs;
  pqxx::work tx(db_);
  // The schedules this batch takes: another scheduler's batch skips them
  // until we commit, and then sees their moved watermark.
  const auto rows = tx.exec_params(
      "SELECT id, cron, tz, misfire, coalesce(starting_deadline_seconds::float8, $2::float8), "
      "extract(epoch FROM coalesce(last_due_at, created_at))::float8 "
      "FROM dihya.schedules WHERE NOT paused AND next_due_at <= to_timestamp($1::float8) "
      "ORDER BY next_due_at LIMIT $3 FOR UPDATE SKIP LOCKED",
      num(now), num(kDefaultDeadline), slots);
  // Fire times (computed here: cron and time zones are the SDK's, not SQL's).
  std::vector<long long> fire_schedule, mark_schedule, paused;
  std::vector<double> fire_at, mark_at, mark_next;
  std::vector<bool> fire_runs;
  int claimable = 0;  // fire times that will run, across the batch
  for (const auto& r : rows) {
    // The batch holds `slots` runs: the schedules left are unlocked at
    // commit, untouched, still due. (A schedule's fire times are never split
    // by the batch, which would break run_once's "only the most recent".)
    if (claimable >= slots) break;
    const long long id = r[0].as<long long>();
    const std::string misfire = r[3].as<std::string>();
    const double deadline = r[4].as<double>();
    const cron::Instant watermark{std::chrono::seconds(static_cast<long long>(std::floor(r[5].as<double>())))};
    std::vector<cron::Instant> due;
    std::optional<cron::Instant> next;
    try {
      const auto* tz = cron::zone(r[2].as<std::string>());
      const auto e = cron::parse(r[1].as<std::string>(), allow_seconds);
      cron::Instant t = watermark;
      for (;;) {
        next = cron::next_after(e, tz, t);
        if (!next || static_cast<double>(next->time_since_epoch().count()) > now) break;
        if (static_cast<int>(due.size()) >= kMaxPerScheduleTick) break;  // the rest next tick
        due.push_back(*next);
        t = *next;
      }
    } catch (const std::exception& ex) {
      log.error("schedule {}: {}: paused", id, ex.what());
      paused.push_back(id);
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
    if (misfire == "run_once" && !any_on_time && !due.empty()) run.back() = true;  // the most recent late one
    for (std::size_t i = 0; i < due.size(); ++i) {
      fire_schedule.push_back(id);
      fire_at.push_back(static_cast<double>(due[i].time_since_epoch().count()));
      fire_runs.push_back(run[i]);
      claimable += run[i] ? 1 : 0;
    }
    mark_schedule.push_back(id);
    mark_at.push_back(due.empty() ? static_cast<double>(watermark.time_since_epoch().count())
                                  : static_cast<double>(due.back().time_since_epoch().count()));
    mark_next.push_back(next ? static_cast<double>(next->time_since_epoch().count()) : std::nan(""));
  }
  // The claim itself, one statement for the whole batch: a row per fire time
  // (claimed with a fresh lease, or recorded missed), watermarks moved,
  // broken schedules paused. A row that already exists belongs to whoever
  // inserted it (ON CONFLICT DO NOTHING): that is the exactly-once guarantee,
  // whatever the schedule locks did.
  const auto claimed = tx.exec_params(
      "WITH pause AS (UPDATE dihya.schedules SET paused = true WHERE id = ANY($6::bigint[])), "
      "marks AS (UPDATE dihya.schedules s SET last_due_at = to_timestamp(m.mark), next_due_at = to_timestamp(m.nxt) "
      "  FROM unnest($7::bigint[], $8::float8[], $9::float8[]) AS m(id, mark, nxt) WHERE s.id = m.id), "
      "fire AS (SELECT f.sid, f.at, f.run, f.ord, s.misfire "
      "  FROM unnest($3::bigint[], $4::float8[], $5::boolean[]) WITH ORDINALITY AS f(sid, at, run, ord) "
      "  JOIN dihya.schedules s ON s.id = f.sid), "
      "ins AS (INSERT INTO dihya.schedule_runs "
      "  (schedule_id, due_at, claimed_by, claimed_at, heartbeat_at, finished_at, outcome, note) "
      "  SELECT sid, to_timestamp(at), $1, to_timestamp($2::float8), "
      "    CASE WHEN run THEN to_timestamp($2::float8) END, CASE WHEN run THEN NULL ELSE to_timestamp($2::float8) END, "
      "    CASE WHEN run THEN 'claimed' ELSE 'missed' END, "
      "    CASE WHEN run THEN NULL ELSE format('misfire %s: %s s late', misfire, round($2::float8 - at)) END "
      "  FROM fire ORDER BY ord "
      "  ON CONFLICT (schedule_id, due_at) DO NOTHING RETURNING id, schedule_id, due_at, outcome) "
      "SELECT id, schedule_id, extract(epoch FROM due_at)::float8, outcome = 'claimed' FROM ins",
      me_, num(now), ids(fire_schedule), times(fire_at), flags(fire_runs), ids(paused), ids(mark_schedule),
      times(mark_at), times(mark_next));
  tx.commit();
  runs.reserve(static_cast<std::size_t>(claimable));
  for (const auto& r : claimed) {
    if (!r[3].as<bool>()) {
      ++*missed;
      continue;
    }
    runs.push_back({r[0].as<long long>(), r[1].as<long long>(), r[2].as<double>(), false});
  }
  // Oldest first, as the fire times were computed (RETURNING has no order).
  std::sort(runs.begin(), runs.end(), [](const ClaimedRun& a, const ClaimedRun& b) {
    return a.due != b.due ? a.due < b.due : a.row < b.row;
  });
  return runs;
}

std::optional<double> Claims::next_due() {
  pqxx::nontransaction tx(db_);
  const auto r =
      tx.exec1("SELECT extract(epoch FROM min(next_due_at))::float8 FROM dihya.schedules WHERE NOT paused");
  if (r[0].is_null()) return std::nullopt;
  return r[0].as<double>();
}

std::optional<long long> Claims::insert_manual(long long schedule, double now, bool* missing) {
  pqxx::work tx(db_);
  const auto s = tx.exec_params("SELECT id FROM dihya.schedules WHERE id = $1 FOR UPDATE", schedule);
  *missing = s.empty();
  if (s.empty()) return std::nullopt;
  const auto r = tx.exec_params(
      "INSERT INTO dihya.schedule_runs (schedule_id, due_at, claimed_by, claimed_at, heartbeat_at, manual) "
      "VALUES ($1, to_timestamp($2::float8), $3, to_timestamp($2::float8), to_timestamp($2::float8), true) "
      "ON CONFLICT DO NOTHING RETURNING id",
      schedule, num(now), me_);
  tx.commit();
  if (r.empty()) return std::nullopt;
  return r[0][0].as<long long>();
}

std::vector<StartDecision> Claims::start(const std::vector<ClaimedRun>& runs, double now, const std::string& host) {
  std::vector<StartDecision> decisions(runs.size());
  if (runs.empty()) return decisions;
  std::vector<long long> schedule_ids;
  for (const auto& run : runs) schedule_ids.push_back(run.schedule);
  pqxx::work tx(db_);
  // Row locks in id order: two schedulers starting overlapping sets wait for
  // each other instead of deadlocking.
  const auto specs = exec_prepared(
      tx, "start_specs",
      "SELECT id, plugin, params::text, overlap, timeout_seconds FROM dihya.schedules WHERE id = ANY($1::bigint[]) "
      "ORDER BY id FOR UPDATE",
      ids(schedule_ids));
  struct Spec {
    JobSpec job;
    std::string overlap;
  };
  std::map<long long, Spec> by_id;
  for (const auto& r : specs) {
    Spec spec;
    spec.job.plugin = r[1].as<std::string>();
    spec.job.params = nlohmann::json::parse(r[2].as<std::string>());
    spec.overlap = r[3].as<std::string>();
    if (!r[4].is_null()) spec.job.timeout = r[4].as<long long>();
    by_id.emplace(r[0].as<long long>(), std::move(spec));
  }
  // overlap allow: every run of the batch is marked running by one statement;
  // forbid and replace depend on the runs before them, so one by one, in order.
  std::vector<long long> allowed;
  std::vector<long long> started;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto spec = by_id.find(runs[i].schedule);
    if (spec == by_id.end()) continue;  // removed meanwhile (gone): its rows went with it
    decisions[i].job = spec->second.job;
    if (spec->second.overlap == "allow") {
      allowed.push_back(runs[i].row);
      continue;
    }
    if (overlap_allows(tx, runs[i], spec->second.overlap, now, &decisions[i])) started.push_back(runs[i].row);
  }
  allowed.insert(allowed.end(), started.begin(), started.end());
  static const std::string kStartRuns = fmt::format(
      "UPDATE dihya.schedule_runs SET outcome = 'running', started_at = coalesce(started_at, to_timestamp($2::float8)), "
      "heartbeat_at = to_timestamp($2::float8), attempt = attempt + 1, host = $4, next_attempt_at = NULL "
      "WHERE id = ANY($1::bigint[]) AND claimed_by = $3 AND {} RETURNING id",
      still_open("finished_at"));
  const auto ok = exec_prepared(tx, "start_runs", kStartRuns, ids(allowed), num(now), me_, host);
  tx.commit();
  std::set<long long> running;
  for (const auto& r : ok) running.insert(r[0].as<long long>());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (decisions[i].verdict == StartDecision::skipped || decisions[i].job.plugin.empty()) continue;
    // Not updated: taken over by another scheduler while we stalled.
    decisions[i].verdict = running.count(runs[i].row) != 0 ? StartDecision::run : StartDecision::taken_over;
  }
  return decisions;
}

bool Claims::overlap_allows(pqxx::work& tx, const ClaimedRun& run, const std::string& overlap, double now,
                            StartDecision* decision) {
  const auto others = tx.exec_params(
      "SELECT id, coalesce(run_id, '') FROM dihya.schedule_runs WHERE schedule_id = $1 AND id <> $2 "
      "AND finished_at IS NULL AND outcome IN ('running', 'retry_wait')",
      run.schedule, run.row);
  if (others.empty()) {
    // Marked running now, so that a later run of the same schedule in this
    // batch sees it (the batch's final UPDATE repeats it harmlessly).
    tx.exec_params(
        "UPDATE dihya.schedule_runs SET outcome = 'running' WHERE id = $1 AND claimed_by = $2 AND finished_at IS NULL",
        run.row, me_);
    return true;
  }
  if (overlap == "forbid") {
    tx.exec_params(
        "UPDATE dihya.schedule_runs SET outcome = 'skipped', finished_at = to_timestamp($2::float8), "
        "note = $3 WHERE id = $1 AND claimed_by = $4 AND finished_at IS NULL",
        run.row, num(now), fmt::format("overlap forbid: run row {} still going", others[0][0].as<long long>()), me_);
    decision->verdict = StartDecision::skipped;
    return false;
  }
  // replace: the old run's owner cancels it at its next heartbeat (or, when ours, now).
  for (const auto& o : others) {
    tx.exec_params(
        "UPDATE dihya.schedule_runs SET outcome = 'replaced', finished_at = to_timestamp($2::float8), "
        "note = $3 WHERE id = $1",
        o[0].as<long long>(), num(now), fmt::format("overlap replace: replaced by the run due at row {}", run.row));
    decision->replaced_rows.push_back(o[0].as<long long>());
  }
  tx.exec_params(
      "UPDATE dihya.schedule_runs SET outcome = 'running' WHERE id = $1 AND claimed_by = $2 AND finished_at IS NULL",
      run.row, me_);
  return true;
}

std::set<long long> Claims::release(const std::vector<long long>& rows, double now) {
  std::set<long long> released;
  if (rows.empty()) return released;
  pqxx::nontransaction tx(db_);
  const auto r = tx.exec_params(
      "UPDATE dihya.schedule_runs SET heartbeat_at = '-infinity', note = $3 "
      "WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND started_at IS NULL AND finished_at IS NULL RETURNING id",
      ids(rows), me_, fmt::format("given back by {} (stopping) at {}", me_, num(now)));
  for (const auto& row : r) released.insert(row[0].as<long long>());
  return released;
}

void Claims::set_pids(const std::vector<long long>& rows, const std::vector<long long>& pids) {
  if (rows.empty()) return;
  pqxx::nontransaction tx(db_);
  exec_prepared(tx, "set_pids",
                "UPDATE dihya.schedule_runs r SET pid = p.pid FROM unnest($1::bigint[], $2::integer[]) AS p(id, pid) "
                "WHERE r.id = p.id",
                ids(rows), ids(pids));
}

namespace {

// Job outputs are untrusted text: NUL bytes (which jsonb refuses) dropped,
// invalid UTF-8 replaced when dumped.
std::string storable(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), '\0'), text.end());
  if (text.size() > 4000) text.resize(4000);
  return text;
}

std::string json_text(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

std::vector<ExitDecision> Claims::record_exits(const std::vector<JobExit>& exits, double now, double speed) {
  std::vector<ExitDecision> decisions(exits.size());
  if (exits.empty()) return decisions;
  // The batch travels as one jsonb parameter (text of any kind, bound, never
  // spliced into the statement).
  nlohmann::json batch = nlohmann::json::array();
  std::vector<long long> rows;  // also as an array: the rows are looked up by id
  for (const auto& e : exits) {
    rows.push_back(e.row);
    batch.push_back({{"id", e.row}, {"outcome", e.outcome}, {"code", e.code}, {"run_id", storable(e.run_id)},
                     {"note", storable(e.note)}, {"may_retry", e.may_retry}});
  }
  pqxx::nontransaction tx(db_);
  // One UPDATE for every exit, fenced like finish(): a retry when allowed
  // and attempts remain, else the final outcome.
  constexpr const char* kRetry = "(x.may_retry AND r.attempt <= s.retries)";
  static const std::string kRecordExits =
      fmt::format(
          "UPDATE dihya.schedule_runs r SET "
          "outcome = CASE WHEN {0} THEN 'retry_wait' ELSE x.outcome END, "
          "finished_at = CASE WHEN {0} THEN NULL ELSE to_timestamp($2::float8) END, "
          "exit_code = x.code, "
          "run_id = CASE WHEN {0} THEN nullif(x.run_id, '') ELSE coalesce(nullif(x.run_id, ''), r.run_id) END, "
          "next_attempt_at = CASE WHEN {0} THEN to_timestamp($2::float8 + s.backoff_seconds::float8 * "
          "  power(2, r.attempt - 1) * $3::float8) ELSE r.next_attempt_at END, "
          "note = CASE WHEN {0} THEN format('attempt %s %s: %s', r.attempt, x.outcome, left(x.note, 300)) "
          "  ELSE nullif(left(x.note, 500), '') END "
          "FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, outcome text, code int, run_id text, note text, "
          "  may_retry boolean), dihya.schedules s "
          "WHERE r.id = ANY($5::bigint[]) AND r.id = x.id AND s.id = r.schedule_id AND r.claimed_by = $4 AND {1} "
          "RETURNING r.id, r.outcome = 'retry_wait', r.attempt, coalesce(extract(epoch FROM r.next_attempt_at), 0)::float8",
          kRetry, still_open("r.finished_at"));
  const auto r = exec_prepared(tx, "record_exits", kRecordExits, json_text(batch), num(now), num(speed), me_, ids(rows));
  std::map<long long, ExitDecision> decided;
  for (const auto& row : r) {
    ExitDecision d;
    d.verdict = row[1].as<bool>() ? ExitDecision::retry : ExitDecision::finished;
    d.attempt = row[2].as<int>();
    d.retry_at = row[3].as<double>();
    decided.emplace(row[0].as<long long>(), d);
  }
  // Replaced or declared lost meanwhile: keep that verdict, note the run id.
  nlohmann::json kept = nlohmann::json::array();
  for (std::size_t i = 0; i < exits.size(); ++i) {
    const auto it = decided.find(exits[i].row);
    if (it != decided.end()) {
      decisions[i] = it->second;
      continue;
    }
    decisions[i].verdict = ExitDecision::kept;
    kept.push_back(batch[i]);
  }
  if (!kept.empty()) {
    tx.exec_params(
        "UPDATE dihya.schedule_runs r SET run_id = coalesce(r.run_id, nullif(x.run_id, '')), exit_code = x.code "
        "FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, run_id text, code int) WHERE r.id = x.id",
        json_text(kept));
  }
  return decisions;
}

void Claims::finish(long long row, double now, const std::string& outcome, std::optional<int> code,
                    const std::string& run_id, const std::string& note) {
  pqxx::nontransaction tx(db_);
  tx.exec_params(
      "UPDATE dihya.schedule_runs SET outcome = $2, finished_at = to_timestamp($3::float8), "
      "exit_code = $4, run_id = coalesce(nullif($5, ''), run_id), note = nullif($6, '') "
      "WHERE id = $1 AND claimed_by = $7 AND finished_at IS NULL",
      row, outcome, num(now), code, run_id, note.substr(0, 500), me_);
}

std::optional<Claims::RowOutcome> Claims::outcome_of(long long row) {
  pqxx::nontransaction tx(db_);
  const auto r = tx.exec_params(
      "SELECT outcome, coalesce(run_id, ''), coalesce(note, '') FROM dihya.schedule_runs WHERE id = $1", row);
  if (r.empty()) return std::nullopt;
  return RowOutcome{r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::string>()};
}

nlohmann::json Claims::preview(double now, bool allow_seconds, std::string* report) {
  nlohmann::json due = nlohmann::json::array();
  pqxx::nontransaction tx(db_);
  const auto rows = tx.exec_params(
      "SELECT id, name, cron, tz, floor(extract(epoch FROM coalesce(last_due_at, created_at)))::bigint "
      "FROM dihya.schedules WHERE NOT paused AND next_due_at <= to_timestamp($1::float8) ORDER BY next_due_at",
      num(now));
  for (const auto& r : rows) {
    const auto* tz = cron::zone(r[3].as<std::string>());
    const auto e = cron::parse(r[2].as<std::string>(), allow_seconds);
    cron::Instant t{std::chrono::seconds(r[4].as<long long>())};
    int n = 0;
    while (auto next = cron::next_after(e, tz, t)) {
      if (static_cast<double>(next->time_since_epoch().count()) > now || n >= kMaxPerScheduleTick) break;
      due.push_back({{"schedule_id", r[0].as<long long>()}, {"name", r[1].as<std::string>()},
                     {"due_at", cron::format_iso(*next, tz)}});
      *report += fmt::format("would claim {} ({}) due {}\n", r[1].as<std::string>(), r[0].as<long long>(),
                             cron::format_iso(*next, tz));
      t = *next;
      ++n;
    }
  }
  return due;
}

}  // namespace dihya_run_scheduler
