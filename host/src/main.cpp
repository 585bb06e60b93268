// SPDX-License-Identifier: AGPL-3.0-or-later
// dihya-host: global options, then one subcommand. Every error ends here as one
// line on stderr and a documented exit code; nothing escapes as a crash.
#include <signal.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "errors.hpp"
#include "params/json_input.hpp"
#include <dihya/abi.hpp>

namespace {

using dihya::host::Args;
using dihya::host::Settings;
using Command = std::function<int(const Args&, const Settings&)>;

struct Subcommand {
  Command run;
  const char* summary;
};

const std::map<std::string, Subcommand>& subcommands() {
  using namespace dihya::host;
  static const std::map<std::string, Subcommand> kCommands{
      {"list", {cmd_list, "list the plugins of the search path"}},
      {"info", {cmd_info, "describe a plugin: summary, parameters, examples, security, rollback"}},
      {"validate", {cmd_validate, "check parameters against a plugin's schema and semantics; runs nothing"}},
      {"run", {cmd_run, "run a plugin, supervised, journalled and audited"}},
      {"check", {cmd_check, "conformance checks for a plugin .so (for plugin authors and CI)"}},
      {"docs", {cmd_docs, "write one Markdown page per plugin"}},
      {"db", {cmd_db, "start, stop or inspect the embedded PostgreSQL cluster"}},
      {"history", {cmd_history, "list past runs"}},
      {"show", {cmd_show, "show one run record"}},
      {"logs", {cmd_logs, "print the log of one run"}},
      {"rollback", {cmd_rollback, "undo a finished or interrupted run from its journal"}},
      {"audit", {cmd_audit, "verify the tamper-evident audit log"}},
      {"schedule", {cmd_schedule, "cron schedules run by the run_scheduler plugin (add, list, next, run...)"}},
      {"complete", {cmd_complete, "completion candidates for the bash completion script"}},
  };
  return kCommands;
}

void print_help(const boost::program_options::options_description& global) {
  std::cout << "Usage: dihya-host [global options] <command> [options]\n\n"
               "Runs automation plugins (.so) with typed parameters, dry-run, supervision,\n"
               "rollback and a tamper-evident audit log.\n\nCommands:\n";
  for (const auto& [name, cmd] : subcommands()) std::cout << fmt::format("  {:<10} {}\n", name, cmd.summary);
  std::cout << "\nRun `dihya-host <command> --help` for a command's options.\n\n"
            << global << "\n"
            << "Settings precedence: flags > environment (DIHYA_PLUGIN_PATH, DIHYA_DATABASE_URL,\n"
               "DIHYA_STATE_DIR, DIHYA_CACHE_DIR, DIHYA_METRICS_DIR, DIHYA_CONFIG) > user config\n"
               "($XDG_CONFIG_HOME/dihya/config.yaml) > system config (/etc/dihya/config.yaml,\n"
               "or <prefix>/etc/dihya/config.yaml outside /usr) > defaults. Colours and progress\n"
               "bars only on a terminal, never with NO_COLOR set.\n\n"
            << dihya::host::exit_codes_help();
}

int dispatch(int argc, char** argv) {
  namespace po = boost::program_options;
  using namespace dihya::host;

  std::vector<std::string> args(argv + 1, argv + argc);
  // Global options come before the subcommand; everything after it is the subcommand's.
  std::size_t command_at = 0;
  static const std::set<std::string> kTakesValue{"--config", "--plugin-path", "--database-url", "--state-dir",
                                                 "--log-format"};
  while (command_at < args.size() && !args[command_at].empty() && args[command_at][0] == '-') {
    const std::string& a = args[command_at];
    command_at += (kTakesValue.count(a) != 0) ? 2 : 1;
  }
  command_at = std::min(command_at, args.size());
  const Args global_args(args.begin(), args.begin() + static_cast<long>(command_at));

  po::options_description global("Global options");
  global.add_options()("help,h", "show this help")("version", "print the version")(
      "config", po::value<std::string>(), "user config file (replaces $XDG_CONFIG_HOME/dihya/config.yaml)")(
      "plugin-path", po::value<std::vector<std::string>>(), "plugin directory, searched first (repeatable)")(
      "database-url", po::value<std::string>(), "PostgreSQL URL (default: the embedded cluster)")(
      "state-dir", po::value<std::string>(), "runs, journals, audit log and embedded cluster")(
      "quiet,q", "echo only warnings and errors of plugin logs")("verbose,v", "echo debug lines of plugin logs too")(
      "log-format", po::value<std::string>(), "text (default) or json: one JSON object per log line on stderr");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(global_args).options(global).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(fmt::format("{} (see dihya-host --help)", e.what()));
  }
  if (vm.count("version")) {
    std::cout << "dihya-host " << DIHYA_VERSION << " (SDK ABI " << dihya::kAbiMajor << "." << dihya::kAbiMinor
              << ")\n";
    return kExitOk;
  }
  if (vm.count("help") || command_at >= args.size()) {
    print_help(global);
    return vm.count("help") ? kExitOk : kExitUsage;
  }
  const std::string& name = args[command_at];
  auto it = subcommands().find(name);
  if (it == subcommands().end()) {
    throw usage_error(fmt::format("unknown command '{}' (see dihya-host --help)", name));
  }

  GlobalFlags flags;
  if (vm.count("config")) flags.config_file = vm["config"].as<std::string>();
  if (vm.count("plugin-path")) flags.plugin_path = vm["plugin-path"].as<std::vector<std::string>>();
  if (vm.count("database-url")) flags.database_url = vm["database-url"].as<std::string>();
  if (vm.count("state-dir")) flags.state_dir = vm["state-dir"].as<std::string>();
  if (vm.count("quiet") && vm.count("verbose")) throw usage_error("--quiet and --verbose exclude each other");
  if (vm.count("quiet")) flags.log_style.verbosity = LogStyle::Verbosity::quiet;
  if (vm.count("verbose")) flags.log_style.verbosity = LogStyle::Verbosity::verbose;
  if (vm.count("log-format")) {
    const auto format = vm["log-format"].as<std::string>();
    if (format != "text" && format != "json") {
      throw usage_error(fmt::format("--log-format '{}': expected text or json", format));
    }
    flags.log_style.json = format == "json";
  }
  const Settings settings = load_settings(flags);
  return it->second.run(Args(args.begin() + static_cast<long>(command_at) + 1, args.end()), settings);
}

}  // namespace

int main(int argc, char** argv) {
  // A plugin child that died must not take the host with it through a write on its pipe.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return dispatch(argc, argv);
  } catch (const dihya::host::HostError& e) {
    std::fflush(stdout);
    // Errors may quote hostile input (file names, keys): one safe line.
    std::cerr << "dihya-host: " << dihya::host::printable(e.what(), 16384) << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "dihya-host: internal error: " << dihya::host::printable(e.what(), 16384) << "\n";
    return dihya::host::kExitRunFailed;
  }
}
