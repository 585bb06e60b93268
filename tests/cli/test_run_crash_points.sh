#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Crash consistency of a run: the host is killed (SIGKILL, injected by strace
# on the entry of a system call) at every write, fdatasync, fsync and rename
# (and pwrite, renameat) of `run noop`, one point after the other, until a run gets through. After
# each kill: `history` reads without a damaged entry and shows the run
# interrupted (or not at all, when it died before its start record), `audit
# verify` passes, and the next run succeeds. The kill points include the
# start record written but not yet synced (the audit line's write and fsync
# come between) and the same at the end. With PostgreSQL, a destructive
# run killed at each of its flushes is rolled back exactly.
source "$(dirname "$0")/lib.sh"

require_strace
expect_exit 0 "a first run" -- dh run noop

# The flushes of a run, in order: the start record, which carries the
# run.start line, and the line itself are written, then one fdatasync of the
# state log makes both durable; only then the child; the end the same way.
# The audit file and its head record are not synced (the state log's copy of
# each line is: every append completes the audit file from it).
strace -f -qq -o "$WORK/flushes.txt" -e trace=fsync,fdatasync,sync,syncfs,sync_file_range,clone,clone3,fork,vfork \
  "$DIHYA_HOST" run noop >/dev/null 2>&1 || not_ok "run noop under strace"
flushes=$(sed -nE 's/^[0-9]+ +(fsync|fdatasync|sync|syncfs|sync_file_range|clone3?|v?fork)\(.*/\1/p' "$WORK/flushes.txt" |
  tr '\n' ' ')
expect_eq "$flushes" "fdatasync clone fdatasync " "run noop: one fdatasync of the state log before the child, one after it"

# A SIGTERM (a scheduler stopping its job, an operator's kill) that arrives
# once the start record is written but before the supervisor's handlers
# exist: held until then, it cancels the run, which ends recorded, never
# cut off between its record and its child (read as interrupted).
# (A plugin that would run 30 s: the cancellation, not its end, finishes it.
# Run once first: the first run of a plugin also saves the metadata cache.)
expect_exit 0 "hostile, a first time" -- dh run hostile -p behaviour=hang -p seconds=0
for point in fdatasync:1; do
  code=0
  strace -qq -o /dev/null -e trace="${point%%:*}" -e inject="${point%%:*}":signal=TERM:when="${point#*:}" \
    "$DIHYA_HOST" run hostile -p behaviour=hang -p seconds=30 --grace 1 >"$OUT" 2>"$ERR" || code=$?
  expect_eq "$code" 130 "SIGTERM at the start's $point: the run is cancelled (exit 130), not killed"
  expect_eq "$(dh history --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["outcome"])')" cancelled \
    "SIGTERM at the start's $point: history says cancelled"
done

# A run that logs nothing creates no log file (and so no inode for the end to
# delete again); `logs` of it prints nothing and succeeds.
strace -f -qq -o "$WORK/creates.txt" -e trace=open,openat,creat \
  "$DIHYA_HOST" run noop >/dev/null 2>&1 || not_ok "run noop under strace (creates)"
expect_in "$WORK/creates.txt" "state.log" "the trace of the run shows its file opens"
grep 'log\.txt' "$WORK/creates.txt" | grep O_CREAT >"$WORK/log_creates.txt" || true
expect_eq "$(wc -l <"$WORK/log_creates.txt")" 0 "a silent run does not create log.txt"
expect_exit 0 "logs of the silent run" -- dh logs "$(last_run_id)"
expect_eq "$(cat "$OUT")" "" "logs of the silent run print nothing"

runs_count() { dh history --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# killed_at SYSCALL N -- command...: exit 0 when the command was killed at the
# N-th call of SYSCALL, 1 when it ran to its end.
killed_at() {
  local sc=$1 n=$2
  shift 3
  local code=0
  strace -qq -o /dev/null -e trace="$sc" -e inject="$sc":signal=KILL:when="$n" "$@" >"$OUT" 2>"$ERR" || code=$?
  [ "$code" -eq 137 ] || grep -q "Killed" "$ERR"
}

points=0
for sc in write pwrite64 fdatasync fsync rename renameat renameat2; do
  for n in $(seq 1 80); do
    before=$(runs_count)
    if ! killed_at "$sc" "$n" -- "$DIHYA_HOST" run noop; then
      ok "run noop gets through once $sc #$n is not reached ($((n - 1)) kill points)"
      break
    fi
    points=$((points + 1))
    dh history --json >"$WORK/h.json" 2>"$WORK/h.err" || not_ok "history after a kill at $sc #$n"
    if grep -q damaged "$WORK/h.err"; then not_ok "history warns of damage after a kill at $sc #$n"; fi
    verdict=$(python3 - "$WORK/h.json" "$before" <<'PY'
import json, sys
runs, before = json.load(open(sys.argv[1])), int(sys.argv[2])
if len(runs) == before: print("no record"); sys.exit()
if len(runs) != before + 1: print(f"{len(runs) - before} new runs"); sys.exit()
print(runs[-1]["outcome"])
PY
)
    case "$verdict" in
      "no record" | interrupted | succeeded) ;;
      *) not_ok "after a kill at $sc #$n the run reads '$verdict'" ;;
    esac
    if ! dh audit verify >"$WORK/a.out" 2>&1; then not_ok "audit verify after a kill at $sc #$n: $(head -c 300 "$WORK/a.out")"; fi
    if ! dh run noop >/dev/null 2>"$WORK/r.err"; then not_ok "the run after a kill at $sc #$n: $(head -c 300 "$WORK/r.err")"; fi
  done
done
if [ "$points" -ge 5 ]; then ok "the host was killed at $points points of a run"; else not_ok "only $points kill points"; fi
expect_exit 0 "history reads whole at the end" -- dh history --json
expect_not_in "$ERR" "damaged" "no damaged entry at the end"
expect_eq "$(tail -c 1 "$DIHYA_STATE_DIR/runs/state.log" | od -An -c | tr -d ' ')" '\n' "the state log ends with a whole line"
expect_exit 0 "audit verify at the end" -- dh audit verify

# Killed at the end record's sync (the 2nd fdatasync): the run directory is
# tidied only after it, so the plugin's log is still in its file, and `logs`
# shows it whether or not the end record reached the disk.
killed_at fdatasync 2 -- "$DIHYA_HOST" run echo_params -p name=tidy-after-sync || not_ok "echo_params was not killed at fdatasync #2"
id=$(last_run_id)
expect_eq "$(dh history --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["plugin"])')" echo_params "the killed run is recorded"
expect_exit 0 "logs of the run killed at its end sync" -- dh logs "$id"
expect_in "$OUT" 'name = "tidy-after-sync"' "its log is shown"
if [ -f "$DIHYA_STATE_DIR/runs/$id/log.txt" ]; then ok "log.txt is kept until the end record is synced"; else not_ok "log.txt was removed before the end record was synced"; fi
expect_exit 0 "audit verify after it" -- dh audit verify

# A power loss: the audit file is not flushed by runs (the state log's copy of
# each line is), so it can come back without its last lines, a tail of zeros
# in their place, and its head record of the boot before. The next command
# that reads or writes it completes it from the state log's copies.
audit="$DIHYA_STATE_DIR/audit.jsonl"
for i in 1 2; do expect_exit 0 "a run before the power loss" -- dh run noop; done
cp "$audit" "$WORK/audit.whole"
lines=$(wc -l <"$audit")
{ head -n $((lines - 3)) "$WORK/audit.whole"; head -c 200 /dev/zero; } >"$audit"
sed -i 's/"boot":"[0-9a-f]*"/"boot":"0000000000000000"/' "$audit.head"
expect_exit 0 "audit verify after the power loss" -- dh audit verify --json
expect_in "$ERR" "3 line(s) copied from the state log" "it says what it copied"
expect_in "$OUT" '"copied_from_state_log": 3' "and says it in its JSON"
if cmp -s "$audit" "$WORK/audit.whole"; then ok "the audit file is whole again, byte for byte"; else not_ok "the completed audit file differs"; fi
# In the same boot nothing is missing but by a cut: nothing is copied, the cut is reported.
{ head -n $((lines - 2)) "$WORK/audit.whole"; } >"$audit"
expect_exit 1 "audit verify of a log cut in this boot" -- dh audit verify
expect_in "$OUT" "missing at the end" "the cut is reported"
cp "$WORK/audit.whole" "$audit"
expect_exit 0 "audit verify once the lines are put back" -- dh audit verify
# The same power loss, then a prune: its rewrite of the state log drops the
# entries that carried the lost lines, so the audit file is completed first.
{ head -n $((lines - 3)) "$WORK/audit.whole"; head -c 100 /dev/zero; } >"$audit"
sed -i 's/"boot":"[0-9a-f]*"/"boot":"0000000000000000"/' "$audit.head"
expect_exit 0 "history prune after the power loss" -- dh history prune --keep 1 --yes
if cmp -s "$WORK/audit.whole" <(head -n "$lines" "$audit"); then ok "the lost lines are back before the prune's entry"; else not_ok "the audit file lost lines across the prune"; fi
expect_in "$audit" '"event":"history.prune"' "the prune is audited after them"
expect_exit 0 "audit verify after the prune" -- dh audit verify

# A destructive run killed at each of its flushes (journal entries, records,
# audit lines) is rolled back to the exact table.
if [ -n "${DB_URL:-}" ]; then
  table=crash_items
  reset_table() {
    psql_q "drop table if exists $table; create table $table (id int primary key, payload text);
            insert into $table select g, md5(g::text) from generate_series(1, 200) g;" >/dev/null
  }
  checksum() { psql_q "select md5(coalesce(string_agg(t::text, '|' order by id), '')) from $table t"; }
  reset_table
  good=$(checksum)
  prev_id=-
  for n in $(seq 1 60); do
    if ! killed_at fdatasync "$n" -- "$DIHYA_HOST" run purge_rows -p table=$table -p max_id=100 -p batch=20 --yes; then
      ok "purge_rows gets through once fdatasync #$n is not reached"
      break
    fi
    last=$(dh history --limit 1 --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[-1]["id"], r[-1]["outcome"]) if r and r[-1]["plugin"] == "purge_rows" else print("- none")')
    id=${last% *}
    outcome=${last#* }
    [ "$id" = "$prev_id" ] && outcome=none  # died before its start record
    case "$outcome" in
      interrupted)
        dh rollback "$id" >/dev/null 2>"$WORK/rb.err" || not_ok "rollback after a kill at fdatasync #$n: $(head -c 300 "$WORK/rb.err")"
        if [ "$(checksum)" = "$good" ]; then ok "killed at fdatasync #$n: rolled back to the exact table"; else not_ok "killed at fdatasync #$n: the table differs after rollback"; fi
        ;;
      succeeded)  # killed after its end record: the purge stands
        expect_eq "$(psql_q "select count(*) from $table")" 100 "killed at fdatasync #$n after the end: the purge stands"
        ;;
      none)
        if [ "$(checksum)" = "$good" ]; then ok "killed at fdatasync #$n before the start record: nothing changed"; else not_ok "killed at fdatasync #$n before the start record, yet the table changed"; fi
        ;;
      *) not_ok "killed at fdatasync #$n: the run reads '$outcome'" ;;
    esac
    prev_id=$id
    dh audit verify >/dev/null 2>&1 || not_ok "audit verify after a kill at fdatasync #$n"
    reset_table
    good=$(checksum)
  done
fi

finish
