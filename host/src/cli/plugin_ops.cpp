// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/plugin_ops.hpp"

#include <fmt/format.h>

#include "db/embedded_cluster.hpp"
#include "errors.hpp"

namespace dihya::host {
namespace {

class MemorySink final : public EventSink {
 public:
  explicit MemorySink(OperationReport& report) : report_(report) {}
  void on_log(dihya::LogLevel, const std::string& message) override { report_.log.push_back(message); }
  void on_output(const std::string& line) override { report_.log.push_back(line); }
  void on_progress(std::uint64_t, std::uint64_t, const std::string&) override {}
  void on_journal(const dihya::UndoEntry& entry) override { report_.journal.push_back(entry); }

 private:
  OperationReport& report_;
};

}  // namespace

ChildRequest base_request(const PluginFile& plugin, const Settings& settings, Operation op) {
  ChildRequest request;
  request.plugin_path = plugin.path;
  request.plugin_fd = plugin.fd ? plugin.fd->get() : -1;
  request.operation = op;
  if (plugin.needs("database")) {
    request.database_url = resolve_database_url(settings, true);
  } else if (settings.database_url) {
    request.database_url = *settings.database_url;
  }
  return request;
}

OperationReport run_operation(const ChildRequest& request, std::optional<std::chrono::milliseconds> timeout) {
  OperationReport report;
  MemorySink sink(report);
  SupervisorOptions options;
  options.timeout = timeout;
  report.outcome = supervise(request, options, sink);
  return report;
}

void require_loaded(const ChildOutcome& outcome, const PluginFile& plugin) {
  using Kind = ChildOutcome::Kind;
  if (outcome.kind == Kind::load_failed || (!outcome.loaded && outcome.kind != Kind::cancelled &&
                                            outcome.kind != Kind::timed_out)) {
    throw load_error(fmt::format("{}: cannot load plugin: {}", plugin.path.string(), outcome.message));
  }
}

void require_semantically_valid(const ChildOutcome& outcome, const std::string& plugin_name) {
  if (outcome.kind != ChildOutcome::Kind::completed) {
    throw HostError(kExitRunFailed, fmt::format("{}: validate failed: {}", plugin_name, outcome.message));
  }
  if (outcome.result.value("ok", false)) return;
  std::vector<std::string> problems;
  for (const auto& e : outcome.result["data"].value("errors", nlohmann::json::array())) {
    problems.push_back(fmt::format("parameter '{}': {}", e.value("field", ""), e.value("message", "")));
  }
  throw usage_error(fmt::format("{}: {}", plugin_name, fmt::join(problems, "; ")));
}

}  // namespace dihya::host
