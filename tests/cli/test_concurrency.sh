#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Concurrency policy 'forbid': of two parallel runs exactly one runs, the
# other is refused naming the running run; the lock dies with its process.
# Hundreds of runs of several hosts at once on one state dir all end and are
# recorded.
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
table=conc_$$
psql_q "drop table if exists $table; create table $table (id int primary key); insert into $table select generate_series(1, 100)" >/dev/null

"$DIHYA_HOST" run purge_rows -p table=$table -p max_id=100 -p batch=10 -p sleep_ms=200 --yes >"$WORK/first.out" 2>&1 &
first=$!
sleep 0.7
expect_exit 2 "a second run of a 'forbid' plugin is refused" -- dh run purge_rows -p table=$table -p max_id=100 --yes
expect_in "$ERR" "already running as run" "the refusal names the running run"
wait "$first"
expect_eq "$(psql_q "select count(*) from $table")" 0 "the first run completed"
expect_exit 0 "after it ends, the plugin runs again" -- dh run purge_rows -p table=$table -p max_id=100 --yes

psql_q "insert into $table select generate_series(1, 50)" >/dev/null
"$DIHYA_HOST" run purge_rows -p table=$table -p max_id=100 -p batch=5 -p sleep_ms=200 --yes >/dev/null 2>&1 &
victim=$!
sleep 0.5
kill -9 "$victim"
wait "$victim" 2>/dev/null || true
expect_exit 0 "no stale lock after kill -9" -- dh run purge_rows -p table=$table -p max_id=0 --yes
psql_q "drop table $table" >/dev/null

# Many hosts at once on one state dir (the scheduler's bursts, without it):
# 6 loops of 60 runs each share the spare directories, the state log, the
# audit log and the sweeps. Two runs once waited for ever, each for the
# other's work dir; `timeout` turns such a hang into a failure (a guard, not
# a timing: the loops take seconds).
for loop in 1 2 3 4 5 6; do
  ( for i in $(seq 60); do "$DIHYA_HOST" run noop -q >/dev/null 2>>"$WORK/burst.err" || echo "run failed: exit $?" >>"$WORK/burst.err"; done ) &
  loops+=($!)
done
hung=0
# A sanitizer build on a loaded machine takes seconds per run.
guard=300; [ "${DIHYA_TEST_SANITIZED:-0}" = 1 ] && guard=1500
for p in "${loops[@]}"; do
  timeout "$guard" tail --pid="$p" -f /dev/null || hung=1
done
for p in "${loops[@]}"; do kill -9 "$p" 2>/dev/null || true; done
expect_eq "$hung" 0 "360 runs from 6 hosts at once all end"
expect_eq "$(cat "$WORK/burst.err" 2>/dev/null)" "" "and none fails"
expect_exit 0 "history of the burst" -- dh history --plugin noop --json --limit 1000
expect_eq "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r), sum(x["outcome"] == "succeeded" for x in r))' "$OUT")" "360 360" \
  "every run recorded, each succeeded"
expect_exit 0 "the audit log is intact after the burst" -- dh audit verify
expect_eq "$(find "$DIHYA_STATE_DIR/work" -mindepth 1 | wc -l)" 0 "no work dir left behind"
[ "$(find "$DIHYA_STATE_DIR/spare" -mindepth 1 -maxdepth 1 | wc -l)" -le 32 ] && ok "at most 32 spare dirs kept" || not_ok "more than 32 spare dirs"

# A host in another pid namespace (a container sharing the state dir) took
# a live run for one whose host had died: its pid means nothing there. It
# rolled the run back under its feet, and the run's later steps could never
# be undone. Needs root (a new pid namespace).
if [ "$(id -u)" = 0 ] && unshare -p -f --mount-proc true 2>/dev/null; then
  psql_q "create table conc_ns (id int primary key); insert into conc_ns select generate_series(1, 40)" >/dev/null
  "$DIHYA_HOST" run purge_rows -p table=conc_ns -p max_id=100 -p batch=4 -p sleep_ms=300 --yes >/dev/null 2>&1 &
  slow=$!
  live=""
  for _ in $(seq 200); do
    live=$(dh history --plugin purge_rows --json | python3 -c 'import json,sys; r=[x["id"] for x in json.load(sys.stdin) if x["outcome"] == "running"]; print(r[0] if r else "")')
    [ -n "$live" ] && break
    sleep 0.05
  done
  expect_exit 2 "rollback from another pid namespace of a live run" -- unshare -p -f --mount-proc "$DIHYA_HOST" rollback "$live"
  expect_in "$ERR" "is still running" "it is still running, seen from there"
  expect_exit 0 "history from another pid namespace" -- unshare -p -f --mount-proc "$DIHYA_HOST" history --plugin purge_rows --json
  expect_eq "$(python3 -c 'import json,sys; print([x["outcome"] for x in json.load(open(sys.argv[1])) if x["id"] == sys.argv[2]])' "$OUT" "$live")" "['running']" \
    "history there shows it running, not interrupted"
  wait "$slow"
  expect_exit 0 "its record" -- dh show "$live" --json
  expect_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outcome"])' "$OUT") $(psql_q "select count(*) from conc_ns")" "succeeded 0" \
    "the run ends as it would have"
  expect_exit 0 "and can be rolled back whole" -- dh rollback "$live"
  expect_eq "$(psql_q "select count(*) from conc_ns")" 40 "every row is back"
  psql_q "drop table conc_ns" >/dev/null
else
  echo "skip: pid namespaces need root"
fi
finish
