#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# cleanup against a real PostgreSQL (platform seed + the GDPR test tables):
# dry run changes nothing; retention deletes and anonymises in batches,
# quarantined; rollback restores every table exactly (row checksums) and is
# idempotent; purge after expiry removes quarantine rows for good, and the
# rollback of a run purged (wholly or some batches) fails naming them; a delete
# that would cascade unrecorded is refused; erase_user leaves no row
# referencing the user and nobody else's rows changed, and rolls back exactly;
# hostile policies and parameters exit 2 with one line.
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
fixtures="$DIHYA_SOURCE_DIR/tests/fixtures"
snapshot() { /usr/bin/python3 "$fixtures/cleanup/snapshot.py" "$@"; }

"$fixtures/platform/seed.sh" --database-url "$DB_URL" --users 200 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -f "$fixtures/export_user_data/extra.sql" >/dev/null
# Every platform table's rows, as one checksum per table.
checksums() {
  psql_q "select string_agg(format('%s=%s', c.relname, (xpath('/row/m/text()', query_to_xml(format(
            'select md5(coalesce(string_agg(t::text, ''|'' order by t::text), '''')) as m from public.%I t', c.relname), false, true, '')))[1]::text), ' ' order by c.relname)
          from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'"
}
# Quarantined rows matching WHERE, over every typed quarantine table (:tbl is the source table's name).
quarantined() {
  psql_q "select coalesce(sum((xpath('/row/n/text()', query_to_xml(format('select count(*) as n from dihya_quarantine.%I where %s',
            quarantine_table, replace(\$w\$$1\$w\$, ':tbl', quote_literal(source_table))), false, true, '')))[1]::text::bigint), 0)
          from dihya_quarantine.tables"
}
q_of() { psql_q "select quarantine_table from dihya_quarantine.tables where source_table = '$1'"; }
before=$(checksums)
salt="pepper-$$-do-not-leak"

cat >"$WORK/policy.yaml" <<'YAML'
tables:
  - table: sessions
    timestamp_column: expires_at
    older_than: 30d
    action: delete
  - table: public.app_logs
    timestamp_column: created_at
    older_than: 90d
    action: delete
  - table: mail_outbox
    timestamp_column: created_at
    older_than: 26w
    action: anonymise
    columns:
      to_address: {strategy: fake, kind: email}
      subject: {strategy: mask}
      body: {strategy: fixed, value: "[supprimé]"}
  - table: audit_logs
    timestamp_column: created_at
    older_than: 180d
    action: anonymise
    columns:
      target: {strategy: hash}
      user_id: {strategy: null}
YAML
old_sessions=$(psql_q "select count(*) from sessions where expires_at < now() - interval '30 days'")
old_logs=$(psql_q "select count(*) from app_logs where created_at < now() - interval '90 days'")
old_mail=$(psql_q "select count(*) from mail_outbox where created_at < now() - interval '182 days'")
[ "$old_sessions" -gt 20 ] && [ "$old_mail" -gt 20 ] && ok "the seed has old rows to clean ($old_sessions sessions, $old_mail mails)" || not_ok "seed too young"

expect_exit 0 "dry run" -- dh run cleanup -p policy="$WORK/policy.yaml" -p salt=dry-run-salt --dry-run --yes
expect_in "$OUT" "public.sessions: $old_sessions row(s)" "dry run counts sessions"
expect_in "$OUT" "public.app_logs: $old_logs row(s)" "dry run counts app_logs"
expect_eq "$(checksums)" "$before" "dry run changes nothing"

export DIHYA_SECRET_SALT="$salt"
expect_exit 0 "retention run in batches of 7" -- dh run cleanup -p policy="$WORK/policy.yaml" -p batch_size=7 -p salt=@env:DIHYA_SECRET_SALT --yes
run1=$(last_run_id)
expect_eq "$(psql_q "select count(*) from sessions where expires_at < now() - interval '30 days'")" 0 "old sessions deleted"
expect_eq "$(psql_q "select count(*) from app_logs where created_at < now() - interval '90 days'")" 0 "old app_logs deleted"
expect_eq "$(psql_q "select count(*) from mail_outbox where created_at < now() - interval '182 days' and to_address like 'user-%@example.invalid' and body = '[supprimé]' and subject ~ '^.\*+$'")" "$old_mail" "old mails anonymised (fake, fixed, mask)"
expect_eq "$(psql_q "select count(*) from audit_logs where created_at < now() - interval '180 days' and (user_id is not null or (target is not null and target !~ '^[0-9a-f]{64}$'))")" 0 "old audit logs anonymised (null, salted hash)"
expect_eq "$(psql_q "select count(distinct _dihya_batch) > 3 from dihya_quarantine.\"$(q_of sessions)\" where _dihya_run_id = '$run1'")" t "sessions went in several batches"
expect_eq "$(psql_q "select count(*) from information_schema.columns where table_schema = 'dihya_quarantine' and table_name = '$(q_of sessions)' and data_type <> 'jsonb'")" \
  "$(( $(psql_q "select count(*) from information_schema.columns where table_schema = 'public' and table_name = 'sessions'") + 4 ))" \
  "the sessions quarantine is typed: the source's columns plus run, batch, action, expiry"
expect_eq "$(quarantined "_dihya_run_id = '$run1'")" "$(( old_sessions + old_logs + old_mail + $(psql_q "select count(*) from audit_logs where created_at < now() - interval '180 days'") ))" "every row acted on is in the quarantine"
grep -rqF "$salt" "$DIHYA_STATE_DIR" && not_ok "the salt leaked into the state dir" || ok "the salt is in no log or record"
expect_exit 0 "status is read-only: no confirmation needed" -- dh run cleanup -p mode=status
expect_in "$OUT" "$run1" "status lists the run"

expect_exit 0 "rollback of the retention run" -- dh rollback "$run1"
expect_eq "$(checksums)" "$before" "rollback restores every table exactly (row checksums)"
expect_eq "$(quarantined "_dihya_run_id = '$run1'")" 0 "restored rows leave the quarantine"
expect_exit 0 "rollback again" -- dh rollback "$run1"
expect_eq "$(checksums)" "$before" "rollback is idempotent"

# A failing run (cancelled by timeout half-way) is rolled back by the host.
expect_exit 0 "a run kept in quarantine for 30 days" -- dh run cleanup -p policy="$WORK/policy.yaml" -p batch_size=50 -p salt=@env:DIHYA_SECRET_SALT --yes
keep_run=$(last_run_id)
expect_exit 0 "a run with quarantine_days=0" -- dh run cleanup -p policy="$WORK/policy.yaml" -p quarantine_days=0 -p salt=@env:DIHYA_SECRET_SALT --yes
psql_q "update dihya_quarantine.\"$(q_of app_logs)\" set _dihya_expires_at = now() - interval '1 day' where _dihya_run_id = '$keep_run'" >/dev/null
keep_logs=$(psql_q "select count(*) from dihya_quarantine.\"$(q_of app_logs)\" where _dihya_run_id = '$keep_run'")
expired=$(quarantined "_dihya_expires_at <= now()")
kept=$(quarantined "_dihya_expires_at > now()")
expect_exit 0 "purge dry run" -- dh run cleanup -p mode=purge --dry-run --yes
expect_in "$OUT" "would purge $expired expired" "purge dry run counts expired rows"
expect_exit 0 "purge" -- dh run cleanup -p mode=purge --yes
expect_eq "$(quarantined "_dihya_expires_at <= now()")" 0 "purge removes expired quarantine rows"
expect_eq "$(quarantined "true")" "$kept" "purge keeps rows not yet expired"
purge_run=$(last_run_id)
# Its app_logs cannot come back: the rollback fails saying how many rows went
# for good and by which purge, restores what is left, and the run is not
# marked rolled back.
expect_exit 1 "rollback of a run after its app_logs were purged fails" -- dh rollback "$keep_run"
expect_in "$OUT" "rollback FAILED: $keep_logs row(s) this run quarantined were purged for good (public.app_logs: $keep_logs by purge run $purge_run): its prior state cannot be restored" \
  "the failure names the rows purged for good, their table and the purge run"
outcome_of() { dh history --json | python3 -c "import json,sys; print([r['outcome'] for r in json.load(sys.stdin) if r['id'] == '$1'][0])"; }
expect_eq "$(outcome_of "$keep_run")" succeeded "the run is not marked rolled back"
expect_eq "$(psql_q "select count(*) from sessions where expires_at < now() - interval '30 days'")" "$old_sessions" "unexpired sessions come back"
expect_eq "$(psql_q "select count(*) from app_logs where created_at < now() - interval '90 days'")" 0 "purged app_logs stay deleted: the erasure is final"

# A quarantine written by an earlier version (one jsonb table for every
# source) still rolls back and purges: to_legacy rewrites the typed
# quarantine the way those versions wrote it.
to_legacy() {
  psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null <<'SQL'
create table if not exists dihya_quarantine.rows (id bigserial primary key, run_id text not null, batch integer not null,
  table_schema text not null, table_name text not null, action text not null check (action in ('delete', 'anonymise')),
  original jsonb not null, quarantined_at timestamptz not null default now(), expires_at timestamptz not null);
do $$ declare r record; begin
  for r in select * from dihya_quarantine.tables loop
    execute format('insert into dihya_quarantine.rows (run_id, batch, table_schema, table_name, action, original, expires_at)
                    select _dihya_run_id, _dihya_batch, %L, %L, _dihya_action,
                           to_jsonb(q) - ''_dihya_run_id'' - ''_dihya_batch'' - ''_dihya_action'' - ''_dihya_expires_at'',
                           _dihya_expires_at from dihya_quarantine.%I q', r.source_schema, r.source_table, r.quarantine_table);
    execute format('drop table dihya_quarantine.%I', r.quarantine_table);
  end loop;
  drop table dihya_quarantine.tables;
end $$;
SQL
}
cat >"$WORK/legacy.yaml" <<'YAML'
tables:
  - {table: sessions, timestamp_column: expires_at, older_than: 30d, action: delete}
  - {table: mail_outbox, timestamp_column: created_at, older_than: 26w, action: anonymise, columns: {to_address: {strategy: fake, kind: email}}}
YAML
legacy_before=$(checksums)
expect_exit 0 "a run whose quarantine is then rewritten the old way" -- dh run cleanup -p policy="$WORK/legacy.yaml" --yes
legacy_run=$(last_run_id)
[ "$(psql_q "select count(*) from sessions where expires_at < now() - interval '30 days'")" = 0 ] && [ "$(checksums)" != "$legacy_before" ] \
  && ok "the run deleted and anonymised rows" || not_ok "the run changed nothing"
to_legacy
expect_eq "$(psql_q "select count(*) > 0 from dihya_quarantine.rows where run_id = '$legacy_run'") $(psql_q "select to_regclass('dihya_quarantine.tables') is null")" "t t" \
  "the run's rows are in the old jsonb quarantine only"
# ... and its journal too: one quarantine_batch entry per batch, as those versions wrote.
legacy_journal=$(find "$DIHYA_STATE_DIR" -path "*$legacy_run*" -name journal.jsonl | head -1)
psql_q "select table_schema, table_name, batch, action from dihya_quarantine.rows where run_id = '$legacy_run'
        group by 1, 2, 3, 4 order by min(id)" >"$WORK/legacy_batches"
/usr/bin/python3 - "$legacy_journal" "$WORK/legacy_batches" "$legacy_run" <<'PY'
import json, sys
path, batches, run = sys.argv[1:4]
entries = [json.loads(l) for l in open(path) if l.strip()]
out = [e for e in entries if e.get("action") not in ("quarantine_table",)]
for line in open(batches):
    schema, table, batch, action = line.rstrip("\n").split("|")
    out.append({"action": "quarantine_batch", "data": {"run_id": run, "schema": schema, "table": table,
                "batch": int(batch), "action": action, "rows": 1, "last_key": {}}})
with open(path, "w") as f:
    for i, e in enumerate(x for x in out if "action" in x):
        f.write(json.dumps({"i": i, "action": e["action"], "data": e["data"]}) + "\n")
PY
expect_eq "$(grep -c '"quarantine_batch"' "$legacy_journal") $(grep -c '"quarantine_table"' "$legacy_journal")" "$(wc -l <"$WORK/legacy_batches") 0" \
  "the run's journal is rewritten with one entry per batch"
expect_exit 0 "rollback from the old quarantine" -- dh rollback "$legacy_run"
expect_eq "$(checksums)" "$legacy_before" "rows quarantined the old way come back exactly"
expect_eq "$(psql_q "select to_regclass('dihya_quarantine.rows') is null")" t "the old quarantine was migrated, then dropped"
expect_exit 0 "a run kept 0 days, rewritten the old way" -- dh run cleanup -p policy="$WORK/legacy.yaml" -p quarantine_days=0 --yes
to_legacy
legacy_rows=$(psql_q "select count(*) from dihya_quarantine.rows where expires_at <= now()")
[ "$legacy_rows" -gt 0 ] && ok "the old quarantine holds $legacy_rows row(s)" || not_ok "the old quarantine is empty"
expect_exit 0 "purge of the old quarantine" -- dh run cleanup -p mode=purge --yes
expect_in "$OUT" "purged $legacy_rows expired" "purge counts the old quarantine's rows"
expect_eq "$(psql_q "select count(*) from dihya_quarantine.rows where expires_at <= now()")" 0 "purge removes the old quarantine's expired rows"

# A long, quoted table name with identity and generated columns: the
# quarantine table gets a short plain name; rollback restores identity and
# generated values exactly. A source whose columns changed since the run is
# refused at rollback, in one line, and nothing is restored until they match.
long_name='Très "long" nom; DROP TABLE users; -- padding, padding, pad!'
long_sql="public.\"${long_name//\"/\"\"}\""
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -c "create table $long_sql (id bigint generated always as identity primary key,
    created_at timestamptz not null, body text, body_len int generated always as (length(body)) stored)" \
  -c "insert into $long_sql (created_at, body) select now() - g * interval '1 day' + interval '12 hours', 'row ' || g
      from generate_series(1, 300) g" -c "delete from $long_sql where id % 7 = 0" >/dev/null
printf 'tables:\n  - {table: %s, timestamp_column: created_at, older_than: 60d, action: delete}\n' "'$long_name'" >"$WORK/long.yaml"
long_before=$(checksums)
long_old=$(psql_q "select count(*) from $long_sql where created_at < now() - interval '60 days'")
expect_exit 0 "retention on a long quoted table name" -- dh run cleanup -p policy="$WORK/long.yaml" --yes
long_run=$(last_run_id)
expect_eq "$(psql_q "select count(*) from $long_sql where created_at < now() - interval '60 days'")" 0 "its old rows are deleted"
long_q=$(psql_q "select quarantine_table from dihya_quarantine.tables where source_table = \$n\$$long_name\$n\$")
[[ $long_q =~ ^q_[a-z0-9_]{1,24}_[0-9a-f]{16}$ ]] && ok "the quarantine table has a short plain name ($long_q)" || not_ok "quarantine name '$long_q'"
expect_eq "$(psql_q "select count(*) from dihya_quarantine.\"$long_q\" where _dihya_run_id = '$long_run'")" "$long_old" "every deleted row is in it"
expect_exit 0 "rollback of the long-named table" -- dh rollback "$long_run"
expect_eq "$(checksums)" "$long_before" "rows come back with their identity ids and generated values"
expect_exit 0 "the same cleanup again" -- dh run cleanup -p policy="$WORK/long.yaml" --yes
changed_run=$(last_run_id)
psql_q "alter table $long_sql add column note text default 'x'" >/dev/null
expect_exit 1 "rollback after a column was added is refused" -- dh rollback "$changed_run"
cat "$OUT" "$ERR" >"$WORK/refusal.txt"
expect_in "$WORK/refusal.txt" "cannot restore public.$long_name: its columns changed since run $changed_run" "the refusal says why"
expect_eq "$(psql_q "select count(*) from $long_sql where created_at < now() - interval '60 days'")" 0 "nothing was restored into the changed table"
psql_q "alter table $long_sql drop column note" >/dev/null
expect_exit 0 "rollback once the columns match again" -- dh rollback "$changed_run"
expect_eq "$(checksums)" "$long_before" "then it restores exactly"
psql_q "drop table $long_sql" >/dev/null

# Batches follow the key: ranges of an integer key (negative keys, a wide
# gap, the type's extreme values; one key per batch at batch_size=1), and
# key-set batches of a text key. Every old row goes, no live row, each in
# some batch; rollback puts back exactly what went.
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" \
  -c "create table int_keyed (id integer primary key, created_at timestamptz not null, v text)" \
  -c "insert into int_keyed select g, now() - case when g in (-2147483648, -7, 0, 5, 13, 1000000, 2147483647)
      then interval '100 days' else interval '1 day' end, 'v' || g
      from unnest(array[-2147483648, -7, -1, 0, 1, 2, 3, 5, 8, 13, 1000, 1000000, 2147483646, 2147483647]) g" \
  -c "create table text_keyed (code text, part int, created_at timestamptz not null, primary key (code, part))" \
  -c "insert into text_keyed select 'c' || (g % 17), g, now() - (g % 2) * interval '100 days' from generate_series(1, 60) g" >/dev/null
keyed_before=$(checksums)
printf 'tables:\n  - {table: int_keyed, timestamp_column: created_at, older_than: 60d, action: delete}\n  - {table: text_keyed, timestamp_column: created_at, older_than: 60d, action: delete}\n' >"$WORK/keyed.yaml"
old_int=$(psql_q "select string_agg(id::text, ',' order by id) from int_keyed where created_at < now() - interval '60 days'")
live_int=$(psql_q "select string_agg(id::text, ',' order by id) from int_keyed where created_at >= now() - interval '60 days'")
old_text=$(psql_q "select count(*) from text_keyed where created_at < now() - interval '60 days'")
[[ $old_int == -2147483648,* && $old_int == *,2147483647 && $old_text -gt 20 ]] && ok "old rows at both ends of the integer key and $old_text text-keyed" \
  || not_ok "test data: old ints $old_int, old text $old_text"
expect_exit 0 "retention by key ranges and key sets, batch_size=1" -- dh run cleanup -p policy="$WORK/keyed.yaml" -p batch_size=1 --yes
keyed_run=$(last_run_id)
expect_eq "$(psql_q "select coalesce(string_agg(id::text, ',' order by id), '') from int_keyed")" "$live_int" "every old integer-keyed row went, every live one stayed"
expect_eq "$(psql_q "select count(*) from text_keyed where created_at < now() - interval '60 days'")" 0 "every old text-keyed row went"
expect_eq "$(psql_q "select string_agg(id::text, ',' order by id) from dihya_quarantine.\"$(q_of int_keyed)\" where _dihya_run_id = '$keyed_run'")" "$old_int" \
  "the integer-keyed quarantine holds exactly the old rows"
expect_eq "$(psql_q "select count(*) = count(distinct _dihya_batch) from dihya_quarantine.\"$(q_of int_keyed)\" where _dihya_run_id = '$keyed_run'")" t \
  "batch_size=1: one row per batch"
expect_eq "$(psql_q "select count(*) || ' ' || count(distinct _dihya_batch) from dihya_quarantine.\"$(q_of text_keyed)\" where _dihya_run_id = '$keyed_run'")" "$old_text $old_text" \
  "text keys: every old row quarantined, one per batch"
expect_exit 0 "rollback of the keyed run" -- dh rollback "$keyed_run"
expect_eq "$(checksums)" "$keyed_before" "the keyed tables come back exactly"

# nice_ratio pauses after each batch (100 times its duration here): 300
# one-row batches, which take well under a second unpaced, are still going
# when the 2 s timeout cancels the run; the cancel is seen during a pause,
# the run ends cancelled after some of the rows, and the host's rollback of
# the timed-out run restores them.
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -c "create table paced (id bigint primary key, created_at timestamptz not null)" \
  -c "insert into paced select g, now() - interval '100 days' from generate_series(1, 300) g" >/dev/null
paced_before=$(checksums)
printf 'tables:\n  - {table: paced, timestamp_column: created_at, older_than: 60d, action: delete}\n' >"$WORK/paced.yaml"
expect_exit 4 "a paced run (nice_ratio=100, one row a batch) stopped by its timeout" -- \
  dh run cleanup -p policy="$WORK/paced.yaml" -p batch_size=1 -p nice_ratio=100 --timeout 2 --grace 30 --yes
paced_moved=$(sed -n 's/.*cancelled after \([0-9]*\) row(s) of public\.paced.*/\1/p' "$ERR")
[[ $paced_moved =~ ^[0-9]+$ && $paced_moved -gt 0 && $paced_moved -lt 300 ]] && ok "the pauses kept it from finishing: cancelled after $paced_moved of 300 rows" \
  || not_ok "nice_ratio=100: expected a cancel after some of the 300 rows, not all"
expect_in "$ERR" "restored $paced_moved row(s)" "the host's rollback of the timed-out run restored the rows it moved"
expect_eq "$(checksums)" "$paced_before" "the paced table is back exactly"
psql_q "drop table paced" >/dev/null
# The same table twice: anonymised, then deleted. Rollback (all of a
# table's batches at once, newest rule first) brings back the original values.
printf 'tables:\n  - {table: int_keyed, timestamp_column: created_at, older_than: 60d, action: anonymise, columns: {v: {strategy: fixed, value: x}}}\n  - {table: int_keyed, timestamp_column: created_at, older_than: 90d, action: delete}\n' >"$WORK/twice.yaml"
expect_exit 0 "one table anonymised, then deleted, in one run" -- dh run cleanup -p policy="$WORK/twice.yaml" -p batch_size=3 --yes
twice_run=$(last_run_id)
expect_eq "$(psql_q "select coalesce(string_agg(id::text, ',' order by id), '') from int_keyed")" "$live_int" "its old rows went"
expect_eq "$(psql_q "select count(*) from dihya_quarantine.\"$(q_of int_keyed)\" where _dihya_run_id = '$twice_run' and _dihya_action = 'delete' and v = 'x'")" \
  "$(tr ',' '\n' <<<"$old_int" | wc -l)" "the deleted copies hold the anonymised values"
expect_exit 0 "rollback of the anonymise-then-delete run" -- dh rollback "$twice_run"
expect_eq "$(checksums)" "$keyed_before" "the rows come back with their original values"
psql_q "drop table int_keyed, text_keyed" >/dev/null
# Two runs anonymise other columns of the same rows; the platform changes a
# third meanwhile. Rolled back in either order, each puts back only its own
# columns: the original values, and the platform's change kept.
psql_q "create table two_runs (id int primary key, created_at timestamptz not null, a text, b text, c text);
        insert into two_runs select g, now() - interval '100 days', 'a' || g, 'b' || g, 'c' || g from generate_series(1, 20) g" >/dev/null
printf 'tables:\n  - {table: two_runs, timestamp_column: created_at, older_than: 60d, action: anonymise, columns: {a: {strategy: fixed, value: A}}}\n' >"$WORK/run_a.yaml"
printf 'tables:\n  - {table: two_runs, timestamp_column: created_at, older_than: 60d, action: anonymise, columns: {b: {strategy: fixed, value: B}}}\n' >"$WORK/run_b.yaml"
expect_exit 0 "run A anonymises column a" -- dh run cleanup -p policy="$WORK/run_a.yaml" --yes
run_a=$(last_run_id)
expect_exit 0 "run B anonymises column b" -- dh run cleanup -p policy="$WORK/run_b.yaml" --yes
run_b=$(last_run_id)
psql_q "update two_runs set c = 'changed' where id = 7" >/dev/null
expect_exit 0 "rollback of A first" -- dh rollback "$run_a"
expect_exit 0 "then of B" -- dh rollback "$run_b"
expect_eq "$(psql_q "select count(*) from two_runs where a = 'a' || id and b = 'b' || id")" 20 \
  "both columns are back, whatever the order of the rollbacks"
expect_eq "$(psql_q "select c from two_runs where id = 7")" "changed" "the platform's later change to another column is kept"
psql_q "drop table two_runs" >/dev/null

# Deleting parents whose children would cascade unrecorded is refused.
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -c "drop database if exists x" >/dev/null 2>&1 || true
"$fixtures/platform/seed.sh" --database-url "$DB_URL" --users 200 2>/dev/null
psql_q "truncate articles, comments, shelves, shelf_items, \"UserNotes\", \"evil\"\"; DROP TABLE users; --\"; drop schema dihya_quarantine cascade" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -c "$(sed -n '/^INSERT INTO public.articles/,$p' "$fixtures/export_user_data/extra.sql")" >/dev/null
before=$(checksums)
cat >"$WORK/parents.yaml" <<'YAML'
tables:
  - {table: projects, timestamp_column: created_at, older_than: 1d, action: delete}
YAML
expect_exit 5 "deleting projects with unlisted children: refused and rolled back" -- dh run cleanup -p policy="$WORK/parents.yaml" --yes
expect_in "$ERR" "refusing to delete from public.projects" "the refusal names the table"
expect_eq "$(checksums)" "$before" "nothing changed"

# refused_before_anything POLICY WHAT MESSAGE: the dry run and the real run
# of POLICY are both refused at validation (exit 2), in one line, MESSAGE.
refused_before_anything() {
  local how
  for how in --dry-run ""; do
    # shellcheck disable=SC2086
    expect_exit 2 "$2 is refused ($how)" -- dh run cleanup -p policy="$1" $how --yes
    expect_in "$ERR" "$3" "the refusal names the child and why ($how)"
    expect_one_line_error "$2 ($how)"
  done
}

# A child outside graph.schemas (default [public]) is outside the graph, but
# deleting its parents still cascades into it, where the run keeps no copy: it
# used to lose 6 rows of other.c2 for good, and rollback restored p2 only. The
# refusal comes before anything runs, for the dry run too.
psql_q "create schema other;
  create table p2 (id int primary key, ts timestamptz not null);
  create table other.c2 (id int primary key, p_id int not null references p2 (id) on delete cascade);
  insert into p2 select i, now() - case when i <= 6 then interval '10 days' else interval '0' end from generate_series(1, 9) i;
  insert into other.c2 select i, i from generate_series(1, 9) i" >/dev/null
printf 'tables: [{table: p2, timestamp_column: ts, older_than: 5d, action: delete}]\n' >"$WORK/outside.yaml"
refused_before_anything "$WORK/outside.yaml" "a delete cascading outside graph.schemas" \
  "refusing to delete from public.p2: 6 row(s) of other.c2 reference rows older than 5d (c2_p_id_fkey, ON DELETE CASCADE) and would change without a quarantine copy: other.c2 is outside graph.schemas (add schema other there)"
expect_eq "$(psql_q "select count(*) from p2") $(psql_q "select count(*) from other.c2")" "9 9" "nothing deleted, nothing cascaded"
psql_q "delete from other.c2 where p_id <= 6" >/dev/null
expect_exit 0 "without dependent rows the same policy runs" -- dh run cleanup -p policy="$WORK/outside.yaml" --yes
expect_eq "$(psql_q "select count(*) from p2") $(psql_q "select count(*) from other.c2")" "3 3" "the old parents went, the other children stayed"
expect_exit 0 "its rollback" -- dh rollback "$(last_run_id)"
psql_q "set client_min_messages = warning; drop table p2 cascade; drop schema other cascade" >/dev/null

# A cascade child without a primary key cannot be quarantined: refused at
# validation naming it, not "cannot restore: ... lost its primary key" half-way.
psql_q "create table events (id int primary key, ts timestamptz not null);
  create table event_tags (event_id int references events (id) on delete cascade, tag text);
  insert into events values (1, now() - interval '10 days'), (2, now());
  insert into event_tags values (1, 'old'), (2, 'new')" >/dev/null
printf 'tables: [{table: events, timestamp_column: ts, older_than: 5d, action: delete}]\n' >"$WORK/nopk.yaml"
refused_before_anything "$WORK/nopk.yaml" "a delete cascading into a table without a primary key" \
  "refusing to delete from public.events: 1 row(s) of public.event_tags reference rows older than 5d (event_tags_event_id_fkey, ON DELETE CASCADE) and would change without a quarantine copy: public.event_tags has no primary key, so its cascaded rows cannot be quarantined"
expect_eq "$(psql_q "select count(*) from events") $(psql_q "select count(*) from event_tags")" "2 2" "nothing deleted"
psql_q "drop table event_tags, events" >/dev/null

# A table name holding a newline cannot forge a line of the retention report
# or of the status report.
psql_q "create table \"nl
forged\" (id int primary key, ts timestamptz not null);
  insert into \"nl
forged\" values (1, now() - interval '10 days'), (2, now() - interval '10 days')" >/dev/null
printf 'tables: [{table: {schema: public, table: "nl\\nforged"}, timestamp_column: ts, older_than: 5d, action: delete}]\n' >"$WORK/newline.yaml"
expect_exit 0 "dry run of a table named with a newline" -- dh run cleanup -p policy="$WORK/newline.yaml" --dry-run --yes
expect_in "$OUT" 'public.nl\nforged: 2 row(s) older than 5d' "the dry run escapes the newline"
grep -q '^forged' "$OUT" && not_ok "a report line starts inside the name (dry run)" || ok "no report line starts inside the name (dry run)"
expect_exit 0 "retention of a table named with a newline" -- dh run cleanup -p policy="$WORK/newline.yaml" --yes
nl_run=$(last_run_id)
expect_in "$OUT" 'public.nl\nforged: 2 row(s) deleted' "the run's report escapes the newline"
grep -q '^forged' "$OUT" && not_ok "a report line starts inside the name (run)" || ok "no report line starts inside the name (run)"
expect_exit 0 "status with a table named with a newline" -- dh run cleanup -p mode=status
expect_in "$OUT" 'public.nl\nforged  delete  2 row(s)' "status escapes the newline"
grep -q '^forged' "$OUT" && not_ok "a report line starts inside the name (status)" || ok "no report line starts inside the name (status)"
expect_exit 0 "its rollback" -- dh rollback "$nl_run"
psql_q "drop table \"nl
forged\"" >/dev/null

# erase_user: user 1 owns rows in every shape of the graph.
cat >"$WORK/erase.yaml" <<'YAML'
erase_user:
  tables:
    - {table: audit_logs, action: anonymise, columns: {user_id: {strategy: null}, target: {strategy: null}}}
    - {table: mail_outbox, action: anonymise, columns: {user_id: {strategy: null}, to_address: {strategy: fake, kind: email}, body: {strategy: fixed, value: "[erased]"}}}
    - {table: templates, action: anonymise, columns: {created_by: {strategy: null}}}
    - {table: template_versions, action: keep}
YAML
expect_exit 0 "export of user 1 before the erasure" -- dh run export_user_data -p user=1 -p output="$WORK/u1.zip"
snapshot take "$DB_URL" "$WORK/before.json"
# A database that cannot be reached is a failed run (exit 1), not a bad `user`.
DIHYA_DATABASE_URL="postgresql:///x?host=$WORK/no-such-socket-dir&user=postgres" \
  expect_exit 1 "erase_user against an unreachable database fails the run" -- \
  dh run cleanup -p mode=erase_user -p user=user1@example.test -p policy="$WORK/erase.yaml" --yes
expect_in "$ERR" "cannot connect to the database" "the error says the database cannot be reached"
expect_not_in "$ERR" "parameter 'user'" "the error does not blame the user parameter"
expect_exit 0 "erase_user dry run" -- dh run cleanup -p mode=erase_user -p user=user1@example.test -p policy="$WORK/erase.yaml" --dry-run --yes
expect_in "$OUT" "public.comments: 4 row(s) to delete" "dry run counts the user's comments (cycle, self-reference)"
expect_eq "$(checksums)" "$before" "erase dry run changes nothing"
expect_exit 0 "erase_user" -- dh run cleanup -p mode=erase_user -p user=user1@example.test -p policy="$WORK/erase.yaml" --yes
erase_run=$(last_run_id)
refs=$(psql_q "select string_agg(format('select %L as t, count(*) as n from %I.%I where %I = 1', c.conrelid::regclass::text, n.nspname, r.relname, a.attname), ' union all ')
               from pg_constraint c join pg_class r on r.oid = c.conrelid join pg_namespace n on n.oid = r.relnamespace
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
               where c.contype = 'f' and c.confrelid = 'public.users'::regclass")
expect_eq "$(psql_q "select coalesce(string_agg(t || '=' || n, ' '), '') from ($refs) x where n > 0")" "" "no row references user 1 any more"
expect_eq "$(psql_q "select count(*) from users where id = 1") $(psql_q "select count(*) from shelf_items where owner_id = 1")" "0 0" "user 1 and its composite-key rows are gone"
snapshot take "$DB_URL" "$WORK/after.json"
snapshot others "$WORK/before.json" "$WORK/after.json" "$WORK/u1.zip" >"$OUT" && ok "no row of another user changed" || not_ok "rows of others changed: $(head -3 "$OUT")"
expect_exit 2 "the erased user cannot be exported" -- dh run export_user_data -p user=1
expect_exit 0 "rollback of the erasure" -- dh rollback "$erase_run"
expect_eq "$(checksums)" "$before" "rollback of erase_user restores every table exactly"
expect_exit 0 "rollback of the erasure again" -- dh rollback "$erase_run"
expect_eq "$(checksums)" "$before" "second rollback changes nothing"

# erase_user: a table outside graph.schemas owning rows of the user through ON
# DELETE CASCADE is never reached nor quarantined; the erasure used to lose
# those rows for good. Refused before anything runs, naming it.
psql_q "create schema other;
  create table other.notes (id int primary key, user_id bigint not null references users (id) on delete cascade, body text);
  insert into other.notes values (1, 1, 'kept'), (2, 1, 'kept too')" >/dev/null
for how in --dry-run ""; do
  # shellcheck disable=SC2086
  expect_exit 2 "erase_user cascading outside graph.schemas is refused ($how)" -- \
    dh run cleanup -p mode=erase_user -p user=user1@example.test -p policy="$WORK/erase.yaml" $how --yes
  expect_in "$ERR" "refusing to delete from public.users: 2 row(s) of other.notes reference the user's rows (notes_user_id_fkey, ON DELETE CASCADE) and would change without a quarantine copy: other.notes is outside graph.schemas" \
    "the refusal names the table outside the graph ($how)"
  expect_one_line_error "erase_user cascading outside graph.schemas ($how)"
done
expect_eq "$(psql_q "select count(*) from other.notes") $(psql_q "select count(*) from users where id = 1")" "2 1" "the user and its notes are still there"
psql_q "set client_min_messages = warning; drop schema other cascade" >/dev/null
expect_eq "$(checksums)" "$before" "the refused erasure changed nothing"

# erase_user: other users' replies to the user's comment (comments.parent_id,
# ON DELETE CASCADE), a reply to a reply, and a vote on a reply (a table
# reached only through those replies) go with the comment. They used to be
# left out of the selection, and the erasure failed (exit 5) on its own
# user's comment thread. A SET NULL self-reference (a post quoting the user's
# post) is unlinked and quarantined, and rollback links it again.
psql_q "create table comment_votes (id int primary key, comment_id bigint not null references comments (id) on delete cascade, voter_id bigint references users (id) on delete set null);
  insert into comments (id, article_id, author_id, parent_id, body, created_at) values
    (900, 2, 1, null, 'by user 1 on the article of user 2', now()), (901, 2, 2, 900, 'reply of user 2', now()),
    (902, 2, 3, 901, 'reply of user 3 to it', now()), (903, 2, 3, null, 'unrelated', now());
  insert into comment_votes values (1, 902, 4), (2, 903, 4);
  create table wall_posts (id int primary key, author_id bigint not null references users (id) on delete cascade,
    quoting int references wall_posts (id) on delete set null, body text);
  insert into wall_posts values (1, 1, null, 'by user 1'), (2, 2, 1, 'user 2 quoting it'), (3, 3, 2, 'user 3 quoting user 2')" >/dev/null
thread=$(checksums)
expect_exit 0 "erase_user of a user whose comment has replies" -- \
  dh run cleanup -p mode=erase_user -p user=user1@example.test -p policy="$WORK/erase.yaml" --yes
thread_run=$(last_run_id)
expect_eq "$(psql_q "select string_agg(id::text, ',' order by id) from comments where id >= 900")" "903" "the comment, the replies and the reply to a reply are erased; the unrelated comment stays"
expect_eq "$(psql_q "select string_agg(id::text, ',' order by id) from comment_votes")" "2" "the vote on a reply goes with it"
expect_eq "$(psql_q "select string_agg(id || ':' || coalesce(quoting::text, '-'), ',' order by id) from wall_posts")" "2:-,3:2" \
  "a post quoting the user's post (SET NULL self-reference) is kept, unlinked; the one quoting it is untouched"
expect_exit 0 "rollback of the erasure of a thread" -- dh rollback "$thread_run"
expect_eq "$(checksums)" "$thread" "rollback brings the whole thread back exactly"
psql_q "drop table comment_votes, wall_posts; delete from comments where id >= 900" >/dev/null
expect_eq "$(checksums)" "$before" "the thread is gone again"

# Log files: age, gzip, total size; rollback puts every file back as it was.
L1="$WORK/logs1"; L2="$WORK/logs2"; mkdir -p "$L1" "$L2"
mk() { /usr/bin/python3 -c 'import base64,os,sys; n=int(sys.argv[1]); sys.stdout.write(base64.b64encode(os.urandom(n))[:n].decode())' "$2" >"$1"; touch -d "$3" "$1"; }
mk "$L1/a.log" 2000 now; mk "$L1/b.log" 3000 "10 days ago"; mk "$L1/c.log" 1000 "40 days ago"
mk "$L1/d.log.gz" 500 "50 days ago"; mk "$L1/e.txt" 700 "100 days ago"
ln -s /etc/hostname "$L1/link.log"; touch -h -d "100 days ago" "$L1/link.log"
mk "$L2/x1.log" 1000000 "1 day ago"; mk "$L2/x2.log" 1000000 "2 days ago"; mk "$L2/x3.log" 1000000 "3 days ago"
cp "$L1/b.log" "$WORK/b.orig"
listing() { (cd "$1" && find . -mindepth 1 -maxdepth 1 -not -name .dihya-quarantine -printf '%f %s %T@ %y %l\n' | sort && find . -maxdepth 1 -type f -exec sha256sum {} + | sort); }
l1_before=$(listing "$L1"); l2_before=$(listing "$L2")
cat >"$WORK/logs.yaml" <<YAML
logs:
  - {dir: "$L1", patterns: ["*.log", "*.log.gz"], max_age: 30d, compress_after: 7d}
  - {dir: "$L2", patterns: ["*.log"], max_total_size: 2MB}
YAML
expect_exit 0 "log retention dry run" -- dh run cleanup -p policy="$WORK/logs.yaml" --dry-run --yes
expect_in "$OUT" "$L1/c.log: remove (older than max_age" "dry run lists an old log"
expect_in "$OUT" "$L2/x3.log: remove (over max_total_size" "dry run lists the oldest log over the size cap"
expect_eq "$(listing "$L1")$(listing "$L2")" "$l1_before$l2_before" "log dry run changes nothing"
expect_exit 0 "log retention" -- dh run cleanup -p policy="$WORK/logs.yaml" --yes
log_run=$(last_run_id)
expect_eq "$(cd "$L1" && ls -A | sort | tr '\n' ' ')" ".dihya-quarantine a.log b.log.gz e.txt link.log " "old logs gone, b.log gzipped, other files and symlinks untouched"
expect_eq "$(gzip -dc "$L1/b.log.gz" | sha256sum)" "$(sha256sum <"$WORK/b.orig")" "the gzip holds the original log"
expect_eq "$(cd "$L2" && ls | tr '\n' ' ')" "x1.log x2.log " "the oldest log over max_total_size went"
expect_exit 0 "rollback of log retention" -- dh rollback "$log_run"
expect_eq "$(listing "$L1")$(listing "$L2")" "$l1_before$l2_before" "rollback restores every log file (names, sizes, mtimes, content)"
expect_exit 0 "rollback of log retention again" -- dh rollback "$log_run"
expect_eq "$(listing "$L1")$(listing "$L2")" "$l1_before$l2_before" "log rollback is idempotent"
expect_exit 0 "log retention with quarantine_days=0" -- dh run cleanup -p policy="$WORK/logs.yaml" -p quarantine_days=0 --yes
zero_run=$(last_run_id)
expect_exit 0 "purge with the policy purges log quarantine too" -- dh run cleanup -p mode=purge -p policy="$WORK/logs.yaml" --yes
expect_in "$OUT" "and 4 log file(s)" "purge counts the 4 quarantined log files"
expect_eq "$(find "$L1/.dihya-quarantine" "$L2/.dihya-quarantine" -type f -not -name .expires_at | wc -l)" 0 "purged log files are gone for good"
# Its rollback cannot bring them back: it fails saying so, not "restored 0".
expect_exit 1 "rollback of a log retention whose files were purged fails" -- dh rollback "$zero_run"
expect_in "$OUT" "4 log file(s) this run quarantined are gone" "the failure says how many files are gone"
expect_eq "$(dh history --json | python3 -c "import json,sys; print([r['outcome'] for r in json.load(sys.stdin) if r['id']=='$zero_run'][0])")" \
  succeeded "the run is not marked rolled back"
printf 'logs: [{dir: "relative/dir", patterns: ["*.log"], max_age: 1d}]\n' >"$WORK/badlogs.yaml"
expect_exit 2 "a relative log dir" -- dh run cleanup -p policy="$WORK/badlogs.yaml" --yes
printf 'logs: [{dir: "%s", patterns: ["../*"], max_age: 1d}]\n' "$L1" >"$WORK/badlogs.yaml"
expect_exit 2 "a pattern escaping the dir" -- dh run cleanup -p policy="$WORK/badlogs.yaml" --yes

# Durations longer than 100 years are refused: a time point counts
# nanoseconds in 64 bits, ~292 years from 1970, and a cutoff computed past
# that wrapped into the future, so 999999w deleted every row, even an hour
# old. 36500d (100 years) is honoured exactly. Sizes that would wrap are
# refused too, and a log's mtime far in the future is not mistaken for old.
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -c "create table far_events (id bigint primary key, ts timestamptz not null)" \
  -c "insert into far_events select g, now() - g * interval '1 hour' from generate_series(1, 50) g" \
  -c "insert into far_events values (0, now() - interval '101 years')" >/dev/null
far_before=$(checksums)
printf 'tables:\n  - {table: far_events, timestamp_column: ts, older_than: 999999w, action: delete}\n' >"$WORK/far.yaml"
expect_exit 2 "older_than 999999w is refused" -- dh run cleanup -p policy="$WORK/far.yaml" --yes
expect_one_line_error "older_than 999999w"
expect_in "$ERR" "older_than 999999w is longer than 100 years" "the refusal names the duration and the bound"
expect_eq "$(checksums)" "$far_before" "no row went"
printf 'tables:\n  - {table: far_events, timestamp_column: ts, older_than: 36500d, action: delete}\n' >"$WORK/far.yaml"
expect_exit 0 "older_than 36500d (100 years)" -- dh run cleanup -p policy="$WORK/far.yaml" --yes
expect_eq "$(psql_q "select count(*) || ' ' || min(id) from far_events")" "50 1" "only the 101-year-old row went"
psql_q "drop table far_events" >/dev/null
F="$WORK/logs_far"; mkdir -p "$F"
mk "$F/old.log" 100 "40 days ago"; mk "$F/future.log" 100 "2400-01-01"
printf 'logs: [{dir: "%s", patterns: ["*.log"], max_age: 999999w}]\n' "$F" >"$WORK/far_logs.yaml"
expect_exit 2 "logs: max_age 999999w is refused" -- dh run cleanup -p policy="$WORK/far_logs.yaml" --yes
printf 'logs: [{dir: "%s", patterns: ["*.log"], max_total_size: 999999999999TB}]\n' "$F" >"$WORK/far_logs.yaml"
expect_exit 2 "logs: a max_total_size that would wrap is refused" -- dh run cleanup -p policy="$WORK/far_logs.yaml" --yes
printf 'logs: [{dir: "%s", patterns: ["*.log"], max_age: 30d}]\n' "$F" >"$WORK/far_logs.yaml"
expect_exit 0 "log dry run with a file dated 2400" -- dh run cleanup -p policy="$WORK/far_logs.yaml" --dry-run --yes
expect_in "$OUT" "$F/old.log: remove" "the old log is listed"
expect_not_in "$OUT" "future.log" "the log dated 2400 is not mistaken for an old one"

# Names in a log dir may be planted by whoever can write it; cleanup works
# relative to the directory, never through a symlink, and reads no FIFO.
P="$WORK/logs_planted"; mkdir -p "$P"
mk "$P/app.log" 1000 "10 days ago"; echo "precious, not a log" >"$P/keep.txt"
ln -s keep.txt "$P/.app.log.gz.partial"
keep_sum=$(sha256sum <"$P/keep.txt"); app_sum=$(sha256sum <"$P/app.log")
printf 'logs: [{dir: "%s", patterns: ["*.log"], compress_after: 1d}]\n' "$P" >"$WORK/planted.yaml"
[ -L "$P/.app.log.gz.partial" ] && ok "a symlink is planted at gzip's temporary name" || not_ok "no planted symlink"
expect_exit 0 "gzip with a symlink at its temporary name" -- dh run cleanup -p policy="$WORK/planted.yaml" --yes
expect_eq "$(sha256sum <"$P/keep.txt")" "$keep_sum" "the symlink's target is intact"
expect_eq "$(gzip -dc "$P/app.log.gz" | sha256sum)" "$app_sum" "the .gz holds the log"
[ ! -e "$P/.app.log.gz.partial" ] && [ ! -L "$P/.app.log.gz.partial" ] && ok "the planted link was removed, not written through" || not_ok "the partial name is still there"
Q="$WORK/logs_qlink"; mkdir -p "$Q/shared"; chmod 755 "$Q/shared"
mk "$Q/old.log" 100 "40 days ago"; ln -s shared "$Q/.dihya-quarantine"
printf 'logs: [{dir: "%s", patterns: ["*.log"], max_age: 30d}]\n' "$Q" >"$WORK/qlink.yaml"
[ -L "$Q/.dihya-quarantine" ] && [ -d "$Q/.dihya-quarantine" ] && ok "a symlink to a directory is planted as .dihya-quarantine" || not_ok "no planted quarantine link"
expect_exit 5 "a symlinked .dihya-quarantine is refused" -- dh run cleanup -p policy="$WORK/qlink.yaml" --yes
expect_in "$ERR" ".dihya-quarantine is a symlink or not a directory: refusing to follow it" "the refusal says why"
expect_eq "$(stat -c %a "$Q/shared") $(ls -A "$Q/shared" | wc -l)" "755 0" "the link's target is untouched (mode, content)"
[ -f "$Q/old.log" ] && ok "the log stays in place" || not_ok "old.log was moved"
expect_exit 1 "purge refuses the symlinked quarantine too" -- dh run cleanup -p mode=purge -p policy="$WORK/qlink.yaml" --yes
R="$WORK/logs_fifo"; mkdir -p "$R/.dihya-quarantine/fifo" "$R/.dihya-quarantine/linked"
mkfifo "$R/.dihya-quarantine/fifo/.expires_at"
echo 0 >"$WORK/expired_at_0"; ln -s "$WORK/expired_at_0" "$R/.dihya-quarantine/linked/.expires_at"
mk "$R/.dihya-quarantine/linked/kept.log" 10 now
printf 'logs: [{dir: "%s", patterns: ["*.log"], max_age: 30d}]\n' "$R" >"$WORK/fifo.yaml"
[ -p "$R/.dihya-quarantine/fifo/.expires_at" ] && ok "a FIFO is planted as a run's .expires_at" || not_ok "no planted FIFO"
expect_exit 0 "purge dry run with a FIFO .expires_at does not hang" -- timeout 20 "$DIHYA_HOST" run cleanup -p mode=purge -p policy="$WORK/fifo.yaml" --dry-run --yes
expect_exit 0 "purge with a FIFO .expires_at does not hang" -- timeout 20 "$DIHYA_HOST" run cleanup -p mode=purge -p policy="$WORK/fifo.yaml" --yes
[ -p "$R/.dihya-quarantine/fifo/.expires_at" ] && [ -f "$R/.dihya-quarantine/linked/kept.log" ] \
  && ok "run dirs whose .expires_at is a FIFO or a symlink are left alone" || not_ok "a planted run dir was purged"

# A file name with a newline cannot forge a line of the report.
N="$WORK/logs_newline"; mkdir -p "$N"
forged="$N/x.log: remove (older than max_age, 9 bytes)"$'\n'"audit.log"
mk "$forged" 10 "40 days ago"
printf 'logs: [{dir: "%s", patterns: ["*.log"], max_age: 30d}]\n' "$N" >"$WORK/newline.yaml"
expect_exit 0 "log dry run with a newline in a file name" -- dh run cleanup -p policy="$WORK/newline.yaml" --dry-run --yes
expect_in "$OUT" 'bytes)\naudit.log: remove' "the newline is shown as \\n"
expect_eq "$(grep -c '^audit.log' "$OUT")" 0 "no report line starts with the forged name"

# erase_user of a user whose only other rows point at it through ON DELETE
# SET NULL (no rule for them): they are kept and quarantined as unlinked, and
# rollback restores every table exactly.
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null <<'SQL'
create schema setnull;
create table setnull.users (id bigint primary key, email text unique);
create table setnull.notes (id bigint primary key, author_id bigint references setnull.users on delete set null, body text);
insert into setnull.users values (1, 'a@example.test'), (2, 'b@example.test');
insert into setnull.notes values (1, 1, 'n1'), (2, 2, 'n2'), (3, 1, 'n3');
SQL
setnull_rows() { psql_q "select (select string_agg(format('%s:%s', id, email), ',' order by id) from setnull.users) || ' ' ||
                                (select string_agg(format('%s:%s:%s', id, author_id, body), ',' order by id) from setnull.notes)"; }
setnull_before=$(setnull_rows)
printf 'tables: []\ngraph: {users_table: setnull.users, schemas: [setnull]}\n' >"$WORK/setnull.yaml"
expect_exit 0 "erase_user dry run, SET NULL links only" -- dh run cleanup -p mode=erase_user -p user=1 -p policy="$WORK/setnull.yaml" --dry-run --yes
expect_in "$OUT" "setnull.notes: 0 row(s) to delete, 2 to unlink" "dry run counts the notes to unlink"
expect_eq "$(setnull_rows)" "$setnull_before" "the dry run changes nothing"
expect_exit 0 "erase_user, SET NULL links only" -- dh run cleanup -p mode=erase_user -p user=1 -p policy="$WORK/setnull.yaml" --yes
setnull_run=$(last_run_id)
expect_eq "$(setnull_rows)" "2:b@example.test 1::n1,2:2:n2,3::n3" "the user is gone, its notes kept and unlinked"
expect_exit 0 "rollback of the SET NULL erasure" -- dh rollback "$setnull_run"
expect_eq "$(setnull_rows)" "$setnull_before" "rollback restores the user and the links exactly"
psql_q "set client_min_messages = warning; drop schema setnull cascade" >/dev/null

# A run whose rows were all purged, or some of its batches, cannot be rolled
# back: the rollback fails (exit 1) naming the rows purged for good and the
# purge run, puts back what is still quarantined, and says the same when run
# again. Rows that cannot go back without a purged parent stay quarantined.
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null <<'SQL'
create schema purged;
create table purged.whole (id int primary key, ts timestamptz);
create table purged.part (id int primary key, ts timestamptz);
create table purged.parent (id int primary key, ts timestamptz);
create table purged.child (id int primary key, parent_id int references purged.parent, ts timestamptz);
insert into purged.whole select i, '2020-01-01' from generate_series(1, 100) i;
insert into purged.part select i, '2020-01-01' from generate_series(1, 100) i;
insert into purged.parent select i, '2020-01-01' from generate_series(1, 10) i;
insert into purged.child select i, i, '2020-01-01' from generate_series(1, 10) i;
SQL
purged_q() { psql_q "select quarantine_table from dihya_quarantine.tables where source_schema = 'purged' and source_table = '$1'"; }
printf 'tables:\n  - {table: purged.whole, timestamp_column: ts, older_than: 1d, action: delete}\ngraph: {schemas: [purged]}\n' >"$WORK/whole.yaml"
expect_exit 0 "a run quarantining 100 rows for 0 days" -- dh run cleanup -p policy="$WORK/whole.yaml" -p quarantine_days=0 --yes
whole_run=$(last_run_id)
expect_exit 0 "purge of all its rows" -- dh run cleanup -p mode=purge --yes
expect_in "$OUT" "purged 100 expired" "the purge removed its 100 rows"
whole_purge=$(last_run_id)
expect_exit 1 "rollback of a run whose rows were all purged fails" -- dh rollback "$whole_run"
expect_in "$OUT" "rollback FAILED: 100 row(s) this run quarantined were purged for good (purged.whole: 100 by purge run $whole_purge): its prior state cannot be restored; restored 0 row(s) still quarantined" \
  "the failure names the 100 rows purged for good and the purge run"
expect_eq "$(outcome_of "$whole_run")" succeeded "the run is not marked rolled back"
expect_exit 1 "the rollback again" -- dh rollback "$whole_run"
expect_in "$OUT" "100 row(s) this run quarantined were purged for good" "the second rollback says the same"

printf 'tables:\n  - {table: purged.part, timestamp_column: ts, older_than: 1d, action: delete}\ngraph: {schemas: [purged]}\n' >"$WORK/part.yaml"
expect_exit 0 "a run in batches of 10" -- dh run cleanup -p policy="$WORK/part.yaml" -p batch_size=10 --yes
part_run=$(last_run_id)
psql_q "update dihya_quarantine.\"$(purged_q part)\" set _dihya_expires_at = now() - interval '1 day' where _dihya_run_id = '$part_run' and id <= 30" >/dev/null
expect_exit 0 "purge of its first 3 batches" -- dh run cleanup -p mode=purge --yes
part_purge=$(last_run_id)
expect_exit 1 "rollback of a run partly purged fails" -- dh rollback "$part_run"
expect_in "$OUT" "30 row(s) this run quarantined were purged for good (purged.part: 30 by purge run $part_purge): its prior state cannot be restored; restored 70 row(s) still quarantined" \
  "the failure names the 30 rows purged and the 70 restored"
expect_eq "$(psql_q "select count(*), min(id) from purged.part")" "70|31" "the 70 rows still quarantined are back"
expect_exit 1 "the rollback of the partly purged run again" -- dh rollback "$part_run"
expect_in "$OUT" "30 row(s) this run quarantined were purged for good (purged.part: 30 by purge run $part_purge): its prior state cannot be restored; restored 0 row(s)" \
  "the second rollback restores nothing more and still fails"

printf 'tables:\n  - {table: purged.child, timestamp_column: ts, older_than: 1d, action: delete}\n  - {table: purged.parent, timestamp_column: ts, older_than: 1d, action: delete}\ngraph: {schemas: [purged]}\n' >"$WORK/family.yaml"
expect_exit 0 "a run deleting children, then their parents" -- dh run cleanup -p policy="$WORK/family.yaml" --yes
family_run=$(last_run_id)
psql_q "update dihya_quarantine.\"$(purged_q parent)\" set _dihya_expires_at = now() - interval '1 day' where _dihya_run_id = '$family_run'" >/dev/null
expect_exit 0 "purge of the parents only" -- dh run cleanup -p mode=purge --yes
family_purge=$(last_run_id)
expect_exit 1 "rollback of the run whose parents were purged fails" -- dh rollback "$family_run"
expect_in "$OUT" "10 row(s) this run quarantined were purged for good (purged.parent: 10 by purge run $family_purge): its prior state cannot be restored; the rows still quarantined stay there (restoring them failed: insert or update on table \"child\" violates foreign key constraint" \
  "the failure names the purged parents and why the children stay quarantined"
expect_eq "$(psql_q "select count(*) from purged.child") $(psql_q "select count(*) from dihya_quarantine.\"$(purged_q child)\" where _dihya_run_id = '$family_run'")" "0 10" \
  "the children stay in the quarantine"
psql_q "set client_min_messages = warning; drop schema purged cascade" >/dev/null

# Hostile inputs: exit 2, one line, nothing changed.
bad() {  # bad DESCRIPTION YAML [extra params...]
  local what=$1 yaml=$2; shift 2
  printf '%s\n' "$yaml" >"$WORK/bad.yaml"
  expect_exit 2 "$what" -- dh run cleanup -p policy="$WORK/bad.yaml" "$@" --yes
  expect_one_line_error "$what"
}
bad "malformed YAML" 'tables: [ {table: sessions'
bad "older_than not a duration" 'tables: [{table: sessions, timestamp_column: expires_at, older_than: "ninety days", action: delete}]'
bad "unknown action" 'tables: [{table: sessions, timestamp_column: expires_at, older_than: 9d, action: drop}]'
bad "unknown table" 'tables: [{table: nope, timestamp_column: created_at, older_than: 9d, action: delete}]'
bad "injection in a table name" 'tables: [{table: "sessions; DROP TABLE users", timestamp_column: expires_at, older_than: 9d, action: delete}]'
bad "injection in a column name" 'tables: [{table: sessions, timestamp_column: "expires_at < now() or true --", older_than: 9d, action: delete}]'
bad "timestamp column that is not a timestamp" 'tables: [{table: sessions, timestamp_column: user_agent, older_than: 9d, action: delete}]'
bad "hash without a salt" 'tables: [{table: audit_logs, timestamp_column: created_at, older_than: 9d, action: anonymise, columns: {target: {strategy: hash}}}]'
bad "a fixed value of the wrong type" 'tables: [{table: uploads, timestamp_column: created_at, older_than: 9d, action: anonymise, columns: {size_bytes: {strategy: fixed, value: "n/a"}}}]'
expect_in "$ERR" "public.uploads.size_bytes is bigint: its fixed value does not fit" "the refusal names the column and its type"
bad "an erase_user fixed value of the wrong type" 'erase_user: {tables: [{table: uploads, action: anonymise, columns: {size_bytes: {strategy: fixed, value: "n/a"}}}]}' -p mode=erase_user -p user=2
bad "anonymising the primary key" 'tables: [{table: audit_logs, timestamp_column: created_at, older_than: 9d, action: anonymise, columns: {id: {strategy: null}}}]'
bad "an alias bomb" 'a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]'
expect_exit 2 "erase_user of an unknown user" -- dh run cleanup -p mode=erase_user -p "user=1 or 1=1" -p policy="$WORK/erase.yaml" --yes
expect_eq "$(checksums)" "$before" "hostile inputs changed nothing"
expect_exit 0 "check --exercise" -- dh check cleanup --exercise
finish
