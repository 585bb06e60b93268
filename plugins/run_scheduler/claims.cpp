// SPDX-License-Identifier: AGPL-3.0-or-later
#include "claims.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <dihya/cron.hpp>
#include <dihya/error.hpp>
#include <dihya/json_text.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <dihya/plugin.hpp>
#include <dihya/schedule_store.hpp>
#include <fmt/format.h>

namespace dihya_run_scheduler {
namespace cron = dihya::cron;

namespace {

constexpr int kMaxPerScheduleTick = 100;  // fire times per schedule per tick (run_all catching up)
constexpr double kDefaultDeadline = 60;   // starting_deadline_seconds when a schedule sets none
constexpr double kMaxBackoffSeconds = 366 * 86400.0;  // a retry waits at most this long
// Watermarks a schedule may hold: from the epoch to the end of year 9999.
// Outside (a row written by hand: '-infinity', year 1) the fire times since
// it could not be stored (timestamptz's range) or would be a billion rows.
constexpr double kEarliestWatermark = 0;
constexpr double kLatestWatermark = 253402300799;

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

// Text from a row written by hand, quoted for a message: control characters
// escaped, at most 64 bytes, invalid UTF-8 replaced.
std::string quoted(const std::string& text) {
  return nlohmann::json(text.substr(0, 64)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

JobSpec job_spec(const std::string& plugin, const std::string& params, std::optional<long long> timeout) {
  JobSpec job;
  job.plugin = plugin;
  job.timeout = timeout;
  if (!dihya::is_plugin_name(plugin)) {
    job.refused = fmt::format("plugin {} is not a plugin name ([a-z][a-z0-9_]*, at most 64)", quoted(plugin));
    return job;
  }
  try {
    job.params = dihya::parse_json_limited(params, kMaxParamsDepth);
  } catch (const std::exception& e) {
    job.params = nlohmann::json::object();
    job.refused = fmt::format("params: {}", e.what());
    return job;
  }
  if (!job.params.is_object()) {
    job.refused = fmt::format("params: a JSON object of key=value expected, not {}", job.params.type_name());
    job.params = nlohmann::json::object();
    return job;
  }
  for (const auto& item : job.params.items()) {
    if (item.key().empty() || item.key().find('=') != std::string::npos) {
      job.refused = fmt::format("params: {} is not a parameter name", quoted(item.key()));
      return job;
    }
  }
  return job;
}

// The statements run at every start, exit and heartbeat are prepared, once
// per connection (libpqxx prepares a name on its first use, again after a
// reconnect): PostgreSQL parses and plans them once instead of at each call.
template <typename Tx, typename... Args>
pqxx::result Claims::exec_prepared(Tx& tx, const char* name, const std::string& sql, Args&&... args) {
  db_.prepare(name, sql);  // a no-op once defined with the same text
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

void Claims::secure_session() {
  pqxx::nontransaction tx(db_);
  tx.exec(dihya::pg::kPinnedSearchPathSql);
  const std::string foreign = tx.exec1(dihya::schedule::kForeignOwnedSql)[0].as<std::string>();
  if (!foreign.empty()) {
    throw dihya::Error(
        dihya::schedule::untrusted_schema_message(foreign, tx.exec1("SELECT current_user")[0].as<std::string>()));
  }
}

bool Claims::schema_exists() {
  secure_session();
  pqxx::nontransaction tx(db_);
  return !tx.exec1("SELECT to_regclass('dihya.schedule_runs')")[0].is_null();
}

void Claims::ensure_schema() {
  secure_session();
  {
    pqxx::nontransaction tx(db_);
    if (!tx.exec1(dihya::schedule::kSchemaCurrentSql)[0].is_null()) return;
  }
  pqxx::work tx(db_);
  tx.exec(dihya::schedule::kSchemaLockSql);
  dihya::pg::refuse_untrusted_event_triggers(tx, "create the scheduler's tables");
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
  // An unfinished row without a heartbeat or an owner, or `running` but
  // never started, was written by hand (a scheduler always sets them): left
  // alone it held its schedule's overlap=forbid for ever. Stale, it is dead too.
  // A retry given back by a stopping scheduler (release()) is taken over
  // once its backoff is over, never lost: its last attempt had ended.
  pqxx::work tx(db_);
  const auto taken = tx.exec_params(
      "UPDATE dihya.schedule_runs SET claimed_by = $1, claimed_at = to_timestamp($2::float8), "
      "heartbeat_at = to_timestamp($2::float8), note = 'taken over from ' || coalesce(claimed_by, '?') "
      "WHERE id IN (SELECT id FROM dihya.schedule_runs WHERE finished_at IS NULL AND (started_at IS NULL "
      "AND outcome = 'claimed' AND coalesce(heartbeat_at, '-infinity') < to_timestamp($2::float8 - $3::float8) "
      "OR outcome = 'retry_wait' AND heartbeat_at = '-infinity' AND next_attempt_at <= to_timestamp($2::float8)) "
      "ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
      "RETURNING id, schedule_id, extract(epoch FROM due_at)::float8, manual, "
      "(SELECT overlap FROM dihya.schedules s WHERE s.id = schedule_id)",
      me_, num(now), num(lease), std::max(0, slots));
  const auto dead = tx.exec_params(
      "UPDATE dihya.schedule_runs SET outcome = 'lost', finished_at = to_timestamp($1::float8), "
      "note = 'scheduler ' || coalesce(claimed_by, '?') || ' stopped heart-beating' "
      "WHERE finished_at IS NULL AND (started_at IS NOT NULL OR outcome <> 'claimed') AND claimed_by IS DISTINCT FROM $3 "
      "AND NOT (outcome = 'retry_wait' AND heartbeat_at = '-infinity') "
      "AND coalesce(heartbeat_at, '-infinity') < to_timestamp($1::float8 - $2::float8) RETURNING id",
      num(now), num(lease), me_);
  tx.commit();
  std::vector<ClaimedRun> runs;
  for (const auto& r : taken) {
    runs.push_back({r[0].as<long long>(), r[1].as<long long>(), r[2].as<double>(), r[3].as<bool>(),
                    r[4].is_null() ? std::string() : r[4].as<std::string>()});
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

// A schedule's watermark (seconds) as an instant; throws when it is out of
// range, which pauses the schedule like an expression that no longer parses.
cron::Instant watermark_of(double seconds) {
  if (!(seconds >= kEarliestWatermark && seconds <= kLatestWatermark)) {
    throw dihya::Error(fmt::format("last_due_at or created_at {} is out of range (1970 to 9999)", seconds));
  }
  return cron::Instant{std::chrono::seconds(static_cast<long long>(std::floor(seconds)))};
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
      "extract(epoch FROM coalesce(last_due_at, created_at))::float8, overlap "
      "FROM dihya.schedules WHERE NOT paused AND next_due_at <= to_timestamp($1::float8) "
      "ORDER BY next_due_at LIMIT $3 FOR UPDATE SKIP LOCKED",
      num(now), num(kDefaultDeadline), slots);
  // Fire times (computed here: cron and time zones are the SDK's, not SQL's).
  std::vector<long long> fire_schedule, mark_schedule, paused;
  std::vector<double> fire_at, mark_at, mark_next;
  std::vector<bool> fire_runs;
  std::map<long long, std::string> overlap_of;
  int claimable = 0;  // fire times that will run, across the batch
  for (const auto& r : rows) {
    // The batch holds `slots` runs: the schedules left are unlocked at
    // commit, untouched, still due. (A schedule's fire times are never split
    // by the batch, which would break run_once's "only the most recent".)
    if (claimable >= slots) break;
    const long long id = r[0].as<long long>();
    const std::string misfire = r[3].as<std::string>();
    const double deadline = r[4].as<double>();
    overlap_of[id] = r[6].as<std::string>();
    std::vector<cron::Instant> due;
    std::optional<cron::Instant> next;
    cron::Instant watermark;
    bool caught_up = false;  // the fire times reach the clock (not cut at kMaxPerScheduleTick)
    try {
      watermark = watermark_of(r[5].as<double>());
      const auto* tz = cron::zone(r[2].as<std::string>());
      const auto e = cron::parse(r[1].as<std::string>(), allow_seconds);
      cron::Instant t = watermark;
      for (;;) {
        next = cron::next_after(e, tz, t);
        caught_up = !next || static_cast<double>(next->time_since_epoch().count()) > now;
        if (caught_up) break;
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
    // The most recent late one, once the fire times reach the clock: the last
    // of a batch cut at kMaxPerScheduleTick is not (a day of a minutely
    // schedule missed made 15 runs instead of one).
    if (misfire == "run_once" && !any_on_time && caught_up && !due.empty()) run.back() = true;
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
    runs.push_back({r[0].as<long long>(), r[1].as<long long>(), r[2].as<double>(), false, overlap_of[r[1].as<long long>()]});
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
    spec.job = job_spec(r[1].as<std::string>(), r[2].as<std::string>(),
                        r[4].is_null() ? std::nullopt : std::optional<long long>(r[4].as<long long>()));
    spec.overlap = r[3].as<std::string>();
    by_id.emplace(r[0].as<long long>(), std::move(spec));
  }
  // overlap allow: every run of the batch is marked running by one statement;
  // forbid and replace depend on the runs before them, so one by one, in order.
  std::vector<long long> allowed;
  std::vector<long long> started;
  std::vector<bool> found(runs.size(), false);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto spec = by_id.find(runs[i].schedule);
    if (spec == by_id.end()) continue;  // removed meanwhile (gone): its rows went with it
    found[i] = true;
    decisions[i].job = spec->second.job;
    if (spec->second.overlap == "allow") {
      allowed.push_back(runs[i].row);
      continue;
    }
    if (overlap_allows(tx, runs[i], spec->second.overlap, now, &decisions[i])) started.push_back(runs[i].row);
  }
  allowed.insert(allowed.end(), started.begin(), started.end());
  // attempt is capped: a row written by hand at the integer's limit made
  // this statement fail, for the whole batch, in every scheduler that took it over.
  static const std::string kStartRuns = fmt::format(
      "UPDATE dihya.schedule_runs SET outcome = 'running', started_at = coalesce(started_at, to_timestamp($2::float8)), "
      "heartbeat_at = to_timestamp($2::float8), attempt = least(attempt, 2147483646) + 1, host = $4, "
      "next_attempt_at = NULL "
      "WHERE id = ANY($1::bigint[]) AND claimed_by = $3 AND {} RETURNING id",
      still_open("finished_at"));
  const auto ok = exec_prepared(tx, "start_runs", kStartRuns, ids(allowed), num(now), me_, host);
  tx.commit();
  std::set<long long> running;
  for (const auto& r : ok) running.insert(r[0].as<long long>());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (decisions[i].verdict == StartDecision::skipped || !found[i]) continue;
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
      "WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND (started_at IS NULL OR outcome = 'retry_wait') "
      "AND finished_at IS NULL RETURNING id",
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
  // and attempts remain, else the final outcome. The doubled backoff is
  // capped: past timestamptz's range (an attempt written by hand; a one-day
  // backoff at attempt 28) it made the statement fail, and with it the
  // scheduler and the record of every job that ended in the batch.
  constexpr const char* kRetry = "(x.may_retry AND r.attempt <= s.retries)";
  static const std::string kRecordExits =
      fmt::format(
          "UPDATE dihya.schedule_runs r SET "
          "outcome = CASE WHEN {0} THEN 'retry_wait' ELSE x.outcome END, "
          "finished_at = CASE WHEN {0} THEN NULL ELSE to_timestamp($2::float8) END, "
          "exit_code = x.code, "
          "run_id = CASE WHEN {0} THEN nullif(x.run_id, '') ELSE coalesce(nullif(x.run_id, ''), r.run_id) END, "
          "next_attempt_at = CASE WHEN {0} THEN to_timestamp($2::float8 + least(s.backoff_seconds::float8 * "
          "  power(2, least(greatest(r.attempt - 1, 0), 40)), {2}) * $3::float8) ELSE r.next_attempt_at END, "
          "note = CASE WHEN {0} THEN format('attempt %s %s: %s', r.attempt, x.outcome, left(x.note, 300)) "
          "  ELSE nullif(left(x.note, 500), '') END "
          "FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, outcome text, code int, run_id text, note text, "
          "  may_retry boolean), dihya.schedules s "
          "WHERE r.id = ANY($5::bigint[]) AND r.id = x.id AND s.id = r.schedule_id AND r.claimed_by = $4 AND {1} "
          "RETURNING r.id, r.outcome = 'retry_wait', r.attempt, coalesce(extract(epoch FROM r.next_attempt_at), 0)::float8",
          kRetry, still_open("r.finished_at"), kMaxBackoffSeconds);
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
      "SELECT id, name, cron, tz, extract(epoch FROM coalesce(last_due_at, created_at))::float8 "
      "FROM dihya.schedules WHERE NOT paused AND next_due_at <= to_timestamp($1::float8) ORDER BY next_due_at",
      num(now));
  for (const auto& r : rows) {
    // One broken schedule is reported, as a tick would pause it; the others are still previewed.
    const cron::Zone* tz = nullptr;
    std::optional<cron::Expression> e;
    cron::Instant t;
    try {
      t = watermark_of(r[4].as<double>());
      tz = cron::zone(r[3].as<std::string>());
      e = cron::parse(r[2].as<std::string>(), allow_seconds);
    } catch (const std::exception& ex) {
      *report += fmt::format("would pause schedule {}: {}\n", r[0].as<long long>(), ex.what());
      continue;
    }
    int n = 0;
    while (auto next = cron::next_after(*e, tz, t)) {
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
