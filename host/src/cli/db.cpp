// SPDX-License-Identifier: AGPL-3.0-or-later
// `db start|stop|status|url`: the operator's handle on the embedded PostgreSQL
// cluster that dihya-host uses when no database URL is configured.
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "db/embedded_cluster.hpp"
#include "errors.hpp"

namespace dihya::host {
namespace {

std::string db_description(const Settings& settings) {
  return fmt::format(
      "Manages the embedded PostgreSQL cluster dihya-host uses when no database URL is configured\n"
      "(--database-url, DIHYA_DATABASE_URL or database_url in the config file). It lives in\n"
      "{}/postgres, listens on a Unix socket only and accepts only its owner and root;\n"
      "when dihya-host runs as root, the server runs as the `postgres` system user.\n"
      "\n"
      "Actions:\n"
      "  start   create the cluster and the database `dihya` if needed, start the server and wait\n"
      "          until it accepts connections; nothing to do when it runs\n"
      "  stop    stop the server (fast: open sessions are disconnected); nothing to do when stopped\n"
      "  status  show whether the cluster exists and runs; exits 0 when it runs, 1 when it does not\n"
      "          (like pg_ctl status or systemctl is-active), so scripts can test it\n"
      "  url     print its connection URL (starts nothing)",
      printable(settings.state_dir.string(), std::string::npos));
}

void print_status(const nlohmann::json& status) {
  std::string running = status["running"].get<bool>() ? fmt::format("yes (pid {})", status["pid"].get<long>()) : "no";
  print_table({{"initialized", status["initialized"].get<bool>() ? "yes" : "no"},
               {"running", running},
               {"data dir", status["data_dir"].get<std::string>()},
               {"socket dir", status["socket_dir"].get<std::string>()},
               {"log file", status["log_file"].get<std::string>()},
               {"url", status["url"].get<std::string>()}});
}

void note_configured_url(const Settings& settings) {
  if (settings.database_url) {
    std::cerr << "dihya-host: note: a database URL is configured; runs use it, not the embedded cluster\n";
  }
}

}  // namespace

int cmd_db(const Args& args, const Settings& settings) {
  CommandSpec spec;
  spec.usage = "dihya-host db start|stop|status|url [--json]";
  spec.description = db_description(settings);
  spec.options.add_options()("json", "print JSON on stdout: the status (start, stop, status) or {\"url\": ...}");
  spec.hidden.add_options()("action", po::value<std::string>(), "start, stop, status or url");
  spec.positional.add("action", 1);
  auto vm = parse_command(args, spec);
  if (!vm) return kExitOk;
  if (!vm->count("action")) throw usage_error(fmt::format("db: which action? (usage: {})", usage_line(spec)));
  const std::string action = (*vm)["action"].as<std::string>();
  const bool json = vm->count("json") > 0;

  if (action == "start") {
    prepare_state_dir(settings);
  } else {
    check_state_dir(settings);
  }
  EmbeddedCluster cluster(settings.state_dir);
  if (action == "start") {
    note_configured_url(settings);
    cluster.start();
    if (json) print_json(cluster.status());
    else std::cerr << "dihya-host: embedded database running: " << cluster.url() << "\n";
    return kExitOk;
  }
  if (action == "stop") {
    const bool was_running = cluster.running();
    cluster.stop();
    if (json) print_json(cluster.status());
    else std::cerr << "dihya-host: embedded database " << (was_running ? "stopped\n" : "was not running\n");
    return kExitOk;
  }
  if (action == "status") {
    const nlohmann::json status = cluster.status();
    if (json) print_json(status);
    else print_status(status);
    return status["running"].get<bool>() ? kExitOk : kExitRunFailed;
  }
  if (action == "url") {
    if (json) print_json({{"url", cluster.url()}});
    else std::cout << cluster.url() << "\n";
    return kExitOk;
  }
  throw usage_error(fmt::format("db: unknown action '{}' (expected start, stop, status or url)", action));
}

}  // namespace dihya::host
