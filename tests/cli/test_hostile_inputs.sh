#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The operator's read commands against hostile input: a plugin author's
# plugin.json (terminal escapes, wrongly typed keys, shell code in parameter
# names for the bash completion), files of the state dir edited by whoever can
# write it (a run log, the history index, mistyped record fields, a record
# naming a plugin file, a run directory replaced by a symlink, a FIFO), a
# hostile file name and a relative XDG_CONFIG_HOME. Each must print nothing
# that drives a terminal, keep every JSON output valid, say what is wrong,
# and never act on a forged record.
source "$(dirname "$0")/lib.sh"

if ! command -v objcopy >/dev/null; then
  echo "SKIPPED: objcopy (binutils) forges the plugin metadata"
  exit 77
fi

P="$DIHYA_TEST_PLUGIN_DIR"
EVIL="$WORK/evil"
mkdir -p "$EVIL"
chmod 755 "$EVIL"
export DIHYA_PLUGIN_PATH="$EVIL:$P"
# OSC 52 (clipboard write), clear screen, window title, carriage return, a C1
# CSI, and U+202E (right-to-left override: what follows shows backwards).
ATTACK=$'\x1b]52;c;SGVsbG8=\x07\x1b[2J\x1b]0;pwned\x07\r\xc2\x9b31m\xe2\x80\xaetxt.exe'
export ATTACK WORK

# forge NAME PYTHON: a copy of the noop plugin whose embedded plugin.json is
# noop's with the changes PYTHON makes to the dict `m` (ATTACK in `a`).
forge() {
  objcopy -O binary --only-section=.dihya_meta "$P/libnoop.so" "$WORK/noop.json"
  python3 - "$WORK/noop.json" "$WORK/$1.json" "$1" "$2" <<'PY'
import json, os, sys
m = json.loads(open(sys.argv[1], "rb").read().rstrip(b"\0"))
m["name"] = sys.argv[3]
a = os.environ["ATTACK"]
exec(sys.argv[4])
open(sys.argv[2], "wb").write(json.dumps(m, ensure_ascii=False).encode() + b"\0")
PY
  objcopy --remove-section .dihya_meta --add-section ".dihya_meta=$WORK/$1.json" \
    --set-section-flags .dihya_meta=readonly,contents "$P/libnoop.so" "$EVIL/lib$1.so"
}

# expect_terminal_safe FILE DESCRIPTION: no ESC, BEL, C1 CSI or U+202E in FILE.
expect_terminal_safe() {
  if python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.exit(any(b in d for b in (b"\x1b", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae")))' "$1"; then
    ok "$2"
  else
    not_ok "$2: a control sequence reaches the terminal"
  fi
}

expect_json() {
  if python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; then ok "$2"; else not_ok "$2: not JSON"; fi
}

# --- a plugin.json key of the wrong type ------------------------------------
forge evil_types 'm["summary"] = 5'
export DIHYA_CACHE_DIR="$HOST_DIRS/cache-types"
expect_exit 0 "list with a plugin whose summary is a number" -- dh list
expect_in "$OUT" "noop" "list still lists the other plugins"
expect_exit 0 "run noop beside it (a fresh metadata cache scans every file)" -- dh run noop
expect_exit 0 "list --all" -- dh list --all
expect_in "$OUT" "'summary' must be a string" "list --all names the mistyped key"
rm -f "$EVIL/libevil_types.so"

# Values a run applies: a timeout it would ignore ("2": the run had none) or
# refuse, a concurrency it would refuse (naming a flag nobody gave) make the
# plugin unusable, and `check` fails it.
for bad in 'm["timeout_seconds"] = "2"' 'm["timeout_seconds"] = -1' 'm["timeout_seconds"] = 1e300' \
           'm["concurrency"] = "sometimes"'; do
  forge evil_values "$bad"
  expect_exit 3 "run a plugin whose plugin.json says $bad" -- dh run evil_values
  expect_in "$ERR" "plugin.json: '" "$bad: the refusal names the key"
  expect_exit 3 "check of a plugin whose plugin.json says $bad" -- dh check "$EVIL/libevil_values.so"
  rm -f "$EVIL/libevil_values.so"
done

# --- terminal escapes in plugin.json ----------------------------------------
forge evil_text 'm.update(version="1.0" + a, summary="sum" + a, description="desc" + a, security="sec" + a,
  rollback="rb" + a, examples=[{"description": "ex" + a, "command": "cmd" + a}],
  parameters={"type": "object", "properties": {"k" + a: {"type": "string", "description": "d" + a}}})'
script -qec "$DIHYA_HOST list" /dev/null >"$OUT" 2>&1 || true
expect_in "$OUT" "evil_text" "list on a terminal lists the plugin"
expect_terminal_safe "$OUT" "list on a terminal"
script -qec "$DIHYA_HOST info evil_text" /dev/null >"$OUT" 2>&1 || true
expect_in "$OUT" "sum\\x1b]52;c;SGVsbG8=\\x07" "info on a terminal shows the summary, escaped"
expect_terminal_safe "$OUT" "info on a terminal"
expect_exit 0 "info --json" -- dh info evil_text --json
expect_json "$OUT" "info --json is JSON"
if python3 -c 'import json, os, sys; sys.exit(json.load(open(sys.argv[1]))["summary"] != "sum" + os.environ["ATTACK"])' "$OUT"; then
  ok "info --json keeps the summary as written"
else
  not_ok "info --json changed the summary"
fi
expect_exit 0 "docs" -- dh docs --out "$WORK/docs"
expect_terminal_safe "$WORK/docs/evil_text.md" "the page docs writes"
rm -f "$EVIL/libevil_text.so"

# --- shell code in parameter names, for the bash completion -----------------
forge evil_complete 'm["parameters"] = {"type": "object", "properties": {
  "$(touch${IFS}" + os.environ["WORK"] + "/pwned_key)": {"type": "string"},
  "mode": {"type": "string", "enum": ["safe", "$(touch${IFS}" + os.environ["WORK"] + "/pwned_value)", "`touch x`"]}}}'
expect_exit 0 "complete params" -- dh complete params evil_complete
expect_in "$OUT" "mode=" "complete offers the plain key"
expect_not_in "$OUT" '$(' "complete offers no key the shell would expand"
expect_exit 0 "complete params mode=" -- dh complete params evil_complete mode=
expect_in "$OUT" "mode=safe" "complete offers the plain value"
expect_not_in "$OUT" '$(' "complete offers no value the shell would expand"
(
  cd "$WORK"
  # shellcheck source=/dev/null
  source "$DIHYA_SOURCE_DIR/host/share/dihya-host.bash"
  for cur in "" "mode="; do
    COMP_WORDS=("$DIHYA_HOST" run evil_complete --param "$cur")
    COMP_CWORD=4
    _dihya_host
  done
) >/dev/null 2>&1 || true
if [ -e "$WORK/pwned_key" ] || [ -e "$WORK/pwned_value" ]; then
  not_ok "Tab after --param ran the plugin's shell code"
else
  ok "Tab after --param runs nothing of the plugin's"
fi
rm -f "$EVIL/libevil_complete.so"

# --- check quotes the plugin ------------------------------------------------
forge evil_check 'm["parameters"] = {"type": "object", "properties": {"n": {"type": ["integer", "null"]}},
  "additionalProperties": False}
m["examples"] = [{"description": "ex" + a, "command": "dihya-host run evil_check", "params": {"nope": 1}}]'
expect_exit 1 "check of a plugin whose example is wrong" -- dh check "$EVIL/libevil_check.so"
expect_in "$OUT" "example 'ex\\x1b]52" "check names the example, escaped"
expect_terminal_safe "$OUT" "check's report"
expect_not_in "$ERR" "internal error" "a parameter of two types ([\"integer\", \"null\"]) is checked"
rm -f "$EVIL/libevil_check.so"

# --- files of the state dir -------------------------------------------------
export DIHYA_CACHE_DIR="$HOST_DIRS/cache"
for _ in 1 2 3; do dh run noop >/dev/null; done
STATE_LOG="$DIHYA_STATE_DIR/runs/state.log"
# put RUN_JSON [EXTRA_JSON]: appends a put entry to the state log, checksummed.
put() {
  PYTHONPATH="$CLI_DIR" python3 - "$STATE_LOG" "$1" "${2:-{\}}" <<'PY'
import json, sys
from state_log_line import state_line
entry = {"op": "put", "run": json.loads(sys.argv[2])}
entry.update(json.loads(sys.argv[3]))
body = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
open(sys.argv[1], "ab").write(state_line(body) + b"\n")
PY
}
crafted_run() {
  printf '{"id":"%s","plugin":"%s","started_at":"2026-01-01T00:00:00.000Z","ended_at":"2026-01-01T00:00:01.000Z","outcome":"succeeded","exit_code":0,"summary":"crafted"}' "$1" "$2"
}

log_id=20260101T000000.000Z-00000a
put "$(crafted_run $log_id noop)" "$(python3 -c 'import json, os; print(json.dumps({"log": "line" + os.environ["ATTACK"] + "\n"}))')"
script -qec "$DIHYA_HOST logs $log_id" /dev/null >"$OUT" 2>&1 || true
expect_in "$OUT" "line\\x1b]52;c;SGVsbG8=" "logs shows an edited log, escaped"
expect_terminal_safe "$OUT" "logs on a terminal"

# Fields of the wrong type in an edited record: said, never an internal error.
odd_id=20260101T000000.000Z-00000c
put "$(crafted_run $odd_id noop | sed 's/}$/,"sandbox":{"summary":5,"applied":"no","error":7}}/')"
expect_exit 0 "show of a record whose sandbox fields are mistyped" -- dh show $odd_id
expect_in "$OUT" "crafted" "show prints the rest of the record"
big_id=20260101T000000.000Z-00000d
put "$(crafted_run $big_id noop | sed 's/"exit_code":0/"exit_code":1e30/')"
expect_exit 1 "show of a record whose exit code is 1e30" -- dh show $big_id
expect_in "$ERR" "is not an exit code" "show says the record is damaged"
expect_one_line_error "show of a damaged record"
expect_exit 0 "history beside the damaged record" -- dh history
expect_in "$ERR" "$big_id" "history names the record it skipped"

# The index (state.idx) garbled: two entries swapped, then an offset copied.
dh history >/dev/null
INDEX="$DIHYA_STATE_DIR/runs/state.idx"
cp "$INDEX" "$WORK/state.idx"
garble() {
  python3 - "$INDEX" "$1" <<'PY'
import sys
path, how = sys.argv[1], sys.argv[2]
d = bytearray(open(path, "rb").read())
n = (len(d) - 64) // 56
last, before = 64 + (n - 1) * 56, 64 + (n - 2) * 56
if how == "swap":
    d[last:last + 56], d[before:before + 56] = d[before:before + 56], d[last:last + 56]
else:
    d[last + 40:last + 48] = d[before + 40:before + 48]
open(path, "wb").write(d)
PY
}
ids=$(python3 -c 'import json, sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))' <<<"$(dh history --json)")
for how in swap offset; do
  cp "$WORK/state.idx" "$INDEX"
  garble $how
  expect_exit 0 "history with an index garbled ($how)" -- dh history --json
  got=$(python3 -c 'import json, sys; print(" ".join(r["id"] for r in json.load(open(sys.argv[1]))))' "$OUT")
  expect_eq "$got" "$ids" "history lists every run once, in order ($how)"
  expect_in "$ERR" "state.idx: did not match" "history says the index was rebuilt ($how)"
done
cp "$WORK/state.idx" "$INDEX"
garble swap
for id in $ids; do
  expect_exit 0 "show $id with entries out of order" -- dh show "$id"
done

# A record naming a plugin file instead of a plugin name: rollback never loads it.
rb_id=20260101T000000.000Z-00000b
put "$(crafted_run $rb_id "$P/libhostile_journal.so")"
mkdir -m 700 "$DIHYA_STATE_DIR/runs/$rb_id"
printf '{"i":0,"action":"noop","data":{"rollback":"ok"}}\n' >"$DIHYA_STATE_DIR/runs/$rb_id/journal.jsonl"
chmod 600 "$DIHYA_STATE_DIR/runs/$rb_id/journal.jsonl"
expect_exit 1 "rollback of a record naming a plugin file" -- dh rollback "$rb_id"
expect_in "$ERR" "which is not a plugin name" "rollback says the record is damaged"
expect_one_line_error "rollback of a forged record"
expect_not_in "$DIHYA_STATE_DIR/audit.jsonl" "rollback.start" "no rollback was started"

# A run directory replaced by a symlink: rollback writes nothing through it.
link_id=20260101T000000.000Z-00000e
put "$(crafted_run $link_id hostile_journal)"
mkdir -m 700 "$WORK/elsewhere"
cp "$DIHYA_STATE_DIR/runs/$rb_id/journal.jsonl" "$WORK/elsewhere/journal.jsonl"
ln -s "$WORK/elsewhere" "$DIHYA_STATE_DIR/runs/$link_id"
expect_exit 1 "rollback of a run whose directory is a symlink" -- dh rollback "$link_id"
expect_in "$ERR" "is not a directory" "rollback names the symlink"
if [ -e "$WORK/elsewhere/log.txt" ] || [ "$(wc -l <"$WORK/elsewhere/journal.jsonl")" -ne 1 ]; then
  not_ok "rollback wrote through the symlink"
else
  ok "nothing was written where the symlink points"
fi
expect_not_in "$DIHYA_STATE_DIR/audit.jsonl" "rollback.start" "no rollback was started through the symlink"

# audit verify of a file whose name holds escapes.
bad_name="$WORK/audit"$'\x1b]0;pwned\x07\x1b[2J'".jsonl"
cp "$DIHYA_STATE_DIR/audit.jsonl" "$bad_name"
expect_exit 0 "audit verify --file of a copy with a hostile name" -- dh audit verify --file "$bad_name"
expect_in "$OUT" "intact" "audit verify reads it"
expect_terminal_safe "$OUT" "audit verify prints the name escaped"

# A FIFO in place of the state log: history says so at once.
mv "$STATE_LOG" "$WORK/state.log"
mkfifo "$STATE_LOG"
expect_exit 1 "history with a FIFO for the state log" -- timeout 20 "$DIHYA_HOST" history
expect_in "$ERR" "not a regular file" "history names the FIFO"
rm -f "$STATE_LOG"
mv "$WORK/state.log" "$STATE_LOG"

# --- regular expressions of a plugin schema ----------------------------------
# valijson ran "pattern", "patternProperties" and "format" with std::regex,
# which recurses once per character (a 50 000-character value killed the host
# with SIGSEGV) and backtracks ("^(a+)+$" against 40 a's and a '!' never
# returned: the host's own process, where no --timeout reaches). Each is now
# one line, exit 2, at once; `timeout` only bounds the test.
forge evil_regex '
m["parameters"] = {"type": "object", "additionalProperties": False, "properties": {
  "word": {"type": "string", "pattern": "^(a+)+$"},
  "name": {"type": "string", "maxLength": 54, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
  "day": {"type": "string", "format": "date"},
  "labels": {"type": "object", "patternProperties": {"^(a+)+$": {"type": "integer"}}, "additionalProperties": False}}}
m["examples"] = [{"description": "A word a backtracking engine tries 2^40 ways.", "command": "dihya-host run evil_regex -p word=a...a!",
                  "params": {"word": "a" * 40 + "!"}}]'
export DIHYA_CACHE_DIR="$HOST_DIRS/cache-regex"
long=$(printf 'a%.0s' $(seq 50000))
catastrophic="$(printf 'a%.0s' $(seq 40))!"
expect_exit 2 "a 50 000-character value under maxLength and a pattern" -- timeout 60 "$DIHYA_HOST" validate evil_regex -p "name=$long"
expect_one_line_error "a 50 000-character value"
expect_in "$ERR" "parameter 'name': must be at most 54 characters long" "the long value is refused by its maxLength"
printf '{"name": "%s"}' "$(printf '%s' "$long$long$long$long$long$long$long$long")" >"$WORK/long.json"
expect_exit 2 "a 400 000-character value from a params file" -- timeout 60 "$DIHYA_HOST" run evil_regex --params-file "$WORK/long.json"
expect_one_line_error "a 400 000-character value from a params file"
expect_exit 2 "a 50 000-digit year under format date" -- timeout 60 "$DIHYA_HOST" validate evil_regex -p "day=${long//a/1}-13-01"
expect_in "$ERR" "is not a valid date" "the date is refused"
expect_exit 2 "\"^(a+)+\$\" against 40 a's and a '!', under run --timeout 2" -- timeout 60 "$DIHYA_HOST" run evil_regex --timeout 2 -p "word=$catastrophic"
expect_one_line_error "a catastrophic pattern"
expect_in "$ERR" "does not match the pattern ^(a+)+\$" "the value is refused by its pattern"
expect_exit 2 "the same pattern on an object key (patternProperties)" -- timeout 60 "$DIHYA_HOST" validate evil_regex -p "labels={\"$catastrophic\": 1}"
expect_in "$ERR" "unknown parameter 'labels.aaaa" "the key no pattern matches is refused"
expect_exit 0 "a 50 000-character key the pattern matches" -- timeout 60 "$DIHYA_HOST" validate evil_regex -p "labels={\"$long\": 1}"
expect_exit 1 "check of a plugin whose example backtracks for ever" -- timeout 120 "$DIHYA_HOST" check "$EVIL/libevil_regex.so"
expect_in "$OUT" "fail  example parameters are valid" "check returns and fails the example"
expect_in "$OUT" "does not match the pattern ^(a+)+\$" "check names the pattern"

# A pattern vectorscan cannot match without backtracking is the author's
# schema error, found by check, and refused by every command.
forge evil_lookaround 'm["parameters"] = {"type": "object", "properties": {"schema": {"type": "string", "pattern": "^(?!pg_)[a-z_]+$"}}}'
expect_exit 1 "check of a plugin whose pattern has a lookahead" -- dh check "$EVIL/libevil_lookaround.so"
expect_in "$OUT" "fail  parameter schema is valid draft-07: plugin schema is invalid: pattern '^(?!pg_)[a-z_]+\$' is not a valid regular expression here" \
  "check names the pattern"
expect_in "$OUT" "no lookaround" "check says why"
expect_exit 2 "run of a plugin whose pattern has a lookahead" -- dh run evil_lookaround -p schema=abc
expect_one_line_error "a lookahead"
expect_in "$ERR" "Zero-width assertions are not supported" "run says why"

# A relative XDG_CONFIG_HOME is ignored: it would read a config from the
# directory the command runs in.
mkdir -p "$WORK/cwd/rel/dihya" "$HOST_DIRS/home"
printf 'state_dir: %s\n' "$WORK/planted-state" >"$WORK/cwd/rel/dihya/config.yaml"
# `db url` names the state dir and starts nothing.
(cd "$WORK/cwd" && HOME="$HOST_DIRS/home" XDG_CONFIG_HOME=rel DIHYA_STATE_DIR='' "$DIHYA_HOST" db url) >"$OUT" 2>"$ERR" || true
expect_in "$OUT" "postgresql://" "db url with a relative XDG_CONFIG_HOME"
expect_not_in "$OUT" "planted-state" "a relative XDG_CONFIG_HOME is ignored"

finish
