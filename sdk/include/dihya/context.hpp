// SPDX-License-Identifier: AGPL-3.0-or-later
// Everything a plugin may use of the world. Plugins talk to the world only
// through the Context the host gives them, which keeps them testable and lets
// the host record, redact and undo what they do. A Context lives for one
// operation (validate, run or rollback) and is used from one thread unless a
// method says otherwise. Every method but db() is virtual, so a plugin's unit
// test can give it a fake (sdk/testing/fake_context.hpp); db() itself is
// defined in <dihya/database.hpp>, the one API header that needs libpqxx.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dihya/error.hpp"
#include "dihya/journal.hpp"
#include "dihya/logger.hpp"

// libpqxx 6's connection type, named without its 60 000 lines of headers;
// <dihya/database.hpp> includes the real declaration, and the compiler
// rejects this one there if the two ever differ.
namespace pqxx {
class connect_direct;
template <typename ConnectPolicy>
class basic_connection_base;
using connection = basic_connection_base<connect_direct>;
}  // namespace pqxx

namespace dihya {

class Context {
 public:
  virtual ~Context() = default;

  // The run's logger. Owned by the context.
  virtual Logger& log() = 0;

  // True when the operator asked for a dry run: the plugin must change nothing
  // and say what it would do.
  virtual bool dry_run() const = 0;

  // True once the host asked the run to stop (timeout, Ctrl-C). Poll it between
  // steps and return soon after; the host kills the run after a grace period.
  // Thread-safe.
  virtual bool cancelled() const = 0;

  // Reports progress of long work (`done` of `total` units of `what`).
  // Thread-safe.
  virtual void progress(std::uint64_t done, std::uint64_t total, std::string_view what) = 0;

  // The run's write-ahead undo log. Owned by the context.
  virtual Journal& journal() = 0;

  // A private scratch directory, removed after the run.
  virtual const std::filesystem::path& work_dir() const = 0;

  // Where the run leaves files for the operator (exports, reports, backups).
  virtual const std::filesystem::path& output_dir() const = 0;

  // The value of a secret: a `writeOnly` parameter, or "database_password".
  // The one way a plugin reads a secret (see params.hpp). Never log it; the
  // host redacts it from logs anyway.
  virtual std::optional<std::string> secret(std::string_view name) const = 0;

  // The current time. Plugins use this clock, not the system's, so tests can pin it.
  virtual std::chrono::system_clock::time_point now() const = 0;

  // The run id, time-sortable (e.g. "20261125T215000Z-3f9a").
  virtual const std::string& run_id() const = 0;

  // The database the host is configured with, opened on first use and owned
  // by the context. Throws dihya::Error when no database is configured or it
  // cannot be reached. Defined in <dihya/database.hpp>: include it to call this.
  pqxx::connection& db();

  // The connection string of that database, password included, for plugins that
  // must hand it to another program (pg_dump). Never log it.
  virtual const std::string& database_url() const = 0;

 protected:
  // Where db() gets its connection: one the context owns, or nullptr (the
  // default) to have db() open database_url() itself. Overridden by a test's
  // fake context to hand out its own connection; the host keeps the default,
  // so the connection and its deleter are made in the plugin's code and the
  // host never links libpqxx.
  virtual pqxx::connection* own_database() { return nullptr; }

  // Closes the connection db() opened, if any. A context that lets db() open
  // it calls this first thing in its destructor: until then a thread of the
  // connection may call cancelled(), which must not outlive the derived class.
  void close_database() noexcept { db_.reset(); }

 private:
  std::shared_ptr<void> db_;  // the connection db() opened, type-erased
};

}  // namespace dihya
