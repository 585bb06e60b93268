// SPDX-License-Identifier: AGPL-3.0-or-later
#include "database.hpp"

#include <dihya/error.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <fmt/format.h>
#include <pqxx/pqxx>

namespace backup_db {

namespace {
constexpr const char* kMaintenanceDb = "postgres";
}  // namespace

ConnectionInfo Server::parse(const dihya::Context& ctx) {
  if (ctx.database_url().empty()) throw dihya::Error("no database configured: pass --database-url");
  return ConnectionInfo::parse(ctx.database_url());
}

std::unique_ptr<pqxx::connection> Server::open(const std::string& database) {
  try {
    auto c = std::make_unique<pqxx::connection>(conn.conninfo_with_password(database));
    // The target of a restore is the application's database: a role with
    // CREATE on its public schema could shadow what our statements call
    // (an operator ~~(name, name) catches `nspname not like ...`).
    dihya::pg::pin_search_path(*c);
    if (major == 0) {
      major = c->server_version() / 10000;
      pqxx::work tx(*c);
      version = tx.exec1("show server_version")[0].as<std::string>();
    }
    return c;
  } catch (const pqxx::broken_connection& e) {
    throw dihya::Error("cannot connect to database " + (database.empty() ? conn.database() : database) + ": " +
                       redact(e.what(), conn.password()));
  }
}

std::string tool_failure(const std::string& tool, const ToolRun& run, const std::string& password) {
  std::string detail;
  for (const auto& line : run.error_tail) detail += (detail.empty() ? "" : " | ") + line;
  return redact(fmt::format("{} failed (exit {}): {}", tool, run.exit_code, detail.empty() ? "no message" : detail),
                password);
}

DatabaseProps database_props(Server& server, pqxx::connection& admin, const std::string& name) {
  DatabaseProps p;
  {
    pqxx::work tx(admin);
    auto r = tx.exec_params(
        "select pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype "
        "from pg_database where datname = $1",
        name);
    if (r.empty()) return p;
    p.exists = true;
    p.owner = r[0][0].as<std::string>();
    p.encoding = r[0][1].as<std::string>();
    p.collate = r[0][2].as<std::string>();
    p.ctype = r[0][3].as<std::string>();
  }
  auto target = server.open(name);
  pqxx::work tx(*target);
  p.user_tables = tx.exec1(
                        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                        "where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') "
                        "and n.nspname not like 'pg_toast%'")[0]
                      .as<long long>();
  return p;
}

// Utility statements take no bind parameters: names are quoted with
// quote_name and the locale values (read from the catalog or our manifest) with quote.
void drop_database(pqxx::connection& admin, int major, const std::string& name) {
  pqxx::nontransaction tx(admin);
  if (major >= 13) {
    tx.exec("drop database if exists " + tx.quote_name(name) + " with (force)");
  } else {
    tx.exec_params("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
                   name);
    tx.exec("drop database if exists " + tx.quote_name(name));
  }
}

void create_database(pqxx::connection& admin, const std::string& name, const std::string& encoding,
                     const std::string& collate, const std::string& ctype) {
  pqxx::nontransaction tx(admin);
  std::string sql = "create database " + tx.quote_name(name) + " template template0 allow_connections false";
  if (!encoding.empty()) sql += " encoding " + tx.quote(encoding);
  if (!collate.empty()) sql += " lc_collate " + tx.quote(collate);
  if (!ctype.empty()) sql += " lc_ctype " + tx.quote(ctype);
  tx.exec(sql);
  tx.exec("revoke connect, temporary on database " + tx.quote_name(name) + " from public");
  tx.exec("alter database " + tx.quote_name(name) + " allow_connections true");
}

void open_database(pqxx::connection& admin, const std::string& name, const std::string& owner) {
  pqxx::nontransaction tx(admin);
  if (!owner.empty()) tx.exec("alter database " + tx.quote_name(name) + " owner to " + tx.quote_name(owner));
  tx.exec("grant connect, temporary on database " + tx.quote_name(name) + " to public");
}

std::string maintenance_db_for(const std::string& target) {
  return target == kMaintenanceDb ? "template1" : kMaintenanceDb;
}

}  // namespace backup_db
