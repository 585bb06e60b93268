// SPDX-License-Identifier: AGPL-3.0-or-later
// The quarantine that makes cleanup reversible: a typed table per source
// table in schema dihya_quarantine, with the source's columns (same names and
// types, in order) plus the run id, the batch, the action and the expiry. A
// delete moves a batch in one statement (DELETE ... RETURNING feeding an
// INSERT), so a row costs what a DELETE costs plus one insert; an anonymise
// copies the batch first and updates the source from the copies, so the rows
// acted on are exactly the rows kept. A restore puts rows back from the typed
// copies (exact values, identity columns included) and removes them, which
// makes it idempotent.
//
// A quarantine table is named from the source's name and columns
// (q_<prefix>_<md5 of schema, name and columns>, at most 43 bytes whatever the
// source is called) and recorded in dihya_quarantine.tables. When the
// source's columns change, later runs get a new table; a restore from a table
// whose columns no longer match the source is refused, never guessed. Rows of
// the generic jsonb quarantine of earlier versions (dihya_quarantine.rows)
// are moved into the typed tables by ensure_quarantine. Every identifier is
// quoted; values are bound.
//
// Purge notes what it removed for good in dihya_quarantine.purged (per
// quarantining run, source table and purge run: a count, never the rows), so
// that a rollback of a run whose rows are gone says so instead of reporting
// the little it could restore as the prior state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <dihya/fk_graph.hpp>
#include <pqxx/pqxx>

#include "policy.hpp"

namespace cleanup {

// Creates the schema, the purge ledger and the mapping table if needed and
// migrates the legacy jsonb quarantine (under an advisory lock: CREATE ... IF
// NOT EXISTS races with itself).
void ensure_quarantine(pqxx::transaction_base& tx);
// The purge ledger alone (and the schema), without migrating anything.
void ensure_purge_ledger(pqxx::transaction_base& tx);
bool quarantine_exists(pqxx::transaction_base& tx);

// The table's columns as the catalog has them now; throws dihya::Error if the
// table is gone or has no primary key.
dihya::TableInfo read_table_info(pqxx::transaction_base& tx, const dihya::TableName& t);

// "name type" per column, one a line: what a quarantine table must match.
std::string column_signature(const dihya::TableInfo& info);

struct QuarantineTable {
  std::string name;  // unquoted, in schema dihya_quarantine
  std::string signature;
  dihya::TableName source;
};

// Rows of one quarantining run that a purge removed for good.
struct PurgedRows {
  dihya::TableName source;
  std::string purge_run_id;
  long long rows = 0;
};

// What purges removed of run `run_id`'s rows, oldest purge first. Takes a
// SHARE lock on the ledger, which a purge's statements conflict with: no purge
// removes more of the run's rows until the transaction ends, so what a
// rollback restores after asking is all that is left.
std::vector<PurgedRows> purged_rows_of(pqxx::transaction_base& tx, const std::string& run_id);

// The quarantine table for `info`'s current columns, created if `create`
// (needs ensure_quarantine first); nullopt if it does not exist.
std::optional<std::string> quarantine_for(pqxx::transaction_base& tx, const dihya::TableInfo& info, bool create);
// Every quarantine table ever made for `t` (one per column layout).
std::vector<QuarantineTable> quarantines_of(pqxx::transaction_base& tx, const dihya::TableName& t);
std::vector<QuarantineTable> all_quarantines(pqxx::transaction_base& tx);
// dihya_quarantine."name"
std::string quoted_quarantine(const pqxx::transaction_base& tx, const std::string& name);

// SQL for one table and its quarantine table. `info` must outlive it.
// Batch parameters everywhere: $1 run id, $2 batch (and $3, see by_address).
class TableSql {
 public:
  TableSql(const pqxx::transaction_base& tx, const dihya::TableInfo& info, const std::string& quarantine);

  // The key of the `limit`-th row matching `where` (after the last key when
  // `keyset`), as a JSON object; no row when fewer match. Params: $1 where
  // value, [$2... the last key's columns as text, in key order].
  std::string batch_end(const std::string& where, bool keyset, long limit) const;
  // Moves (delete) the rows matching `where` after the last key when
  // `keyset`, up to and including the batch end when `bounded`, in one
  // statement, whose affected row count is the number moved. Params: $1
  // where value, $2 run id, $3 batch, $4 expires_at, [the last key's
  // columns], [the batch end's columns], as text in key order.
  std::string move(const std::string& where, bool keyset, bool bounded) const;
  // The same for a single integer key and a key range: $5 and $6 its
  // ends (included), as bigint.
  std::string move_range(const std::string& where) const;
  // Copies the rows like move() without deleting them; params as move() but
  // $4 is the action and $5 expires_at, then the key from $6. With
  // `addresses`, returns each copy's ctid (as text), for by_address().
  std::string copy(const std::string& where, bool keyset, long limit, bool addresses = false) const;
  // From now on the statements below that read a batch from the quarantine
  // also take $3, the addresses of its rows (tid[]) as copy() returned them,
  // and find them by address; their other params move up by one.
  void by_address() { by_address_ = true; }
  int first_extra_param() const { return by_address_ ? 4 : 3; }
  // From now on "the batch" is every batch of the run numbered $2 or more:
  // a rollback restores them in one statement, one scan of the quarantine
  // (neither statistics nor BRIN summaries help a just-filled one).
  void from_batch() { from_batch_ = true; }
  // The batch's greatest key as a JSON object.
  std::string last_key() const;
  std::string delete_batch() const;
  // Then `params` for the strategies (salt, fixed values), numbered from
  // first_extra_param().
  std::string anonymise_batch(const std::vector<ColumnRule>& rules, std::vector<std::string>& params,
                              const std::string& salt) const;
  // Rows of `fk.child` referencing the batch that the run has not quarantined
  // in `child_quarantine` (with action delete when `cascade`).
  std::string unrecorded_dependents(const dihya::ForeignKey& fk, const dihya::TableInfo& child,
                                    const std::optional<std::string>& child_quarantine, bool cascade) const;
  // Restores the batch; `deferred` columns are inserted as NULL (see set_deferred).
  std::string restore_deleted(const std::vector<std::string>& deferred) const;
  // `only`: the columns to put back (none: every column but the key).
  std::string restore_anonymised(const std::vector<std::string>& deferred,
                                 const std::vector<std::string>& only = {}) const;
  std::string set_deferred(const std::vector<std::string>& deferred) const;
  std::string has_batch() const;
  std::string forget_batch() const;

 private:
  std::string victims() const;
  std::string batch_match() const;
  std::string moved_into_quarantine(const std::string& condition) const;
  std::string pk_join(const std::string& a, const std::string& b) const;
  std::string pk_list(const std::string& alias, const char* suffix = "") const;
  std::string column_list(const std::string& alias) const;
  std::string key_json(const std::string& alias) const;
  std::string key_bound(const char* op, int first_param) const;
  std::string selection(const std::string& where, bool keyset, long limit, int first_key_param,
                        const std::string& what) const;

  const pqxx::transaction_base& tx_;
  const dihya::TableInfo& info_;
  std::string quoted_;
  std::string q_;
  bool by_address_ = false;
  bool from_batch_ = false;
};

}  // namespace cleanup
