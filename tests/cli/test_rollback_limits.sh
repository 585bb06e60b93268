#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# A run that changed something (journalled) and then misbehaves, or whose
# rollback does: secrets as keys of result data, summaries and data too large
# for a run record, a journal without end, forged frames, rollbacks that
# never return. Each run ends recorded, rolled back where it should be.
source "$(dirname "$0")/lib.sh"

# The plugin's timeout_seconds (3 s) is for the rollback timeouts below; the
# other runs get room.
hj() { dh run hostile_journal --timeout 300 "$@"; }
state_log="$DIHYA_STATE_DIR/runs/state.log"
json_field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
longest_line() { python3 -c 'import sys; print(max(len(l) for l in open(sys.argv[1], "rb")))' "$1"; }

# --- Secrets as keys of the result data: redacted like values, none lost.
secret='Key-s3cret-9f2b'
expect_exit 0 "a result whose keys hold a secret" -- hj -p behaviour=leak_keys -p password="$secret" --json
cp "$OUT" "$WORK/leak.json"
id=$(last_run_id)
expect_in "$WORK/leak.json" '"k-***"' "a nested key holding the secret is redacted"
expect_eq "$(json_field "$WORK/leak.json" 'sorted(v["result"][k] for k in ("***", "*** (2)"))')" \
  "['value under the secret', 'value under the stars']" "two keys that redact alike are both kept"
expect_not_in "$WORK/leak.json" "$secret" "run --json: no secret in a key"
expect_exit 0 "show of that run" -- dh show "$id"
expect_in "$OUT" 'k-***' "show prints the redacted keys"
expect_not_in "$OUT" "$secret" "show: no secret in a key"
expect_exit 0 "show --json of that run" -- dh show "$id" --json
expect_not_in "$OUT" "$secret" "show --json: no secret in a key"
expect_exit 0 "history --json" -- dh history --json
expect_in "$OUT" 'k-***' "history --json has the redacted keys"
expect_not_in "$OUT" "$secret" "history --json: no secret in a key"
expect_in "$state_log" 'k-***' "the state log has the redacted keys"
expect_not_in "$state_log" "$secret" "the state log: no secret in a key"
expect_in "$DIHYA_STATE_DIR/runs/$id/record.json" 'k-***' "record.json has the redacted keys"
expect_not_in "$DIHYA_STATE_DIR/runs/$id/record.json" "$secret" "record.json: no secret in a key"

# A secret in an undo entry stays in the journal (its rollback reads it
# back), so the run says so, once, without the secret.
expect_exit 0 "a run that journals a secret" -- hj -p behaviour=journal_secret -p password="$secret"
expect_in "$ERR" "journal entry 1 holds a secret, kept in clear" "the run warns of the secret in its journal"
expect_not_in "$ERR" "$secret" "the warning does not show the secret"
expect_exit 0 "logs of that run" -- dh logs "$(last_run_id)"
expect_in "$OUT" "holds a secret, kept in clear" "the warning is in the run's log"
expect_exit 0 "a run that journals no secret" -- hj -p behaviour=journal_flood -p count=1 -p password="$secret"
expect_not_in "$ERR" "holds a secret" "no warning without a secret in the journal"

# The rollback's data too: a manual rollback knows the database password and
# prints its plugin's data with --json.
db_secret='Db-s3cret-77aa'
db_url="postgresql://someone:$db_secret@127.0.0.1:1/none"
expect_exit 1 "a failed run kept for a manual rollback" -- \
  env DIHYA_DATABASE_URL="$db_url" "$DIHYA_HOST" run hostile_journal --timeout 300 \
  -p behaviour=journal_then_fail -p rollback=leak_keys --no-rollback
id=$(last_run_id)
expect_exit 0 "its rollback returns data keyed by the database password" -- \
  env DIHYA_DATABASE_URL="$db_url" "$DIHYA_HOST" rollback "$id" --timeout 300 --json
expect_in "$OUT" '"value under the secret"' "the rollback's data is printed"
expect_in "$OUT" '"k-***"' "the rollback's nested key is redacted"
expect_not_in "$OUT" "$db_secret" "rollback --json: no secret in a key"

# --- Summaries of 8.3 MB of '"' (the run's and its rollback's): the end
# record once took 116 MB, over the state log's line limit, and the run read
# as interrupted for ever.
expect_exit 1 "a run and its rollback failing with 8.3 MB summaries" -- \
  bounded "$DIHYA_HOST" run hostile_journal --timeout 300 -p behaviour=big_summary -p size=8300000 -p rollback=big_summary
expect_eq "$(last_run_field outcome)" rollback_failed "the run is recorded as rollback_failed, not interrupted"
id=$(last_run_id)
expect_exit 0 "show --json of that run" -- dh show "$id" --json
cp "$OUT" "$WORK/big.json"
expect_eq "$(json_field "$WORK/big.json" 'len(v["summary"]) < 200000')" True "the summary is cut"
expect_in "$WORK/big.json" "cut: 8300000 bytes in all" "the summary says it was cut"
expect_in "$WORK/big.json" "rollback failed:" "the rollback's summary follows"
expect_eq "$(json_field "$WORK/big.json" 'len(v["result"]["rollback"]["summary"]) < 70000')" True \
  "the rollback's summary is cut"
expect_eq "$(( $(longest_line "$state_log") < 4 << 20 ))" 1 "no state log line reaches 4 MiB"
expect_exit 1 "a manual rollback failing with an 8.3 MB summary" -- bounded "$DIHYA_HOST" rollback "$id" --timeout 300 --json
expect_in "$OUT" "cut: 8300000 bytes in all" "rollback --json: the summary is cut"
expect_eq "$(( $(stat -c %s "$OUT") < 500000 ))" 1 "rollback --json prints a cut summary"
expect_eq "$(( $(longest_line "$DIHYA_STATE_DIR/audit.jsonl") < 4 << 20 ))" 1 "no audit line reaches 4 MiB"

# Result data over 4 MiB is dropped, saying so; smaller data is kept.
expect_exit 0 "a run returning 5 MB of data" -- hj -p behaviour=big_data -p size=5000000 --json
cp "$OUT" "$WORK/data.json"
expect_in "$WORK/data.json" "was dropped: a run record keeps at most 4 MiB" "the record says the data was dropped"
expect_eq "$(( $(stat -c %s "$WORK/data.json") < 100000 ))" 1 "the record is small"
expect_exit 0 "logs of that run" -- dh logs "$(last_run_id)"
expect_in "$OUT" "was dropped" "the log says the data was dropped"
expect_exit 0 "a run returning 100 kB of data" -- hj -p behaviour=big_data -p size=100000 --json
expect_eq "$(json_field "$OUT" 'len(v["result"]["blob"])')" 100000 "data under the limit is kept"

# --- A journal past 256 MiB: the entry that would pass it is refused (the
# plugin's record() throws, its step is not done), and the run rolled back.
expect_exit 5 "a run journalling 20 entries of 15 MB" -- bounded "$DIHYA_HOST" run hostile_journal --timeout 600 \
  -p behaviour=journal_flood -p size=15000000 -p count=20
expect_in "$ERR" "journal would pass its limit of 256 MiB" "the error names the limit"
expect_eq "$(last_run_field outcome)" rolled_back "the run is rolled back"
id=$(last_run_id)
journal_size=$(stat -c %s "$DIHYA_STATE_DIR/runs/$id/journal.jsonl")
expect_eq "$(( journal_size <= 256 << 20 ))" 1 "the journal stays within 256 MiB ($journal_size bytes)"
expect_in "$DIHYA_STATE_DIR/runs/$id/journal.jsonl" '"rollback":"done"' "the rollback went through"

# --- Frames forged after record(): a result "invalid" (exit 2, parameters)
# or an error "load" (exit 3) once ended the run without rolling it back.
for behaviour in forge_invalid forge_load; do
  expect_exit 5 "$behaviour after journalling is a failed run, rolled back" -- hj -p behaviour="$behaviour"
  expect_eq "$(last_run_field outcome)" rolled_back "$behaviour: recorded as rolled back"
  expect_exit 0 "$behaviour: rollback again" -- dh rollback "$(last_run_id)"
  expect_in "$OUT" "already rolled back" "$behaviour: the journal says it was rolled back"
done

# --- Rollback timeouts. A manual rollback falls back to the plugin's
# timeout_seconds (3 s): one that never returns once hung the command.
expect_exit 1 "a failed run whose rollback hangs, kept" -- hj -p behaviour=journal_then_fail -p rollback=hang --no-rollback
id=$(last_run_id)
expect_exit 1 "its manual rollback stops at the plugin's timeout_seconds" -- timeout 60 "$DIHYA_HOST" rollback "$id"
expect_in "$OUT" "timed out after 3 s" "the rollback timed out after timeout_seconds"

# The automatic rollback is given the run's --grace: a rollback that carries
# on after its cancellation is killed 0.5 s later, never lives 4 s more (the
# default grace is 5 s).
"$DIHYA_HOST" run hostile_journal -p behaviour=journal_then_fail -p rollback=ignore_cancel --timeout 1 --grace 0.5 \
  >"$OUT" 2>"$ERR" || true
expect_eq "$(last_run_field outcome)" rollback_failed "a rollback ignoring its cancellation fails"
expect_exit 0 "logs of that run" -- dh logs "$(last_run_id)"
expect_in "$OUT" "rollback cancelled; carrying on" "the rollback was cancelled"
expect_not_in "$OUT" "still alive 4 s after" "the rollback was killed after the run's grace"
# And a manual rollback takes its own --grace.
auto_id=$(last_run_id)
expect_exit 1 "a manual rollback ignoring its cancellation, --grace 0.5" -- \
  timeout 60 "$DIHYA_HOST" rollback "$auto_id" --timeout 1 --grace 0.5
expect_exit 0 "logs of that rollback" -- dh logs "$auto_id"
expect_not_in "$OUT" "still alive 4 s after" "the manual rollback was killed after its --grace"
expect_exit 2 "rollback --grace NaN is refused" -- dh rollback "$auto_id" --grace nan

expect_exit 0 "audit verify" -- dh audit verify
finish
