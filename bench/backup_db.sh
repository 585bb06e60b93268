#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# backup_db against its anchors, side by side in one run, on a seeded
# reference database in a private PostgreSQL cluster:
#   backup   `dihya-host run backup_db mode=backup jobs=2`  vs  bare `pg_dump -Fd -j2`
#   restore  `dihya-host run backup_db mode=restore jobs=2` vs  bare `createdb` + `pg_restore -j2`
#            (ours checks the backup's checksums first and creates the database itself)
#   verify   `dihya-host run backup_db mode=verify` (jobs=1, 2) vs `sha256sum` of the same files (hyperfine)
# Backup and restore run in alternating rounds (ours, bare, bare, ours...) so
# that the load of a shared machine hits both sides alike; the table shows the
# median wall time, the median of the per-round ratios, and the CPU time
# (user+sys of the client processes, insensitive to load).
# Prints a Markdown table, also written to $OUT/results.md (default: the work dir).
#
#   bench/backup_db.sh [USERS] [ROUNDS]
#     USERS   seed.sh --users (default 60000: ~0.2 GB, a few minutes; ~310000 gives ~1 GB)
#     ROUNDS  alternating rounds / hyperfine runs (default 3)
# Env: DIHYA_HOST, DIHYA_BUNDLED_PLUGIN_DIR (default: build/default), KEEP_BENCH=1 keeps the work dir.
set -euo pipefail
users=${1:-60000}
rounds=${2:-3}
source "$(dirname "$0")/lib.sh"
bench_setup backup_db
bench_start_pg
admin=${url/\/dihya_test\?/\/postgres?}
restore_url=${url/\/dihya_test\?/\/bench_restore?}
bindir="/usr/lib/postgresql/$(( $(psql -XAtq "$url" -c "show server_version_num") / 10000 ))/bin"
echo "seeding $users users..." >&2
"$root/tests/fixtures/platform/seed.sh" --database-url "$url" --users "$users"
psql -X -q "$url" -c "vacuum analyze" >/dev/null
db_bytes=$(psql -XAtq "$url" -c "select pg_database_size(current_database())")


# One backup of each kind to restore and verify.
"$host" run backup_db -q -p mode=backup -p backup_dir="$work/ours" -p jobs=2 >/dev/null
backup_name=$(ls "$work/ours" | grep -v '^\.' | tail -n 1)
backup_path="$work/ours/$backup_name"
backup_bytes=$(du -sb --apparent-size "$backup_path/dump" | cut -f1)
"$bindir/pg_dump" -Fd -j2 -f "$work/bare_dump" -d "$url"

# name|prepare|command (run by sh -c; prepare is not timed).
cat >"$work/cases.txt" <<EOF
backup ours|rm -rf $work/round_ours|$host run backup_db -q -p mode=backup -p backup_dir=$work/round_ours -p jobs=2
backup bare|rm -rf $work/round_bare|$bindir/pg_dump -Fd -j2 -f $work/round_bare -d '$url'
restore ours|$bindir/dropdb --if-exists --maintenance-db='$admin' bench_restore|$host run backup_db -q --yes -p mode=restore -p backup_dir=$work/ours -p backup=$backup_name -p target_database=bench_restore -p jobs=2
restore bare|$bindir/dropdb --if-exists --maintenance-db='$admin' bench_restore|$bindir/createdb --maintenance-db='$admin' -T template0 bench_restore && $bindir/pg_restore -j2 --exit-on-error -d '$restore_url' $work/bare_dump
EOF

python3 - "$work" "$rounds" <<'PY' >&2
import json, os, resource, subprocess, sys, time
work, rounds = sys.argv[1], int(sys.argv[2])
cases = [line.rstrip("\n").split("|", 2) for line in open(f"{work}/cases.txt")]
results = {name: [] for name, _, _ in cases}
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
for kind in ("backup", "restore"):
    for rnd in range(rounds):
        # Who goes first alternates too: the first of a pair may find colder caches.
        pair = [c for c in cases if c[0].startswith(kind)]
        for name, prepare, command in (pair if rnd % 2 == 0 else pair[::-1]):
            subprocess.run(prepare, shell=True, check=True)
            c0, t0 = cpu(), time.monotonic()
            subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL)
            wall, cpu_s = time.monotonic() - t0, cpu() - c0
            results[name].append({"wall": wall, "cpu": cpu_s})
            print(f"round {rnd + 1}: {name}: {wall:.2f} s wall, {cpu_s:.2f} s cpu", file=sys.stderr)
json.dump(results, open(f"{work}/rounds.json", "w"))
PY

cat >"$work/sha256sum_all.sh" <<EOF
#!/bin/sh
cd "$backup_path" && find dump -type f -print0 | xargs -0 sha256sum >/dev/null
EOF
chmod 755 "$work/sha256sum_all.sh"
hyperfine -N --runs "$rounds" --warmup 1 --export-json "$work/verify.json" \
  -n "backup_db verify jobs=1" "$host run backup_db -q -p mode=verify -p backup_dir=$work/ours -p backup=$backup_name -p jobs=1" \
  -n "backup_db verify jobs=2" "$host run backup_db -q -p mode=verify -p backup_dir=$work/ours -p backup=$backup_name -p jobs=2" \
  -n "sha256sum of the same files" "$work/sha256sum_all.sh" >&2

python3 - "$work" "$users" "$db_bytes" "$backup_bytes" "$rounds" <<'PY' | tee "$OUT/results.md"
import json, statistics as st, sys
work, users, db_bytes, backup_bytes, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = json.load(open(f"{work}/rounds.json"))
print(f"database: seed.sh --users {users}, pg_database_size {db_bytes/1e9:.2f} GB; "
      f"dump (directory format, default gzip) {backup_bytes/1e6:.0f} MB; {rounds} alternating rounds\n")
print("| benchmark | ours (median wall) | anchor (median wall) | ratio of medians | median per-round ratio | CPU ours / anchor |")
print("|---|---|---|---|---|---|")
def row(what, ours, bare):
    o, b = r[ours], r[bare]
    om, bm = st.median(x["wall"] for x in o), st.median(x["wall"] for x in b)
    per = st.median(x["wall"] / y["wall"] for x, y in zip(o, b))
    oc, bc = st.median(x["cpu"] for x in o), st.median(x["cpu"] for x in b)
    print(f"| {what} | {om:.2f} s | {bm:.2f} s | {om/bm:.3f}x | {per:.3f}x | {oc:.2f} s / {bc:.2f} s |")
row("backup: backup_db jobs=2 vs `pg_dump -Fd -j2`", "backup ours", "backup bare")
row("restore: backup_db jobs=2 (checksums checked first) vs `createdb` + `pg_restore -j2`", "restore ours", "restore bare")
v = {x["command"]: x for x in json.load(open(f"{work}/verify.json"))["results"]}
sha = v["sha256sum of the same files"]
for jobs in (1, 2):
    ours = v[f"backup_db verify jobs={jobs}"]
    print(f"| verify jobs={jobs} (+ pg_restore --list, host start) vs `sha256sum`, MB/s | "
          f"{backup_bytes/1e6/ours['median']:.0f} MB/s ({ours['median']:.2f} s) | {backup_bytes/1e6/sha['median']:.0f} MB/s ({sha['median']:.2f} s) | "
          f"{ours['median']/sha['median']:.3f}x time | - | {ours['user']+ours['system']:.2f} s / {sha['user']+sha['system']:.2f} s |")
PY
