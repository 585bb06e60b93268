#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Where the CLI met users' expectations only half-way: global options after
# the command, rollback refusing a changed plugin file, --json for errors too,
# flags in `list --json`, dry runs past a `forbid` lock, `show` keeping the
# report, and what a timed-out run and a dry-run summary say.
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
json_field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$2)" "$1"; }

# Global options after the command, as before it.
expect_exit 0 "run echo_params --verbose (global option after the command)" -- dh run echo_params -p name=Ada --verbose
expect_in "$ERR" "[debug] dry run: false" "--verbose after the command echoes debug lines"
expect_exit 0 "without --verbose" -- dh run echo_params -p name=Ada
expect_not_in "$ERR" "[debug]" "debug lines are not echoed by default"
expect_exit 0 "--state-dir=DIR after the command" -- dh history --json --state-dir="$WORK/other-state"
expect_eq "$(cat "$OUT")" "[]" "the state dir given after the command is the one used"
expect_exit 2 "--quiet and --verbose after the command still exclude each other" -- dh run noop --quiet --verbose
expect_exit 2 "an unknown option after the command is still refused" -- dh run noop --verbos
expect_one_line_error "unknown option"

# --json holds for errors: a JSON object on stdout, the same exit code, one line on stderr.
expect_exit 2 "validate --json with a bad parameter" -- dh validate echo_params -p name=Ada -p count=many --json
expect_eq "$(json_field "$OUT" '["ok"]')" "False" "validate --json error: ok is false"
expect_eq "$(json_field "$OUT" '["exit_code"]')" "2" "validate --json error: exit_code 2"
expect_in "$OUT" "count" "validate --json error names the parameter"
expect_one_line_error "validate --json error"
expect_exit 2 "validate --json refused by the plugin's validate()" -- dh validate echo_params -p name=nobody --json
expect_in "$OUT" "nobody cannot be greeted" "the plugin's reason is in the JSON error"
expect_exit 2 "validate without --json: text only" -- dh validate echo_params -p name=Ada -p count=many
expect_eq "$(wc -c <"$OUT")" "0" "no JSON on stdout without --json"
expect_exit 2 "show --json of an unknown run" -- dh show 20260101T000000Z-deadbeef --json
expect_eq "$(json_field "$OUT" '["exit_code"]')" "2" "show --json error is JSON"

# list --json shows the flags the table shows.
expect_exit 0 "list --json" -- dh list --json
flags=$(python3 -c 'import json,sys; print(",".join(next(p for p in json.load(sys.stdin) if p["name"]=="purge_rows")["flags"]))' <"$OUT")
expect_eq "$flags" "destructive,reversible" "purge_rows is listed with its destructive and reversible flags"
flags=$(python3 -c 'import json,sys; print(",".join(next(p for p in json.load(sys.stdin) if p["name"]=="noop")["flags"]))' <"$OUT")
expect_eq "$flags" "" "noop has no flag"
expect_exit 0 "list" -- dh list
expect_in "$OUT" "destructive" "the table shows the same word"

# show keeps the report `run` printed.
expect_exit 0 "a run with a report" -- dh run echo_params -p name=Grace -p count=4
expect_in "$OUT" $'count\t4' "run prints the report"
run_id=$(last_run_id)
expect_exit 0 "show" -- dh show "$run_id"
expect_in "$OUT" $'count\t4' "show prints the report again"
expect_in "$OUT" $'name\t"Grace"' "all of it"
expect_exit 0 "show --json" -- dh show "$run_id" --json
expect_in "$OUT" '"report": "count\t4' "show --json holds the report"
expect_exit 0 "run --json" -- dh run echo_params -p name=Grace -p count=4 --json
expect_in "$OUT" '"report": "count\t4' "run --json holds the report too"

# The run that the rollback tests use.
table=cli_items_$$
reset_table() {
  psql_q "drop table if exists $table; create table $table (id int primary key, payload text);
          insert into $table select g, md5(g::text) from generate_series(1, 200) g" >/dev/null
}
reset_table
checksum() { psql_q "select md5(coalesce(string_agg(t::text, '|' order by id), '')) from $table t"; }
before=$(checksum)

# A `forbid` lock keeps out a second real run, not a dry run.
"$DIHYA_HOST" run purge_rows -p table=$table -p max_id=200 -p batch=10 -p sleep_ms=300 --yes >"$WORK/bg.out" 2>&1 &
bg=$!
for _ in $(seq 100); do
  [ "$(psql_q "select count(*) from $table")" -lt 200 ] && break
  sleep 0.1
done
expect_exit 2 "a second real run is refused by the forbid lock" -- dh run purge_rows -p table=$table -p max_id=5 --yes
expect_in "$ERR" "concurrency policy is 'forbid'" "with the reason"
expect_exit 0 "a dry run passes the forbid lock" -- dh run purge_rows -p table=$table -p max_id=5 --dry-run
expect_in "$OUT" "purge_rows: dry_run: would delete" "and simulates"
wait "$bg" && ok "the first run finished undisturbed" || not_ok "the first run failed: $(cat "$WORK/bg.out")"
reset_table

# A timed-out run keeps what the plugin said when it stopped.
expect_exit 4 "a timed-out run" -- dh run purge_rows -p table=$table -p max_id=200 -p batch=5 -p sleep_ms=200 --timeout 1 --yes
expect_in "$ERR" "timed out after 1 s: cancelled after deleting" "the plugin's own message follows the timeout"
expect_eq "$(python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["summary"])' < <(dh history --json) | grep -c 'cancelled after deleting')" 1 \
  "and is in the record"
expect_eq "$(checksum)" "$before" "and the run was rolled back"

# A dry-run summary that already says "dry run:" is not prefixed twice.
psql_q "create table if not exists items (id int primary key)" >/dev/null
expect_exit 0 "a dry run whose summary opens with 'dry run:'" -- dh run idle_exercise -p table=items -p max_id=1 --dry-run
expect_in "$OUT" "idle_exercise: dry_run: would delete" "the outcome is said once"
expect_not_in "$OUT" "dry run: would" "the plugin's own prefix is dropped"

# rollback refuses a plugin file that is not the one the run used.
mkdir -m 755 "$WORK/mine"
cp "$DIHYA_TEST_PLUGIN_DIR/libpurge_rows.so" "$WORK/mine/libpurge_rows.so"
expect_exit 1 "a run of the copied plugin, kept unrolled" -- \
  dh --plugin-path "$WORK/mine" run purge_rows -p table=$table -p max_id=50 -p batch=10 -p fail_after_batches=2 --no-rollback --yes
run_id=$(last_run_id)
expect_eq "$(psql_q "select count(*) from $table")" "180" "20 rows deleted and kept"
printf 'x' >>"$WORK/mine/libpurge_rows.so"
expect_exit 2 "rollback with a changed plugin file is refused" -- dh --plugin-path "$WORK/mine" rollback "$run_id"
expect_in "$ERR" "warning: $WORK/mine/libpurge_rows.so is not the file run $run_id used" "with a warning naming the file"
expect_in "$ERR" "use --force" "and the way out"
expect_eq "$(psql_q "select count(*) from $table")" "180" "nothing was rolled back"
expect_exit 2 "rollback --json with a changed plugin file" -- dh --plugin-path "$WORK/mine" rollback "$run_id" --json
expect_in "$OUT" "the plugin file changed since the run" "a JSON error"
expect_exit 0 "rollback --force" -- dh --plugin-path "$WORK/mine" rollback "$run_id" --force
expect_in "$ERR" "warning:" "still warns"
expect_eq "$(checksum)" "$before" "and restores the table"
expect_exit 0 "rollback --json of a run already rolled back" -- dh --plugin-path "$WORK/mine" rollback "$run_id" --json
expect_eq "$(json_field "$OUT" '["already_rolled_back"]')" "True" "is JSON saying so"
expect_exit 0 "rollback of a run already rolled back" -- dh --plugin-path "$WORK/mine" rollback "$run_id"
expect_in "$OUT" "already rolled back" "in text without --json"

psql_q "drop table $table; drop table items" >/dev/null
finish
