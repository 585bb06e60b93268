#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The database plugins, connected as a superuser, attacked by a less
# privileged application role that owns the tables (or a schema of the
# search path): its triggers, its tables created before ours, its functions
# and operators shadowing built-ins must never run with the superuser's
# privileges. Each planted object calls dihya_probe(), which, when it runs as
# a superuser, makes the role a superuser and writes a marker file (COPY TO a
# file needs superuser, and works in a read-only transaction too). The
# plugins pin search_path to pg_catalog (or qualify their calls) and refuse,
# in one line, a table carrying code that role owns.
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"

# Roles belong to the cluster, not to this test's database: dropped after it.
app="dihya_app_$$"
# Written by the server's user (COPY TO), so open to all, sticky.
markers=$(mktemp -d /tmp/dihya-probe.XXXXXX)
chmod 1777 "$markers"
target="${DB_NAME}_target"  # backup_db restores into it
trap 'rm -rf "$WORK" "$HOST_DIRS" "$markers"
      psql -X -q "$base_url" -c "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true
      psql -X -q "$base_url" -c "drop database if exists $target with (force)" >/dev/null 2>&1 || true
      psql -X -q "$base_url" -c "drop database if exists ${DB_NAME}_parts with (force)" >/dev/null 2>&1 || true
      psql -X -q "$base_url" -c "drop database if exists ${DB_NAME}_parts_target with (force)" >/dev/null 2>&1 || true
      psql -X -q "$base_url" -c "drop role if exists $app" >/dev/null 2>&1 || true' EXIT

# as_app SQL: runs SQL as the application role (SET ROLE: what it may do itself).
as_app() { psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -c "set role $app; $1" >/dev/null; }
is_superuser() { psql_q "select rolsuper from pg_roles where rolname = '$app'"; }
reset_app() { psql_q "alter role $app nosuperuser" >/dev/null; rm -f "$markers"/*; }

# expect_not_escalated "TAG..." DESCRIPTION: the probes never ran as a superuser.
expect_not_escalated() {
  local tag
  for tag in $1; do
    if [ -e "$markers/$tag" ]; then not_ok "$2: planted code ran as superuser (marker $tag)"; else ok "$2: no marker $tag"; fi
  done
  expect_eq "$(is_superuser)" f "$2: $app is not a superuser"
  reset_app
}

psql_q "create role $app nologin" >/dev/null
# plant_probe URL DATABASE: the application role owns public in DATABASE and
# creates the probe there.
plant_probe() {
  psql -X -q -v ON_ERROR_STOP=1 "$1" >/dev/null <<SQL
grant create on database $2 to $app;
alter schema public owner to $app;
set role $app;
create function public.dihya_probe(tag text) returns boolean language plpgsql as \$\$
begin
  if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
    begin execute pg_catalog.format('alter role %I superuser', '$app'); exception when others then null; end;
    begin execute pg_catalog.format('copy (select 1) to %L', '$markers/' || tag); exception when others then null; end;
  end if;
  return true;
end \$\$;
create function public.dihya_probe_trigger() returns trigger language plpgsql as \$\$
begin perform public.dihya_probe(tg_argv[0]); return coalesce(new, old); end \$\$;
SQL
}
plant_probe "$DB_URL" "$DB_NAME"

# Positive guard: the probe does escalate when a superuser runs it, so its
# absence below means the plugin did not run it.
psql_q "select public.dihya_probe('selftest')" >/dev/null
[ -e "$markers/selftest" ] && ok "the probe escalates when a superuser calls it" || not_ok "the probe did not write its marker"
expect_eq "$(is_superuser)" t "the probe made $app a superuser"
reset_app

# ---- cleanup: tables the application role owns, with its triggers ----------
as_app "create table public.users (id bigint primary key, email text not null unique);
  create table public.sessions (id bigint primary key, user_id bigint references public.users on delete cascade,
                                expires_at timestamptz not null);
  insert into public.users select g, 'u' || g || '@example.test' from generate_series(1, 3) g;
  insert into public.sessions select g, 1 + g % 3, now() - interval '60 days' from generate_series(1, 30) g;"
cat >"$WORK/retention.yaml" <<'YAML'
tables:
  - {table: sessions, timestamp_column: expires_at, older_than: 30d, action: delete}
YAML
cat >"$WORK/erase.yaml" <<'YAML'
erase_user:
  tables: []
YAML
# A clean run first: no trigger yet, the rows go to the quarantine.
expect_exit 0 "cleanup of tables the application role owns, no code on them" -- \
  dh run cleanup -p policy="$WORK/retention.yaml" --yes
clean_run=$(last_run_id)
expect_eq "$(psql_q "select count(*) from public.sessions")" 0 "the old sessions went"

as_app "insert into public.sessions select g, 1 + g % 3, now() - interval '60 days' from generate_series(101, 110) g;
  create trigger probe before delete on public.sessions for each row execute function public.dihya_probe_trigger('cleanup_delete')"
expect_exit 2 "cleanup refuses a table whose trigger the application role owns" -- \
  dh run cleanup -p policy="$WORK/retention.yaml" --yes
expect_one_line_error "cleanup, trigger"
expect_in "$ERR" "trigger probe on table public.sessions calls public.dihya_probe_trigger()" "the refusal names the trigger and its function"
expect_in "$ERR" "owner $app" "the refusal names the owner"
expect_not_escalated cleanup_delete "cleanup retention"
expect_eq "$(psql_q "select count(*) from public.sessions")" 10 "nothing was deleted"

expect_exit 2 "erase_user refuses it too" -- \
  dh run cleanup -p mode=erase_user -p user=u1@example.test -p policy="$WORK/erase.yaml" --yes
expect_one_line_error "erase_user, trigger"
expect_not_escalated cleanup_delete "cleanup erase_user"

# Rollback inserts the quarantined rows back: an INSERT trigger planted since.
as_app "create trigger probe_insert before insert on public.sessions for each row execute function public.dihya_probe_trigger('cleanup_restore')"
expect_exit 1 "rollback refuses to restore into a table whose trigger the application role owns" -- dh rollback "$clean_run"
expect_in "$ERR" "trigger probe_insert on table public.sessions" "the rollback's refusal names the trigger"
expect_not_escalated cleanup_restore "cleanup rollback"
as_app "drop trigger probe on public.sessions; drop trigger probe_insert on public.sessions"
expect_exit 0 "once the trigger is gone, the rollback restores" -- dh rollback "$clean_run"
expect_eq "$(psql_q "select count(*) from public.sessions")" 40 "every row is back"

# A rule the role adds to its table runs its action with the privileges of
# whoever writes the table: the rollback's INSERT is refused while it is there.
expect_exit 0 "cleanup moves the old sessions again" -- dh run cleanup -p policy="$WORK/retention.yaml" --yes
rule_run=$(last_run_id)
as_app "create rule probe_rule as on insert to public.sessions do also select public.dihya_probe('cleanup_rule')"
expect_exit 1 "rollback refuses to restore into a table carrying a rule the application role owns" -- dh rollback "$rule_run"
expect_in "$ERR" "rule probe_rule on table public.sessions is a rule (owner $app)" "the rollback's refusal names the rule and its owner"
expect_not_escalated cleanup_rule "cleanup rollback, rule"
expect_eq "$(psql_q "select count(*) from public.sessions")" 0 "nothing was restored past the rule"
as_app "drop rule probe_rule on public.sessions"
expect_exit 0 "once the rule is gone, the rollback restores" -- dh rollback "$rule_run"
expect_eq "$(psql_q "select count(*) from public.sessions")" 40 "every row is back again"

# The same code owned by the superuser is trusted: nothing is refused.
psql_q "alter function public.dihya_probe_trigger() owner to postgres;
  create trigger audit before delete on public.sessions for each row execute function public.dihya_probe_trigger('trusted')" >/dev/null
expect_exit 0 "a trigger whose function a superuser owns does not stop cleanup" -- \
  dh run cleanup -p policy="$WORK/retention.yaml" --dry-run --yes
psql_q "drop trigger audit on public.sessions; alter function public.dihya_probe_trigger() owner to $app" >/dev/null
reset_app

# The quarantine schema made by the role before cleanup's first run.
psql_q "drop schema dihya_quarantine cascade" >/dev/null 2>&1
as_app "insert into public.sessions select g, null, now() - interval '60 days' from generate_series(201, 205) g;
  create schema dihya_quarantine;
  create table dihya_quarantine.tables (quarantine_table text primary key, source_schema text not null,
    source_table text not null, columns text not null, created_at timestamptz not null default now());
  create trigger probe before insert on dihya_quarantine.tables for each row execute function public.dihya_probe_trigger('cleanup_quarantine')"
expect_exit 1 "cleanup refuses a quarantine schema the application role planted a trigger in" -- \
  dh run cleanup -p policy="$WORK/retention.yaml" --yes
expect_in "$ERR" "trigger probe on table dihya_quarantine.tables" "the refusal names the quarantine's trigger"
expect_not_escalated cleanup_quarantine "cleanup, planted quarantine"
psql_q "drop schema dihya_quarantine cascade" >/dev/null 2>&1
# The same table without a trigger, its created_at of the role's domain,
# whose default calls the role's function: cleanup's INSERT leaves that
# column out, so the domain's default would run.
as_app "create schema dihya_quarantine;
  create domain public.stamp as timestamptz default (case when public.dihya_probe('quarantine_default') then now() end);
  create table dihya_quarantine.tables (quarantine_table text primary key, source_schema text not null,
    source_table text not null, columns text not null, created_at public.stamp not null)"
expect_exit 1 "cleanup refuses a planted quarantine whose column's domain default the role wrote" -- \
  dh run cleanup -p policy="$WORK/retention.yaml" --yes
expect_in "$ERR" "type public.stamp calls public.dihya_probe(text) (owner $app)" "the refusal names the domain and its default's function"
expect_not_escalated quarantine_default "cleanup, planted quarantine with a domain default"
psql_q "drop schema dihya_quarantine cascade" >/dev/null 2>&1

# A domain over the role's domain, and an array of it: the inner domain's
# check runs on each write of either column (the quarantine copies them too).
as_app "create domain public.d_inner as text check (public.dihya_probe('cleanup_domain'));
  create domain public.d_outer as public.d_inner;
  create table public.events (id bigint primary key, at timestamptz not null, label public.d_outer);
  insert into public.events values (1, now() - interval '60 days', 'old'), (2, now(), 'new')"
cat >"$WORK/events.yaml" <<'YAML'
tables:
  - {table: events, timestamp_column: at, older_than: 30d, action: delete}
YAML
expect_exit 2 "cleanup refuses a column whose domain is over a domain with the role's check" -- \
  dh run cleanup -p policy="$WORK/events.yaml" --yes
expect_in "$ERR" "constraint d_inner_check" "the refusal names the inner domain's check"
expect_not_escalated cleanup_domain "cleanup, domain over a domain"
expect_eq "$(psql_q "select count(*) from public.events")" 2 "no event was deleted"
as_app "create table public.events2 (id bigint primary key, at timestamptz not null, seen public.d_inner[]);
  insert into public.events2 values (1, now() - interval '60 days', null)"
sed 's/table: events,/table: events2,/' "$WORK/events.yaml" >"$WORK/events2.yaml"
expect_exit 2 "an array of the role's domain is refused too" -- \
  dh run cleanup -p policy="$WORK/events2.yaml" --yes
expect_in "$ERR" "constraint d_inner_check" "the refusal names the element domain's check"
expect_not_escalated cleanup_domain "cleanup, array of a domain"
expect_eq "$(psql_q "select count(*) from public.events2")" 1 "no event2 was deleted"

# A CHECK constraint casting to the role's domain runs the domain's check (the
# rollback's INSERT), though no column is of that domain.
as_app "create function public.code_ok(integer) returns boolean language plpgsql as \$\$
    begin perform public.dihya_probe('check_domain_cast'); return true; end \$\$;
  create domain public.code as integer check (public.code_ok(value));
  create table public.tickets (id bigint primary key, at timestamptz not null, code integer check ((code)::public.code is not null));
  insert into public.tickets values (1, now() - interval '60 days', 7), (2, now(), 8)"
psql_q "alter function public.code_ok(integer) owner to postgres" >/dev/null
sed 's/table: events,/table: tickets,/' "$WORK/events.yaml" >"$WORK/tickets.yaml"
expect_exit 0 "cleanup of a table whose check casts to the role's domain, its function a superuser's" -- \
  dh run cleanup -p policy="$WORK/tickets.yaml" --yes
tickets_run=$(last_run_id)
psql_q "alter function public.code_ok(integer) owner to $app" >/dev/null
reset_app
expect_exit 1 "rollback refuses a table whose check casts to the role's domain" -- dh rollback "$tickets_run"
expect_in "$ERR" "calls public.code_ok(integer) (owner $app)" "the refusal names the domain check's function"
expect_not_escalated check_domain_cast "cleanup rollback, check casting to a domain"
expect_eq "$(psql_q "select count(*) from public.tickets")" 1 "no ticket was restored"

# A built-in that runs a query given as text: the role's CHECK calls
# query_to_xml, a superuser's function, which calls the role's own function
# (no dependency records it). Anonymising the rows runs the CHECK.
as_app "create table public.outbox (id bigint primary key, created_at timestamptz not null, subject text,
    constraint outbox_query check (pg_catalog.query_to_xml('select public.dihya_probe(''builtin_query'')', true, false, '') is not null));
  insert into public.outbox select g, now() - interval '60 days', 'hello' from generate_series(1, 3) g"
reset_app
cat >"$WORK/outbox.yaml" <<'YAML'
tables:
  - {table: outbox, timestamp_column: created_at, older_than: 30d, action: anonymise, columns: {subject: {strategy: mask}}}
YAML
expect_exit 2 "cleanup refuses a CHECK of the role that runs SQL through query_to_xml" -- \
  dh run cleanup -p policy="$WORK/outbox.yaml" --yes
expect_in "$ERR" "constraint outbox_query on table public.outbox calls query_to_xml(text,boolean,boolean,text) (written by $app)" \
  "the refusal names the built-in and who wrote the call"
expect_not_escalated builtin_query "cleanup, query_to_xml in a CHECK"
expect_eq "$(psql_q "select count(*) from public.outbox where subject = 'hello'")" 3 "no row was anonymised"
# The usual built-ins of defaults and checks are not refused.
as_app "create sequence public.plain_seq;
  create table public.plain (id bigint primary key default nextval('public.plain_seq'), at timestamptz not null default clock_timestamp(),
    token uuid default gen_random_uuid(), note text check (pg_catalog.length(note) < 100), words tsvector);
  create trigger words before insert or update on public.plain for each row
    execute function pg_catalog.tsvector_update_trigger(words, 'pg_catalog.english', note);
  insert into public.plain (at, note) values (now() - interval '60 days', 'old'), (now(), 'new')"
sed 's/table: events,/table: plain,/' "$WORK/events.yaml" >"$WORK/plain.yaml"
expect_exit 0 "cleanup of a table whose defaults, check and trigger call only usual built-ins" -- \
  dh run cleanup -p policy="$WORK/plain.yaml" --yes
expect_eq "$(psql_q "select count(*) from public.plain")" 1 "the old row went"

# A range type whose subtype_diff the role wrote: a GiST index over a column
# of it calls the function for each row written (the rollback's INSERT).
# Cleanup's first run is made while a superuser owns the function.
as_app "create function public.span_diff(float8, float8) returns float8 language plpgsql immutable as \$\$
    begin perform public.dihya_probe('range_diff'); return \$1 - \$2; end \$\$;
  create type public.span as range (subtype = float8, subtype_diff = public.span_diff);
  create table public.slots (id bigint primary key, at timestamptz not null, during public.span);
  create index on public.slots using gist (during);
  insert into public.slots select g, now() - case when g <= 20 then interval '60 days' else interval '0 days' end,
    public.span(g, g + 1) from generate_series(1, 3000) g"
psql_q "alter function public.span_diff(float8, float8) owner to postgres" >/dev/null
sed 's/table: events,/table: slots,/' "$WORK/events.yaml" >"$WORK/slots.yaml"
expect_exit 0 "cleanup of a table with a column of the role's range type, its subtype_diff a superuser's" -- \
  dh run cleanup -p policy="$WORK/slots.yaml" --yes
slots_run=$(last_run_id)
expect_eq "$(psql_q "select count(*) from public.slots")" 2980 "the old slots went"
psql_q "alter function public.span_diff(float8, float8) owner to $app" >/dev/null
expect_exit 1 "rollback refuses to write into a GiST index over the role's range type" -- dh rollback "$slots_run"
expect_in "$ERR" "type public.span calls public.span_diff(double precision,double precision) (owner $app)" \
  "the refusal names the range type and its subtype_diff"
expect_not_escalated range_diff "cleanup rollback, range subtype_diff"
expect_eq "$(psql_q "select count(*) from public.slots")" 2980 "no slot was restored"
as_app "insert into public.slots values (5000, now() - interval '60 days', public.span(1, 2))"
expect_exit 2 "cleanup refuses a table with a column of the role's range type" -- \
  dh run cleanup -p policy="$WORK/slots.yaml" --yes
expect_not_escalated range_diff "cleanup, range subtype_diff"
# A cast the role wrote into its own enum (a statement converting text into
# that column would call it), and a multirange of its range type.
as_app "create type public.mood as enum ('calm', 'busy');
  create function public.to_mood(text) returns public.mood language plpgsql as \$\$
    begin perform public.dihya_probe('cast'); return pg_catalog.enum_first(null::public.mood); end \$\$;
  create cast (text as public.mood) with function public.to_mood(text) as assignment;
  create table public.moods (id bigint primary key, at timestamptz not null, mood public.mood, busy public.span_multirange);
  insert into public.moods values (1, now() - interval '60 days', 'calm', null)"
sed 's/table: events,/table: moods,/' "$WORK/events.yaml" >"$WORK/moods.yaml"
expect_exit 2 "cleanup refuses a column type with the role's cast, and a multirange of its range" -- \
  dh run cleanup -p policy="$WORK/moods.yaml" --yes
expect_in "$ERR" "cast from text to public.mood calls public.to_mood(text) (owner $app)" "the refusal names the cast"
expect_in "$ERR" "type public.span calls public.span_diff" "the refusal names the multirange's range"
expect_not_escalated cast "cleanup, cast and multirange"
expect_eq "$(psql_q "select count(*) from public.moods")" 1 "no mood was deleted"

# A table linked by a foreign key: deleting from the parent runs the child's
# trigger (ON DELETE CASCADE) as the child's owner, who cannot switch back to
# the superuser but can change the session's search_path, so that the next
# batch's `<` is its own operator. The parent, checked alone, carries no code.
as_app "create function public.hijack() returns trigger language plpgsql as \$\$
    begin perform pg_catalog.set_config('search_path', 'public, pg_catalog, pg_temp', false); return old; end \$\$;
  create function public.ts_lt(timestamptz, timestamptz) returns boolean language plpgsql as \$\$
    begin perform public.dihya_probe('fk_search_path'); return pg_catalog.timestamptz_lt(\$1, \$2); end \$\$;
  create operator public.< (leftarg = timestamptz, rightarg = timestamptz, function = public.ts_lt);
  create table public.visits (id bigint primary key, at timestamptz not null);
  create table public.visit_notes (id bigint primary key, visit_id bigint references public.visits on delete cascade);
  create trigger hijack before delete on public.visit_notes for each row execute function public.hijack();
  insert into public.visits select g, now() - interval '60 days' from generate_series(1, 6) g;
  insert into public.visit_notes select g, g from generate_series(1, 6) g"
reset_app
sed 's/table: events,/table: visits,/' "$WORK/events.yaml" >"$WORK/visits.yaml"
expect_exit 2 "cleanup refuses a table whose foreign-key child carries the role's trigger" -- \
  dh run cleanup -p policy="$WORK/visits.yaml" -p batch_size=2 --yes
expect_in "$ERR" "trigger hijack on table public.visit_notes calls public.hijack() (owner $app)" "the refusal names the child's trigger"
expect_not_escalated fk_search_path "cleanup, foreign-key child's trigger"
expect_eq "$(psql_q "select count(*) from public.visits")" 6 "no visit was deleted"

# ---- export_user_data: an operator on the key's type, in public ------------
as_app "create domain public.uid as bigint;
  create table public.accounts (id public.uid primary key, email text not null);
  create table public.notes (id bigint primary key, account_id public.uid not null references public.accounts, body text);
  insert into public.accounts values (1, 'a1@example.test'), (2, 'a2@example.test');
  insert into public.notes values (1, 1, 'one'), (2, 2, 'two');
  create function public.uid_eq(public.uid, public.uid) returns boolean language plpgsql as \$\$
    begin perform public.dihya_probe('export_operator'); return \$1::bigint OPERATOR(pg_catalog.=) \$2::bigint; end \$\$;
  create operator public.= (leftarg = public.uid, rightarg = public.uid, function = public.uid_eq);"
cat >"$WORK/export.yaml" <<'YAML'
graph: {users_table: public.accounts, schemas: [public]}
YAML
expect_exit 0 "export of an account whose key type has an operator the application role wrote" -- \
  dh run export_user_data -p user=1 -p config="$WORK/export.yaml" -p output="$WORK/a1.zip"
expect_not_escalated export_operator "export_user_data"
/usr/bin/python3 - "$WORK/a1.zip" >"$WORK/notes.json" <<'PY'
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
m = json.loads(z.read("manifest.json"))
print(json.dumps({t["table"]: t["rows"] for t in m["tables"]}, sort_keys=True))
PY
expect_eq "$(cat "$WORK/notes.json")" '{"accounts": 1, "notes": 1}' "the export holds exactly that account's rows"
# Reading runs row-security policies: one the role wrote on a table the export reads is refused.
as_app "alter table public.notes enable row level security;
  create policy probe on public.notes using (public.dihya_probe('export_policy'))"
expect_exit 2 "export refuses a table with a policy the application role owns" -- \
  dh run export_user_data -p user=1 -p config="$WORK/export.yaml" -p output="$WORK/a1-policy.zip"
expect_in "$ERR" "policy probe on table public.notes" "the refusal names the policy"
expect_not_escalated export_policy "export_user_data, policy"
[ ! -e "$WORK/a1-policy.zip" ] && ok "no archive was written" || not_ok "an archive was written despite the refusal"
as_app "drop policy probe on public.notes; alter table public.notes disable row level security"
# Planning the export's reads simplifies statistics objects' and indexes'
# expressions, calling an immutable function of constant arguments.
as_app "create function public.dihya_iprobe(tag text) returns integer language plpgsql immutable as \$\$
    begin perform public.dihya_probe(tag); return 0; end \$\$;
  create statistics public.notes_probe on ((id + public.dihya_iprobe('export_statistics'))) from public.notes"
expect_exit 2 "export refuses a table with a statistics object calling the role's function" -- \
  dh run export_user_data -p user=1 -p config="$WORK/export.yaml" -p output="$WORK/a1-stats.zip"
expect_in "$ERR" "statistics object public.notes_probe calls public.dihya_iprobe(text) (owner $app)" "the refusal names the statistics object"
expect_not_escalated export_statistics "export_user_data, statistics object"
as_app "drop statistics public.notes_probe;
  create index notes_probe on public.notes ((id + public.dihya_iprobe('export_index')))"
expect_exit 2 "export refuses a table with an index expression calling the role's function" -- \
  dh run export_user_data -p user=1 -p config="$WORK/export.yaml" -p output="$WORK/a1-index.zip"
expect_in "$ERR" "index public.notes_probe calls public.dihya_iprobe(text) (owner $app)" "the refusal names the index"
expect_not_escalated export_index "export_user_data, index expression"
as_app "drop index public.notes_probe"
# row_to_json calls a cast to json that the role wrote for its own type.
as_app "create type public.tier as enum ('free', 'paid');
  create function public.tier_json(public.tier) returns json language plpgsql as \$\$
    begin perform public.dihya_probe('export_cast'); return '\"free\"'::json; end \$\$;
  create cast (public.tier as json) with function public.tier_json(public.tier);
  alter table public.notes add column tier public.tier not null default 'free'"
expect_exit 2 "export refuses a column whose type has a cast to json the application role wrote" -- \
  dh run export_user_data -p user=1 -p config="$WORK/export.yaml" -p output="$WORK/a1-cast.zip"
expect_in "$ERR" "cast from public.tier to json calls public.tier_json(public.tier) (owner $app)" "the refusal names the cast"
expect_not_escalated export_cast "export_user_data, cast to json"
as_app "alter table public.notes drop column tier"

# ---- import_templates: a shadowing function, then tables made first ---------
mkdir -p "$WORK/templates"
cat >"$WORK/templates/t.json" <<'JSON'
{"name": "probe-template", "version": "1.0.0", "stack": "backend", "description": "d", "files": {"a.txt": "a"}}
JSON
as_app "create function public.pg_advisory_xact_lock(text) returns void language plpgsql as \$\$
  begin perform public.dihya_probe('import_lock'); end \$\$"
expect_exit 0 "import with a pg_advisory_xact_lock(text) in public" -- dh run import_templates -p path="$WORK/templates" --yes
expect_not_escalated import_lock "import_templates, shadowing function"
psql_q "drop schema dihya cascade" >/dev/null
as_app "create schema dihya;
  create table dihya.templates (id bigserial primary key, name text not null unique, stack text not null,
    description text not null, tags text[] not null default '{}', current_version integer, current_set_by text,
    created_at timestamptz not null default now(), updated_at timestamptz not null default now());
  create trigger probe before insert on dihya.templates for each row execute function public.dihya_probe_trigger('import_trigger')"
expect_exit 5 "import refuses template tables with a trigger the application role owns" -- \
  dh run import_templates -p path="$WORK/templates" --yes
expect_in "$ERR" "trigger probe on table dihya.templates" "the refusal names the trigger"
expect_not_escalated import_trigger "import_templates, trigger"
# Reading those tables runs their row-security policies: list, export, a dry
# run and generate_project's templates refuse a policy of the application role.
as_app "create table dihya.template_versions (template_id bigint not null, version integer not null,
    declared_version text not null, content jsonb not null, checksum text not null, run_id text,
    created_at timestamptz not null default now(), primary key (template_id, version))"
# Both tables there: the refusal comes before the run writes or journals
# anything, so it fails with nothing to roll back (exit 1, as its manual says).
expect_exit 1 "import refuses existing template tables with a trigger the application role owns" -- \
  dh run import_templates -p path="$WORK/templates" --yes
expect_in "$ERR" "trigger probe on table dihya.templates" "the refusal names the trigger (both tables there)"
expect_not_escalated import_trigger "import_templates, trigger on existing tables"
as_app "insert into dihya.templates (name, stack, description, current_version) values ('probe-template', 'backend', 'd', 1);
  insert into dihya.template_versions values (1, 1, '1.0.0', '{}', 'x');
  drop trigger probe on dihya.templates;
  alter table dihya.templates enable row level security;
  create policy probe on dihya.templates using (public.dihya_probe('templates_policy'))"
for how in "mode=list" "mode=export -p out=$WORK/exported" "path=$WORK/templates --dry-run"; do
  # shellcheck disable=SC2086
  expect_exit 1 "import_templates -p $how refuses a policy the application role owns" -- \
    dh run import_templates -p $how --yes
  expect_in "$ERR" "policy probe on table dihya.templates" "import_templates -p ${how%% *}: the refusal names the policy"
done
expect_not_escalated templates_policy "import_templates list, export and dry run, policy"
expect_exit 2 "generate_project -p templates_from=database refuses the policy" -- \
  dh run generate_project -p "text=A Flask API named Shop with users" -p out="$WORK/gp1" -p templates_from=database
expect_in "$ERR" "policy probe on table dihya.templates" "generate_project: the refusal names the policy"
expect_exit 0 "generate_project -p templates_from=auto falls back on the bundled templates" -- \
  dh run generate_project -p "text=A Flask API named Shop with users" -p out="$WORK/gp2" --json
expect_in "$OUT" "database not used (refusing" "generate_project: the note says why the database was not used"
expect_not_escalated templates_policy "generate_project, policy"

# ---- migrate_data: shadowing the lock functions, then its history table ------
mig="$WORK/migrations"
mkdir -p "$mig"
echo "create table public.m1 (id int);" >"$mig/V1__one.up.sql"
echo "drop table public.m1;" >"$mig/V1__one.down.sql"
as_app "create function public.pg_try_advisory_lock(text) returns boolean language plpgsql as \$\$
    begin perform public.dihya_probe('migrate_lock'); return true; end \$\$;
  create function public.hashtextextended(text, integer) returns bigint language plpgsql as \$\$
    begin perform public.dihya_probe('migrate_hash'); return 1; end \$\$"
expect_exit 0 "migrate up with lock functions shadowed in public" -- \
  dh run migrate_data -p migrations_dir="$mig" -p mode=up --yes
expect_not_escalated "migrate_lock migrate_hash" "migrate_data, shadowed lock functions"
expect_eq "$(psql_q "select count(*) from public.dihya_schema_history where success")" 1 "the migration is recorded"

mig2="$WORK/migrations2"
mkdir -p "$mig2"
echo "create table public.m2 (id int);" >"$mig2/V1__two.up.sql"
echo "drop table public.m2;" >"$mig2/V1__two.down.sql"
as_app "create table public.h (installed_rank bigserial primary key, version text, name text not null, kind text not null,
    script text not null, checksum text not null, applied_at timestamptz not null default clock_timestamp(),
    duration_ms bigint not null, applied_by text not null, run_id text not null, success boolean not null);
  create table public.h_progress (version text primary key, last_key text not null, rows_done bigint not null,
    batches bigint not null, run_id text not null, updated_at timestamptz not null);
  create trigger probe before insert on public.h for each row execute function public.dihya_probe_trigger('migrate_history')"
expect_exit 5 "migrate refuses a history table with a trigger the application role owns" -- \
  dh run migrate_data -p migrations_dir="$mig2" -p history_table=h -p mode=up --yes
expect_in "$ERR" "trigger probe on table public.h calls public.dihya_probe_trigger() (owner $app)" "the refusal names the trigger"
expect_not_escalated migrate_history "migrate_data, history trigger"
expect_eq "$(psql_q "select count(*) from public.h")" 0 "nothing recorded in that history"
expect_eq "$(psql_q "select to_regclass('public.m1') is not null and to_regclass('public.m2') is null")" t \
  "the refused run left the database as it was (m2 rolled back)"
# Reading that history (status, validate, a dry run) runs its policies.
as_app "drop trigger probe on public.h; alter table public.h enable row level security;
  create policy probe on public.h using (public.dihya_probe('migrate_policy'))"
for how in "mode=status" "mode=validate" "mode=up --dry-run"; do
  # shellcheck disable=SC2086
  expect_exit 1 "migrate_data -p $how refuses a history policy the application role owns" -- \
    dh run migrate_data -p migrations_dir="$mig2" -p history_table=h -p $how --yes
  expect_in "$ERR" "policy probe on table public.h" "migrate_data -p ${how%% *}: the refusal names the policy"
done
expect_not_escalated migrate_policy "migrate_data status, validate and dry run, history policy"

# ---- security_audit: a better match than a built-in, in public --------------
# pg_catalog.array_to_string takes anyarray: a function of the role taking
# text[] is the better match for pg_hba_file_rules' columns, unless names
# resolve in pg_catalog only.
as_app "create function public.array_to_string(text[], text) returns text language plpgsql as \$\$
    begin perform public.dihya_probe('audit_overload'); return ''; end \$\$"
expect_exit 0 "security_audit's postgres checks with array_to_string(text[], text) in public" -- \
  dh run security_audit -p checks=postgres --json
expect_in "$OUT" "pg-hba-trust" "the pg_hba check ran (the test cluster trusts local connections)"
expect_not_escalated audit_overload "security_audit, shadowing function"

# ---- an event trigger a superuser made, calling the role's function ---------
# Our DDL fires it with our privileges, and the role may rewrite the function.
as_app "create function public.probe_ddl() returns event_trigger language plpgsql as \$\$
    begin perform public.dihya_probe('event_trigger'); end \$\$"
# (No DDL of the test's own from here until it is dropped: it would fire.)
psql_q "drop schema if exists dihya_quarantine cascade" >/dev/null 2>&1
psql_q "drop schema if exists dihya cascade" >/dev/null 2>&1
psql_q "create event trigger probe_ddl on ddl_command_start execute function public.probe_ddl()" >/dev/null
expect_exit 1 "cleanup refuses to create its quarantine under an event trigger of the role" -- \
  dh run cleanup -p policy="$WORK/retention.yaml" --yes
expect_in "$ERR" "event trigger probe_ddl calls public.probe_ddl() (owner $app)" "cleanup: the refusal names the event trigger"
echo "create table public.m3 (id int);" >"$mig/V2__three.up.sql"
echo "drop table public.m3;" >"$mig/V2__three.down.sql"
expect_exit 5 "migrate_data refuses to run a migration under it" -- \
  dh run migrate_data -p migrations_dir="$mig" -p mode=up --yes
expect_in "$OUT" "V2__three was not run: refusing to change the schema as" "migrate_data: the migration was not run"
expect_in "$OUT" "event trigger probe_ddl calls probe_ddl() (owner $app)" "migrate_data: the refusal names the event trigger"
expect_exit 5 "import_templates refuses to create its tables under it" -- \
  dh run import_templates -p path="$WORK/templates" --yes
expect_in "$ERR" "event trigger probe_ddl calls public.probe_ddl()" "import_templates: the refusal names the event trigger"
expect_exit 1 "schedule add refuses to create the scheduler's tables under it" -- \
  dh schedule add probe-job --plugin security_audit --cron "0 3 * * *"
expect_in "$ERR" "refusing to create the scheduler's tables: event trigger probe_ddl" "schedule: the refusal names the event trigger"
psql_q "drop event trigger probe_ddl" >/dev/null
expect_not_escalated event_trigger "cleanup, migrate_data, import_templates and schedule under an event trigger"

# ---- backup_db: an operator in the restore target, a check in the backup ----
# The target's public schema belongs to the role, which shadows `name NOT LIKE`
# (backup_db counts the target's tables before a restore); the backed-up
# database has a CHECK constraint calling the role's function, which loading
# the rows would run.
psql_q "create database $target" >/dev/null
target_url=${DB_URL/\/$DB_NAME\?/\/$target?}
plant_probe "$target_url" "$target"
psql -X -q -v ON_ERROR_STOP=1 "$target_url" >/dev/null <<SQL
set role $app;
create table public.kept (id int primary key);
insert into public.kept values (1), (2);
create function public.name_not_like(name, name) returns boolean language plpgsql as \$\$
  begin perform public.dihya_probe('backup_operator'); return \$1::pg_catalog.text operator(pg_catalog.!~~) \$2::pg_catalog.text; end \$\$;
create operator public.!~~ (leftarg = name, rightarg = name, function = public.name_not_like);
SQL
as_app "create function public.dihya_check(integer) returns boolean language plpgsql as \$\$
    begin perform public.dihya_probe('backup_check'); return true; end \$\$;
  create table public.checked (v integer check (public.dihya_check(v)));
  insert into public.checked values (1), (2);"
reset_app  # the inserts ran the check as the role itself: nothing to see
bk="$WORK/backups"
mkdir -p "$bk"
expect_exit 0 "backup of the application's database" -- dh run backup_db -p backup_dir="$bk" --yes
expect_exit 5 "restore refuses a backup whose CHECK calls the role's function, and is rolled back" -- \
  dh run backup_db -p backup_dir="$bk" -p mode=restore -p target_database="$target" -p force=true --yes
expect_in "$ERR" "stopped before loading any row" "the refusal says no row was loaded"
expect_in "$ERR" "on table public.checked calls public.dihya_check(integer) (owner $app)" "the refusal names the check and its function"
expect_not_escalated "backup_operator backup_check" "backup_db restore"
expect_eq "$(psql -X -q -t -A "$target_url" -c "select string_agg(id::text, ',' order by id) from public.kept")" "1,2" \
  "the rollback put the target back as it was"

# fresh_databases: an empty source database and its restore target; sets src_url.
fresh_databases() {
  local src="${DB_NAME}_parts"
  psql_q "drop database if exists $src with (force)" >/dev/null
  psql_q "drop database if exists ${src}_target with (force)" >/dev/null
  psql_q "create database $src" >/dev/null
  psql_q "create database ${src}_target" >/dev/null
  src_url=${DB_URL/\/$DB_NAME\?/\/$src?}
  rm -rf "$WORK/backups-parts"
  mkdir -p "$WORK/backups-parts"
}
# backup_then_restore EXIT "WHAT": backs the source up, restores it into its target.
backup_then_restore() {
  expect_exit 0 "backup of a database with $2" -- \
    dh --database-url "$src_url" run backup_db -p backup_dir="$WORK/backups-parts" --yes
  expect_exit "$1" "restore of a database with $2" -- dh --database-url "$src_url" run backup_db \
    -p backup_dir="$WORK/backups-parts" -p mode=restore -p target_database="${DB_NAME}_parts_target" --yes
}
# restore_refused TAG "WHAT" "EXPECTED IN THE REFUSAL" SQL: a database whose
# role ran SQL (planting code that calls dihya_probe('TAG')) is backed up,
# then restoring it is refused (exit 5) and the code never ran as us.
restore_refused() {
  local tag=$1 what=$2 expected=$3 sql=$4
  fresh_databases
  plant_probe "$src_url" "${DB_NAME}_parts"
  psql -X -q -v ON_ERROR_STOP=1 "$src_url" -c "set role $app; $sql" >/dev/null
  reset_app
  backup_then_restore 5 "$what"
  expect_in "$ERR" "$expected" "the refusal names $what"
  expect_not_escalated "$tag" "backup_db restore, $what"
}
# pg_restore loads each partition with its own COPY, which checks every row
# against the partition key.
restore_refused backup_partition "the role's partition key" "table public.parted calls public.part_key(integer) (owner $app)" \
  "create function public.part_key(integer) returns integer language plpgsql immutable as \$\$
     begin perform public.dihya_probe('backup_partition'); return \$1; end \$\$;
   create table public.parted (v integer not null) partition by range (public.part_key(v));
   create table public.parted_low partition of public.parted for values from (0) to (100);
   insert into public.parted values (1), (2);"
# A CHECK whose function refers back to its table: pg_dump moves it to
# post-data, where adding it checks every row.
restore_refused backup_postdata_check "a CHECK constraint pg_dump puts after the data" \
  "constraint checked_later_v_check on table public.checked_later calls public.later_ok_sql(integer) (owner $app)" \
  "create table public.checked_later (v integer);
   insert into public.checked_later values (1), (2);
   create function public.later_ok(v integer) returns boolean language plpgsql as \$\$
     begin perform public.dihya_probe('backup_postdata_check'); return v > 0; end \$\$;
   create function public.later_ok_sql(v integer) returns boolean language sql
     begin atomic select public.later_ok(v) and not exists (select from public.checked_later where false); end;
   alter table public.checked_later add constraint checked_later_v_check check (public.later_ok_sql(v));"
# Adding a foreign key checks every row with a query that the planner
# simplifies (an index expression of the referenced table) and that casts
# the referencing column (an implicit cast the role wrote).
restore_refused backup_fk_index "an index expression a foreign key's check is planned with" \
  "index public.accounts_probe calls public.fk_probe(text) (owner $app)" \
  "create function public.fk_probe(tag text) returns integer language plpgsql immutable as \$\$
     begin perform public.dihya_probe(tag); return 0; end \$\$;
   create table public.accounts (id integer primary key);
   create index accounts_probe on public.accounts ((id + public.fk_probe('backup_fk_index')));
   create table public.orders (id integer primary key, account integer references public.accounts);
   insert into public.accounts values (1); insert into public.orders values (1, 1);"
restore_refused backup_fk_cast "an implicit cast a foreign key's check calls" \
  "cast from public.grade to text calls public.grade_text(public.grade) (owner $app)" \
  "create type public.grade as enum ('a', 'b');
   create function public.grade_text(g public.grade) returns text language plpgsql immutable as \$\$
     begin perform public.dihya_probe('backup_fk_cast'); return pg_catalog.textin(pg_catalog.enum_out(g)); end \$\$;
   create cast (public.grade as text) with function public.grade_text(public.grade) as implicit;
   create table public.grades (k text primary key); insert into public.grades values ('a');
   create table public.marks (k public.grade references public.grades (k)); insert into public.marks values ('a');"

# The same shapes with trusted code restore, and come out as they were: the
# post-data CHECK validated, the NOT VALID one not, the foreign key in place.
fresh_databases
psql -X -q -v ON_ERROR_STOP=1 "$src_url" >/dev/null <<'SQL'
create table public.items (id integer primary key, v integer);
insert into public.items values (1, 1), (2, 2);
create function public.item_ok(v integer) returns boolean language sql
  begin atomic select v > 0 and not exists (select from public.items where false); end;
alter table public.items add constraint items_v_check check (public.item_ok(v));
alter table public.items add constraint items_small check (v < 100) not valid;
create table public.lines (id integer primary key, item integer references public.items);
insert into public.lines values (1, 2);
SQL
backup_then_restore 0 "post-data constraints of trusted code"
target_parts_url=${DB_URL/\/$DB_NAME\?/\/${DB_NAME}_parts_target?}
expect_eq "$(psql -X -q -t -A "$target_parts_url" -c "select string_agg(format('%s:%s:%s', conname, contype, convalidated), ',' order by conname)
  from pg_constraint where conrelid in ('public.items'::regclass, 'public.lines'::regclass)")" \
  "items_pkey:p:t,items_small:c:f,items_v_check:c:t,lines_item_fkey:f:t,lines_pkey:p:t" \
  "the constraints came back as they were: the post-data CHECK validated, the NOT VALID one not, the foreign key"
expect_eq "$(psql -X -q -t -A "$target_parts_url" -c "select count(*) from public.items join public.lines on lines.item = items.id")" 1 \
  "the rows came back"
# Closed to other roles while it was restored (see create_database), opened
# to them and given back to its owner once restored.
psql_q "alter role $app login" >/dev/null
expect_eq "$(psql_q "select pg_get_userbyid(datdba) || ' ' || has_database_privilege('$app', datname, 'CONNECT')
  from pg_database where datname = '${DB_NAME}_parts_target'")" "postgres true" "the restored database is its owner's and open to other roles again"
expect_eq "$(psql -X -q -t -A "${target_parts_url/user=postgres/user=$app}" -c "select current_user = '$app'")" t \
  "the application role connects to it"
psql_q "alter role $app nologin" >/dev/null

finish
