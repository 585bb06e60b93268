// SPDX-License-Identifier: AGPL-3.0-or-later
// The PostgreSQL server behind the configured URL, as backup_db uses it:
// connections made in this process (the URL taken apart once, the password
// kept aside for the tools' PGPASSFILE), the server's major version (to pick
// matching tools), and the database-level statements a restore needs.
#pragma once

#include <memory>
#include <string>

#include <dihya/context.hpp>
#include <pqxx/connection>

#include "pg_tools.hpp"

namespace backup_db {

// Parsed once per operation: the URL taken apart and the password kept aside.
struct Server {
  ConnectionInfo conn;
  int major = 0;
  std::string version;

  explicit Server(const dihya::Context& ctx) : conn(parse(ctx)) {}

  static ConnectionInfo parse(const dihya::Context& ctx);

  // A connection to `database` ("" = the configured one), made in this
  // process; the first one also reads the server version. Throws dihya::Error.
  std::unique_ptr<pqxx::connection> open(const std::string& database = {});

  std::string database() const { return conn.database(); }
};

// "<tool> failed (exit N): <its error lines>", the password masked.
std::string tool_failure(const std::string& tool, const ToolRun& run, const std::string& password);

struct DatabaseProps {
  bool exists = false;
  long long user_tables = 0;  // tables outside pg_catalog/information_schema
  std::string owner, encoding, collate, ctype;
};

// What `name` is, read through `admin` (a connection to the maintenance database).
DatabaseProps database_props(Server& server, pqxx::connection& admin, const std::string& name);

// DROP DATABASE IF EXISTS, ending the other sessions on it first.
void drop_database(pqxx::connection& admin, int major, const std::string& name);

// CREATE DATABASE from template0, owned by us and closed to every role but
// us and the superusers (no CONNECT for PUBLIC, and no session could open
// before that was revoked): while it is restored, no other role can change
// what was checked (add a NOT VALID check to its domain, an index to its
// table) between a check and the statement it guards. Empty arguments keep
// the server's defaults. open_database() gives it to OWNER and opens it.
void create_database(pqxx::connection& admin, const std::string& name, const std::string& encoding,
                     const std::string& collate, const std::string& ctype);
void open_database(pqxx::connection& admin, const std::string& name, const std::string& owner);

// The database to connect to while `target` is dropped and created.
std::string maintenance_db_for(const std::string& target);

}  // namespace backup_db
