// SPDX-License-Identifier: AGPL-3.0-or-later
// Declarative data migrations (V<ver>__<name>.data.json): backfill columns of
// a table, or copy rows from one table to another, in batches walked by key
// (keyset pagination). Each batch commits together with its progress row, so
// an interrupted migration resumes after the last committed batch and never
// processes a row twice.
#pragma once

#include <dihya/context.hpp>
#include <functional>
#include <pqxx/connection>
#include <pqxx/transaction_base>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace migrate_data {

struct DataSpec {
  enum class Form { backfill, copy };
  Form form = Form::backfill;
  std::string table;  // backfill: the table; copy: the source ("from")
  std::string to;     // copy: the target table
  std::string key;    // unique, non-null, ordered column of `table`
  // backfill: column of `table` -> SQL expression; copy: column of `to` ->
  // SQL expression over a source row.
  std::vector<std::pair<std::string, std::string>> columns;
  std::string where;            // optional SQL predicate on `table`
  bool skip_conflicts = false;  // copy: ON CONFLICT DO NOTHING
  long long batch_size = 1000;
  long long sleep_ms = 0;  // pause between batches (throttling; tests)
};

// Parses a .data.json file. Throws dihya::Error naming `file` and the field.
DataSpec parse_data_spec(std::string_view text, const std::string& file);

// The SQL of one batch, in two statements so that the write is an index
// range scan, whatever the planner thinks of joins. The `first` variants have
// no lower bound (no key committed yet).
struct BatchSql {
  // The batch's highest key as text (NULL when empty) and its row count:
  // first: $1 = limit; next: $1 = last key, $2 = limit.
  std::string bound_first;
  std::string bound_next;
  // Writes the rows with a key in (last, high]: first: $1 = high;
  // next: $1 = last key, $2 = high.
  std::string write_first;
  std::string write_next;
};
BatchSql build_batch_sql(const DataSpec& spec, pqxx::connection_base& db);

struct DataRunStats {
  long long rows = 0;     // rows read by this run
  long long written = 0;  // rows updated or inserted by this run
  long long batches = 0;
  bool resumed = false;
  std::string resumed_after;  // last key committed by the interrupted run
  long long rows_before = 0;  // rows the interrupted run(s) had done
};

// Runs the migration from its committed progress in `progress_table`
// (qualified, quoted), committing each batch with its progress row; then
// calls `finish` in a last transaction that also deletes the progress row.
// Polls ctx.cancelled() between batches; throws dihya::Error when cancelled.
DataRunStats run_data_migration(pqxx::connection& db, const DataSpec& spec, const std::string& label,
                                const std::string& version, const std::string& progress_table, dihya::Context& ctx,
                                const std::function<void(pqxx::transaction_base&)>& finish);

}  // namespace migrate_data
