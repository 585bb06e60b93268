// SPDX-License-Identifier: AGPL-3.0-or-later
// The template tables: import_templates creates and fills them,
// generate_project reads the current version of a template by name.
//
// dihya.templates: one row per template name; current_version points at the
// revision generate_project renders (NULL is read as "no current revision";
// rolling back the import that created a template deletes the template) and
// current_set_by names the run that set it, so rolling back an older run never
// undoes a later one. dihya.template_versions: every revision ever
// imported, numbered 1, 2, 3... per template, with the whole document (jsonb)
// and the SHA-256 of its canonical text (dihya/template_format.hpp), which is
// what makes re-importing the same content a no-op.
//
// The platform's own public.templates limits `kind` to a few web stacks
// (no devops, ai or solidity), so these tables live in the `dihya` schema.
// Header-only. SDK support (Dihya::templates, links libpqxx), not plugin API:
// no stability promise.
#pragma once

#include <optional>
#include <string>

#include <dihya/advisory_lock.hpp>
#include <dihya/pg_search_path.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace dihya::templates {

// Serialises concurrent first runs: CREATE ... IF NOT EXISTS is not
// concurrency-safe in PostgreSQL.
inline void ensure_schema(pqxx::work& tx) {
  // Qualified and typed: an untyped $1 would pick a text overload another
  // role put on the search path (run with our privileges).
  tx.exec_params("SELECT pg_catalog.pg_advisory_xact_lock($1::pg_catalog.int8)", dihya::lock_key::kTemplateSchema);
  dihya::pg::refuse_untrusted_event_triggers(tx);
  tx.exec("CREATE SCHEMA IF NOT EXISTS dihya");
  tx.exec(
      "CREATE TABLE IF NOT EXISTS dihya.templates ("
      " id bigserial PRIMARY KEY,"
      " name text NOT NULL UNIQUE,"
      " stack text NOT NULL,"
      " description text NOT NULL,"
      " tags text[] NOT NULL DEFAULT '{}',"
      " current_version integer,"
      " current_set_by text,"
      " created_at timestamptz NOT NULL DEFAULT now(),"
      " updated_at timestamptz NOT NULL DEFAULT now())");
  tx.exec(
      "CREATE TABLE IF NOT EXISTS dihya.template_versions ("
      " template_id bigint NOT NULL REFERENCES dihya.templates (id) ON DELETE CASCADE,"
      " version integer NOT NULL CHECK (version > 0),"
      " declared_version text NOT NULL,"
      " content jsonb NOT NULL,"
      " checksum text NOT NULL,"
      " run_id text,"
      " created_at timestamptz NOT NULL DEFAULT now(),"
      " PRIMARY KEY (template_id, version))");
  // Tables created before current_set_by existed.
  tx.exec("ALTER TABLE dihya.templates ADD COLUMN IF NOT EXISTS current_set_by text");
}

// The tables may have been made by another role before our first import:
// code it owns there that USE would run with our privileges (a policy on a
// read; a trigger, rule or default on a write) is refused, not run. Locks
// both tables for the transaction. The tables must exist.
inline void refuse_untrusted_code(pqxx::transaction_base& tx, dihya::pg::TableUse use) {
  dihya::pg::refuse_untrusted_code(tx, {"dihya.templates", "dihya.template_versions"}, use);
}

struct StoredTemplate {
  nlohmann::json content;
  int version = 0;          // the revision number
  std::string checksum;
};

// Opens TX for current(): names resolve in pg_catalog only for the
// transaction (dihya/pg_search_path.hpp; generate_project reads the tables
// as whoever it connects as, often a superuser), and the tables are checked
// for another role's code. False when they do not exist yet (nothing was
// ever imported): then there is no current revision to read.
inline bool open_for_reading(pqxx::transaction_base& tx) {
  tx.exec(dihya::pg::kPinnedSearchPathLocalSql);
  const auto exists = tx.exec(
      "SELECT to_regclass('dihya.templates') IS NOT NULL AND to_regclass('dihya.template_versions') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return false;
  refuse_untrusted_code(tx, dihya::pg::TableUse::read);
  return true;
}

// The current revision of template `name` in a transaction that
// open_for_reading() opened; nullopt when there is none.
inline std::optional<StoredTemplate> current(pqxx::transaction_base& tx, const std::string& name) {
  const auto rows = tx.exec_params(
      "SELECT v.content::text, v.version, v.checksum"
      " FROM dihya.templates AS t"
      " JOIN dihya.template_versions AS v ON v.template_id = t.id AND v.version = t.current_version"
      " WHERE t.name = $1",
      name);
  if (rows.empty()) return std::nullopt;
  return StoredTemplate{nlohmann::json::parse(rows[0][0].as<std::string>()), rows[0][1].as<int>(),
                        rows[0][2].as<std::string>()};
}

}  // namespace dihya::templates
