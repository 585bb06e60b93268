// SPDX-License-Identifier: AGPL-3.0-or-later
// RunRecord <-> JSON. Fields added later get defaults when read, so records
// written by an older host stay readable.
#include "runs/run_record.hpp"

#include <array>
#include <climits>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>

namespace dihya::host {
namespace {

constexpr std::array<std::string_view, 10> kOutcomes = {
    kOutcomeRunning,   kOutcomeSucceeded,  kOutcomeFailed,         kOutcomeCrashed,
    kOutcomeTimedOut,  kOutcomeCancelled,  kOutcomeRolledBack,     kOutcomeRollbackFailed,
    kOutcomeInterrupted, kOutcomeDryRun};

template <typename T>
T optional_field(const nlohmann::json& in, const char* key, T fallback) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return fallback;
  return it->get<T>();
}

}  // namespace

bool is_known_outcome(std::string_view outcome) {
  for (auto known : kOutcomes) {
    if (known == outcome) return true;
  }
  return false;
}

void to_json(nlohmann::json& out, const RunRecord& r) {
  out = nlohmann::json{
      {"id", r.id},
      {"plugin", r.plugin},
      {"plugin_version", r.plugin_version},
      {"plugin_sha256", r.plugin_sha256},
      {"user", r.user},
      {"host", r.host},
      {"params", r.params},
      {"started_at", r.started_at},
      {"ended_at", r.ended_at},
      {"outcome", r.outcome},
      {"exit_code", r.exit_code ? nlohmann::json(*r.exit_code) : nlohmann::json()},
      {"summary", r.summary},
      {"result", r.result},
      {"pid_of_host", r.pid_of_host},
      {"host_boot_id", r.host_boot_id},
      {"host_start_ticks", r.host_start_ticks},
      {"dry_run", r.dry_run},
      {"destructive", r.destructive},
      {"schedule_id", r.schedule_id},
      {"trigger", r.trigger},
      {"audit_seq", r.audit_seq},
  };
  // Records of runs made before the sandbox, and of commands that start no
  // plugin, have none: the key is left out rather than null.
  if (!r.sandbox.is_null()) out["sandbox"] = r.sandbox;
  // Unknown (records made before it was kept): left out, as they were.
  if (r.host_pid_ns != 0) out["host_pid_ns"] = r.host_pid_ns;
}

void from_json(const nlohmann::json& in, RunRecord& r) {
  RunRecord out;
  out.id = in.at("id").get<std::string>();
  out.plugin = in.at("plugin").get<std::string>();
  out.started_at = in.at("started_at").get<std::string>();
  out.outcome = in.at("outcome").get<std::string>();
  if (!is_known_outcome(out.outcome)) {
    throw std::invalid_argument(fmt::format("unknown outcome '{}'", out.outcome));
  }
  out.plugin_version = optional_field<std::string>(in, "plugin_version", "");
  out.plugin_sha256 = optional_field<std::string>(in, "plugin_sha256", "");
  out.user = optional_field<std::string>(in, "user", "");
  out.host = optional_field<std::string>(in, "host", "");
  out.params = in.value("params", nlohmann::json());
  out.ended_at = optional_field<std::string>(in, "ended_at", "");
  if (auto it = in.find("exit_code"); it != in.end() && !it->is_null()) {
    // get<int>() of 1e30 or 2^40 would be undefined or wrap: a record edited
    // to hold one is damaged, not an exit code.
    const bool is_int = it->is_number_integer() && (it->is_number_unsigned()
                                                        ? it->get<std::uint64_t>() <= INT_MAX
                                                        : it->get<std::int64_t>() >= INT_MIN && it->get<std::int64_t>() <= INT_MAX);
    if (!is_int) throw std::invalid_argument(fmt::format("exit_code {} is not an exit code", it->dump()));
    out.exit_code = it->get<int>();
  }
  out.summary = optional_field<std::string>(in, "summary", "");
  out.result = in.value("result", nlohmann::json());
  out.pid_of_host = optional_field<int>(in, "pid_of_host", 0);
  out.host_boot_id = optional_field<std::string>(in, "host_boot_id", "");
  out.host_start_ticks = optional_field<std::uint64_t>(in, "host_start_ticks", 0);
  out.host_pid_ns = optional_field<std::uint64_t>(in, "host_pid_ns", 0);
  out.dry_run = optional_field<bool>(in, "dry_run", false);
  out.destructive = optional_field<bool>(in, "destructive", false);
  out.schedule_id = optional_field<std::string>(in, "schedule_id", "");
  out.trigger = optional_field<std::string>(in, "trigger", "");
  out.audit_seq = optional_field<std::uint64_t>(in, "audit_seq", 0);
  out.sandbox = in.value("sandbox", nlohmann::json());
  r = std::move(out);
}

void set_host_process(RunRecord& record, const ProcessIdentity& host) {
  record.pid_of_host = static_cast<int>(host.pid);
  record.host_boot_id = host.boot_id;
  record.host_start_ticks = host.start_ticks;
  record.host_pid_ns = host.pid_ns;
}

ProcessIdentity host_process(const RunRecord& record) {
  return ProcessIdentity{static_cast<pid_t>(record.pid_of_host), record.host_start_ticks, record.host_boot_id,
                         record.host_pid_ns};
}

}  // namespace dihya::host
