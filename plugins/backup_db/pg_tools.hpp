// SPDX-License-Identifier: AGPL-3.0-or-later
// Running the PostgreSQL client tools (pg_dump, pg_restore) as child processes
// without ever exposing the password: the connection string is split into a
// password-free conninfo for the command line and a password handed over in a
// private PGPASSFILE. Children are started with dihya::spawn_process from an argv (no
// shell), their stderr is read line by line for progress and kept (bounded)
// for error messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace backup_db {

// A connection string taken apart by libpq (URL or key=value form).
class ConnectionInfo {
 public:
  // Throws dihya::Error (without echoing the string) when libpq cannot parse it.
  static ConnectionInfo parse(const std::string& url);

  const std::string& password() const { return password_; }
  // The database named by the string ("" when libpq would use its default).
  std::string database() const;
  // key='value' conninfo without the password, for a command line or a log.
  // An empty `database` keeps the original one.
  std::string conninfo(std::string_view database = {}) const;
  // The same with the password, for connections made in this process only.
  std::string conninfo_with_password(std::string_view database = {}) const;

 private:
  std::vector<std::pair<std::string, std::string>> options_;  // every set option but the password
  std::string password_;
};

// Replaces every occurrence of `secret` (when not empty) with "***".
std::string redact(std::string text, const std::string& secret);

// pg_dump and pg_restore of one PostgreSQL installation.
struct Tools {
  std::filesystem::path pg_dump;
  std::filesystem::path pg_restore;
};

// The tools matching `server_major` under /usr/lib/postgresql/<major>/bin, else
// from PATH; `bindir` (when not empty) wins. Throws dihya::Error naming what
// was tried.
Tools find_tools(int server_major, const std::filesystem::path& bindir);

// A 0600 password file in `dir` holding `password` for any host/db/user,
// removed on destruction. Empty (no file) when there is no password.
class PasswordFile {
 public:
  PasswordFile(const std::filesystem::path& dir, const std::string& password);
  ~PasswordFile();
  PasswordFile(const PasswordFile&) = delete;
  PasswordFile& operator=(const PasswordFile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct ToolRun {
  int exit_code = 0;                    // the exit status, or 128 + signal
  std::vector<std::string> error_tail;  // stderr lines kept for messages (errors, warnings, last lines)
  std::string output;                   // stdout, when captured (bounded)
};

struct ToolOptions {
  const PasswordFile* password_file = nullptr;         // sets PGPASSFILE in the child only
  std::function<void(std::string_view)> on_stderr_line;  // each stderr line (progress)
  std::function<void(std::string_view)> on_stdout_line;  // each stdout line; stdout discarded when neither
  bool capture_stdout = false;                           // keep stdout (first 64 KiB) in ToolRun::output
  std::function<bool()> cancelled;                       // polled; true sends SIGTERM to the child
};

// Runs argv[0] with argv (no shell) and waits for it. Throws dihya::Error when
// it cannot be started or was cancelled; a non-zero exit is returned.
ToolRun run_tool(const std::vector<std::string>& argv, const ToolOptions& options);

// argv as one line for logs (password-free by construction).
std::string describe_command(const std::vector<std::string>& argv);

// "pg_dump (PostgreSQL) 15.4" from `<tool> --version`.
std::string tool_version(const std::filesystem::path& tool);

}  // namespace backup_db
