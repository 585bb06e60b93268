#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# migrate_data on other tools' migrations, as they are (real PostgreSQL):
# a small tree per layout (golang-migrate, Mattermost morph markers, Flyway,
# diesel, dbmate, goose) detected, applied, shown, undone with the tool's own
# downs and rolled back; hostile folders refused in one line (exit 2);
# statements that cannot run in a transaction refused naming the layout's
# marker; PostgreSQL's DETAIL and HINT kept with the file and line; a rollback
# failing half-way saying, last, where the database ended; a database another
# tool migrated adopted with a baseline.
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${DIHYA_SOURCE_DIR:-$here/../..}/tests/fixtures

# The shape of the public schema: columns, indexes, views, functions, triggers.
schema_fp() {
  psql_q "select md5(coalesce(string_agg(x, '|' order by x), '')) from (
            select 'col:' || table_name || '.' || column_name || ':' || data_type from information_schema.columns where table_schema = 'public'
            union all select 'idx:' || indexname from pg_indexes where schemaname = 'public'
            union all select 'view:' || table_name from information_schema.views where table_schema = 'public'
            union all select 'fn:' || proname from pg_proc where pronamespace = 'public'::regnamespace
            union all select 'trg:' || tgname from pg_trigger where not tgisinternal) s(x)"
}
versions_in() { psql_q "select coalesce(string_agg(version, ',' order by installed_rank), '') from $1 where success and version is not null"; }
index_count() { psql_q "select count(*) from pg_indexes where indexname = '$1'"; }
table_exists() { psql_q "select to_regclass('public.$1') is not null"; }

# layout_tree LAYOUT HISTORY_TABLE "VERSIONS" INDEX FIRST_VERSION: detection,
# status, up, status, rollback of the up (the tool's downs), up again, down to
# the first version, down to 0.
layout_tree() {
  local layout=$1 hist=$2 versions=$3 index=$4 first=$5
  local dir="$WORK/$layout"
  cp -r "$fixtures/migrate_data/$layout" "$dir"
  local before
  before=$(schema_fp)
  ml() { dh run migrate_data -p migrations_dir="$dir" -p history_table="$hist" "$@"; }
  local n
  n=$(tr ',' '\n' <<<"$versions" | wc -l)
  expect_exit 0 "$layout: status detects the layout" -- ml -p mode=status
  expect_in "$OUT" "(layout ${layout/morph/golang-migrate})" "$layout: status names the layout"
  expect_eq "$(grep -cE '^[0-9R.]+ .* pending ' "$OUT")" "$(( n + ${6:-0} ))" "$layout: status lists every migration as pending"
  expect_exit 0 "$layout: dry run" -- ml -p mode=up --dry-run --yes
  expect_eq "$(schema_fp)" "$before" "$layout: the dry run changes nothing"
  expect_exit 0 "$layout: up" -- ml -p mode=up --yes
  local up_run
  up_run=$(last_run_id)
  expect_eq "$(versions_in "$hist")" "$versions" "$layout: history has every version in order"
  expect_eq "$(index_count "$index")" 1 "$layout: the no-transaction index exists"
  expect_exit 0 "$layout: status after up, layout named explicitly" -- ml -p mode=status -p layout="${layout/morph/golang-migrate}"
  expect_eq "$(grep -cE '^[0-9R.]+ .* applied ' "$OUT")" "$(( n + ${6:-0} ))" "$layout: status shows every migration applied"
  expect_exit 0 "$layout: validate" -- ml -p mode=validate
  expect_exit 0 "$layout: up again is a no-op" -- ml -p mode=up --yes
  expect_in "$OUT" "nothing to apply" "$layout: nothing to apply"
  expect_exit 0 "$layout: rollback of the up runs the tool's downs" -- dh rollback "$up_run"
  expect_eq "$(schema_fp)" "$before" "$layout: rollback restores the schema"
  expect_eq "$(table_exists "$hist")" f "$layout: rollback drops the history table the run created"
  expect_exit 0 "$layout: up after the rollback" -- ml -p mode=up --yes
  expect_exit 0 "$layout: down to the first version" -- ml -p mode=down -p target="$first" --yes
  expect_eq "$(versions_in "$hist")" "${versions%%,*}" "$layout: only the first version stays"
  expect_eq "$(index_count "$index")" 0 "$layout: the down dropped the index"
  expect_exit 0 "$layout: down to 0" -- ml -p mode=down -p target=0 --yes
  expect_eq "$(versions_in "$hist")" "" "$layout: nothing applied after down to 0"
  psql_q "drop table $hist, ${hist}_progress" >/dev/null
  expect_eq "$(schema_fp)" "$before" "$layout: down to 0 restores the schema"
}

layout_tree golang-migrate h_gm "1,2,3" gm_items_label_idx 1
expect_exit 0 "golang-migrate: up once more to check the data" -- dh run migrate_data -p migrations_dir="$WORK/golang-migrate" -p history_table=h_gm -p mode=up --yes
expect_eq "$(psql_q "select note from gm_items where label = 'one'")" "it's; fine" "golang-migrate: the BEGIN/COMMIT wrapper ran inside the plugin's transaction, quotes intact"
expect_eq "$(psql_q "select gm_label_count('one')")" 1 "golang-migrate: a BEGIN ATOMIC body ran as one statement"
layout_tree morph h_mm "1,2" mm_posts_message_idx 1
layout_tree flyway h_fw "1,1.1,2" fw_items_label_idx 1 1
layout_tree diesel h_ds "00000000000000,20240115120000,20240116090000" ds_posts_title_idx 00000000000000
expect_eq "$(psql_q "select count(*) from pg_proc where proname like 'diesel_%'")" 0 "diesel: down to 0 undid 00000000000000 too (no collision with the base)"
layout_tree dbmate h_db "20240101000000,20240102000000" db_items_label_idx 20240101000000
layout_tree goose h_gs "1,2" gs_items_label_idx 1

# diesel's trigger helper works after up (the $$ bodies ran whole).
expect_exit 0 "diesel: up" -- dh run migrate_data -p migrations_dir="$WORK/diesel" -p history_table=h_ds -p mode=up --yes
psql_q "insert into ds_posts (title, updated_at) values ('a', '2000-01-01'); update ds_posts set title = 'b'" >/dev/null
expect_eq "$(psql_q "select updated_at > '2001-01-01' from ds_posts")" t "diesel: diesel_manage_updated_at's trigger fires"
expect_exit 0 "goose: up" -- dh run migrate_data -p migrations_dir="$WORK/goose" -p history_table=h_gs -p mode=up --yes
psql_q "insert into gs_items (label) values ('a'); update gs_items set label = 'b'" >/dev/null
expect_eq "$(psql_q "select updated_at is not null from gs_items")" t "goose: the StatementBegin/End function ran whole"

# ---- hostile folders: exit 2, one line, nothing written ----
hostile() {  # DESCRIPTION EXPECTED-TEXT DIR [params...]
  local what=$1 text=$2 dir=$3
  shift 3
  expect_exit 2 "$what is refused" -- dh run migrate_data -p mode=up -p migrations_dir="$dir" -p history_table=h_hostile "$@" --yes
  expect_in "$ERR" "$text" "$what: the error says why"
  expect_one_line_error "$what"
}
h="$WORK/h"
fresh() { rm -rf "$h"; mkdir -p "$h"; }

fresh; echo 'select 1;' >"$h/1_a.up.sql"; echo 'select 1;' >"$h/V2__b.sql"
hostile "a folder mixing golang-migrate and Flyway" "mixes layouts: golang-migrate (1_a.up.sql) and flyway (V2__b.sql)" "$h"
fresh; echo 'select 1;' >"$h/1_a.up.sql"; printf -- '-- +goose Up\nselect 1;\n' >"$h/2_b.sql"
hostile "a folder mixing golang-migrate and goose" "mixes layouts: golang-migrate (1_a.up.sql) and goose (2_b.sql)" "$h"
fresh; echo 'select 1;' >"$h/1_a.up.sql"; echo 'select 1;' >"$h/001_b.up.sql"
hostile "a duplicate golang-migrate version (1 and 001)" "duplicate version 1: " "$h"
fresh; printf -- '-- migrate:up\nselect 1;\n' >"$h/20240101_a.sql"; printf -- '-- migrate:up\nselect 2;\n' >"$h/020240101_b.sql"
hostile "a duplicate dbmate version" "duplicate version 20240101" "$h"
fresh; echo 'select 1;' >"$h/1_a.up.sql"; echo 'select 1;' >"$h/2_b.down.sql"
hostile "a golang-migrate down without its up" "$h/2_b.down.sql has no matching up migration" "$h"
fresh; echo 'select 1;' >"$h/V1__a.sql"; echo 'select 1;' >"$h/U2__b.sql"
hostile "a Flyway undo without its versioned migration" "$h/U2__b.sql has no matching up migration" "$h"
fresh; mkdir "$h/2024-01-01-000000_a"; echo 'select 1;' >"$h/2024-01-01-000000_a/down.sql"
hostile "a diesel down.sql without up.sql" "2024-01-01-000000_a/down.sql has no matching up migration" "$h" -p layout=diesel
fresh; echo 'drop table users;' >"$WORK/outside.sql"; echo 'select 1;' >"$h/1_a.up.sql"; ln -s ../outside.sql "$h/2_b.up.sql"
hostile "a symbolic link leading out with .." "$h/2_b.up.sql is a symbolic link" "$h"
fresh; mkdir -p "$WORK/elsewhere"; echo 'select 1;' >"$WORK/elsewhere/up.sql"; ln -s ../elsewhere "$h/2024-01-01-000000_a"
hostile "a diesel folder that is a link" "$h/2024-01-01-000000_a is a symbolic link" "$h" -p layout=diesel
fresh; echo 'select 1;' >"$h/1_a.up.sql"
hostile "a migrations_dir through a file and .." "is not a directory" "$h/1_a.up.sql/.."
fresh; printf 'select 1;\nselect \xff;\n' >"$h/1_a.up.sql"
hostile "a migration that is not UTF-8" "$h/1_a.up.sql:2: not valid UTF-8" "$h"
fresh; echo 'select 1;' >"$h/$(printf '1_\xfe.up.sql')"
hostile "a file name that is not UTF-8" 'is not printable UTF-8' "$h"
fresh; printf -- '-- +goose Up\nselect 1;\n-- +goose ENVSUB ON\n' >"$h/1_a.sql"
hostile "an unsupported goose annotation" "$h/1_a.sql:3: unsupported goose annotation" "$h"
fresh; printf -- '-- migrate:down\nselect 1;\n-- migrate:up\nselect 1;\n' >"$h/1_a.sql"
hostile "a dbmate file whose down comes first" "$h/1_a.sql:1: \`-- migrate:down\` comes before" "$h" -p layout=dbmate
fresh; echo 'select 1;' >"$h/1_a.sql"
hostile "a numbered .sql with neither dbmate nor goose marker" "bad migration file name $h/1_a.sql" "$h"
fresh; echo 'select 1;' >"$h/V1__add.users.up.sql"; echo 'select 1;' >"$h/V1__add.users.down.sql"
hostile "a dihya migration whose name has a dot" "bad migration file name $h/V1__add.users.down.sql: a dihya migration is" "$h"
fresh; echo 'select 1;' >"$h/V1__a b.up.sql"
hostile "a dihya migration whose name has a space" "its name made of letters, digits, '_' and '-'" "$h"
fresh; echo 'select 1;' >"$h/V1__a.sql"
for schema in pg_catalog information_schema pg_toast; do
  hostile "the history in the system schema $schema" "schema" "$h" -p schema=$schema
done
fresh; echo 'select 1;' >"$h/1_a.up.sql"
hostile "a golang-migrate folder read as Flyway" "bad migration file name $h/1_a.up.sql: expected V<version>" "$h" -p layout=flyway
fresh; echo 'select 1;' >"$h/V1__a.sql"; printf 'executeInTransaction=false\ncleanDisabled=false\n' >"$h/V1__a.sql.conf"
hostile "a Flyway script setting the plugin does not understand" "$h/V1__a.sql.conf:2: unsupported setting 'cleanDisabled=false'" "$h"
fresh; echo 'select 1;' >"$h/1_a.up.sql"
expect_exit 2 "an unknown layout is refused" -- dh run migrate_data -p mode=status -p migrations_dir="$h" -p layout=liquibase
expect_one_line_error "unknown layout"
expect_eq "$(table_exists h_hostile)" f "no history table after the refused runs"

# ---- a statement that cannot run in a transaction names the layout's marker ----
fresh; printf -- '-- +goose Up\ncreate table cic (id int);\ncreate index concurrently cic_idx on cic (id);\n' >"$h/1_a.sql"
hostile "goose: CREATE INDEX CONCURRENTLY without NO TRANSACTION" "$h/1_a.sql:3: CREATE INDEX CONCURRENTLY cannot run inside a transaction, and this script runs in one: mark it with \`-- +goose NO TRANSACTION\`" "$h"
fresh; printf -- '-- migrate:up\ncreate index concurrently cic_idx on users (id);\n' >"$h/1_a.sql"
hostile "dbmate: CREATE INDEX CONCURRENTLY without transaction:false" "\`-- migrate:up transaction:false\`" "$h"
fresh; mkdir "$h/2024-01-01-000000_a"; echo 'create index concurrently cic_idx on users (id);' >"$h/2024-01-01-000000_a/up.sql"
hostile "diesel: CREATE INDEX CONCURRENTLY without metadata.toml" "\`run_in_transaction = false\` in the migration's metadata.toml" "$h"
fresh; printf 'select 1;\nCREATE UNIQUE INDEX CONCURRENTLY cic_idx on users (id);\n' >"$h/1_a.up.sql"
hostile "golang-migrate: CREATE INDEX CONCURRENTLY among other statements" "$h/1_a.up.sql:2: CREATE INDEX CONCURRENTLY cannot run inside a transaction, and this script runs in one: mark it with a first line \`-- morph:nontransactional\`" "$h"
fresh; printf 'vacuum users;\n' >"$h/V1__a.up.sql"
hostile "dihya: VACUUM without the marker" "a first line \`-- dihya:no-transaction\`" "$h"

# ---- PostgreSQL's DETAIL and HINT, with the file and line, in the terminal and the log ----
gm="$WORK/golang-migrate"
mg() { dh run migrate_data -p migrations_dir="$gm" -p history_table=h_gm "$@"; }
printf -- '-- a duplicate key\n\ninsert into gm_items (id, label) values (1, %s);\n' "'dup'" >"$gm/000004_dup.up.sql"
psql_q "insert into gm_items (id, label) values (1, 'taken') on conflict do nothing" >/dev/null
expect_exit 1 "a failing migration (--no-rollback)" -- mg -p mode=up --yes --no-rollback
expect_in "$ERR" "$gm/000004_dup.up.sql:3: duplicate key value violates unique constraint \"gm_items_pkey\"; DETAIL: Key (id)=(1) already exists." "the error names file:line and keeps DETAIL"
expect_exit 0 "logs of the failed run" -- dh logs "$(last_run_id)"
expect_in "$OUT" "DETAIL:  Key (id)=(1) already exists." "the run's log keeps DETAIL"
printf 'select 1;\nselect 2;\nselect gm_no_such_fn(\n  1);\n' >"$gm/000004_dup.up.sql"
expect_exit 1 "a call to an unknown function (--no-rollback)" -- mg -p mode=up --yes --no-rollback
expect_in "$ERR" "$gm/000004_dup.up.sql:3: function gm_no_such_fn(integer) does not exist; HINT: No function matches the given name and argument types." "the error names file:line and keeps HINT"
printf 'select 1;\n\nselect * from\n  gm_no_such_table;\n' >"$gm/000004_dup.up.sql"
expect_exit 1 "an unknown table on the 2nd line of a statement" -- mg -p mode=up --yes --no-rollback
expect_in "$ERR" "$gm/000004_dup.up.sql:4: relation \"gm_no_such_table\" does not exist" "the line is the statement's line the server points at"
rm "$gm/000004_dup.up.sql"

# ---- an automatic rollback failing half-way says, last, where the database ended ----
rb="$WORK/rb"; mkdir "$rb"
echo 'create table rb_a (id int);' >"$rb/V1__a.up.sql"; echo 'drop table rb_a;' >"$rb/V1__a.down.sql"
echo 'create table rb_b (id int);' >"$rb/V2__b.up.sql"; echo 'create table rb_c (id int);' >"$rb/V3__c.up.sql"
echo 'drop table rb_c;' >"$rb/V3__c.down.sql"; echo 'drop table rb_a_typo;' >"$rb/V4__d.down.sql"
echo 'create table rb_d (id int);' >"$rb/V4__d.up.sql"; echo 'select * from rb_missing;' >"$rb/V5__e.up.sql"
expect_exit 1 "a failed up whose rollback fails half-way" -- dh run migrate_data -p migrations_dir="$rb" -p history_table=h_rb -p mode=up --yes
expect_eq "$(versions_in h_rb)" "1,2,3,4" "nothing undone past the failing down"
expect_in <(tail -1 "$ERR") "rollback failed: " "the last line reports the rollback"
expect_in <(tail -1 "$ERR") "the database is now at version 4 (public.h_rb)" "the last line says where the database ended"

# ---- a database golang-migrate already took to version 2: adopted with a baseline ----
expect_exit 0 "golang-migrate: down to 0 before the adoption test" -- mg -p mode=down -p target=0 --yes
psql_q "drop table h_gm, h_gm_progress" >/dev/null
cp -r "$fixtures/migrate_data/golang-migrate" "$WORK/adopt"
before_adopt=$(schema_fp)
for f in "$WORK"/adopt/00000[12]_*.up.sql; do psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -f "$f" >/dev/null; done
psql_q "create table schema_migrations (version bigint primary key, dirty boolean not null); insert into schema_migrations values (2, false)" >/dev/null
ma() { dh run migrate_data -p migrations_dir="$WORK/adopt" -p history_table=h_adopt "$@"; }
expect_exit 2 "baseline outside mode=up is refused" -- ma -p mode=status -p baseline=2
expect_exit 2 "a baseline that names no migration is refused" -- ma -p mode=up -p baseline=7 --yes
expect_exit 0 "dry run of up with baseline=2" -- ma -p mode=up -p baseline=2 --dry-run --yes
expect_in "$OUT" "V2__add_gm_note  recorded as applied (baseline), not run" "the dry run shows what the baseline records"
expect_exit 0 "up with baseline=2 adopts versions 1 and 2 and applies 3" -- ma -p mode=up -p baseline=2 --yes
adopt_run=$(last_run_id)
expect_in "$OUT" "recorded 2 migration(s) up to version 2 as applied (baseline); applied 1 migration(s); database at version 3" "the summary says what was recorded and applied"
expect_eq "$(versions_in h_adopt)" "1,2,3" "history has 1 and 2 (baseline) and 3"
expect_eq "$(psql_q "select count(*) from gm_items where label = 'one'")" 1 "version 2 did not run again"
expect_exit 0 "validate after the baseline" -- ma -p mode=validate
expect_exit 1 "a second baseline is refused (the history records versions)" -- ma -p mode=up -p baseline=2 --yes
expect_in "$ERR" "baseline refused: the history public.h_adopt already records version 3" "the refusal says why"
expect_exit 0 "rollback of the adopting run" -- dh rollback "$adopt_run"
expect_eq "$(table_exists h_adopt)" f "rollback forgets the baseline and drops the history it created"
expect_eq "$(index_count gm_items_label_idx)" 0 "rollback undid version 3"
expect_eq "$(table_exists gm_items)" t "rollback left what the other tool had applied"
psql_q "drop function gm_label_count(text); drop table gm_items, schema_migrations" >/dev/null
expect_eq "$(schema_fp)" "$before_adopt" "clean after the adoption test"
finish
