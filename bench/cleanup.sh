#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# cleanup against its anchor, a single big DELETE, in a private PostgreSQL
# cluster: ROWS obsolete rows of a table (plus 200 000 live rows) are removed
# while a pgbench workload (4 clients: read + update of live rows of the same
# table) runs. Reports the deletion throughput (rows/s) of both and the
# workload's p99 latency idle, during the big DELETE and during cleanup
# (cleanup also moves every row to its typed quarantine table, in the same
# statement), side by side in one run, with the ratios. A third line is the
# floor of any quarantine that copies rows into a table: one statement
# moving every row at once (WITH d AS (DELETE ... RETURNING *) INSERT INTO
# q SELECT ... FROM d), no batches, no host; a fourth, the copy alone
# (INSERT INTO q SELECT ... of every obsolete row, nothing deleted): when it
# takes more than twice the DELETE, no quarantine that copies rows can reach
# half the DELETE's throughput. A last line runs cleanup paced
# (PACED_BATCH_MS batches, nice_ratio PACED_NICE: a pause after each batch)
# to show what the workload's p99 gains for the time it costs. Prints a
# Markdown table (also in $OUT/results.md) and the machine's load average.
#
#   bench/cleanup.sh [ROWS] [BATCH_MS] [PACED_BATCH_MS] [PACED_NICE]
#   defaults: 1000000, 50 (cleanup's max_batch_ms), 10, 4
# Env: DIHYA_HOST, DIHYA_BUNDLED_PLUGIN_DIR (default build/default/plugins), KEEP_BENCH=1.
set -euo pipefail
rows=${1:-1000000}
batch_ms=${2:-50}
paced_ms=${3:-10}
paced_nice=${4:-4}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
source "$(dirname "$0")/lib.sh"
bench_setup cleanup
bench_start_pg
"$root/tests/fixtures/platform/seed.sh" --database-url "$url" --users 100 2>/dev/null
live=200000
psql -X -q -v ON_ERROR_STOP=1 "$url" -c "
  create table items_tpl as
    select g::bigint as id, (g % 1000)::int as owner, md5(g::text) as payload,
           case when g <= $rows then now() - interval '400 days' else now() end as created_at
    from generate_series(1, $rows + $live) g"
reset() {
  psql -X -q -v ON_ERROR_STOP=1 "$url" -c "drop table if exists items; drop schema if exists dihya_quarantine cascade;
    create table items (like items_tpl); insert into items select * from items_tpl;
    alter table items add primary key (id); create index on items (created_at)" -c "vacuum analyze items" -c "checkpoint"
}
cat >"$work/workload.sql" <<SQL
\set id random($rows + 1, $rows + $live)
SELECT payload FROM items WHERE id = :id;
UPDATE items SET payload = md5(random()::text) WHERE id = :id;
SQL
cat >"$work/policy.yaml" <<'YAML'
tables:
  - {table: items, timestamp_column: created_at, older_than: 365d, action: delete}
YAML

# measure NAME SECONDS [command...]: runs pgbench for SECONDS, the command after 3 s;
# prints "name seconds_of_command p99_ms_during tps"
measure() {
  local name=$1 secs=$2; shift 2
  rm -rf "$work/log_$name"; mkdir -p "$work/log_$name"
  (cd "$work/log_$name" && pgbench -n -c 4 -j 2 -T "$secs" -f "$work/workload.sql" -l "$url" >/dev/null 2>&1) &
  local bench=$!
  sleep 3
  local t0=$EPOCHREALTIME t1
  if [[ $# -gt 0 ]]; then "$@" >/dev/null; fi
  t1=$EPOCHREALTIME
  [[ $# -gt 0 ]] || t1=$(python3 -c "print($t0 + $secs - 4)")
  wait "$bench"
  /usr/bin/python3 - "$work/log_$name" "$t0" "$t1" "$name" <<'PY'
import glob, sys
d, t0, t1, name = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
lat = []
for f in glob.glob(d + "/pgbench_log.*"):
    for line in open(f):
        p = line.split()
        end = int(p[4]) + int(p[5]) / 1e6
        if t0 <= end <= t1:
            lat.append(int(p[2]) / 1000.0)
lat.sort()
p99 = lat[int(len(lat) * 0.99) - 1] if lat else float("nan")
print(name, round(t1 - t0, 2), round(p99, 2), round(len(lat) / max(t1 - t0, 1e-9)))
PY
}
reset
idle=$(measure idle 14)
reset
big=$(measure delete 60 psql -X -q "$url" -c "delete from items where created_at < now() - interval '365 days'")
reset
psql -X -q -v ON_ERROR_STOP=1 "$url" -c "create schema dihya_quarantine; create table dihya_quarantine.q (like items,
  r text not null, b int not null, a text not null, e timestamptz not null);
  create index on dihya_quarantine.q using brin (r, b)"
floor=$(measure floor 60 psql -X -q "$url" -c "with d as (delete from items where created_at < now() - interval '365 days' returning *)
  insert into dihya_quarantine.q select d.*, 'run', 1, 'delete', now() + interval '30 days' from d")
reset
psql -X -q -v ON_ERROR_STOP=1 "$url" -c "create schema dihya_quarantine; create table dihya_quarantine.q (like items,
  r text not null, b int not null, a text not null, e timestamptz not null)"
copy=$(measure copy 60 psql -X -q "$url" -c "insert into dihya_quarantine.q
  select i.*, 'run', 1, 'delete', now() + interval '30 days' from items i where created_at < now() - interval '365 days'")
reset
ours=$(measure cleanup 90 "$host" run cleanup -q -p policy="$work/policy.yaml" -p max_batch_ms="$batch_ms" --yes)
left=$(psql -XAtq "$url" -c "select count(*) from items where created_at < now() - interval '365 days'")
qtable=$(psql -XAtq "$url" -c "select quote_ident(quarantine_table) from dihya_quarantine.tables where source_table = 'items'")
batches=$(psql -XAtq "$url" -c "select count(distinct _dihya_batch) from dihya_quarantine.$qtable")
reset
paced=$(measure paced 90 "$host" run cleanup -q -p policy="$work/policy.yaml" -p max_batch_ms="$paced_ms" -p nice_ratio="$paced_nice" --yes)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$rows" "$batch_ms" "$left" "$idle" "$big" "$ours" "$batches" "$load_before" "$load_after" "$floor" "$copy" "$paced" "$paced_ms" "$paced_nice" <<'PY' | tee "$OUT/results.md"
import sys
rows, batch, left = int(sys.argv[1]), sys.argv[2], sys.argv[3]
idle, big, ours = (s.split() for s in sys.argv[4:7])
batches, load_before, load_after = sys.argv[7], sys.argv[8], sys.argv[9]
floor, copy, paced = sys.argv[10].split(), sys.argv[11].split(), sys.argv[12].split()
paced_ms, paced_nice = sys.argv[13], sys.argv[14]
p99_idle = float(idle[2])
print("| %d obsolete rows, pgbench 4 clients on the same table | seconds | rows/s | throughput vs DELETE | workload p99 ms | p99 vs idle | workload tps |" % rows)
print("|---|---:|---:|---:|---:|---:|---:|")
print("| idle (no deletion) | | | | %.2f | 1.00× | %s |" % (p99_idle, idle[3]))
t_big = float(big[1])
for label, r in (("single `DELETE`", big), ("copy alone: INSERT ... SELECT of every row, nothing deleted", copy),
                 ("floor: one statement moving every row into a table", floor),
                 ("cleanup (batches of ~%s ms, typed quarantine)" % batch, ours),
                 ("cleanup paced (batches of ~%s ms, nice_ratio %s)" % (paced_ms, paced_nice), paced)):
    t = float(r[1])
    print("| %s | %.1f | %.0f | %.2f× | %.2f | %.2f× | %s |" % (label, t, rows / t, t_big / t, float(r[2]), float(r[2]) / p99_idle, r[3]))
print("\nobsolete rows left after cleanup: %s; cleanup batches: %s (%.0f rows each on average)" % (left, batches, rows / max(int(batches), 1)))
print("load average (1, 5, 15 min) before: %s, after: %s" % (load_before, load_after))
PY
