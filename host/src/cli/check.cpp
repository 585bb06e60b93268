// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host check <plugin.so>`: the conformance kit. Static checks read the
// embedded metadata; the others run the plugin in supervised children. With
// --exercise, the first example is run for real on a scratch copy of the
// configured database: a dry run must change nothing, and for reversible
// plugins the run must change something and run → rollback must restore
// every table exactly.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <iterator>
#include <set>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/param_options.hpp"
#include "cli/plugin_ops.hpp"
#include "cli/plugin_page.hpp"
#include "db/libpq.hpp"
#include "errors.hpp"
#include "loading/capabilities.hpp"
#include "loading/catalog.hpp"
#include "util/json_text_of.hpp"
#include "util/printable.hpp"
#include "params/param_builder.hpp"

namespace dihya::host {
namespace {

struct CheckItem {
  std::string name;
  std::string status;  // pass, fail, skip
  std::string detail;
};

class Checklist {
 public:
  void pass(std::string name, std::string detail = "") { items_.push_back({std::move(name), "pass", std::move(detail)}); }
  void fail(std::string name, std::string detail) { items_.push_back({std::move(name), "fail", std::move(detail)}); }
  void skip(std::string name, std::string detail) { items_.push_back({std::move(name), "skip", std::move(detail)}); }
  void expect(bool ok, std::string name, std::string detail) {
    ok ? pass(std::move(name)) : fail(std::move(name), std::move(detail));
  }
  bool ok() const {
    for (const auto& i : items_) {
      if (i.status == "fail") return false;
    }
    return true;
  }
  const std::vector<CheckItem>& items() const { return items_; }

 private:
  std::vector<CheckItem> items_;
};

// One line per check, with its detail whatever the status (a passing
// sandbox check names what the plugin may touch, or that it runs
// UNCONFINED). A detail quotes the plugin (its error message, an example's
// description, a row of the database it changed): made safe to print.
void print_items(const Checklist& list) {
  for (const auto& i : list.items()) {
    std::cout << fmt::format("{:<5} {}{}\n", i.status, i.name,
                             i.detail.empty() ? "" : ": " + printable(i.detail, std::string::npos));
  }
}

bool non_empty_string(const nlohmann::json& m, const char* key) {
  return m.contains(key) && m[key].is_string() && !m[key].get<std::string>().empty();
}

void check_documentation(const PluginFile& plugin, Checklist& list) {
  const auto& m = plugin.metadata;
  std::vector<std::string> missing;
  for (const char* key : {"summary", "description", "security", "rollback"}) {
    if (!non_empty_string(m, key)) missing.push_back(key);
  }
  bool examples_ok = m.contains("examples") && m["examples"].is_array() && !m["examples"].empty();
  if (examples_ok) {
    for (const auto& e : m["examples"]) examples_ok = examples_ok && e.is_object() && non_empty_string(e, "command");
  }
  if (!examples_ok) missing.push_back("examples (each with a command)");
  for (const char* key : {"destructive", "reversible"}) {
    if (!m.contains(key) || !m[key].is_boolean()) missing.push_back(std::string(key) + " (boolean)");
  }
  if (!m.contains("needs") || !m["needs"].is_array()) missing.push_back("needs (array)");
  list.expect(missing.empty(), "metadata documents the plugin",
              fmt::format("plugin.json lacks: {}", fmt::join(missing, ", ")));
}

// Wrong values the schema must refuse: an unknown key and a wrongly typed value per typed property.
void check_schema_rejects(const PluginFile& plugin, Checklist& list) {
  const auto& schema = plugin.parameters();
  std::vector<std::string> accepted;
  auto must_reject = [&](const std::vector<std::string>& kv, const std::string& label) {
    try {
      build_params(schema, kv, std::nullopt);
      accepted.push_back(label);
    } catch (const HostError&) {
    }
  };
  must_reject({"dihya_check_unknown_parameter=1"}, "an unknown parameter");
  if (schema.contains("properties") && schema["properties"].is_object()) {
    for (const auto& [name, property] : schema["properties"].items()) {
      // "type" may be a list (["integer", "null"]): only a single type is probed.
      const std::string type = text_of(property, "type");
      if (type == "integer" || type == "number" || type == "boolean") {
        must_reject({name + "=dihya-not-a-" + type}, fmt::format("'{}' given a non-{}", name, type));
      }
    }
  }
  list.expect(accepted.empty(), "schema rejects bad parameters", fmt::format("accepted {}", fmt::join(accepted, ", ")));
}

// Examples are documentation operators copy: their params must be valid.
void check_examples(const PluginFile& plugin, Checklist& list) {
  std::vector<std::string> problems;
  for (const auto& e : plugin.metadata.value("examples", nlohmann::json::array())) {
    if (!e.is_object() || !e.contains("params")) continue;
    try {
      build_params_from_values(plugin.parameters(), e["params"]);
    } catch (const HostError& error) {
      problems.push_back(fmt::format("example '{}': {}", text_of(e, "description"), error.what()));
    }
  }
  list.expect(problems.empty(), "example parameters are valid", fmt::format("{}", fmt::join(problems, "; ")));
}

// Each "param:NAME" of the capabilities names a parameter the schema
// declares: a misspelt one grants nothing, so the run that needs the path
// fails with "Permission denied" and the declaration reads as a promise the
// plugin does not keep.
void check_capability_parameters(const PluginFile& plugin, const Capabilities& capabilities, Checklist& list) {
  const nlohmann::json& schema = plugin.parameters();
  const nlohmann::json* root = resolve_schema_ref(schema, &schema);
  const nlohmann::json* properties = nullptr;
  if (root != nullptr && root->is_object() && root->contains("properties") && root->at("properties").is_object()) {
    properties = &root->at("properties");
  }
  std::vector<std::string> problems;
  const std::pair<const char*, const std::vector<std::string>*> kinds[] = {
      {"read", &capabilities.read}, {"write", &capabilities.write}, {"exec", &capabilities.exec},
      {"connect", &capabilities.connect}};
  for (const auto& [kind, entries] : kinds) {
    for (const auto& entry : *entries) {
      if (!is_param_reference(entry)) continue;
      const std::string name = entry.substr(6, entry.find('#') - 6);  // "param:NAME#key[].field"; npos - 6 is still past the end
      if (properties != nullptr && properties->contains(name)) continue;
      problems.push_back(fmt::format("capabilities.{}: '{}' names no parameter of the schema", kind, entry));
    }
  }
  std::string known;
  if (properties != nullptr) {
    for (const auto& [name, ignored] : properties->items()) known += (known.empty() ? "" : ", ") + name;
  }
  list.expect(problems.empty(), "sandbox capabilities name declared parameters",
              fmt::format("{} ({})", fmt::join(problems, "; "), known.empty() ? "it declares none" : "declared: " + known));
}

std::optional<nlohmann::json> first_example_params(const PluginFile& plugin) {
  const auto& m = plugin.metadata;
  if (!m.contains("examples") || !m["examples"].is_array()) return std::nullopt;
  for (const auto& e : m["examples"]) {
    if (e.is_object() && e.contains("params") && e["params"].is_object()) return e["params"];
  }
  return std::nullopt;
}

// The exercise never runs on the configured database: it runs on a copy made
// with CREATE DATABASE ... TEMPLATE, dropped when the check ends, so a plugin
// whose rollback is wrong damages nothing of the operator's.
class ScratchDatabase {
 public:
  explicit ScratchDatabase(const std::string& url) : source_url_(url) {
    source_ = PgConnection(url).query("select current_database()")[0][0];
    name_ = fmt::format("dihya_check_{}_{}", ::getpid(),
                        std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
    admin_url_ = maintenance_url(url);
    PgConnection admin(admin_url_);
    try {
      // Both names are quoted by the server; neither is ever spliced unquoted.
      const auto q = admin.query("select quote_ident($1), quote_ident($2)", {name_, source_});
      admin.query("create database " + q[0][0] + " template " + q[0][1]);
    } catch (const PgError& e) {
      throw HostError(kExitRunFailed,
                      fmt::format("cannot copy database {} to a scratch database for the exercise: {} (the exercise "
                                  "never runs on the configured database: close its other sessions and give the role "
                                  "CREATEDB)",
                                  source_, e.what()));
    }
    url_ = with_database_name(url, name_);
  }
  ~ScratchDatabase() {
    // A drop that fails (server gone) must not hide the check's result; the
    // name says what the database was for, so it can be dropped by hand.
    try {
      PgConnection admin(admin_url_);
      const auto q = admin.query("select quote_ident($1)", {name_});
      admin.query("drop database if exists " + q[0][0] + " with (force)");
    } catch (const std::exception&) {
    }
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  const std::string& source() const { return source_; }
  const std::string& source_url() const { return source_url_; }

 private:
  // A database to issue CREATE DATABASE from: the template must have no session.
  static std::string maintenance_url(const std::string& url) {
    for (const char* db : {"postgres", "template1"}) {
      try {
        const std::string candidate = with_database_name(url, db);
        PgConnection probe(candidate);
        return candidate;
      } catch (const HostError&) {
      }
    }
    throw HostError(kExitRunFailed, "cannot connect to the postgres or template1 database to make a scratch copy");
  }

  std::string source_url_;
  std::string source_;
  std::string name_;
  std::string admin_url_;
  std::string url_;
};

// Each user table's rows as the sorted md5 of each row's text: enough to count
// and find the rows a run changed without holding the rows themselves.
using Snapshot = std::map<std::string, std::vector<std::string>>;

Snapshot snapshot(const std::string& url) {
  PgConnection db(url);
  Snapshot result;
  const auto tables = db.query(
      "select quote_ident(schemaname) || '.' || quote_ident(tablename) from pg_tables "
      "where schemaname not in ('pg_catalog', 'information_schema') order by 1");
  for (const auto& row : tables) {
    // The name comes from the catalog, quoted by quote_ident, never from the operator.
    auto& hashes = result[row[0]];
    for (const auto& r : db.query("select md5(t::text) from " + row[0] + " t order by 1")) hashes.push_back(r[0]);
  }
  return result;
}

// How one table differs between two snapshots (rows as multisets).
struct TableDiff {
  std::string table;
  std::vector<std::string> missing;  // rows of the first snapshot absent from the second
  std::vector<std::string> extra;    // rows of the second absent from the first
  int existence = 0;                 // +1 the table was created, -1 dropped
  std::size_t rows() const { return missing.size() + extra.size(); }
};

std::vector<std::string> minus(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<TableDiff> compare(const Snapshot& before, const Snapshot& after) {
  static const std::vector<std::string> kNone;
  std::set<std::string> names;
  for (const auto& [name, rows] : before) names.insert(name);
  for (const auto& [name, rows] : after) names.insert(name);
  std::vector<TableDiff> diffs;
  for (const auto& name : names) {
    const auto b = before.find(name);
    const auto a = after.find(name);
    const auto& rows_before = b == before.end() ? kNone : b->second;
    const auto& rows_after = a == after.end() ? kNone : a->second;
    TableDiff d{name, minus(rows_before, rows_after), minus(rows_after, rows_before),
                b == before.end() ? 1 : a == after.end() ? -1 : 0};
    if (d.rows() > 0 || d.existence != 0) diffs.push_back(std::move(d));
  }
  return diffs;
}

// The text of the first row of `table`, in the table's own order, whose md5
// is one of `hashes` in the database at `url`: the row a person looks at first.
std::string first_row_text(const std::string& url, const std::string& table, const std::vector<std::string>& hashes) {
  std::string array = "{";
  for (const auto& h : hashes) array += (array.size() > 1 ? "," : "") + h;  // md5 hex: nothing to escape
  array += "}";
  const std::string select = "select t::text from " + table + " t where md5(t::text) = any($1::text[]) order by ";
  try {
    PgConnection db(url);
    try {
      const auto rows = db.query(select + "t limit 1", {array});
      if (!rows.empty()) return printable(rows[0][0], 200);
    } catch (const PgError&) {
      // A column without an ordering (json, point): text order will do.
      const auto rows = db.query(select + "1 limit 1", {array});
      if (!rows.empty()) return printable(rows[0][0], 200);
    }
  } catch (const std::exception&) {
  }
  return "md5 " + hashes.front();
}

// "table public.items (3 rows): first differing row missing: (1,a)" for the first differing table.
std::string describe_difference(const TableDiff& d, const std::string& missing_url, const std::string& extra_url) {
  std::string text = fmt::format("table {}", d.table);
  if (d.existence > 0) text += " was created";
  if (d.existence < 0) text += " was dropped";
  text += fmt::format(" ({} row(s) differ)", d.rows());
  if (!d.missing.empty()) return text + ": first differing row, missing: " + first_row_text(missing_url, d.table, d.missing);
  if (!d.extra.empty()) return text + ": first differing row, unexpected: " + first_row_text(extra_url, d.table, d.extra);
  return text;
}

// Per table: what the run changed and what the rollback put back.
struct TableReport {
  std::string table;
  std::size_t deleted = 0;   // row versions the run removed; an update is one deleted and one inserted
  std::size_t inserted = 0;  // row versions the run added
  std::size_t restored = 0;  // of those, back as they were after the rollback
};

struct ExerciseReport {
  std::vector<TableReport> tables;
};

std::vector<TableReport> table_reports(const std::vector<TableDiff>& by_run, const std::vector<TableDiff>& after_rollback) {
  std::vector<TableReport> out;
  for (const auto& d : by_run) {
    TableReport r{d.table, d.missing.size(), d.extra.size(), d.rows()};
    for (const auto& rb : after_rollback) {
      if (rb.table != d.table) continue;
      r.restored = minus(d.missing, rb.missing).size() + minus(d.extra, rb.extra).size();
    }
    out.push_back(r);
  }
  return out;
}

bool completed_ok(const OperationReport& report) {
  return report.outcome.kind == ChildOutcome::Kind::completed && report.outcome.result.value("ok", false);
}

void exercise(const PluginFile& plugin, const Settings& settings, const nlohmann::json& example, Checklist& list,
              ExerciseReport& out) {
  const ResolvedParams params = build_params_from_values(plugin.parameters(), example);
  Redactor redactor;
  ChildRequest request = prepare_child_request(plugin, settings, Operation::run, params, redactor);
  const ScratchDir work;
  request.work_dir = work.path();
  request.params = params.values;
  const auto failure_message = [&redactor](const OperationReport& report) {
    return redactor.redact(report.outcome.message.empty() ? report.outcome.result.value("summary", "")
                                                          : report.outcome.message);
  };
  std::optional<ScratchDatabase> scratch;
  if (!request.database_url.empty()) {
    try {
      scratch.emplace(request.database_url);
    } catch (const HostError& e) {
      list.fail("exercise runs on a scratch copy of the database", e.what());
      return;
    }
    list.pass("exercise runs on a scratch copy of the database", scratch->name());
    request.database_url = scratch->url();
  }
  auto state = [&] { return scratch ? snapshot(scratch->url()) : Snapshot{}; };
  // Each step is bounded as `run`, `rollback` and `validate` bound it: by
  // the plugin's timeout_seconds (the shape check made it a sane number).
  const std::chrono::milliseconds limit =
      seconds_option(boost::program_options::variables_map{}, "timeout", plugin.metadata, "timeout_seconds")
          .value_or(kDefaultPluginTimeout);
  const std::string before_url = scratch ? scratch->source_url() : "";
  const std::string now_url = scratch ? scratch->url() : "";

  if (plugin.metadata.value("dry_run", true)) {
    const auto before = state();
    request.dry_run = true;
    const auto report = run_operation(request, limit);
    list.expect(completed_ok(report), "dry run succeeds", failure_message(report));
    const auto changed = compare(before, state());
    if (!report.journal.empty()) {
      list.fail("dry run changes nothing", "dry run wrote journal entries");
    } else if (!changed.empty()) {
      list.fail("dry run changes nothing", "dry run changed " + describe_difference(changed.front(), before_url, now_url));
    } else {
      list.pass("dry run changes nothing");
    }
  } else {
    list.skip("dry run changes nothing", "plugin declares \"dry_run\": false");
  }

  if (!plugin.reversible()) {
    list.skip("run then rollback restores the prior state", "plugin is not reversible");
    return;
  }
  const auto before = state();
  request.dry_run = false;
  const auto run = run_operation(request, limit);
  if (!completed_ok(run)) {
    list.fail("run then rollback restores the prior state", "the example run failed: " + failure_message(run));
    return;
  }
  const auto by_run = compare(before, state());
  if (plugin.destructive_with(request.params)) {
    // A rollback that does nothing "restores" a run that changed nothing: such an exercise proves nothing.
    list.expect(!by_run.empty() || !run.journal.empty(), "the exercise changes data",
                "exercise proved nothing: give an example that changes data (its first example with params "
                "changed no table and recorded no undo entry)");
    if (by_run.empty() && run.journal.empty()) return;
  }
  ChildRequest undo = request;
  undo.operation = Operation::rollback;
  undo.undo_entries.assign(run.journal.rbegin(), run.journal.rend());
  const auto rollback = run_operation(undo, limit);
  const auto after_rollback = compare(before, state());
  out.tables = table_reports(by_run, after_rollback);
  if (!completed_ok(rollback)) {
    list.fail("run then rollback restores the prior state", "rollback failed: " + failure_message(rollback));
    return;
  }
  if (!after_rollback.empty()) {
    list.fail("run then rollback restores the prior state",
              "after rollback, " + describe_difference(after_rollback.front(), before_url, now_url));
    return;
  }
  list.pass("run then rollback restores the prior state");
  const auto again = run_operation(undo, limit);
  const auto after_again = compare(before, state());
  if (!completed_ok(again)) {
    list.fail("rollback is idempotent", "a second rollback failed: " + failure_message(again));
  } else if (!after_again.empty()) {
    list.fail("rollback is idempotent", "a second rollback changed " + describe_difference(after_again.front(), before_url, now_url));
  } else {
    list.pass("rollback is idempotent");
  }
}

// metadata() must answer within the plugin's own timeout_seconds (every run
// loads the plugin within it too), and within a minute at most: a
// constructor that never returns fails the check then.
std::chrono::milliseconds load_timeout(const PluginFile& plugin) {
  std::chrono::milliseconds limit = std::chrono::minutes(1);
  const auto declared = plugin.metadata.find("timeout_seconds");
  if (declared != plugin.metadata.end() && declared->is_number()) {
    const double seconds = declared->get<double>();
    if (seconds > 0 && seconds * 1000 < static_cast<double>(limit.count())) {
      limit = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    }
  }
  return limit;
}

}  // namespace

int cmd_check(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host check <plugin.so> [--exercise] [--json]";
  spec.description =
      "Conformance checks for plugin authors and CI: metadata embedded, complete and equal to\n"
      "metadata(); parameter schema valid and strict; plugin loads in a child process within its\n"
      "timeout_seconds (at most 60 s).\n"
      "--exercise also runs the first example with params, on a scratch copy of the configured\n"
      "database (CREATE DATABASE ... TEMPLATE; the role needs CREATEDB and the database no other\n"
      "session): a dry run must change nothing; for reversible plugins the run must change data\n"
      "(when destructive) and run → rollback must restore every table, reported per table; on a\n"
      "mismatch the table and its first differing row are named. The configured database is untouched.\n"
      "Exit 0 when every check passes, 1 when one fails, 3 when the plugin cannot be loaded.";
  spec.options.add_options()("json", "print JSON")("exercise", "also run the example on a scratch copy of the database, then roll it back");
  add_plugin_argument(spec);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;

  PluginCatalog catalog(settings);
  const PluginFile plugin = catalog.find((*vm)["plugin"].as<std::string>());
  Checklist list;
  list.pass("embedded metadata and ABI tag readable without loading", plugin.abi_tag);
  check_documentation(plugin, list);
  try {
    check_parameter_schema(plugin.parameters());
    // A command compiles a pattern when a value reaches it: the author hears
    // of one too large to compile here, not from an operator.
    compile_parameter_patterns(plugin.parameters());
    list.pass("parameter schema is valid draft-07");
    check_schema_rejects(plugin, list);
  } catch (const HostError& e) {
    list.fail("parameter schema is valid draft-07", e.what());
  }

  Capabilities capabilities;
  const std::string capability_problem = parse_capabilities(plugin.metadata, &capabilities);
  if (!capability_problem.empty()) {
    // A plugin that cannot be sandboxed is never loaded: nothing further to check.
    list.fail("sandbox capabilities are well-formed", capability_problem);
    if (vm->count("json")) {
      nlohmann::json items = nlohmann::json::array();
      for (const auto& i : list.items()) items.push_back({{"check", i.name}, {"status", i.status}, {"detail", i.detail}});
      print_json({{"plugin", plugin.name()}, {"path", plugin.path.string()}, {"ok", false}, {"checks", items},
                  {"tables", nlohmann::json::array()}});
      return kExitRunFailed;
    }
    print_items(list);
    std::cout << fmt::format("{}: does NOT conform\n", plugin.name());
    return kExitRunFailed;
  }
  list.pass("sandbox capabilities are well-formed", capabilities_text(plugin.metadata));
  check_capability_parameters(plugin, capabilities, list);

  Redactor redactor;
  const ChildRequest metadata_request =
      prepare_child_request(plugin, settings, Operation::metadata, ResolvedParams{}, redactor);
  const auto meta = run_operation(metadata_request, load_timeout(plugin));
  require_loaded(meta.outcome, plugin);
  list.pass("loads in a child process");
  list.expect(meta.outcome.kind == ChildOutcome::Kind::completed && meta.outcome.result["data"] == plugin.metadata,
              "metadata() returns the embedded plugin.json",
              meta.outcome.kind == ChildOutcome::Kind::completed ? "metadata() differs from plugin.json" : meta.outcome.message);

  const auto example = first_example_params(plugin);
  check_examples(plugin, list);
  ExerciseReport exercised;
  if (!vm->count("exercise")) {
    list.skip("dry run changes nothing", "use --exercise");
    list.skip("run then rollback restores the prior state", "use --exercise");
  } else if (!example) {
    list.fail("dry run changes nothing", "no example with \"params\" in plugin.json to exercise");
  } else {
    exercise(plugin, settings, *example, list, exercised);
  }

  if (vm->count("json")) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& i : list.items()) items.push_back({{"check", i.name}, {"status", i.status}, {"detail", i.detail}});
    nlohmann::json tables = nlohmann::json::array();
    for (const auto& t : exercised.tables) {
      tables.push_back({{"table", t.table}, {"deleted_by_run", t.deleted}, {"inserted_by_run", t.inserted},
                        {"changed_by_run", t.deleted + t.inserted}, {"restored_by_rollback", t.restored}});
    }
    print_json({{"plugin", plugin.name()}, {"path", plugin.path.string()}, {"ok", list.ok()}, {"checks", items},
                {"tables", tables}});
  } else {
    print_items(list);
    if (!exercised.tables.empty()) {
      std::vector<std::vector<std::string>> rows{{"TABLE", "CHANGED BY RUN", "RESTORED BY ROLLBACK"}};
      for (const auto& t : exercised.tables) {
        rows.push_back({t.table, fmt::format("{} (-{} +{})", t.deleted + t.inserted, t.deleted, t.inserted),
                        std::to_string(t.restored)});
      }
      print_table(rows);
    }
    std::cout << fmt::format("{}: {}\n", plugin.name(), list.ok() ? "conforms" : "does NOT conform");
  }
  return list.ok() ? 0 : kExitRunFailed;
}

}  // namespace dihya::host
