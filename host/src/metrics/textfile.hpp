// SPDX-License-Identifier: AGPL-3.0-or-later
// Prometheus textfile-collector metrics, written after every run so node_exporter
// (--collector.textfile.directory) can alert on a backup that has not succeeded
// for a day. Counters survive between runs in <state_dir>/metrics.json; the
// .prom file is replaced atomically, so the collector never reads half a file.
// Concurrent runs serialise on an flock of <state_dir>/metrics.lock.
#pragma once

#include <filesystem>

#include "runs/run_record.hpp"

namespace dihya::host {

// Adds the finished run `record` (which lasted `seconds`) to the counters and
// rewrites <metrics_dir>/dihya.prom. Throws a state error (errors.hpp) naming
// the file and the reason when it cannot; the caller warns, since metrics must
// never fail a run.
void record_run_metrics(const std::filesystem::path& metrics_dir, const std::filesystem::path& state_dir,
                        const RunRecord& record, double seconds);

// Counts `record` under its outcome in dihya_runs_total and rewrites the file,
// leaving the plugin's last-run gauges alone: for a run whose outcome changed
// after it ended (rolled back by `rollback`) or that is found interrupted, by
// a later command, after the plugin may have run again. Throws as above.
void count_run_outcome(const std::filesystem::path& metrics_dir, const std::filesystem::path& state_dir,
                       const RunRecord& record);

}  // namespace dihya::host
