// SPDX-License-Identifier: AGPL-3.0-or-later
// The foreign-key graph around the users table, shared by the GDPR plugins
// (export_user_data, cleanup). Read from pg_catalog: every table of the
// configured schemas that references the users table directly or through other
// tables (composite keys, several keys from one table, join tables, cycles),
// plus logical links the operator declares where no constraint exists. It
// guarantees that every identifier it puts in SQL went through quote_name and
// that the user's key is always the bound parameter $1, never text in the
// query; that a cycle never makes it loop (each path visits a table once; a
// self-reference is followed only for owned rows, by a recursive query that
// stops on a cycle of rows); and that the same rows are selected for a
// user by every plugin that uses it. Header-only. SDK support (Dihya::fk_graph,
// links libpqxx), not plugin API: no stability promise.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "dihya/error.hpp"
#include "dihya/utf8.hpp"

namespace dihya {

struct TableName {
  std::string schema;
  std::string name;

  std::string quoted(const pqxx::transaction_base& tx) const {
    return tx.quote_name(schema) + "." + tx.quote_name(name);
  }
  // For people and file names; not for SQL.
  std::string display() const { return schema + "." + name; }
  bool operator<(const TableName& o) const { return std::tie(schema, name) < std::tie(o.schema, o.name); }
  bool operator==(const TableName& o) const { return schema == o.schema && name == o.name; }
  bool operator!=(const TableName& o) const { return !(*this == o); }

  // "table" (schema public), "schema.table" (split at the first dot), or
  // {"schema": ..., "table": ...} for names that contain a dot.
  static TableName from_json(const nlohmann::json& j) {
    if (j.is_object()) {
      if (!j.contains("table") || !j.at("table").is_string()) throw Error("a table object needs a \"table\" string");
      TableName t{j.value("schema", std::string("public")), j.at("table").get<std::string>()};
      check(t);
      return t;
    }
    if (!j.is_string()) throw Error("a table must be a string or an object {schema, table}");
    const auto s = j.get<std::string>();
    const auto dot = s.find('.');
    TableName t = dot == std::string::npos ? TableName{"public", s} : TableName{s.substr(0, dot), s.substr(dot + 1)};
    check(t);
    return t;
  }

 private:
  static void check(const TableName& t) {
    // PostgreSQL truncates identifiers at 63 bytes; a longer name would
    // silently designate another table.
    if (t.schema.empty() || t.name.empty() || t.schema.size() > 63 || t.name.size() > 63 ||
        t.name.find('\0') != std::string::npos || t.schema.find('\0') != std::string::npos) {
      throw Error("invalid table name '" + dihya::printable(t.display(), 140) + "' (1 to 63 bytes per part)");
    }
  }
};

struct ForeignKey {
  TableName child;                          // the referencing table
  std::vector<std::string> child_columns;   // in key order
  TableName parent;                         // the referenced table
  std::vector<std::string> parent_columns;  // same length and order
  std::string name;                         // constraint name, or "logical link"
  char on_delete = 'a';                     // pg_constraint.confdeltype: a r c n d
  bool logical = false;                     // declared in the config, not in the catalog

  // "p.a = c.x AND p.b = c.y": a parent row (alias `parent_alias`) and a
  // child row (alias `child_alias`) that this key links, column by column.
  std::string join(const pqxx::transaction_base& tx, const std::string& parent_alias, const std::string& child_alias) const {
    std::string out;
    for (std::size_t i = 0; i < child_columns.size(); ++i) {
      out += (i ? " AND " : "") + parent_alias + "." + tx.quote_name(parent_columns[i]) + " = " + child_alias + "." +
             tx.quote_name(child_columns[i]);
    }
    return out;
  }
};

struct ColumnInfo {
  std::string name;
  std::string type;  // format_type(): a catalog-quoted type name, usable in casts
  bool is_bytea = false;
  bool generated = false;  // GENERATED ALWAYS AS (...) STORED: never inserted
  bool not_null = false;
};

struct TableInfo {
  TableName name;
  std::vector<ColumnInfo> columns;       // in attnum order
  std::vector<std::string> primary_key;  // empty when the table has none

  const ColumnInfo* column(const std::string& n) const {
    for (const auto& c : columns) {
      if (c.name == n) return &c;
    }
    return nullptr;
  }
};

// What to look at. Built from the "graph" part of a plugin's config file.
struct FkGraphConfig {
  TableName users{"public", "users"};
  std::vector<std::string> schemas{"public"};
  std::vector<ForeignKey> links;         // logical links without a constraint
  std::set<TableName> excluded_tables;   // never reached, never followed

  // {"users_table": "public.users", "schemas": ["public"],
  //  "links": [{"from": "t", "columns": ["c"], "to": "public.users", "ref_columns": ["id"]}],
  //  "exclude_tables": ["t"]}. Throws dihya::Error naming the bad part.
  static FkGraphConfig from_json(const nlohmann::json& j) {
    FkGraphConfig c;
    if (j.is_null()) return c;
    if (!j.is_object()) throw Error("graph config must be an object");
    for (const auto& [key, value] : j.items()) {
      if (key == "users_table") {
        c.users = TableName::from_json(value);
      } else if (key == "schemas") {
        if (!value.is_array() || value.empty()) throw Error("graph.schemas must be a non-empty list of names");
        c.schemas.clear();
        for (const auto& s : value) {
          if (!s.is_string() || s.get<std::string>().empty() || s.get<std::string>().size() > 63) {
            throw Error("graph.schemas: each schema is a name of 1 to 63 bytes");
          }
          c.schemas.push_back(s.get<std::string>());
        }
      } else if (key == "exclude_tables") {
        if (!value.is_array()) throw Error("graph.exclude_tables must be a list");
        for (const auto& t : value) c.excluded_tables.insert(TableName::from_json(t));
      } else if (key == "links") {
        if (!value.is_array()) throw Error("graph.links must be a list");
        for (const auto& l : value) c.links.push_back(link_from_json(l));
      } else {
        throw Error("graph: unknown key '" + key + "'");
      }
    }
    return c;
  }

 private:
  static std::vector<std::string> names(const nlohmann::json& j, const char* what) {
    if (!j.is_array() || j.empty()) throw Error(std::string("graph.links: ") + what + " must be a non-empty list");
    std::vector<std::string> out;
    for (const auto& s : j) {
      if (!s.is_string() || s.get<std::string>().empty()) throw Error(std::string("graph.links: ") + what + " holds column names");
      out.push_back(s.get<std::string>());
    }
    return out;
  }
  static ForeignKey link_from_json(const nlohmann::json& l) {
    if (!l.is_object() || !l.contains("from") || !l.contains("columns") || !l.contains("to")) {
      throw Error("graph.links: each link needs from, columns, to (and ref_columns)");
    }
    ForeignKey fk;
    fk.child = TableName::from_json(l.at("from"));
    fk.child_columns = names(l.at("columns"), "columns");
    fk.parent = TableName::from_json(l.at("to"));
    fk.parent_columns = l.contains("ref_columns") ? names(l.at("ref_columns"), "ref_columns") : std::vector<std::string>{};
    fk.name = "logical link";
    fk.logical = true;
    return fk;
  }
};

// The graph, loaded once per run inside the caller's transaction. Not
// thread-safe; cheap to copy.
class FkGraph {
 public:
  // Reads the catalog. Throws dihya::Error when the users table is missing
  // (unless `need_users` is false: then only table() and referencing() are
  // meaningful) or a logical link names an unknown table or column.
  static FkGraph load(pqxx::transaction_base& tx, const FkGraphConfig& config, bool need_users = true) {
    FkGraph g;
    g.config_ = config;
    nlohmann::json schemas = config.schemas;
    if (std::find(config.schemas.begin(), config.schemas.end(), config.users.schema) == config.schemas.end()) {
      schemas.push_back(config.users.schema);
    }
    g.load_tables(tx, schemas.dump());
    if (!g.tables_.count(config.users)) {
      if (!need_users) {
        g.load_foreign_keys(tx, schemas.dump());
        return g;
      }
      throw Error("users table " + config.users.display() + " not found");
    }
    if (g.tables_.at(config.users).primary_key.size() != 1) {
      throw Error("users table " + config.users.display() + " needs a single-column primary key");
    }
    g.load_foreign_keys(tx, schemas.dump());
    for (auto link : config.links) g.add_link(std::move(link));
    g.compute_reached();
    return g;
  }

  const TableName& users() const { return config_.users; }
  const TableInfo& users_info() const { return tables_.at(config_.users); }
  bool has_table(const TableName& t) const { return tables_.count(t) != 0; }
  const TableInfo& table(const TableName& t) const {
    auto it = tables_.find(t);
    if (it == tables_.end()) throw Error("no table " + t.display() + " in the configured schemas");
    return it->second;
  }
  const std::vector<ForeignKey>& foreign_keys() const { return fks_; }

  // The users table first, then every table that references it directly or
  // transitively, nearest first (breadth-first, ties by name).
  const std::vector<TableName>& reached() const { return reached_; }
  bool is_reached(const TableName& t) const { return std::find(reached_.begin(), reached_.end(), t) != reached_.end(); }

  // The reached tables with children before their parents, users last: the
  // order in which rows can be deleted without tripping a constraint. In a
  // cycle, the table whose pending children reference it only through
  // nullable columns goes first (so a restore in the reverse order can insert
  // those columns as NULL and set them once the cycle is back), then the one
  // with the fewest pending children.
  std::vector<TableName> deletion_order() const {
    std::set<TableName> done;
    std::vector<TableName> order;
    while (order.size() < reached_.size()) {
      const TableName* best = nullptr;
      std::size_t best_pending = 0;
      for (const auto& t : reached_) {
        if (done.count(t)) continue;
        std::size_t pending = 0;
        for (const auto& fk : fks_) {
          if (fk.parent == t && fk.child != t && is_reached(fk.child) && !done.count(fk.child)) {
            pending += nullable(fk) ? 1 : 1000;
          }
        }
        if (best == nullptr || pending < best_pending) {
          best = &t;
          best_pending = pending;
        }
      }
      done.insert(*best);
      order.push_back(*best);
    }
    // Users last whatever the cycles say: everything else points at it.
    auto it = std::find(order.begin(), order.end(), config_.users);
    if (it != order.end()) std::rotate(it, it + 1, order.end());
    return order;
  }

  // A SQL boolean true for the rows of `table` (aliased `alias` in the
  // caller's query) that belong to the user whose primary key is bound as $1:
  // the OR of every path of references from the table to the users table,
  // each path visiting a table at most once. With `owned_only`, only paths
  // made of ON DELETE CASCADE constraints count: the rows that live and die
  // with the user, as opposed to rows that merely point at the user's rows;
  // those include the rows a table's own ON DELETE CASCADE reference hangs
  // from an owned row, however deep (replies to the user's comments).
  // Throws dihya::Error when the graph is too dense to expand (exclude
  // tables then).
  std::string user_condition(const pqxx::transaction_base& tx, const TableName& table, const std::string& alias,
                             bool owned_only = false) const {
    std::size_t budget = 2000;
    int next_alias = 0;
    std::set<TableName> visited{table};
    return condition(tx, table, alias, visited, budget, next_alias, owned_only);
  }

  // True when every referencing column of `fk` may be NULL.
  bool nullable(const ForeignKey& fk) const {
    const auto& child = table(fk.child);
    for (const auto& c : fk.child_columns) {
      const auto* col = child.column(c);
      if (col == nullptr || col->not_null) return false;
    }
    return true;
  }

  // The children that reference `parent` (constraints only, not logical links).
  std::vector<ForeignKey> referencing(const TableName& parent) const {
    std::vector<ForeignKey> out;
    for (const auto& fk : fks_) {
      if (fk.parent == parent && !fk.logical) out.push_back(fk);
    }
    return out;
  }

  // The constraints referencing `parent` from tables outside the configured
  // schemas. The graph holds no TableInfo for those children and never
  // reaches them, but their ON DELETE actions still fire when `parent`'s
  // rows go: a plugin that deletes must see them.
  std::vector<ForeignKey> referencing_from_outside(const TableName& parent) const {
    std::vector<ForeignKey> out;
    for (const auto& fk : outside_fks_) {
      if (fk.parent == parent) out.push_back(fk);
    }
    return out;
  }

 private:
  void load_tables(pqxx::transaction_base& tx, const std::string& schemas_json) {
    auto rows = tx.exec_params(
        "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),"
        "       a.atttypid = 'bytea'::regtype, a.attgenerated <> '', a.attnotnull,"
        "       coalesce((SELECT k.i FROM pg_index x, unnest(x.indkey) WITH ORDINALITY k(n, i)"
        "                 WHERE x.indrelid = c.oid AND x.indisprimary AND k.n = a.attnum), 0)"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped"
        "   AND n.nspname IN (SELECT jsonb_array_elements_text($1::jsonb))"
        " ORDER BY n.nspname, c.relname, a.attnum",
        schemas_json);
    std::map<TableName, std::map<long, std::string>> pk_parts;
    for (const auto& r : rows) {
      TableName t{r[0].c_str(), r[1].c_str()};
      auto& info = tables_[t];
      info.name = t;
      info.columns.push_back({r[2].c_str(), r[3].c_str(), r[4].as<bool>(), r[5].as<bool>(), r[6].as<bool>()});
      const auto pk_pos = r[7].as<long>();
      if (pk_pos > 0) pk_parts[t][pk_pos] = r[2].c_str();
    }
    for (auto& [t, parts] : pk_parts) {
      for (auto& [pos, name] : parts) tables_[t].primary_key.push_back(name);
    }
  }

  void load_foreign_keys(pqxx::transaction_base& tx, const std::string& schemas_json) {
    auto rows = tx.exec_params(
        "SELECT c.oid, c.conname, cn.nspname, cc.relname, pn.nspname, pc.relname, c.confdeltype,"
        "       ca.attname, pa.attname"
        " FROM pg_constraint c"
        " JOIN pg_class cc ON cc.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace"
        " JOIN pg_class pc ON pc.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace"
        " CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY k(ck, pk, i)"
        " JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.ck"
        " JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pk"
        " WHERE c.contype = 'f' AND NOT cc.relispartition"
        "   AND pn.nspname IN (SELECT jsonb_array_elements_text($1::jsonb))"
        " ORDER BY cn.nspname, cc.relname, c.conname, c.oid, k.i",
        schemas_json);
    // Children are read in any schema: a child elsewhere is outside the
    // graph, but deleting its parent's rows still cascades into it.
    std::string last_oid;
    std::vector<ForeignKey>* into = &fks_;
    for (const auto& r : rows) {
      if (r[0].c_str() != last_oid) {
        last_oid = r[0].c_str();
        ForeignKey fk;
        fk.name = r[1].c_str();
        fk.child = {r[2].c_str(), r[3].c_str()};
        fk.parent = {r[4].c_str(), r[5].c_str()};
        fk.on_delete = r[6].c_str()[0];
        into = tables_.count(fk.child) ? &fks_ : &outside_fks_;
        into->push_back(std::move(fk));
      }
      into->back().child_columns.push_back(r[7].c_str());
      into->back().parent_columns.push_back(r[8].c_str());
    }
  }

  void add_link(ForeignKey link) {
    const auto& child = table(link.child);
    const auto& parent = table(link.parent);
    if (link.parent_columns.empty()) link.parent_columns = parent.primary_key;
    if (link.parent_columns.size() != link.child_columns.size()) {
      throw Error("logical link from " + link.child.display() + ": columns and ref_columns differ in length");
    }
    for (const auto& c : link.child_columns) {
      if (!child.column(c)) throw Error("logical link: no column '" + c + "' in " + link.child.display());
    }
    for (const auto& c : link.parent_columns) {
      if (!parent.column(c)) throw Error("logical link: no column '" + c + "' in " + link.parent.display());
    }
    fks_.push_back(std::move(link));
  }

  bool followed(const ForeignKey& fk) const {
    return !config_.excluded_tables.count(fk.child) && !config_.excluded_tables.count(fk.parent);
  }

  void compute_reached() {
    reached_ = {config_.users};
    std::set<TableName> seen{config_.users};
    for (std::size_t i = 0; i < reached_.size(); ++i) {
      std::set<TableName> next;  // sorted: a deterministic order
      for (const auto& fk : fks_) {
        if (fk.parent == reached_[i] && followed(fk) && !seen.count(fk.child)) next.insert(fk.child);
      }
      for (const auto& t : next) {
        seen.insert(t);
        reached_.push_back(t);
      }
    }
  }

  // The ON DELETE CASCADE constraints of `table` that reference `table`
  // itself and are followed; none when the table has no primary key (its
  // rows could not be told apart: the self-reference is then not followed).
  std::vector<const ForeignKey*> owned_self_references(const TableName& table) const {
    std::vector<const ForeignKey*> out;
    if (table_pk(table).empty()) return out;
    for (const auto& fk : fks_) {
      if (fk.child == table && fk.parent == table && !fk.logical && fk.on_delete == 'c' && followed(fk)) out.push_back(&fk);
    }
    return out;
  }
  const std::vector<std::string>& table_pk(const TableName& t) const { return table(t).primary_key; }

  // `follow_self`: false for the seed of a self-reference's recursion.
  std::string condition(const pqxx::transaction_base& tx, const TableName& table, const std::string& alias,
                        std::set<TableName>& visited, std::size_t& budget, int& next_alias, bool owned_only,
                        bool follow_self = true) const {
    const auto& users_pk = users_info().primary_key.front();
    if (table == config_.users) return alias + "." + tx.quote_name(users_pk) + " = $1";
    const auto self_keys = owned_only && follow_self ? owned_self_references(table) : std::vector<const ForeignKey*>{};
    if (!self_keys.empty()) {
      // The rows owned through other tables are the seed; every row that a
      // self-reference cascades from an owned row (a reply to the user's
      // comment, a reply to that reply) is owned too: PostgreSQL deletes it
      // with them. UNION ends the recursion on a cycle of rows.
      const auto n = std::to_string(next_alias++);
      const std::string seed = "dihya_s" + n, c = "dihya_c" + n, p = "dihya_q" + n, r = "dihya_r" + n;
      const auto seed_condition = condition(tx, table, seed, visited, budget, next_alias, owned_only, false);
      const auto& pk = table_pk(table);
      auto columns = [&](const std::string& a) {
        std::string out;
        for (std::size_t i = 0; i < pk.size(); ++i) out += (i ? ", " : "") + a + "." + tx.quote_name(pk[i]);
        return out;
      };
      std::string keys, match, refs;
      for (std::size_t i = 0; i < pk.size(); ++i) {
        keys += (i ? ", k" : "k") + std::to_string(i);
        match += (i ? " AND " : "") + p + "." + tx.quote_name(pk[i]) + " = " + r + ".k" + std::to_string(i);
      }
      for (std::size_t f = 0; f < self_keys.size(); ++f) refs += (f ? " OR (" : "(") + self_keys[f]->join(tx, p, c) + ")";
      const auto quoted = table.quoted(tx);
      return "(" + columns(alias) + ") IN (WITH RECURSIVE " + r + "(" + keys + ") AS (SELECT " + columns(seed) + " FROM " +
             quoted + " " + seed + " WHERE " + seed_condition + " UNION SELECT " + columns(c) + " FROM " + quoted + " " + c + " JOIN " + quoted +
             " " + p + " ON " + refs + " JOIN " + r + " ON " + match + ") SELECT " + keys + " FROM " + r + ")";
    }
    std::vector<std::string> parts;
    for (const auto& fk : fks_) {
      if (fk.child != table || !followed(fk) || visited.count(fk.parent) || !is_reached(fk.parent)) continue;
      if (owned_only && (fk.logical || fk.on_delete != 'c')) continue;
      if (budget == 0) throw Error("the foreign-key graph is too dense to expand: exclude some tables");
      --budget;
      if (fk.parent == config_.users && fk.parent_columns.size() == 1 && fk.parent_columns.front() == users_pk) {
        parts.push_back(alias + "." + tx.quote_name(fk.child_columns.front()) + " = $1");
        continue;
      }
      const std::string a = "dihya_p" + std::to_string(next_alias++);
      const std::string join = fk.join(tx, a, alias);
      visited.insert(fk.parent);
      const auto inner = condition(tx, fk.parent, a, visited, budget, next_alias, owned_only);
      visited.erase(fk.parent);
      parts.push_back("EXISTS (SELECT 1 FROM " + fk.parent.quoted(tx) + " " + a + " WHERE " + join + " AND " + inner + ")");
    }
    if (parts.empty()) return "false";
    std::string out = "(";
    for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? " OR " : "") + parts[i];
    return out + ")";
  }

  FkGraphConfig config_;
  std::map<TableName, TableInfo> tables_;
  std::vector<ForeignKey> fks_;
  std::vector<ForeignKey> outside_fks_;  // children outside the configured schemas
  std::vector<TableName> reached_;
};

}  // namespace dihya
