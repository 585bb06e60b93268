// SPDX-License-Identifier: AGPL-3.0-or-later
#include "history.hpp"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <dihya/error.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <pqxx/pqxx>
#include <thread>

namespace migrate_data {
namespace {

// "os-user@host" of the process applying migrations; current_user alone says
// which role, not which operator.
std::string os_identity() {
  std::string user;
  if (const passwd* pw = ::getpwuid(::geteuid())) user = pw->pw_name;
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  if (user.empty()) user = std::to_string(::geteuid());
  return " (" + user + (host[0] ? std::string("@") + host : std::string()) + ")";
}

}  // namespace

History::History(pqxx::connection& db, const std::string& schema, const std::string& table)
    : db_(db),
      schema_(schema),
      table_(db.quote_name(schema) + "." + db.quote_name(table)),
      progress_(db.quote_name(schema) + "." + db.quote_name(table + "_progress")),
      display_(schema + "." + table),
      applied_by_(os_identity()) {}

bool History::exists() {
  pqxx::nontransaction tx(db_);
  return tx.exec_params1("select pg_catalog.to_regclass($1::pg_catalog.text) is not null"
                        " and pg_catalog.to_regclass($2::pg_catalog.text) is not null", table_, progress_)[0]
      .as<bool>();
}

bool History::schema_exists() {
  pqxx::nontransaction tx(db_);
  return tx.exec_params1("select pg_catalog.to_regnamespace($1::pg_catalog.text) is not null", db_.quote_name(schema_))[0].as<bool>();
}

void History::create() {
  pqxx::work tx(db_);
  dihya::pg::refuse_untrusted_event_triggers(tx);
  if (tx.exec_params1("select pg_catalog.to_regnamespace($1::pg_catalog.text) is null", db_.quote_name(schema_))[0].as<bool>()) {
    tx.exec("create schema " + db_.quote_name(schema_));
  }
  tx.exec("create table if not exists " + table_ +
          " (installed_rank bigserial primary key,"
          " version text,"
          " name text not null,"
          " kind text not null check (kind in ('sql', 'data', 'repeatable')),"
          " script text not null,"
          " checksum text not null,"
          " applied_at timestamptz not null default clock_timestamp(),"
          " duration_ms bigint not null,"
          " applied_by text not null,"
          " run_id text not null,"
          " success boolean not null)");
  // One successful row per version: the history can never say a version is
  // applied twice, whatever two runs do.
  tx.exec("create unique index if not exists " + db_.quote_name(display_.substr(schema_.size() + 1) + "_version_key") +
          " on " + table_ + " (version) where success and version is not null");
  tx.exec("create table if not exists " + progress_ +
          " (version text primary key, last_key text not null, rows_done bigint not null,"
          " batches bigint not null, run_id text not null, updated_at timestamptz not null)");
  tx.commit();
}

std::vector<HistoryRow> History::rows() {
  pqxx::read_transaction tx(db_);
  guard(tx, dihya::pg::TableUse::read);
  std::vector<HistoryRow> out;
  for (const auto& r : tx.exec("select coalesce(version, ''), name, kind, script, checksum,"
                               " pg_catalog.to_char(applied_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'::pg_catalog.text),"
                               " applied_by, run_id, duration_ms, success from " +
                               table_ + " order by installed_rank")) {
    HistoryRow h;
    h.version = r[0].c_str();
    h.name = r[1].c_str();
    h.kind = r[2].c_str();
    h.script = r[3].c_str();
    h.checksum = r[4].c_str();
    h.applied_at = r[5].c_str();
    h.applied_by = r[6].c_str();
    h.run_id = r[7].c_str();
    h.duration_ms = r[8].as<long long>();
    h.success = r[9].as<bool>();
    out.push_back(std::move(h));
  }
  return out;
}

std::map<std::string, long long> History::in_progress() {
  pqxx::read_transaction tx(db_);
  guard(tx, dihya::pg::TableUse::read);
  std::map<std::string, long long> out;
  for (const auto& r : tx.exec("select version, rows_done from " + progress_)) out[r[0].c_str()] = r[1].as<long long>();
  return out;
}

void History::guard(pqxx::transaction_base& tx, dihya::pg::TableUse use) const {
  dihya::pg::refuse_untrusted_code(tx, {table_, progress_}, use);
}

void History::record(pqxx::transaction_base& tx, const AppliedScript& s, long long duration_ms,
                     const std::string& run_id) {
  guard(tx);
  if (!s.version.empty()) tx.exec_params("delete from " + table_ + " where version = $1 and not success", s.version);
  tx.exec_params("insert into " + table_ +
                     " (version, name, kind, script, checksum, duration_ms, applied_by, run_id, success)"
                     " values (nullif($1::pg_catalog.text, ''), $2, $3, $4, $5, $6, pg_catalog.concat(current_user, $7::pg_catalog.text),"
                     " $8, true)",
                 s.version, s.name, s.kind, s.script, s.checksum, duration_ms, applied_by_, run_id);
}

void History::record_failure(const AppliedScript& s, long long duration_ms, const std::string& run_id) {
  pqxx::work tx(db_);
  guard(tx);
  tx.exec_params("delete from " + table_ + " where version = $1 and not success", s.version);
  tx.exec_params("insert into " + table_ +
                     " (version, name, kind, script, checksum, duration_ms, applied_by, run_id, success)"
                     " values (nullif($1::pg_catalog.text, ''), $2, $3, $4, $5, $6, pg_catalog.concat(current_user, $7::pg_catalog.text),"
                     " $8, false)",
                 s.version, s.name, s.kind, s.script, s.checksum, duration_ms, applied_by_, run_id);
  tx.commit();
}

bool History::drop_if_empty(bool drop_schema) {
  pqxx::work tx(db_);
  if (!tx.exec_params1("select pg_catalog.to_regclass($1::pg_catalog.text) is not null"
                        " and pg_catalog.to_regclass($2::pg_catalog.text) is not null", table_, progress_)[0]
           .as<bool>()) {
    return true;
  }
  guard(tx, dihya::pg::TableUse::read);
  const bool empty =
      tx.exec1("select not exists (select 1 from " + table_ + ") and not exists (select 1 from " + progress_ + ")")[0]
          .as<bool>();
  if (!empty) return false;
  tx.exec("drop table " + progress_);
  tx.exec("drop table " + table_);
  tx.commit();
  if (drop_schema) {
    try {
      pqxx::work drop(db_);
      drop.exec("drop schema " + db_.quote_name(schema_));  // RESTRICT: only when empty
      drop.commit();
    } catch (const pqxx::sql_error&) {
      // Something else lives there now: keep it.
    }
  }
  return true;
}

MigrationLock::MigrationLock(pqxx::connection& db, const std::string& history_name) : db_(db), name_(history_name) {
  pqxx::nontransaction tx(db_);
  key_ = tx.exec_params1("select pg_catalog.hashtextextended($1::pg_catalog.text, 0::pg_catalog.int8)", "dihya migrate_data " + history_name)[0].as<long long>();
}

MigrationLock::~MigrationLock() {
  if (!held_) return;
  try {
    pqxx::nontransaction tx(db_);
    tx.exec_params("select pg_catalog.pg_advisory_unlock($1::pg_catalog.int8)", key_);
  } catch (...) {
    // The session's end releases it anyway.
  }
}

std::string MigrationLock::holder() {
  pqxx::nontransaction tx(db_);
  const auto r = tx.exec_params(
      "select l.pid, coalesce(a.application_name, ''), coalesce(pg_catalog.to_char(a.backend_start at time zone 'UTC',"
      " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'::pg_catalog.text), '') from pg_catalog.pg_locks l"
      " left join pg_catalog.pg_stat_activity a on a.pid = l.pid"
      " where l.locktype = 'advisory' and l.granted and l.objsubid = 1"
      " and ((l.classid::pg_catalog.int8 << 32) | l.objid::pg_catalog.int8) = $1::pg_catalog.int8 limit 1",
      key_);
  if (r.empty()) return "another session";
  std::string who = "backend pid " + std::string(r[0][0].c_str());
  if (r[0][1].size() > 0) who = std::string(r[0][1].c_str()) + ", " + who;
  if (r[0][2].size() > 0) who += ", connected since " + std::string(r[0][2].c_str());
  return who;
}

void MigrationLock::acquire(long long wait_seconds, dihya::Context& ctx) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  bool told = false;
  for (;;) {
    {
      pqxx::nontransaction tx(db_);
      if (tx.exec_params1("select pg_catalog.pg_try_advisory_lock($1::pg_catalog.int8)", key_)[0].as<bool>()) {
        held_ = true;
        return;
      }
    }
    const std::string who = holder();
    if (std::chrono::steady_clock::now() >= deadline) {
      throw dihya::Error("another migrate_data run holds the migration lock on " + name_ + " (" + who + ")" +
                         (wait_seconds > 0 ? "; gave up after " + std::to_string(wait_seconds) + " s" : "") +
                         "; retry later or raise lock_wait_seconds");
    }
    if (ctx.cancelled()) throw dihya::Error("cancelled while waiting for the migration lock on " + name_);
    if (!told) {
      ctx.log().info("waiting up to {} s for the migration lock on {} held by {}", wait_seconds, name_, who);
      told = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace migrate_data
