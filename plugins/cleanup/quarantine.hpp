// SPDX-License-Identifier: AGPL-3.0-or-later
// The quarantine that makes cleanup reversible: before a row is deleted or
// anonymised, its whole original (to_jsonb) is copied into
// dihya_quarantine.rows in the same transaction, tagged with the run id, the
// table, the batch and an expiry. Deleting and anonymising then join on those
// copies, so the rows acted on are exactly the rows kept; a restore puts them
// back with jsonb_populate_record (exact types) and removes the copies, which
// makes it idempotent. Every identifier is quoted; values are bound.
#pragma once

#include <string>
#include <vector>

#include <dihya/fk_graph.hpp>
#include <pqxx/pqxx>

#include "policy.hpp"

namespace cleanup {

// Creates the schema and table if needed (under an advisory lock: CREATE ...
// IF NOT EXISTS races with itself).
void ensure_quarantine(pqxx::transaction_base& tx);
bool quarantine_exists(pqxx::transaction_base& tx);

struct BatchKey {
  std::string run_id;
  long batch = 0;
  dihya::TableName table;
};

// SQL for one table. `info` must outlive it.
class TableSql {
 public:
  TableSql(const pqxx::transaction_base& tx, const dihya::TableInfo& info);

  // Copies the rows matching `where` ($1) into the quarantine, ordered by
  // primary key, after the last key when `keyset`, at most `limit` (0: all).
  // Params: $1 where value, $2 run id, $3 batch, $4 schema, $5 table, $6
  // action, $7 expires_at, [$8... the last key's columns as text, in key order].
  std::string quarantine(const std::string& where, bool keyset, long limit) const;
  // The original of the batch's row with the greatest key. Params $1-$4: run, batch, schema, table.
  std::string last_original() const;
  // Params $1-$4 as above.
  std::string delete_batch() const;
  // Params $1-$4 as above, then `params` for the strategies (salt, fixed values).
  std::string anonymise_batch(const std::vector<ColumnRule>& rules, std::vector<std::string>& params,
                              const std::string& salt) const;
  // Rows of `fk.child` referencing the batch that the run has not quarantined
  // (with action delete when `cascade`). Params $1-$4 as above, $5-$6 child schema/name.
  std::string unrecorded_dependents(const dihya::ForeignKey& fk, const dihya::TableInfo& child, bool cascade) const;
  // Restores the batch; `deferred` columns are inserted as NULL (see set_deferred). Params $1-$4.
  std::string restore_deleted(const std::vector<std::string>& deferred) const;
  std::string restore_anonymised(const std::vector<std::string>& deferred) const;
  std::string set_deferred(const std::vector<std::string>& deferred) const;
  static std::string forget_batch();  // params $1-$4

 private:
  std::string victims() const;
  std::string pk_join(const std::string& a, const std::string& b) const;
  std::string pk_list(const std::string& alias, const char* suffix = "") const;

  const pqxx::transaction_base& tx_;
  const dihya::TableInfo& info_;
  std::string quoted_;
};

}  // namespace cleanup
