#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Concurrency policy 'forbid': of two parallel runs exactly one runs, the
# other is refused naming the running run; the lock dies with its process.
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
finish
