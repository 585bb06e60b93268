// SPDX-License-Identifier: AGPL-3.0-or-later
// Writes a large run history through the calls `run` makes (the run dir,
// then the start and end records each carrying its audit line: AuditPut and
// the state dir's AuditLog), one run a minute from 2020-01-01, so
// bench/run.sh can time `history` and `show` at 10^4..10^6 runs over a state
// log and an audit log of the size real runs leave. Only the fdatasyncs are
// skipped (set_durable(false)): generating a million durable runs would take
// hours and time the disk, not the code.
//   gen_runs <state-dir> <first-index> <count>
// Plugins: every run is "noop" except every 10th "cleanup" and every
// 1000th "rare"; every other run names schedule "7".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "audit/audit_log.hpp"
#include "runs/process_identity.hpp"
#include "runs/run_id.hpp"
#include "runs/run_store.hpp"
#include "util/utc_time.hpp"

int main(int argc, char** argv) {
  using namespace dihya::host;
  if (argc != 4) {
    std::fprintf(stderr, "usage: gen_runs <state-dir> <first-index> <count>\n");
    return 2;
  }
  const std::string state = argv[1];
  const long long first = std::atoll(argv[2]);
  const long long count = std::atoll(argv[3]);
  RunStore store(std::filesystem::path(state) / "runs");
  store.set_durable(false);
  AuditLog audit = state_audit_log(state, false);
  const auto base = std::chrono::system_clock::time_point(std::chrono::seconds(1577836800));  // 2020-01-01
  const ProcessIdentity me = current_process_identity();
  for (long long i = first; i < first + count; ++i) {
    const auto at = base + std::chrono::minutes(i);
    RunRecord r;
    r.id = new_run_id(at);
    r.plugin = i % 1000 == 999 ? "rare" : i % 10 == 9 ? "cleanup" : "noop";
    r.plugin_version = "1.0.0";
    r.plugin_sha256 = std::string(64, 'a');
    r.user = "bench";
    r.host = "bench-host";
    r.params = nlohmann::json::object();
    r.started_at = format_iso_utc(at);
    if (i % 2 == 0) {
      r.schedule_id = "7";
      r.trigger = "scheduled";
    }
    set_host_process(r, me);
    store.create_dir(r.id);
    AuditPut start(store, r, AuditPut::Kind::kStart);
    audit.append("run.start",
                 {{"run_id", r.id}, {"plugin", r.plugin}, {"version", r.plugin_version}, {"sha256", r.plugin_sha256},
                  {"user", r.user}, {"host", r.host}, {"params", r.params}, {"dry_run", false},
                  {"schedule_id", r.schedule_id}, {"trigger", r.trigger}},
                 &start);
    r.ended_at = format_iso_utc(at + std::chrono::milliseconds(3));
    r.outcome = "succeeded";
    r.exit_code = 0;
    r.summary = "nothing done";
    r.result = nlohmann::json::object();
    AuditPut end(store, r, AuditPut::Kind::kEnd);
    audit.append("run.end",
                 {{"run_id", r.id}, {"plugin", r.plugin}, {"outcome", r.outcome}, {"exit_code", 0},
                  {"summary", r.summary}},
                 &end);
  }
  return 0;
}
