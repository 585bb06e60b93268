// SPDX-License-Identifier: AGPL-3.0-or-later
// The scheduler's tables, shared by `dihya-host schedule ...` (host, libpq) and
// the run_scheduler plugin (libpqxx) so both create and read the same schema.
//
// dihya.schedules: one row per schedule. `params` holds the job's parameters
// as the operator typed them (`--param key=value` texts); secrets only by
// reference ("@env:VAR", "@file:/path"), resolved by `dihya-host run` when the
// job starts. `last_due_at` is the watermark: the latest fire time already
// dispatched (run, skipped or missed); `next_due_at` the next one, so a tick
// only looks at (and row-locks) schedules that are due.
//
// dihya.schedule_runs: one row per (schedule, due time), UNIQUE: whoever
// inserts it first owns it, which is what makes each due run happen once.
// outcome: claimed -> running -> succeeded | failed | timed_out | cancelled,
// or skipped (overlap forbid), missed (misfire policy), lost (its scheduler
// stopped heart-beating), replaced (overlap replace), retry_wait (between attempts).
//
// Whoever changes dihya.schedules wakes the schedulers: a trigger sends
// NOTIFY on kChangedChannel for every insert, update or delete (PostgreSQL
// delivers one per transaction), so a scheduler sleeps until the next due
// time or that notification instead of polling, whether the change came from
// `dihya-host schedule`, another scheduler or plain SQL.
//
// A row written without next_due_at (plain SQL), or whose cron or tz changes
// without next_due_at changing too, gets next_due_at = its watermark
// (last_due_at, else created_at) from a second trigger: due at once, so the
// next tick computes its real next fire time (the cron and time zones are
// the SDK's, not SQL's), or pauses it when its cron or zone does not parse.
// A change of cron or tz also moves the watermark to now (as `schedule
// resume` does): the new expression fires from the change on, it does not
// catch up its fire times since the last run. NULL stays "never fires again".
//
// SDK support (Dihya::schedule_store), not plugin API: no stability promise.
// The host knows these tables because `dihya-host schedule` manages them.
#pragma once

#include <string>
#include <vector>

#include <dihya/advisory_lock.hpp>
#include <dihya/pg_search_path.hpp>

namespace dihya::schedule {

// Taken around the DDL so that many schedulers starting at once do not race
// on CREATE ... IF NOT EXISTS (which is not concurrency-safe in PostgreSQL).
// The key is the registry's (dihya/advisory_lock.hpp), spelled out because the
// host sends this text through its own libpq wrapper.
inline constexpr const char* kSchemaLockSql = "SELECT pg_advisory_xact_lock(7366173720934)";
static_assert(dihya::lock_key::kScheduleSchema == 7366173720934, "kSchemaLockSql must use the registry's key");

// The scheduler's objects (schema dihya, its two tables, the notify
// function) that neither the role we connect as nor a superuser owns, in one
// line; empty when there are none. A role that created them before the first
// scheduler or `schedule add` owns them, and with them triggers, rules and
// defaults that run with our privileges at each claim or `schedule add`:
// schedulers often connect as a superuser, and such a role made itself one.
// (Other tables of the schema, the templates', may belong to other roles: we
// never touch them.) Both refuse to go on with untrusted_schema_message().
inline constexpr const char* kForeignOwnedSql =
    "SELECT coalesce(string_agg(format('%s %s (owner %s)', kind, name, pg_get_userbyid(owner)), ', '), '') "
    "FROM (SELECT 'schema' AS kind, nspname::text AS name, nspowner AS owner FROM pg_namespace WHERE nspname = 'dihya' "
    "  UNION ALL SELECT 'relation', oid::regclass::text, relowner FROM pg_class "
    "    WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'dihya') "
    "    AND relname IN ('schedules', 'schedule_runs') "
    "  UNION ALL SELECT 'function', oid::regprocedure::text, proowner FROM pg_proc "
    "    WHERE pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'dihya') AND proname = 'schedules_changed') o "
    "WHERE owner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) "
    "AND NOT (SELECT rolsuper FROM pg_roles WHERE oid = o.owner)";

// `foreign`: what kForeignOwnedSql returned (not empty); `user`: current_user.
inline std::string untrusted_schema_message(const std::string& foreign, const std::string& user) {
  return "the scheduler's tables are not trusted: " + foreign.substr(0, 500) + " owned by neither " + user +
         " nor a superuser: check them for triggers, rules and defaults, then drop them or give them to that role "
         "(ALTER ... OWNER TO)";
}

// The channel the trigger notifies; payload empty.
inline constexpr const char* kChangedChannel = "dihya_schedules";

// One row, NULL when the schema is missing or older than this header (no
// next_due_at trigger yet, the last object schema_statements() adds): then
// schema_statements() must run (they are idempotent).
inline constexpr const char* kSchemaCurrentSql =
    "SELECT (SELECT tgname::text FROM pg_trigger WHERE tgrelid = to_regclass('dihya.schedules') "
    "AND tgname = 'schedules_due_reset')";

inline const std::vector<std::string>& schema_statements() {
  static const std::vector<std::string> kStatements{
      "CREATE SCHEMA IF NOT EXISTS dihya",
      "CREATE TABLE IF NOT EXISTS dihya.schedules ("
      " id bigserial PRIMARY KEY,"
      " name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),"
      " plugin text NOT NULL,"
      " params jsonb NOT NULL DEFAULT '{}',"
      " cron text NOT NULL,"
      " tz text NOT NULL DEFAULT 'UTC',"
      " misfire text NOT NULL DEFAULT 'run_once' CHECK (misfire IN ('skip','run_once','run_all')),"
      " starting_deadline_seconds integer CHECK (starting_deadline_seconds > 0),"
      " overlap text NOT NULL DEFAULT 'forbid' CHECK (overlap IN ('allow','forbid','replace')),"
      " timeout_seconds integer CHECK (timeout_seconds > 0),"
      " retries integer NOT NULL DEFAULT 0 CHECK (retries BETWEEN 0 AND 100),"
      " backoff_seconds integer NOT NULL DEFAULT 30 CHECK (backoff_seconds >= 0),"
      " paused boolean NOT NULL DEFAULT false,"
      " created_at timestamptz NOT NULL DEFAULT now(),"
      " last_due_at timestamptz,"
      " next_due_at timestamptz)",
      "CREATE INDEX IF NOT EXISTS schedules_due ON dihya.schedules (next_due_at) WHERE NOT paused",
      "CREATE TABLE IF NOT EXISTS dihya.schedule_runs ("
      " id bigserial PRIMARY KEY,"
      " schedule_id bigint NOT NULL REFERENCES dihya.schedules(id) ON DELETE CASCADE,"
      " due_at timestamptz NOT NULL,"
      " claimed_by text,"
      " claimed_at timestamptz,"
      " heartbeat_at timestamptz,"
      " started_at timestamptz,"
      " finished_at timestamptz,"
      " next_attempt_at timestamptz,"
      " run_id text,"
      " outcome text NOT NULL DEFAULT 'claimed',"
      " exit_code integer,"
      " attempt integer NOT NULL DEFAULT 0,"
      " manual boolean NOT NULL DEFAULT false,"
      " host text,"
      " pid integer,"
      " note text,"
      " UNIQUE (schedule_id, due_at))",
      "CREATE INDEX IF NOT EXISTS schedule_runs_open ON dihya.schedule_runs (schedule_id) WHERE finished_at IS NULL",
      // Row level, not statement level: a statement that changed nothing
      // (a scheduler finding nothing due) wakes nobody.
      "CREATE OR REPLACE FUNCTION dihya.schedules_changed() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN PERFORM pg_notify('dihya_schedules', ''); RETURN NULL; END$$",
      "CREATE OR REPLACE TRIGGER schedules_notify AFTER INSERT OR UPDATE OR DELETE ON dihya.schedules "
      "FOR EACH ROW EXECUTE FUNCTION dihya.schedules_changed()",
      // next_due_at of rows written by other means than `schedule add` or a
      // scheduler: see the top of this file. now() is the database clock,
      // the one `schedule add` and `resume` stamp with.
      "CREATE OR REPLACE FUNCTION dihya.schedules_due_reset() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN "
      "IF TG_OP = 'UPDATE' THEN "
      "  IF (NEW.cron, NEW.tz) IS NOT DISTINCT FROM (OLD.cron, OLD.tz) "
      "     OR NEW.next_due_at IS DISTINCT FROM OLD.next_due_at THEN RETURN NEW; END IF; "
      "  IF NEW.last_due_at IS NOT DISTINCT FROM OLD.last_due_at THEN "
      "    NEW.last_due_at := greatest(coalesce(OLD.last_due_at, OLD.created_at), now()); "
      "  END IF; "
      "  NEW.next_due_at := coalesce(NEW.last_due_at, NEW.created_at); "
      "ELSIF NEW.next_due_at IS NULL THEN "
      "  NEW.next_due_at := coalesce(NEW.last_due_at, NEW.created_at); "
      "END IF; "
      "RETURN NEW; END$$",
      "CREATE OR REPLACE TRIGGER schedules_due_reset BEFORE INSERT OR UPDATE OF cron, tz ON dihya.schedules "
      "FOR EACH ROW EXECUTE FUNCTION dihya.schedules_due_reset()",
      // Rows written by SQL before this trigger existed never fired: they
      // are looked at once (one that never fires again gets NULL back).
      "UPDATE dihya.schedules SET next_due_at = coalesce(last_due_at, created_at) "
      "WHERE next_due_at IS NULL AND NOT paused",
  };
  return kStatements;
}

}  // namespace dihya::schedule
