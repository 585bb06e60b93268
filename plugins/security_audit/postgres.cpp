// SPDX-License-Identifier: AGPL-3.0-or-later
// PostgreSQL checks. Every query is read-only and runs in its own read-only
// transaction, so a check that lacks a privilege (pg_authid and
// pg_hba_file_rules are superuser-only) is skipped with a note and the others
// still run. The audit is often run as a superuser against the application's
// database, whose role may own a schema of the search path: names resolve in
// pg_catalog only, or a public.array_to_string(text[], text) of that role
// would be a better match than the built-in and run as the superuser.
#include <functional>

#include <pqxx/pqxx>

#include <dihya/pg_untrusted_code.hpp>

#include "checks.hpp"

namespace security_audit {
namespace {

Finding postgres_finding(const std::string& rule, Severity sev, const std::string& title, const std::string& object,
             const std::string& message, const std::string& evidence, const std::string& fix) {
  Finding f;
  f.rule = rule;
  f.check = "postgres";
  f.severity = sev;
  f.title = title;
  f.message = message;
  f.object = object;
  f.evidence = evidence;
  f.fix = fix;
  f.fingerprint = fingerprint(rule, object, evidence);
  return f;
}

// Runs one check; a SQL error (usually a missing privilege) becomes a note.
void guarded(pqxx::connection& db, const std::string& what, std::vector<std::string>& notes,
             const std::function<void(pqxx::read_transaction&)>& check) {
  try {
    pqxx::read_transaction tx(db);
    check(tx);
  } catch (const pqxx::insufficient_privilege&) {
    notes.push_back("postgres: " + what + ": skipped (permission denied; run as a superuser to include it)");
  } catch (const pqxx::sql_error& e) {
    std::string message = e.what();
    if (auto nl = message.find('\n'); nl != std::string::npos) message.resize(nl);
    notes.push_back("postgres: " + what + ": skipped (" + message + ")");
  }
}

std::string quoted_role(pqxx::read_transaction& tx, const std::string& role) { return tx.quote_name(role); }

}  // namespace

std::vector<RuleInfo> postgres_rules() {
  return {{"pg-app-role-superuser", "The application connects as a superuser", Severity::high},
          {"pg-app-role-createrole", "The application role can create roles", Severity::medium},
          {"pg-superuser-login", "Login role with SUPERUSER", Severity::high},
          {"pg-createrole-login", "Login role with CREATEROLE", Severity::medium},
          {"pg-role-without-password", "Login role without a password", Severity::medium},
          {"pg-md5-password", "MD5 password hash while SCRAM is the default", Severity::medium},
          {"pg-hba-trust", "pg_hba.conf line with trust authentication", Severity::high},
          {"pg-hba-password", "pg_hba.conf line with cleartext password authentication", Severity::medium},
          {"pg-ssl-off", "SSL is off", Severity::medium},
          {"pg-public-schema-create", "PUBLIC may create objects in schema public", Severity::medium},
          {"pg-untrusted-extension", "Untrusted extension installed", Severity::low}};
}

std::vector<Finding> check_postgres(pqxx::connection& db, std::vector<std::string>& notes) {
  std::vector<Finding> out;
  std::string app_role;
  dihya::pg::pin_search_path(db);

  guarded(db, "application role", notes, [&](pqxx::read_transaction& tx) {
    const auto row = tx.exec1("select current_user::text, rolsuper, rolcreaterole from pg_roles where rolname = current_user");
    app_role = row[0].as<std::string>();
    const std::string object = "role " + quoted_role(tx, app_role);
    if (row[1].as<bool>()) {
      out.push_back(postgres_finding("pg-app-role-superuser", Severity::high, "The application connects as a superuser", object,
                         "the configured database URL logs in as superuser " + app_role +
                             ": any SQL injection or plugin bug owns the whole cluster",
                         "current_user=" + app_role + " rolsuper",
                         "connect as a dedicated role with only the privileges the application needs"));
    } else if (row[2].as<bool>()) {
      out.push_back(postgres_finding("pg-app-role-createrole", Severity::medium, "The application role can create roles", object,
                         "the configured database URL logs in as " + app_role + ", which has CREATEROLE",
                         "current_user=" + app_role + " rolcreaterole", "ALTER ROLE " + tx.quote_name(app_role) +
                                                                           " NOCREATEROLE"));
    }
  });

  guarded(db, "privileged login roles", notes, [&](pqxx::read_transaction& tx) {
    // oid 10 is the bootstrap superuser, which must exist; the app role was reported above.
    const auto rows = tx.exec(
        "select rolname::text, rolsuper from pg_roles where rolcanlogin and (rolsuper or rolcreaterole) "
        "and oid <> 10 and rolname <> current_user order by rolname");
    for (const auto& row : rows) {
      const auto name = row[0].as<std::string>();
      const bool super = row[1].as<bool>();
      out.push_back(postgres_finding(super ? "pg-superuser-login" : "pg-createrole-login",
                         super ? Severity::high : Severity::medium,
                         super ? "Login role with SUPERUSER" : "Login role with CREATEROLE",
                         "role " + tx.quote_name(name),
                         "role " + name + " can log in and has " + (super ? "SUPERUSER" : "CREATEROLE"),
                         super ? "rolsuper rolcanlogin" : "rolcreaterole rolcanlogin",
                         "ALTER ROLE " + tx.quote_name(name) + (super ? " NOSUPERUSER" : " NOCREATEROLE") +
                             " (or NOLOGIN if it is only an owner role)"));
    }
  });

  guarded(db, "roles without password", notes, [&](pqxx::read_transaction& tx) {
    const auto rows = tx.exec("select rolname::text from pg_authid where rolcanlogin and rolpassword is null order by 1");
    for (const auto& row : rows) {
      const auto name = row[0].as<std::string>();
      out.push_back(postgres_finding("pg-role-without-password", Severity::medium, "Login role without a password",
                         "role " + tx.quote_name(name),
                         "role " + name + " can log in and has no password: only pg_hba.conf stands between it "
                         "and anyone who can reach the server",
                         "rolcanlogin, rolpassword null",
                         "\\password " + tx.quote_name(name) + " in psql, or ALTER ROLE ... NOLOGIN if nobody logs in as it"));
    }
  });

  guarded(db, "md5 passwords", notes, [&](pqxx::read_transaction& tx) {
    const auto encryption = tx.exec1("select current_setting('password_encryption')")[0].as<std::string>();
    if (encryption != "scram-sha-256") return;
    const auto rows = tx.exec("select rolname::text from pg_authid where rolpassword like 'md5%' order by 1");
    for (const auto& row : rows) {
      const auto name = row[0].as<std::string>();
      out.push_back(postgres_finding("pg-md5-password", Severity::medium, "MD5 password hash while SCRAM is the default",
                         "role " + tx.quote_name(name),
                         "role " + name + " still has an MD5 password hash (weak, replayable); "
                         "password_encryption is scram-sha-256",
                         "rolpassword md5…", "set the password again (\\password " + tx.quote_name(name) +
                                                 ") so it is stored as SCRAM, then use scram-sha-256 in pg_hba.conf"));
    }
  });

  guarded(db, "pg_hba.conf", notes, [&](pqxx::read_transaction& tx) {
    const auto rows = tx.exec(
        "select line_number, type, array_to_string(database, ','), array_to_string(user_name, ','), "
        "coalesce(address, ''), auth_method from pg_hba_file_rules "
        "where error is null and auth_method in ('trust', 'password') order by line_number");
    // A host line is only as open as the listening addresses make it.
    const bool socket_only = tx.exec1("select current_setting('listen_addresses')")[0].as<std::string>().empty();
    for (const auto& row : rows) {
      const auto line = row[0].as<long long>();
      const auto type = row[1].as<std::string>();
      const auto method = row[5].as<std::string>();
      const std::string text = type + " " + row[2].as<std::string>() + " " + row[3].as<std::string>() +
                               (row[4].as<std::string>().empty() ? "" : " " + row[4].as<std::string>()) + " " + method;
      const bool trust = method == "trust";
      const bool network = type != "local" && !socket_only;
      const Severity sev = trust ? (network ? Severity::critical : Severity::high) : Severity::medium;
      out.push_back(postgres_finding(trust ? "pg-hba-trust" : "pg-hba-password", sev,
                         trust ? "pg_hba.conf line with trust authentication"
                               : "pg_hba.conf line with cleartext password authentication",
                         "pg_hba.conf line " + std::to_string(line),
                         (trust ? "connections matching '" + text + "' log in without any password"
                                : "connections matching '" + text + "' send the password in clear") +
                             (type != "local" && socket_only ? " (no TCP listener today: listen_addresses is empty)" : ""),
                         text, "use scram-sha-256 (or peer for local admin access) on that line and reload"));
    }
  });

  guarded(db, "ssl", notes, [&](pqxx::read_transaction& tx) {
    const auto row = tx.exec1("select current_setting('ssl'), current_setting('listen_addresses')");
    if (row[0].as<std::string>() != "off") return;
    const auto listen = row[1].as<std::string>();
    const bool socket_only = listen.empty();
    out.push_back(postgres_finding("pg-ssl-off", socket_only ? Severity::low : Severity::medium, "SSL is off", "setting ssl",
                       socket_only ? "ssl is off (the server listens on its Unix socket only)"
                                   : "ssl is off while the server listens on '" + listen +
                                         "': passwords and data cross the network in clear",
                       "ssl=off listen_addresses='" + listen + "'",
                       "set ssl = on with a certificate (ssl_cert_file, ssl_key_file) and use hostssl lines"));
  });

  guarded(db, "schema public", notes, [&](pqxx::read_transaction& tx) {
    const auto row = tx.exec1(
        "select current_database()::text, exists(select 1 from pg_namespace where nspname = 'public') "
        "and has_schema_privilege('public', 'public', 'CREATE')");
    if (!row[1].as<bool>()) return;
    const auto database = row[0].as<std::string>();
    out.push_back(postgres_finding("pg-public-schema-create", Severity::medium, "PUBLIC may create objects in schema public",
                       "schema public in database " + tx.quote_name(database),
                       "every role can create objects in schema public of " + database +
                           " (search_path hijacking, CVE-2018-1058)",
                       "has_schema_privilege('public','public','CREATE')", "REVOKE CREATE ON SCHEMA public FROM PUBLIC"));
  });

  guarded(db, "extensions", notes, [&](pqxx::read_transaction& tx) {
    const auto rows = tx.exec(
        "select e.extname::text, e.extversion from pg_extension e join pg_available_extension_versions v "
        "on v.name = e.extname and v.version = e.extversion "
        "where not v.trusted and e.extname <> 'plpgsql' order by 1");
    for (const auto& row : rows) {
      const auto name = row[0].as<std::string>();
      out.push_back(postgres_finding("pg-untrusted-extension", Severity::low, "Untrusted extension installed",
                         "extension " + tx.quote_name(name),
                         "extension " + name + " " + row[1].as<std::string>() +
                             " is not marked trusted: it can reach the server's files or network",
                         name + " " + row[1].as<std::string>(),
                         "DROP EXTENSION " + tx.quote_name(name) + " if the application does not use it"));
    }
  });
  return out;
}

}  // namespace security_audit
