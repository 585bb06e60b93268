// SPDX-License-Identifier: AGPL-3.0-or-later
// The embedded default database: a private PostgreSQL cluster under the state
// directory, used when no database URL is configured. It runs the system's
// initdb/pg_ctl/postgres, listens on a Unix socket only, in a 0700 directory
// owned by the cluster owner, and authenticates by peer: only the cluster
// owner and root can connect. As root, the cluster runs as the `postgres`
// system user (PostgreSQL refuses to run as root).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include "config/settings.hpp"

namespace dihya::host {

// One cluster in <state_dir>/postgres/{data,run,postgres.log}. Every method
// may be called in any state; start() and stop() are idempotent and
// serialized across processes by a lock file. Not thread-safe.
class EmbeddedCluster {
 public:
  explicit EmbeddedCluster(std::filesystem::path state_dir);

  // initdb has run: data/PG_VERSION exists.
  bool initialized() const;
  // A postmaster owns the data directory: postmaster.pid names a live process.
  bool running() const;

  // Creates the cluster if needed, starts it and waits until it accepts
  // connections, then creates the database `dihya` if absent. Throws
  // HostError(1) naming the cause, with the tail of postgres.log when the
  // server did not start.
  void start();
  // Stops the server (fast mode: sessions are disconnected). Nothing to do
  // when it is not running. Throws HostError(1) when it does not stop.
  void stop();

  // postgresql:///dihya?host=<socket dir>&user=<superuser>. Starts nothing.
  std::string url() const;
  // {"initialized", "running", "data_dir", "socket_dir", "log_file", "url", "pid"}
  // with pid null when not running.
  nlohmann::json status() const;

 private:
  std::optional<pid_t> postmaster_pid() const;
  std::string url_for(const std::string& database) const;
  void create_database_if_absent() const;

  std::filesystem::path root_;        // <state_dir>/postgres
  std::filesystem::path data_dir_;    // root_/data
  std::filesystem::path socket_dir_;  // root_/run
  std::filesystem::path log_file_;    // root_/postgres.log
  std::string superuser_;             // the cluster's superuser role
};

// The database URL the host uses: settings.database_url when set, else the
// embedded cluster's URL, after starting it when `start_if_needed`.
std::string resolve_database_url(const Settings& settings, bool start_if_needed);

}  // namespace dihya::host
