// SPDX-License-Identifier: AGPL-3.0-or-later
// The host's own, small use of PostgreSQL (creating the embedded database,
// fingerprinting tables for `check --exercise`, reading the password out of a
// connection string) goes through libpq's C API, loaded with dlopen on first
// use. Linking libpq would make every command pay its start-up (GnuTLS,
// Kerberos, LDAP initialisers: ~5 ms) even when no database is involved.
// Plugins get libpqxx through the SDK, in the child process only.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dihya::host {

// One connection. Errors are HostError(kExitRunFailed) with libpq's message,
// which never includes the password.
class PgConnection {
 public:
  explicit PgConnection(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `sql` with `params` bound as text ($1, $2...) and returns the rows,
  // NULL as "". On an SQL error, throws PgError carrying the SQLSTATE.
  std::vector<std::vector<std::string>> query(const std::string& sql, const std::vector<std::string>& params = {});

 private:
  void* conn_ = nullptr;  // PGconn*
};

class PgError : public std::runtime_error {
 public:
  PgError(const std::string& message, std::string sqlstate) : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

// The password inside a connection string (URL or key=value form), if any.
// A string remember_connection_password() parsed is answered without libpq.
std::optional<std::string> connection_password(const std::string& conninfo);

// Why libpq cannot parse `conninfo` (its message, every piece of the string
// it quotes masked), or nothing when it can. One it cannot must be neither
// used nor shown: libpq's message quotes the part it could not read, which
// may be the password (a secrets file holding only the password, a
// password with an unquoted blank), and no rule can tell which part.
std::optional<std::string> conninfo_problem(const std::string& conninfo);

class Redactor;  // params/redaction.hpp

// Registers the password of `conninfo` with `redactor` as it is spelt there
// (percent-encoded, quoted: what argv, the environment and libpq's messages
// hold) and as libpq decodes it. Nothing when it holds none.
void redact_connection_password(Redactor& redactor, const std::string& conninfo);

// Parses the password of `conninfo` in a short-lived child process, which
// loads libpq and exits, and remembers it for connection_password() in this
// process and the processes forked from it later. The scheduler's zygote
// does this for its jobs' database URL: a job whose plugin does not use the
// database then never maps libpq and its ~20 libraries, whose mappings and
// pages every fork copies (~70 page faults and ~0.6 ms of CPU per job). Does
// nothing when the string is remembered already or the child fails.
void remember_connection_password(const std::string& conninfo);

// Loads libpq now (the zygote, before it forks the first job whose plugin
// uses the database: those jobs then find it loaded). Throws like any use.
void preload_libpq();

// `conninfo` (URL or key=value form) pointed at database `dbname`, as a
// key=value string with every other setting kept. Throws HostError(kExitUsage)
// when `conninfo` cannot be parsed.
std::string with_database_name(const std::string& conninfo, const std::string& dbname);

}  // namespace dihya::host
