// SPDX-License-Identifier: AGPL-3.0-or-later
// `dihya-host run <plugin>`: the supervised, journalled, audited run. The
// order of the steps is the guarantee: parameters are checked before anything
// is recorded; the run record and the audit entry exist before the plugin
// starts; every undo entry is durable before the plugin acts on it; a run that
// fails after changing something is rolled back unless --no-rollback.
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/param_options.hpp"
#include "cli/plugin_ops.hpp"
#include "cli/run_lifecycle.hpp"
#include "db/libpq.hpp"
#include "errors.hpp"
#include "loading/catalog.hpp"
#include "metrics/textfile.hpp"
#include "util/printable.hpp"
#include "runs/process_identity.hpp"
#include "runs/run_id.hpp"
#include "runs/run_lock.hpp"
#include "runs/run_store.hpp"
#include "util/atomic_file.hpp"
#include "util/trusted_path.hpp"

namespace dihya::host {
namespace {

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

// --output-dir, checked before anything is recorded: a mistake there is a
// usage error, never a run. It is made (create_output_dir) only once every
// check that may refuse the run passed: exit 2 leaves nothing behind.
std::optional<std::filesystem::path> output_dir_option(const po::variables_map& vm) {
  if (!vm.count("output-dir")) return std::nullopt;
  const std::filesystem::path dir = vm["output-dir"].as<std::string>();
  // A symbolic link another user owns, anywhere on the way, would let that
  // user choose where the run's files go (the kernel's protected_symlinks,
  // for every directory).
  check_symlinks_on_path(dir, kExitUsage, "--output-dir");
  std::error_code ec;
  const auto status = std::filesystem::status(dir, ec);
  if (std::filesystem::exists(status) && !std::filesystem::is_directory(status)) {
    throw usage_error(fmt::format("--output-dir {}: not a directory", dir.string()));
  }
  return dir;
}

// Makes the --output-dir the sandbox plan allowed: the path it judged (the
// existing part resolved, the rest lexically normalised), so that what is
// made is what was checked.
void create_output_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::weakly_canonical(dir, ec);
  ec = create_directories_no_wider(ec ? dir : real);
  if (ec) throw usage_error(fmt::format("--output-dir {}: cannot create it: {}", dir.string(), ec.message()));
}

// The run's own output dir (<run>/output), private, when --output-dir gave none.
void create_default_output_dir(const std::filesystem::path& dir, SpareDirs& spares) {
  if (const int err = spares.make(dir); err != 0 && err != EEXIST) {
    throw HostError(kExitRunFailed, fmt::format("cannot create {}: {}", dir.string(), std::strerror(err)));
  }
}

// Holds the concurrency lock of the plugin for the whole run (allow: none).
std::optional<PluginLock> take_lock(const std::string& policy, const Settings& settings, const std::string& plugin,
                                    const std::string& run_id) {
  const auto dir = settings.state_dir / "locks";
  if (policy == "allow") return std::nullopt;
  if (policy == "wait") return PluginLock::acquire_wait(dir, plugin, run_id);
  auto lock = PluginLock::try_acquire(dir, plugin, run_id);
  if (!lock) {
    throw usage_error(fmt::format("{} is already running as run {} and its concurrency policy is 'forbid'; "
                                  "wait for it, or use --concurrency wait",
                                  plugin, PluginLock::holder(dir, plugin)));
  }
  return lock;
}

bool confirmed(const PluginFile& plugin) {
  std::cerr << fmt::format("{} is destructive. Run it? [y/N] ", plugin.name());
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

struct Verdict {
  std::string_view outcome;
  int exit_code;
  std::string summary;
  bool may_roll_back;
};

Verdict judge_child(const ChildOutcome& o, bool dry_run) {
  using Kind = ChildOutcome::Kind;
  switch (o.kind) {
    case Kind::completed: {
      if (o.result.value("invalid", false)) return {kOutcomeFailed, kExitUsage, o.result.value("summary", ""), false};
      const bool ok = o.result.value("ok", false);
      if (ok) return {dry_run ? kOutcomeDryRun : kOutcomeSucceeded, kExitOk, o.result.value("summary", ""), false};
      return {kOutcomeFailed, kExitRunFailed, o.result.value("summary", ""), true};
    }
    case Kind::load_failed: return {kOutcomeFailed, kExitLoad, "cannot load plugin: " + o.message, false};
    case Kind::threw: return {kOutcomeFailed, kExitRunFailed, o.message, true};
    // A plugin that exits while loading (a constructor's _exit(7)) did as
    // one that aborts there: it could not be loaded.
    case Kind::crashed:
    case Kind::exited:
      return {kOutcomeCrashed, o.loaded ? kExitRunFailed : kExitLoad, o.message, o.loaded};
    case Kind::protocol_error: return {kOutcomeCrashed, kExitRunFailed, o.message, true};
    case Kind::timed_out: return {kOutcomeTimedOut, kExitTimeout, o.message, true};
    case Kind::cancelled: return {kOutcomeCancelled, kExitInterrupted, o.message, true};
  }
  return {kOutcomeFailed, kExitRunFailed, o.message, true};
}

// `journaled`: the run recorded undo entries. Its plugin was loaded and
// past its validate(), whatever its last frame says (a plugin can write a
// result frame "invalid" or an error frame "load" by hand): it is a failed
// run, rolled back, never "bad parameters" (exit 2) or "cannot load" (exit 3),
// which would leave its changes in place.
Verdict judge(const ChildOutcome& o, bool dry_run, bool journaled) {
  Verdict v = judge_child(o, dry_run);
  if (journaled && (v.exit_code == kExitUsage || v.exit_code == kExitLoad)) {
    v.exit_code = kExitRunFailed;
    v.may_roll_back = true;
    if (o.kind == ChildOutcome::Kind::load_failed) v.summary = o.message;
  }
  return v;
}

// The host prints "<plugin>: <outcome>: <summary>", so a summary that opens
// with the outcome ("dry run: would delete 3 rows") would say it twice.
std::string without_outcome_prefix(std::string summary, bool dry_run) {
  if (!dry_run) return summary;
  std::string lower = summary.substr(0, 8);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != "dry run:" && lower != "dry-run:" && lower != "dry_run:") return summary;
  const auto text = summary.find_first_not_of(' ', 8);
  return text == std::string::npos ? summary : summary.substr(text);
}


// One `run`, from the checked command line to the printed outcome. prepare()
// decides everything that can be refused (exit 2, nothing recorded) and then
// records the run (record, audit run.start, lock); make_run_dirs() makes its
// directories; execute() supervises the child and rolls back; finish()
// records and prints the end.
struct RunSession {
  RunSession(const Settings& s, PluginCatalog& c, PluginFile p, const po::variables_map& v)
      : settings(s), catalog(c), plugin(std::move(p)), vm(v), store(s.state_dir / "runs") {}

  const Settings& settings;
  PluginCatalog& catalog;
  const PluginFile plugin;
  const po::variables_map& vm;
  // prepare()
  bool dry_run = false;
  ResolvedParams params;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::chrono::milliseconds> grace;
  Redactor redactor;
  ChildRequest request;
  // Interrupted runs need no sweep here: history, show and rollback judge
  // liveness when they read a record, which keeps a run's start O(1).
  RunStore store;
  RunRecord record;
  std::filesystem::path run_dir;
  std::optional<PluginLock> lock;
  std::optional<AuditLog> audit;
  SandboxPlan sandbox;  // what the child applies, for the record and the denial hint
  UniqueFd work_dir_hold;  // make_run_work_dir(): the work dir is this live run's
  bool default_output_dir = false;  // <run dir>/output, not --output-dir
  // execute()
  std::optional<ChildOutcome> outcome;
  std::chrono::steady_clock::time_point started;
  Verdict verdict{};
  nlohmann::json result_data;
};

// The checks: nothing is recorded before they pass.
void check_run(RunSession& s, std::string* policy, std::optional<std::filesystem::path>* output_dir) {
  const po::variables_map& vm = s.vm;
  s.dry_run = vm.count("dry-run") != 0;
  if (s.dry_run && !s.plugin.metadata.value("dry_run", true)) {
    throw usage_error(fmt::format("{} cannot simulate its work (plugin.json says \"dry_run\": false); nothing was run",
                                  s.plugin.name()));
  }
  s.params = resolve_params(vm, s.plugin);
  s.timeout = seconds_option(vm, "timeout", s.plugin.metadata, "timeout_seconds");
  s.grace = seconds_option(vm, "grace", nlohmann::json::object(), "");
  *policy = vm.count("concurrency") ? vm["concurrency"].as<std::string>() : s.plugin.metadata.value("concurrency", "allow");
  if (*policy != "allow" && *policy != "forbid" && *policy != "wait") {
    throw usage_error(fmt::format("--concurrency '{}': expected allow, forbid or wait", *policy));
  }
  prepare_state_dir(s.settings);
  *output_dir = output_dir_option(vm);
  s.record.destructive = s.plugin.destructive_with(s.params.values);
  if (s.record.destructive && !s.dry_run && vm.count("yes") == 0 && can_prompt() && !confirmed(s.plugin)) {
    throw usage_error("not confirmed; nothing was run");
  }
}

void prepare(RunSession& s) {
  std::string policy;
  std::optional<std::filesystem::path> output_dir;
  check_run(s, &policy, &output_dir);
  // The run's directories are named before anything is recorded, so the
  // sandbox is planned (and a plan the kernel cannot enforce refused) once.
  const std::string run_id = new_run_id(std::chrono::system_clock::now());
  s.run_dir = s.store.dir(run_id);
  const ChildDirs dirs{run_work_dir(s.settings.state_dir, run_id), output_dir.value_or(s.run_dir / "output"),
                       output_dir.has_value()};
  s.request = prepare_child_request(s.plugin, s.settings, Operation::run, s.params, s.redactor, &dirs, &s.sandbox);

  // A dry run changes nothing, so no policy keeps it out.
  if (!s.dry_run) s.lock = take_lock(policy, s.settings, s.plugin.name(), run_id);
  if (output_dir) create_output_dir(*output_dir);

  RunRecord& record = s.record;
  record.id = run_id;
  record.plugin = s.plugin.name();
  record.plugin_version = s.plugin.version();
  record.plugin_sha256 = s.catalog.sha256(s.plugin);
  record.user = effective_user_name();
  record.host = host_name();
  record.params = redact_resolved_params(s.params, s.plugin.parameters(), s.redactor);
  record.started_at = format_iso_utc(std::chrono::system_clock::now());
  record.dry_run = s.dry_run;
  // The scheduler (run_scheduler) launches each job as `dihya-host run` and
  // names the schedule in the job's environment.
  if (const char* id = std::getenv("DIHYA_SCHEDULE_ID")) record.schedule_id = id;
  if (const char* trigger = std::getenv("DIHYA_SCHEDULE_TRIGGER")) record.trigger = trigger;
  set_host_process(record, current_process_identity());
  hold_cancel_signals();  // from here a signal cancels the run: supervise() takes it
  // The start record carries the run.start line (AuditPut): record and line
  // written, then one fdatasync of the state log makes both durable before
  // the child exists. A crash before that flush leaves the record (read as
  // interrupted) or nothing; never an audited run without a record.
  s.store.create_dir(run_id);
  s.audit.emplace(state_audit_log(s.settings.state_dir, s.settings.audit_syslog));
  AuditPut start(s.store, record, AuditPut::Kind::kStart);
  try {
    s.audit->append("run.start",
                    {{"run_id", run_id}, {"plugin", record.plugin}, {"version", record.plugin_version},
                     {"sha256", record.plugin_sha256}, {"user", record.user}, {"host", record.host},
                     {"params", record.params}, {"dry_run", s.dry_run}, {"schedule_id", record.schedule_id},
                     {"trigger", record.trigger}},
                    &start);
  } catch (const std::exception& e) {
    // An unaudited run must not happen: it did not start, so it leaves
    // nothing (a record appended is dropped).
    if (start.carried()) {
      s.store.remove(run_id);
    } else {
      ::rmdir(s.run_dir.c_str());
    }
    throw HostError(kExitRunFailed, fmt::format("cannot start the run: {}", e.what()));
  }

  s.request.run_id = run_id;
  s.request.dry_run = s.dry_run;
  s.default_output_dir = !output_dir;
  // Redacted like the result: a path parameter may be a secret.
  record.sandbox = redact_strings(sandbox_plan_json(s.sandbox), s.redactor);
}

// The run's work dir and default output dir, made once the run is recorded as
// started: a failure here (no inode left) is a failed run that is recorded as
// ended (cmd_run), never one left to read as running or interrupted.
void make_run_dirs(RunSession& s) {
  s.started = std::chrono::steady_clock::now();
  count_in_metrics(s.settings, remove_abandoned_work_dirs(s.settings.state_dir, s.store));
  s.work_dir_hold = make_run_work_dir(s.settings.state_dir, s.record.id, s.store.spares());
  if (s.default_output_dir) create_default_output_dir(s.request.output_dir, s.store.spares());
}

// Runs the child and, when it failed after changing something, rolls back.
void execute(RunSession& s, RunSink& sink, ProgressBar& bar) {
  SupervisorOptions options;
  options.timeout = s.timeout;
  if (s.grace) options.grace = *s.grace;
  options.sandbox_plan = &s.sandbox;  // planned once, in prepare()
  s.started = std::chrono::steady_clock::now();
  s.outcome = supervise(s.request, options, sink);
  bar.clear();
  const ChildOutcome& outcome = *s.outcome;
  const bool journaled = sink.journal_entries() > 0;
  if ((outcome.kind == ChildOutcome::Kind::crashed || outcome.kind == ChildOutcome::Kind::exited) && !outcome.loaded &&
      !journaled) {
    s.catalog.mark_unstable(s.plugin.path, outcome.message);
  }
  // The record names the sandbox the plugin ran in, not only the one planned.
  if (s.record.sandbox.is_object() && outcome.loaded) {
    s.record.sandbox["applied"] = outcome.sandbox_error.empty() && s.sandbox.mode != SandboxMode::off;
    s.record.sandbox["pid_namespace"] = outcome.pid_namespace;
    if (outcome.pid_namespace) {
      s.record.sandbox["summary"] = s.record.sandbox.value("summary", std::string()) + ", own pid namespace";
    }
    if (outcome.keeper) {
      s.record.sandbox["keeper"] = true;
      s.record.sandbox["summary"] = s.record.sandbox.value("summary", std::string()) + ", kept by a keeper process";
    }
    if (!outcome.sandbox_error.empty()) {
      s.record.sandbox["error"] = cut_summary(s.redactor.redact(outcome.sandbox_error));
    }
  }

  s.verdict = judge(outcome, s.dry_run, journaled);
  // Cut before it is quoted anywhere: the end record carries the summary
  // twice (in its run.end audit line too, escaped once more).
  s.verdict.summary =
      cut_summary(without_outcome_prefix(one_line(s.redactor.redact(s.verdict.summary)), s.dry_run));
  if (s.verdict.exit_code != kExitOk) {
    const std::string hint = sandbox_denial_hint(s.sandbox, s.verdict.summary);
    if (!hint.empty()) s.verdict.summary += "; " + hint;
  }
  if (outcome.kind == ChildOutcome::Kind::completed) {
    std::string dropped;
    s.result_data = bounded_result_data(
        redact_strings(outcome.result.value("data", nlohmann::json::object()), s.redactor), &dropped);
    if (!dropped.empty()) sink.note(dropped);
  } else {
    s.result_data = nlohmann::json::object();
  }
  if (s.verdict.may_roll_back && !s.dry_run && journaled) {
    const std::string& run_id = s.record.id;
    if (s.vm.count("no-rollback")) {
      sink.note(fmt::format("not rolled back (--no-rollback): run `dihya-host rollback {}` to undo", run_id));
    } else {
      const RollbackReport rb = roll_back_run(s.plugin, s.settings, run_id, s.run_dir, s.params, s.record.sandbox, s.redactor,
                                              *s.audit, sink, RollbackLimits{s.timeout, s.grace});
      s.result_data["rollback"] = {{"ok", rb.ok}, {"summary", rb.summary}};
      if (!rb.ok) {
        s.verdict.outcome = kOutcomeRollbackFailed;
        // Printed last: where the rollback left things, not only why the run stopped.
        s.verdict.summary += "; rollback failed: " + rb.summary;
        s.verdict.exit_code = s.verdict.exit_code == kExitRunFailed ? kExitRunFailed : s.verdict.exit_code;
      } else if (s.verdict.exit_code == kExitRunFailed) {
        s.verdict.outcome = kOutcomeRolledBack;
        s.verdict.exit_code = kExitRolledBack;
      }
    }
  }
}

// What execute() leaves when the host itself fails during it (it cannot
// fork, a write fails...): a failed run, not rolled back, whose summary
// keeps what was decided before.
void fail_execution(RunSession& s, RunSink& sink, const std::string& why) {
  const std::string what = cut_summary(s.redactor.redact(one_line(why)));
  if (!s.outcome) {
    s.outcome.emplace();
    s.outcome->message = what;
  }
  const bool journaled = sink.journal_entries() > 0;
  const std::string before = s.verdict.outcome.empty() ? "" : s.verdict.summary + "; ";
  s.verdict = {kOutcomeFailed, kExitRunFailed, cut_summary(before + "host error: " + what), false};
  if (journaled) s.verdict.summary += fmt::format(" (not rolled back: run `dihya-host rollback {}`)", s.record.id);
  sink.note(s.verdict.summary);
}

// Records the end (record, audit run.end, metrics) and prints it.
int finish(RunSession& s) {
  const ChildOutcome& outcome = *s.outcome;
  // Most plugins leave their work and output dirs empty: they go back to
  // the spares, but only when no process that Landlock let write there can
  // be alive (runs/spare_dirs.hpp).
  const bool recyclable = outcome.nothing_left;
  if (!(recyclable && s.store.spares().recycle(s.request.work_dir)) && ::rmdir(s.request.work_dir.c_str()) != 0) {
    std::error_code ec;
    std::filesystem::remove_all(s.request.work_dir, ec);
  }
  // Let go only once it has left work/: a run's sweep would otherwise find
  // it unheld and read this run's record to learn that it still runs.
  s.work_dir_hold.reset();
  s.store.set_output_recyclable(recyclable && s.default_output_dir);
  const std::string report =
      outcome.kind == ChildOutcome::Kind::completed ? s.redactor.redact(outcome.result.value("report", "")) : "";
  // `show` prints it again later; a report that cannot be kept does not fail the run.
  try {
    if (!report.empty()) write_file_atomically(s.run_dir / "report.txt", report, 0600);
  } catch (const HostError&) {
    std::cerr << "dihya-host: warning: the plugin's report was not kept for `show`\n";
  }

  RunRecord& record = s.record;
  const Verdict& verdict = s.verdict;
  record.ended_at = format_iso_utc(std::chrono::system_clock::now());
  record.outcome = std::string(verdict.outcome);
  record.exit_code = verdict.exit_code;
  record.summary = verdict.summary;
  record.result = s.result_data;
  // As at the start: the end record carries the run.end line, one flush.
  AuditPut end(s.store, record, AuditPut::Kind::kEnd);
  try {
    s.audit->append("run.end",
                    {{"run_id", record.id}, {"plugin", record.plugin}, {"outcome", record.outcome},
                     {"exit_code", verdict.exit_code}, {"summary", record.summary}},
                    &end);
  } catch (const std::exception& e) {
    // The run happened and its record says how it ended: report, keep its exit code.
    std::cerr << fmt::format("dihya-host: warning: run {} ended ({}) but its audit entry was not written: {}\n",
                             record.id, record.outcome, printable(e.what(), 1000));
    if (!end.carried()) s.store.update(record, RunStore::Flush::kLater);
    s.store.sync();
  }

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started).count();
  if (s.settings.metrics_dir) {
    try {
      record_run_metrics(*s.settings.metrics_dir, s.settings.state_dir, record, seconds);
    } catch (const HostError& e) {
      std::cerr << fmt::format("dihya-host: warning: metrics not written: {}\n", e.what());
    }
  }
  if (s.vm.count("json")) {
    nlohmann::json out = record;
    out["report"] = report;  // as `show --json` gives it
    print_json(out);
    return verdict.exit_code;
  }
  if (!report.empty()) {
    const std::string text = printable_text(report);
    std::cout << text << (text.empty() || text.back() == '\n' ? "" : "\n");
  }
  const std::string line = fmt::format("{}: {}: {} (run {}, {:.2f} s)\n", s.plugin.name(), record.outcome,
                                       printable_text(record.summary), record.id, seconds);
  if (verdict.exit_code == kExitOk) {
    std::cout << line;
  } else {
    std::cerr << "dihya-host: " << line;
  }
  return verdict.exit_code;
}

}  // namespace

int cmd_run(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host run <plugin> [--param k=v]... [--params-file FILE] [--dry-run] [options]";
  spec.description =
      "Runs a plugin in a supervised child process. Parameters are checked against its schema\n"
      "and its validate() first. Every run gets an id, a record, a log and audit entries\n"
      "(see history, show, logs). A failed, timed-out or cancelled run that changed something\n"
      "is rolled back from its journal unless --no-rollback (exit 5 when a failure was rolled\n"
      "back; a timeout still exits 4 and Ctrl-C 130). Destructive plugins ask for confirmation\n"
      "on a terminal unless --yes.";
  add_param_options(spec);
  spec.options.add_options()("dry-run,n", "change nothing; the plugin says what it would do")(
      "yes,y", "do not ask for confirmation of a destructive run")(
      "timeout", po::value<double>(), "seconds before the run is cancelled (default: the plugin's timeout_seconds)")(
      "grace", po::value<double>(), "seconds between the cancellation (SIGTERM) and SIGKILL (default 5)")(
      "no-rollback", "keep the changes of a failed run; roll back later with `dihya-host rollback`")(
      "concurrency", po::value<std::string>(), "allow | forbid | wait (default: the plugin's, else allow)")(
      "output-dir", po::value<std::string>(), "where the plugin writes its files (default: the run's directory)")(
      "quiet,q", "echo only the plugin's warnings and errors on stderr (as the global --quiet)")("json", "print the run record as JSON");
  add_memory_option(spec);
  add_plugin_argument(spec);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;

  const Settings run_settings = with_memory_option(settings, *vm);
  PluginCatalog catalog(run_settings);
  RunSession session(run_settings, catalog, catalog.find((*vm)["plugin"].as<std::string>()), *vm);
  prepare(session);
  ProgressBar bar(stderr_is_interactive());
  LogStyle style = settings.log_style;
  if (vm->count("quiet")) style.verbosity = LogStyle::Verbosity::quiet;
  RunSink sink(session.run_dir / "log.txt", session.run_dir / "journal.jsonl", session.redactor, style, bar);
  try {
    make_run_dirs(session);
    execute(session, sink, bar);
  } catch (const std::exception& e) {
    // The run is recorded as started: it must be recorded as ended too,
    // never left to read as interrupted.
    fail_execution(session, sink, e.what());
  }
  return finish(session);
}

}  // namespace dihya::host
