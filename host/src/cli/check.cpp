// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host check <plugin.so>`: the conformance kit. Static checks read the
// embedded metadata; the others run the plugin in supervised children. With
// --exercise, the first example is run for real against the configured
// database: a dry run must change nothing, and for reversible plugins
// run → rollback must restore every table exactly.
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/param_options.hpp"
#include "cli/plugin_ops.hpp"
#include "db/libpq.hpp"
#include "errors.hpp"
#include "loading/catalog.hpp"
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
      const std::string type = property.is_object() ? property.value("type", "") : "";
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
      problems.push_back(fmt::format("example '{}': {}", e.value("description", ""), error.what()));
    }
  }
  list.expect(problems.empty(), "example parameters are valid", fmt::format("{}", fmt::join(problems, "; ")));
}

std::optional<nlohmann::json> first_example_params(const PluginFile& plugin) {
  const auto& m = plugin.metadata;
  if (!m.contains("examples") || !m["examples"].is_array()) return std::nullopt;
  for (const auto& e : m["examples"]) {
    if (e.is_object() && e.contains("params") && e["params"].is_object()) return e["params"];
  }
  return std::nullopt;
}

// Every user table's content as one checksum each, to compare states.
std::map<std::string, std::string> database_fingerprint(const std::string& url) {
  PgConnection db(url);
  std::map<std::string, std::string> result;
  const auto tables = db.query(
      "select quote_ident(schemaname) || '.' || quote_ident(tablename) from pg_tables "
      "where schemaname not in ('pg_catalog', 'information_schema') order by 1");
  for (const auto& row : tables) {
    // The name comes from the catalog, quoted by quote_ident, never from the operator.
    result[row[0]] =
        db.query("select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from " + row[0] + " t")[0][0];
  }
  return result;
}

void exercise(const PluginFile& plugin, const Settings& settings, const nlohmann::json& example, Checklist& list) {
  const ResolvedParams params = build_params_from_values(plugin.parameters(), example);
  Redactor redactor;
  ChildRequest request = prepare_child_request(plugin, settings, Operation::run, params, redactor);
  const ScratchDir work;
  request.work_dir = work.path();
  request.params = params.values;
  const bool has_db = !request.database_url.empty();
  auto fingerprint = [&] { return has_db ? database_fingerprint(request.database_url) : std::map<std::string, std::string>{}; };

  if (plugin.metadata.value("dry_run", true)) {
    const auto before = fingerprint();
    request.dry_run = true;
    const auto report = run_operation(request, std::chrono::minutes(10));
    const bool ran = report.outcome.kind == ChildOutcome::Kind::completed && report.outcome.result.value("ok", false);
    list.expect(ran, "dry run succeeds",
                redactor.redact(report.outcome.message.empty() ? report.outcome.result.value("summary", "")
                                                               : report.outcome.message));
    list.expect(report.journal.empty() && fingerprint() == before, "dry run changes nothing",
                report.journal.empty() ? "database content changed" : "dry run wrote journal entries");
  } else {
    list.skip("dry run changes nothing", "plugin declares \"dry_run\": false");
  }

  if (!plugin.reversible()) {
    list.skip("run then rollback restores the prior state", "plugin is not reversible");
    return;
  }
  const auto before = fingerprint();
  request.dry_run = false;
  const auto run = run_operation(request, std::chrono::minutes(10));
  if (run.outcome.kind != ChildOutcome::Kind::completed || !run.outcome.result.value("ok", false)) {
    list.fail("run then rollback restores the prior state", "the example run failed: " + redactor.redact(run.outcome.message));
    return;
  }
  ChildRequest undo = request;
  undo.operation = Operation::rollback;
  undo.undo_entries.assign(run.journal.rbegin(), run.journal.rend());
  const auto rollback = run_operation(undo, std::chrono::minutes(10));
  const bool rolled = rollback.outcome.kind == ChildOutcome::Kind::completed && rollback.outcome.result.value("ok", false);
  list.expect(rolled && fingerprint() == before, "run then rollback restores the prior state",
              rolled ? "database content differs after rollback" : "rollback failed: " + redactor.redact(rollback.outcome.message));
  if (rolled) {
    const auto again = run_operation(undo, std::chrono::minutes(10));
    list.expect(again.outcome.kind == ChildOutcome::Kind::completed && again.outcome.result.value("ok", false) &&
                    fingerprint() == before,
                "rollback is idempotent", "a second rollback failed or changed the database");
  }
}

}  // namespace

int cmd_check(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host check <plugin.so> [--exercise] [--json]";
  spec.description =
      "Conformance checks for plugin authors and CI: metadata embedded, complete and equal to\n"
      "metadata(); parameter schema valid and strict; plugin loads in a child process.\n"
      "--exercise also runs the first example with params against the configured database:\n"
      "a dry run must change nothing, and run → rollback must restore every table (use a test database).\n"
      "Exit 0 when every check passes, 1 when one fails, 3 when the plugin cannot be loaded.";
  spec.options.add_options()("json", "print JSON")("exercise", "also run the example (changes the database, then restores it)");
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
    list.pass("parameter schema is valid draft-07");
    check_schema_rejects(plugin, list);
  } catch (const HostError& e) {
    list.fail("parameter schema is valid draft-07", e.what());
  }

  Redactor redactor;
  const ChildRequest metadata_request =
      prepare_child_request(plugin, settings, Operation::metadata, ResolvedParams{}, redactor);
  const auto meta = run_operation(metadata_request, std::chrono::minutes(1));
  require_loaded(meta.outcome, plugin);
  list.pass("loads in a child process");
  list.expect(meta.outcome.kind == ChildOutcome::Kind::completed && meta.outcome.result["data"] == plugin.metadata,
              "metadata() returns the embedded plugin.json",
              meta.outcome.kind == ChildOutcome::Kind::completed ? "metadata() differs from plugin.json" : meta.outcome.message);

  const auto example = first_example_params(plugin);
  check_examples(plugin, list);
  if (!vm->count("exercise")) {
    list.skip("dry run changes nothing", "use --exercise");
    list.skip("run then rollback restores the prior state", "use --exercise");
  } else if (!example) {
    list.fail("dry run changes nothing", "no example with \"params\" in plugin.json to exercise");
  } else {
    exercise(plugin, settings, *example, list);
  }

  if (vm->count("json")) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& i : list.items()) items.push_back({{"check", i.name}, {"status", i.status}, {"detail", i.detail}});
    print_json({{"plugin", plugin.name()}, {"path", plugin.path.string()}, {"ok", list.ok()}, {"checks", items}});
  } else {
    for (const auto& i : list.items()) {
      std::cout << fmt::format("{:<5} {}{}\n", i.status, i.name, i.detail.empty() || i.status == "pass" ? "" : ": " + i.detail);
    }
    std::cout << fmt::format("{}: {}\n", plugin.name(), list.ok() ? "conforms" : "does NOT conform");
  }
  return list.ok() ? 0 : kExitRunFailed;
}

}  // namespace dihya::host
