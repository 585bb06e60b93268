// SPDX-License-Identifier: AGPL-3.0-or-later
// What PostgreSQL said about a failed statement, in full: the message and its
// DETAIL, HINT and CONTEXT (which say which key, which cast, which function
// line), and the line within the statement it points at. libpqxx hands the
// server's report over as one text; dropping all but its first line loses
// what an operator needs to fix the migration.
#pragma once

#include <cstddef>
#include <exception>
#include <string>

namespace migrate_data {

struct PgError {
  std::string message;
  std::string detail;
  std::string hint;
  std::string context;
  std::string sqlstate;
  std::size_t line = 0;  // 1-based line of the statement the server points at (0: none)

  // "message; DETAIL: ...; HINT: ...; CONTEXT: ..." on one line.
  std::string one_line() const;
  // The same, one field per line (no final newline), for the log.
  std::string block(const std::string& indent) const;
};

PgError describe_pg_error(const std::exception& e);

}  // namespace migrate_data
