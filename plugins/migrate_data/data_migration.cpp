// SPDX-License-Identifier: AGPL-3.0-or-later
#include "data_migration.hpp"

#include <algorithm>
#include <chrono>
#include <dihya/error.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <dihya/utf8.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

namespace migrate_data {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& file, const std::string& what) { throw dihya::Error("" + file + ": " + what); }

std::string string_field(const json& doc, const char* key, const std::string& file, bool required) {
  if (!doc.contains(key)) {
    if (required) bad(file, std::string("\"") + key + "\" is required");
    return {};
  }
  if (!doc[key].is_string() || doc[key].get<std::string>().empty()) {
    bad(file, std::string("\"") + key + "\" must be a non-empty string");
  }
  return doc[key].get<std::string>();
}

long long int_field(const json& doc, const char* key, long long fallback, long long lo, long long hi,
                    const std::string& file) {
  if (!doc.contains(key)) return fallback;
  if (!doc[key].is_number_integer() || doc[key].get<long long>() < lo || doc[key].get<long long>() > hi) {
    bad(file,
        std::string("\"") + key + "\" must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  return doc[key].get<long long>();
}

// A key value as a message quotes it: a text key can be kilobytes long (or
// hold a newline), and the message must stay one readable line.
std::string shown_key(const std::string& key) { return dihya::printable(key, 100); }

// "table" or "schema.table", each part quoted: names come from the file and
// are identifiers, never SQL.
std::string quote_table(pqxx::connection_base& db, const std::string& name) {
  const auto dot = name.find('.');
  if (dot == std::string::npos) return db.quote_name(name);
  return db.quote_name(name.substr(0, dot)) + "." + db.quote_name(name.substr(dot + 1));
}

}  // namespace

DataSpec parse_data_spec(std::string_view text, const std::string& file) {
  json doc;
  try {
    // A declarative file is a flat object; refuse deep nesting before it can hurt.
    doc = json::parse(text.begin(), text.end(), [&](int depth, json::parse_event_t, json&) {
      if (depth > 8) bad(file, "nested too deeply");
      return true;
    });
  } catch (const json::exception& e) {
    bad(file, std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) bad(file, "must be a JSON object");
  static const std::vector<std::string> known = {"table", "key", "set",     "where",       "batch_size", "sleep_ms",
                                                 "from",  "to",  "columns", "on_conflict", "description"};
  for (const auto& item : doc.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end())
      bad(file, "unknown field \"" + item.key() + "\"");
  }
  DataSpec spec;
  const bool backfill = doc.contains("table") || doc.contains("set");
  const bool copy = doc.contains("from") || doc.contains("to") || doc.contains("columns");
  if (backfill == copy) {
    bad(file, "give either \"table\" + \"set\" (backfill) or \"from\" + \"to\" + \"columns\" (copy)");
  }
  spec.form = backfill ? DataSpec::Form::backfill : DataSpec::Form::copy;
  spec.table = string_field(doc, backfill ? "table" : "from", file, true);
  if (copy) spec.to = string_field(doc, "to", file, true);
  spec.key = string_field(doc, "key", file, true);
  spec.where = string_field(doc, "where", file, false);
  const char* map_key = backfill ? "set" : "columns";
  if (!doc.contains(map_key) || !doc[map_key].is_object() || doc[map_key].empty()) {
    bad(file, std::string("\"") + map_key + "\" must be a non-empty object of column: SQL expression");
  }
  for (const auto& item : doc[map_key].items()) {
    if (!item.value().is_string() || item.value().get<std::string>().empty()) {
      bad(file, std::string("\"") + map_key + "\"." + item.key() + " must be a non-empty SQL expression string");
    }
    // Batches walk the key in order: a backfill that changes it moves rows
    // ahead of the walk, which meets them again, batch after batch, forever.
    if (backfill && item.key() == spec.key) {
      bad(file, "\"set\" assigns the key column \"" + dihya::printable(spec.key, 127) +
                    "\", which the batches walk: a backfill cannot change its key (use a .sql migration)");
    }
    spec.columns.emplace_back(item.key(), item.value().get<std::string>());
  }
  if (doc.contains("on_conflict")) {
    if (!copy || !doc["on_conflict"].is_string() || (doc["on_conflict"] != "error" && doc["on_conflict"] != "skip")) {
      bad(file, "\"on_conflict\" is for copy migrations and must be \"error\" or \"skip\"");
    }
    spec.skip_conflicts = doc["on_conflict"] == "skip";
  }
  spec.batch_size = int_field(doc, "batch_size", 1000, 1, 1000000, file);
  spec.sleep_ms = int_field(doc, "sleep_ms", 0, 0, 60000, file);
  for (const std::string* name : {&spec.table, &spec.to, &spec.key}) {
    if (name->size() > 127) bad(file, "name '" + dihya::printable(*name, 127) + "' is too long");
  }
  return spec;
}

BatchSql build_batch_sql(const DataSpec& spec, pqxx::connection_base& db) {
  const std::string table = quote_table(db, spec.table);
  const std::string key = table + "." + db.quote_name(spec.key);
  auto filter = [&](std::vector<std::string> conditions) {
    if (!spec.where.empty()) conditions.push_back("(" + spec.where + ")");
    std::string out;
    for (const auto& c : conditions) out += (out.empty() ? " where " : " and ") + c;
    return out;
  };
  auto bound = [&](std::vector<std::string> conditions, const std::string& limit) {
    return "select pg_catalog.max(dihya_key)::text, pg_catalog.count(*) from (select " + key + " as dihya_key from " + table +
           filter(std::move(conditions)) + " order by " + key + " limit " + limit + ") batch";
  };
  auto write = [&](std::vector<std::string> conditions) {
    std::string sql;
    if (spec.form == DataSpec::Form::backfill) {
      sql = "update " + table + " set ";
      for (std::size_t i = 0; i < spec.columns.size(); ++i) {
        sql += (i ? ", " : "") + db.quote_name(spec.columns[i].first) + " = (" + spec.columns[i].second + ")";
      }
      return sql + filter(std::move(conditions));
    }
    sql = "insert into " + quote_table(db, spec.to) + " (";
    for (std::size_t i = 0; i < spec.columns.size(); ++i) sql += (i ? ", " : "") + db.quote_name(spec.columns[i].first);
    sql += ") select ";
    for (std::size_t i = 0; i < spec.columns.size(); ++i) sql += (i ? ", " : "") + ("(" + spec.columns[i].second + ")");
    sql += " from " + table + filter(std::move(conditions)) + " order by " + key;
    if (spec.skip_conflicts) sql += " on conflict do nothing";
    return sql;
  };
  BatchSql out;
  out.bound_first = bound({}, "$1");
  out.bound_next = bound({key + " > $1"}, "$2");
  out.write_first = write({key + " <= $1"});
  out.write_next = write({key + " > $1", key + " <= $2"});
  return out;
}

DataRunStats run_data_migration(pqxx::connection& db, const DataSpec& spec, const std::string& label,
                                const std::string& version, const std::string& progress_table, dihya::Context& ctx,
                                const std::function<void(pqxx::transaction_base&)>& finish) {
  const BatchSql sql = build_batch_sql(spec, db);
  DataRunStats stats;
  std::optional<std::string> last_key;
  long long total = 0;
  {
    pqxx::work tx(db);
    const auto progress = tx.exec_params(
        "select last_key, rows_done, batches, run_id from " + progress_table + " where version = $1", version);
    if (!progress.empty()) {
      stats.resumed = true;
      stats.resumed_after = progress[0][0].c_str();
      stats.rows_before = progress[0][1].as<long long>();
      last_key = stats.resumed_after;
      ctx.log().info("{}: resuming after key {} ({} row(s) in {} batch(es) committed by run {})", label,
                     shown_key(stats.resumed_after), stats.rows_before, progress[0][2].as<long long>(), progress[0][3].c_str());
    }
    // For the progress display only: the planner's estimate, because an
    // exact count of a huge table would cost a full scan.
    total =
        tx.exec_params1(
              "select greatest(coalesce((select reltuples from pg_catalog.pg_class"
              " where oid = pg_catalog.to_regclass($1::pg_catalog.text)), 0), 0)::pg_catalog.int8",
              quote_table(db, spec.table))[0]
            .as<long long>();
    tx.commit();
  }
  const std::string upsert =
      "insert into " + progress_table +
      " (version, last_key, rows_done, batches, run_id, updated_at) values ($1, $2, $3, 1, $4, pg_catalog.clock_timestamp())"
      " on conflict (version) do update set last_key = excluded.last_key,"
      " rows_done = " +
      progress_table + ".rows_done + excluded.rows_done, batches = " + progress_table +
      ".batches + 1, run_id = excluded.run_id, updated_at = excluded.updated_at";
  for (;;) {
    if (ctx.cancelled()) {
      throw dihya::Error(label + ": cancelled after " + std::to_string(stats.rows) +
                         " row(s); committed batches are kept and the next up resumes after key " +
                         (last_key ? shown_key(*last_key) : "(none)"));
    }
    pqxx::work tx(db);
    // Each batch writes the progress table (a role that created it could
    // have given it a trigger): see History::guard.
    dihya::pg::refuse_untrusted_code(tx, {progress_table}, dihya::pg::TableUse::write);
    const pqxx::row b = last_key ? tx.exec_params1(sql.bound_next, *last_key, spec.batch_size)
                                 : tx.exec_params1(sql.bound_first, spec.batch_size);
    const long long read = b[1].as<long long>();
    if (read == 0) {
      finish(tx);
      tx.exec_params("delete from " + progress_table + " where version = $1", version);
      tx.commit();
      break;
    }
    const std::string high = b[0].c_str();
    const auto w = last_key ? tx.exec_params(sql.write_next, *last_key, high) : tx.exec_params(sql.write_first, high);
    const auto written = static_cast<long long>(w.affected_rows());
    last_key = high;
    if (read < spec.batch_size) {
      // The last batch commits with the history row, so a finished
      // migration is never left with a progress row.
      finish(tx);
      tx.exec_params("delete from " + progress_table + " where version = $1", version);
    } else {
      tx.exec_params(upsert, version, *last_key, read, ctx.run_id());
    }
    tx.commit();
    stats.rows += read;
    stats.written += written;
    ++stats.batches;
    ctx.progress(static_cast<std::uint64_t>(stats.rows_before + stats.rows),
                 static_cast<std::uint64_t>(std::max(total, stats.rows_before + stats.rows)), "rows of " + label);
    if (read < spec.batch_size) break;
    if (spec.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(spec.sleep_ms));
  }
  return stats;
}

}  // namespace migrate_data
