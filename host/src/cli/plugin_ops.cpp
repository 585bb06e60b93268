// SPDX-License-Identifier: AGPL-3.0-or-later
#include "cli/plugin_ops.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "db/embedded_cluster.hpp"
#include "db/libpq.hpp"
#include "errors.hpp"
#include "util/memory_size.hpp"

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

SandboxMode effective_sandbox_mode(const Settings& settings, int abi) {
  SandboxMode mode = default_sandbox_mode(abi);
  if (!settings.sandbox.empty()) {
    if (!parse_sandbox_mode(settings.sandbox, &mode)) throw usage_error("sandbox '" + settings.sandbox + "': expected require, best-effort or off");
  } else if (mode == SandboxMode::best_effort) {
    static bool warned = false;  // once per process
    if (!warned) std::cerr << "dihya-host: warning: the kernel has no Landlock: plugins run with seccomp only "
                              "(sandbox: best-effort; set sandbox: off or best-effort to silence)\n";
    warned = true;
  }
  return mode;
}

// SandboxInputs::vouched: the plugin lies in a plugin dir that ships with
// this host, or a key the operator trusts signed it.
bool vouched(const PluginFile& plugin) {
  if (!plugin.signed_by.empty()) return true;
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::weakly_canonical(plugin.path, ec).parent_path();
  if (ec) return false;
  for (const auto& own : {installed_plugin_dir(), install_prefix() / "plugins"}) {
    if (std::filesystem::weakly_canonical(own, ec) == dir && !ec) return true;
  }
  return false;
}

}  // namespace

Capabilities plugin_capabilities(const PluginFile& plugin) {
  Capabilities caps;
  const std::string problem = parse_capabilities(plugin.metadata, &caps);
  if (!problem.empty()) throw load_error(fmt::format("{}: plugin.json: {}", plugin.path.string(), problem));
  return caps;
}

ChildRequest prepare_child_request(const PluginFile& plugin, const Settings& settings, Operation op,
                                   const ResolvedParams& params, Redactor& redactor, const ChildDirs* dirs,
                                   SandboxPlan* plan_out) {
  ChildRequest request;
  request.plugin_path = plugin.path;
  request.plugin_fd = plugin.fd ? plugin.fd->get() : -1;
  request.operation = op;
  if (op != Operation::metadata && plugin.needs("database")) {
    request.database_url = resolve_database_url(settings, true);
  } else if (op != Operation::metadata && settings.database_url && !conninfo_problem(*settings.database_url)) {
    request.database_url = *settings.database_url;  // a malformed one is not passed on: see conninfo_problem()
  }
  for (const auto& secret : params.secret_values) redactor.add_secret(secret);
  for (const auto& key : params.secret_keys) {
    if (params.values.contains(key) && params.values[key].is_string()) request.secrets[key] = params.values[key];
  }
  // The configured URL is in the environment (DIHYA_DATABASE_URL) even when
  // this child gets none: blank its password too.
  for (const std::string& url : {request.database_url, settings.database_url.value_or("")}) {
    redact_connection_password(redactor, url);
  }
  if (auto password = connection_password(request.database_url)) request.secrets["database_password"] = *password;
  request.scrub_values = redactor.secrets();

  request.capabilities = plugin_capabilities(plugin);
  request.landlock_abi = landlock_abi();
  request.sandbox_mode = effective_sandbox_mode(settings, request.landlock_abi);
  request.memory_max = settings.memory_max ? *settings.memory_max : default_memory_max();
  std::error_code ec;
  request.host_binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  request.protected_dirs = {{"state dir", settings.state_dir.string()},
                            {"cache dir", settings.cache_dir.string()},
                            {"trusted keys dir", settings.trusted_keys_dir.string()},
                            {"system config dir", system_config_file().parent_path().string()},
                            {"user config dir", settings.user_config_file.parent_path().string()}};
  // Read by node_exporter's textfile collector: a plugin must not forge it.
  if (settings.metrics_dir) request.protected_dirs.emplace_back("metrics dir", settings.metrics_dir->string());
  // Asked only of a plugin that starts the host: a few path lookups no other run pays.
  request.plugin_vouched = request.capabilities.runs_host && vouched(plugin);
  // The hosts it starts (run_scheduler's jobs) run with this host's
  // settings: a --config's `signatures: require` holds for them too.
  if (request.capabilities.runs_host) request.environment = settings_environment(settings);
  if (!request.host_binary.empty()) {
    request.protected_dirs.emplace_back("binary's dir", std::filesystem::path(request.host_binary).parent_path().string());
  }
  for (const auto& dir : settings.plugin_path) request.protected_dirs.emplace_back("plugin dir", dir.string());
  // A run the kernel cannot confine as planned does not start (require).
  // The plan reads the parameters (declared paths), so they are in the
  // request from here on; callers that change them plan again (supervise).
  request.params = params.values;
  if (dirs != nullptr) {
    request.work_dir = dirs->work_dir;
    request.output_dir = dirs->output_dir;
    request.output_dir_given = dirs->output_dir_given;
  }
  SandboxPlan plan = child_sandbox_plan(request);
  if (!plan.forbidden.empty()) throw usage_error(fmt::format("{}: {}; nothing was run", plugin.name(), plan.forbidden));
  if (!plan.refusal.empty()) {
    throw usage_error(fmt::format("{}: sandbox: require: {}; nothing was run (set sandbox: best-effort to run "
                                  "less confined)",
                                  plugin.name(), plan.refusal));
  }
  if (plan_out != nullptr) *plan_out = std::move(plan);
  return request;
}

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = (tmp != nullptr && *tmp == '/' ? std::string(tmp) : std::string("/tmp")) + "/dihya-work-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw HostError(kExitRunFailed, fmt::format("cannot make a work directory {}: {}", pattern, std::strerror(errno)));
  }
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
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
  // A timeout before the plugin loaded is a hang in its constructors: it
  // cannot be loaded, whatever the operation was for.
  if (outcome.kind == Kind::load_failed || (!outcome.loaded && outcome.kind != Kind::cancelled)) {
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
