// SPDX-License-Identifier: AGPL-3.0-or-later
// dihya-host: global options, then one subcommand. Every error ends here as one
// line on stderr and a documented exit code; nothing escapes as a crash.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "errors.hpp"
#include "supervise/core_dumps.hpp"
#include "util/printable.hpp"
#include <dihya/abi.hpp>
#include <dihya/job_zygote.hpp>

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
  std::cout << "\nRun `dihya-host <command> --help` for a command's options. Global options may also\n"
               "follow the command (`dihya-host run noop --verbose`).\n\n"
            << global << "\n"
            << "Settings precedence: flags > environment (DIHYA_PLUGIN_PATH, DIHYA_DATABASE_URL,\n"
               "DIHYA_STATE_DIR, DIHYA_CACHE_DIR, DIHYA_METRICS_DIR, DIHYA_CONFIG) > user config\n"
               "($XDG_CONFIG_HOME/dihya/config.yaml) > system config (/etc/dihya/config.yaml,\n"
               "or <prefix>/etc/dihya/config.yaml outside /usr) > defaults. Colours and progress\n"
               "bars only on a terminal, never with NO_COLOR set.\n\n"
            << dihya::host::exit_codes_help();
}

void print_version() {
  std::printf("dihya-host %s (SDK ABI %d.%d)\n", DIHYA_VERSION, dihya::kAbiMajor, dihya::kAbiMinor);
}

// `*json_errors` is set when the subcommand was asked for --json: its errors
// are then a JSON object on stdout too.
int dispatch(int argc, char** argv, bool* json_errors) {
  namespace po = boost::program_options;
  using namespace dihya::host;

  // `dihya-host --version` alone answers before the option tables are built
  // (what a packager's or a script's probe runs: a tenth of its start-up).
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    print_version();
    return kExitOk;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  // The subcommand is the first word that is not a global option or its value.
  std::size_t command_at = 0;
  static const std::set<std::string> kTakesValue{"--config", "--plugin-path", "--database-url", "--state-dir",
                                                 "--log-format"};
  while (command_at < args.size() && !args[command_at].empty() && args[command_at][0] == '-') {
    const std::string& a = args[command_at];
    command_at += (kTakesValue.count(a) != 0) ? 2 : 1;
  }
  command_at = std::min(command_at, args.size());
  Args global_args(args.begin(), args.begin() + static_cast<long>(command_at));
  // Global options are accepted after the subcommand too (`run noop --verbose`):
  // no subcommand reuses their names. `--` ends the scan.
  Args command_args;
  static const std::set<std::string> kFlags{"--quiet", "-q", "--verbose", "-v", "--version"};
  for (std::size_t i = command_at + 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    const std::string key = a.substr(0, a.find('='));
    if (a == "--") {
      command_args.insert(command_args.end(), args.begin() + static_cast<long>(i), args.end());
      break;
    }
    if (kFlags.count(a) != 0 || (a.size() > 2 && a.find('=') != std::string::npos && kTakesValue.count(key) != 0)) {
      global_args.push_back(a);
    } else if (kTakesValue.count(a) != 0 && i + 1 < args.size()) {
      global_args.push_back(a);
      global_args.push_back(args[++i]);
    } else {
      command_args.push_back(a);
    }
  }
  for (const auto& a : command_args) {
    if (a == "--") break;
    if (a == "--json") *json_errors = true;
  }

  po::options_description global("Global options");
  global.add_options()("help,h", "show this help")("version", "print the version")(
      "config", po::value<std::string>(), "user config file (instead of $XDG_CONFIG_HOME/dihya/config.yaml)")(
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
    print_version();
    return kExitOk;
  }
  if (vm.count("help")) {
    print_help(global);
    return kExitOk;
  }

  GlobalFlags flags;
  if (vm.count("config")) flags.config_file = vm["config"].as<std::string>();
  if (vm.count("plugin-path")) flags.plugin_path = vm["plugin-path"].as<std::vector<std::string>>();
  if (vm.count("database-url")) flags.database_url = vm["database-url"].as<std::string>();
  if (vm.count("state-dir")) flags.state_dir = vm["state-dir"].as<std::string>();
  for (const char* option : {"config", "state-dir"}) {
    if (vm.count(option) && vm[option].as<std::string>().empty()) throw usage_error(fmt::format("--{}: empty path", option));
  }
  // An empty value would quietly fall back to the environment or the
  // embedded cluster: not what the flag asked for.
  if (flags.database_url && flags.database_url->empty()) throw usage_error("--database-url: empty URL");
  if (std::any_of(flags.plugin_path.begin(), flags.plugin_path.end(), [](const std::string& dir) { return dir.empty(); })) {
    throw usage_error("--plugin-path: empty directory");
  }
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
  // Checked after the options, so that a bad one is what is said.
  if (command_at >= args.size()) throw usage_error("which command? (see dihya-host --help)");
  const std::string& name = args[command_at];
  auto it = subcommands().find(name);
  if (it == subcommands().end()) {
    throw usage_error(fmt::format("unknown command '{}' (see dihya-host --help)", name));
  }
  const Settings settings = load_settings(flags);
  return it->second.run(command_args, settings);
}

// Errors may quote hostile input (file names, keys): one safe line on stderr,
// and with --json the same message as an object on stdout, so a program that
// reads stdout never gets text where it asked for JSON.
int report_error(const std::string& message, int exit_code, bool json) {
  std::fflush(stdout);
  if (json) dihya::host::print_json({{"ok", false}, {"error", message}, {"exit_code", exit_code}});
  std::cerr << "dihya-host: " << message << "\n";
  return exit_code;
}

// main()'s body; also where the zygote's forked jobs start.
int host_main(int argc, char** argv) {
  // A plugin child that died must not take the host with it through a write on its pipe.
  ::signal(SIGPIPE, SIG_IGN);
  bool json_errors = false;
  try {
    return dispatch(argc, argv, &json_errors);
  } catch (const dihya::host::HostError& e) {
    return report_error(dihya::host::printable(e.what(), 16384), e.exit_code(), json_errors);
  } catch (const std::filesystem::filesystem_error& e) {
    // The file system refused (a file where a directory must be, no permission,
    // a full disk): the operator's to fix, and what() names the path and why.
    return report_error(dihya::host::printable(e.what(), 16384), dihya::host::kExitRunFailed, json_errors);
  } catch (const std::exception& e) {
    return report_error("internal error: " + dihya::host::printable(e.what(), 16384), dihya::host::kExitRunFailed,
                        json_errors);
  }
}

}  // namespace

// `__zygote` (run_scheduler's warm host) forks jobs that enter host_main as an
// exec'ed host would.
int main(int argc, char** argv) {
  // Before anything is read: every command may hold a secret (a database
  // URL's password, from the environment or a file; a parameter's), so no
  // command leaves a core file or lets another process of the user read its
  // memory or environment (/proc/<pid>/mem, environ).
  dihya::host::stop_core_dumps();
  if (argc >= 2 && std::strcmp(argv[1], dihya::zygote::kCommand) == 0) {
    return dihya::host::run_zygote(argc, argv, host_main);
  }
  return host_main(argc, argv);
}
