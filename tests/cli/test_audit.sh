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
expect_exit 0 "audit verify --json" -- dh audit verify --json
expect_in "$OUT" '"ok": true' "JSON report"
finish
