// SPDX-License-Identifier: AGPL-3.0-or-later
#include "quarantine.hpp"

#include <algorithm>
#include <map>

#include <dihya/advisory_lock.hpp>
#include <dihya/pg_untrusted_code.hpp>

namespace cleanup {

namespace {

constexpr const char* kMeta[] = {"_dihya_run_id", "_dihya_batch", "_dihya_action", "_dihya_expires_at"};

// Moves the rows of the jsonb quarantine of earlier versions into typed
// tables, table by table. Rows of a table that no longer exists stay in the
// old table, where purge still finds them.
void migrate_legacy(pqxx::transaction_base& tx) {
  if (!tx.exec1("SELECT to_regclass('dihya_quarantine.rows') IS NOT NULL")[0].as<bool>()) return;
  const auto sources = tx.exec("SELECT DISTINCT table_schema, table_name FROM dihya_quarantine.rows ORDER BY 1, 2");
  for (const auto& s : sources) {
    const dihya::TableName t{s[0].c_str(), s[1].c_str()};
    dihya::TableInfo info;
    try {
      info = read_table_info(tx, t);
    } catch (const dihya::Error&) {
      continue;
    }
    const auto q = *quarantine_for(tx, info, true);
    dihya::pg::refuse_untrusted_code(tx, {quoted_quarantine(tx, q), "dihya_quarantine.rows"}, dihya::pg::TableUse::write);
    std::string cols, values;
    for (const auto& c : info.columns) {
      cols += tx.quote_name(c.name) + ", ";
      values += "(r).";
      values += tx.quote_name(c.name) + ", ";
    }
    tx.exec_params("INSERT INTO " + quoted_quarantine(tx, q) + " (" + cols +
                       "_dihya_run_id, _dihya_batch, _dihya_action, _dihya_expires_at) SELECT " + values +
                       "run_id, batch, action, expires_at FROM (SELECT jsonb_populate_record(NULL::" + t.quoted(tx) +
                       ", original) r, run_id, batch, action, expires_at FROM dihya_quarantine.rows"
                       " WHERE table_schema = $1 AND table_name = $2) o",
                   t.schema, t.name);
    tx.exec_params("DELETE FROM dihya_quarantine.rows WHERE table_schema = $1 AND table_name = $2", t.schema, t.name);
  }
  if (tx.exec1("SELECT NOT EXISTS (SELECT 1 FROM dihya_quarantine.rows)")[0].as<bool>()) {
    tx.exec("DROP TABLE dihya_quarantine.rows");
  }
}

}  // namespace

void ensure_quarantine(pqxx::transaction_base& tx) {
  ensure_purge_ledger(tx);
  tx.exec(
      "CREATE TABLE IF NOT EXISTS dihya_quarantine.tables ("
      " quarantine_table text PRIMARY KEY,"
      " source_schema text NOT NULL,"
      " source_table text NOT NULL,"
      " columns text NOT NULL,"
      " created_at timestamptz NOT NULL DEFAULT now())");
  // A role that created the schema before us owns what it put there.
  dihya::pg::refuse_untrusted_code(tx, {"dihya_quarantine.tables"}, dihya::pg::TableUse::write);
  migrate_legacy(tx);
}

void ensure_purge_ledger(pqxx::transaction_base& tx) {
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", dihya::lock_key::kCleanupQuarantineSchema);
  dihya::pg::refuse_untrusted_event_triggers(tx);
  tx.exec("CREATE SCHEMA IF NOT EXISTS dihya_quarantine");
  tx.exec(
      "CREATE TABLE IF NOT EXISTS dihya_quarantine.purged ("
      " run_id text NOT NULL,"
      " source_schema text NOT NULL,"
      " source_table text NOT NULL,"
      " purge_run_id text NOT NULL,"
      " row_count bigint NOT NULL,"
      " purged_at timestamptz NOT NULL DEFAULT now(),"
      " PRIMARY KEY (run_id, source_schema, source_table, purge_run_id))");
  dihya::pg::refuse_untrusted_code(tx, {"dihya_quarantine.purged"}, dihya::pg::TableUse::write);
}

bool quarantine_exists(pqxx::transaction_base& tx) {
  return tx.exec1("SELECT to_regclass('dihya_quarantine.tables') IS NOT NULL OR to_regclass('dihya_quarantine.rows') IS NOT NULL")[0]
      .as<bool>();
}

dihya::TableInfo read_table_info(pqxx::transaction_base& tx, const dihya::TableName& t) {
  dihya::TableInfo info;
  info.name = t;
  auto cols = tx.exec_params(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> '', a.attnotnull,"
      "       coalesce((SELECT k.i FROM pg_index x, unnest(x.indkey) WITH ORDINALITY k(n, i)"
      "                 WHERE x.indrelid = c.oid AND x.indisprimary AND k.n = a.attnum), 0)"
      " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
      " WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      t.schema, t.name);
  if (cols.empty()) throw dihya::Error("cannot restore: table " + t.display() + " no longer exists");
  std::map<long, std::string> pk;
  for (const auto& c : cols) {
    info.columns.push_back({c[0].c_str(), c[1].c_str(), false, c[2].as<bool>(), c[3].as<bool>()});
    if (c[4].as<long>() > 0) pk[c[4].as<long>()] = c[0].c_str();
  }
  for (const auto& [i, name] : pk) info.primary_key.push_back(name);
  if (info.primary_key.empty()) throw dihya::Error("cannot restore: " + t.display() + " lost its primary key");
  return info;
}

std::string column_signature(const dihya::TableInfo& info) {
  std::string s;
  for (const auto& c : info.columns) s += c.name + " " + c.type + (c.generated ? " generated" : "") + "\n";
  return s;
}

std::string quoted_quarantine(const pqxx::transaction_base& tx, const std::string& name) {
  return "dihya_quarantine." + tx.quote_name(name);
}

std::optional<std::string> quarantine_for(pqxx::transaction_base& tx, const dihya::TableInfo& info, bool create) {
  const auto signature = column_signature(info);
  // The name depends on the source's schema, name and columns only: the same
  // layout always finds the same table; any name, however long or quoted,
  // gives a short, plain one.
  const std::string name =
      tx.exec_params1("SELECT 'q_' || left(regexp_replace(lower($1), '[^a-z0-9_]', '_', 'g'), 24) || '_' ||"
                      " left(md5($2 || E'\\n' || $1 || E'\\n' || $3), 16)",
                      info.name.name, info.name.schema, signature)[0]
          .c_str();
  const auto found = tx.exec_params("SELECT source_schema, source_table, columns FROM dihya_quarantine.tables WHERE quarantine_table = $1", name);
  if (!found.empty()) {
    if (info.name.schema != found[0][0].c_str() || info.name.name != found[0][1].c_str() || signature != found[0][2].c_str()) {
      throw dihya::Error("quarantine table " + name + " belongs to another table (hash collision): rename it");
    }
    return name;
  }
  if (!create) return std::nullopt;
  std::string cols;
  for (const auto& c : info.columns) {
    for (const char* m : kMeta) {
      if (c.name == m) throw dihya::Error(info.name.display() + " has a column named " + m + ", which the quarantine needs");
    }
    cols += tx.quote_name(c.name) + " " + c.type + ", ";
  }
  // The schema's lock (the literal here was import_templates' template-schema key).
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", dihya::lock_key::kCleanupQuarantineSchema);
  const auto q = quoted_quarantine(tx, name);
  tx.exec("CREATE TABLE IF NOT EXISTS " + q + " (" + cols +
          "_dihya_run_id text NOT NULL, _dihya_batch integer NOT NULL, _dihya_action text NOT NULL"
          " CHECK (_dihya_action IN ('delete', 'anonymise')), _dihya_expires_at timestamptz NOT NULL)");
  // BRIN, not B-tree: rows arrive in run and batch order (run ids grow with
  // time), so block ranges find a batch almost as well, at no cost per row.
  tx.exec("CREATE INDEX IF NOT EXISTS " + tx.quote_name(name + "_batch") + " ON " + q +
          " USING brin (_dihya_run_id, _dihya_batch) WITH (pages_per_range = 16)");
  dihya::pg::refuse_untrusted_code(tx, {q, "dihya_quarantine.tables"}, dihya::pg::TableUse::write);
  tx.exec_params("INSERT INTO dihya_quarantine.tables (quarantine_table, source_schema, source_table, columns)"
                 " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                 name, info.name.schema, info.name.name, signature);
  return name;
}

namespace {

std::vector<QuarantineTable> quarantines_where(pqxx::transaction_base& tx, const dihya::TableName* t) {
  std::vector<QuarantineTable> out;
  if (!tx.exec1("SELECT to_regclass('dihya_quarantine.tables') IS NOT NULL")[0].as<bool>()) return out;
  const std::string select = "SELECT quarantine_table, columns, source_schema, source_table FROM dihya_quarantine.tables";
  const auto rows = t == nullptr ? tx.exec(select + " ORDER BY 1")
                                 : tx.exec_params(select + " WHERE source_schema = $1 AND source_table = $2 ORDER BY created_at",
                                                  t->schema, t->name);
  for (const auto& r : rows) out.push_back({r[0].c_str(), r[1].c_str(), {r[2].c_str(), r[3].c_str()}});
  return out;
}

}  // namespace

std::vector<QuarantineTable> quarantines_of(pqxx::transaction_base& tx, const dihya::TableName& t) {
  return quarantines_where(tx, &t);
}

std::vector<QuarantineTable> all_quarantines(pqxx::transaction_base& tx) { return quarantines_where(tx, nullptr); }

std::vector<PurgedRows> purged_rows_of(pqxx::transaction_base& tx, const std::string& run_id) {
  std::vector<PurgedRows> out;
  if (!tx.exec1("SELECT to_regclass('dihya_quarantine.purged') IS NOT NULL")[0].as<bool>()) return out;
  tx.exec("LOCK TABLE dihya_quarantine.purged IN SHARE MODE");
  const auto rows = tx.exec_params(
      "SELECT source_schema, source_table, purge_run_id, row_count FROM dihya_quarantine.purged"
      " WHERE run_id = $1 AND row_count > 0 ORDER BY purged_at, source_schema, source_table",
      run_id);
  for (const auto& r : rows) out.push_back({{r[0].c_str(), r[1].c_str()}, r[2].c_str(), r[3].as<long long>()});
  return out;
}

TableSql::TableSql(const pqxx::transaction_base& tx, const dihya::TableInfo& info, const std::string& quarantine)
    : tx_(tx), info_(info), quoted_(info.name.quoted(tx)), q_(quoted_quarantine(tx, quarantine)) {}

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

std::string TableSql::column_list(const std::string& alias) const {
  std::string out;
  for (const auto& c : info_.columns) out += (out.empty() ? "" : ", ") + (alias.empty() ? "" : alias + ".") + tx_.quote_name(c.name);
  return out;
}

std::string TableSql::key_json(const std::string& alias) const {
  std::string out;
  for (const auto& k : info_.primary_key) out += (out.empty() ? "" : ", ") + tx_.quote(k) + ", " + alias + "." + tx_.quote_name(k);
  return "json_build_object(" + out + ")::text";
}

std::string TableSql::batch_match() const {
  return std::string("_dihya_run_id = $1 AND _dihya_batch ") + (from_batch_ ? ">=" : "=") + " $2::int";
}

// With the batch's row addresses, a TID scan: a freshly filled quarantine
// has neither statistics nor summarized BRIN ranges, so the run and batch
// alone would read every row the run has quarantined so far, once per batch.
std::string TableSql::victims() const {
  return "(SELECT " + column_list("") + " FROM " + q_ + " WHERE " + batch_match() +
         (by_address_ ? " AND ctid = ANY ($3::tid[]))" : ")");
}

// " AND (t.k1, ...) OP ($n::type1, ...)": plain typed parameters, not a
// subquery, so the planner sees a range on the primary-key index and each
// batch costs O(batch), not O(table).
std::string TableSql::key_bound(const char* op, int first_param) const {
  std::string params;
  int n = first_param;
  for (const auto& k : info_.primary_key) {
    params += (params.empty() ? "$" : ", $") + std::to_string(n++) + "::" + info_.column(k)->type;
  }
  return " AND (" + pk_list("t") + ") " + op + " (" + params + ")";
}

// The batch's rows in the source, locked: "SELECT <what> FROM src t WHERE ...".
std::string TableSql::selection(const std::string& where, bool keyset, long limit, int first_key_param,
                                const std::string& what) const {
  std::string sql = "SELECT " + what + " FROM " + quoted_ + " t WHERE (" + where + ")";
  if (keyset) sql += key_bound(">", first_key_param);
  sql += " ORDER BY " + pk_list("t");
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  return sql + " FOR UPDATE OF t";
}

std::string TableSql::batch_end(const std::string& where, bool keyset, long limit) const {
  return "SELECT " + key_json("t") + " FROM (SELECT " + pk_list("t") + " FROM " + quoted_ + " t WHERE (" + where + ")" +
         (keyset ? key_bound(">", 2) : "") + " ORDER BY " + pk_list("t") + " OFFSET " +
         std::to_string(std::max(limit, 1L) - 1) + " LIMIT 1) t";
}

std::string TableSql::move(const std::string& where, bool keyset, bool bounded) const {
  // A plain ranged DELETE: it locks its rows itself and re-checks `where`
  // on a row updated meanwhile, so nothing is taken that no longer matches
  // and nothing in the range is skipped.
  const int first_key = 5;
  const int upper = first_key + (keyset ? static_cast<int>(info_.primary_key.size()) : 0);
  return moved_into_quarantine("(" + where + ")" + (keyset ? key_bound(">", first_key) : "") + (bounded ? key_bound("<=", upper) : ""));
}

std::string TableSql::move_range(const std::string& where) const {
  const auto k = "t." + tx_.quote_name(info_.primary_key.front());
  return moved_into_quarantine("(" + where + ") AND " + k + " >= $5::bigint AND " + k + " <= $6::bigint");
}

// The batch's rows leave the source and enter the quarantine in one
// statement; its row count is the number moved. Nothing else is computed
// from the moved rows: the caller knows where the batch ended.
std::string TableSql::moved_into_quarantine(const std::string& condition) const {
  return "WITH d AS (DELETE FROM " + quoted_ + " t WHERE " + condition + " RETURNING " + column_list("t") +
         ") INSERT INTO " + q_ + " (" + column_list("") +
         ", _dihya_run_id, _dihya_batch, _dihya_action, _dihya_expires_at) SELECT " + column_list("d") +
         ", $2, $3::int, 'delete', $4::timestamptz FROM d";
}

std::string TableSql::copy(const std::string& where, bool keyset, long limit, bool addresses) const {
  return "INSERT INTO " + q_ + " (" + column_list("") +
         ", _dihya_run_id, _dihya_batch, _dihya_action, _dihya_expires_at) SELECT " + column_list("v") +
         ", $2, $3::int, $4, $5::timestamptz FROM (" + selection(where, keyset, limit, 6, "t.*") + ") v" +
         (addresses ? " RETURNING ctid::text" : "");
}

std::string TableSql::last_key() const {
  return "SELECT " + key_json("v") + " FROM " + victims() + " v ORDER BY " + pk_list("v", " DESC") + " LIMIT 1";
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
      params.push_back(r.fixed_text());
      expr = "$" + std::to_string(params.size() + first_extra_param() - 1);
    } else if (r.strategy == "hash") {
      if (salt_index == 0) {
        params.push_back(salt);
        salt_index = static_cast<int>(params.size()) + first_extra_param() - 1;
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
                                            const std::optional<std::string>& child_quarantine, bool cascade) const {
  std::string sql = "SELECT count(*) FROM " + child.name.quoted(tx_) + " c WHERE EXISTS (SELECT 1 FROM " + victims() +
                    " v WHERE " + fk.join(tx_, "v", "c") + ")";
  if (!child.primary_key.empty() && child_quarantine) {
    std::string pk;
    for (const auto& k : child.primary_key) {
      pk += (pk.empty() ? "" : " AND ") + std::string("r2.") + tx_.quote_name(k) + " = c." + tx_.quote_name(k);
    }
    sql += " AND NOT EXISTS (SELECT 1 FROM " + quoted_quarantine(tx_, *child_quarantine) +
           " r2 WHERE r2._dihya_run_id = $1" + (cascade ? " AND r2._dihya_action = 'delete'" : "") + " AND " + pk + ")";
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

std::string TableSql::restore_anonymised(const std::vector<std::string>& deferred,
                                         const std::vector<std::string>& only) const {
  std::string sets;
  for (const auto& c : info_.columns) {
    if (c.generated) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), c.name) == only.end()) continue;
    if (std::find(info_.primary_key.begin(), info_.primary_key.end(), c.name) != info_.primary_key.end()) continue;
    if (std::find(deferred.begin(), deferred.end(), c.name) != deferred.end()) continue;
    const auto q = tx_.quote_name(c.name);
    sets += (sets.empty() ? "" : ", ") + q + " = v." + q;
  }
  if (sets.empty()) return "SELECT WHERE $1::text IS NULL AND $2::int IS NULL";  // nothing to put back: no row
  return "UPDATE " + quoted_ + " t SET " + sets + " FROM " + victims() + " v WHERE " + pk_join("t", "v");
}

std::string TableSql::set_deferred(const std::vector<std::string>& deferred) const {
  std::string sets;
  for (const auto& c : deferred) sets += (sets.empty() ? "" : ", ") + tx_.quote_name(c) + " = v." + tx_.quote_name(c);
  return "UPDATE " + quoted_ + " t SET " + sets + " FROM " + victims() + " v WHERE " + pk_join("t", "v");
}

std::string TableSql::has_batch() const {
  return "SELECT EXISTS (SELECT 1 FROM " + q_ + " WHERE " + batch_match() + ")";
}

std::string TableSql::forget_batch() const {
  return "DELETE FROM " + q_ + " WHERE " + batch_match();
}

}  // namespace cleanup
