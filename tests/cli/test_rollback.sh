#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The journal and rollback against a real PostgreSQL table: failure, timeout,
# kill -9 of the host and --no-rollback all end with the table exactly as it
# was (same row checksum).
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"

table=items_$$
reset_table() {
  psql_q "drop table if exists $table; create table $table (id int primary key, payload text, at timestamptz);
          insert into $table select g, md5(g::text), '2026-01-01'::timestamptz + g * interval '1 minute' from generate_series(1, 1000) g;" >/dev/null
}
checksum() { psql_q "select md5(coalesce(string_agg(t::text, '|' order by id), '')) from $table t"; }
rows() { psql_q "select count(*) from $table"; }

reset_table
before=$(checksum)
# A destructive run on a terminal asks first; `script` gives it one.
printf 'n\n' | script -qec "$DIHYA_HOST run purge_rows -p table=$table -p max_id=500" /dev/null >"$OUT" 2>&1 && got=0 || got=$?
expect_eq "$got" 2 "answering no on a terminal runs nothing (exit 2)"
expect_in "$OUT" "purge_rows is destructive. Run it? [y/N]" "the terminal is asked"
expect_eq "$(checksum)" "$before" "a refused run changes nothing"
expect_exit 0 "dry run" -- dh run purge_rows -p table=$table -p max_id=500 --dry-run --yes
expect_eq "$(checksum)" "$before" "dry run changes nothing"
expect_eq "$(last_run_field outcome)" dry_run "dry run recorded"

expect_exit 5 "a failing destructive run is rolled back" -- dh run purge_rows -p table=$table -p max_id=500 -p batch=50 -p fail_after_batches=3 --yes
expect_eq "$(checksum)" "$before" "rollback after failure restores the table"
expect_eq "$(last_run_field outcome)" rolled_back "recorded as rolled_back"

expect_exit 4 "a timed-out destructive run" -- dh run purge_rows -p table=$table -p max_id=900 -p batch=10 -p sleep_ms=100 --timeout 1 --yes
expect_eq "$(checksum)" "$before" "rollback after timeout restores the table"

expect_exit 1 "--no-rollback keeps the changes" -- dh run purge_rows -p table=$table -p max_id=500 -p batch=50 -p fail_after_batches=2 --no-rollback --yes
expect_eq "$(rows)" 900 "100 rows deleted and kept"
run_id=$(last_run_id)
expect_exit 0 "rollback <run-id>" -- dh rollback "$run_id"
expect_eq "$(checksum)" "$before" "manual rollback restores the table"
expect_exit 0 "rollback is idempotent" -- dh rollback "$run_id"
expect_eq "$(checksum)" "$before" "second rollback changes nothing"

# kill -9 of the host in the middle of a destructive run.
"$DIHYA_HOST" run purge_rows -p table=$table -p max_id=1000 -p batch=20 -p sleep_ms=200 --yes >"$OUT" 2>"$ERR" &
host_pid=$!
for _ in $(seq 100); do
  [ "$(rows)" -lt 960 ] && break
  sleep 0.1
done
kill -9 "$host_pid"
wait "$host_pid" 2>/dev/null || true
sleep 0.5
[ "$(rows)" -lt 1000 ] && ok "rows were deleted before the kill" || not_ok "nothing deleted before the kill"
expect_exit 0 "history after kill -9" -- dh history --json
expect_eq "$(last_run_field outcome)" interrupted "the killed run shows as interrupted"
run_id=$(last_run_id)
expect_exit 0 "rollback of the interrupted run" -- dh rollback "$run_id"
expect_eq "$(checksum)" "$before" "rollback after kill -9 restores the table exactly"

# kill -9 of a run that wrote a log but journalled nothing: marking it
# interrupted moves its log into the record and its directory goes. Its
# rollback put the log back into that directory first, failed, and failed
# again at every retry; the run stayed interrupted.
"$DIHYA_HOST" run hostile -p behaviour=log_and_hang -p seconds=60 >"$OUT" 2>"$ERR" &
host_pid=$!
for _ in $(seq 100); do
  compgen -G "$DIHYA_STATE_DIR/runs/*/log.txt" >/dev/null && break
  sleep 0.1
done
compgen -G "$DIHYA_STATE_DIR/runs/*/log.txt" >/dev/null && ok "the run wrote its log" || not_ok "the run wrote no log"
kill -9 "$host_pid"
wait "$host_pid" 2>/dev/null || true
expect_exit 0 "history after kill -9 of a run with a log and no journal" -- dh history --json
expect_eq "$(last_run_field outcome)" interrupted "that run shows as interrupted"
run_id=$(last_run_id)
expect_exit 0 "its rollback" -- dh rollback "$run_id"
expect_in "$OUT" "nothing to roll back" "its rollback says there was nothing to roll back"
expect_eq "$(last_run_field outcome)" rolled_back "the run is marked rolled back"
expect_exit 0 "its rollback again" -- dh rollback "$run_id"
expect_exit 0 "logs of that run" -- dh logs "$run_id"
expect_in "$OUT" "hanging for 60 s" "its log is kept"

psql_q "drop table if exists items; create table items as select * from $table; alter table items add primary key (id)" >/dev/null
expect_exit 0 "check --exercise: dry run and run→rollback" -- dh check purge_rows --exercise
expect_in "$OUT" "pass  run then rollback restores the prior state" "conformance run→rollback passes"
psql_q "drop table $table; drop table items" >/dev/null
finish
