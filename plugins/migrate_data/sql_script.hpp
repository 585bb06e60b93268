// SPDX-License-Identifier: AGPL-3.0-or-later
// The statements of one SQL script, each with the line of the file it starts
// on, so that an error names `file:line`, and the checks made on them before
// anything runs: transaction control in a script the plugin wraps in its own
// transaction, and statements PostgreSQL refuses inside a transaction.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace migrate_data {

struct Statement {
  std::string text;
  std::size_t line = 1;  // 1-based line of the file where `text` starts
};

// Splits a script into statements on top-level ';', aware of quotes,
// dollar-quoting, comments and the BEGIN ... END body of CREATE FUNCTION /
// PROCEDURE (psql's heuristic); comment-only pieces are dropped. `first_line`
// is the file line of the script's first byte.
std::vector<Statement> split_statements(std::string_view sql, std::size_t first_line = 1);

// goose's rules: a `-- +goose StatementBegin` ... `-- +goose StatementEnd`
// block is one statement; the text around such blocks is split as above.
std::vector<Statement> split_goose_statements(std::string_view sql, std::size_t first_line);

// The first word(s) of a statement, lower-cased, after blanks and comments
// ("create", "rollback to", "start transaction").
std::string first_word(std::string_view statement);

// Drops a BEGIN (or START TRANSACTION) first statement and a COMMIT (or END)
// last statement: a script written for a tool that does not wrap it in a
// transaction runs unchanged inside the plugin's own one.
void drop_transaction_wrapper(std::vector<Statement>& statements);

// The statement's first transaction-control word (begin, commit, rollback,
// abort, start transaction, end), or "".
std::string transaction_control(const Statement& s);

// What PostgreSQL refuses inside a transaction block ("CREATE INDEX
// CONCURRENTLY", "VACUUM", ...), or "" for an ordinary statement.
std::string cannot_run_in_transaction(const Statement& s);

}  // namespace migrate_data
