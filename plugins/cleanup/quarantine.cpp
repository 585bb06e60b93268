// SPDX-License-Identifier: AGPL-3.0-or-later
#include "quarantine.hpp"

#include <algorithm>

#include <dihya/advisory_lock.hpp>

namespace cleanup {

void ensure_quarantine(pqxx::transaction_base& tx) {
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", dihya::lock_key::kCleanupQuarantineSchema);
  tx.exec("CREATE SCHEMA IF NOT EXISTS dihya_quarantine");
  tx.exec(
      "CREATE TABLE IF NOT EXISTS dihya_quarantine.rows ("
      " id bigserial PRIMARY KEY,"
      " run_id text NOT NULL,"
      " batch integer NOT NULL,"
      " table_schema text NOT NULL,"
      " table_name text NOT NULL,"
      " action text NOT NULL CHECK (action IN ('delete', 'anonymise')),"
      " original jsonb NOT NULL,"
      " quarantined_at timestamptz NOT NULL DEFAULT now(),"
      " expires_at timestamptz NOT NULL)");
  tx.exec("CREATE INDEX IF NOT EXISTS rows_batch_idx ON dihya_quarantine.rows (run_id, table_schema, table_name, batch)");
  tx.exec("CREATE INDEX IF NOT EXISTS rows_expires_at_idx ON dihya_quarantine.rows (expires_at)");
}

bool quarantine_exists(pqxx::transaction_base& tx) {
  return tx.exec1("SELECT to_regclass('dihya_quarantine.rows') IS NOT NULL")[0].as<bool>();
}

TableSql::TableSql(const pqxx::transaction_base& tx, const dihya::TableInfo& info)
    : tx_(tx), info_(info), quoted_(info.name.quoted(tx)) {}

std::string TableSql::pk_join(const std::string& a, const std::string& b) const {
  std::string out;
  for (const auto& k : info_.primary_key) {
    out += (out.empty() ? "" : " AND ") + a + "." + tx_.quote_name(k) + " = " + b + "." + tx_.quote_name(k);
  }
  return out;
}

std::string TableSql::pk_list(const std::string& alias, const char* suffix) const {
  std::string out;
  for (const auto& k : info_.primary_key) out += (out.empty() ? "" : ", ") + alias + "." + tx_.quote_name(k) + suffix;
  return out;
}

std::string TableSql::victims() const {
  return "(SELECT r.* FROM dihya_quarantine.rows q CROSS JOIN LATERAL jsonb_populate_record(NULL::" + quoted_ +
         ", q.original) r WHERE q.run_id = $1 AND q.batch = $2::int AND q.table_schema = $3 AND q.table_name = $4)";
}

std::string TableSql::quarantine(const std::string& where, bool keyset, long limit) const {
  std::string sql =
      "INSERT INTO dihya_quarantine.rows (run_id, batch, table_schema, table_name, action, original, expires_at)"
      " SELECT $2, $3::int, $4, $5, $6, to_jsonb(v), $7::timestamptz FROM (SELECT t.* FROM " +
      quoted_ + " t WHERE (" + where + ")";
  if (keyset) {
    // Plain typed parameters, not a subquery: the planner then sees a range
    // on the primary-key index and each batch costs O(batch), not O(table).
    std::string params;
    int n = 8;
    for (const auto& k : info_.primary_key) {
      params += (params.empty() ? "$" : ", $") + std::to_string(n++) + "::" + info_.column(k)->type;
    }
    sql += " AND (" + pk_list("t") + ") > (" + params + ")";
  }
  sql += " ORDER BY " + pk_list("t");
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  return sql + " FOR UPDATE OF t) v";
}

std::string TableSql::last_original() const {
  return "SELECT to_jsonb(v)::text FROM " + victims() + " v ORDER BY " + pk_list("v", " DESC") + " LIMIT 1";
}

std::string TableSql::delete_batch() const {
  return "DELETE FROM " + quoted_ + " t USING " + victims() + " v WHERE " + pk_join("t", "v");
}

namespace {

// Plausible, deterministic stand-ins derived from the row's key: the same row
// always gets the same fake, two rows almost never share one.
std::string fake_expr(const std::string& kind, const std::string& key) {
  const std::string h = "md5('dihya-fake/' || " + key + ")";
  if (kind == "email") return "'user-' || left(" + h + ", 12) || '@example.invalid'";
  if (kind == "name") {
    return "(ARRAY['Amina','Yanis','Lina','Karim','Sara','Idir','Nora','Malik'])[1 + get_byte(decode(" + h +
           ", 'hex'), 0) % 8] || ' ' || (ARRAY['Haddad','Benali','Mansouri','Amrani','Ziani','Cherif','Slimani','Toumi'])"
           "[1 + get_byte(decode(" + h + ", 'hex'), 1) % 8]";
  }
  if (kind == "phone") return "'+33 6 ' || lpad((('x' || left(" + h + ", 7))::bit(28)::int % 100000000)::text, 8, '0')";
  return "'redacted-' || left(" + h + ", 10)";
}

}  // namespace

std::string TableSql::anonymise_batch(const std::vector<ColumnRule>& rules, std::vector<std::string>& params,
                                      const std::string& salt) const {
  std::string key = "concat_ws('/', " + pk_list("t", "::text") + ")";
  std::string sets;
  int salt_index = 0;
  for (const auto& r : rules) {
    const auto* col = info_.column(r.column);
    if (col == nullptr) throw dihya::Error("no column '" + r.column + "' in " + info_.name.display());
    const auto c = "t." + tx_.quote_name(r.column);
    std::string expr;
    if (r.strategy == "null") {
      expr = "NULL";
    } else if (r.strategy == "fixed") {
      params.push_back(r.value.is_string() ? r.value.get<std::string>() : r.value.dump());
      expr = "$" + std::to_string(params.size() + 4);
    } else if (r.strategy == "hash") {
      if (salt_index == 0) {
        params.push_back(salt);
        salt_index = static_cast<int>(params.size()) + 4;
      }
      expr = "CASE WHEN " + c + " IS NULL THEN NULL ELSE encode(sha256(convert_to($" + std::to_string(salt_index) +
             " || " + c + "::text, 'UTF8')), 'hex') END";
    } else if (r.strategy == "mask") {
      const auto v = c + "::text";
      expr = "CASE WHEN " + c + " IS NULL THEN NULL WHEN strpos(" + v + ", '@') > 1 THEN left(" + v +
             ", 1) || repeat('*', greatest(length(split_part(" + v + ", '@', 1)) - 1, 0)) || '@' || split_part(" + v +
             ", '@', 2) ELSE left(" + v + ", 1) || repeat('*', greatest(length(" + v + ") - 1, 0)) END";
    } else {
      expr = "CASE WHEN " + c + " IS NULL THEN NULL ELSE " + fake_expr(r.kind, key) + " END";
    }
    sets += (sets.empty() ? "" : ", ") + tx_.quote_name(r.column) + " = (" + expr + ")::" + col->type;
  }
  return "UPDATE " + quoted_ + " t SET " + sets + " FROM " + victims() + " v WHERE " + pk_join("t", "v");
}

std::string TableSql::unrecorded_dependents(const dihya::ForeignKey& fk, const dihya::TableInfo& child,
                                            bool cascade) const {
  std::string join;
  for (std::size_t i = 0; i < fk.child_columns.size(); ++i) {
    join += (i ? " AND " : "") + std::string("v.") + tx_.quote_name(fk.parent_columns[i]) + " = c." +
            tx_.quote_name(fk.child_columns[i]);
  }
  const auto child_quoted = child.name.quoted(tx_);
  std::string sql = "SELECT count(*) FROM " + child_quoted + " c WHERE EXISTS (SELECT 1 FROM " + victims() +
                    " v WHERE " + join + ")";
  if (!child.primary_key.empty()) {
    std::string pk;
    for (const auto& k : child.primary_key) {
      pk += (pk.empty() ? "" : " AND ") + std::string("r2.") + tx_.quote_name(k) + " = c." + tx_.quote_name(k);
    }
    sql += " AND NOT EXISTS (SELECT 1 FROM dihya_quarantine.rows q2 CROSS JOIN LATERAL jsonb_populate_record(NULL::" +
           child_quoted + ", q2.original) r2 WHERE q2.run_id = $1 AND q2.table_schema = $5 AND q2.table_name = $6" +
           (cascade ? " AND q2.action = 'delete'" : "") + " AND " + pk + ")";
  }
  return sql;
}

std::string TableSql::restore_deleted(const std::vector<std::string>& deferred) const {
  std::string cols, values;
  for (const auto& c : info_.columns) {
    if (c.generated) continue;
    const auto q = tx_.quote_name(c.name);
    cols += (cols.empty() ? "" : ", ") + q;
    const bool later = std::find(deferred.begin(), deferred.end(), c.name) != deferred.end();
    values += (values.empty() ? "" : ", ") + (later ? std::string("NULL") : "v." + q);
  }
  return "INSERT INTO " + quoted_ + " (" + cols + ") OVERRIDING SYSTEM VALUE SELECT " + values + " FROM " + victims() +
         " v ON CONFLICT DO NOTHING";
}

std::string TableSql::restore_anonymised(const std::vector<std::string>& deferred) const {
  std::string sets;
  for (const auto& c : info_.columns) {
    if (c.generated) continue;
    if (std::find(info_.primary_key.begin(), info_.primary_key.end(), c.name) != info_.primary_key.end()) continue;
    if (std::find(deferred.begin(), deferred.end(), c.name) != deferred.end()) continue;
    const auto q = tx_.quote_name(c.name);
    sets += (sets.empty() ? "" : ", ") + q + " = v." + q;
  }
  if (sets.empty()) return "SELECT 1";
  return "UPDATE " + quoted_ + " t SET " + sets + " FROM " + victims() + " v WHERE " + pk_join("t", "v");
}

std::string TableSql::set_deferred(const std::vector<std::string>& deferred) const {
  std::string sets;
  for (const auto& c : deferred) sets += (sets.empty() ? "" : ", ") + tx_.quote_name(c) + " = v." + tx_.quote_name(c);
  return "UPDATE " + quoted_ + " t SET " + sets + " FROM " + victims() + " v WHERE " + pk_join("t", "v");
}

std::string TableSql::forget_batch() {
  return "DELETE FROM dihya_quarantine.rows WHERE run_id = $1 AND batch = $2::int AND table_schema = $3 AND table_name = $4";
}

}  // namespace cleanup
