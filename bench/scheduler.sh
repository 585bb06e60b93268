#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# run_scheduler dispatch: N schedules (noop job) all due at the same instant,
# taken by 1 then 4 schedulers (max_jobs each). Prints claims/s (how fast the
# due runs were claimed), runs/s (claimed to finished), and the lag between
# the moment the runs became visible to the schedulers and each job's start
# (p50/p99). Every job is a full supervised `dihya-host run noop`, so runs/s
# is bounded by process start-up on this machine, not by the database.
#
#   bench/scheduler.sh [BUILD_DIR] [SCHEDULES] [MAX_JOBS]
set -euo pipefail
BUILD=${1:-build/default}
N=${2:-200}
JOBS=${3:-8}
BUILD=$(cd "$BUILD" && pwd)
export DIHYA_HOST=${DIHYA_HOST:-$BUILD/host/dihya-host} DIHYA_BUNDLED_PLUGIN_DIR=${DIHYA_BUNDLED_PLUGIN_DIR:-$BUILD/plugins}
source "$(dirname "$0")/lib.sh"
bench_setup run_scheduler
bench_start_pg
HOST=$host
export DIHYA_PLUGIN_PATH="$plugins:$BUILD/tests/plugins"
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$url" -c "$1"; }

"$HOST" schedule add warmup --plugin noop --cron "@yearly" >/dev/null  # creates the tables
echo "| schedulers | due runs | claims/s | runs/s | lag p50 (s) | lag p99 (s) |"
echo "|---|---|---|---|---|---|"
for k in 1 4; do
  q "delete from dihya.schedules" >/dev/null
  # Every schedule has exactly one due time: the current minute (UTC), next due tomorrow.
  q "insert into dihya.schedules (name, plugin, cron, misfire, overlap, starting_deadline_seconds, created_at, next_due_at)
     select 'b' || g, 'noop',
            extract(minute from now() at time zone 'UTC')::int || ' ' || extract(hour from now() at time zone 'UTC')::int || ' * * *',
            'run_all', 'allow', 3600,
            date_trunc('minute', now()) - interval '1 second', date_trunc('minute', now())
     from generate_series(1, $N) g" >/dev/null
  t0=$(q "select extract(epoch from clock_timestamp())")
  pids=()
  for i in $(seq "$k"); do
    "$HOST" run run_scheduler --quiet --param "scheduler_id=b$i" --param poll_seconds=0.05 --param "max_jobs=$JOBS" \
      >/dev/null 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1200); do
    [ "$(q "select count(*) from dihya.schedule_runs where finished_at is not null")" -ge "$N" ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  q "select '| $k | ' || count(*) || ' | '
        || round((count(*) / greatest(extract(epoch from max(claimed_at)) - $t0, 0.001))::numeric, 1) || ' | '
        || round((count(*) / greatest(extract(epoch from max(finished_at)) - $t0, 0.001))::numeric, 1) || ' | '
        || round(percentile_cont(0.5) within group (order by extract(epoch from started_at) - $t0)::numeric, 2) || ' | '
        || round(percentile_cont(0.99) within group (order by extract(epoch from started_at) - $t0)::numeric, 2) || ' |'
     from dihya.schedule_runs where outcome = 'succeeded'"
  q "delete from dihya.schedule_runs" >/dev/null
done
echo
echo "($N schedules, max_jobs=$JOBS per scheduler, poll 0.05 s, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
