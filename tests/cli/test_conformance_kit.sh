#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# `check --exercise` proves something or fails: it runs on a scratch copy of
# the database, reports per table what the run changed and the rollback put
# back, names the table and the first differing row on a mismatch, refuses an
# exercise that changed nothing, and never touches the configured database.
# Each failure is committed on purpose by a test plugin (tests/plugins/).
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"

psql_q "create table items (id int primary key, payload text);
        insert into items select g, 'row ' || g from generate_series(1, 50) g" >/dev/null
checksum() { psql_q "select md5(coalesce(string_agg(t::text, '|' order by id), '')) from items t"; }
before=$(checksum)
scratch_name() {  # the scratch database the JSON report names
  python3 -c 'import json,sys; print(next(c["detail"] for c in json.load(sys.stdin)["checks"] if c["check"].startswith("exercise runs on a scratch")))' <"$OUT"
}
db_exists() { psql_q "select count(*) from pg_database where datname = '$1'"; }
table_field() {  # table_field TABLE FIELD from the JSON report
  python3 -c "import json,sys; print(next(t['$2'] for t in json.load(sys.stdin)['tables'] if t['table']=='$1'))" <"$OUT"
}

# A conforming destructive plugin: what it changed and restored, per table.
expect_exit 0 "purge_rows conforms" -- dh check purge_rows --exercise
expect_in "$OUT" "pass  exercise runs on a scratch copy of the database" "the exercise runs on a scratch copy"
expect_in "$OUT" "pass  the exercise changes data" "its exercise changes data"
expect_in "$OUT" "pass  run then rollback restores the prior state" "and its rollback restores it"
expect_in "$OUT" "TABLE         CHANGED BY RUN  RESTORED BY ROLLBACK" "the per-table report is printed"
expect_in "$OUT" "public.items  10 (-10 +0)     10" "10 rows deleted by the run, 10 restored"
expect_eq "$(checksum)" "$before" "the configured database is untouched"
expect_exit 0 "purge_rows check --json" -- dh check purge_rows --exercise --json
expect_eq "$(table_field public.items changed_by_run)" 10 "JSON: changed_by_run"
expect_eq "$(table_field public.items restored_by_rollback)" 10 "JSON: restored_by_rollback"
scratch=$(scratch_name)
case "$scratch" in dihya_check_*) ok "the scratch database is named for what it is ($scratch)" ;; *) not_ok "scratch name '$scratch'" ;; esac
expect_eq "$(db_exists "$scratch")" 0 "the scratch database is dropped afterwards"

# Fault: the rollback restores nothing. The kit names the table and the first missing row.
expect_exit 1 "lazy_rollback does not conform" -- dh check lazy_rollback --exercise
expect_in "$OUT" "fail  run then rollback restores the prior state: after rollback, table public.items (10 row(s) differ): first differing row, missing: (1,\"row 1\")" \
  "the mismatch names the table and the first differing row"
expect_in "$OUT" "public.items  10 (-10 +0)     0" "the report shows nothing restored"
expect_in "$OUT" "lazy_rollback: does NOT conform" "verdict"
expect_eq "$(checksum)" "$before" "the broken rollback damaged nothing of the configured database"
expect_eq "$(psql_q 'select count(*) from items')" 50 "all 50 rows are still there"
expect_exit 1 "lazy_rollback check --json" -- dh check lazy_rollback --exercise --json
expect_eq "$(table_field public.items restored_by_rollback)" 0 "JSON: restored_by_rollback is 0"
expect_eq "$(db_exists "$(scratch_name)")" 0 "the scratch database is dropped after a failure too"

# Fault: a destructive plugin whose example changes nothing proves nothing.
expect_exit 1 "idle_exercise does not conform" -- dh check idle_exercise --exercise
expect_in "$OUT" "fail  the exercise changes data: exercise proved nothing: give an example that changes data" \
  "an exercise that changed nothing fails"
expect_not_in "$OUT" "pass  run then rollback restores the prior state" "and is not called a restoring rollback"

# Fault: a dry run that changes a row. The kit names the table and the row as it was.
expect_exit 1 "leaky_dry_run does not conform" -- dh check leaky_dry_run --exercise
expect_in "$OUT" "fail  dry run changes nothing: dry run changed table public.items (2 row(s) differ): first differing row, missing: (1,\"row 1\")" \
  "the dry run's change names the table and the first differing row"
expect_eq "$(checksum)" "$before" "the configured database is untouched by the leaky dry run"

# The kit never falls back to the configured database: a source it cannot copy fails the check.
psql -X -q "$DB_URL" -c "select pg_sleep(30)" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 50); do
  [ "$(psql_q "select count(*) from pg_stat_activity where datname = current_database() and query like '%pg_sleep(30)%' and pid <> pg_backend_pid()")" -ge 1 ] && break
  sleep 0.1
done
expect_exit 1 "a database with another session cannot be copied" -- dh check purge_rows --exercise
expect_in "$OUT" "fail  exercise runs on a scratch copy of the database: cannot copy database $DB_NAME to a scratch database" \
  "the check says why"
expect_in "$OUT" "CREATEDB" "and what the role needs"
expect_eq "$(checksum)" "$before" "and nothing ran on the configured database"
psql_q "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database()
        and query like '%pg_sleep(30)%' and pid <> pg_backend_pid()" >/dev/null
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

# A key=value connection string and a database name with quotes in it: both survive the copy.
socket=$(python3 -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["host"][0])' "$DB_URL")
odd="dq'x\"y_$$"
odd_ident="\"${odd//\"/\"\"}\""
psql_q "create database $odd_ident" >/dev/null
odd_kv="host='$socket' user='postgres' dbname='${odd//\'/\\\'}'"
psql -X -q -v ON_ERROR_STOP=1 "$odd_kv" -c "create table items (id int primary key, payload text);
  insert into items select g, 'row ' || g from generate_series(1, 20) g" >/dev/null
expect_exit 0 "purge_rows conforms on a database named $odd, given as key=value" -- \
  env DIHYA_DATABASE_URL="$odd_kv" "$DIHYA_HOST" check purge_rows --exercise
expect_in "$OUT" "public.items  10 (-10 +0)     10" "the copy of the oddly named database was exercised"
expect_eq "$(psql -X -t -A "$odd_kv" -c 'select count(*) from items')" 20 "and the database itself is untouched"
psql_q "drop database $odd_ident with (force)" >/dev/null

# Without --exercise nothing runs and nothing is copied.
expect_exit 0 "check lazy_rollback without --exercise (static checks only)" -- dh check lazy_rollback
expect_in "$OUT" "skip  run then rollback restores the prior state: use --exercise" "the exercise is skipped"
finish
