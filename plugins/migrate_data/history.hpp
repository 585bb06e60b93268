// SPDX-License-Identifier: AGPL-3.0-or-later
// The schema history table (what is applied, with which checksum, by whom and
// which run), its companion progress table for batched data migrations, and
// the advisory lock that serializes migrate_data runs on one history table.
// The lock is a session-level pg_advisory_lock: it dies with the session, so a
// crash never leaves a stale lock behind.
#pragma once

#include <dihya/context.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <map>
#include <pqxx/connection>
#include <pqxx/transaction_base>
#include <string>
#include <vector>

namespace migrate_data {

struct HistoryRow {
  std::string version;  // canonical; empty for repeatables
  std::string name;
  std::string kind;
  std::string script;
  std::string checksum;
  std::string applied_at;
  std::string applied_by;
  std::string run_id;
  long long duration_ms = 0;
  bool success = true;
};

// What one history row records about an applied script.
struct AppliedScript {
  std::string version;  // empty for repeatables
  std::string name;
  std::string kind;
  std::string script;
  std::string checksum;
};

class History {
 public:
  History(pqxx::connection& db, const std::string& schema, const std::string& table);

  const std::string& table() const { return table_; }        // quoted, qualified
  const std::string& progress() const { return progress_; }  // quoted, qualified
  const std::string& display() const { return display_; }    // schema.table, for messages and the lock key

  bool exists();
  bool schema_exists();
  // Creates the schema (when missing), the history and the progress tables.
  void create();
  std::vector<HistoryRow> rows();
  // Data migrations with committed batches, not finished: version -> rows done.
  std::map<std::string, long long> in_progress();
  // Locks both tables in `tx` and throws when they carry code (a trigger, a
  // rule, a default... on a write; a row-security policy on a read too) that
  // a role other than us or a superuser owns: a role that created them before
  // our first run would otherwise run its code with our privileges at each
  // history row. Before every write to them, and every read.
  void guard(pqxx::transaction_base& tx, dihya::pg::TableUse use = dihya::pg::TableUse::write) const;
  // Inserts a successful row in `tx`, replacing a failed one of that version.
  void record(pqxx::transaction_base& tx, const AppliedScript& s, long long duration_ms, const std::string& run_id);
  // A no-transaction migration that failed half-way: recorded, not applied.
  void record_failure(const AppliedScript& s, long long duration_ms, const std::string& run_id);
  // Drops both tables when they hold nothing (undo of their creation), and
  // the schema too when `drop_schema` and nothing else lives in it.
  bool drop_if_empty(bool drop_schema);

 private:
  pqxx::connection& db_;
  std::string schema_;
  std::string table_;
  std::string progress_;
  std::string display_;
  std::string applied_by_;  // appended to current_user: " (os-user@host)"
};

// pg_advisory_lock on a key derived from the history table's name, held by
// the plugin's session until destruction (or the session's end).
class MigrationLock {
 public:
  MigrationLock(pqxx::connection& db, const std::string& history_name);
  ~MigrationLock();
  MigrationLock(const MigrationLock&) = delete;
  MigrationLock& operator=(const MigrationLock&) = delete;

  // Waits up to `wait_seconds` (0: not at all), polling ctx.cancelled().
  // Throws dihya::Error naming the holder when the lock stays taken.
  void acquire(long long wait_seconds, dihya::Context& ctx);

 private:
  std::string holder();
  pqxx::connection& db_;
  std::string name_;
  long long key_ = 0;
  bool held_ = false;
};

}  // namespace migrate_data
