// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host schedule add|list|show|pause|resume|remove|next|run`: the
// schedules the run_scheduler plugin executes, stored in PostgreSQL (tables in
// sdk/support/include/dihya/schedule_store.hpp), and a preview of any cron expression
// that needs no database. Executing schedules is the plugin's job; `schedule
// run` hands a manual launch to it so the overlap policy lives in one place.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "db/embedded_cluster.hpp"
#include "db/libpq.hpp"
#include "errors.hpp"
#include "loading/catalog.hpp"
#include "loading/plugin_file.hpp"
#include "params/param_builder.hpp"
#include "params/redaction.hpp"
#include "params/secret_reference.hpp"
#include "util/printable.hpp"
#include <dihya/cron.hpp>
#include <dihya/json_text.hpp>
#include <dihya/schedule_store.hpp>

extern char** environ;

namespace dihya::host {
namespace {

namespace cron = dihya::cron;

const char* const kActions =
    "  add      store a schedule: plugin, params, cron expression, zone, policies\n"
    "  list     list the schedules\n"
    "  show     show one schedule and its recent runs\n"
    "  pause    stop firing a schedule (due times while paused are not caught up)\n"
    "  resume   fire again from now on\n"
    "  remove   delete a schedule and its run history\n"
    "  next     the next fire times of a schedule, or of any --cron expression\n"
    "  run      launch a schedule's job now (manual, same overlap policy)\n";

// Cron errors are the operator's: exit 2 with the parser's line.
template <typename F>
auto cron_or_usage(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const cron::CronError& e) {
    throw usage_error(e.what());
  }
}

class Store {
 public:
  explicit Store(const Settings& settings) : url_(resolve_database_url(settings, true)), db_(url_) { ensure_schema(); }

  std::vector<std::vector<std::string>> q(const std::string& sql, const std::vector<std::string>& params = {}) {
    return db_.query(sql, params);
  }
  const std::string& url() const { return url_; }

  // The database clock, whole seconds (schedulers use it, not the host's).
  cron::Instant now() {
    return cron::Instant{std::chrono::seconds(std::stoll(q("SELECT floor(extract(epoch FROM now()))::bigint")[0][0]))};
  }

  // Id (digits) or name -> id; usage error when unknown.
  std::string resolve(const std::string& id_or_name) {
    const bool digits = !id_or_name.empty() && id_or_name.size() < 19 &&
                        id_or_name.find_first_not_of("0123456789") == std::string::npos;
    // No name is anything but UTF-8 (the database would refuse the query).
    if (find_invalid_utf8(id_or_name)) {
      throw usage_error(fmt::format("no schedule '{}' (see dihya-host schedule list)", printable(id_or_name, 200)));
    }
    const auto rows = digits ? q("SELECT id FROM dihya.schedules WHERE id = $1::bigint", {id_or_name})
                             : q("SELECT id FROM dihya.schedules WHERE name = $1", {id_or_name});
    if (rows.empty()) {
      throw usage_error(fmt::format("no schedule '{}' (see dihya-host schedule list)", printable(id_or_name, 200)));
    }
    return rows[0][0];
  }

 private:
  // As the scheduler does (plugins/run_scheduler/claims.cpp, secure_session).
  void secure_session() {
    q(dihya::pg::kPinnedSearchPathSql);
    const std::string foreign = q(dihya::schedule::kForeignOwnedSql)[0][0];
    if (!foreign.empty()) {
      throw HostError(kExitRunFailed,
                      dihya::schedule::untrusted_schema_message(printable(foreign, 500), q("SELECT current_user")[0][0]));
    }
  }
  void ensure_schema() {
    secure_session();
    if (!q(dihya::schedule::kSchemaCurrentSql)[0][0].empty()) return;
    q("BEGIN");
    q(dihya::schedule::kSchemaLockSql);
    if (const std::string triggers = q(dihya::pg::kUntrustedEventTriggersSql)[0][0]; !triggers.empty()) {
      const std::string user = q("SELECT current_user")[0][0];
      q("ROLLBACK");
      throw HostError(kExitRunFailed, dihya::pg::untrusted_event_triggers_message(
                                          "create the scheduler's tables", printable(triggers, 500), user));
    }
    for (const auto& s : dihya::schedule::schema_statements()) q(s);
    q("COMMIT");
  }
  std::string url_;
  PgConnection db_;
};

constexpr const char* kScheduleColumns =
    "id, name, plugin, params::text, cron, tz, misfire, coalesce(starting_deadline_seconds::text, ''), overlap, "
    "coalesce(timeout_seconds::text, ''), retries, backoff_seconds, paused, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "coalesce(floor(extract(epoch FROM next_due_at))::bigint::text, '')";

// Deeper params are not shown: `add` stores a flat object, and a row written
// by hand nested thousands deep made the redaction (recursive) crash `list`
// and the indented JSON of `show --json` grow with the square of the depth.
constexpr int kMaxShownParamsDepth = 32;

// The stored params as `list` and `show` print them. Shown, never launched
// from: what the plugin's schema marks secret (writeOnly) is masked unless it
// is a reference, and so is a password in a URL (values stored in clear
// before `add` refused them, or written by hand). Without a schema (no such
// plugin on the search path) nothing tells which values are secret: all but
// references are masked.
nlohmann::json shown_params(const std::string& text, const nlohmann::json* schema) {
  nlohmann::json params;
  try {
    params = dihya::parse_json_limited(text, kMaxShownParamsDepth);  // jsonb's text: only its depth can fail
  } catch (const dihya::Error&) {
    return fmt::format("(not shown: nested deeper than {} levels)", kMaxShownParamsDepth);
  }
  if (schema == nullptr && !params.is_object()) return std::string(kRedacted);
  nlohmann::json shown = schema == nullptr ? nlohmann::json::object() : redact_params(params, *schema);
  if (!params.is_object()) return shown;
  if (schema == nullptr) {
    for (const auto& item : params.items()) shown[item.key()] = std::string(kRedacted);
  }
  for (const auto& item : params.items()) {
    if (item.value().is_string() && is_secret_reference(item.value().get<std::string>())) shown[item.key()] = item.value();
  }
  // A name written by hand may hold a password too ("password=..." as a key).
  nlohmann::json out = nlohmann::json::object();
  for (auto& item : shown.items()) out[mask_passwords(item.key())] = std::move(item.value());
  return out;
}

// The parameter schemas of the plugins that schedules name, each looked up
// once per command; nullptr for a plugin the search path does not have or
// cannot load, or a plugin column that is no plugin name (a row written by hand).
class ScheduleSchemas {
 public:
  explicit ScheduleSchemas(const Settings& settings) : catalog_(settings) {}

  const nlohmann::json* of(const std::string& plugin) {
    auto [it, added] = schemas_.try_emplace(plugin);
    if (added && is_plugin_name(plugin)) {
      try {
        it->second = catalog_.find(plugin).parameters();
      } catch (const std::exception&) {  // not found or not loadable: no schema, every value masked
      }
    }
    return it->second ? &*it->second : nullptr;
  }

 private:
  PluginCatalog catalog_;
  std::map<std::string, std::optional<nlohmann::json>> schemas_;
};

nlohmann::json schedule_json(const std::vector<std::string>& r, const nlohmann::json* schema) {
  nlohmann::json j{{"id", std::stoll(r[0])},
                   {"name", r[1]},
                   {"plugin", r[2]},
                   {"params", shown_params(r[3], schema)},
                   {"cron", r[4]},
                   {"tz", r[5]},
                   {"misfire", r[6]},
                   {"starting_deadline_seconds", r[7].empty() ? nlohmann::json() : nlohmann::json(std::stoi(r[7]))},
                   {"overlap", r[8]},
                   {"timeout_seconds", r[9].empty() ? nlohmann::json() : nlohmann::json(std::stoi(r[9]))},
                   {"retries", std::stoi(r[10])},
                   {"backoff_seconds", std::stoi(r[11])},
                   {"paused", r[12] == "t"},
                   {"created_at", r[13]},
                   {"next_due_at", nullptr}};
  // Paused: no next fire time. The stored one is where the schedule stood
  // when paused, long past as often as not, and resume starts from its own now.
  if (!r[14].empty() && r[12] != "t") {
    try {
      j["next_due_at"] = cron::format_iso(cron::Instant{std::chrono::seconds(std::stoll(r[14]))}, cron::zone(r[5]));
    } catch (const cron::CronError&) {
    }
  }
  return j;
}

std::string action_usage(const std::string& action) {
  static const std::map<std::string, std::string> kUsage{
      {"add",
       "dihya-host schedule add <name> --plugin P --cron EXPR [--tz ZONE] [--param k=v]... [--misfire POLICY] "
       "[--starting-deadline S] [--overlap POLICY] [--timeout S] [--retries N] [--backoff S] [--paused] [--json]"},
      {"list", "dihya-host schedule list [--json]"},
      {"show", "dihya-host schedule show <id|name> [--json]"},
      {"pause", "dihya-host schedule pause <id|name> [--json]"},
      {"resume", "dihya-host schedule resume <id|name> [--json]"},
      {"remove", "dihya-host schedule remove <id|name> --yes [--json]"},
      {"next",
       "dihya-host schedule next <id|name> [--count N] [--json]\n"
       "       dihya-host schedule next --cron EXPR [--tz ZONE] [--after ISO-8601] [--count N] [--json]"},
      {"run", "dihya-host schedule run <id|name> [--json]"},
  };
  return kUsage.at(action);
}

void add_target_argument(CommandSpec& spec, bool required) {
  auto* v = po::value<std::string>();
  if (required) v->required();
  spec.hidden.add_options()("target", v, "schedule id or name");
  spec.positional.add("target", 1);
}

int positive_int(const po::variables_map& vm, const char* key, int min, int max) {
  const long long v = vm[key].as<long long>();
  if (v < min || v > max) throw usage_error(fmt::format("--{}: expected a number between {} and {}", key, min, max));
  return static_cast<int>(v);
}

// ---- add -------------------------------------------------------------------

int schedule_add(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = action_usage("add");
  spec.description =
      "Stores a schedule. The job is `dihya-host run <plugin>` with the given --param texts, passed\n"
      "as given at each launch. A writeOnly (secret) parameter must be a reference, @env:VAR or\n"
      "@file:PATH, resolved when the job starts (in the scheduler's environment): it is never stored\n"
      "in clear; so must be any value holding a password (a URL's user:password@, password=...).\n"
      "Misfire (a fire time older than --starting-deadline, default 60 s, when a scheduler\n"
      "sees it): skip = record it as missed; run_once = run only the latest missed time; run_all =\n"
      "run every missed time, oldest first. Overlap (the previous run still going): allow; forbid =\n"
      "record the new time as skipped; replace = cancel the old run (SIGTERM) and start the new one.";
  spec.options.add_options()("plugin", po::value<std::string>()->required(), "the plugin the schedule runs")(
      "cron", po::value<std::string>()->required(), "cron expression (5 fields or @daily...)")(
      "tz", po::value<std::string>()->default_value("UTC"), "IANA time zone of the expression")(
      "param,p", po::value<std::vector<std::string>>()->composing(), "job parameter key=value (repeatable)")(
      "misfire", po::value<std::string>()->default_value("run_once"), "skip | run_once | run_all")(
      "starting-deadline", po::value<long long>(), "seconds after its due time a run counts as misfired (default 60)")(
      "overlap", po::value<std::string>()->default_value("forbid"), "allow | forbid | replace")(
      "timeout", po::value<long long>(), "seconds before a job is cancelled (default: the plugin's)")(
      "retries", po::value<long long>()->default_value(0), "attempts after a failure (0-100)")(
      "backoff", po::value<long long>()->default_value(30), "seconds before the first retry, doubled each time")(
      "paused", "store it paused")("json", "print the schedule as JSON");
  spec.hidden.add_options()("name", po::value<std::string>()->required(), "schedule name");
  spec.positional.add("name", 1);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;

  const std::string name = (*vm)["name"].as<std::string>();
  // Characters, as the table's check counts them (length(name) <= 200), not bytes.
  const auto characters = std::count_if(name.begin(), name.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  if (name.empty() || characters > 200 || name.find_first_not_of("0123456789") == std::string::npos) {
    throw usage_error("schedule name: 1 to 200 characters, not only digits (digits are ids)");
  }
  // Names are shown in tables and messages: UTF-8 text, no control characters.
  if (printable(name, std::string::npos) != name) {  // it also escapes bytes that are not UTF-8
    throw usage_error(fmt::format("schedule name '{}': UTF-8 text without control characters",
                                  printable(name, 200)));
  }
  const std::string expr = (*vm)["cron"].as<std::string>();
  const std::string tz_name = (*vm)["tz"].as<std::string>();
  const bool allow_seconds = std::getenv("DIHYA_TEST_CRON_SECONDS") != nullptr;
  const auto expression = cron_or_usage([&] { return cron::parse(expr, allow_seconds); });
  const auto* tz = cron_or_usage([&] { return cron::zone(tz_name); });
  const std::string misfire = (*vm)["misfire"].as<std::string>();
  if (misfire != "skip" && misfire != "run_once" && misfire != "run_all") {
    throw usage_error(fmt::format("--misfire '{}': expected skip, run_once or run_all", misfire.substr(0, 40)));
  }
  const std::string overlap = (*vm)["overlap"].as<std::string>();
  if (overlap != "allow" && overlap != "forbid" && overlap != "replace") {
    throw usage_error(fmt::format("--overlap '{}': expected allow, forbid or replace", overlap.substr(0, 40)));
  }
  const std::string deadline =
      vm->count("starting-deadline") ? std::to_string(positive_int(*vm, "starting-deadline", 1, 31 * 86400)) : "";
  const std::string timeout = vm->count("timeout") ? std::to_string(positive_int(*vm, "timeout", 1, 7 * 86400)) : "";
  const int retries = positive_int(*vm, "retries", 0, 100);
  const int backoff = positive_int(*vm, "backoff", 0, 86400);

  // The job's parameters: checked against the plugin's schema now (references
  // stand in as placeholders), stored as typed, resolved at each launch.
  PluginCatalog catalog(settings);
  const PluginFile plugin = catalog.find((*vm)["plugin"].as<std::string>());
  const nlohmann::json& schema = plugin.parameters();
  std::vector<std::string> kv;
  if (vm->count("param")) kv = (*vm)["param"].as<std::vector<std::string>>();
  nlohmann::json stored = nlohmann::json::object();
  std::vector<std::string> check_kv;
  for (const auto& item : kv) {
    const auto eq = item.find('=');
    // Quoted masked, then cut: a cut first could leave a password without
    // the '@' that marks it.
    if (eq == std::string::npos || eq == 0) {
      throw usage_error(fmt::format("--param '{}': expected key=value", printable(mask_passwords(item), 60)));
    }
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    const bool reference = is_secret_reference(value);
    const std::string shown_key = printable(mask_passwords(key), 100);  // a name may hold a password too
    // Resolved at each launch, not now; but one that can never resolve would
    // fail every launch: refused here.
    if (reference) check_reference_form(value, "parameter '" + shown_key + "'");
    const auto& prop = schema.contains("properties") && schema["properties"].contains(key) ? schema["properties"][key]
                                                                                          : nlohmann::json();
    if (prop.is_object() && prop.value("writeOnly", false) && !reference) {
      throw usage_error(fmt::format(
          "{}: a secret (writeOnly) parameter must be given by reference (@env:VAR or @file:PATH); "
          "it is never stored in clear",
          shown_key));
    }
    if (!reference && (redact_connection_string(value) != value || !password_spellings(value).empty())) {
      throw usage_error(fmt::format(
          "{}: the value holds a password in clear; give it by reference (@env:VAR or @file:PATH): a "
          "schedule's parameters are stored in the database and passed to each job",
          shown_key));
    }
    stored[key] = value;
    // A reference is checked as a placeholder of the right type where possible.
    if (reference) {
      const std::string type = prop.is_object() ? prop.value("type", "string") : "string";
      if (type == "string") check_kv.push_back(key + "=@@reference");
      else if (type == "integer" || type == "number") check_kv.push_back(key + "=" + std::to_string(prop.value("minimum", 1)));
      else if (type == "boolean") check_kv.push_back(key + "=false");
    } else {
      check_kv.push_back(item);
    }
  }
  build_params(schema, check_kv, std::nullopt);  // throws a usage error naming the problem

  Store store(settings);
  const auto now = store.now();
  const auto next = cron::next_after(expression, tz, now);
  const std::string next_text = next ? std::to_string(next->time_since_epoch().count()) : "";
  std::vector<std::vector<std::string>> rows;
  try {
    rows = store.q(
        "INSERT INTO dihya.schedules (name, plugin, params, cron, tz, misfire, starting_deadline_seconds, overlap, "
        "timeout_seconds, retries, backoff_seconds, paused, created_at, next_due_at) VALUES ($1, $2, $3::jsonb, $4, "
        "$5, $6, nullif($7, '')::integer, $8, nullif($9, '')::integer, $10::integer, $11::integer, $12::boolean, "
        "to_timestamp($13::bigint), to_timestamp(nullif($14, '')::bigint)) RETURNING " +
            std::string(kScheduleColumns),
        {name, plugin.name(), stored.dump(), expr, tz_name, misfire, deadline, overlap, timeout, std::to_string(retries),
         std::to_string(backoff), vm->count("paused") ? "true" : "false",
         std::to_string(now.time_since_epoch().count()), next_text});
  } catch (const PgError& e) {
    if (e.sqlstate() == "23505") throw usage_error(fmt::format("a schedule named '{}' already exists", name));
    throw;
  }
  const auto j = schedule_json(rows[0], &schema);
  if (vm->count("json")) {
    print_json(j);
  } else {
    std::cout << fmt::format("schedule {} '{}': {} '{}' ({}), next {}\n", j["id"].get<long long>(), name,
                             plugin.name(), expr, tz_name, next ? cron::format_iso(*next, tz) : "never");
  }
  return 0;
}

// ---- list / show -------------------------------------------------------------

int schedule_list(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = action_usage("list");
  spec.description = "Lists the schedules with their next fire time.";
  spec.options.add_options()("json", "print JSON");
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  Store store(settings);
  ScheduleSchemas schemas(settings);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : store.q(std::string("SELECT ") + kScheduleColumns + " FROM dihya.schedules ORDER BY id")) {
    out.push_back(schedule_json(r, schemas.of(r[2])));
  }
  if (vm->count("json")) {
    print_json(out);
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"ID", "NAME", "PLUGIN", "CRON", "TZ", "STATE", "NEXT"}};
  for (const auto& j : out) {
    rows.push_back({std::to_string(j["id"].get<long long>()), j["name"], j["plugin"], j["cron"], j["tz"],
                    j["paused"].get<bool>() ? "paused" : "active",
                    j["next_due_at"].is_null() ? "-" : j["next_due_at"].get<std::string>()});
  }
  print_table(rows);
  return 0;
}

nlohmann::json recent_runs(Store& store, const std::string& id, std::size_t limit, std::int64_t since_ms = 0) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : store.q(
           "SELECT to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), outcome, coalesce(run_id, ''), "
           "attempt, manual, coalesce(claimed_by, ''), coalesce(exit_code::text, ''), coalesce(note, '') "
           "FROM dihya.schedule_runs WHERE schedule_id = $1::bigint AND due_at >= to_timestamp($3::float8 / 1000) "
           "ORDER BY due_at DESC LIMIT $2::bigint",
           {id, std::to_string(limit), std::to_string(since_ms)})) {
    runs.push_back({{"due_at", r[0]},
                    {"outcome", r[1]},
                    {"run_id", r[2].empty() ? nlohmann::json() : nlohmann::json(r[2])},
                    {"attempt", std::stoi(r[3])},
                    {"manual", r[4] == "t"},
                    {"claimed_by", r[5]},
                    {"exit_code", r[6].empty() ? nlohmann::json() : nlohmann::json(std::stoi(r[6]))},
                    {"note", r[7]}});
  }
  return runs;
}

int schedule_show(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = action_usage("show");
  spec.description = "Shows one schedule and its 10 most recent runs (`history --schedule` lists them all).";
  spec.options.add_options()("json", "print JSON");
  add_target_argument(spec, true);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  Store store(settings);
  const std::string id = store.resolve((*vm)["target"].as<std::string>());
  const auto row = store.q(std::string("SELECT ") + kScheduleColumns + " FROM dihya.schedules WHERE id = $1::bigint", {id})[0];
  ScheduleSchemas schemas(settings);
  auto j = schedule_json(row, schemas.of(row[2]));
  j["recent_runs"] = recent_runs(store, id, 10);
  if (vm->count("json")) {
    print_json(j);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const char* k : {"id", "name", "plugin", "params", "cron", "tz", "misfire", "starting_deadline_seconds", "overlap",
                        "timeout_seconds", "retries", "backoff_seconds", "paused", "created_at", "next_due_at"}) {
    rows.push_back({k, j[k].is_string() ? j[k].get<std::string>() : j[k].is_null() ? "-" : j[k].dump()});
  }
  print_table(rows);
  std::cout << "\n";
  std::vector<std::vector<std::string>> runs{{"DUE", "OUTCOME", "RUN", "ATTEMPT", "MANUAL", "BY"}};
  for (const auto& r : j["recent_runs"]) {
    runs.push_back({r["due_at"], r["outcome"], r["run_id"].is_null() ? "-" : r["run_id"].get<std::string>(),
                    std::to_string(r["attempt"].get<int>()), r["manual"].get<bool>() ? "yes" : "no", r["claimed_by"]});
  }
  print_table(runs);
  return 0;
}

// ---- pause / resume / remove ---------------------------------------------------

int schedule_change(const Args& args, const Settings& settings, const std::string& action) {
  CommandSpec spec;
  spec.usage = action_usage(action);
  spec.description = action == "pause"    ? "Stops firing the schedule. Runs in progress go on."
                     : action == "resume" ? "Fires the schedule again; due times while it was paused are not caught up."
                                          : "Deletes the schedule and its run history (the runs' own records stay\n"
                                            "in `history`). Runs in progress go on. Without --yes it says what it would\n"
                                            "delete and deletes nothing (exit 2).";
  spec.options.add_options()("json", "print JSON");
  if (action == "remove") spec.options.add_options()("yes,y", "delete without asking");
  add_target_argument(spec, true);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  Store store(settings);
  const std::string id = store.resolve((*vm)["target"].as<std::string>());
  if (action == "remove") {
    // As `history prune`: an irreversible delete is asked for explicitly.
    if (vm->count("yes") == 0) {
      const auto runs = store.q("SELECT count(*) FROM dihya.schedule_runs WHERE schedule_id = $1::bigint", {id})[0][0];
      throw usage_error(fmt::format("not confirmed: add --yes to delete schedule {} and its {} recorded run(s); nothing was deleted",
                                    id, runs));
    }
    store.q("DELETE FROM dihya.schedules WHERE id = $1::bigint", {id});
  } else if (action == "pause") {
    store.q("UPDATE dihya.schedules SET paused = true WHERE id = $1::bigint", {id});
  } else {
    // From now on: the watermark moves to now, so the paused period is not caught up.
    const auto row = store.q("SELECT cron, tz FROM dihya.schedules WHERE id = $1::bigint", {id})[0];
    const auto now = store.now();
    const auto next = cron_or_usage([&] {
      return cron::next_after(cron::parse(row[0], std::getenv("DIHYA_TEST_CRON_SECONDS") != nullptr), cron::zone(row[1]), now);
    });
    store.q("UPDATE dihya.schedules SET paused = false, last_due_at = to_timestamp($2::bigint), "
            "next_due_at = to_timestamp(nullif($3, '')::bigint) WHERE id = $1::bigint AND paused",
            {id, std::to_string(now.time_since_epoch().count()),
             next ? std::to_string(next->time_since_epoch().count()) : ""});
  }
  if (vm->count("json")) {
    print_json({{"id", std::stoll(id)}, {"action", action}});
  } else {
    std::cout << fmt::format("schedule {}: {}\n", id, action == "pause" ? "paused" : action == "resume" ? "resumed" : "removed");
  }
  return 0;
}

// ---- next --------------------------------------------------------------------

int schedule_next(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = action_usage("next");
  spec.description =
      "Prints the next fire times (ISO-8601 with the zone's offset) of a stored schedule, or of any\n"
      "expression given with --cron (no database needed). DST: a time in a spring-forward gap fires\n"
      "once at the end of the gap; a time repeated by a fall-back fires once, the first time.";
  spec.options.add_options()("cron", po::value<std::string>(), "expression to preview instead of a schedule")(
      "tz", po::value<std::string>(), "zone for --cron (default UTC)")(
      "after", po::value<std::string>(), "start after this time (default now; no offset: local to the zone)")(
      "count", po::value<long long>()->default_value(5), "how many (1-1000)")("json", "print JSON");
  add_target_argument(spec, false);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  const int count = positive_int(*vm, "count", 1, 1000);
  std::string expr;
  std::string tz_name = "UTC";
  std::optional<cron::Instant> after;
  if (vm->count("cron")) {
    if (vm->count("target")) throw usage_error("give a schedule or --cron, not both (usage: " + usage_line(spec) + ")");
    expr = (*vm)["cron"].as<std::string>();
    if (vm->count("tz")) tz_name = (*vm)["tz"].as<std::string>();
  } else {
    if (!vm->count("target")) throw usage_error("give a schedule id or name, or --cron EXPR (usage: " + usage_line(spec) + ")");
    if (vm->count("tz")) throw usage_error("--tz goes with --cron; a schedule has its own zone");
    Store store(settings);
    const std::string id = store.resolve((*vm)["target"].as<std::string>());
    const auto row = store.q("SELECT cron, tz, paused FROM dihya.schedules WHERE id = $1::bigint", {id})[0];
    expr = row[0];
    tz_name = row[1];
    after = store.now();
    if (row[2] == "t") {
      std::cerr << fmt::format("dihya-host: schedule {} is paused: the times it would fire if resumed now\n", id);
    }
  }
  const auto* tz = cron_or_usage([&] { return cron::zone(tz_name); });
  const auto e = cron_or_usage([&] { return cron::parse(expr, std::getenv("DIHYA_TEST_CRON_SECONDS") != nullptr); });
  if (vm->count("after")) after = cron_or_usage([&] { return cron::parse_iso((*vm)["after"].as<std::string>(), tz); });
  if (!after) after = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  std::vector<std::string> times;
  cron::Instant t = *after;
  for (int i = 0; i < count; ++i) {
    const auto n = cron::next_after(e, tz, t);
    if (!n) break;
    times.push_back(cron::format_iso(*n, tz));
    t = *n;
  }
  if (vm->count("json")) {
    print_json({{"cron", expr}, {"tz", tz_name}, {"after", cron::format_iso(*after, tz)}, {"next", times}});
  } else {
    for (const auto& s : times) std::cout << s << "\n";
  }
  return 0;
}

// ---- run ---------------------------------------------------------------------

int schedule_run(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = action_usage("run");
  spec.description =
      "Launches the schedule's job now, as a manual run recorded in its history (manual = true),\n"
      "with the schedule's overlap policy (forbid: refused while a run is going). It is executed\n"
      "by `dihya-host run run_scheduler --param run_now=<id>`, so it is itself a supervised run.\n"
      "Exit code: the job's.";
  spec.options.add_options()("json", "print the run_scheduler run record as JSON");
  add_target_argument(spec, true);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  std::string id;
  std::string url;
  {
    Store store(settings);
    id = store.resolve((*vm)["target"].as<std::string>());
    url = store.url();
  }
  // The same settings for the child, whichever way they were given to us
  // (its --config too: a `signatures: require` there holds for the job).
  ::setenv("DIHYA_DATABASE_URL", url.c_str(), 1);
  for (const auto& [name, value] : settings_environment(settings)) ::setenv(name.c_str(), value.c_str(), 1);
  std::vector<std::string> argv{"dihya-host", "run", "run_scheduler", "--yes", "--quiet", "--param",
                                "run_now=" + id};
  if (vm->count("json")) argv.push_back("--json");
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  ::execve("/proc/self/exe", cargv.data(), environ);
  throw HostError(kExitRunFailed, fmt::format("cannot start dihya-host run run_scheduler: {}", std::strerror(errno)));
}

}  // namespace

int cmd_schedule(const Args& args, const Settings& settings) {
  if (args.empty()) throw usage_error("schedule: which action? (see dihya-host schedule --help)");
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << "Usage: dihya-host schedule <action> [options]\n\n"
                 "Schedules stored in PostgreSQL and executed by `dihya-host run run_scheduler`.\n\nActions:\n"
              << kActions << "\nRun `dihya-host schedule <action> --help` for an action's options.\n\n"
              << exit_codes_help();
    return kExitOk;
  }
  const std::string action = args[0];
  const Args rest(args.begin() + 1, args.end());
  if (action == "add") return schedule_add(rest, settings);
  if (action == "list") return schedule_list(rest, settings);
  if (action == "show") return schedule_show(rest, settings);
  if (action == "pause" || action == "resume" || action == "remove") return schedule_change(rest, settings, action);
  if (action == "next") return schedule_next(rest, settings);
  if (action == "run") return schedule_run(rest, settings);
  throw usage_error(fmt::format("unknown schedule action '{}' (see dihya-host schedule --help)", action.substr(0, 40)));
}

// `history --schedule <id|name>`: the runs of one schedule, from the database.
int print_schedule_history(const std::string& id_or_name, const Settings& settings, bool json,
                           std::optional<std::int64_t> since_ms, std::optional<std::size_t> limit) {
  Store store(settings);
  const std::string id = store.resolve(id_or_name);
  auto runs = recent_runs(store, id, limit.value_or(100000), since_ms.value_or(0));
  std::reverse(runs.begin(), runs.end());  // oldest first, like history
  if (json) {
    print_json(runs);
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"DUE", "OUTCOME", "RUN", "ATTEMPT", "MANUAL", "BY", "EXIT"}};
  for (const auto& r : runs) {
    rows.push_back({r["due_at"], r["outcome"], r["run_id"].is_null() ? "-" : r["run_id"].get<std::string>(),
                    std::to_string(r["attempt"].get<int>()), r["manual"].get<bool>() ? "yes" : "no", r["claimed_by"],
                    r["exit_code"].is_null() ? "-" : std::to_string(r["exit_code"].get<int>())});
  }
  print_table(rows);
  return 0;
}

}  // namespace dihya::host
