// SPDX-License-Identifier: AGPL-3.0-or-later
// migrate_data: versioned schema and data migrations with a history table,
// checksums that name the changed file, an advisory lock instead of a lock
// table, one transaction per migration, a free dry run, and a rollback that
// applies the downs of exactly what a run applied, newest first.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>

#include "data_migration.hpp"
#include "history.hpp"
#include "migration_files.hpp"
#include "pg_error.hpp"

namespace migrate_data {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Seconds a rollback waits for a concurrent run to release the lock.
constexpr long long kRollbackLockWaitSeconds = 300;

struct Options {
  std::string mode;
  fs::path dir;
  std::optional<Version> target;
  std::string schema;
  std::string history_table;
  long long lock_wait_seconds = 60;
  std::optional<Layout> layout;  // absent: detected from the folder
  std::optional<Version> baseline;  // up: recorded as applied without running, with all below it
};

Options read_options(const dihya::Params& params) {
  Options o;
  o.mode = params.get_or<std::string>("mode", "status");
  o.dir = params.get<std::string>("migrations_dir");
  if (params.has("target")) o.target = Version::parse(params.get<std::string>("target"));
  o.schema = params.get_or<std::string>("schema", "public");
  o.history_table = params.get_or<std::string>("history_table", "dihya_schema_history");
  o.lock_wait_seconds = params.get_or<long long>("lock_wait_seconds", 60);
  o.layout = parse_layout(params.get_or<std::string>("layout", "auto"));
  if (params.has("baseline")) o.baseline = Version::parse_applied(params.get<std::string>("baseline"));
  return o;
}

// "0" is the base, "before the first migration"; a target written as the
// zeros of a migration numbered zero (diesel's 00000000000000) names it.
void resolve_target(Options& o, const dihya::Params& params, const MigrationSet& set) {
  if (!o.target || !o.target->is_zero()) return;
  const std::string text = params.get<std::string>("target");
  const auto numbered = Version::parse_applied(text);
  if (text != "0" && numbered && set.find(*numbered)) o.target = numbered;
}

// The migrations a baseline records as applied: every version up to it.
std::vector<const Migration*> baseline_migrations(const MigrationSet& set, const Version& baseline) {
  std::vector<const Migration*> out;
  for (const auto& m : set.versioned) {
    if (!(baseline < *m.version)) out.push_back(&m);
  }
  return out;
}

// A script as it runs, detached from the folder: what the journal keeps so a
// rollback works even after the files changed or moved.
struct Step {
  Kind kind = Kind::sql;
  std::string version;  // canonical; empty for repeatables
  std::string name;
  std::string script;  // file name
  std::string path;
  std::string checksum;
  std::string text;
  bool no_transaction = false;
  std::vector<Statement> statements;  // of `text`, with their lines in the file

  std::string label() const { return version.empty() ? "R__" + name : "V" + version + "__" + name; }
  AppliedScript applied() const { return {version, name, kind_name(kind), script, checksum}; }
};

// The step of `m`'s up script or of its down script (always plain SQL).
Step step_of(const Migration& m, const Script& s) {
  const Kind kind = &s == &m.up || m.kind == Kind::repeatable ? m.kind : Kind::sql;
  return {kind,
          m.version ? m.version->text() : "",
          m.name,
          s.file.empty() ? s.path.filename().string() : s.file,
          s.path.string(),
          s.checksum,
          s.text,
          s.no_transaction,
          s.statements};
}

json statements_json(const std::vector<Statement>& statements) {
  json out = json::array();
  for (const auto& st : statements) out.push_back({{"line", st.line}, {"text", st.text}});
  return out;
}

json to_json(const Step& s) {
  return {{"kind", kind_name(s.kind)},
          {"version", s.version},
          {"name", s.name},
          {"script", s.script},
          {"path", s.path},
          {"checksum", s.checksum},
          {"text", s.text},
          {"no_transaction", s.no_transaction},
          {"statements", statements_json(s.statements)}};
}

Step step_from_json(const json& j) {
  Step s;
  const std::string kind = j.at("kind").get<std::string>();
  s.kind = kind == "data" ? Kind::data : kind == "repeatable" ? Kind::repeatable : Kind::sql;
  s.version = j.at("version").get<std::string>();
  s.name = j.at("name").get<std::string>();
  s.script = j.at("script").get<std::string>();
  s.path = j.value("path", s.script);
  s.checksum = j.at("checksum").get<std::string>();
  s.text = j.at("text").get<std::string>();
  s.no_transaction = j.value("no_transaction", false);
  if (j.contains("statements")) {
    for (const auto& st : j.at("statements")) {
      s.statements.push_back({st.at("text").get<std::string>(), st.at("line").get<std::size_t>()});
    }
  } else if (s.kind != Kind::data) {
    s.statements = split_statements(s.text);  // a journal written before statements were kept
  }
  return s;
}

// A script that failed: which statement, and what PostgreSQL said.
struct ScriptFailure {
  std::string message;
  bool partial = false;  // a no-transaction script failed after some statements took effect
};

long long elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

// Applies and undoes scripts, keeping the history table in step with the
// database: a script and its history change commit together. Statements run
// one by one, so that a failure names the file and line it comes from.
class Migrator {
 public:
  Migrator(pqxx::connection& db, History& history, dihya::Context& ctx, Layout layout)
      : db_(db), history_(history), ctx_(ctx), layout_(layout) {}

  // Runs `step` (up) and records it. Returns a failure instead of throwing so
  // the report can say what stays applied.
  std::optional<ScriptFailure> apply(const Step& step, json& detail) {
    const auto started = std::chrono::steady_clock::now();
    if (step.kind == Kind::data) return apply_data(step, started, detail);
    auto record = [&](pqxx::transaction_base& tx) {
      history_.record(tx, step.applied(), elapsed_ms(started), ctx_.run_id());
    };
    auto failure = run_script(step, step.label(), record);
    if (failure && failure->partial) {
      history_.record_failure(step.applied(), elapsed_ms(started), ctx_.run_id());
      failure->message += "; the history records it as failed, not applied, and the next up retries the whole script";
    }
    detail["duration_ms"] = elapsed_ms(started);
    return failure;
  }

  // Runs a down script and removes the history row of `version` (and any
  // progress of a data migration) in the same transaction.
  std::optional<ScriptFailure> unapply(const std::string& version, const std::string& label, const Step& down) {
    auto forget = [&](pqxx::transaction_base& tx) {
      history_.guard(tx);
      tx.exec_params("delete from " + history_.table() + " where version = $1", version);
      tx.exec_params("delete from " + history_.progress() + " where version = $1", version);
    };
    return run_script(down, label + " (down)", forget);
  }

  std::optional<ScriptFailure> unapply_repeatable(const std::string& name, const std::string& checksum,
                                                  const std::optional<Step>& down) {
    auto forget = [&](pqxx::transaction_base& tx) {
      history_.guard(tx);
      tx.exec_params(
          "delete from " + history_.table() + " where version is null and name = $1 and checksum = $2 and run_id = $3",
          name, checksum, ctx_.run_id());
    };
    if (!down) {
      pqxx::work tx(db_);
      forget(tx);
      tx.commit();
      return std::nullopt;
    }
    return run_script(*down, "R__" + name + " (down)", forget);
  }

 private:
  // "<file>:<line>: <what PostgreSQL said>", and for a statement PostgreSQL
  // refuses inside a transaction, the marker that runs the script outside one.
  std::string failure_text(const Step& s, const Statement& st, const std::exception& e) const {
    const PgError pg = describe_pg_error(e);
    const std::size_t line = st.line + (pg.line > 0 ? pg.line - 1 : 0);
    std::string text = fmt::format("{}:{}: {}", s.path, line, pg.one_line());
    if (pg.sqlstate == "25001") text += "; run this script outside a transaction with " + no_transaction_marker(layout_);
    ctx_.log().error("{}:{}: statement failed\n{}", s.path, line, pg.block("  "));
    return text;
  }

  std::optional<ScriptFailure> run_script(const Step& s, const std::string& label,
                                          const std::function<void(pqxx::transaction_base&)>& bookkeeping) {
    try {  // a migration's DDL fires the event triggers with our privileges
      pqxx::nontransaction tx(db_);
      dihya::pg::refuse_untrusted_event_triggers(tx);
    } catch (const dihya::Error& e) {
      return ScriptFailure{label + " was not run: " + e.what(), false};
    }
    if (!s.no_transaction) {
      std::size_t i = 0;
      try {
        pqxx::work tx(db_);
        for (; i < s.statements.size(); ++i) tx.exec(s.statements[i].text);
        bookkeeping(tx);
        tx.commit();
        return std::nullopt;
      } catch (const std::exception& e) {
        if (i >= s.statements.size()) {
          return ScriptFailure{label + " failed and was rolled back (its transaction changed nothing): " +
                                   describe_pg_error(e).one_line(),
                               false};
        }
        return ScriptFailure{
            label + " failed and was rolled back (its transaction changed nothing): " + failure_text(s, s.statements[i], e),
            false};
      }
    }
    for (std::size_t i = 0; i < s.statements.size(); ++i) {
      try {
        pqxx::nontransaction tx(db_);
        tx.exec(s.statements[i].text);
      } catch (const std::exception& e) {
        return ScriptFailure{
            fmt::format("{} (no-transaction) failed at statement {} of {}: {}; {} statement(s) before it took "
                        "effect and were not undone",
                        label, i + 1, s.statements.size(), failure_text(s, s.statements[i], e), i),
            i > 0};
      }
    }
    try {
      pqxx::work tx(db_);
      bookkeeping(tx);
      tx.commit();
    } catch (const std::exception& e) {
      return ScriptFailure{label + " ran but its history could not be written: " + describe_pg_error(e).one_line(),
                           true};
    }
    return std::nullopt;
  }

  std::optional<ScriptFailure> apply_data(const Step& step, std::chrono::steady_clock::time_point started,
                                          json& detail) {
    try {
      const DataSpec spec = parse_data_spec(step.text, step.path);
      auto record = [&](pqxx::transaction_base& tx) {
        history_.record(tx, step.applied(), elapsed_ms(started), ctx_.run_id());
      };
      const DataRunStats stats =
          run_data_migration(db_, spec, step.label(), step.version, history_.progress(), ctx_, record);
      detail["rows"] = stats.rows;
      detail["rows_written"] = stats.written;
      detail["batches"] = stats.batches;
      if (stats.resumed) {
        detail["resumed_after_key"] = stats.resumed_after;
        detail["rows_before"] = stats.rows_before;
      }
      detail["duration_ms"] = elapsed_ms(started);
      return std::nullopt;
    } catch (const std::exception& e) {
      return ScriptFailure{
          step.label() + " (data) failed: " + step.path + ": " + describe_pg_error(e).one_line() +
              "; the batches committed before stay, with their progress, and the next up resumes after them",
          true};
    }
  }

  pqxx::connection& db_;
  History& history_;
  dihya::Context& ctx_;
  Layout layout_;
};

// ---- what the database says against what the folder says -----------------

struct StatusLine {
  std::string version;
  std::string name;
  std::string kind;
  std::string state;  // applied, pending, changed, missing-file, failed
  std::string script;
  std::string file_checksum;
  std::string applied_checksum;
  std::string applied_at;
  std::string run_id;
};

struct Comparison {
  std::vector<StatusLine> lines;
  std::vector<std::string> changed;  // one message per changed applied migration
  std::vector<std::string> missing;
  std::string current_version = "0";
  std::optional<Version> current;  // absent: nothing applied
};

// `in_progress`: versions of data migrations with committed batches but not finished.
Comparison compare_with_history(const MigrationSet& set, const std::vector<HistoryRow>& rows,
                                const std::map<std::string, long long>& in_progress = {}) {
  Comparison c;
  std::map<std::string, const HistoryRow*> applied;      // version -> successful row
  std::map<std::string, const HistoryRow*> failed;       // version -> failed row
  std::map<std::string, const HistoryRow*> repeatables;  // name -> latest successful row
  std::optional<Version> current;
  for (const auto& r : rows) {
    if (r.version.empty()) {
      if (r.success) repeatables[r.name] = &r;
    } else if (r.success) {
      applied[r.version] = &r;
      const auto v = Version::parse_applied(r.version);
      if (v && (!current || *current < *v)) current = v;
    } else {
      failed[r.version] = &r;
    }
  }
  if (current) c.current_version = current->text();
  c.current = current;
  for (const auto& m : set.versioned) {
    StatusLine l{m.version->text(),
                 m.name,
                 kind_name(m.kind),
                 "pending",
                 m.up.path.filename().string(),
                 m.up.checksum,
                 "",
                 "",
                 ""};
    if (auto it = applied.find(l.version); it != applied.end()) {
      const HistoryRow& r = *it->second;
      l.applied_checksum = r.checksum;
      l.applied_at = r.applied_at;
      l.run_id = r.run_id;
      l.state = r.checksum == m.up.checksum ? "applied" : "changed";
      if (l.state == "changed") {
        c.changed.push_back(
            fmt::format("{}: changed since it was applied (run {} at {}): expected sha256 {} (history), "
                        "actual sha256 {} (file)",
                        m.up.path.string(), r.run_id, r.applied_at, r.checksum, m.up.checksum));
      }
      applied.erase(it);
    } else if (auto p = in_progress.find(l.version); p != in_progress.end()) {
      l.state = "in-progress";
      l.applied_at = std::to_string(p->second) + " row(s) done";
    } else if (auto f = failed.find(l.version); f != failed.end()) {
      l.state = "failed";
      l.run_id = f->second->run_id;
      l.applied_at = f->second->applied_at;
    }
    c.lines.push_back(std::move(l));
  }
  for (const auto& [version, r] : applied) {
    c.lines.push_back(
        {version, r->name, r->kind, "missing-file", r->script, "", r->checksum, r->applied_at, r->run_id});
    c.missing.push_back(fmt::format("V{}__{} is applied (run {}) but its file {} is not in the migrations folder",
                                    version, r->name, r->run_id, r->script));
  }
  std::sort(c.lines.begin(), c.lines.end(), [](const StatusLine& a, const StatusLine& b) {
    return *Version::parse_applied(a.version) < *Version::parse_applied(b.version);
  });
  for (const auto& m : set.repeatable) {
    StatusLine l{"", m.name, "repeatable", "pending", m.up.path.filename().string(), m.up.checksum, "", "", ""};
    if (auto it = repeatables.find(m.name); it != repeatables.end()) {
      l.applied_checksum = it->second->checksum;
      l.applied_at = it->second->applied_at;
      l.run_id = it->second->run_id;
      if (it->second->checksum == m.up.checksum) l.state = "applied";
    }
    c.lines.push_back(std::move(l));
  }
  return c;
}

std::string status_table(const Comparison& c) {
  std::size_t wv = 7, wn = 4;
  for (const auto& l : c.lines) {
    wv = std::max(wv, l.version.empty() ? 1 : l.version.size());
    wn = std::max(wn, l.name.size());
  }
  std::string out =
      fmt::format("{:<{}}  {:<{}}  {:<10}  {:<12}  {}\n", "VERSION", wv, "NAME", wn, "KIND", "STATE", "APPLIED AT");
  for (const auto& l : c.lines) {
    out += fmt::format("{:<{}}  {:<{}}  {:<10}  {:<12}  {}\n", l.version.empty() ? "R" : l.version, wv, l.name, wn,
                       l.kind, l.state, l.applied_at.empty() ? "-" : l.applied_at);
  }
  return out;
}

json status_json(const Comparison& c) {
  json lines = json::array();
  for (const auto& l : c.lines) {
    lines.push_back({{"version", l.version.empty() ? json(nullptr) : json(l.version)},
                     {"name", l.name},
                     {"kind", l.kind},
                     {"state", l.state},
                     {"script", l.script},
                     {"checksum", l.file_checksum},
                     {"applied_checksum", l.applied_checksum},
                     {"applied_at", l.applied_at},
                     {"run_id", l.run_id}});
  }
  return lines;
}

std::vector<HistoryRow> read_history(History& history, bool& exists) {
  exists = history.exists();
  return exists ? history.rows() : std::vector<HistoryRow>{};
}

dihya::Result refuse_changed(const Comparison& c, const std::string& mode) {
  auto r = dihya::Result::failure(
      fmt::format("{} refused: {}{}; nothing was applied", mode, c.changed.front(),
                  c.changed.size() > 1 ? fmt::format(" (and {} more)", c.changed.size() - 1) : ""),
      {{"mode", mode}, {"changed", c.changed}});
  r.report = "Applied migrations whose files changed (restore the files; put new changes in a new migration):\n";
  for (const auto& line : c.changed) r.report += "  " + line + "\n";
  return r;
}

std::string sql_block(const Step& s, pqxx::connection_base& db) {
  std::string out = fmt::format("-- {} ({}{}) {}\n", s.label(), kind_name(s.kind),
                                s.no_transaction ? ", no transaction" : "", s.path);
  if (s.kind == Kind::data) {
    const DataSpec spec = parse_data_spec(s.text, s.path);
    const BatchSql sql = build_batch_sql(spec, db);
    out += fmt::format(
        "-- batches of {} row(s) in keyset order of {}, each in its own transaction with its progress row:\n",
        spec.batch_size, spec.key);
    out += "-- the batch's last key ($1 = the previous batch's last key, none for the first batch; $2 = batch size)\n";
    out += sql.bound_next + ";\n";
    out += "-- the write ($1 = previous last key, $2 = this batch's last key)\n";
    out += sql.write_next + ";\n";
  } else {
    out += s.text + (s.text.empty() || s.text.back() == '\n' ? "" : "\n");
  }
  return out;
}

// ---- the plugin ----------------------------------------------------------

class MigrateData final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& /*ctx*/) override {
    Options o = read_options(params);
    MigrationSet set;
    try {
      set = load_migrations(o.dir, o.layout);
      resolve_target(o, params, set);
      for (const auto& m : set.versioned) {
        if (m.kind == Kind::data) parse_data_spec(m.up.text, m.up.path.string());
      }
    } catch (const dihya::Error& e) {
      return {{"migrations_dir", e.what()}};
    }
    if (o.baseline) {
      if (o.mode != "up") return {{"baseline", "baseline is for mode=up only"}};
      if (!set.find(*o.baseline)) {
        return {{"baseline", "no migration has version " + o.baseline->text() + " in " + o.dir.string()}};
      }
    }
    if (params.has("target")) {
      if (!o.target) return {{"target", "'" + params.get<std::string>("target") + "' is not a version"}};
      const bool base = o.target->is_zero() && o.mode == "down";
      if (!base && !set.find(*o.target)) {
        return {{"target", "no migration has version " + o.target->text() + " in " + o.dir.string() +
                               (o.mode == "down" ? " (use 0 to undo every migration)" : "")}};
      }
    }
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    Options o = read_options(params);
    const MigrationSet set = load_migrations(o.dir, o.layout);
    resolve_target(o, params, set);
    auto& db = ctx.db();
    prepare_session(db, ctx);
    History history(db, o.schema, o.history_table);
    if (o.mode == "status") return status(set, history, o);
    if (o.mode == "validate") return validate_mode(set, history, o);
    std::optional<MigrationLock> lock;
    if (!ctx.dry_run()) {
      lock.emplace(db, history.display());
      lock->acquire(o.lock_wait_seconds, ctx);
    }
    if (o.mode == "up") return up(set, history, o, ctx);
    if (o.mode == "down") return down(set, history, o, ctx);
    throw dihya::Error("unknown mode '" + o.mode + "'");
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context& ctx) override {
    if (newest_first.empty()) return dihya::Result::success("nothing to roll back");
    const json& first = newest_first.front().data;
    auto& db = ctx.db();
    prepare_session(db, ctx);
    History history(db, first.at("schema").get<std::string>(), first.at("history_table").get<std::string>());
    MigrationLock lock(db, history.display());
    lock.acquire(kRollbackLockWaitSeconds, ctx);
    Migrator migrator(db, history, ctx, parse_layout(first.value("layout", "dihya")).value_or(Layout::dihya));
    std::vector<std::string> done, skipped;
    for (const auto& entry : newest_first) {
      if (ctx.cancelled()) {
        throw dihya::Error("rollback cancelled; the database is at version " + database_version(history) +
                           "; run it again to finish (it is idempotent)");
      }
      try {
        undo_entry(entry, history, migrator, ctx, done, skipped);
      } catch (const std::exception& e) {
        // The operator's first question after a failed rollback is where the
        // database is now: say it last, where it is read.
        throw dihya::Error(fmt::format(
            "{}; rollback stopped after undoing {} of {} step(s): the database is now at version {} ({}); fix the "
            "cause and run `dihya-host rollback {}` again (it is idempotent)",
            e.what(), done.size(), newest_first.size(), database_version(history), history.display(), ctx.run_id()));
      }
    }
    dihya::Result r =
        dihya::Result::success(fmt::format("rolled back {} step(s), skipped {}; the database is at version {}",
                                           done.size(), skipped.size(), database_version(history)),
                               {{"done", done}, {"skipped", skipped}});
    for (const auto& line : done) r.report += "done     " + line + "\n";
    for (const auto& line : skipped) r.report += "skipped  " + line + "\n";
    return r;
  }

  // The highest applied version in the history, "0" when none; what the
  // history says is what the database is, since both commit together.
  static std::string database_version(History& history) {
    try {
      if (!history.exists()) return "0";
      std::optional<Version> top;
      for (const auto& r : history.rows()) {
        if (!r.success || r.version.empty()) continue;
        const auto v = Version::parse_applied(r.version);
        if (v && (!top || *top < *v)) top = v;
      }
      return top ? top->text() : "0";
    } catch (const std::exception& e) {
      return std::string("unknown (the history could not be read: ") + describe_pg_error(e).one_line() + ")";
    }
  }

  static void undo_entry(const dihya::UndoEntry& entry, History& history, Migrator& migrator, dihya::Context& ctx,
                         std::vector<std::string>& done, std::vector<std::string>& skipped) {
    const json& d = entry.data;
    if (entry.action == "apply") {
      undo_apply(d, history, migrator, ctx, done, skipped);
    } else if (entry.action == "apply_repeatable") {
      if (history.exists()) undo_repeatable(d, migrator, done);
    } else if (entry.action == "unapply") {
      redo_unapplied(d, history, migrator, ctx, done, skipped);
    } else if (entry.action == "baseline") {
      if (history.exists()) {
        pqxx::work tx(ctx.db());
        history.guard(tx);
        for (const auto& v : d.at("versions")) {
          tx.exec_params("delete from " + history.table() + " where version = $1 and success and run_id = $2",
                         v.get<std::string>(), ctx.run_id());
        }
        tx.commit();
        done.push_back(fmt::format("forgot the {} version(s) the baseline recorded", d.at("versions").size()));
      }
    } else if (entry.action == "create_history") {
      if (history.exists()) {
        if (history.drop_if_empty(d.value("schema_created", false)))
          done.push_back("dropped the history table " + history.display() + " created by the run");
        else
          skipped.push_back("kept the history table " + history.display() + ": it is not empty");
      }
    } else {
      throw dihya::Error("unknown journal entry '" + entry.action + "'");
    }
  }

  static void prepare_session(pqxx::connection& db, dihya::Context& ctx) {
    pqxx::nontransaction tx(db);
    // Notices ("does not exist, skipping") would land on the host's stderr.
    tx.exec("set client_min_messages = warning");
    tx.exec_params("select pg_catalog.set_config('application_name', $1::pg_catalog.text, false)", "dihya migrate_data " + ctx.run_id());
  }

  // ---- status and validate (read-only: never create anything) ----

  dihya::Result status(const MigrationSet& set, History& history, const Options& o) {
    bool exists = false;
    const auto rows = read_history(history, exists);
    const Comparison c =
        compare_with_history(set, rows, exists ? history.in_progress() : std::map<std::string, long long>{});
    std::map<std::string, int> counts;
    for (const auto& l : c.lines) ++counts[l.state];
    std::string counted;
    for (const auto& [state, n] : counts) counted += (counted.empty() ? "" : ", ") + std::to_string(n) + " " + state;
    auto r = dihya::Result::success(
        fmt::format("database at version {}; {} (layout {})", c.current_version,
                    counted.empty() ? "no migrations" : counted, layout_name(set.layout)),
        {{"mode", "status"},
         {"layout", layout_name(set.layout)},
         {"current_version", c.current_version},
         {"history_table", history.display()},
         {"history_exists", exists},
         {"migrations_dir", o.dir.string()},
         {"migrations", status_json(c)}});
    r.report = status_table(c);
    for (const auto& line : c.changed) r.report += "changed: " + line + "\n";
    for (const auto& line : c.missing) r.report += "missing: " + line + "\n";
    return r;
  }

  dihya::Result validate_mode(const MigrationSet& set, History& history, const Options& o) {
    bool exists = false;
    const Comparison c = compare_with_history(set, read_history(history, exists));
    std::size_t checked = 0;
    for (const auto& l : c.lines) checked += l.state == "applied" && !l.version.empty();
    json data = {{"mode", "validate"},   {"current_version", c.current_version},
                 {"checked", checked},   {"changed", c.changed},
                 {"missing", c.missing}, {"migrations_dir", o.dir.string()}};
    if (c.changed.empty() && c.missing.empty()) {
      auto r = dihya::Result::success(fmt::format("{} applied migration(s) match their files", checked), data);
      r.report = status_table(c);
      return r;
    }
    auto r =
        dihya::Result::failure(fmt::format("{} changed and {} missing applied migration(s): {}", c.changed.size(),
                                           c.missing.size(), c.changed.empty() ? c.missing.front() : c.changed.front()),
                               data);
    for (const auto& line : c.changed) r.report += "changed: " + line + "\n";
    for (const auto& line : c.missing) r.report += "missing: " + line + "\n";
    return r;
  }

  // ---- up ----

  // Where the history lives, in every journal entry: rollback gets no params.
  static json history_ref(const Options& o, Layout layout) {
    return {{"schema", o.schema}, {"history_table", o.history_table}, {"layout", layout_name(layout)}};
  }

  dihya::Result up(const MigrationSet& set, History& history, const Options& o, dihya::Context& ctx) {
    bool exists = false;
    const auto rows = read_history(history, exists);
    const Comparison c = compare_with_history(set, rows);
    if (!c.changed.empty()) return refuse_changed(c, "up");
    for (const auto& line : c.missing) ctx.log().warn("{}", line);

    std::vector<std::pair<const Migration*, Step>> plan;
    std::map<std::string, std::string> state;
    for (const auto& l : c.lines) state[l.version.empty() ? "R__" + l.name : l.version] = l.state;
    std::vector<const Migration*> baseline;
    if (o.baseline) {
      if (c.current) {
        return dihya::Result::failure(
            fmt::format("baseline refused: the history {} already records version {}; a baseline only adopts a "
                        "database whose history is empty; nothing was changed",
                        history.display(), c.current_version),
            {{"mode", "up"}, {"current_version", c.current_version}});
      }
      baseline = baseline_migrations(set, *o.baseline);
      for (const auto* m : baseline) state[m->version->text()] = "baseline";
    }
    for (const auto& m : set.versioned) {
      const std::string& s = state[m.version->text()];
      if (s != "pending" && s != "failed" && s != "in-progress") continue;
      if (o.target && *o.target < *m.version) continue;
      if (c.current && *m.version < *c.current) {
        ctx.log().warn("{} is older than the current version {}: applying it out of order", m.label(),
                       c.current_version);
      }
      plan.emplace_back(&m, step_of(m, m.up));
    }
    if (!o.target) {
      for (const auto& m : set.repeatable) {
        if (state["R__" + m.name] == "pending") plan.emplace_back(&m, step_of(m, m.up));
      }
    }
    json planned = json::array();
    for (const auto& [m, step] : plan) planned.push_back(step.label());

    if (ctx.dry_run()) {
      auto r = dihya::Result::success(
          fmt::format("would apply {} migration(s) to {} (now at version {})", plan.size(), history.display(),
                      c.current_version),
          {{"mode", "up"}, {"dry_run", true}, {"plan", planned}, {"current_version", c.current_version}});
      r.report = fmt::format("Plan ({} migration(s); history table {}{}):\n", plan.size(), history.display(),
                             exists ? "" : ", would be created");
      for (const auto* m : baseline) r.report += "  " + m->label() + "  recorded as applied (baseline), not run\n";
      for (const auto& [m, step] : plan) r.report += "  " + step.label() + "  " + step.path + "\n";
      for (const auto& [m, step] : plan) r.report += "\n" + sql_block(step, ctx.db());
      return r;
    }
    if (plan.empty() && baseline.empty()) {
      return dihya::Result::success(
          fmt::format("nothing to apply: database at version {}", c.current_version),
          {{"mode", "up"}, {"applied", json::array()}, {"current_version", c.current_version}});
    }
    if (!exists) {
      json created = history_ref(o, set.layout);
      created["schema_created"] = !history.schema_exists();
      ctx.journal().record({"create_history", created});
      history.create();
    }
    std::string last_good = c.current_version;
    if (!baseline.empty()) last_good = record_baseline(baseline, history, o, set.layout, ctx);
    Migrator migrator(ctx.db(), history, ctx, set.layout);
    json applied = json::array();
    std::size_t done = 0;
    for (const auto& [m, step] : plan) {
      if (ctx.cancelled()) {
        throw dihya::Error(
            fmt::format("cancelled after applying {} migration(s); database at version {}", done, last_good));
      }
      json entry = history_ref(o, set.layout);
      entry.update(to_json(step));
      entry.erase("text");  // the up is not needed to undo an apply
      entry.erase("statements");
      entry["down"] = m->down ? to_json(step_of(*m, *m->down)) : json(nullptr);
      ctx.journal().record({step.kind == Kind::repeatable ? "apply_repeatable" : "apply", entry});
      ctx.log().info("applying {}", step.label());
      json detail = {
          {"migration", step.label()}, {"version", step.version}, {"name", step.name}, {"kind", kind_name(step.kind)}};
      if (auto failure = migrator.apply(step, detail)) {
        return failed_up(*failure, step, applied, last_good, plan.size());
      }
      if (!step.version.empty() &&
          (last_good == "0" || Version::parse_applied(last_good) < Version::parse_applied(step.version))) {
        last_good = step.version;
      }
      applied.push_back(detail);
      ctx.progress(++done, plan.size(), "migrations");
    }
    const std::string adopted =
        baseline.empty() ? ""
                         : fmt::format("recorded {} migration(s) up to version {} as applied (baseline); ",
                                       baseline.size(), baseline.back()->version->text());
    auto r = dihya::Result::success(
        fmt::format("{}applied {} migration(s); database at version {}", adopted, done, last_good),
        {{"mode", "up"}, {"applied", applied}, {"baseline", baseline.size()}, {"current_version", last_good}});
    for (const auto& a : applied)
      r.report += fmt::format("applied  {}  {} ms\n", a.value("migration", ""), a.value("duration_ms", 0LL));
    return r;
  }

  // A database another tool migrated: its versions up to the baseline are
  // recorded as applied (with the files' checksums), in one transaction,
  // journalled so that a rollback forgets them again. Returns the baseline.
  static std::string record_baseline(const std::vector<const Migration*>& baseline, History& history,
                                     const Options& o, Layout layout, dihya::Context& ctx) {
    json entry = history_ref(o, layout);
    json versions = json::array();
    for (const auto* m : baseline) versions.push_back(m->version->text());
    entry["versions"] = versions;
    ctx.journal().record({"baseline", entry});
    pqxx::work tx(ctx.db());
    for (const auto* m : baseline) {
      const Step step = step_of(*m, m->up);
      history.record(tx, step.applied(), 0, ctx.run_id());
    }
    tx.commit();
    ctx.log().info("recorded {} migration(s) up to version {} as applied (baseline), without running them",
                   baseline.size(), baseline.back()->version->text());
    return baseline.back()->version->text();
  }

  static dihya::Result failed_up(const ScriptFailure& failure, const Step& step, const json& applied,
                                 const std::string& last_good, std::size_t planned) {
    auto r = dihya::Result::failure(
        fmt::format("{}; the run stopped at version {}, the last good one (the host rolls back the run's earlier "
                    "migrations unless --no-rollback)",
                    failure.message, last_good),
        {{"mode", "up"},
         {"applied", applied},
         {"failed", step.label()},
         {"failed_script", step.path},
         {"current_version", last_good},
         {"partial", failure.partial}});
    r.report = fmt::format("Applied {} of {} planned migration(s) before the failure.\nFAILED {}\n  {}\n",
                           applied.size(), planned, step.path, failure.message);
    r.report +=
        "Unless run with --no-rollback, the host now rolls this run back: the downs of the migrations it applied "
        "run newest first and the database returns to the version it had before the run.\n";
    return r;
  }

  // ---- down ----

  dihya::Result down(const MigrationSet& set, History& history, const Options& o, dihya::Context& ctx) {
    bool exists = false;
    const auto rows = read_history(history, exists);
    const Comparison c = compare_with_history(set, rows);
    if (!c.changed.empty()) return refuse_changed(c, "down");
    std::vector<Version> applied;
    for (const auto& r : rows) {
      if (r.success && !r.version.empty()) applied.push_back(*Version::parse_applied(r.version));
    }
    std::sort(applied.rbegin(), applied.rend());
    std::vector<const Migration*> plan;
    for (const auto& v : applied) {
      if (o.target ? !(*o.target < v) : !plan.empty()) break;
      const Migration* m = set.find(v);
      if (!m)
        throw dihya::Error("cannot undo version " + v.text() + ": it is applied but its files are not in " +
                           o.dir.string());
      if (!m->down) {
        throw dihya::Error(
            fmt::format("cannot go below version {}: {} has no down migration ({}); nothing was changed", v.text(),
                        m->up.path.string(), m->down_hint));
      }
      plan.push_back(m);
    }
    json planned = json::array();
    for (const auto* m : plan) planned.push_back(m->label());
    if (ctx.dry_run()) {
      auto r = dihya::Result::success(
          fmt::format("would undo {} migration(s) (now at version {})", plan.size(), c.current_version),
          {{"mode", "down"}, {"dry_run", true}, {"plan", planned}, {"current_version", c.current_version}});
      r.report = fmt::format("Plan: undo {} migration(s), newest first:\n", plan.size());
      for (const auto* m : plan) r.report += "  " + m->label() + "  " + m->down->path.string() + "\n";
      for (const auto* m : plan) r.report += "\n" + sql_block(step_of(*m, *m->down), ctx.db());
      return r;
    }
    Migrator migrator(ctx.db(), history, ctx, set.layout);
    json undone = json::array();
    std::size_t done = 0;
    for (const auto* m : plan) {
      if (ctx.cancelled()) throw dihya::Error(fmt::format("cancelled after undoing {} migration(s)", done));
      const Step up = step_of(*m, m->up);
      json entry = history_ref(o, set.layout);
      entry.update(to_json(up));
      ctx.journal().record({"unapply", entry});
      ctx.log().info("undoing {} with {}", m->label(), m->down->path.string());
      if (auto failure = migrator.unapply(up.version, m->label(), step_of(*m, *m->down))) {
        auto r =
            dihya::Result::failure(failure->message, {{"mode", "down"}, {"undone", undone}, {"failed", m->label()}});
        r.report = fmt::format("Undid {} of {} migration(s) before the failure.\nFAILED {}\n  {}\n", done, plan.size(),
                               m->down->path.string(), failure->message);
        return r;
      }
      undone.push_back(m->label());
      ctx.progress(++done, plan.size(), "migrations");
    }
    bool still = false;
    const Comparison after = compare_with_history(set, read_history(history, still));
    auto r = dihya::Result::success(
        fmt::format("undid {} migration(s); database at version {}", done, after.current_version),
        {{"mode", "down"}, {"undone", undone}, {"current_version", after.current_version}});
    for (const auto& u : undone) r.report += "undone   " + u.get<std::string>() + "\n";
    return r;
  }

  // ---- rollback steps (each idempotent) ----

  static void undo_apply(const json& d, History& history, Migrator& migrator, dihya::Context& ctx,
                         std::vector<std::string>& done, std::vector<std::string>& skipped) {
    const std::string version = d.at("version").get<std::string>();
    const std::string label = "V" + version + "__" + d.at("name").get<std::string>();
    std::optional<std::string> owner;
    bool partial = false;
    if (!history.exists()) {
      skipped.push_back(label + ": not applied (no history table), nothing to undo");
      return;
    }
    {
      pqxx::nontransaction tx(ctx.db());
      const auto r =
          tx.exec_params("select run_id from " + history.table() + " where version = $1 and success", version);
      if (!r.empty()) owner = r[0][0].c_str();
      partial = !tx.exec_params("select 1 from " + history.progress() + " where version = $1", version).empty();
    }
    if (!owner && !partial) {
      skipped.push_back(label + ": not applied, nothing to undo");
      return;
    }
    if (owner && *owner != ctx.run_id()) {
      skipped.push_back(label + ": applied again by run " + *owner + " since; left in place");
      return;
    }
    if (d.at("down").is_null()) {
      throw dihya::Error(
          fmt::format("cannot undo {}: it had no down migration when it was applied; the database stays at a "
                      "consistent version with {} {}",
                      label, label, owner ? "applied" : "partly done (the next up resumes it)"));
    }
    const Step down = step_from_json(d.at("down"));
    if (auto failure = migrator.unapply(version, label, down))
      throw dihya::Error(failure->message);
    done.push_back(label + ": undone with " + down.script);
  }

  static void undo_repeatable(const json& d, Migrator& migrator, std::vector<std::string>& done) {
    std::optional<Step> down;
    if (!d.at("down").is_null()) down = step_from_json(d.at("down"));
    const std::string name = d.at("name").get<std::string>();
    if (auto failure = migrator.unapply_repeatable(name, d.at("checksum").get<std::string>(), down)) {
      throw dihya::Error(failure->message);
    }
    done.push_back("R__" + name +
                   (down ? ": undone with its down" : ": forgotten (no down), the next up re-applies it"));
  }

  static void redo_unapplied(const json& d, History& history, Migrator& migrator, dihya::Context& ctx,
                             std::vector<std::string>& done, std::vector<std::string>& skipped) {
    const Step up = step_from_json(d);
    if (!history.exists()) history.create();
    {
      pqxx::nontransaction tx(ctx.db());
      if (!tx.exec_params("select 1 from " + history.table() + " where version = $1 and success", up.version).empty()) {
        skipped.push_back(up.label() + ": already applied");
        return;
      }
    }
    json detail;
    if (auto failure = migrator.apply(up, detail)) throw dihya::Error(failure->message);
    done.push_back(up.label() + ": re-applied");
  }
};

}  // namespace
}  // namespace migrate_data

DIHYA_PLUGIN(migrate_data::MigrateData)
