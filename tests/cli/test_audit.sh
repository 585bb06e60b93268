#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The audit chain: intact after runs, and any edited, dropped, swapped or
# inserted line is found, with its line number.
source "$(dirname "$0")/lib.sh"

for name in A B C D; do dh run echo_params -p name=$name >/dev/null 2>&1; done
audit="$DIHYA_STATE_DIR/audit.jsonl"
expect_eq "$(wc -l <"$audit")" 8 "two audit entries per run"
expect_exit 0 "audit verify of an intact log" -- dh audit verify
expect_in "$OUT" "intact" "reported intact"
expect_in "$audit" '"event":"run.start"' "run.start is audited"
expect_in "$audit" '"user":' "the user is audited"

tamper() { # description, then a python expression over the list of lines
  cp "$audit" "$WORK/audit.copy"
  python3 - "$WORK/audit.copy" "$2" <<'PY'
import sys
path, expr = sys.argv[1], sys.argv[2]
lines = open(path).read().splitlines(True)
exec(expr)
open(path, "w").write("".join(lines))
PY
  expect_exit 1 "audit verify finds $1" -- dh audit verify --file "$WORK/audit.copy"
  expect_in "$OUT" "line $3" "$1 is reported at line $3"
}
tamper "an edited line" 'lines[2] = lines[2].replace("\"B\"", "\"Z\"")' 3
tamper "a dropped line" 'del lines[4]' 5
tamper "swapped lines" 'lines[3], lines[4] = lines[4], lines[3]' 4
tamper "an inserted line" 'lines.insert(2, lines[1])' 3
# A line far longer than any the host writes (129 MiB, over the 128 MiB
# bound), in the middle and at the end, NUL bytes in it: found and named,
# read past rather than into memory; the lines around it are still read.
cp "$audit" "$WORK/audit.long"
python3 - "$WORK/audit.long" <<'PY'
import sys
lines = open(sys.argv[1], "rb").read().splitlines(True)
long = b"{" + b"x\0" * (129 << 19) + b"}\n"
open(sys.argv[1], "wb").write(b"".join(lines[:3] + [long] + lines[3:]))
open(sys.argv[1] + ".end", "wb").write(b"".join(lines + [long[:-1]]))
PY
expect_exit 1 "audit verify of a 129 MiB line" -- dh audit verify --file "$WORK/audit.long"
expect_in "$OUT" "line 4 is longer than 128 MiB" "the long line is named"
expect_exit 1 "audit verify of a 129 MiB last line without a newline" -- dh audit verify --file "$WORK/audit.long.end"
expect_in "$OUT" "line 9 is longer than 128 MiB" "the long last line is named"
rm -f "$WORK/audit.long" "$WORK/audit.long.end"
expect_exit 0 "audit verify --json" -- dh audit verify --json
expect_in "$OUT" '"ok": true' "JSON report"

# --file names a file that must be there: a typo is not an empty, intact log.
expect_exit 2 "audit verify --file of a missing file" -- dh audit verify --file "$WORK/audit.jsnol"
expect_in "$ERR" "No such file" "it says so"
expect_exit 2 "audit verify --file of a directory" -- dh audit verify --file "$WORK"
mkfifo "$WORK/audit.fifo"
expect_exit 2 "audit verify --file of a FIFO (no hang)" -- timeout 20 "$DIHYA_HOST" audit verify --file "$WORK/audit.fifo"

# The last line edited and its head record emptied (what a crash can leave) or
# removed: the state log's copy of the line still shows the edit, the head is
# not re-anchored on the forgery, and no run buries it under a new line.
A="$DIHYA_STATE_DIR/audit.jsonl"
cp "$A" "$WORK/audit.before" && cp "$A.head" "$WORK/head.before"
expect_exit 0 "a run to edit" -- dh run noop -q
python3 - "$A" <<'PY'
import sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')
assert b'"succeeded"' in lines[-2], lines[-2]
lines[-2] = lines[-2].replace(b'"succeeded"', b'"failed"')
open(sys.argv[1], 'wb').write(b'\n'.join(lines))
PY
: >"$A.head"
expect_exit 1 "audit verify: last line edited, head emptied" -- dh audit verify
expect_in "$OUT" "differs from the copy the state log carries" "the edit is named"
expect_eq "$(stat -c %s "$A.head")" "0" "the head was not re-anchored on the edited line"
expect_exit 1 "a run on that log is refused" -- dh run noop -q
expect_in "$ERR" "never extended" "the refusal says why"
rm "$A.head"
expect_exit 1 "audit verify: last line edited, head removed" -- dh audit verify --json
expect_in "$OUT" '"ok": false' "JSON says not ok"
# A head emptied by a crash, with no edit, is tolerated as before.
python3 - "$A" <<'PY'
import sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')
lines[-2] = lines[-2].replace(b'"failed"', b'"succeeded"')
open(sys.argv[1], 'wb').write(b'\n'.join(lines))
PY
: >"$A.head"
expect_exit 0 "audit verify: head emptied, nothing edited" -- dh audit verify
expect_exit 0 "and runs go on" -- dh run noop -q
expect_exit 0 "audit verify after" -- dh audit verify
finish
