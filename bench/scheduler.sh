#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# run_scheduler dispatch: for each case KxN, K resident schedulers are started
# and left asleep (nothing due), then N schedules (noop job) become due at the
# same instant in one INSERT (its NOTIFY wakes the schedulers). Prints:
#   claims/s  how fast the due runs were claimed (N / last claim), apart from
#   runs/s    claimed to finished (N / last finish: bounded by job start-up,
#             since every job is a full supervised `dihya-host run noop`);
#   dispatch  from the INSERT to each run's start by its scheduler (row marked
#             running, process spawned next: p50/p99);
#   job start from the INSERT to the start of each job's own run record (the
#             `dihya-host run` child has started its supervised run: p50/p99);
#   dup, miss due runs executed twice (history vs N) and due runs not succeeded;
#   CPU/run   user + sys CPU of the schedulers, their zygotes and all their jobs
#             (/usr/bin/time on each scheduler's host), per due run, in ms:
#             independent of what else the machine runs (the database's CPU apart);
#   DB CPU/run the database's CPU per due run, in ms: user + sys of the cluster's
#             processes (the postmaster and the backends alive at the end:
#             the schedulers', not the bench's own short sessions).
#
#   bench/scheduler.sh [BUILD_DIR] [MAX_JOBS] [CASES...]      (default: 8 1x200 4x2000)
# MAX_JOBS "cpus": run_scheduler's own default (one job per CPU, per scheduler).
# Env: LAUNCHER (zygote, the default, or exec: run_scheduler's launcher
# parameter), CLAIM_BATCH (default ceil(N/K): the first claim of each scheduler
# takes its share), WAIT_MAX seconds per case (default 1800).
set -euo pipefail
BUILD=${1:-build/default}
JOBS=${2:-8}
shift 2 2>/dev/null || shift $#
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(1x200 4x2000)
BUILD=$(cd "$BUILD" && pwd)
export DIHYA_HOST=${DIHYA_HOST:-$BUILD/host/dihya-host} DIHYA_BUNDLED_PLUGIN_DIR=${DIHYA_BUNDLED_PLUGIN_DIR:-$BUILD/plugins}
source "$(dirname "$0")/lib.sh"
bench_setup run_scheduler
bench_start_pg
HOST=$host
export DIHYA_PLUGIN_PATH="$plugins:$BUILD/tests/plugins"
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$url" -c "$1"; }
# job_starts T0: p50/p99 of the run records' started_at - T0 and their count, for runs started after T0.
job_starts() {
  "$HOST" history --plugin noop --json --limit 1000000 | python3 -c '
import json, sys, datetime
t0 = float(sys.argv[1])
lag = sorted(datetime.datetime.fromisoformat(r["started_at"].replace("Z", "+00:00")).timestamp() - t0
             for r in json.load(sys.stdin) if r.get("trigger") == "scheduled")
lag = [x for x in lag if x >= -0.001]
pct = lambda p: lag[min(len(lag) - 1, int(p * len(lag)))] if lag else float("nan")
print(f"{pct(0.5):.2f} {pct(0.99):.2f} {len(lag)}")' "$1"
}

"$HOST" schedule add warmup --plugin noop --cron "@yearly" >/dev/null  # creates the tables
postmaster=$(head -1 "$work/pg/data/postmaster.pid")
# db_ticks: CPU clock ticks (user + sys) of the postmaster and its live children.
db_ticks() {
  local pid
  for pid in "$postmaster" $(pgrep -P "$postmaster"); do
    sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null || true  # utime, stime: fields 12, 13 after the name
  done | awk '{ t += $12 + $13 } END { print t + 0 }'
}
echo "| schedulers x due runs | claim batch | claims/s | runs/s | dispatch p50 / p99 (s) | job start p50 / p99 (s) | dup | miss | CPU/run (ms) | DB CPU/run (ms) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
jobs_param=()
[ "$JOBS" = cpus ] || jobs_param=(--param "max_jobs=$JOBS")
for c in "${CASES[@]}"; do
  k=${c%x*}
  n=${c#*x}
  batch=${CLAIM_BATCH:-$(((n + k - 1) / k))}
  q "delete from dihya.schedules" >/dev/null
  pids=()
  for i in $(seq "$k"); do
    /usr/bin/time -f "%U %S" -o "$work/cpu$i" \
      "$HOST" run run_scheduler --quiet --param "scheduler_id=b$i" "${jobs_param[@]}" --param "claim_batch=$batch" \
      --param "launcher=${LAUNCHER:-zygote}" \
      >/dev/null 2>"$work/b$i.err" &
    pids+=($!)
  done
  # Resident and asleep: each one's last statement is the next-due query before its wait.
  for _ in $(seq 600); do
    [ "$(q "select count(*) from pg_stat_activity where state = 'idle' and query like '%min(next_due_at)%'")" -ge "$k" ] && break
    sleep 0.1
  done
  # Every schedule has exactly one due time: the current minute (UTC), next due tomorrow.
  db0=$(db_ticks)
  t0=$(q "select extract(epoch from clock_timestamp())")
  q "insert into dihya.schedules (name, plugin, cron, misfire, overlap, starting_deadline_seconds, created_at, next_due_at)
     select 'b' || g, 'noop',
            extract(minute from now() at time zone 'UTC')::int || ' ' || extract(hour from now() at time zone 'UTC')::int || ' * * *',
            'run_all', 'allow', 3600,
            date_trunc('minute', now()) - interval '1 second', date_trunc('minute', now())
     from generate_series(1, $n) g" >/dev/null
  # Wait for every run to finish from one session polling in SQL: a psql
  # started every 0.2 s (Debian's perl wrapper, a new backend each time) took
  # ~5 % of the CPU the jobs are measured on.
  q "do \$\$ begin
       for i in 1..${WAIT_MAX:-1800} * 5 loop
         exit when (select count(*) from dihya.schedule_runs where finished_at is not null) >= $n;
         perform pg_sleep(0.2);
       end loop;
     end \$\$" >/dev/null
  db_ms=$(awk -v a="$db0" -v b="$(db_ticks)" -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.2f", 1000 * (b - a) / hz / n }')
  # SIGTERM to each scheduler's host, not to /usr/bin/time (which would die without a report).
  for p in "${pids[@]}"; do kill -TERM $(pgrep -P "$p") 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  cpu_ms=$(cat "$work"/cpu* | awk -v n="$n" '{ s += $1 + $2 } END { printf "%.1f", 1000 * s / n }')
  rm -f "$work"/cpu*
  read -r jp50 jp99 executed < <(job_starts "$t0")
  q "select '| $k x $n | $batch | '
        || round((count(*) / greatest(extract(epoch from max(claimed_at)) - $t0, 0.001))::numeric, 0) || ' | '
        || round((count(*) / greatest(extract(epoch from max(finished_at)) - $t0, 0.001))::numeric, 1) || ' | '
        || round(percentile_cont(0.5) within group (order by extract(epoch from started_at) - $t0)::numeric, 2) || ' / '
        || round(percentile_cont(0.99) within group (order by extract(epoch from started_at) - $t0)::numeric, 2) || ' | '
        || '$jp50 / $jp99 | '
        || greatest($executed - count(*) filter (where outcome = 'succeeded'), 0) || ' | '
        || ($n - count(*) filter (where outcome = 'succeeded')) || ' | $cpu_ms | $db_ms |'
     from dihya.schedule_runs"
  q "delete from dihya.schedule_runs" >/dev/null
done
echo
echo "(launcher ${LAUNCHER:-zygote}, max_jobs=$JOBS per scheduler, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
