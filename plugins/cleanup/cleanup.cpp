// SPDX-License-Identifier: AGPL-3.0-or-later
// cleanup: enforces a retention policy and the right to erasure (GDPR art. 5
// and 17) without blocking the live platform. Retention works in batches in
// key order sized by time (max_batch_ms, ~50 ms: the size follows the last
// batch's rate; key ranges for a single integer key), journalled once per
// table (run id, table, first batch: never the rows), each in its own short
// transaction: a delete moves the batch into the typed quarantine in one
// statement, an anonymise copies it there and updates the source from the
// copies. erase_user does the same
// for every row of one user across the foreign-key graph, children first, in
// one transaction. Rollback restores from the quarantine; purge removes
// quarantine rows once expired, which makes the deletion final.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <limits>
#include <optional>
#include <thread>

#include <dihya/fk_graph.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <dihya/utc_time.hpp>
#include <dihya/utf8.hpp>
#include <pqxx/pqxx>

#include "policy.hpp"
#include "quarantine.hpp"

namespace cleanup {

namespace {


bool is_text_type(const std::string& type) {
  return type == "text" || type.rfind("character varying", 0) == 0 || type.rfind("character", 0) == 0 ||
         type == "citext";
}

bool is_time_type(const std::string& type) {
  return type.rfind("timestamp", 0) == 0 || type == "date";
}

// Checks a table rule against the catalog; returns "" when fine.
std::string check_rule(const dihya::FkGraph& graph, const TableRule& rule, bool retention) {
  if (!graph.has_table(rule.table)) return "no table " + rule.table.display() + " in the configured schemas";
  const auto& info = graph.table(rule.table);
  if (info.primary_key.empty()) return rule.table.display() + " has no primary key (needed for batches and restore)";
  if (retention) {
    const auto* ts = info.column(rule.timestamp_column);
    if (ts == nullptr) return rule.table.display() + ": no column '" + rule.timestamp_column + "'";
    if (!is_time_type(ts->type)) return rule.table.display() + "." + rule.timestamp_column + " is not a timestamp";
  }
  for (const auto& c : rule.columns) {
    const auto* col = info.column(c.column);
    if (col == nullptr) return rule.table.display() + ": no column '" + c.column + "'";
    if (std::find(info.primary_key.begin(), info.primary_key.end(), c.column) != info.primary_key.end()) {
      return rule.table.display() + "." + c.column + " is part of the primary key and cannot be anonymised";
    }
    if (col->generated) return rule.table.display() + "." + c.column + " is generated";
    if (c.strategy == "null" && col->not_null) return rule.table.display() + "." + c.column + " is NOT NULL: strategy null cannot apply";
    if ((c.strategy == "hash" || c.strategy == "mask" || c.strategy == "fake") && !is_text_type(col->type)) {
      return rule.table.display() + "." + c.column + " is " + col->type + ": " + c.strategy + " needs a text column";
    }
  }
  return "";
}

// The foreign keys whose ON DELETE action changes rows of another table when
// `parent`'s rows are deleted (CASCADE, SET NULL, SET DEFAULT), from children
// in any schema: PostgreSQL refuses a delete the others would break itself.
std::vector<dihya::ForeignKey> acting_children(const dihya::FkGraph& graph, const dihya::TableName& parent) {
  std::vector<dihya::ForeignKey> out;
  auto keep = [&](const std::vector<dihya::ForeignKey>& fks) {
    for (const auto& fk : fks) {
      if (fk.on_delete == 'c' || fk.on_delete == 'n' || fk.on_delete == 'd') out.push_back(fk);
    }
  };
  keep(graph.referencing(parent));
  keep(graph.referencing_from_outside(parent));
  return out;
}

std::string on_delete_text(const dihya::ForeignKey& fk) {
  return fk.on_delete == 'c' ? "ON DELETE CASCADE" : fk.on_delete == 'n' ? "ON DELETE SET NULL" : "ON DELETE SET DEFAULT";
}

// Why no run can quarantine the rows `fk`'s action would change, or "" when
// one can: a child outside graph.schemas has no quarantine, and one without
// a primary key cannot have its copies matched to its rows.
std::string unquarantinable(const dihya::FkGraph& graph, const dihya::ForeignKey& fk) {
  const auto child = dihya::printable(fk.child.display());
  if (!graph.has_table(fk.child)) {
    return child + " is outside graph.schemas (add schema " + dihya::printable(fk.child.schema) + " there)";
  }
  if (graph.table(fk.child).primary_key.empty()) {
    return child + " has no primary key, so its " + (fk.on_delete == 'c' ? "cascaded" : "changed") +
           " rows cannot be quarantined";
  }
  return "";
}

// The refusal of a delete from `table` that would change `n` rows of `fk`'s
// child without a quarantine copy; `what` names the parent's rows, `tail`
// says why or what to do. One wording at validation and in a batch.
std::string cascade_refusal(const dihya::TableName& table, long long n, const dihya::ForeignKey& fk,
                            const std::string& what, const std::string& tail) {
  return "refusing to delete from " + dihya::printable(table.display()) + ": " + std::to_string(n) + " row(s) of " +
         dihya::printable(fk.child.display()) + " reference " + what + " (" + dihya::printable(fk.name) + ", " +
         on_delete_text(fk) + ") and would change without a quarantine copy" + tail;
}

// The rows of a child no run can quarantine that deleting the rows of
// `table` matching `where` (on alias t, $1 bound to `param`) would change,
// counted before anything runs: the dry run says what the real run would
// refuse, and the real run refuses before its first batch. `what` names
// those rows for people. Returns "" when there are none.
std::string check_unquarantinable_children(pqxx::transaction_base& tx, const dihya::FkGraph& graph,
                                           const dihya::TableName& table, const std::string& where,
                                           const std::string& param, const std::string& what) {
  for (const auto& fk : acting_children(graph, table)) {
    const auto why = unquarantinable(graph, fk);
    if (why.empty()) continue;
    const auto n = tx.exec_params1("SELECT count(*) FROM " + fk.child.quoted(tx) + " c WHERE EXISTS (SELECT 1 FROM " +
                                       table.quoted(tx) + " t WHERE (" + where + ") AND " + fk.join(tx, "t", "c") + ")",
                                   param)[0]
                       .as<long long>();
    if (n == 0) continue;
    return cascade_refusal(table, n, fk, what, ": " + why);
  }
  return "";
}

// One table of an erasure: its rule, and whether it is split between the
// rows the user owns (deleted) and the rows that only point at them (kept,
// quarantined as "unlinked") because no rule names it.
struct EraseStep {
  TableRule rule;
  bool split = false;
  long long rows = 0;
  long long unlinked = 0;
};

// The tables an erasure acts on, in deletion order; `keep` rules left out.
std::vector<EraseStep> erase_steps(const Policy& policy, const dihya::FkGraph& graph) {
  std::vector<EraseStep> steps;
  for (const auto& t : graph.deletion_order()) {
    EraseStep st;
    auto it = policy.erase_rules.find(t);
    if (it != policy.erase_rules.end()) {
      st.rule = it->second;
    } else {
      st.rule.table = t;
      st.rule.action = policy.erase_default_action;
      st.split = true;
    }
    if (st.rule.action != "keep") steps.push_back(st);
  }
  return steps;
}

// The rows of the step's table an erasure deletes or anonymises, on alias t,
// the user's key bound as $1. A table linked to the user through SET NULL
// links only owns none of its rows: its owned-only condition is false and
// names no $1, and a statement that binds a parameter it never uses fails.
// The trailing comparison keeps $1 in every statement, typed by the
// condition when it names it (so it must come after it), as text when it
// does not.
std::string owned_condition(const pqxx::transaction_base& tx, const dihya::FkGraph& graph, const EraseStep& st) {
  return "(" + graph.user_condition(tx, st.rule.table, "t", st.split) + ") AND $1 = $1";
}

// " OR ..." for the rows of `table` (alias t) whose own SET NULL or SET
// DEFAULT reference points at a row the user owns (another user's reply to
// the user's comment): deleting the owned row changes them. "" when the
// table has no such reference.
std::string pointing_at_owned(const pqxx::transaction_base& tx, const dihya::FkGraph& graph, const dihya::TableName& table) {
  std::string out;
  for (const auto& fk : graph.referencing(table)) {
    if (fk.child != table || (fk.on_delete != 'n' && fk.on_delete != 'd')) continue;
    out += " OR EXISTS (SELECT 1 FROM " + table.quoted(tx) + " dihya_o WHERE " +
           graph.user_condition(tx, table, "dihya_o", true) + " AND " + fk.join(tx, "dihya_o", "t") + ")";
  }
  return out;
}

// A fixed value the column's type cannot hold ("n/a" for a number) is
// refused here, not in the middle of a run with PostgreSQL's error. Each cast
// runs in a savepoint: a failed one aborts only that.
std::string check_fixed_values(pqxx::dbtransaction& tx, const dihya::FkGraph& graph, const TableRule& rule) {
  const auto& info = graph.table(rule.table);
  for (const auto& c : rule.columns) {
    if (c.strategy != "fixed") continue;
    const auto* col = info.column(c.column);
    try {
      pqxx::subtransaction cast(tx, "fixed_value");
      cast.exec_params("SELECT ($1)::" + col->type, c.fixed_text());
      cast.commit();
    } catch (const pqxx::sql_error& e) {
      // "ERROR:  invalid input syntax for type numeric: \"n/a\"\n": its first line, without the prefix.
      std::string why = e.what();
      why = why.substr(0, why.find('\n'));
      if (why.rfind("ERROR:", 0) == 0) why.erase(0, std::min(why.find_first_not_of(' ', 6), why.size()));
      return rule.table.display() + "." + c.column + " is " + col->type + ": its fixed value does not fit (" +
             dihya::printable(why) + ")";
    }
  }
  return "";
}

std::string find_user(pqxx::transaction_base& tx, const dihya::FkGraph& graph, const std::string& user) {
  const auto& users = graph.users_info();
  const auto& pk = users.primary_key.front();
  const bool by_email = user.find('@') != std::string::npos && users.column("email") != nullptr;
  const std::string column = by_email ? "email" : pk;
  auto rows = tx.exec_params("SELECT " + tx.quote_name(pk) + "::text FROM " + graph.users().quoted(tx) + " WHERE " +
                                 tx.quote_name(column) + "::text = $1 LIMIT 2",
                             user);
  if (rows.size() != 1) throw dihya::Error(rows.empty() ? "no user '" + user + "'" : "several users match '" + user + "'");
  return rows[0][0].c_str();
}

// Validation refuses what a run would: the rules' tables carrying code another role owns.
void refuse_untrusted_code(pqxx::transaction_base& tx, const std::vector<TableRule>& rules) {
  std::vector<std::string> tables;
  for (const auto& r : rules) tables.push_back(r.table.quoted(tx));
  dihya::pg::refuse_untrusted_code(tx, tables, dihya::pg::TableUse::write);
}

struct Settings {
  std::string mode;
  Policy policy;
  long batch_size = 100000;
  long max_batch_ms = 50;
  double nice_ratio = 0;
  std::string salt;
  std::chrono::system_clock::time_point expires_at;
};

class Cleanup final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& ctx) override {
    const auto mode = params.get<std::string>("mode");
    if (mode == "status") return {};
    if (mode == "purge") {
      if (!params.has("policy")) return {};
      try {
        load_policy(params.get<std::string>("policy"));
      } catch (const dihya::Error& e) {
        return {{"policy", e.what()}};
      }
      return {};
    }
    if (!params.has("policy")) return {{"policy", "mode " + mode + " needs a policy file"}};
    Policy policy;
    try {
      policy = load_policy(params.get<std::string>("policy"));
    } catch (const dihya::Error& e) {
      return {{"policy", e.what()}};
    }
    if (policy.uses_salt && !ctx.secret("salt")) return {{"salt", "the policy hashes columns: give a salt (secret)"}};
    if (mode == "retention" && policy.retention.empty() && policy.logs.empty()) {
      return {{"policy", "the policy lists no tables and no logs"}};
    }
    if (mode == "erase_user" && !params.has("user")) return {{"user", "erase_user needs the user (id or email)"}};
    // A database that cannot be reached is no parameter's fault: it throws,
    // and the run fails (exit 1) instead of blaming `user` or `policy`.
    dihya::pg::pin_search_path(ctx.db());
    try {
      pqxx::read_transaction tx(ctx.db());
      const auto graph = dihya::FkGraph::load(tx, policy.graph, mode != "retention");
      if (mode == "retention") {
        for (const auto& r : policy.retention) {
          if (auto e = check_rule(graph, r, true); !e.empty()) return {{"policy", e}};
        }
        refuse_untrusted_code(tx, policy.retention);
        for (const auto& r : policy.retention) {
          if (auto e = check_fixed_values(tx, graph, r); !e.empty()) return {{"policy", e}};
          if (r.action != "delete") continue;
          const auto cutoff = dihya::format_utc(ctx.now() - std::chrono::seconds(r.older_than_seconds));
          const auto older = "t." + tx.quote_name(r.timestamp_column) + " < $1::timestamptz";
          if (auto e = check_unquarantinable_children(tx, graph, r.table, older, cutoff, "rows older than " + r.older_than);
              !e.empty()) {
            return {{"policy", e}};
          }
        }
      } else {
        for (const auto& [t, r] : policy.erase_rules) {
          if (auto e = check_rule(graph, r, false); !e.empty()) return {{"policy", e}};
        }
        std::vector<std::string> reached;
        for (const auto& t : graph.reached()) {
          if (graph.table(t).primary_key.empty()) return {{"policy", t.display() + " has no primary key: exclude it in graph.exclude_tables"}};
          reached.push_back(t.quoted(tx));
        }
        dihya::pg::refuse_untrusted_code(tx, reached, dihya::pg::TableUse::write);
        for (const auto& [t, r] : policy.erase_rules) {
          if (auto e = check_fixed_values(tx, graph, r); !e.empty()) return {{"policy", e}};
        }
        const auto key = find_user(tx, graph, params.get<std::string>("user"));
        for (const auto& st : erase_steps(policy, graph)) {
          if (st.rule.action != "delete") continue;
          if (auto e = check_unquarantinable_children(tx, graph, st.rule.table, owned_condition(tx, graph, st), key,
                                                      "the user's rows");
              !e.empty()) {
            return {{"policy", e}};
          }
        }
      }
    } catch (const dihya::Error& e) {
      return {{mode == "erase_user" ? "user" : "policy", e.what()}};
    }
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    Settings s;
    s.mode = params.get<std::string>("mode");
    s.batch_size = params.get<long>("batch_size");
    s.max_batch_ms = params.get<long>("max_batch_ms");
    s.nice_ratio = params.get<double>("nice_ratio");
    s.expires_at = ctx.now() + std::chrono::hours(24) * params.get<long>("quarantine_days");
    dihya::pg::pin_search_path(ctx.db());
    if (s.mode == "status") return status(ctx);
    if (s.mode == "purge") return purge(params.has("policy") ? load_policy(params.get<std::string>("policy")) : Policy{}, ctx);
    s.policy = load_policy(params.get<std::string>("policy"));
    s.salt = ctx.secret("salt").value_or("");
    if (s.mode == "erase_user") return erase_user(s, params.get<std::string>("user"), ctx);
    return retention(s, ctx);
  }

  // ---- retention ----------------------------------------------------------

  dihya::Result retention(Settings& s, dihya::Context& ctx) {
    auto& db = ctx.db();
    dihya::FkGraph graph = [&] {
      pqxx::read_transaction tx(db);
      return dihya::FkGraph::load(tx, s.policy.graph, false);
    }();
    std::vector<std::pair<TableRule, long long>> plan;
    std::string report;
    for (const auto& rule : s.policy.retention) {
      pqxx::read_transaction tx(db);
      dihya::pg::refuse_untrusted_code(tx, {rule.table.quoted(tx)}, dihya::pg::TableUse::read);
      const auto cutoff = dihya::format_utc(ctx.now() - std::chrono::seconds(rule.older_than_seconds));
      const auto n = tx.exec_params1("SELECT count(*) FROM " + rule.table.quoted(tx) + " t WHERE " + where(tx, rule), cutoff)[0]
                         .as<long long>();
      plan.emplace_back(rule, n);
      report += dihya::printable(rule.table.display()) + ": " + std::to_string(n) + " row(s) older than " + rule.older_than +
                " (" + dihya::printable(rule.timestamp_column) + " < " + cutoff + ") to " + rule.action + "\n";
    }
    nlohmann::json counts = nlohmann::json::object();
    nlohmann::json log_actions = nlohmann::json::array();
    for (const auto& rule : s.policy.logs) {
      for (const auto& a : plan_logs(rule, ctx.now())) {
        log_actions.push_back({{"file", a.file.string()}, {"action", a.action}, {"bytes", a.bytes}, {"reason", a.reason}});
        report += dihya::printable(a.file.string()) + ": " + a.action + " (" + a.reason + ", " + std::to_string(a.bytes) + " bytes)\n";
      }
    }
    if (ctx.dry_run()) {
      for (const auto& [rule, n] : plan) counts[rule.table.display()] = {{"rows", n}, {"action", rule.action}};
      counts["log_files"] = log_actions;
      dihya::Result r = dihya::Result::success("would clean " + std::to_string(plan.size()) + " table(s)", {{"tables", counts}});
      r.report = report;
      return r;
    }
    {
      pqxx::work tx(db);
      ensure_quarantine(tx);
      tx.commit();
    }
    long batch_no = 1;
    long long total = 0;
    report.clear();
    for (const auto& [rule, expected] : plan) {
      const auto cutoff = dihya::format_utc(ctx.now() - std::chrono::seconds(rule.older_than_seconds));
      const auto n = clean_table(s, graph, rule, cutoff, expected, batch_no, ctx);
      counts[rule.table.display()] = {{"rows", n}, {"action", rule.action}};
      report += dihya::printable(rule.table.display()) + ": " + std::to_string(n) + " row(s) " + (rule.action == "delete" ? "deleted" : "anonymised") + "\n";
      total += n;
    }
    const auto files = clean_logs(s, ctx, report);
    dihya::Result r = dihya::Result::success(
        "cleaned " + std::to_string(total) + " row(s) in " + std::to_string(plan.size()) + " table(s) and " +
            std::to_string(files) + " log file(s); quarantined until " + dihya::format_utc(s.expires_at),
        {{"tables", counts}, {"rows", total}, {"log_files", files}, {"quarantine_expires_at", dihya::format_utc(s.expires_at)}});
    r.report = report;
    return r;
  }

  // Gzips and quarantines log files, journalling each step before it.
  static long long clean_logs(const Settings& s, dihya::Context& ctx, std::string& report) {
    long long n = 0;
    for (const auto& rule : s.policy.logs) {
      for (const auto& a : plan_logs(rule, ctx.now())) {
        if (ctx.cancelled()) throw dihya::Error("cancelled after " + std::to_string(n) + " log file(s)");
        if (a.action == "gzip") {
          const std::string gz = a.file.string() + ".gz";
          ctx.journal().record({"gzip_file", {{"file", a.file.string()}, {"gz", gz}}});
          gzip_file(a.file);
        }
        const auto to = a.file.parent_path() / kLogQuarantineDir / ctx.run_id() / a.file.filename();
        ctx.journal().record({"quarantine_file", {{"from", a.file.string()}, {"to", to.string()}}});
        quarantine_file(a.file, ctx.run_id(), s.expires_at);
        report += dihya::printable(a.file.string()) + ": " + (a.action == "gzip" ? "gzipped" : "removed (quarantined)") + "\n";
        ++n;
      }
    }
    return n;
  }

  static std::string where(const pqxx::transaction_base& tx, const TableRule& rule) {
    return "t." + tx.quote_name(rule.timestamp_column) + " < $1::timestamptz";
  }

  long long clean_table(const Settings& s, const dihya::FkGraph& graph, const TableRule& rule, const std::string& cutoff,
                        long long expected, long& batch_no, dihya::Context& ctx) {
    auto& db = ctx.db();
    const auto& info = graph.table(rule.table);
    const std::string quarantine = [&] {
      pqxx::work tx(db);
      auto q = *quarantine_for(tx, read_table_info(tx, rule.table), true);
      tx.commit();
      return q;
    }();
    // A delete whose rows other tables reference with ON DELETE actions must
    // check those first (act()); any other delete is one statement.
    // Children outside the graph count too: act() must refuse a cascade
    // into them.
    const bool one_statement = rule.action == "delete" && acting_children(graph, info.name).empty();
    // One journal entry for all the table's batches, durable before the
    // first: rollback restores every batch the run left in the quarantine
    // (a batch that never committed left none), and no batch waits for an
    // fsync of its own.
    nlohmann::json entry{{"run_id", ctx.run_id()},
                         {"schema", rule.table.schema},
                         {"table", rule.table.name},
                         {"first_batch", batch_no},
                         {"action", rule.action},
                         {"quarantine", quarantine}};
    // What rollback puts back of an anonymised row: the columns this run
    // changed, not the whole row (a later run, or the platform, may have
    // changed the others since).
    if (rule.action == "anonymise") {
      entry["columns"] = nlohmann::json::array();
      for (const auto& c : rule.columns) entry["columns"].push_back(c.column);
    }
    ctx.journal().record({"quarantine_table", std::move(entry)});
    Batches b{s, rule, cutoff, expected, batch_no, ctx, quarantine, info};
    b.size = std::min(s.batch_size, 1000L);
    if (!one_statement) {
      copy_and_act(b, graph);
    } else if (!move_by_range(b)) {
      move_by_keyset(b);
    }
    batch_no = b.batch_no;
    make_durable(b);
    return b.done;
  }

  // The state of one table's batches: what they share, how many rows went,
  // and the size of the next one.
  struct Batches {
    const Settings& s;
    const TableRule& rule;
    const std::string& cutoff;
    long long expected;
    long batch_no;
    dihya::Context& ctx;
    const std::string& quarantine;
    const dihya::TableInfo& info;
    long size = 1;  // rows, or keys of a key range
    long long done = 0;
    std::chrono::steady_clock::time_point started{};

    // Opens a batch's transaction. Its commit need not wait for the WAL
    // flush: a batch's delete and its quarantine copy are one transaction,
    // so a server crash that loses it loses both (the rows are still in the
    // source, and rollback restores the batches that did survive); the
    // table's last transaction (make_durable) flushes them all before the
    // run reports them done.
    void begin(pqxx::work& tx) {
      if (ctx.cancelled()) throw dihya::Error("cancelled after " + std::to_string(done) + " row(s) of " + rule.table.display());
      dihya::pg::refuse_untrusted_code(tx, {rule.table.quoted(tx), quoted_quarantine(tx, quarantine)},
                                       dihya::pg::TableUse::write, "SET LOCAL synchronous_commit = off");
      // The batch is timed from here: what it locks rows for, and what
      // nice_ratio's pause answers, is its work, not the check before it
      // (a few round trips, which under load once took a third of a 10 ms batch).
      started = std::chrono::steady_clock::now();
    }
    std::vector<std::string> params(const std::string& action) const {
      std::vector<std::string> p{cutoff, ctx.run_id(), std::to_string(batch_no)};
      if (!action.empty()) p.push_back(action);
      p.push_back(dihya::format_utc(s.expires_at));
      return p;
    }
    // After a committed batch of n rows: progress, and the next batch sized
    // so that it takes about max_batch_ms (locks are held that long),
    // changing at most fourfold at a time (a cold cache or a checkpoint must
    // not swing it), never more than batch_size rows.
    void committed(long long n) {
      done += n;
      ++batch_no;
      ctx.progress(static_cast<std::uint64_t>(done), static_cast<std::uint64_t>(std::max(expected, done)),
                   "rows of " + rule.table.display());
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
      const double ratio =
          std::clamp(static_cast<double>(s.max_batch_ms) * 1000.0 / static_cast<double>(std::max<long long>(us, 1)), 0.25, 4.0);
      size = std::clamp(static_cast<long>(static_cast<double>(size) * ratio), 1L, s.batch_size);
      pause(std::chrono::microseconds(static_cast<long long>(static_cast<double>(us) * s.nice_ratio)));
    }
    // nice_ratio's pause after a batch, in short steps so that a cancel
    // is seen within 10 ms (the next begin() then stops the run).
    void pause(std::chrono::microseconds left) const {
      constexpr std::chrono::microseconds kStep{10000};
      while (left.count() > 0 && !ctx.cancelled()) {
        std::this_thread::sleep_for(std::min(left, kStep));
        left -= kStep;
      }
    }
  };

  // The greatest value of an integer column type; 0 for another type.
  static long long integer_type_max(const std::string& type) {
    if (type == "bigint") return std::numeric_limits<long long>::max();
    if (type == "integer") return std::numeric_limits<std::int32_t>::max();
    if (type == "smallint") return std::numeric_limits<std::int16_t>::max();
    return 0;
  }

  // A single integer key: batches are key ranges [from, from + size - 1],
  // with no pre-scan to find where a batch ends (that walk reads every row
  // of the batch once more). A range of `size` keys holds at most `size`
  // rows, so batch_size still bounds a batch. After a range that held no
  // old row, one walk of the key index finds the next old row's key, so a
  // stretch of live rows or a gap in the keys costs one batch, not one per
  // `size` keys; when it finds none, the table is done. Returns false when
  // the key is not one integer column (then move_by_keyset runs).
  static bool move_by_range(Batches& b) {
    if (b.info.primary_key.size() != 1) return false;
    const auto type_max = integer_type_max(b.info.column(b.info.primary_key.front())->type);
    if (type_max == 0) return false;
    std::optional<long long> after;  // the next range starts at the first old key after it
    long long from = 0;
    for (bool seek = true;;) {
      if (seek) {
        pqxx::read_transaction tx(b.ctx.db());
        dihya::pg::refuse_untrusted_code(tx, {b.info.name.quoted(tx)}, dihya::pg::TableUse::read);
        const auto k = "t." + tx.quote_name(b.info.primary_key.front());
        const auto sql = "SELECT min(" + k + ")::text FROM " + b.info.name.quoted(tx) + " t WHERE " + where(tx, b.rule) +
                         (after ? " AND " + k + " > $2::bigint" : "");
        const auto r = after ? tx.exec_params1(sql, b.cutoff, *after) : tx.exec_params1(sql, b.cutoff);
        if (r[0].is_null()) return true;
        from = r[0].as<long long>();
      }
      const long long to = from > type_max - (b.size - 1) ? type_max : from + b.size - 1;
      pqxx::work tx(b.ctx.db());
      b.begin(tx);
      TableSql sql(tx, b.info, b.quarantine);
      auto p = b.params("");
      p.push_back(std::to_string(from));
      p.push_back(std::to_string(to));
      const auto n = static_cast<long long>(
          tx.exec_params(sql.move_range(where(tx, b.rule)), pqxx::prepare::make_dynamic_params(p)).affected_rows());
      tx.commit();
      b.committed(n);
      if (to == type_max) return true;
      seek = n == 0;
      after = to;
      from = to + 1;
    }
  }

  // Any other key: the batch's end key first (a walk of the key index),
  // then one ranged DELETE feeding the quarantine; when fewer than `size`
  // rows remain, an unbounded last batch takes them all.
  static void move_by_keyset(Batches& b) {
    std::vector<std::string> last_values;
    for (bool last = false; !last;) {
      pqxx::work tx(b.ctx.db());
      b.begin(tx);
      TableSql sql(tx, b.info, b.quarantine);
      const bool keyset = !last_values.empty();
      std::vector<std::string> e{b.cutoff};
      e.insert(e.end(), last_values.begin(), last_values.end());
      const auto end = tx.exec_params(sql.batch_end(where(tx, b.rule), keyset, b.size), pqxx::prepare::make_dynamic_params(e));
      last = end.empty();
      auto p = b.params("");
      p.insert(p.end(), last_values.begin(), last_values.end());
      if (!last) {
        last_values = key_values(b.info, end[0][0].as<std::string>());
        p.insert(p.end(), last_values.begin(), last_values.end());
      }
      const auto n = static_cast<long long>(
          tx.exec_params(sql.move(where(tx, b.rule), keyset, !last), pqxx::prepare::make_dynamic_params(p)).affected_rows());
      tx.commit();
      b.committed(n);
    }
  }

  // Anonymise, or a delete other tables depend on: copy the batch into the
  // quarantine, then act on the source from the copies.
  static void copy_and_act(Batches& b, const dihya::FkGraph& graph) {
    std::vector<std::string> last_values;
    for (;;) {
      pqxx::work tx(b.ctx.db());
      b.begin(tx);
      TableSql sql(tx, b.info, b.quarantine);
      const auto batch = std::to_string(b.batch_no);
      auto p = b.params(b.rule.action);
      p.insert(p.end(), last_values.begin(), last_values.end());
      const auto copied = tx.exec_params(sql.copy(where(tx, b.rule), !last_values.empty(), b.size, true),
                                         pqxx::prepare::make_dynamic_params(p));
      const auto n = static_cast<long long>(copied.size());
      if (n == 0) break;
      std::string addresses = "{";
      for (const auto& row : copied) addresses += (addresses.size() > 1 ? ",\"" : "\"") + std::string(row[0].c_str()) + "\"";
      addresses += "}";
      sql.by_address();
      last_values = key_values(b.info, tx.exec_params1(sql.last_key(), b.ctx.run_id(), batch, addresses)[0].as<std::string>());
      act(tx, graph, b.info, sql, b.rule, b.ctx.run_id(), batch, &addresses, b.s.salt);
      tx.commit();
      b.committed(n);
    }
  }

  // The key's columns as text, in key order, from a JSON object.
  static std::vector<std::string> key_values(const dihya::TableInfo& info, const std::string& json) {
    const auto key = nlohmann::json::parse(json);
    std::vector<std::string> out;
    for (const auto& k : info.primary_key) {
      const auto& v = key.at(k);
      out.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    }
    return out;
  }

  // One transaction that writes and commits with the session's
  // synchronous_commit: its commit flushes the WAL up to it, with every
  // batch committed before it. Touching the quarantine's own mapping row
  // guarantees a WAL record even when the last batch moved nothing.
  static void make_durable(Batches& b) {
    pqxx::work tx(b.ctx.db());
    tx.exec_params("UPDATE dihya_quarantine.tables SET created_at = created_at WHERE quarantine_table = $1", b.quarantine);
    tx.commit();
  }

  // Deletes or anonymises the quarantined batch. A delete that would cascade
  // into (or set null in) rows the run has not quarantined is refused: those
  // rows could not be restored.
  // `addresses`: the batch's rows in the quarantine when `sql` finds them by
  // address (TableSql::by_address), else null.
  static void act(pqxx::work& tx, const dihya::FkGraph& graph, const dihya::TableInfo& info, const TableSql& sql,
                  const TableRule& rule, const std::string& run_id, const std::string& batch, const std::string* addresses,
                  const std::string& salt) {
    std::vector<std::string> batch_params{run_id, batch};
    if (addresses != nullptr) batch_params.push_back(*addresses);
    if (rule.action == "anonymise") {
      std::vector<std::string> p = batch_params;
      std::vector<std::string> extra;
      const auto update = sql.anonymise_batch(rule.columns, extra, salt);
      p.insert(p.end(), extra.begin(), extra.end());
      tx.exec_params(update, pqxx::prepare::make_dynamic_params(p));
      return;
    }
    for (const auto& fk : acting_children(graph, info.name)) {
      // A child no run can quarantine (outside the graph, no primary key)
      // counts every dependent row: none of them has a copy.
      const auto why = unquarantinable(graph, fk);
      const dihya::TableInfo child = why.empty() ? graph.table(fk.child) : dihya::TableInfo{fk.child, {}, {}};
      const auto child_quarantine = why.empty() ? quarantine_for(tx, read_table_info(tx, fk.child), false) : std::nullopt;
      const auto n = tx.exec_params1(sql.unrecorded_dependents(fk, child, child_quarantine, fk.on_delete == 'c'),
                                     pqxx::prepare::make_dynamic_params(batch_params))[0]
                         .as<long long>();
      if (n > 0) {
        const auto hint = !why.empty()             ? ": " + why
                          : fk.child == info.name ? std::string("; they are not selected themselves (a self-reference)")
                                                  : "; list " + dihya::printable(fk.child.display()) + " in the policy before " +
                                                        dihya::printable(info.name.display());
        throw dihya::Error(cascade_refusal(info.name, n, fk, "them", hint));
      }
    }
    tx.exec_params(sql.delete_batch(), pqxx::prepare::make_dynamic_params(batch_params));
  }

  // ---- erase_user ---------------------------------------------------------

  dihya::Result erase_user(Settings& s, const std::string& user, dihya::Context& ctx) {
    auto& db = ctx.db();
    pqxx::work tx(db);
    if (!ctx.dry_run()) ensure_quarantine(tx);
    const auto graph = dihya::FkGraph::load(tx, s.policy.graph);
    const auto key = find_user(tx, graph, user);
    // A table without an explicit rule: the rows owned by the user (reached
    // through ON DELETE CASCADE paths) are deleted; rows that only point at
    // the user's rows (SET NULL links: a reviewer, a featured comment) are
    // kept and quarantined as "unlinked" (batch 1), because deleting the
    // user's rows makes PostgreSQL change them.
    auto steps = erase_steps(s.policy, graph);
    auto owned = [&](const EraseStep& st) { return owned_condition(tx, graph, st); };
    auto linked = [&](const EraseStep& st) {
      return "(" + graph.user_condition(tx, st.rule.table, "t") + pointing_at_owned(tx, graph, st.rule.table) + ") AND NOT (" +
             graph.user_condition(tx, st.rule.table, "t", true) + ")";
    };
    std::string report;
    nlohmann::json counts = nlohmann::json::object();
    if (ctx.dry_run()) {
      for (auto& st : steps) {
        const auto q = "SELECT count(*) FROM " + st.rule.table.quoted(tx) + " t WHERE ";
        st.rows = tx.exec_params1(q + owned(st), key)[0].as<long long>();
        if (st.split) st.unlinked = tx.exec_params1(q + linked(st), key)[0].as<long long>();
        counts[st.rule.table.display()] = {{"rows", st.rows}, {"action", st.rule.action}, {"unlinked", st.unlinked}};
        report += dihya::printable(st.rule.table.display()) + ": " + std::to_string(st.rows) + " row(s) to " + st.rule.action +
                  (st.split ? ", " + std::to_string(st.unlinked) + " to unlink" : "") + "\n";
      }
      dihya::Result r = dihya::Result::success("would erase user " + key + " from " + std::to_string(steps.size()) + " table(s)",
                                               {{"tables", counts}});
      r.report = report;
      return r;
    }
    nlohmann::json tables = nlohmann::json::array();
    std::vector<std::string> quarantines;
    std::vector<std::string> touched;
    for (const auto& st : steps) {
      quarantines.push_back(*quarantine_for(tx, read_table_info(tx, st.rule.table), true));
      tables.push_back({{"schema", st.rule.table.schema}, {"table", st.rule.table.name}, {"action", st.rule.action},
                        {"quarantine", quarantines.back()}});
      touched.push_back(st.rule.table.quoted(tx));
      touched.push_back(quoted_quarantine(tx, quarantines.back()));
    }
    dihya::pg::refuse_untrusted_code(tx, touched, dihya::pg::TableUse::write);
    // Quarantine everything first: the selection follows paths through parent
    // rows, which must still exist while it is evaluated.
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto& st = steps[i];
      if (ctx.cancelled()) throw dihya::Error("cancelled before erasing anything");
      TableSql sql(tx, graph.table(st.rule.table), quarantines[i]);
      std::vector<std::string> p{key, ctx.run_id(), "0", st.rule.action, dihya::format_utc(s.expires_at)};
      st.rows = static_cast<long long>(
          tx.exec_params(sql.copy(owned(st), false, 0), pqxx::prepare::make_dynamic_params(p)).affected_rows());
      if (st.split) {
        p[2] = "1";
        p[3] = "anonymise";
        st.unlinked = static_cast<long long>(
            tx.exec_params(sql.copy(linked(st), false, 0), pqxx::prepare::make_dynamic_params(p)).affected_rows());
      }
      ctx.progress(i + 1, steps.size() * 2, "tables quarantined");
    }
    ctx.journal().record({"erase_user", {{"run_id", ctx.run_id()}, {"tables", tables}}});
    long long total = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const auto& st = steps[i];
      if (ctx.cancelled()) throw dihya::Error("cancelled: the erasure was not committed");
      act(tx, graph, graph.table(st.rule.table), TableSql(tx, graph.table(st.rule.table), quarantines[i]), st.rule,
          ctx.run_id(), "0", nullptr, s.salt);
      counts[st.rule.table.display()] = {{"rows", st.rows}, {"action", st.rule.action}, {"unlinked", st.unlinked}};
      report += dihya::printable(st.rule.table.display()) + ": " + std::to_string(st.rows) + " row(s) " +
                (st.rule.action == "delete" ? "deleted" : "anonymised") +
                (st.unlinked ? ", " + std::to_string(st.unlinked) + " unlinked" : "") + "\n";
      total += st.rows;
      ctx.progress(steps.size() + i + 1, steps.size() * 2, "tables erased");
    }
    tx.commit();
    dihya::Result r = dihya::Result::success(
        "erased user " + key + ": " + std::to_string(total) + " row(s) in " + std::to_string(steps.size()) +
            " table(s); quarantined until " + dihya::format_utc(s.expires_at),
        {{"tables", counts}, {"rows", total}, {"quarantine_expires_at", dihya::format_utc(s.expires_at)}});
    r.report = report;
    return r;
  }

  // ---- purge and status ---------------------------------------------------

  // Every quarantine table, quoted, with the legacy jsonb one (rows of tables
  // dropped since) last.
  struct Store {
    std::string table;
    std::string expires;  // its expiry column
    std::string run, source, action;
    std::string source_schema, source_table;  // for the purge ledger
  };
  static std::vector<Store> stores(pqxx::transaction_base& tx) {
    std::vector<Store> out;
    for (const auto& q : all_quarantines(tx)) {
      out.push_back({quoted_quarantine(tx, q.name), "_dihya_expires_at", "_dihya_run_id",
                     "(SELECT source_schema || '.' || source_table FROM dihya_quarantine.tables WHERE quarantine_table = " +
                         tx.quote(q.name) + ")",
                     "_dihya_action", tx.quote(q.source.schema) + "::text", tx.quote(q.source.name) + "::text"});
    }
    if (tx.exec1("SELECT to_regclass('dihya_quarantine.rows') IS NOT NULL")[0].as<bool>()) {
      out.push_back({"dihya_quarantine.rows", "expires_at", "run_id", "table_schema || '.' || table_name", "action",
                     "table_schema", "table_name"});
    }
    return out;
  }

  dihya::Result purge(const Policy& policy, dihya::Context& ctx) {
    auto& db = ctx.db();
    const auto now = dihya::format_utc(ctx.now());
    std::uint64_t files = 0;
    for (const auto& rule : policy.logs) files += purge_log_quarantine(rule.dir, ctx.now(), ctx.dry_run());
    const auto files_text = " and " + std::to_string(files) + " log file(s)";
    std::vector<Store> all;
    {
      pqxx::read_transaction tx(db);
      if (!quarantine_exists(tx)) return dihya::Result::success("purged 0 quarantine row(s)" + files_text, {{"rows", 0}, {"files", files}});
      if (ctx.dry_run()) {
        long long n = 0;
        for (const auto& st : stores(tx)) {
          n += tx.exec_params1("SELECT count(*) FROM " + st.table + " WHERE " + st.expires + " <= $1::timestamptz", now)[0]
                   .as<long long>();
        }
        return dihya::Result::success("would purge " + std::to_string(n) + " expired quarantine row(s)" + files_text,
                                      {{"rows", n}, {"files", files}});
      }
    }
    {
      pqxx::work tx(db);
      ensure_purge_ledger(tx);  // for a quarantine an earlier version made
      all = stores(tx);
      tx.commit();
    }
    long long total = 0;
    for (const auto& st : all) {
      for (;;) {
        if (ctx.cancelled()) throw dihya::Error("cancelled after purging " + std::to_string(total) + " row(s)");
        pqxx::work tx(db);
        dihya::pg::refuse_untrusted_code(tx, {st.table, "dihya_quarantine.purged"}, dihya::pg::TableUse::write);
        // Each batch notes in the same transaction what it removed of which
        // run: a rollback of that run can then say what is gone for good.
        const auto n = tx.exec_params1(
                             "WITH gone AS (DELETE FROM " + st.table + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + st.table +
                                 " WHERE " + st.expires + " <= $1::timestamptz LIMIT 10000)) RETURNING " + st.run +
                                 " AS run_id, " + st.source_schema + " AS source_schema, " + st.source_table +
                                 " AS source_table),"
                                 " noted AS (INSERT INTO dihya_quarantine.purged AS p"
                                 " (run_id, source_schema, source_table, purge_run_id, row_count)"
                                 " SELECT run_id, source_schema, source_table, $2, count(*) FROM gone GROUP BY 1, 2, 3"
                                 " ON CONFLICT (run_id, source_schema, source_table, purge_run_id)"
                                 " DO UPDATE SET row_count = p.row_count + excluded.row_count, purged_at = now())"
                                 " SELECT count(*) FROM gone",
                             now, ctx.run_id())[0]
                           .as<long long>();
        tx.commit();
        total += n;
        if (n == 0) break;
        ctx.progress(static_cast<std::uint64_t>(total), 0, "quarantine rows purged");
      }
    }
    return dihya::Result::success("purged " + std::to_string(total) + " expired quarantine row(s)" + files_text +
                                      ": those deletions are final",
                                  {{"rows", total}, {"files", files}});
  }

  dihya::Result status(dihya::Context& ctx) {
    pqxx::read_transaction tx(ctx.db());
    if (!quarantine_exists(tx)) return dihya::Result::success("the quarantine is empty", {{"runs", nlohmann::json::array()}});
    std::string union_sql;
    for (const auto& st : stores(tx)) {
      union_sql += (union_sql.empty() ? "" : " UNION ALL ") + std::string("SELECT ") + st.run + " AS run_id, " + st.source +
                   " AS source, " + st.action + " AS action, " + st.expires + " AS expires_at FROM " + st.table;
    }
    if (union_sql.empty()) return dihya::Result::success("the quarantine is empty", {{"runs", nlohmann::json::array()}});
    auto rows = tx.exec("SELECT run_id, source, action, count(*), min(expires_at)::text FROM (" + union_sql +
                        ") u GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
    nlohmann::json out = nlohmann::json::array();
    std::string report;
    for (const auto& r : rows) {
      out.push_back({{"run_id", r[0].c_str()}, {"table", r[1].c_str()}, {"action", r[2].c_str()}, {"rows", r[3].as<long long>()},
                     {"expires_at", r[4].c_str()}});
      // A source table's name may hold a newline: escaped, it cannot forge a line.
      report += dihya::printable(r[0].c_str()) + "  " + dihya::printable(r[1].c_str()) + "  " + dihya::printable(r[2].c_str()) +
                "  " + r[3].c_str() + " row(s)  expires " + r[4].c_str() + "\n";
    }
    dihya::Result res = dihya::Result::success(std::to_string(rows.size()) + " quarantine group(s)", {{"runs", out}});
    res.report = report;
    return res;
  }

  // ---- rollback -----------------------------------------------------------

  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context& ctx) override {
    long long files = 0;
    std::vector<std::string> gone_files;  // quarantined by the run, in neither place now
    bool has_rows = false;
    for (const auto& e : newest_first) {
      if (e.action == "quarantine_file") {
        const std::string original = e.data.at("from").get<std::string>();
        switch (restore_log_file(e.data.at("to").get<std::string>(), original)) {
          case LogRestore::restored: ++files; break;
          case LogRestore::gone: gone_files.push_back(original); break;
          case LogRestore::already_back: break;
        }
      } else if (e.action == "gzip_file") {
        // The original is back (newest first): the .gz made from it goes.
        std::error_code ec;
        if (std::filesystem::exists(e.data.at("file").get<std::string>(), ec)) std::filesystem::remove(e.data.at("gz").get<std::string>(), ec);
      } else {
        has_rows = true;
      }
    }
    if (!has_rows) {
      if (!gone_files.empty()) return gone_files_failure(gone_files, "restored " + std::to_string(files) + " log file(s)", files);
      return dihya::Result::success("restored " + std::to_string(files) + " log file(s)", {{"rows", 0}, {"files", files}});
    }
    dihya::pg::pin_search_path(ctx.db());
    pqxx::work tx(ctx.db());
    if (!quarantine_exists(tx)) return dihya::Result::success("nothing to restore: no quarantine", {{"rows", 0}});
    ensure_quarantine(tx);  // moves rows of an older version's quarantine into the typed tables
    const auto purged = purged_rows_of(tx, ctx.run_id());
    if (purged.empty()) {
      const auto restored = restore_entries(tx, newest_first);
      tx.commit();
      if (!gone_files.empty()) {
        return gone_files_failure(gone_files, "restored " + std::to_string(restored) + " row(s) and " +
                                                  std::to_string(files) + " log file(s)", files);
      }
      return dihya::Result::success("restored " + std::to_string(restored) + " row(s) and " + std::to_string(files) +
                                        " log file(s) from the quarantine",
                                    {{"rows", restored}, {"files", files}});
    }
    // Some of the run's rows are gone for good: the prior state cannot come
    // back, and the rollback fails saying so (the run is not marked rolled
    // back). What is still quarantined is restored all the same: a partial
    // purge leaves rows the operator asked back. A savepoint, because those
    // can fail to go in (a row whose parent was purged).
    long long restored = 0;
    std::optional<std::string> failed;
    try {
      pqxx::subtransaction sub(tx, "restore_remaining");
      restored = restore_entries(sub, newest_first);
      sub.commit();
    } catch (const std::exception& e) {
      // "ERROR:  insert or update on table ...\nDETAIL: ...": its first line, without the prefix.
      std::string why = e.what();
      why = why.substr(0, why.find('\n'));
      if (why.rfind("ERROR:", 0) == 0) why.erase(0, std::min(why.find_first_not_of(' ', 6), why.size()));
      failed = dihya::printable(why);
    }
    tx.commit();
    return purged_failure(purged, restored, files, failed);
  }

  static long long restore_entries(pqxx::transaction_base& tx, const std::vector<dihya::UndoEntry>& newest_first) {
    long long restored = 0;
    for (const auto& e : newest_first) {
      if (e.action == "quarantine_table") {
        // Every batch of the run in that table at once: batches hold
        // distinct rows, so their order does not matter.
        const dihya::TableName t{e.data.at("schema").get<std::string>(), e.data.at("table").get<std::string>()};
        // Entries written before "columns" restore whole rows, as then.
        const auto columns = e.data.value("columns", std::vector<std::string>{});
        restored += restore(tx, t, e.data.at("run_id").get<std::string>(), std::to_string(e.data.value("first_batch", 0L)),
                            e.data.at("action").get<std::string>(), {}, false, true, columns);
      } else if (e.action == "quarantine_batch") {  // written by versions before quarantine_table
        const dihya::TableName t{e.data.at("schema").get<std::string>(), e.data.at("table").get<std::string>()};
        restored += restore(tx, t, e.data.at("run_id").get<std::string>(), std::to_string(e.data.at("batch").get<long>()),
                            e.data.at("action").get<std::string>(), {}, false);
      } else if (e.action == "erase_user") {
        restored += restore_erasure(tx, e.data);
      }
    }
    return restored;
  }

  // Log files the run quarantined that a purge (or a hand) removed: the prior
  // state cannot come back, so the rollback fails, saying which.
  static dihya::Result gone_files_failure(const std::vector<std::string>& gone, const std::string& restored_text,
                                          long long files) {
    return dihya::Result::failure(
        std::to_string(gone.size()) + " log file(s) this run quarantined are gone (purged?), first " +
            dihya::printable(gone.front(), 200) + ": its prior state cannot be restored; " + restored_text,
        {{"rows", 0}, {"files", files}, {"files_gone", gone}});
  }

  // One line: how many of the run's rows were purged, from which tables, by
  // which purge runs; then what the rollback did restore.
  static dihya::Result purged_failure(const std::vector<PurgedRows>& purged, long long restored, long long files,
                                      const std::optional<std::string>& failed) {
    long long total = 0;
    std::string where;
    nlohmann::json by = nlohmann::json::array();
    for (const auto& p : purged) {
      total += p.rows;
      where += (where.empty() ? "" : ", ") + p.source.display() + ": " + std::to_string(p.rows) + " by purge run " + p.purge_run_id;
      by.push_back({{"table", p.source.display()}, {"purge_run_id", p.purge_run_id}, {"rows", p.rows}});
    }
    return dihya::Result::failure(
        std::to_string(total) + " row(s) this run quarantined were purged for good (" + where +
            "): its prior state cannot be restored; " +
            (failed ? "the rows still quarantined stay there (restoring them failed: " + *failed + "); restored "
                    : "restored " + std::to_string(restored) + " row(s) still quarantined and ") +
            std::to_string(files) + " log file(s)",
        {{"rows", restored}, {"files", files}, {"purged", total}, {"purged_by", by}});
  }

  // Restores one batch from whichever quarantine table holds it. A table
  // whose columns no longer match the source is refused: restoring by name
  // or by position into another layout could put values in the wrong place.
  // With `from_batch`, every batch of the run numbered `batch` or more.
  static long long restore(pqxx::transaction_base& tx, const dihya::TableName& t, const std::string& run_id, const std::string& batch,
                           const std::string& action, const std::vector<std::string>& deferred, bool keep_copies,
                           bool from_batch = false, const std::vector<std::string>& only_columns = {}) {
    const auto candidates = quarantines_of(tx, t);
    if (candidates.empty()) return 0;
    const auto info = read_table_info(tx, t);
    const auto now = column_signature(info);
    std::vector<std::string> touched{t.quoted(tx)};
    for (const auto& q : candidates) touched.push_back(quoted_quarantine(tx, q.name));
    dihya::pg::refuse_untrusted_code(tx, touched, dihya::pg::TableUse::write);
    long long n = 0;
    for (const auto& q : candidates) {
      TableSql sql(tx, info, q.name);
      if (from_batch) sql.from_batch();
      if (!tx.exec_params1(sql.has_batch(), run_id, batch)[0].as<bool>()) continue;
      if (q.signature != now) {
        throw dihya::Error("cannot restore " + t.display() + ": its columns changed since run " + run_id +
                           " quarantined its rows (then: " + one_line(q.signature) + "; now: " + one_line(now) +
                           "); change them back, or restore by hand from dihya_quarantine." + q.name);
      }
      n += static_cast<long long>(
          tx.exec_params(action == "delete" ? sql.restore_deleted(deferred) : sql.restore_anonymised(deferred, only_columns), run_id, batch)
              .affected_rows());
      if (!keep_copies) tx.exec_params(sql.forget_batch(), run_id, batch);
    }
    return n;
  }

  static std::string one_line(std::string signature) {
    while (!signature.empty() && signature.back() == '\n') signature.pop_back();
    std::replace(signature.begin(), signature.end(), '\n', ',');
    return signature;
  }

  // Parents first (the reverse of the erase order). A column that references
  // a table restored later (a cycle) is inserted NULL and set at the end.
  static long long restore_erasure(pqxx::transaction_base& tx, const nlohmann::json& data) {
    const auto run_id = data.at("run_id").get<std::string>();
    std::vector<std::pair<dihya::TableName, std::string>> order;
    for (const auto& t : data.at("tables")) {
      order.emplace_back(dihya::TableName{t.at("schema").get<std::string>(), t.at("table").get<std::string>()},
                         t.at("action").get<std::string>());
    }
    std::reverse(order.begin(), order.end());
    auto fks = tx.exec(
        "SELECT cn.nspname, cc.relname, pn.nspname, pc.relname, ca.attname"
        " FROM pg_constraint c"
        " JOIN pg_class cc ON cc.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace"
        " JOIN pg_class pc ON pc.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace"
        " CROSS JOIN LATERAL unnest(c.conkey) k(n) JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.n"
        " WHERE c.contype = 'f' AND NOT c.condeferrable");
    std::vector<std::vector<std::string>> deferred(order.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      for (const auto& f : fks) {
        const dihya::TableName child{f[0].c_str(), f[1].c_str()}, parent{f[2].c_str(), f[3].c_str()};
        if (child != order[i].first) continue;
        for (std::size_t j = i + 1; j < order.size(); ++j) {
          if (order[j].first == parent && std::find(deferred[i].begin(), deferred[i].end(), f[4].c_str()) == deferred[i].end()) {
            deferred[i].push_back(f[4].c_str());
          }
        }
      }
    }
    long long restored = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
      restored += restore(tx, order[i].first, run_id, "0", order[i].second, deferred[i], true);
      restored += restore(tx, order[i].first, run_id, "1", "anonymise", deferred[i], true);
    }
    for (std::size_t i = 0; i < order.size(); ++i) {
      const auto& t = order[i].first;
      const auto info = read_table_info(tx, t);
      for (const auto& q : quarantines_of(tx, t)) {
        if (q.signature != column_signature(info)) continue;  // holds none of this run's rows: restore() refused those
        TableSql sql(tx, info, q.name);
        for (const char* batch : {"0", "1"}) {
          if (!deferred[i].empty()) tx.exec_params(sql.set_deferred(deferred[i]), run_id, batch);
          tx.exec_params(sql.forget_batch(), run_id, batch);
        }
      }
    }
    return restored;
  }
};

}  // namespace

}  // namespace cleanup

DIHYA_PLUGIN(cleanup::Cleanup)
