// SPDX-License-Identifier: AGPL-3.0-or-later
// Keeps the database plugins from running, with their own privileges, code
// that a less privileged role planted: the operator often connects them as a
// superuser to tables the application role owns, and a trigger, rule, default,
// policy or shadowing function of that role then runs as the superuser
// (CVE-2018-1058 and its kin; such a role made itself superuser through the
// scheduler's tables). Two defences, as PostgreSQL's own maintenance commands
// have: names in our statements resolve in pg_catalog only, and a table whose
// code another role owns is refused instead of touched.
//
// Why refuse rather than `SET LOCAL ROLE <owner>`: a trigger that runs after
// SET ROLE may RESET ROLE (the check is against the session user) and is the
// superuser again; only a security-restricted context stops that, which SQL
// cannot enter. The refusal names the code and the fix: connect as its owner.
//
// Header-only. SDK support (links libpqxx), not plugin API: no stability promise.
#pragma once

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "dihya/error.hpp"
#include "dihya/pg_search_path.hpp"

namespace dihya::pg {

// For the whole session (kPinnedSearchPathSql): call right after connecting, before any other statement.
inline void pin_search_path(pqxx::connection_base& db) {
  pqxx::nontransaction tx(db);
  tx.exec(kPinnedSearchPathSql);
}

enum class TableUse {
  read,   // SELECT: row-security policies, a view's query, casts from the columns' types (to_json...), and
          // what the planner simplifies: index expressions, statistics, partition keys, CHECK constraints
  write,  // INSERT, UPDATE, DELETE: the same, triggers, rules, defaults, and the columns' types: domain checks
          // and defaults, a range's subtype_diff; and the tables foreign keys link to them
  load,   // pg_restore's COPY into tables it just created: checks, domains, generated columns, partition keys
  validate,  // VALIDATE CONSTRAINT, a new foreign key's check: constraints, what the planner simplifies, casts
};

namespace detail {

// A PostgreSQL array literal of TEXTS, each element quoted.
inline std::string text_array(const std::vector<std::string>& texts) {
  std::string out = "{";
  for (const auto& t : texts) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char ch : t) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

// $1: the tables (text[] of qualified names), $2: the TableUse ('read',
// 'write', 'load', 'validate'). Policies count for every use that reads or
// writes rows: superusers skip them, other roles do not.
// Every name is qualified and every comparison is between operands of the
// same built-in type, so that pg_catalog's operator is an exact match, and
// refuse_untrusted_code() runs it with search_path pinned (migrate_data keeps
// the operator's for the rest of its transaction).
// The tables as one array (rels) that each catalog is searched with: an
// index lookup per table, not a scan of pg_attribute or pg_rewrite, which
// hold a row per column and per view of the whole database (half the
// query's time on an empty one, most of it on a large one).
// One line naming each object that would run a function (or an operator's
// function) owned by a role that is neither a superuser nor one that already
// has all our privileges, or a built-in that such a role's code calls and
// that does more with our privileges than it could (see `harmless` below),
// or each rule of a table such a role owns; empty when none. Partitions and inheritance children count: a statement on the parent
// fires their triggers too. So do, for a write, the tables a foreign key
// links in either direction, transitively: PostgreSQL runs their code (a
// cascaded action's triggers, the planning of its checks' queries) as their
// owner, who cannot switch back to us but can change our session's settings
// (a search_path naming its schema first) for the statements that follow.
// The planner runs code on reads too: it simplifies index expressions and
// predicates, statistics objects' expressions, partition keys and CHECK
// constraints (constraint exclusion) of every table a query names, calling
// any immutable function of constant arguments in them.
inline constexpr const char* kUntrustedCodeSql = R"SQL(
WITH RECURSIVE touched(relid) AS (
  SELECT pg_catalog.unnest($1::pg_catalog.text[])::pg_catalog.regclass::pg_catalog.oid
  UNION
  SELECT n.relid FROM touched CROSS JOIN LATERAL (
    SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = touched.relid
    UNION ALL
    SELECT CASE WHEN c.confrelid = touched.relid THEN c.conrelid ELSE c.confrelid END FROM pg_catalog.pg_constraint c
      WHERE $2::pg_catalog.text = 'write' AND c.contype = 'f'
        AND (c.conrelid = touched.relid OR c.confrelid = touched.relid)) n(relid)
), ancestors(relid) AS (
  -- A row written into a partition, even directly (COPY into a leaf),
  -- evaluates the partition keys of every table above it.
  SELECT relid FROM touched
  UNION
  SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN ancestors ON i.inhrelid = ancestors.relid
), rels(oids) AS (
  SELECT pg_catalog.array_agg(relid) FROM touched
), own(classid, objid, relid) AS (
  -- The code of the tables themselves.
  SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass::pg_catalog.oid, p.oid, p.polrelid FROM pg_catalog.pg_policy p
    WHERE $2::pg_catalog.text <> 'validate' AND p.polrelid = ANY ((SELECT oids FROM rels)::pg_catalog.oid[])
  UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::pg_catalog.oid, g.oid, g.tgrelid FROM pg_catalog.pg_trigger g
    WHERE $2::pg_catalog.text = 'write' AND g.tgrelid = ANY ((SELECT oids FROM rels)::pg_catalog.oid[]) AND NOT g.tgisinternal
  UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass::pg_catalog.oid, r.oid, r.ev_class FROM pg_catalog.pg_rewrite r
    WHERE r.ev_class = ANY ((SELECT oids FROM rels)::pg_catalog.oid[])
      AND ($2::pg_catalog.text = 'write' OR r.rulename = '_RETURN' AND $2::pg_catalog.text <> 'validate')  -- a view's query
  UNION ALL SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass::pg_catalog.oid, d.oid, d.adrelid FROM pg_catalog.pg_attrdef d
    WHERE d.adrelid = ANY ((SELECT oids FROM rels)::pg_catalog.oid[]) AND ($2::pg_catalog.text = 'write' OR $2::pg_catalog.text = 'load' AND EXISTS (
      SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = d.adrelid AND a.attnum = d.adnum AND a.attgenerated <> ''))
  -- Planned (and, but for a read, run) for every use: the tables' own
  -- constraints, indexes, statistics objects and partition keys.
  UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid, c.oid, c.conrelid FROM pg_catalog.pg_constraint c
    WHERE c.conrelid = ANY ((SELECT oids FROM rels)::pg_catalog.oid[])
  UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, x.indexrelid, x.indrelid FROM pg_catalog.pg_index x
    WHERE x.indrelid = ANY ((SELECT oids FROM rels)::pg_catalog.oid[])
  UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass::pg_catalog.oid, x.oid, x.stxrelid
    FROM pg_catalog.pg_statistic_ext x WHERE x.stxrelid = ANY ((SELECT oids FROM rels)::pg_catalog.oid[])
  UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, k.partrelid, k.partrelid
    FROM pg_catalog.pg_partitioned_table k WHERE k.partrelid IN (SELECT relid FROM ancestors)
), types(typid) AS (
  -- The columns' types and the types they are made of: a domain's base (a
  -- domain over a domain checks both), an array's element, a composite's
  -- attributes, a range's subtype, a multirange's range. A check on any of
  -- them runs on a write, so do a domain's default (a column left out) and a
  -- range's subtype_diff (a GiST index on it).
  SELECT a.atttypid FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = ANY ((SELECT oids FROM rels)::pg_catalog.oid[]) AND a.attnum > 0 AND NOT a.attisdropped
  UNION
  -- and the types the tables' code names: a check casting to a domain runs its checks.
  SELECT d.refobjid FROM own o JOIN pg_catalog.pg_depend d ON d.classid = o.classid AND d.objid = o.objid
    WHERE d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid
  UNION
  SELECT u.typid FROM types s JOIN pg_catalog.pg_type t ON t.oid = s.typid
    CROSS JOIN LATERAL (
      SELECT t.typbasetype UNION ALL SELECT t.typelem
      UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
      UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid
      UNION ALL SELECT r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid = t.oid) u(typid)
    WHERE u.typid <> 0::pg_catalog.oid
), attached(classid, objid, relid, author) AS (
  -- author: the role that wrote the code (a table's owner, a type's).
  SELECT o.classid, o.objid, o.relid, c.relowner FROM own o JOIN pg_catalog.pg_class c ON c.oid = o.relid
  UNION ALL
  SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid, c.oid, 0::pg_catalog.oid, t.typowner
    FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_type t ON t.oid = c.contypid
    WHERE $2::pg_catalog.text <> 'read' AND c.contypid IN (SELECT typid FROM types)
  -- Types and casts made after initdb (oid 16384, FirstNormalObjectId, and
  -- up): the built-in ones call only built-in functions.
  UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid, s.typid, 0::pg_catalog.oid, t.typowner
    FROM types s JOIN pg_catalog.pg_type t ON t.oid = s.typid
    WHERE $2::pg_catalog.text = 'write' AND s.typid >= 16384::pg_catalog.oid
  -- A cast a role wrote to or from its own type runs where a statement
  -- converts a value into or out of a column of that type, reads included:
  -- to_json, row_to_json and json_build_object call a type's cast to json,
  -- and a restore's foreign key is checked with its column cast to the
  -- other's type (a cast depends on both its types).
  UNION ALL SELECT d.classid, d.objid, 0::pg_catalog.oid, t.typowner FROM types s JOIN pg_catalog.pg_depend d
    ON d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid AND d.refobjid = s.typid
      AND d.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass::pg_catalog.oid
    JOIN pg_catalog.pg_type t ON t.oid = s.typid
    WHERE s.typid >= 16384::pg_catalog.oid
), trees(classid, objid, relid, author, tree) AS (
  -- The code's expression trees. pg_depend records no dependency on a
  -- built-in (pinned) function, so the functions the code calls are also
  -- read from them (and a trigger's or cast's function from its row).
  SELECT a.classid, a.objid, a.relid, a.author, x.tree FROM attached a CROSS JOIN LATERAL (
    SELECT c.conbin::pg_catalog.text FROM pg_catalog.pg_constraint c
      WHERE a.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid AND c.oid = a.objid
    UNION ALL SELECT d.adbin::pg_catalog.text FROM pg_catalog.pg_attrdef d
      WHERE a.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass::pg_catalog.oid AND d.oid = a.objid
    UNION ALL SELECT pg_catalog.concat(i.indexprs::pg_catalog.text, ' ', i.indpred::pg_catalog.text) FROM pg_catalog.pg_index i
      WHERE a.classid = 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid AND i.indexrelid = a.objid
    UNION ALL SELECT k.partexprs::pg_catalog.text FROM pg_catalog.pg_partitioned_table k
      WHERE a.classid = 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid AND k.partrelid = a.objid
    UNION ALL SELECT pg_catalog.concat(p.polqual::pg_catalog.text, ' ', p.polwithcheck::pg_catalog.text) FROM pg_catalog.pg_policy p
      WHERE a.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass::pg_catalog.oid AND p.oid = a.objid
    UNION ALL SELECT pg_catalog.concat(g.tgqual::pg_catalog.text, ' :funcid ', g.tgfoid) FROM pg_catalog.pg_trigger g
      WHERE a.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass::pg_catalog.oid AND g.oid = a.objid
    UNION ALL SELECT x.stxexprs::pg_catalog.text FROM pg_catalog.pg_statistic_ext x
      WHERE a.classid = 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass::pg_catalog.oid AND x.oid = a.objid
    UNION ALL SELECT pg_catalog.concat(r.ev_action::pg_catalog.text, ' ', r.ev_qual::pg_catalog.text) FROM pg_catalog.pg_rewrite r
      WHERE a.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass::pg_catalog.oid AND r.oid = a.objid
    UNION ALL SELECT t.typdefaultbin::pg_catalog.text FROM pg_catalog.pg_type t
      WHERE a.classid = 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid AND t.oid = a.objid
    UNION ALL SELECT pg_catalog.concat(':funcid ', c.castfunc) FROM pg_catalog.pg_cast c
      WHERE a.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass::pg_catalog.oid AND c.oid = a.objid) x(tree)
), called(classid, objid, relid, author, fn) AS (
  -- The functions the code calls: in its trees (a function, an operator's,
  -- an aggregate, a window function), and through pg_depend an operator's.
  SELECT t.classid, t.objid, t.relid, t.author, m[1]::pg_catalog.oid
    FROM trees t CROSS JOIN LATERAL pg_catalog.regexp_matches(t.tree, ':(?:func|opfunc|aggfn|winfn)id (\d+)', 'g') m
  UNION ALL
  SELECT a.classid, a.objid, a.relid, a.author, o.oprcode::pg_catalog.oid
    FROM attached a
    JOIN pg_catalog.pg_depend d ON d.classid = a.classid AND d.objid = a.objid
    JOIN pg_catalog.pg_operator o ON d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass::pg_catalog.oid AND o.oid = d.refobjid
  UNION ALL SELECT a.classid, a.objid, a.relid, a.author, d.refobjid
    FROM attached a
    JOIN pg_catalog.pg_depend d ON d.classid = a.classid AND d.objid = a.objid
      AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid
), code(classid, objid, relid, what, owner, author, harmless) AS (
  -- harmless: a function that, called with our privileges by code another
  -- role wrote, does nothing that role could not: one a trusted role wrote
  -- itself (made after initdb, in no extension), an immutable one, a stable
  -- built-in that runs no SQL of its own (the *_to_xml family and ts_stat
  -- run a query given as text, which may call anything), or one of the few
  -- volatile built-ins defaults and triggers use. Not set_config (our
  -- session's search_path), lo_export, pg_read_file, pg_terminate_backend,
  -- an extension's dblink...
  SELECT k.classid, k.objid, k.relid, 'calls ' || p.oid::pg_catalog.regprocedure::pg_catalog.text, p.proowner, k.author,
         p.oid >= 16384::pg_catalog.oid AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
           WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid AND e.objid = p.oid AND e.deptype = 'e')
         OR p.provolatile = 'i'
         OR p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace::pg_catalog.oid AND (
           p.provolatile = 's' AND NOT (p.proname::pg_catalog.text LIKE '%to\_xml%' OR p.proname::pg_catalog.text IN ('ts_stat', 'ts_rewrite'))
           OR p.proname::pg_catalog.text IN ('now', 'statement_timestamp', 'transaction_timestamp', 'clock_timestamp', 'timeofday',
             'nextval', 'currval', 'random', 'gen_random_uuid', 'txid_current', 'pg_current_xact_id',
             'tsvector_update_trigger', 'tsvector_update_trigger_column', 'suppress_redundant_updates_trigger'))
         OR p.proname::pg_catalog.text IN ('uuid_generate_v1', 'uuid_generate_v1mc', 'uuid_generate_v4')
    FROM called k JOIN pg_catalog.pg_proc p ON p.oid = k.fn
  UNION ALL SELECT a.classid, a.objid, a.relid, 'is a rule', a.author, a.author, false  -- author: the table's owner
    FROM attached a JOIN pg_catalog.pg_rewrite r ON r.oid = a.objid AND r.rulename <> '_RETURN'
    WHERE a.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass::pg_catalog.oid
), judged AS (
  SELECT code.*,
         (SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid = code.owner)
           OR pg_catalog.pg_has_role(code.owner, CURRENT_USER, 'USAGE') AS owner_trusted,
         (SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid = code.author)
           OR pg_catalog.pg_has_role(code.author, CURRENT_USER, 'USAGE') AS author_trusted
  FROM code
)
SELECT COALESCE(pg_catalog.string_agg(DISTINCT pg_catalog.format('%s %s (%s %s)',
         pg_catalog.pg_describe_object(classid, objid, 0), what, CASE WHEN owner_trusted THEN 'written by' ELSE 'owner' END,
         pg_catalog.pg_get_userbyid(CASE WHEN owner_trusted THEN author ELSE owner END)), ', '), ''),
       pg_catalog.set_config('jit', pg_catalog.current_setting('dihya.jit_before_check'), true),
       pg_catalog.set_config('plan_cache_mode', pg_catalog.current_setting('dihya.plan_cache_mode_before_check'), true),
       pg_catalog.set_config('search_path', pg_catalog.current_setting('dihya.search_path_before_check'), true)
FROM judged
WHERE NOT owner_trusted OR NOT author_trusted AND NOT harmless
)SQL";

}  // namespace detail

// Locks TABLES (qualified, quoted names) for USE in TX, then throws one line
// naming any code on them that a role other than us or a superuser owns and
// that USE would run with our privileges. Call it in the transaction that
// then reads or writes them: the lock keeps that role from adding a trigger,
// rule, default or policy before we are done (each needs a stronger lock).
// `also`: constant SQL (a SET LOCAL) sent with the lock, saving a round trip.
inline void refuse_untrusted_code(pqxx::transaction_base& tx, const std::vector<std::string>& tables, TableUse use,
                                  const char* also = "") {
  if (tables.empty()) return;
  std::string list;
  for (const auto& t : tables) list += (list.empty() ? "" : ", ") + t;
  // Parsed with search_path pinned (a caller such as migrate_data keeps the
  // operator's, which may name a schema another role writes before
  // pg_catalog), planned with JIT off and once per connection, all set in the
  // same round trip:
  // the planner prices the types' recursion at thousands of rows (it finds a
  // handful), enough for PostgreSQL to spend 15-50 ms compiling the query,
  // and to judge the generic plan dearer than a custom one (planned again at
  // every call: 3-4 ms, against ~0.1 ms for running the generic plan). The
  // query itself sets both back as they were for the rest of the transaction.
  const bool reads = use == TableUse::read || use == TableUse::validate;
  tx.exec("LOCK TABLE " + list + (reads ? " IN ACCESS SHARE MODE" : " IN ROW EXCLUSIVE MODE") +
          "; SELECT pg_catalog.set_config('dihya.jit_before_check', pg_catalog.current_setting('jit'), true),"
          " pg_catalog.set_config('dihya.plan_cache_mode_before_check', pg_catalog.current_setting('plan_cache_mode'), true),"
          " pg_catalog.set_config('dihya.search_path_before_check', pg_catalog.current_setting('search_path'), true)"
          "; SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_generic_plan; " +
          kPinnedSearchPathLocalSql + "; " + also);
  const char* use_name = use == TableUse::read    ? "read"
                         : use == TableUse::write ? "write"
                         : use == TableUse::load  ? "load"
                                                  : "validate";
  // Prepared once per connection (a no-op after the first): cleanup checks
  // before every batch.
  tx.conn().prepare("dihya_untrusted_code", detail::kUntrustedCodeSql);
  const auto found =
      tx.exec_prepared1("dihya_untrusted_code", detail::text_array(tables), use_name)[0].as<std::string>();
  if (found.empty()) return;
  const auto user = tx.exec1("SELECT CURRENT_USER")[0].as<std::string>();
  throw Error("refusing to touch " + list.substr(0, 200) + " as " + user + ": " + found.substr(0, 600) +
              " would run with " + user + "'s privileges; connect as that owner, or review the code and give it to " +
              user + " or a superuser (ALTER ... OWNER TO)");
}

// Throws one line naming the event triggers that DDL run in TX would fire
// with another role's code (kUntrustedEventTriggersSql, pg_search_path.hpp). Call it before the
// first CREATE, ALTER or DROP of a session. WHAT: what is refused ("change
// the schema as <current user>" when empty).
inline void refuse_untrusted_event_triggers(pqxx::transaction_base& tx, const std::string& what = {}) {
  const auto found = tx.exec1(kUntrustedEventTriggersSql)[0].as<std::string>();
  if (found.empty()) return;
  const auto user = tx.exec1("SELECT CURRENT_USER")[0].as<std::string>();
  throw Error(untrusted_event_triggers_message(what.empty() ? "change the schema as " + user : what, found, user));
}

}  // namespace dihya::pg
