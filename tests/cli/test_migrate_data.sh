#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# migrate_data end to end on the seeded reference schema (real PostgreSQL):
# hostile folders and params refused (exit 2), status, dry run, up/down,
# rollback of up and down runs, an edited applied migration refused naming
# the file and both checksums, a failing migration leaving the last good
# version, two concurrent ups applying each migration once, and kill -9 of
# the host during a batched data migration resumed by the next up, and a
# timeout or kill -9 while a migration waits for a table lock leaving no
# statement on the server (the table readable, the rollback done).
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${DIHYA_SOURCE_DIR:-$here/../..}/tests/fixtures

"$fixtures/platform/seed.sh" --database-url "$DB_URL" --users 300 2>/dev/null

mig="$WORK/migrations"
cp -r "$fixtures/migrate_data/main" "$mig"
md() { dh run migrate_data -p migrations_dir="$mig" "$@"; }
history_exists() { psql_q "select to_regclass('public.dihya_schema_history') is not null"; }
applied_versions() { psql_q "select coalesce(string_agg(version, ',' order by installed_rank), '') from dihya_schema_history where success and version is not null"; }
# The shape of the public schema: columns, indexes, views, functions.
schema_fp() {
  psql_q "select md5(coalesce(string_agg(x, '|' order by x), '')) from (
            select 'col:' || table_name || '.' || column_name || ':' || data_type from information_schema.columns where table_schema = 'public'
            union all select 'idx:' || indexname from pg_indexes where schemaname = 'public'
            union all select 'view:' || table_name from information_schema.views where table_schema = 'public'
            union all select 'fn:' || proname from pg_proc where pronamespace = 'public'::regnamespace) s(x)"
}
users_fp() { psql_q "select md5(string_agg(u::text, '|' order by id)) from users u"; }

seed_schema=$(schema_fp)
seed_users=$(users_fp)

# ---- hostile folders and parameters: exit 2, one line, nothing written ----
expect_exit 2 "a missing migrations_dir is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$WORK/nope" --yes
expect_in "$ERR" "$WORK/nope is not a directory" "the error names the folder"
expect_one_line_error "missing folder"

bad="$WORK/bad"; cp -r "$mig" "$bad"; echo "select 1;" >"$bad/V3_oops.sql"
expect_exit 2 "a badly named file is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$bad" --yes
expect_in "$ERR" "bad migration file name $bad/V3_oops.sql" "the error names the bad file"
expect_one_line_error "bad file name"

rm "$bad/V3_oops.sql"; echo "select 1;" >"$bad/V1.0__again.up.sql"
expect_exit 2 "a duplicate version (1 and 1.0) is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$bad" --yes
expect_in "$ERR" "duplicate version 1" "the error says which version is duplicated"

rm "$bad/V1.0__again.up.sql"; echo "select 1;" >"$bad/V7__orphan.down.sql"
expect_exit 2 "a down without its up is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$bad" --yes
expect_in "$ERR" "V7__orphan.down.sql has no matching up migration" "the error names the orphan down file"

rm "$bad/V7__orphan.down.sql"; printf 'create table x (id int);\n-- done\nCOMMIT;\n' >"$bad/V8__commits.up.sql"
expect_exit 2 "transaction control in a transactional migration is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$bad" --yes
expect_in "$ERR" "V8__commits.up.sql: statement 2 is commit" "the error names the file and the statement"

rm "$bad/V8__commits.up.sql"; echo '{"table": "users", "key": "id", "set": {"x": "1"}, "batchsize": 3}' >"$bad/V20__typo.data.json"
expect_exit 2 "a data migration with an unknown field is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$bad" --yes
expect_in "$ERR" 'V20__typo.data.json: unknown field "batchsize"' "the error names the file and the field"
# A backfill that changes its key moved each row ahead of the keyset walk,
# which met it again batch after batch: one row was rewritten 3 503 times.
echo '{"table": "users", "key": "id", "set": {"id": "id + 1000", "x": "1"}, "batch_size": 1}' >"$bad/V20__typo.data.json"
expect_exit 2 "a backfill assigning its key column is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$bad" --yes
expect_in "$ERR" 'V20__typo.data.json: "set" assigns the key column "id", which the batches walk' "the error names the file and the key"
expect_one_line_error "a backfill assigning its key column"

# A NUL byte cut the SQL sent by libpq: the statements after it were lost and
# the migration still recorded as applied.
nul="$WORK/nul"; mkdir -p "$nul"
printf 'create table nul_a (x int);\n\0\ncreate table nul_b (x int);\n' >"$nul/V1__nul.up.sql"
printf 'drop table nul_b; drop table nul_a;\n' >"$nul/V1__nul.down.sql"
expect_exit 2 "a migration holding a NUL byte is refused at validate" -- dh run migrate_data -p mode=validate -p migrations_dir="$nul"
expect_in "$ERR" "$nul/V1__nul.up.sql:2: NUL byte (offset 28)" "the error names the file, line and offset"
expect_one_line_error "NUL byte"
expect_exit 2 "up of a migration holding a NUL byte is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$nul" --yes
expect_eq "$(psql_q "select to_regclass('nul_a') is null")" t "nothing of the migration was applied"

expect_exit 2 "an unknown target is refused" -- md -p mode=up -p target=7 --yes
expect_in "$ERR" "no migration has version 7" "the error names the target"
expect_exit 2 "a target that is not a version is refused" -- md -p mode=up -p target="1; drop table users" --yes
expect_exit 2 "an SQL-looking history table name is refused" -- md -p mode=status -p history_table='x"; drop table users; --'
expect_eq "$(history_exists)" f "no history table after refused runs"

# ---- status and dry run change nothing ----
expect_exit 0 "status of a fresh database" -- md -p mode=status
expect_eq "$(grep -cE '^[0-9R.]+ +[a-z_]+ +[a-z]+ +pending ' "$OUT")" 6 "status lists 6 pending migrations"
expect_in "$OUT" "database at version 0" "status says version 0"
# Versions sort numerically: 1, 1.1, 2, 10, 11 (not 1, 10, 11, 1.1, 2).
expect_eq "$(awk '$1 ~ /^[0-9.]+$/ {printf "%s ", $1}' "$OUT")" "1 1.1 2 10 11 " "versions in numeric order"
expect_eq "$(history_exists)" f "status does not create the history table"

expect_exit 0 "dry run of up" -- md -p mode=up --dry-run --yes
expect_in "$OUT" "alter table users add column nickname text;" "dry run prints the SQL of V1"
expect_in "$OUT" "create index concurrently users_nickname_idx" "dry run prints the no-transaction SQL"
expect_in "$OUT" "V10__backfill_nickname" "dry run lists the data migration"
expect_in "$OUT" "limit \$2" "dry run prints the batch SQL of a data migration"
expect_eq "$(history_exists)" f "dry run creates no history table"
expect_eq "$(schema_fp)" "$seed_schema" "dry run leaves the schema unchanged"
expect_eq "$(users_fp)" "$seed_users" "dry run leaves the data unchanged"

# ---- up, status, no-op, rollback to the seed ----
expect_exit 0 "up applies every migration" -- md -p mode=up --yes
first_up=$(last_run_id)
expect_eq "$(applied_versions)" "1,1.1,2,10,11" "history has the 5 versions in order"
expect_eq "$(psql_q "select count(*) from dihya_schema_history where version is null and name = 'active_users_view'")" 1 "the repeatable is recorded"
expect_eq "$(psql_q "select count(*) from users where touched <> 1")" 0 "the backfill touched every user exactly once"
expect_eq "$(psql_q "select md5(string_agg(nickname, ',' order by id)) = md5(string_agg(lower(split_part(email, '@', 1)), ',' order by id)) from users")" t "backfilled nicknames equal the reference"
expect_eq "$(psql_q "select (select count(*) from user_emails) = (select count(*) from users)")" t "the copy migration copied every user"
expect_eq "$(psql_q "select count(*) from pg_indexes where indexname = 'users_nickname_idx'")" 1 "the concurrent index exists"
expect_eq "$(psql_q "select count(*) from dihya_schema_history where checksum !~ '^[0-9a-f]{64}\$' or applied_by !~ '^postgres \\(' or run_id <> '$first_up'")" 0 "history rows carry sha256, applied_by and the run id"
applied_schema=$(schema_fp)
expect_exit 0 "status after up" -- md -p mode=status
expect_eq "$(grep -cE '^[0-9R.]+ +[a-z_]+ +[a-z]+ +applied ' "$OUT")" 6 "status shows 6 applied"
expect_exit 0 "up again" -- md -p mode=up --yes
expect_in "$OUT" "nothing to apply: database at version 11" "a second up is a no-op"
expect_eq "$(psql_q "select count(*) from dihya_schema_history")" 6 "history unchanged by the no-op"
expect_exit 0 "validate" -- md -p mode=validate
expect_in "$OUT" "5 applied migration(s) match their files" "validate checks every applied checksum"

expect_exit 0 "rollback of the first up" -- dh rollback "$first_up"
expect_eq "$(schema_fp)" "$seed_schema" "rollback of the first up restores the seed schema"
expect_eq "$(history_exists)" f "rollback drops the history table the run created"
expect_exit 0 "rollback is idempotent" -- dh rollback "$first_up"

# ---- down --target, rollback of a down run, rollback of an up run ----
expect_exit 0 "up again after the rollback" -- md -p mode=up --yes
expect_eq "$(schema_fp)" "$applied_schema" "same schema as the first up"
expect_exit 0 "down --target 1.1" -- md -p mode=down -p target=1.1 --yes
down_run=$(last_run_id)
expect_eq "$(applied_versions)" "1,1.1" "down leaves versions 1 and 1.1"
expect_eq "$(psql_q "select count(*) from pg_indexes where indexname = 'users_nickname_idx'")" 0 "down dropped the V2 index"
expect_eq "$(psql_q "select count(*) from users where nickname is not null or touched <> 0")" 0 "down undid the backfill"
at_1_1=$(schema_fp)
expect_exit 0 "rollback of the down run" -- dh rollback "$down_run"
expect_eq "$(applied_versions)" "1,1.1,2,10,11" "rollback of a down re-applies the ups"
expect_eq "$(schema_fp)" "$applied_schema" "schema back at version 11"
expect_exit 0 "down with no target undoes only the latest" -- md -p mode=down --yes
expect_eq "$(applied_versions)" "1,1.1,2,10" "version 11 undone"
expect_exit 0 "down --target 1.1 again" -- md -p mode=down -p target=1.1 --yes
expect_exit 0 "up from 1.1" -- md -p mode=up --yes
up_run=$(last_run_id)
expect_exit 0 "rollback <run-id> of that up" -- dh rollback "$up_run"
expect_eq "$(applied_versions)" "1,1.1" "rollback of the up leaves 1 and 1.1"
expect_eq "$(schema_fp)" "$at_1_1" "rollback of the up restores the schema at 1.1"
expect_exit 0 "up to 11" -- md -p mode=up --yes

# ---- an edited applied migration is refused, naming the file ----
cp "$mig/V1.1__create_tags.up.sql" "$WORK/V1.1.orig"
echo "-- an innocent edit" >>"$mig/V1.1__create_tags.up.sql"
printf 'alter table tags add column color text;\n' >"$mig/V12__tag_color.up.sql"
expected=$(psql_q "select checksum from dihya_schema_history where version = '1.1'")
actual=$(sha256sum "$mig/V1.1__create_tags.up.sql" | cut -d' ' -f1)
expect_exit 1 "up with an edited applied migration is refused" -- md -p mode=up --yes
expect_in "$ERR" "$mig/V1.1__create_tags.up.sql: changed since it was applied" "the refusal names the file path"
expect_in "$ERR" "expected sha256 $expected (history)" "the refusal gives the checksum in history"
expect_in "$ERR" "actual sha256 $actual (file)" "the refusal gives the checksum of the file"
expect_eq "$(applied_versions)" "1,1.1,2,10,11" "nothing applied after the refusal"
expect_eq "$(psql_q "select count(*) from information_schema.columns where table_name = 'tags' and column_name = 'color'")" 0 "V12 not applied"
expect_exit 1 "validate reports the edit" -- md -p mode=validate
expect_in "$OUT" "changed: $mig/V1.1__create_tags.up.sql" "validate names the file"
expect_exit 0 "status shows it" -- md -p mode=status
expect_in "$OUT" "changed" "status marks it changed"
cp "$WORK/V1.1.orig" "$mig/V1.1__create_tags.up.sql"
expect_exit 0 "validate after restoring the file" -- md -p mode=validate

# ---- a failing migration: the last good version stays, never dirty ----
printf 'alter table tags drop column color;\n' >"$mig/V12__tag_color.down.sql"
printf 'insert into tags (label) values (%s);\nselect * from no_such_table;\n' "'half'" >"$mig/V13__broken.up.sql"
before_fail=$(schema_fp)
expect_exit 5 "a failing migration fails the run, which the host rolls back" -- md -p mode=up --yes
expect_in "$ERR" "V13__broken failed and was rolled back" "the failure names the migration"
expect_in "$ERR" 'relation "no_such_table" does not exist' "the failure says why"
expect_eq "$(applied_versions)" "1,1.1,2,10,11" "history back at 11 (V12 of the run rolled back too)"
expect_eq "$(schema_fp)" "$before_fail" "schema back at version 11"
expect_eq "$(psql_q "select count(*) from tags")" 0 "the failed migration's insert was rolled back"
expect_exit 1 "with --no-rollback the run fails and keeps V12" -- md -p mode=up --yes --no-rollback
expect_eq "$(applied_versions)" "1,1.1,2,10,11,12" "history at the last good version, 12"
expect_eq "$(psql_q "select count(*) from information_schema.columns where table_name = 'tags' and column_name = 'color'")" 1 "V12's column exists"
expect_eq "$(psql_q "select count(*) from dihya_schema_history where version = '13'")" 0 "no history row, no dirty flag for V13"
printf 'insert into tags (label) values (%s);\n' "'fixed'" >"$mig/V13__broken.up.sql"
expect_exit 0 "after fixing the file, up just works" -- md -p mode=up --yes
expect_eq "$(applied_versions)" "1,1.1,2,10,11,12,13" "V13 applied"

# ---- a no-transaction migration failing half-way: reported, retried ----
nt="$WORK/nt"; mkdir "$nt"
printf 'create table nt (id int primary key, x int);\n' >"$nt/V1__nt.up.sql"
printf -- '-- dihya:no-transaction\ncreate index concurrently if not exists nt_x_idx on nt (x);\nselect * from no_such_table;\n' >"$nt/V2__nt_index.up.sql"
mdn() { dh run migrate_data -p migrations_dir="$nt" -p history_table=nt_history "$@"; }
expect_exit 1 "a no-transaction migration failing at statement 2 (--no-rollback)" -- mdn -p mode=up --yes --no-rollback
expect_in "$ERR" "V2__nt_index (no-transaction) failed at statement 2 of 2" "the failure names the statement"
expect_in "$ERR" "1 statement(s) before it took effect and were not undone" "the failure says what took effect"
expect_eq "$(psql_q "select count(*) from pg_indexes where indexname = 'nt_x_idx'")" 1 "the partial effect is there, as documented"
expect_eq "$(psql_q "select string_agg(version || ':' || success, ',' order by installed_rank) from nt_history")" "1:true,2:false" "history: V1 applied, V2 failed"
expect_exit 0 "status" -- mdn -p mode=status
expect_in "$OUT" "failed" "status shows V2 failed"
cat >"$nt/V2__nt_index.up.sql" <<'SQL'
-- dihya:no-transaction
create index concurrently if not exists nt_x_idx on nt (x);
/* a ';' in a comment */ create or replace function nt_f() returns text language plpgsql
  as $body$ begin return 'a;b' || $$;c$$; end $body$;
comment on table nt is 'it''s; fine';
SQL
expect_exit 0 "the next up retries the whole script" -- mdn -p mode=up --yes
expect_eq "$(psql_q "select nt_f() || '|' || obj_description('nt'::regclass)")" "a;b;c|it's; fine" "statements split right around quotes, comments and dollar quotes"
expect_eq "$(psql_q "select string_agg(version || ':' || success, ',' order by installed_rank) from nt_history")" "1:true,2:true" "the failed row is replaced by the applied one"

# ---- two concurrent ups, then kill -9 during a batched data migration ----
big="$WORK/big"
cp -r "$fixtures/migrate_data/big" "$big"
mdb() { dh run migrate_data -p migrations_dir="$big" -p history_table=big_history "$@"; }
mdb -p mode=up --yes >"$WORK/up1.out" 2>"$WORK/up1.err" & p1=$!
mdb -p mode=up --yes >"$WORK/up2.out" 2>"$WORK/up2.err" & p2=$!
rc1=0; wait $p1 || rc1=$?
rc2=0; wait $p2 || rc2=$?
expect_eq "$rc1,$rc2" "0,0" "two concurrent ups both exit 0"
expect_eq "$(psql_q "select string_agg(version || 'x' || n, ',' order by version) from (select version, count(*) n from big_history group by version) s")" "1x1,2x1" "each migration applied exactly once"
expect_eq "$(psql_q "select count(*) from big where touched <> 1")" 0 "every row transformed exactly once"
expect_eq "$(cat "$WORK/up1.err" "$WORK/up2.err" | grep -c 'waiting up to 60 s for the migration lock on public.big_history')" 1 "one run waited for the advisory lock"
expect_eq "$(cat "$WORK/up1.out" "$WORK/up2.out" | grep -c 'nothing to apply')" 1 "the waiting run found nothing to apply"
# A run holding the lock makes lock_wait_seconds=0 fail at once, cleanly.
psql_q "select pg_advisory_lock(hashtextextended('dihya migrate_data public.big_history', 0)), pg_sleep(3)" >/dev/null &
holder=$!
for _ in $(seq 100); do
  # This test's database only: other tests hold advisory locks of their own meanwhile.
  [ "$(psql_q "select count(*) from pg_locks where locktype = 'advisory' and granted
               and database = (select oid from pg_database where datname = current_database())")" -ge 1 ] && break
  sleep 0.05
done
expect_exit 1 "lock_wait_seconds=0 fails at once while the lock is held" -- mdb -p mode=down -p target=0 -p lock_wait_seconds=0 --yes
expect_in "$ERR" "another migrate_data run holds the migration lock on public.big_history" "the message says who holds the lock"
wait $holder

expect_exit 0 "down to 0" -- mdb -p mode=down -p target=0 --yes
expect_eq "$(psql_q "select to_regclass('big') is null")" t "down to 0 dropped the table"
"$DIHYA_HOST" run migrate_data -p migrations_dir="$big" -p history_table=big_history -p mode=up --yes >"$OUT" 2>"$ERR" &
host_pid=$!
for _ in $(seq 400); do
  done_rows=$(psql_q "select coalesce((select rows_done from big_history_progress where version = '2'), 0)" 2>/dev/null || echo 0)
  [ "${done_rows:-0}" -ge 3000 ] && break
  sleep 0.05
done
kill -9 "$host_pid"
wait "$host_pid" 2>/dev/null || true
sleep 0.3
committed=$(psql_q "select rows_done from big_history_progress where version = '2'")
[ "${committed:-0}" -ge 3000 ] && [ "${committed:-0}" -lt 20000 ] && ok "the progress table shows $committed rows committed at the kill" \
  || not_ok "progress after kill: '${committed}'"
expect_eq "$(psql_q "select count(*) from big_history where version = '2'")" 0 "the killed data migration is not in history"
expect_eq "$(psql_q "select count(*) from big where touched = 1")" "$committed" "exactly the committed batches were transformed"
expect_eq "$(last_run_field outcome)" interrupted "the killed run shows as interrupted"
expect_exit 0 "status after the kill" -- mdb -p mode=status
expect_in "$OUT" "in-progress   $committed row(s) done" "status shows the data migration in progress"
expect_exit 0 "rerun after kill -9 (no stale lock)" -- mdb -p mode=up -p lock_wait_seconds=5 --yes --json
expect_eq "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["result"]["applied"][0]; print(r["rows_before"], r["rows"] + r["rows_before"])' "$OUT")" "$committed 20000" "the rerun resumed after the committed batches"
expect_in "$ERR" "resuming after key" "the rerun says it resumed"
expect_eq "$(psql_q "select count(*) from big where touched <> 1")" 0 "every row transformed exactly once across the kill"
expect_eq "$(psql_q "select md5(string_agg(v2, ',' order by id)) = md5(string_agg(md5(v || 'x'), ',' order by id)) from big")" t "the transformed column equals the reference"
expect_eq "$(psql_q "select count(*) from big_history_progress")" 0 "no progress row left"

# ---- a message quoting a key stays one short line: text keys can be kilobytes ----
lk="$WORK/longkey"; mkdir -p "$lk"
printf 'create table lk (k text primary key, touched int not null default 0);\ninsert into lk select lpad(i::text, 5000, %s) from generate_series(1, 30) i;\n' "'a'" >"$lk/V1__lk.up.sql"
printf 'drop table lk;\n' >"$lk/V1__lk.down.sql"
echo '{"table": "lk", "key": "k", "set": {"touched": "touched + 1"}, "batch_size": 1, "sleep_ms": 400}' >"$lk/V2__touch.data.json"
printf 'select 1;\n' >"$lk/V2__touch.down.sql"
expect_exit 4 "a slow data migration over 5000-byte keys times out" -- \
  dh run migrate_data -p migrations_dir="$lk" -p history_table=lk_history -p mode=up --timeout 3 --grace 20 --yes
expect_in "$ERR" "resumes after key aaaaaaaaaa" "the message quotes the last key"
[ "$(grep -c 'a\{1000\}' "$ERR")" -eq 0 ] && ok "the key is cut short in the message" || not_ok "a 1000-byte stretch of the key is quoted"

# ---- a timeout while a migration waits for a table lock ends its statement on the server ----
lw="$WORK/lockwait"; mkdir -p "$lw"
printf 'create table lw (id int primary key);\n' >"$lw/V1__lw.up.sql"
printf 'drop table lw;\n' >"$lw/V1__lw.down.sql"
mdl() { dh run migrate_data -p migrations_dir="$lw" -p history_table=lw_history "$@"; }
expect_exit 0 "up creates the table a reader will hold" -- mdl -p mode=up --yes
printf 'alter table lw add column z int;\n' >"$lw/V2__z.up.sql"
printf 'alter table lw drop column z;\n' >"$lw/V2__z.down.sql"
PGAPPNAME=lw_reader psql_q "begin; select count(*) from lw; select pg_sleep(60); commit;" >/dev/null 2>&1 &
reader=$!
for _ in $(seq 100); do
  [ "$(psql_q "select count(*) from pg_locks l join pg_stat_activity a using (pid)
               where a.application_name = 'lw_reader' and l.relation = 'lw'::regclass and l.granted")" -ge 1 ] && break
  sleep 0.05
done
expect_exit 4 "a migration waiting for the reader's lock times out" -- mdl -p mode=up --yes --timeout 3 --grace 2
expect_eq "$(last_run_field outcome)" timed_out "the run is recorded as timed out, not rollback_failed"
expect_in "$ERR" "[host] rollback done" "its automatic rollback got the migration lock and succeeded"
expect_eq "$(psql_q "select count(*) from pg_stat_activity where datname = current_database() and query like 'alter table lw%'")" 0 \
  "no statement of the run is left on the server"
expect_eq "$(timeout 5 psql -X -q -t -A "$DB_URL" -c 'select count(*) from lw')" 0 "the table is readable right after the host exits"
# The host killed (its plugin with it, by PR_SET_PDEATHSIG): the server ends the statement itself.
"$DIHYA_HOST" run migrate_data -p migrations_dir="$lw" -p history_table=lw_history -p mode=up --yes >"$OUT" 2>"$ERR" &
host_pid=$!
alter_waits() { psql_q "select count(*) from pg_stat_activity where datname = current_database() and query like 'alter table lw%'"; }
for _ in $(seq 200); do [ "$(alter_waits)" -ge 1 ] && break; sleep 0.05; done
expect_eq "$(alter_waits)" 1 "the migration waits for the reader's lock"
kill -9 "$host_pid"
wait "$host_pid" 2>/dev/null || true
for _ in $(seq 100); do [ "$(alter_waits)" -eq 0 ] && break; sleep 0.05; done
expect_eq "$(alter_waits)" 0 "the killed run's statement ends on the server within seconds"
psql_q "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'lw_reader'" >/dev/null
wait "$reader" 2>/dev/null || true
expect_eq "$(psql_q "select count(*) from information_schema.columns where table_name = 'lw' and column_name = 'z'")" 0 "V2 is not applied"

# ---- conformance kit ----
expect_exit 0 "check migrate_data" -- dh check migrate_data
mkdir -p "$WORK/ex/db/migrations"
printf 'create table ex_items (id int primary key, label text);\ninsert into ex_items values (1, %s);\n' "'one'" >"$WORK/ex/db/migrations/V1__ex_items.up.sql"
printf 'drop table ex_items;\n' >"$WORK/ex/db/migrations/V1__ex_items.down.sql"
# The exercise fingerprints a whole database: give it an empty one of its own.
ex_db="${DB_NAME}_ex"
psql -X -q "$base_url" -c "create database $ex_db" >/dev/null
ex_url=${DB_URL/\/$DB_NAME\?/\/$ex_db?}
expect_exit 0 "check migrate_data --exercise (run the example, then roll back)" -- \
  bash -c "cd '$WORK/ex' && DIHYA_DATABASE_URL='$ex_url' '$DIHYA_HOST' check migrate_data --exercise"
expect_in "$OUT" "pass  run then rollback restores the prior state" "conformance run→rollback passes"
expect_in "$OUT" "pass  rollback is idempotent" "conformance: rollback is idempotent"
psql -X -q "$base_url" -c "drop database if exists $ex_db with (force)" >/dev/null
finish
