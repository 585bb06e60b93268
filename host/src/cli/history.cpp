// SPDX-License-Identifier: AGPL-3.0-or-later
// `history`, `show` and `logs`: reading the run records. A run whose host died
// (crash, kill -9, power loss) is shown as `interrupted`. `history prune`
// removes old runs by age and count (the retention setting when no flag is
// given), audited, after showing the plan.
#include <iostream>

#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "audit/audit_log.hpp"
#include "errors.hpp"
#include "util/printable.hpp"
#include "runs/process_identity.hpp"
#include "runs/run_id.hpp"
#include "runs/run_lock.hpp"
#include "runs/run_log.hpp"
#include "runs/run_store.hpp"
#include "util/atomic_file.hpp"
#include "util/json_text_of.hpp"
#include "util/sha256.hpp"

namespace dihya::host {
namespace {

// A count given as --NAME N: digits only (boost would read "-1" as the largest
// size_t), at most 12 of them.
std::size_t count_option(const po::variables_map& vm, const char* name) {
  const std::string text = vm[name].as<std::string>();
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw usage_error(fmt::format("--{} '{}': expected a whole number of runs", name, printable(text, 40)));
  }
  return static_cast<std::size_t>(std::stoull(text));
}

// The sandbox as `show` prints it: the plan's summary, and when the child
// could not apply it (best-effort), that it ran without it and why.
// The record is read back from the state dir: a field of another type reads
// as absent.
std::string sandbox_line(const nlohmann::json& sandbox) {
  if (!sandbox.is_object()) return "-";
  std::string line = text_of(sandbox, "summary", "-");
  const auto applied = sandbox.find("applied");
  if (applied != sandbox.end() && *applied == false && sandbox.contains("error")) {
    line += "; NOT APPLIED: " + text_of(sandbox, "error");
  }
  return line;
}

StoredRun load_run(const RunStore& store, const std::string& id) {
  if (!is_valid_run_id(id)) {
    throw usage_error(fmt::format("'{}' is not a run id (see dihya-host history)", printable(id, 40)));
  }
  auto run = store.load_stored(id);
  if (!run) throw usage_error(fmt::format("no run {} (see dihya-host history)", id));
  return *run;
}

// The plugin's log or report: inline in the final record, else its file.
std::string run_text(const RunStore& store, const std::string& id, const std::optional<std::string>& inline_text,
                     const char* file) {
  if (inline_text) return *inline_text;
  try {
    return read_file(store.dir(id) / file);
  } catch (const HostError&) {
    return "";
  }
}

void warn_skipped(const std::vector<SkippedRun>& skipped) {
  for (const auto& s : skipped) {
    std::cerr << fmt::format("dihya-host: warning: {}: {}\n", s.id, printable(s.reason, 300));
  }
}

int history_prune(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host history prune [--older-than AGE] [--keep N] [--include-undoable] [--dry-run] [--yes] "
               "[--json]";
  spec.description =
      "Removes old runs: their directory (log, journal, files) and their record. A run goes when it\n"
      "started more than AGE ago (90d, 12h, 2w...) or is not among the newest N; with neither flag\n"
      "the config's history_retention (max_age, max_runs) decides. Never removed: running and\n"
      "interrupted runs, runs whose journal can still be rolled back (unless --include-undoable),\n"
      "and runs with a journal whose plugin's lock is held (a rollback running). One prune at a time.\n"
      "Without --yes it prints the plan and removes nothing (exit 2); --dry-run prints it (exit 0).\n"
      "The prune itself is audited (history.prune: count, first and last id, SHA-256 of the id list);\n"
      "the audit entries of the pruned runs stay, and `audit verify` stays valid.";
  spec.options.add_options()("older-than", po::value<std::string>(), "remove runs started more than AGE ago")(
      "keep", po::value<std::string>(), "keep only the newest N runs")(
      "include-undoable", "also remove runs whose journal could still be rolled back")(
      "dry-run,n", "print what would be removed")("yes,y", "remove without asking")("json", "print JSON");
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  PrunePolicy policy;
  policy.now = std::chrono::system_clock::now();
  policy.include_undoable = vm->count("include-undoable") != 0;
  if (vm->count("older-than")) {
    const std::string text = (*vm)["older-than"].as<std::string>();
    policy.max_age = parse_age(text);
    if (!policy.max_age) {
      throw usage_error(fmt::format("--older-than '{}': expected a positive age like 90d, 12h, 30m or 2w",
                                    printable(text, 40)));
    }
  }
  if (vm->count("keep")) {
    policy.keep = count_option(*vm, "keep");
  }
  if (!policy.max_age && !policy.keep) {
    policy.max_age = settings.history_retention.max_age;
    policy.keep = settings.history_retention.max_runs;
  }
  if (!policy.max_age && !policy.keep) {
    throw usage_error("nothing to prune by: give --older-than and/or --keep, or set history_retention "
                      "(max_age, max_runs) in the config");
  }
  const bool dry_run = vm->count("dry-run") != 0;
  const bool json = vm->count("json") != 0;
  if (dry_run) check_state_dir(settings);
  else prepare_state_dir(settings);
  RunStore store(settings.state_dir / "runs");
  // One prune at a time, its plan made under the lock: two made at once
  // would each audit the removal of the same runs. The name cannot be a
  // plugin's (plugin names have no '-'), so no run waits for it.
  std::optional<PluginLock> prune_lock;
  if (!dry_run && vm->count("yes") != 0) {
    policy.locks_dir = settings.state_dir / "locks";
    prune_lock.emplace(PluginLock::acquire_wait(*policy.locks_dir, "history-prune", "history-prune"));
  }
  const PrunePlan plan = store.plan_prune(policy);
  const bool act = !dry_run && vm->count("yes") != 0 && !plan.ids.empty();
  const std::string ids_sha256 = [&] {
    std::string joined;
    for (const auto& id : plan.ids) joined += id + "\n";
    return sha256_hex(joined);
  }();
  if (act) {
    // Audited before anything goes: a crash midway leaves a prune that says
    // what it meant to remove (running it again finishes it).
    AuditLog audit = state_audit_log(settings.state_dir, settings.audit_syslog);
    nlohmann::json data{{"count", plan.ids.size()},
                        {"first", plan.ids.front()},
                        {"last", plan.ids.back()},
                        {"ids_sha256", ids_sha256},
                        {"older_than", vm->count("older-than") ? nlohmann::json((*vm)["older-than"].as<std::string>())
                                                               : nlohmann::json()},
                        {"keep", policy.keep ? nlohmann::json(*policy.keep) : nlohmann::json()},
                        {"max_age_ms", policy.max_age ? nlohmann::json(policy.max_age->count()) : nlohmann::json()},
                        {"include_undoable", policy.include_undoable},
                        {"user", effective_user_name()}};
    if (plan.ids.size() <= 1000) data["ids"] = plan.ids;
    try {
      audit.append("history.prune", data);
    } catch (const std::exception& e) {
      throw HostError(kExitRunFailed, fmt::format("history prune: nothing removed: the audit entry was not written: {}",
                                                  printable(e.what(), 300)));
    }
    // The rewrite of the state log drops the entries that carried audit
    // lines: the audit file is completed and flushed first, and no run can
    // carry a line until the rewrite is done.
    audit.complete([&] { store.prune(plan.ids); });
  }
  const std::size_t remaining = act ? plan.total - plan.ids.size() : plan.total;
  const bool unconfirmed = !dry_run && !act && !plan.ids.empty();
  const std::string unconfirmed_error =
      fmt::format("not confirmed: add --yes to remove these {} runs; nothing was removed", plan.ids.size());
  if (json) {
    nlohmann::json out{{"dry_run", !act},
                       {act ? "pruned" : "would_prune", plan.ids.size()},
                       {"ids", plan.ids},
                       {"ids_sha256", ids_sha256},
                       {"kept_running", plan.kept_running},
                       {"kept_undoable", plan.kept_undoable},
                       {"kept_locked", plan.kept_locked},
                       {"runs_before", plan.total},
                       {"runs_after", remaining}};
    if (unconfirmed) {
      // One JSON value: the plan with the error's fields, where the error
      // object used to follow the plan as a second document.
      out.update({{"ok", false}, {"error", unconfirmed_error}, {"exit_code", kExitUsage}});
      print_json(out);
      std::cerr << "dihya-host: " << unconfirmed_error << "\n";
      return kExitUsage;
    }
    print_json(out);
  } else {
    const std::size_t shown = std::min<std::size_t>(plan.ids.size(), 20);
    for (std::size_t i = 0; i < shown; ++i) std::cout << plan.ids[i] << "\n";
    if (plan.ids.size() > shown) std::cout << fmt::format("... and {} more\n", plan.ids.size() - shown);
    std::cout << fmt::format("{} {} of {} runs{}", act ? "pruned" : "would prune", plan.ids.size(), plan.total,
                             plan.ids.empty() ? "" : fmt::format(" ({} .. {})", plan.ids.front(), plan.ids.back()));
    if (plan.kept_running > 0) std::cout << fmt::format("; kept {} running or interrupted", plan.kept_running);
    if (plan.kept_undoable > 0) {
      std::cout << fmt::format("; kept {} that can still be rolled back (--include-undoable)", plan.kept_undoable);
    }
    if (plan.kept_locked > 0) {
      std::cout << fmt::format("; kept {} whose plugin is locked (a rollback running): prune again later",
                               plan.kept_locked);
    }
    std::cout << "\n";
  }
  if (unconfirmed) throw usage_error(unconfirmed_error);
  return 0;
}

}  // namespace

int cmd_history(const Args& args, const Settings& settings) {
  if (!args.empty() && args[0] == "prune") return history_prune(Args(args.begin() + 1, args.end()), settings);
  CommandSpec spec;
  spec.usage = "dihya-host history [--plugin NAME] [--since ISO-TIME] [--limit N] [--schedule ID|NAME] [--json]\n"
               "       dihya-host history prune --help";
  spec.description = "Lists past runs, oldest first. Runs whose host died are shown as interrupted.\n"
                     "--schedule lists a schedule's due times and their runs (from the scheduler's tables;\n"
                     "--since then compares due times; --plugin does not combine with it).\n"
                     "Answers from the index of the state log (<state>/runs/state.log, state.idx): --limit N\n"
                     "costs the same at any history size. `history prune` removes old runs.";
  spec.options.add_options()("plugin", po::value<std::string>(), "only runs of this plugin")(
      "schedule", po::value<std::string>(), "the runs of this schedule (id or name)")(
      "since", po::value<std::string>(), "only runs started at or after this UTC time (e.g. 2026-11-25 or 2026-11-25T10:00:00Z)")(
      "limit", po::value<std::string>(), "only the last N runs")("json", "print JSON");
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  std::optional<std::string> plugin;
  std::optional<std::string> since;
  if (vm->count("plugin")) plugin = (*vm)["plugin"].as<std::string>();
  if (vm->count("since")) {
    since = (*vm)["since"].as<std::string>();
    check_since(*since);
  }
  std::optional<std::size_t> limit;
  if (vm->count("limit")) limit = count_option(*vm, "limit");
  // Checked first: --schedule used to answer before the other options were
  // read, so a bad --since or --limit was ignored without a word.
  if (vm->count("schedule")) {
    if (plugin) {
      throw usage_error("--plugin and --schedule do not combine: a schedule runs one plugin (see dihya-host schedule "
                        "show)");
    }
    const std::optional<std::int64_t> since_ms =
        since ? std::optional<std::int64_t>(since_threshold_ms(*since)) : std::nullopt;
    return print_schedule_history((*vm)["schedule"].as<std::string>(), settings, vm->count("json") != 0, since_ms,
                                  limit);
  }

  check_state_dir(settings);
  RunStore store(settings.state_dir / "runs");
  RunQuery query;
  query.plugin = plugin;
  query.since_iso = since;
  if (limit) query.limit = *limit;
  std::vector<SkippedRun> skipped;
  // --limit 0 has always listed nothing.
  auto runs = vm->count("limit") && query.limit == 0 ? std::vector<RunRecord>() : store.query(query, &skipped);
  warn_skipped(skipped);
  if (vm->count("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : runs) out.push_back(r);
    print_json(out);
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"RUN", "PLUGIN", "STARTED", "OUTCOME", "EXIT", "SUMMARY"}};
  for (const auto& r : runs) {
    rows.push_back({r.id, r.plugin, r.started_at, r.outcome, r.exit_code ? std::to_string(*r.exit_code) : "-",
                    printable(r.summary, 80)});
  }
  print_table(rows);
  return 0;
}

int cmd_show(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host show <run-id> [--json]";
  spec.description = "Shows one run record: plugin, version, sha256, redacted params, user, host, times, outcome,\n"
                     "the sandbox it ran in (`--json` lists its rules), then the plugin's report (its plan or table) as `run` printed it.";
  spec.options.add_options()("json", "print JSON");
  add_run_id_argument(spec);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  check_state_dir(settings);
  RunStore store(settings.state_dir / "runs");
  const StoredRun run = load_run(store, (*vm)["run-id"].as<std::string>());
  const RunRecord& r = run.record;
  // The plugin's report (a plan, a table of what was done) as `run` printed it.
  const std::string report = run_text(store, r.id, run.report, "report.txt");
  if (vm->count("json")) {
    nlohmann::json out = r;
    out["report"] = report;
    print_json(out);
    return 0;
  }
  print_table({{"run", r.id},
               {"plugin", fmt::format("{} {} (sha256 {})", r.plugin, r.plugin_version, r.plugin_sha256)},
               {"user", fmt::format("{}@{}", r.user, r.host)},
               {"started", r.started_at},
               {"ended", r.ended_at.empty() ? "-" : r.ended_at},
               {"outcome", r.outcome},
               {"exit code", r.exit_code ? std::to_string(*r.exit_code) : "-"},
               {"dry run", r.dry_run ? "yes" : "no"},
               {"summary", r.summary},
               {"sandbox", sandbox_line(r.sandbox)},
               {"params", r.params.dump()},
               {"result", r.result.dump()}});
  if (!report.empty()) {
    const std::string text = printable_text(report);
    std::cout << "\n" << text << (text.back() == '\n' ? "" : "\n");
  }
  return 0;
}

int cmd_logs(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host logs <run-id>";
  spec.description = "Prints the log of one run (secrets already redacted).";
  add_run_id_argument(spec);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  check_state_dir(settings);
  RunStore store(settings.state_dir / "runs");
  const StoredRun run = load_run(store, (*vm)["run-id"].as<std::string>());
  const RunRecord& r = run.record;
  // The host writes the log made safe (printable lines), but it is read back
  // from the state dir: an entry or a log.txt edited there must not drive the
  // terminal either.
  if (run.log) {
    std::cout << printable_text(*run.log);
    return 0;
  }
  std::string text;
  try {
    text = read_file(store.dir(r.id) / "log.txt");
  } catch (const HostError&) {
    if (!std::filesystem::exists(store.dir(r.id) / "log.txt")) return 0;
    throw;
  }
  std::cout << printable_text(text);
  return 0;
}

}  // namespace dihya::host
