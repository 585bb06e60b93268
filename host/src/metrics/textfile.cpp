// SPDX-License-Identifier: AGPL-3.0-or-later
#include "metrics/textfile.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <dihya/json_text.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "errors.hpp"
#include "util/atomic_file.hpp"
#include "util/trusted_path.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

// Label values are escaped as the exposition format requires.
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string exposition(const nlohmann::json& state) {
  std::string out =
      "# HELP dihya_runs_total Runs by plugin and outcome.\n# TYPE dihya_runs_total counter\n";
  for (const auto& [plugin, p] : state.items()) {
    for (const auto& [outcome, n] : p.at("runs").items()) {
      out += fmt::format("dihya_runs_total{{plugin=\"{}\",outcome=\"{}\"}} {}\n", label(plugin), label(outcome),
                         n.get<long long>());
    }
  }
  out += "# HELP dihya_run_duration_seconds Duration of the plugin's last run.\n"
         "# TYPE dihya_run_duration_seconds gauge\n";
  // A plugin whose runs were only counted (count_run_outcome) has no gauges.
  for (const auto& [plugin, p] : state.items()) {
    if (!p.contains("last_duration_seconds")) continue;
    out += fmt::format("dihya_run_duration_seconds{{plugin=\"{}\"}} {:.3f}\n", label(plugin),
                       p.at("last_duration_seconds").get<double>());
  }
  out += "# HELP dihya_run_last_success_timestamp Unix time of the plugin's last successful run.\n"
         "# TYPE dihya_run_last_success_timestamp gauge\n";
  for (const auto& [plugin, p] : state.items()) {
    if (p.contains("last_success_timestamp")) {
      out += fmt::format("dihya_run_last_success_timestamp{{plugin=\"{}\"}} {}\n", label(plugin),
                         p.at("last_success_timestamp").get<long long>());
    }
  }
  out += "# HELP dihya_run_last_timestamp Unix time of the end of the plugin's last run.\n"
         "# TYPE dihya_run_last_timestamp gauge\n";
  for (const auto& [plugin, p] : state.items()) {
    if (!p.contains("last_timestamp")) continue;
    out += fmt::format("dihya_run_last_timestamp{{plugin=\"{}\"}} {}\n", label(plugin),
                       p.at("last_timestamp").get<long long>());
  }
  out += "# HELP dihya_run_last_exit_code Exit code of the plugin's last run.\n"
         "# TYPE dihya_run_last_exit_code gauge\n";
  for (const auto& [plugin, p] : state.items()) {
    if (!p.contains("last_exit_code")) continue;
    out += fmt::format("dihya_run_last_exit_code{{plugin=\"{}\"}} {}\n", label(plugin),
                       p.at("last_exit_code").get<int>());
  }
  return out;
}

nlohmann::json load_state(const std::filesystem::path& file) {
  std::string text;
  try {
    text = read_file(file);
  } catch (const HostError&) {
    return nlohmann::json::object();
  }
  // The host's own counters, but a damaged or planted file must only reset
  // them (record_run_metrics): nothing nested deeper than they are, which
  // the copies and dumps below would recurse through once per level.
  try {
    auto state = dihya::parse_json_limited(text, 8);
    if (state.is_object()) return state;
  } catch (const dihya::Error&) {
  }
  return nlohmann::json::object();
}

nlohmann::json& count_run(nlohmann::json& state, const RunRecord& record) {
  auto& p = state[record.plugin];
  if (!p.is_object()) p = nlohmann::json::object();
  auto& count = p["runs"][record.outcome];
  count = (count.is_number_integer() ? count.get<long long>() : 0) + 1;
  return p;
}

void add_run(nlohmann::json& state, const RunRecord& record, double seconds) {
  auto& p = count_run(state, record);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  p["last_duration_seconds"] = seconds;
  p["last_timestamp"] = now;
  p["last_exit_code"] = record.exit_code.value_or(-1);
  if (record.outcome == kOutcomeSucceeded) p["last_success_timestamp"] = now;
}

// Applies `change` to the counters of <state_dir>/metrics.json under their
// lock and rewrites both files.
template <typename Change>
void update_metrics(const std::filesystem::path& metrics_dir, const std::filesystem::path& state_dir, Change change) {
  UniqueFd lock(::open((state_dir / "metrics.lock").c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX) != 0) {
    throw state_error(fmt::format("cannot lock {}", (state_dir / "metrics.lock").string()));
  }
  const auto state_file = state_dir / "metrics.json";
  nlohmann::json state = load_state(state_file);
  try {
    change(state);
    (void)exposition(state);
  } catch (const nlohmann::json::exception&) {
    // A state file edited into another shape starts the counters afresh.
    state = nlohmann::json::object();
    change(state);
  }
  // 0755: node_exporter, another user, reads the file.
  prepare_private_dir(metrics_dir, "metrics dir", 0755);
  write_file_atomically(state_file, state.dump() + "\n", 0600);
  write_file_atomically(metrics_dir / "dihya.prom", exposition(state), 0644);
}

}  // namespace

void record_run_metrics(const std::filesystem::path& metrics_dir, const std::filesystem::path& state_dir,
                        const RunRecord& record, double seconds) {
  update_metrics(metrics_dir, state_dir, [&](nlohmann::json& state) { add_run(state, record, seconds); });
}

void count_run_outcome(const std::filesystem::path& metrics_dir, const std::filesystem::path& state_dir,
                       const RunRecord& record) {
  update_metrics(metrics_dir, state_dir, [&](nlohmann::json& state) { count_run(state, record); });
}

}  // namespace dihya::host
