#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# `rollback <id>` after a rollback whose host stopped once the journal said
# "done" (killed by strace at the marker's fdatasync, or at the record
# written after the rollback.end line): the run is recorded rolled back, its
# rollback.end audit line written once, and "already rolled back" said. And
# several `rollback <id>` of one run at once: the plugin's rollback runs
# once, the others say "already rolled back".
source "$(dirname "$0")/lib.sh"

require_strace
audit="$DIHYA_STATE_DIR/audit.jsonl"

failed_run() {
  dh run hostile_journal --timeout 300 -p behaviour=journal_then_fail --no-rollback >"$OUT" 2>"$ERR" || true
  last_run_id
}
# events_of ID: the audit events of run ID, in order.
events_of() { grep -F "\"run_id\":\"$1\"" "$audit" | sed -E 's/.*"event":"([a-z.]*)".*/\1/' | tr '\n' ' '; }
outcome_of() {
  dh history --json | python3 -c 'import json,sys; print([r["outcome"] for r in json.load(sys.stdin) if r["id"] == sys.argv[1]][0])' "$1"
}

# --- Killed at the fdatasync of the journal's "done" marker.
id=$(failed_run)
strace -f -qq -o /dev/null -P "$DIHYA_STATE_DIR/runs/$id/journal.jsonl" -e trace=fdatasync \
  -e inject=fdatasync:signal=KILL:when=2 "$DIHYA_HOST" rollback "$id" >"$OUT" 2>"$ERR" || true
expect_eq "$(tail -1 "$DIHYA_STATE_DIR/runs/$id/journal.jsonl")" '{"rollback":"done"}' "the journal says done"
expect_eq "$(events_of "$id")" "run.start run.end rollback.start " "the killed rollback left no rollback.end"
expect_exit 0 "rollback after the killed one" -- dh rollback "$id"
expect_in "$OUT" "already rolled back" "it says already rolled back"
expect_eq "$(outcome_of "$id")" rolled_back "the run is recorded rolled back"
expect_eq "$(events_of "$id")" "run.start run.end rollback.start rollback.end " "the missing rollback.end is written"
expect_exit 0 "rollback once more" -- dh rollback "$id" --json
expect_in "$OUT" '"already_rolled_back": true' "already rolled back, again"
expect_eq "$(events_of "$id")" "run.start run.end rollback.start rollback.end " "no second rollback.end"
expect_exit 0 "audit verify" -- dh audit verify

# --- Killed at the record, after the rollback.end line: not written twice.
id=$(failed_run)
strace -f -qq -o /dev/null -P "$DIHYA_STATE_DIR/runs/state.log" -e trace=write \
  -e inject=write:signal=KILL:when=1 "$DIHYA_HOST" rollback "$id" >"$OUT" 2>"$ERR" || true
expect_eq "$(events_of "$id")" "run.start run.end rollback.start rollback.end " "the killed rollback wrote its rollback.end"
expect_eq "$(outcome_of "$id")" failed "but not its record"
expect_exit 0 "rollback after the one killed at its record" -- dh rollback "$id"
expect_in "$OUT" "already rolled back" "it says already rolled back"
expect_eq "$(outcome_of "$id")" rolled_back "the run is recorded rolled back"
expect_eq "$(events_of "$id")" "run.start run.end rollback.start rollback.end " "rollback.end is not written again"

# --- Three rollbacks of one run at once. The plugin's lock is held here
# until each has read the journal and waits for it: each then finds the
# rollback done by the first.
id=$(failed_run)
lock="$DIHYA_STATE_DIR/locks/hostile_journal.lock"
exec 9<>"$lock"
flock 9
pids=()
for i in 1 2 3; do
  "$DIHYA_HOST" rollback "$id" >"$WORK/rollback$i.out" 2>&1 9>&- &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 300); do
    ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF "$lock" && break
    sleep 0.1
  done
done
flock -u 9
exec 9>&-
codes=""
for pid in "${pids[@]}"; do
  code=0
  wait "$pid" || code=$?
  codes+="$code "
done
expect_eq "$codes" "0 0 0 " "the three rollbacks succeed"
expect_eq "$(cat "$WORK"/rollback*.out | grep -c "already rolled back")" 2 "two say already rolled back"
expect_eq "$(events_of "$id")" "run.start run.end rollback.start rollback.end " "the plugin's rollback ran once"
expect_eq "$(outcome_of "$id")" rolled_back "the run is recorded rolled back"
expect_exit 0 "show of the run" -- dh show "$id" --json
expect_in "$OUT" "rolled back: rolled back 1 entry" "its record keeps the rollback's summary"
expect_exit 0 "audit verify" -- dh audit verify
finish
