// SPDX-License-Identifier: AGPL-3.0-or-later
// `history`, `show` and `logs`: reading the run records. A run whose host died
// (crash, kill -9, power loss) is shown as `interrupted`.
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "errors.hpp"
#include "util/printable.hpp"
#include "runs/run_id.hpp"
#include "runs/run_store.hpp"
#include "util/atomic_file.hpp"

namespace dihya::host {
namespace {

RunRecord load_run(const RunStore& store, const std::string& id) {
  if (!is_valid_run_id(id)) throw usage_error(fmt::format("'{}' is not a run id (see dihya-host history)", id));
  auto record = store.load(id);
  if (!record) throw usage_error(fmt::format("no run {} (see dihya-host history)", id));
  return *record;
}

}  // namespace

int cmd_history(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host history [--plugin NAME] [--since ISO-TIME] [--limit N] [--schedule ID|NAME] [--json]";
  spec.description = "Lists past runs, oldest first. Runs whose host died are shown as interrupted.\n"
                     "--schedule lists a schedule's due times and their runs (from the scheduler's tables).";
  spec.options.add_options()("plugin", po::value<std::string>(), "only runs of this plugin")(
      "schedule", po::value<std::string>(), "the runs of this schedule (id or name)")(
      "since", po::value<std::string>(), "only runs started at or after this UTC time (e.g. 2026-11-25 or 2026-11-25T10:00:00Z)")(
      "limit", po::value<std::size_t>(), "only the last N runs")("json", "print JSON");
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  if (vm->count("schedule")) return print_schedule_history((*vm)["schedule"].as<std::string>(), settings, vm->count("json") != 0);
  std::optional<std::string> plugin;
  std::optional<std::string> since;
  if (vm->count("plugin")) plugin = (*vm)["plugin"].as<std::string>();
  if (vm->count("since")) {
    since = (*vm)["since"].as<std::string>();
    check_since(*since);
  }

  check_state_dir(settings);
  RunStore store(settings.state_dir / "runs");
  auto runs = store.list(plugin, since);
  if (vm->count("limit") && runs.size() > (*vm)["limit"].as<std::size_t>()) {
    runs.erase(runs.begin(), runs.end() - static_cast<long>((*vm)["limit"].as<std::size_t>()));
  }
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
                     "then the plugin's report (its plan or table) as `run` printed it.";
  spec.options.add_options()("json", "print JSON");
  add_run_id_argument(spec);
  auto vm = parse_command(args, spec);
  if (!vm) return 0;
  check_state_dir(settings);
  RunStore store(settings.state_dir / "runs");
  const RunRecord r = load_run(store, (*vm)["run-id"].as<std::string>());
  // The plugin's report (a plan, a table of what was done) as `run` printed it.
  std::string report;
  read_file(store.dir(r.id) / "report.txt", &report, nullptr);
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
  const RunRecord r = load_run(store, (*vm)["run-id"].as<std::string>());
  std::string text;
  std::string error;
  if (!read_file(store.dir(r.id) / "log.txt", &text, &error)) {
    if (!std::filesystem::exists(store.dir(r.id) / "log.txt")) return 0;
    throw HostError(kExitRunFailed, error);
  }
  std::cout << text;
  return 0;
}

}  // namespace dihya::host
