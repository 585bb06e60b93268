#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# History at scale: `history`, `show` and their filters answer from the state
# log's index exactly as they did from the run directories (a reference built
# from the records themselves); a torn log tail, a flipped bit, a deleted,
# truncated or foreign index; a noop run's disk cost; an interrupted run;
# `history prune` (dry run, plan, real, the retention setting, undoable runs)
# with `audit verify` after; bad input.
source "$(dirname "$0")/lib.sh"

R="$DIHYA_STATE_DIR/runs"
mkdir -p "$R"
chmod 700 "$DIHYA_STATE_DIR" "$R"

# ---- 300 runs in the layout before the state log: one record.json each ------
python3 - "$R" "$WORK/ref.json" <<'PY'
import json, os, sys
runs, ref = sys.argv[1], sys.argv[2]
records = []
outcomes = ["succeeded", "failed", "timed_out", "rolled_back", "dry_run"]
for i in range(300):
    day, mm, ss, ms = 1 + i // 20, i % 20, i % 60, i % 1000
    rid = f"202611{day:02d}T10{mm:02d}{ss:02d}.{ms:03d}Z-{i:06x}"
    r = {"id": rid, "plugin": ["noop", "cleanup", "backup_db"][i % 3], "plugin_version": "1.0.0",
         "plugin_sha256": "ab" * 32, "user": "op", "host": "h1", "params": {"n": i, "q": "a\"b"},
         "started_at": f"2026-11-{day:02d}T10:{mm:02d}:{ss:02d}.{ms:03d}Z",
         "ended_at": f"2026-11-{day:02d}T11:00:00.000Z", "outcome": outcomes[i % 5],
         "exit_code": i % 5, "summary": f"run {i} \u00e9t\u00e9", "result": {"rows": i},
         "pid_of_host": 0, "host_boot_id": "", "host_start_ticks": 0, "dry_run": i % 5 == 4,
         "destructive": False, "schedule_id": "3" if i % 4 == 0 else "",
         "trigger": "scheduled" if i % 4 == 0 else "", "audit_seq": 0}
    d = os.path.join(runs, rid)
    os.mkdir(d, 0o700)
    with open(os.path.join(d, "record.json"), "w") as f:
        json.dump(r, f, indent=2)
    if i == 7:
        open(os.path.join(d, "log.txt"), "w").write("line one\nline two\n")
        open(os.path.join(d, "report.txt"), "w").write("the report of run 7\n")
    records.append(r)
# A damaged record and a directory without one are not runs.
os.mkdir(os.path.join(runs, "20261120T100000.000Z-ffffff"), 0o700)
open(os.path.join(runs, "20261120T100000.000Z-ffffff", "record.json"), "w").write('{"id":')
os.mkdir(os.path.join(runs, "20261121T100000.000Z-fffffe"), 0o700)
json.dump(sorted(records, key=lambda r: r["id"]), open(ref, "w"))
PY

# same_as_reference DESCRIPTION [history options...]: history --json equals the
# reference records filtered as history always filtered them.
cat >"$WORK/expect.py" <<'PY'
import json, sys
ref, got_file, args = sys.argv[1], sys.argv[2], sys.argv[3:]
records = json.load(open(ref))
plugin = since = limit = None
i = 0
while i < len(args):
    if args[i] == "--plugin": plugin = args[i + 1]; i += 2
    elif args[i] == "--since": since = args[i + 1]; i += 2
    elif args[i] == "--limit": limit = int(args[i + 1]); i += 2
    else: raise SystemExit(f"unknown option {args[i]}")
want = [r for r in records if (plugin is None or r["plugin"] == plugin) and (since is None or r["started_at"] >= since)]
if limit is not None: want = want[-limit:] if limit else []
got = json.load(open(got_file))
if got != want:
    gi, wi = [r["id"] for r in got], [r["id"] for r in want]
    print(f"{len(got)} runs, expected {len(want)}; first difference:",
          next(((a, b) for a, b in zip(got, want) if a != b), (gi[len(wi):], wi[len(gi):])))
    sys.exit(1)
PY
same_as_reference() {
  local what=$1
  shift
  local got=0
  dh history "$@" --json >"$WORK/got.json" 2>"$ERR" || got=$?
  if [ "$got" -ne 0 ]; then not_ok "$what: history exit $got"; return; fi
  if python3 "$WORK/expect.py" "$WORK/ref.json" "$WORK/got.json" "$@" >"$OUT" 2>&1; then
    ok "$what ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/got.json") runs)"
  else
    not_ok "$what"
  fi
}
all_queries() {  # all_queries LABEL: the filters history has
  same_as_reference "$1: every run"
  same_as_reference "$1: --limit 5" --limit 5
  same_as_reference "$1: --plugin cleanup" --plugin cleanup
  same_as_reference "$1: --plugin cleanup --limit 5" --plugin cleanup --limit 5
  same_as_reference "$1: --since 2026-11-10" --since 2026-11-10
  same_as_reference "$1: --since 2026-11-10T10:05 --plugin noop --limit 3" --since 2026-11-10T10:05 --plugin noop --limit 3
  same_as_reference "$1: --since a whole second (...:00Z sorts after ...:00.000Z)" --since 2026-11-03T10:01:21Z
  same_as_reference "$1: an unknown plugin" --plugin nosuch
  same_as_reference "$1: --limit 0" --limit 0
}

all_queries "imported from run directories"
expect_eq "$(stat -c %a "$R/state.log")" 600 "the state log is 0600"
expect_exit 0 "history in text" -- dh history --limit 5
expect_eq "$(wc -l <"$OUT")" 6 "a header and 5 rows"
id7=$(python3 -c 'import json,sys; print([r["id"] for r in json.load(open(sys.argv[1])) if r["summary"].startswith("run 7 ")][0])' "$WORK/ref.json")
expect_exit 0 "show a run from before the log" -- dh show "$id7" --json
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["report"], j["result"]["rows"], j["plugin"])' "$OUT")" \
  "the report of run 7
 7 cleanup" "show prints the record and its report"
expect_exit 0 "logs of a run from before the log" -- dh logs "$id7"
expect_eq "$(cat "$OUT")" "line one
line two" "logs prints its log.txt"

# ---- real runs: the records `run --json` printed are what history shows -----
append_ref() {  # append_ref FILE: one record printed by run --json (its .report is show's, not history's)
  python3 - "$WORK/ref.json" "$1" <<'PY'
import json, sys
printed = json.load(open(sys.argv[2]))
printed.pop("report")
ref = json.load(open(sys.argv[1])); ref.append(printed)
json.dump(sorted(ref, key=lambda r: r["id"]), open(sys.argv[1], "w"))
PY
}
for i in $(seq 1 12); do
  dh run noop --json >"$WORK/run.json" 2>/dev/null
  append_ref "$WORK/run.json"
done
all_queries "after 12 real runs"
noop_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/run.json")
expect_exit 0 "show a noop run" -- dh show "$noop_id" --json
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["outcome"], j["summary"], repr(j["report"]))' "$OUT")" \
  "succeeded nothing done ''" "show of a noop run: its record"
expect_exit 0 "logs of a noop run (it logged nothing)" -- dh logs "$noop_id"

# ---- what a noop run costs on disk -------------------------------------------
dirs_before=$(find "$R" -mindepth 1 -maxdepth 1 -type d | wc -l)
apparent_before=$(du -sk --apparent-size "$R" | cut -f1)
alloc_before=$(du -sk "$R" | cut -f1)
log_before=$(stat -c %s "$R/state.log")
for i in $(seq 1 20); do
  dh run noop --json >"$WORK/run.json" 2>/dev/null
  append_ref "$WORK/run.json"
done
expect_eq "$(find "$R" -mindepth 1 -maxdepth 1 -type d | wc -l)" "$dirs_before" "a noop run keeps no run directory"
expect_eq "$(find "$R" -name record.reserve | wc -l)" 0 "no reserve file is left after a run"
per_run=$(( ($(stat -c %s "$R/state.log") - log_before) / 20 ))
if [ "$per_run" -le 4096 ]; then ok "a noop run adds $per_run bytes to the state log (<= 4096)"; else not_ok "a noop run adds $per_run bytes"; fi
per_run_k=$(( ($(du -sk --apparent-size "$R" | cut -f1) - apparent_before) * 1000 / 20 ))
if [ "$per_run_k" -le 4000 ]; then ok "du --apparent-size: $per_run_k/1000 KB per noop run (<= 4)"; else not_ok "du --apparent-size: $per_run_k/1000 KB per noop run"; fi
per_run_alloc=$(( ($(du -sk "$R" | cut -f1) - alloc_before) * 1000 / 20 ))
if [ "$per_run_alloc" -le 4000 ]; then ok "allocated blocks: $per_run_alloc/1000 KB per noop run (<= 4)"; else not_ok "allocated: $per_run_alloc/1000 KB per noop run"; fi

# ---- a torn last entry (a crash mid-append) ----------------------------------
printf '000001ff 00000000 {"op":"put","run":{"id":"20261206T0' >>"$R/state.log"
all_queries "with a torn last entry"
dh run noop --json >"$WORK/run.json" 2>/dev/null
append_ref "$WORK/run.json"
expect_exit 0 "history after the repair" -- dh history
expect_not_in "$ERR" "damaged" "no entry was damaged by the torn one (the new start entry is whole)"
expect_eq "$(tail -c 1 "$R/state.log" | od -An -c | tr -d ' ')" '\n' "the next run cut the torn entry: the log ends with a whole line"
expect_eq "$(grep -c '"id":"20261206T0$' "$R/state.log" || true)" 0 "the torn entry is gone"
all_queries "after a run repaired the tail"

# ---- the index: deleted, truncated, or another log's --------------------------
rm "$R/state.idx"
all_queries "after the index was deleted"
expect_eq "$(test -s "$R/state.idx" && echo rebuilt)" rebuilt "the index was rebuilt"
head -c 100 "$R/state.idx" >"$WORK/idx" && cat "$WORK/idx" >"$R/state.idx"
same_as_reference "a truncated index is rebuilt"
mkdir -p "$WORK/other/runs" && chmod -R 700 "$WORK/other"
DIHYA_STATE_DIR="$WORK/other" "$DIHYA_HOST" run noop >/dev/null 2>&1
DIHYA_STATE_DIR="$WORK/other" "$DIHYA_HOST" history >/dev/null 2>&1
cp "$WORK/other/runs/state.idx" "$R/state.idx"
same_as_reference "the index of another state dir is not trusted"

# ---- a flipped bit in a complete entry -----------------------------------------
cp "$R/state.log" "$WORK/state.log.good"
flipped=$(python3 - "$R/state.log" "$id7" <<'PY'
import sys
p, rid = sys.argv[1], sys.argv[2]
b = bytearray(open(p, "rb").read())
at = b.index(b'"summary":"run 7 ')
b[at + 11] ^= 0x01
open(p, "wb").write(b)
print(rid)
PY
)
rm -f "$R/state.idx"
expect_exit 0 "history with a damaged entry" -- dh history --json
expect_in "$ERR" "damaged" "a warning names the damaged entry"
expect_not_in "$OUT" "$flipped" "the damaged run is left out, the others listed"
expect_exit 2 "show of the damaged run: no such run" -- dh show "$flipped"
cp "$WORK/state.log.good" "$R/state.log"
rm -f "$R/state.idx"
all_queries "with the entry repaired"

# ---- an interrupted run (kill -9 of its host) ---------------------------------
"$DIHYA_HOST" run hostile -p behaviour=hang -p seconds=60 >/dev/null 2>&1 &
host_pid=$!
for _ in $(seq 1 100); do
  dh history --limit 1 --json 2>/dev/null | grep -q '"running"' && break
  sleep 0.1
done
kill -9 "$host_pid"
wait "$host_pid" 2>/dev/null || true
expect_eq "$(last_run_field outcome)" interrupted "a killed host's run reads interrupted"
interrupted_id=$(last_run_id)

# ---- prune ----------------------------------------------------------------------
total=$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_exit 0 "prune --keep 0 --dry-run --json" -- dh history prune --keep 0 --dry-run --json
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["dry_run"], j["would_prune"], j["kept_running"], j["runs_before"])' "$OUT")" \
  "True $((total - 1)) 1 $total" "the dry run plans all but the interrupted run"
expect_eq "$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "$total" "a dry run removes nothing"
expect_exit 2 "prune without --yes shows the plan and refuses" -- dh history prune --older-than 20d
expect_in "$OUT" "would prune 300 of $total runs" "the plan is printed"
expect_one_line_error "prune without --yes"
expect_in "$ERR" "add --yes" "says how to confirm"
# With --json, one JSON value: the plan with the error's fields (the error
# object used to follow the plan as a second document).
expect_exit 2 "prune --json without --yes" -- dh history prune --older-than 20d --json
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["ok"], j["exit_code"], j["would_prune"])' "$OUT" 2>&1)" \
  "False 2 300" "prune --json without --yes prints one JSON value, the plan and the error"
expect_one_line_error "prune --json without --yes"
expect_eq "$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "$total" "an unconfirmed prune removes nothing"
audit_lines=$(wc -l <"$DIHYA_STATE_DIR/audit.jsonl")
expect_exit 0 "prune --older-than 20d --yes" -- dh history prune --older-than 20d --yes --json
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["dry_run"], j["pruned"], j["runs_after"])' "$OUT")" \
  "False 300 $((total - 300))" "the 300 November runs went"
expect_eq "$(find "$R" -mindepth 1 -maxdepth 1 -type d -name '202611*' | grep -cv -e ffffff -e fffffe || true)" 0 "their directories went"
expect_exit 2 "show of a pruned run" -- dh show "$id7"
expect_one_line_error "show of a pruned run"
python3 - "$WORK/ref.json" <<'PY'
import json, sys
ref = [r for r in json.load(open(sys.argv[1])) if not r["id"].startswith("202611")]
json.dump(ref, open(sys.argv[1], "w"))
PY
python3 - "$WORK/ref.json" "$interrupted_id" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))
ref.append(None)  # the interrupted run is compared on its own below
json.dump([r for r in ref if r], open(sys.argv[1], "w"))
PY
dh history --json | python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin) if r["outcome"] != "interrupted"))' >"$WORK/left"
expect_eq "$(cat "$WORK/left")" "$(python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(open(sys.argv[1]))))' "$WORK/ref.json")" "the runs left are exactly the recent ones"
expect_exit 0 "audit verify after a prune" -- dh audit verify
expect_eq "$(sed -n "$((audit_lines + 1))p" "$DIHYA_STATE_DIR/audit.jsonl" | python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(j.get("event"), j.get("data", {}).get("count"))')" \
  "history.prune 300" "the prune is audited with its count"

# The retention setting decides when no flag is given.
mkdir -p "$XDG_CONFIG_HOME/dihya"
printf 'history_retention:\n  max_runs: 3\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
expect_exit 0 "prune by the retention setting" -- dh history prune --yes --json
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["runs_after"])' "$OUT")" \
  "$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "runs_after is what history lists"
expect_eq "$(dh history --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r), sum(x["outcome"] == "interrupted" for x in r))')" \
  "3 1" "the newest 3 runs kept by max_runs (the interrupted one among them)"
expect_exit 0 "audit verify after the second prune" -- dh audit verify
printf 'history_retention:\n  max_age: 30d\n  max_runs: 100\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
expect_exit 0 "a retention setting with both limits is accepted" -- dh history prune --dry-run

# A run whose journal can still be rolled back is kept until told otherwise.
if [ -n "${DB_URL:-}" ]; then
  psql_q "create table hs_items (id int primary key, payload text); insert into hs_items select g, md5(g::text) from generate_series(1, 100) g;" >/dev/null
  expect_exit 1 "a failed destructive run kept with --no-rollback" -- dh run purge_rows -p table=hs_items -p max_id=50 -p batch=10 -p fail_after_batches=2 --no-rollback --yes
  undo_id=$(last_run_id)
  expect_exit 0 "prune --keep 0 keeps it" -- dh history prune --keep 0 --yes --json
  expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["kept_undoable"])' "$OUT")" 1 "counted as undoable"
  expect_exit 0 "it can still be rolled back" -- dh rollback "$undo_id"
  expect_eq "$(psql_q 'select count(*) from hs_items')" 100 "the rollback restored the rows"
  expect_exit 0 "once rolled back it is prunable" -- dh history prune --keep 0 --yes --json
  expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["kept_undoable"], j["runs_after"])' "$OUT")" "0 1" "only the interrupted run is left"
  expect_exit 0 "audit verify at the end" -- dh audit verify
fi

# ---- prune beside other prunes and rollbacks -------------------------------------
# Prunes are serialised and each plans under the lock: of four at once, one
# removes the old runs and audits it, the others find nothing left (each
# audited the removal of the same runs).
for _ in $(seq 1 12); do dh run noop >/dev/null 2>&1; done
expect_exit 0 "the plan of --keep 2" -- dh history prune --keep 2 --dry-run --json
planned=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["would_prune"])' "$OUT")
prunes_before=$(grep -c '"event":"history.prune"' "$DIHYA_STATE_DIR/audit.jsonl" || true)
for j in 1 2 3 4; do dh history prune --keep 2 --yes --json >"$WORK/prune$j.json" 2>"$WORK/prune$j.err" & done
wait
expect_eq "$(python3 -c 'import json,sys; print(sum(json.load(open(f))["pruned" if "pruned" in json.load(open(f)) else "would_prune"] for f in sys.argv[1:]))' "$WORK"/prune[1-4].json)" \
  "$planned" "four prunes at once remove the planned runs once"
expect_eq "$(( $(grep -c '"event":"history.prune"' "$DIHYA_STATE_DIR/audit.jsonl" || true) - prunes_before ))" 1 \
  "one of them audits a removal"
expect_exit 0 "audit verify after the concurrent prunes" -- dh audit verify

# A run whose rollback is running is passed over, --include-undoable or not:
# the rollback holds its plugin's lock. A prune used to remove the run under
# the rollback, which then failed ("no such run"), its journal gone.
expect_exit 1 "a failed run kept with --no-rollback, its rollback hangs" -- \
  dh run hostile_journal -p behaviour=journal_then_fail -p rollback=hang --no-rollback
rb_id=$(last_run_id)
"$DIHYA_HOST" rollback "$rb_id" --timeout 10 >"$WORK/rb.out" 2>"$WORK/rb.err" &
rb_pid=$!
for _ in $(seq 1 200); do
  grep -qF "$rb_id" "$DIHYA_STATE_DIR/locks/hostile_journal.lock" 2>/dev/null && break
  sleep 0.05
done
expect_exit 0 "prune --keep 0 --include-undoable during its rollback" -- dh history prune --keep 0 --include-undoable --yes --json
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["kept_locked"], sys.argv[2] in j["ids"])' "$OUT" "$rb_id")" \
  "1 False" "the run being rolled back is kept, counted as locked"
rc=0
wait "$rb_pid" || rc=$?
expect_eq "$rc" 1 "the hanging rollback times out (exit 1)"
expect_not_in "$WORK/rb.err" "no such run" "the rollback found its run"
expect_in "$WORK/rb.out" "rollback FAILED" "the rollback says it failed, its run kept"
expect_exit 0 "show of the run after its rollback" -- dh show "$rb_id"
[ -s "$DIHYA_STATE_DIR/runs/$rb_id/journal.jsonl" ] && ok "its journal is kept" || not_ok "its journal is gone"
expect_exit 0 "once its rollback is over, prune --include-undoable removes it" -- dh history prune --keep 0 --include-undoable --yes --json
expect_eq "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["kept_locked"], sys.argv[2] in j["ids"])' "$OUT" "$rb_id")" \
  "0 True" "the run is pruned"
expect_exit 0 "audit verify after the prunes beside a rollback" -- dh audit verify

# ---- bad input: one line, exit 2 ----------------------------------------------
bad() {  # bad DESCRIPTION -- command...
  local what=$1
  shift
  expect_exit 2 "$what" "$@"
  expect_one_line_error "$what"
}
rm -f "$XDG_CONFIG_HOME/dihya/config.yaml"
bad "prune with no limit and no setting" -- dh history prune
bad "prune --older-than 5x" -- dh history prune --older-than 5x
bad "prune --older-than 0d" -- dh history prune --older-than 0d
bad "prune --keep abc" -- dh history prune --keep abc
bad "prune --keep -3" -- dh history prune --keep -3
bad "show ../x" -- dh show ../x
bad "history --since garbage" -- dh history --since garbage
bad "history --since a day February does not have" -- dh history --since 2026-02-30
bad "history --since the 29th of February of a common year" -- dh history --since 2023-02-29
bad "history --since the 31st of April" -- dh history --since 2026-04-31T10:00
expect_exit 0 "history --since the 29th of February of a leap year" -- dh history --since 2024-02-29
printf 'history_retention:\n  max_age: bogus\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
bad "a malformed max_age in the config" -- dh history
printf 'history_retention: 5\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
bad "history_retention that is not a mapping" -- dh history
printf 'history_retention:\n  max_runs: 1e9\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
bad "a max_runs that is not a whole number" -- dh history
# The config is read by the project's one YAML reader: a duplicate key is refused with its place.
printf 'history_retention:\n  max_runs: 3\n  max_runs: 4\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
bad "a duplicate key in the config" -- dh history
expect_in "$ERR" "config.yaml:3:3: duplicate key \"max_runs\"" "the duplicate key is named with its place"
rm -f "$XDG_CONFIG_HOME/dihya/config.yaml"
ln -s "$WORK/state.log.good" "$WORK/planted" && mv "$R/state.log" "$WORK/state.log.real" && ln -s "$WORK/planted" "$R/state.log"
expect_exit 1 "a state log planted as a symlink is refused" -- dh history
expect_one_line_error "planted state log"
rm "$R/state.log" && mv "$WORK/state.log.real" "$R/state.log"

# A FIFO planted in place of the store's files never blocks a command.
# fifo_in_place FILE COMMAND...: each command fails in one line naming FILE.
fifo_in_place() {
  local file=$1 cmd
  shift
  mv "$R/$file" "$WORK/$file.real" && mkfifo "$R/$file"
  for cmd in "$@"; do
    expect_exit 1 "$cmd with a FIFO as $file" -- timeout 20 "$DIHYA_HOST" $cmd
    expect_in "$ERR" "$file is not a regular file" "$cmd names $file"
  done
  rm "$R/$file" && mv "$WORK/$file.real" "$R/$file"
}
fifo_in_place state.idx "history" "audit verify" "history prune --keep 1 --dry-run"
fifo_in_place state.log "history" "audit verify" "run noop"
rm -f "$R/state.idx" && mkfifo "$R/state.idx.tmp"
expect_exit 0 "a FIFO left as the index's temporary file is replaced" -- timeout 20 "$DIHYA_HOST" history
[ -f "$R/state.idx" ] && [ ! -e "$R/state.idx.tmp" ] && ok "the index was rebuilt" || not_ok "no index after the FIFO temp"

# Counts are whole numbers: "-1" is not the largest one.
expect_exit 2 "history --limit -1 is refused" -- dh history --limit -1
expect_in "$ERR" "expected a whole number of runs" "it says what is expected"
expect_exit 2 "history prune --keep -3 is refused" -- dh history prune --keep -3 --dry-run

finish
